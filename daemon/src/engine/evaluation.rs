//! Sequence evaluation (portfolio.md §7.8): simulate trades on a portfolio state, score the end state
//! (total return, diversification, long-term promise, stability, opinion by risk profile), subtract the cost.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::score;

/// What the evaluation knows of one security (the persisted score metrics, §5.4); absent → documented default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalSecurity {
    /// The country group (`OTHER` when unmapped).
    pub country_group: String,
    /// Its industry groups; a position's value is split equally over them.
    pub industry_groups: Vec<String>,
    pub cagr_5y: Option<f64>,
    pub dividend_yield: Option<f64>,
    pub consistency: Option<f64>,
    pub financial_strength: Option<f64>,
    pub dividend_consistency: Option<f64>,
    pub payout_ratio: Option<f64>,
    pub sortino: Option<f64>,
    pub volatility: Option<f64>,
    pub max_drawdown: Option<f64>,
    pub sharpe: Option<f64>,
    pub quality: Option<f64>,
}

/// A portfolio state in EUR: position values by symbol, cash, and the total `T` (constant under trades).
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub positions: BTreeMap<String, f64>,
    pub cash: f64,
    pub total: f64,
}

/// One simulated trade.
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    pub symbol: String,
    pub buy: bool,
    pub value_eur: f64,
}

impl State {
    /// The state after `trades`: sells move value to cash (a position at ≤ 0 disappears), buys the other way.
    pub fn after(&self, trades: &[Trade]) -> State {
        let mut next = self.clone();
        for t in trades {
            let v = next.positions.entry(t.symbol.clone()).or_insert(0.0);
            if t.buy {
                *v += t.value_eur;
                next.cash -= t.value_eur;
            } else {
                *v -= t.value_eur;
                next.cash += t.value_eur;
            }
            if *v <= 0.0 {
                next.positions.remove(&t.symbol);
            }
        }
        next
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskProfile {
    #[default]
    Balanced,
    Conservative,
    Aggressive,
}

impl RiskProfile {
    /// `(w_TR, w_D, w_LTP, w_STAB, w_OP)`.
    pub fn weights(self) -> [f64; 5] {
        match self {
            RiskProfile::Balanced => [0.35, 0.25, 0.20, 0.15, 0.05],
            RiskProfile::Conservative => [0.25, 0.30, 0.20, 0.20, 0.05],
            RiskProfile::Aggressive => [0.45, 0.20, 0.25, 0.05, 0.05],
        }
    }
}

/// The parts of an end-state score, for `--explain`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EndState {
    pub total_return: f64,
    pub diversification: f64,
    pub long_term_promise: f64,
    pub stability: f64,
    /// Constant 0.5, as in the original planner.
    pub opinion: f64,
    pub score: f64,
}

fn total_return(s: &EvalSecurity) -> f64 {
    let tr = s.cagr_5y.unwrap_or(0.0) + s.dividend_yield.unwrap_or(0.0);
    if tr <= 0.0 {
        return 0.15;
    }
    let sigma: f64 = if tr < 0.12 { 0.06 } else { 0.12 };
    0.15 + 0.85 * (-(tr - 0.12).powi(2) / (2.0 * sigma * sigma)).exp()
}

fn sortino_es(s: f64) -> f64 {
    match s {
        s if s >= 2.0 => 1.0,
        s if s >= 1.5 => 0.8 + 0.4 * (s - 1.5),
        s if s >= 1.0 => 0.6 + 0.4 * (s - 1.0),
        s if s >= 0.0 => 0.6 * s,
        _ => 0.0,
    }
}

fn long_term_promise(s: &EvalSecurity) -> f64 {
    let dividend = s.dividend_consistency.or(s.payout_ratio.map(score::payout_score)).unwrap_or(0.5);
    (0.35 * s.consistency.unwrap_or(0.5)
        + 0.25 * s.financial_strength.unwrap_or(0.5)
        + 0.25 * dividend
        + 0.15 * s.sortino.map(sortino_es).unwrap_or(0.5))
    .min(1.0)
}

fn volatility_rule(v: f64) -> f64 {
    match v {
        v if v <= 0.0 => 0.5,
        v if v <= 0.15 => 1.0,
        v if v <= 0.25 => 1.0 - 3.0 * (v - 0.15),
        v if v <= 0.40 => 0.7 - (0.4 / 0.15) * (v - 0.25),
        v => (0.3 - (v - 0.40)).max(0.1),
    }
}

fn stability(s: &EvalSecurity) -> f64 {
    let vol = s.volatility.map(volatility_rule).unwrap_or(0.5);
    let dd = s.max_drawdown.map(|d| score::drawdown_score(d.abs())).unwrap_or(0.5);
    let sh = s.sharpe.map(score::sharpe_score).unwrap_or(0.5);
    (0.5 * vol + 0.3 * dd + 0.2 * sh).min(1.0)
}

/// How close group shares are to their targets: `max(0, 1 − mean |c − t| / 0.3)` over groups with a target;
/// 0.5 without targets.
fn fit(values: &BTreeMap<String, f64>, targets: &BTreeMap<String, f64>, total: f64) -> f64 {
    let with_target: Vec<(&String, &f64)> = targets.iter().filter(|(_, t)| **t > 0.0).collect();
    if with_target.is_empty() {
        return 0.5;
    }
    let mean =
        with_target.iter().map(|(g, t)| (values.get(*g).copied().unwrap_or(0.0) / total - **t).abs()).sum::<f64>()
            / with_target.len() as f64;
    (1.0 - mean / 0.3).max(0.0)
}

/// Group targets of both kinds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Targets {
    pub country_groups: BTreeMap<String, f64>,
    pub industry_groups: BTreeMap<String, f64>,
}

