//! The security score of portfolio.md §5: eight weighted groups of piecewise rules, in two steps — the metrics
//! of a security from its prices and fundamentals ([`Metrics::from_inputs`]), then the groups from the metrics
//! and the portfolio context ([`score`]). Absent inputs take the documented defaults and are listed in
//! `defaulted`, so data gaps stay visible.

use std::collections::BTreeMap;

use serde::Serialize;

use super::primitives::{self as p, TRADING_DAYS};

/// Target annual return of a long-term holding (`target_annual_return`).
pub const TARGET_ANNUAL_RETURN: f64 = 0.11;
/// Market average P/E (`market_avg_pe`).
pub const MARKET_AVG_PE: f64 = 22.0;
/// Risk-free rate used inside the score (`score_risk_free_rate`).
pub const SCORE_RISK_FREE_RATE: f64 = 0.02;
/// Minimum data for a score: fewer and the security is unscored (ineligible for buys).
pub const MIN_DAILY: usize = 50;
pub const MIN_MONTHLY: usize = 12;
/// Scoring windows (portfolio.md §4.0).
pub const DAILY_WINDOW: usize = 400;
pub const MONTHLY_WINDOW: usize = 120;

/// Fundamentals and analyst data (`MarketData::fundamentals`); ratios as fractions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Fundamentals {
    pub pe: Option<f64>,
    pub forward_pe: Option<f64>,
    pub dividend_yield: Option<f64>,
    pub five_year_avg_dividend_yield: Option<f64>,
    pub payout_ratio: Option<f64>,
    pub profit_margin: Option<f64>,
    pub debt_to_equity: Option<f64>,
    pub current_ratio: Option<f64>,
    pub recommendation_key: Option<String>,
    pub target_mean_price: Option<f64>,
}

/// Everything the groups are computed from. `None` = absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    pub daily_closes: usize,
    pub monthly_points: usize,
    pub cagr_5y: Option<f64>,
    pub cagr_10y: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub max_drawdown: Option<f64>,
    pub volatility: Option<f64>,
    pub below_52w_high: Option<f64>,
    /// Combined momentum `0.6·m30 + 0.4·m90` (or `m30` alone).
    pub momentum: Option<f64>,
    pub rsi_14: Option<f64>,
    pub bollinger_position: Option<f64>,
    pub ema_200: Option<f64>,
    /// `(last − ema200) / ema200`.
    pub ema_distance: Option<f64>,
    pub last_price: Option<f64>,
    pub fundamentals: Fundamentals,
}

impl Metrics {
    /// Metrics from the scoring windows (oldest first) and the fundamentals; `None` when there is too little
    /// data to score (fewer than 50 daily closes or 12 monthly averages).
    pub fn from_inputs(daily: &[f64], monthly: &[f64], fundamentals: Fundamentals) -> Option<Metrics> {
        let daily = &daily[daily.len().saturating_sub(DAILY_WINDOW)..];
        let monthly = &monthly[monthly.len().saturating_sub(MONTHLY_WINDOW)..];
        if daily.len() < MIN_DAILY || monthly.len() < MIN_MONTHLY {
            return None;
        }
        let any_non_positive = daily.iter().any(|v| *v <= 0.0);
        let r = p::returns(daily);
        let n = daily.len();
        let leg = |d: usize| -> f64 {
            // A reference price ≤ 0 makes that leg 0.
            let base = daily[n - 1 - d];
            if base <= 0.0 { 0.0 } else { (daily[n - 1] - base) / base }
        };
        let momentum = (n >= 30).then(|| if n >= 90 { 0.6 * leg(29) + 0.4 * leg(89) } else { leg(29) });
        let ema_200 = p::ema(daily, 200);
        let last = daily.last().copied();
        Some(Metrics {
            daily_closes: n,
            monthly_points: monthly.len(),
            cagr_5y: p::cagr(monthly, 60).or_else(|| p::cagr(monthly, monthly.len())),
            cagr_10y: (monthly.len() > 60).then(|| p::cagr(monthly, monthly.len())).flatten(),
            sharpe: p::sharpe(&r, SCORE_RISK_FREE_RATE, TRADING_DAYS),
            sortino: p::sortino(&r, SCORE_RISK_FREE_RATE, TRADING_DAYS),
            max_drawdown: (n >= 30).then(|| p::max_drawdown(daily)).flatten(),
            volatility: (n >= 30).then(|| p::ann_vol(&r)),
            below_52w_high: if any_non_positive { None } else { p::below_52w_high(daily) },
            momentum,
            rsi_14: p::rsi(daily, 14),
            bollinger_position: p::bollinger(daily, 20, 2.0).map(|b| b.position),
            ema_200,
            ema_distance: ema_200.filter(|e| *e > 0.0).zip(last).map(|(e, l)| (l - e) / e),
            last_price: last,
            fundamentals,
        })
    }
}