/// `E(state)`: a security missing from `securities` counts with every default.
pub fn end_state(
    state: &State,
    securities: &BTreeMap<String, EvalSecurity>,
    targets: &Targets,
    profile: RiskProfile,
) -> EndState {
    let unknown = EvalSecurity::default();
    let (mut tr, mut ltp, mut stab, mut q, mut y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut countries: BTreeMap<String, f64> = BTreeMap::new();
    let mut industries: BTreeMap<String, f64> = BTreeMap::new();
    if state.total > 0.0 {
        for (symbol, value) in &state.positions {
            let s = securities.get(symbol).unwrap_or(&unknown);
            let w = value / state.total;
            tr += w * total_return(s);
            ltp += w * long_term_promise(s);
            stab += w * stability(s);
            q += w * s.quality.unwrap_or(0.5);
            y += w * s.dividend_yield.unwrap_or(0.0);
            *countries.entry(s.country_group.clone()).or_default() += value;
            for g in &s.industry_groups {
                *industries.entry(g.clone()).or_default() += value / s.industry_groups.len() as f64;
            }
        }
    }
    let diversification = if state.total <= 0.0 {
        0.5
    } else {
        let quality_mix = if state.positions.is_empty() { 0.5 } else { 0.6 * q + 0.4 * (10.0 * y).min(1.0) };
        0.4 * fit(&countries, &targets.country_groups, state.total)
            + 0.3 * fit(&industries, &targets.industry_groups, state.total)
            + 0.3 * quality_mix
    };
    let [w_tr, w_d, w_ltp, w_stab, w_op] = profile.weights();
    let opinion = 0.5;
    let score = w_tr * tr + w_d * diversification + w_ltp * ltp + w_stab * stab + w_op * opinion;
    EndState { total_return: tr, diversification, long_term_promise: ltp, stability: stab, opinion, score }
}

/// A sequence's final score: `clamp(E(end) − factor × cost / T, 0, 1)`.
pub fn final_score(end: &EndState, cost_eur: f64, total: f64, cost_penalty_factor: f64) -> f64 {
    let penalty = if total > 0.0 { cost_penalty_factor * cost_eur / total } else { 0.0 };
    (end.score - penalty).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::money::Fees;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    /// The state, securities and targets of portfolio.md §13.7.
    fn worked_example() -> (State, BTreeMap<String, EvalSecurity>, Targets) {
        let state =
            State { positions: [("A".into(), 6000.0), ("B".into(), 3000.0)].into(), cash: 1000.0, total: 10_000.0 };
        let a = EvalSecurity {
            country_group: "EU".into(),
            industry_groups: vec!["TECH".into()],
            cagr_5y: Some(0.10),
            dividend_yield: Some(0.01),
            consistency: Some(1.0),
            financial_strength: Some(0.725),
            dividend_consistency: Some(0.85),
            payout_ratio: None,
            sortino: Some(1.8),
            volatility: Some(0.20),
            max_drawdown: Some(-0.25),
            sharpe: Some(1.2),
            quality: Some(0.8),
        };
        let b = EvalSecurity {
            country_group: "US".into(),
            industry_groups: vec!["HEALTH".into()],
            cagr_5y: Some(0.06),
            dividend_yield: Some(0.03),
            consistency: Some(0.8),
            financial_strength: Some(0.6),
            dividend_consistency: Some(0.75),
            payout_ratio: None,
            sortino: Some(1.0),
            volatility: Some(0.30),
            max_drawdown: Some(-0.35),
            sharpe: Some(0.6),
            quality: Some(0.6),
        };
        let targets = Targets {
            country_groups: [("EU".into(), 0.5), ("US".into(), 0.5)].into(),
            industry_groups: [("TECH".into(), 0.5), ("HEALTH".into(), 0.5)].into(),
        };
        (state, [("A".into(), a), ("B".into(), b)].into(), targets)
    }

    #[test]
    fn per_security_parts_of_the_worked_example() {
        let (_, securities, _) = worked_example();
        let (a, b) = (&securities["A"], &securities["B"]);
        assert!(close(total_return(a), 0.988276) && close(total_return(b), 0.900122));
        assert!(close(long_term_promise(a), 0.88175) && close(long_term_promise(b), 0.7075));
        assert!(close(stability(a), 0.787) && close(stability(b), 0.525333));
    }

    #[test]
    fn the_worked_example_chooses_buy_b() {
        let (state, securities, targets) = worked_example();
        let fees = Fees::default();
        let baseline = end_state(&state, &securities, &targets, RiskProfile::Balanced);
        assert!(close(baseline.diversification, 0.4868), "{baseline:?}");
        assert!(close(baseline.total_return, 0.863002) && close(baseline.long_term_promise, 0.7413));
        assert!(close(baseline.stability, 0.6298));
        assert!(close(baseline.score, 0.691481), "{}", baseline.score);

        let score_of = |symbol: &str| {
            let trades = [Trade { symbol: symbol.into(), buy: true, value_eur: 900.0 }];
            let end = end_state(&state.after(&trades), &securities, &targets, RiskProfile::Balanced);
            let cost = fees.sequence_cost(&[900.0]);
            assert!(close(cost, 3.8));
            (end, final_score(&end, cost, state.total, 0.1))
        };
        let (end_b, final_b) = score_of("B");
        assert!(close(end_b.diversification, 0.60476) && close(end_b.score, 0.769152), "{end_b:?}");
        assert!(close(final_b, 0.769114), "{final_b}");
        let (end_a, final_a) = score_of("A");
        assert!(close(end_a.diversification, 0.39584) && close(end_a.score, 0.726368), "{end_a:?}");
        assert!(close(final_a, 0.726330), "{final_a}");
        assert!(final_b > final_a && final_a > baseline.score, "BUY B wins, and both beat doing nothing");
    }

    #[test]
    fn an_all_cash_portfolio_does_not_score_a_flat_half() {
        let state = State { positions: BTreeMap::new(), cash: 10_000.0, total: 10_000.0 };
        let (_, securities, targets) = worked_example();
        let empty = end_state(&state, &securities, &targets, RiskProfile::Balanced);
        let invested = end_state(
            &state.after(&[Trade { symbol: "A".into(), buy: true, value_eur: 5000.0 }]),
            &securities,
            &targets,
            RiskProfile::Balanced,
        );
        assert!(invested.score > empty.score, "the first investment beats doing nothing");
        let sold = state.after(&[
            Trade { symbol: "A".into(), buy: true, value_eur: 100.0 },
            Trade { symbol: "A".into(), buy: false, value_eur: 100.0 },
        ]);
        assert!(sold.positions.is_empty() && close(sold.cash, 10_000.0));
    }
}