/// A holding's place in the portfolio (portfolio.md §5.3, diversification).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Context {
    /// Target and current share of the security's country group, or `None` when no country targets exist.
    pub country: Option<(f64, f64)>,
    /// Target and current share of each of its industry groups (empty: no industry, or no industry targets).
    pub industries: Vec<(f64, f64)>,
    /// Average price and share of total value when held.
    pub held: Option<Held>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Held {
    pub avg_price: f64,
    pub price: f64,
    pub share_of_total: f64,
}

/// The group scores (3 dp), the total (4 dp) and how they came about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub total: f64,
    pub groups: BTreeMap<&'static str, f64>,
    pub sub_scores: BTreeMap<&'static str, BTreeMap<&'static str, f64>>,
    /// `(long_term + fundamentals) / 2`.
    pub quality: f64,
    pub financial_strength: f64,
    pub consistency: f64,
    pub dividend_consistency: f64,
    pub defaulted: Vec<&'static str>,
}

/// Group weights (they sum to 1; the total still divides by their sum, as the original did).
pub const WEIGHTS: [(&str, f64); 8] = [
    ("long_term", 0.20),
    ("fundamentals", 0.15),
    ("opportunity", 0.15),
    ("dividends", 0.12),
    ("short_term", 0.10),
    ("technicals", 0.10),
    ("opinion", 0.10),
    ("diversification", 0.08),
];

/// Round half away from zero to `n` decimals.
pub fn round_n(x: f64, n: i32) -> f64 {
    let f = 10f64.powi(n);
    (x * f).round() / f
}

fn cagr_score(c: f64) -> f64 {
    if c <= 0.0 {
        return 0.15;
    }
    let sigma: f64 = if c < TARGET_ANNUAL_RETURN { 0.06 } else { 0.10 };
    0.15 + 0.85 * (-(c - TARGET_ANNUAL_RETURN).powi(2) / (2.0 * sigma * sigma)).exp()
}

pub(crate) fn sharpe_score(s: f64) -> f64 {
    match s {
        s if s >= 2.0 => 1.0,
        s if s >= 1.0 => 0.7 + 0.3 * (s - 1.0),
        s if s >= 0.5 => 0.4 + 0.6 * (s - 0.5),
        s if s >= 0.0 => 0.8 * s,
        _ => 0.0,
    }
}

fn sortino_score(s: f64) -> f64 {
    match s {
        s if s >= 2.0 => 1.0,
        s if s >= 1.5 => 0.8 + 0.4 * (s - 1.5),
        s if s >= 1.0 => 0.6 + 0.4 * (s - 1.0),
        s if s >= 0.5 => 0.4 + 0.4 * (s - 0.5),
        s if s >= 0.0 => 0.8 * s,
        _ => 0.0,
    }
}

fn below_high_score(p: f64) -> f64 {
    match p {
        p if p <= 0.0 => 0.2,
        p if p < 0.10 => 0.2 + 3.0 * p,
        p if p < 0.20 => 0.5 + 3.0 * (p - 0.10),
        p if p < 0.30 => 0.8 + 2.0 * (p - 0.20),
        _ => 1.0,
    }
}

fn pe_score(trailing: Option<f64>, forward: Option<f64>) -> Option<f64> {
    let trailing = trailing.filter(|t| *t > 0.0)?;
    let pe = match forward.filter(|f| *f > 0.0) {
        Some(f) => (trailing + f) / 2.0,
        None => trailing,
    };
    let d = (pe - MARKET_AVG_PE) / MARKET_AVG_PE;
    Some(match d {
        d if d >= 0.20 => 0.2,
        d if d >= 0.0 => 0.5 - 1.5 * d,
        d if d >= -0.10 => 0.5 + 2.0 * d.abs(),
        d if d >= -0.20 => 0.7 + 3.0 * (d.abs() - 0.10),
        _ => 1.0,
    })
}

fn yield_score(y: f64) -> f64 {
    match y {
        y if y <= 0.0 => 0.3,
        y if y >= 0.06 => 1.0,
        y if y >= 0.03 => 0.7 + 0.3 * (y - 0.03) / 0.03,
        y if y >= 0.01 => 0.4 + 0.3 * (y - 0.01) / 0.02,
        y => 0.3 + 0.1 * y / 0.01,
    }
}

pub(crate) fn payout_score(r: f64) -> f64 {
    match r {
        r if (0.3..=0.6).contains(&r) => 1.0,
        r if r < 0.3 => 0.5 + 0.5 * r / 0.3,
        r if r <= 0.8 => 1.0 - 0.3 * (r - 0.6) / 0.2,
        _ => 0.4,
    }
}

fn momentum_score(m: f64) -> f64 {
    match m {
        m if (0.05..=0.15).contains(&m) => 1.0,
        m if (0.0..0.05).contains(&m) => 0.6 + 8.0 * m,
        m if m > 0.15 && m <= 0.30 => 0.8 + 0.2 * (0.30 - m) / 0.15,
        m if m > 0.30 => (0.8 - 2.0 * (m - 0.30)).max(0.5),
        m if m >= -0.10 => 0.5 + (m + 0.10),
        m => (0.5 + 3.0 * m).max(0.2),
    }
}

pub(crate) fn drawdown_score(a: f64) -> f64 {
    match a {
        a if a <= 0.10 => 1.0,
        a if a <= 0.20 => 0.8 + 2.0 * (0.20 - a),
        a if a <= 0.30 => 0.6 + 2.0 * (0.30 - a),
        a if a <= 0.50 => 0.2 + 2.0 * (0.50 - a),
        a => (0.2 - (a - 0.50)).max(0.0),
    }
}

fn rsi_score(r: f64) -> f64 {
    match r {
        r if r < 30.0 => 1.0,
        r if r > 70.0 => 0.0,
        r => 1.0 - (r - 30.0) / 40.0,
    }
}

fn ema_score(d: f64) -> f64 {
    match d {
        d if d >= 0.10 => 0.2,
        d if d >= 0.0 => 0.5 - 3.0 * d,
        d if d >= -0.05 => 0.5 + 4.0 * d.abs(),
        d if d >= -0.10 => 0.7 + 6.0 * (d.abs() - 0.05),
        _ => 1.0,
    }
}

fn recommendation_score(key: Option<&str>) -> Option<f64> {
    Some(match key? {
        "strongBuy" | "strong_buy" => 1.0,
        "buy" => 0.8,
        "hold" => 0.5,
        "sell" => 0.2,
        "strongSell" | "strong_sell" => 0.0,
        _ => return None,
    })
}

/// The signed relative gap of a group: positive when underweight; `clamp(0.5 + 0.4w, 0.1, 0.9)`.
fn gap_score(target: f64, current: f64) -> f64 {
    let w = if target > 0.0 {
        (target - current) / target
    } else if current > 0.0 {
        -1.0
    } else {
        0.0
    };
    (0.5 + 0.4 * w.clamp(-1.0, 1.0)).clamp(0.1, 0.9)
}

/// Score a security from its metrics and (optionally) its place in the portfolio.
pub fn score(m: &Metrics, context: Option<&Context>) -> Score {
    let f = &m.fundamentals;
    let mut defaulted = Vec::new();
    let mut or_default = |value: Option<f64>, default: f64, name: &'static str| {
        value.unwrap_or_else(|| {
            if !defaulted.contains(&name) {
                defaulted.push(name);
            }
            default
        })
    };
    let mut subs: BTreeMap<&'static str, BTreeMap<&'static str, f64>> = BTreeMap::new();
    let mut groups: BTreeMap<&'static str, f64> = BTreeMap::new();
    let mut group = |name: &'static str, parts: &[(&'static str, f64, f64)]| -> f64 {
        let value = round_n(parts.iter().map(|(_, w, s)| w * s).sum::<f64>().min(1.0), 3);
        subs.insert(name, parts.iter().map(|(n, _, s)| (*n, round_n(*s, 3))).collect());
        groups.insert(name, value);
        value
    };

    let c5 = or_default(m.cagr_5y, 0.0, "cagr");
    let cagr = cagr_score(c5);
    let sortino = m.sortino.map(sortino_score);
    let sharpe = m.sharpe.map(sharpe_score);
    let long_term = group(
        "long_term",
        &[
            ("cagr", 0.40, cagr),
            ("sortino", 0.35, or_default(sortino, 0.5, "sortino")),
            ("sharpe", 0.25, or_default(sharpe, 0.5, "sharpe")),
        ],
    );

    let margin = f.profit_margin.map(|x| if x >= 0.0 { (0.5 + 2.5 * x).min(1.0) } else { (0.5 + 2.0 * x).max(0.0) });
    let margin = or_default(margin, 0.5, "profit_margin");
    let debt = (1.0 - or_default(f.debt_to_equity, 50.0, "debt_to_equity").min(200.0) / 200.0).max(0.0);
    let liquidity = (or_default(f.current_ratio, 1.0, "current_ratio").min(3.0) / 2.0).min(1.0);
    let financial_strength = 0.4 * margin + 0.3 * debt + 0.3 * liquidity;
    let consistency = match m.cagr_10y {
        None => 0.6,
        Some(c10) if (c5 - c10).abs() < 0.02 => 1.0,
        Some(c10) if (c5 - c10).abs() < 0.05 => 0.8,
        Some(c10) => (1.0 - 4.0 * (c5 - c10).abs()).max(0.4),
    };
    let fundamentals =
        group("fundamentals", &[("financial_strength", 0.60, financial_strength), ("consistency", 0.40, consistency)]);

    let opportunity = if m.daily_closes < 50 {
        group("opportunity", &[("insufficient_history", 1.0, 0.5)])
    } else {
        let below = or_default(m.below_52w_high, 0.5, "below_52w_high");
        let below = if m.below_52w_high.is_some() { below_high_score(below) } else { 0.5 };
        let pe = or_default(pe_score(f.pe, f.forward_pe), 0.3, "pe");
        group("opportunity", &[("below_52w_high", 0.50, below), ("pe", 0.50, pe)])
    };

    let dividend_yield = or_default(f.dividend_yield.map(yield_score), 0.3, "dividend_yield");
    let payout = or_default(f.payout_ratio.map(payout_score), 0.5, "payout_ratio");
    let growth = or_default(
        f.five_year_avg_dividend_yield.map(|g| (0.5 + 5.0 * g).min(1.0)),
        0.5,
        "five_year_avg_dividend_yield",
    );
    let dividend_consistency = 0.5 * payout + 0.5 * growth;
    group("dividends", &[("yield", 0.70, dividend_yield), ("consistency", 0.30, dividend_consistency)]);

    let momentum = or_default(m.momentum.map(momentum_score), 0.5, "momentum");
    let drawdown = or_default(m.max_drawdown.map(|d| drawdown_score(d.abs())), 0.5, "max_drawdown");
    group("short_term", &[("momentum", 0.50, momentum), ("drawdown", 0.50, drawdown)]);

    if m.daily_closes < 20 {
        group("technicals", &[("insufficient_history", 1.0, 0.5)]);
    } else {
        let rsi = or_default(m.rsi_14.map(rsi_score), 0.5, "rsi");
        let bollinger = or_default(m.bollinger_position.map(|p| 1.0 - p), 0.5, "bollinger");
        let ema = or_default(m.ema_distance.map(ema_score), 0.5, "ema");
        group("technicals", &[("rsi", 0.35, rsi), ("bollinger", 0.35, bollinger), ("ema", 0.30, ema)]);
    }

    let recommendation = or_default(recommendation_score(f.recommendation_key.as_deref()), 0.5, "analyst");
    let upside = f.target_mean_price.zip(m.last_price.filter(|p| *p > 0.0)).map(|(t, p)| (t - p) / p);
    let target = or_default(upside.map(|u| (0.5 + 2.5 * u).clamp(0.0, 1.0)), 0.5, "analyst");
    group("opinion", &[("recommendation", 0.60, recommendation), ("price_target", 0.40, target)]);

    let quality = (long_term + fundamentals) / 2.0;
    match context.filter(|c| c.country.is_some()) {
        None => {
            defaulted.push("portfolio_context");
            group("diversification", &[("no_context", 1.0, 0.5)]);
        }
        Some(c) => {
            let (t, cur) = c.country.expect("filtered");
            let geography = gap_score(t, cur);
            let industry = match c.industries.as_slice() {
                [] => 0.5,
                list => list.iter().map(|(t, c)| gap_score(*t, *c)).sum::<f64>() / list.len() as f64,
            };
            let averaging = match c.held {
                None => 0.5,
                Some(h) => {
                    let p = quality * opportunity;
                    let mut a = if p >= 0.5 {
                        0.7 + 0.6 * (p - 0.5)
                    } else if p >= 0.3 {
                        0.5 + (p - 0.3)
                    } else {
                        0.3
                    };
                    if h.avg_price > 0.0 && h.price < h.avg_price {
                        let loss = (h.avg_price - h.price) / h.avg_price;
                        if loss <= 0.20 {
                            a = (a + (2.0 * loss).min(0.40)).min(1.0);
                        }
                    }
                    if h.share_of_total > 0.10 {
                        a * 0.7
                    } else if h.share_of_total > 0.05 {
                        a * 0.9
                    } else {
                        a
                    }
                }
            };
            group(
                "diversification",
                &[("geography", 0.40, geography), ("industry", 0.30, industry), ("averaging_down", 0.30, averaging)],
            );
        }
    }

    let weight_sum: f64 = WEIGHTS.iter().map(|(_, w)| w).sum();
    let total = round_n(WEIGHTS.iter().map(|(g, w)| w * groups[g]).sum::<f64>() / weight_sum, 4);
    Score { total, groups, sub_scores: subs, quality, financial_strength, consistency, dividend_consistency, defaulted }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inputs of portfolio.md §13.4, as metrics.
    fn worked_example() -> Metrics {
        Metrics {
            daily_closes: 400,
            monthly_points: 120,
            cagr_5y: Some(0.08),
            cagr_10y: Some(0.095),
            sharpe: Some(1.2),
            sortino: Some(1.8),
            max_drawdown: Some(-0.25),
            volatility: Some(0.2),
            below_52w_high: Some(0.15),
            momentum: Some(0.6 * 0.04 + 0.4 * 0.10),
            rsi_14: Some(42.0),
            bollinger_position: Some(0.30),
            ema_200: Some(100.0),
            ema_distance: Some(-0.07),
            last_price: Some(85.0),
            fundamentals: Fundamentals {
                pe: Some(18.0),
                forward_pe: Some(16.0),
                dividend_yield: Some(0.04),
                five_year_avg_dividend_yield: Some(0.04),
                payout_ratio: Some(0.45),
                profit_margin: Some(0.12),
                debt_to_equity: Some(80.0),
                current_ratio: Some(1.5),
                recommendation_key: Some("buy".into()),
                target_mean_price: Some(85.0 * 1.12),
            },
        }
    }

    fn context() -> Context {
        Context {
            country: Some((0.40, 0.30)),
            industries: vec![(0.25, 0.35)],
            held: Some(Held { avg_price: 95.0, price: 85.0, share_of_total: 0.06 }),
        }
    }

    #[test]
    fn the_worked_example_of_portfolio_md_scores_exactly() {
        let s = score(&worked_example(), Some(&context()));
        let expected = [
            ("long_term", 0.872),
            ("fundamentals", 0.835),
            ("opportunity", 0.825),
            ("dividends", 0.815),
            ("short_term", 0.850),
            ("technicals", 0.736),
            ("opinion", 0.800),
            ("diversification", 0.612),
        ];
        for (group, value) in expected {
            assert!((s.groups[group] - value).abs() < 1e-9, "{group}: {} vs {value}", s.groups[group]);
        }
        assert_eq!(s.total, 0.8088);
        assert!((s.quality - 0.8535).abs() < 1e-9);
        assert!((s.sub_scores["long_term"]["cagr"] - 0.900).abs() < 1e-9, "sub-scores rounded to 3 dp");
        assert!(s.defaulted.is_empty(), "{:?}", s.defaulted);
    }

    #[test]
    fn without_portfolio_context_diversification_is_neutral() {
        let s = score(&worked_example(), None);
        assert_eq!(s.groups["diversification"], 0.5);
        assert_eq!(s.total, 0.7998);
        assert!(s.defaulted.contains(&"portfolio_context"));
    }

    #[test]
    fn dividend_scorer_cases_of_the_original() {
        assert!((yield_score(0.03) - 0.70).abs() < 1e-12);
        assert_eq!(yield_score(0.06), 1.0);
        assert_eq!(yield_score(0.0), 0.3);
        assert_eq!(yield_score(-0.01), 0.3);
        let mut m = worked_example();
        m.fundamentals.dividend_yield = None;
        m.fundamentals.payout_ratio = None;
        let s = score(&m, None);
        assert_eq!(s.sub_scores["dividends"]["yield"], 0.3);
        assert!(s.defaulted.contains(&"dividend_yield") && s.defaulted.contains(&"payout_ratio"));
        // five-year yield −0.02 with payout 0.50 → consistency 0.5·1.0 + 0.5·0.4 = 0.7.
        m.fundamentals.payout_ratio = Some(0.50);
        m.fundamentals.five_year_avg_dividend_yield = Some(-0.02);
        assert!((score(&m, None).dividend_consistency - 0.7).abs() < 1e-12);
    }

    #[test]
    fn missing_fundamentals_take_the_documented_defaults() {
        let mut m = worked_example();
        m.fundamentals = Fundamentals::default();
        let s = score(&m, None);
        // strength: margin 0.5, debt 1 − 50/200 = 0.75, liquidity 0.5 → 0.2 + 0.225 + 0.15 = 0.575.
        assert!((s.financial_strength - 0.575).abs() < 1e-12);
        assert_eq!(s.sub_scores["opportunity"]["pe"], 0.3);
        assert_eq!(s.sub_scores["opinion"]["recommendation"], 0.5);
        assert_eq!(s.sub_scores["opinion"]["price_target"], 0.5);
        for name in ["profit_margin", "debt_to_equity", "current_ratio", "pe", "analyst"] {
            assert!(s.defaulted.contains(&name), "{name} in {:?}", s.defaulted);
        }
    }

    #[test]
    fn piecewise_bands_at_their_edges() {
        assert_eq!(cagr_score(0.0), 0.15);
        assert!((cagr_score(0.11) - 1.0).abs() < 1e-12);
        assert_eq!(sharpe_score(2.0), 1.0);
        assert!((sharpe_score(0.5) - 0.4).abs() < 1e-12);
        assert_eq!(sharpe_score(-0.1), 0.0);
        assert!((sortino_score(1.5) - 0.8).abs() < 1e-12);
        assert_eq!(below_high_score(0.0), 0.2);
        assert_eq!(below_high_score(0.35), 1.0);
        assert_eq!(pe_score(Some(-5.0), Some(10.0)), None, "trailing ≤ 0 → default");
        assert!((pe_score(Some(22.0), None).unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(momentum_score(0.10), 1.0);
        assert!((momentum_score(-0.05) - 0.55).abs() < 1e-12);
        assert_eq!(momentum_score(-0.5), 0.2);
        assert_eq!(drawdown_score(0.05), 1.0);
        assert_eq!(drawdown_score(0.9), 0.0);
        assert_eq!(rsi_score(25.0), 1.0);
        assert_eq!(rsi_score(75.0), 0.0);
        assert_eq!(ema_score(0.2), 0.2);
        assert_eq!(ema_score(-0.2), 1.0);
        assert_eq!(gap_score(0.0, 0.1), 0.1, "a held group without target is overweight");
        assert_eq!(gap_score(0.0, 0.0), 0.5);
        assert_eq!(recommendation_score(Some("strongSell")), Some(0.0));
        assert_eq!(recommendation_score(Some("underperform")), None);
    }

    #[test]
    fn metrics_need_enough_history_and_use_the_documented_momentum_points() {
        let monthly: Vec<f64> = (0..24).map(|i| 100.0 + i as f64).collect();
        assert_eq!(Metrics::from_inputs(&vec![100.0; 49], &monthly, Fundamentals::default()), None);
        assert_eq!(Metrics::from_inputs(&vec![100.0; 60], &monthly[..11], Fundamentals::default()), None);
        // 100 closes rising by 1: m30 = (last − x[len−30]) / x[len−30], m90 likewise.
        let daily: Vec<f64> = (0..100).map(|i| 100.0 + i as f64).collect();
        let m = Metrics::from_inputs(&daily, &monthly, Fundamentals::default()).unwrap();
        let (last, x30, x90) = (199.0, daily[100 - 30], daily[100 - 90]);
        let expected = 0.6 * (last - x30) / x30 + 0.4 * (last - x90) / x90;
        assert!((m.momentum.unwrap() - expected).abs() < 1e-12);
        assert_eq!(m.cagr_10y, None, "needs more than 60 monthly points");
        assert_eq!(m.below_52w_high, Some(0.0));
        assert!(m.ema_distance.unwrap() > 0.0, "fewer than 200 closes: the EMA is the mean of all");
    }
}
