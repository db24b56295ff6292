//! Planner pieces (portfolio.md §7): the portfolio hash that keys recommendations, and the profit-taking
//! (windfall) calculator. The sequence generator, filters and evaluation follow in the engine issue.

use chrono::NaiveDate;
use rust_decimal::prelude::*;
use sha2::{Digest, Sha256};

use crate::store::values::canonical_decimal;

/// A universe security or held symbol, as the hash sees it (after pending orders).
#[derive(Debug, Clone, PartialEq)]
pub struct HashSecurity {
    pub symbol: String,
    /// 0 when not held.
    pub quantity: Decimal,
    pub allow_buy: bool,
    pub allow_sell: bool,
    pub min_target: Option<Decimal>,
    pub max_target: Option<Decimal>,
    pub country: String,
    pub industry: String,
}

/// Everything the portfolio hash covers (portfolio.md §7.10). Prices and values are excluded on purpose.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HashInputs {
    pub securities: Vec<HashSecurity>,
    /// Cash per currency after pending orders.
    pub cash: Vec<(String, Decimal)>,
    /// `(kind, group, normalised share)`, kind `country_group` / `industry_group`.
    pub targets: Vec<(String, String, f64)>,
    /// `(kind, group, member)`, kind `country` / `industry`.
    pub memberships: Vec<(String, String, String)>,
    /// The settings of the `K` lines.
    pub constants: Vec<(String, Decimal)>,
    /// SHA-256 (hex) of the planner configuration text in force.
    pub planner_config_sha256: Option<String>,
    /// Date of the last completed scoring run.
    pub scores_as_of: Option<NaiveDate>,
}

/// The hash's lines, sorted by byte order.
pub fn hash_lines(inputs: &HashInputs) -> Vec<String> {
    let flag = |b: bool| if b { "1" } else { "0" };
    let opt = |d: &Option<Decimal>| d.map(canonical_decimal).unwrap_or_default();
    let mut lines: Vec<String> = Vec::new();
    for s in &inputs.securities {
        lines.push(format!(
            "S|{}|{}|{}|{}|{}|{}|{}|{}",
            s.symbol,
            canonical_decimal(s.quantity),
            flag(s.allow_buy),
            flag(s.allow_sell),
            opt(&s.min_target),
            opt(&s.max_target),
            s.country,
            s.industry
        ));
    }
    for (currency, amount) in inputs.cash.iter().filter(|(_, a)| !a.is_zero()) {
        let cents = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        lines.push(format!("C|{currency}|{cents:.2}"));
    }
    for (kind, group, share) in inputs.targets.iter().filter(|(_, _, s)| *s != 0.0) {
        lines.push(format!("T|{kind}|{group}|{share:.4}"));
    }
    for (kind, group, member) in &inputs.memberships {
        lines.push(format!("G|{kind}|{group}|{member}"));
    }
    for (key, value) in &inputs.constants {
        lines.push(format!("K|{key}|{}", canonical_decimal(*value)));
    }
    if let Some(sha) = &inputs.planner_config_sha256 {
        lines.push(format!("P|{sha}"));
    }
    if let Some(date) = inputs.scores_as_of {
        lines.push(format!("V|{date}"));
    }
    lines.sort();
    lines
}

/// The portfolio hash: the first 16 hex characters of the SHA-256 of the sorted lines, each ended by `\n`.
pub fn portfolio_hash(inputs: &HashInputs) -> String {
    let mut sha = Sha256::new();
    for line in hash_lines(inputs) {
        sha.update(line.as_bytes());
        sha.update(b"\n");
    }
    let digest = sha.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The windfall threshold θ (`profit_taking.windfall_threshold`, default preset).
pub const WINDFALL_THRESHOLD: f64 = 0.25;

/// What the profit-taking calculator decides for one position (portfolio.md §7.4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfitTaking {
    /// Gain expected from the security's own growth over the holding period.
    pub expected: f64,
    pub excess: f64,
    /// Windfall score `ws`.
    pub windfall: f64,
    /// Share of the holding to sell; `None` = no candidate.
    pub sell_fraction: Option<f64>,
}

/// Gain `g`, years held `y` (unknown → 1.0; at least 0.1), the security's CAGR `c` (absent → 0.10).
pub fn profit_taking(gain: f64, years_held: Option<f64>, cagr: Option<f64>, theta: f64) -> ProfitTaking {
    let y = years_held.unwrap_or(1.0).max(0.1);
    let c = cagr.unwrap_or(0.10);
    let expected = if c <= -1.0 { 0.0 } else { (1.0 + c).powf(y) - 1.0 };
    let excess = gain - expected;
    let windfall = if excess >= 2.0 * theta {
        1.0
    } else if excess >= theta {
        0.5 + 0.5 * (excess - theta) / theta
    } else if excess > 0.0 {
        0.5 * excess / theta
    } else {
        0.0
    };
    let sell_fraction = if gain >= 1.0 && excess > 0.30 {
        Some(0.50)
    } else if gain >= 1.0 {
        Some(0.30)
    } else if excess >= 2.0 * theta {
        Some(0.40)
    } else if excess >= theta {
        Some(0.20)
    } else {
        None
    };
    ProfitTaking { expected, excess, windfall, sell_fraction }
}

/// The candidate's priority: `(ws + 0.5) / mult × pw`.
pub fn profit_taking_priority(windfall: f64, multiplier: f64, weight: f64) -> f64 {
    (windfall + 0.5) / multiplier * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn the_golden_portfolio_hash_of_portfolio_md() {
        let security = |symbol: &str, qty: &str, allow_sell: bool, country: &str, industry: &str| HashSecurity {
            symbol: symbol.into(),
            quantity: d(qty),
            allow_buy: true,
            allow_sell,
            min_target: None,
            max_target: None,
            country: country.into(),
            industry: industry.into(),
        };
        let inputs = HashInputs {
            securities: vec![
                security("SAP.DE", "0", false, "Germany", "Software"),
                security("AAPL.US", "10.000", true, "United States", "Consumer Electronics"),
            ],
            cash: vec![("USD".into(), d("-12.5")), ("EUR".into(), d("1500")), ("GBP".into(), d("0"))],
            targets: vec![("country_group".into(), "EU".into(), 0.6), ("country_group".into(), "US".into(), 0.4)],
            memberships: vec![
                ("country".into(), "US".into(), "United States".into()),
                ("country".into(), "EU".into(), "Germany".into()),
            ],
            scores_as_of: NaiveDate::from_ymd_opt(2026, 1, 5),
            ..HashInputs::default()
        };
        assert_eq!(
            hash_lines(&inputs),
            [
                "C|EUR|1500.00",
                "C|USD|-12.50",
                "G|country|EU|Germany",
                "G|country|US|United States",
                "S|AAPL.US|10|1|1|||United States|Consumer Electronics",
                "S|SAP.DE|0|1|0|||Germany|Software",
                "T|country_group|EU|0.6000",
                "T|country_group|US|0.4000",
                "V|2026-01-05",
            ]
        );
        assert_eq!(portfolio_hash(&inputs), "643de2c768fefa51");
    }

    #[test]
    fn profit_taking_reference_cases() {
        let t = WINDFALL_THRESHOLD;
        let a = profit_taking(0.61, Some(3.0), Some(0.17), t);
        assert!((a.expected - 0.601613).abs() < 1e-6 && (a.windfall - 0.016774).abs() < 1e-6);
        assert_eq!(a.sell_fraction, None);
        let b = profit_taking(0.80, Some(1.0), Some(0.10), t);
        assert_eq!((b.windfall, b.sell_fraction), (1.0, Some(0.40)));
        assert!((profit_taking_priority(b.windfall, 1.0, 1.2) - 1.8).abs() < 1e-12);
        assert_eq!(profit_taking(1.20, Some(3.0), Some(0.10), t).sell_fraction, Some(0.50), "windfall doubler");
        let c = profit_taking(1.05, Some(8.0), Some(0.10), t);
        assert!((c.expected - 1.143589).abs() < 1e-6);
        assert_eq!((c.windfall, c.sell_fraction), (0.0, Some(0.30)), "consistent doubler");
        // excess 0.35: gain 0.45 over an expected 0.10 (1 year at 10 %).
        let e = profit_taking(0.45, Some(1.0), Some(0.10), t);
        assert!((e.windfall - 0.7).abs() < 1e-9);
        assert_eq!(e.sell_fraction, Some(0.20));
        assert!((profit_taking(0.1, None, None, t).expected - 0.10).abs() < 1e-12, "unknown: 1 year at 10 %");
    }
}

/// The buy and sell calculators of portfolio.md §7.4 as their rules and priorities; `mult` is the security's
/// `priority_multiplier`, `weight` the calculator's `priority_weight`. `None` = no candidate.
pub mod calculators {
    /// `averaging_down`: a held, buy-eligible position down more than `dip_threshold` (−0.20) with
    /// `quality ≥ min_quality` (0.6); priority `(quality + |loss|) × mult × weight`.
    pub fn averaging_down(
        loss: f64,
        quality: f64,
        dip_threshold: f64,
        min_quality: f64,
        mult: f64,
        weight: f64,
    ) -> Option<f64> {
        (loss < dip_threshold && quality >= min_quality).then(|| (quality + loss.abs()) * mult * weight)
    }

    /// `opportunity_buys`: `total_score ≥ min_score` (0.7); priority `total_score × mult × weight`.
    pub fn opportunity_buy(total_score: f64, min_score: f64, mult: f64, weight: f64) -> Option<f64> {
        (total_score >= min_score).then_some(total_score * mult * weight)
    }

    /// `rebalance_buys`: the largest underweight `u` of the security's country group and industry groups (shares of
    /// `T`) above `threshold` (0.02); priority `(2u + 0.5 × total_score) × mult × weight`.
    pub fn rebalance_buy(
        underweights: &[f64],
        threshold: f64,
        total_score: f64,
        mult: f64,
        weight: f64,
    ) -> Option<f64> {
        let u = underweights.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (u > threshold).then_some((2.0 * u + 0.5 * total_score) * mult * weight)
    }

    /// `rebalance_sells`: the largest overweight `o` above `threshold` (0.02); sells
    /// `min(max_sell_fraction × position value, o × T)` EUR at priority `2o / mult × weight`.
    pub fn rebalance_sell(
        overweights: &[f64],
        threshold: f64,
        position_eur: f64,
        total: f64,
        max_sell_fraction: f64,
        mult: f64,
        weight: f64,
    ) -> Option<(f64, f64)> {
        let o = overweights.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (o > threshold).then(|| ((max_sell_fraction * position_eur).min(o * total), 2.0 * o / mult * weight))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn each_calculator_applies_its_threshold_and_priority() {
            let p = averaging_down(-0.25, 0.8, -0.20, 0.6, 1.0, 1.0).unwrap();
            assert!((p - 1.05).abs() < 1e-12);
            assert_eq!(averaging_down(-0.15, 0.8, -0.20, 0.6, 1.0, 1.0), None, "not down enough");
            assert_eq!(averaging_down(-0.25, 0.5, -0.20, 0.6, 1.0, 1.0), None, "quality too low");
            assert!((opportunity_buy(0.75, 0.7, 2.0, 1.1).unwrap() - 1.65).abs() < 1e-12);
            assert_eq!(opportunity_buy(0.69, 0.7, 1.0, 1.0), None);
            let p = rebalance_buy(&[0.01, 0.05], 0.02, 0.6, 1.0, 0.9).unwrap();
            assert!((p - (2.0 * 0.05 + 0.3) * 0.9).abs() < 1e-12);
            assert_eq!(rebalance_buy(&[0.02], 0.02, 0.6, 1.0, 0.9), None, "strictly above the threshold");
            let (value, p) = rebalance_sell(&[0.10], 0.02, 5_000.0, 100_000.0, 0.30, 1.0, 0.8).unwrap();
            assert_eq!(value, 1_500.0, "30 % of the position is less than o × T = 10,000");
            assert!((p - 0.16).abs() < 1e-12);
            assert_eq!(rebalance_sell(&[], 0.02, 5_000.0, 100_000.0, 0.30, 1.0, 0.8), None);
        }
    }
}

/// Who may be bought or sold (portfolio.md §7.2), as pure rules over what the planning context knows.
pub mod eligibility {
    use chrono::NaiveDate;

    /// The planner settings the rules use, with their defaults.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct Rules {
        pub min_security_score: f64,
        pub buy_cooldown_days: i64,
        pub sell_cooldown_days: i64,
        pub min_hold_days: i64,
        /// The planner never sells a position down more than this (−0.20).
        pub max_loss_threshold: f64,
    }

    impl Default for Rules {
        fn default() -> Self {
            Rules {
                min_security_score: 0.5,
                buy_cooldown_days: 30,
                sell_cooldown_days: 180,
                min_hold_days: 90,
                max_loss_threshold: -0.20,
            }
        }
    }

    /// What a buy decision needs to know of a security.
    #[derive(Debug, Clone, PartialEq)]
    pub struct BuyFacts {
        pub active: bool,
        pub allow_buy: bool,
        /// `EQUITY`, `ETF`, `MUTUALFUND`, `CASH`, `UNKNOWN`, …
        pub product_type: String,
        /// `None` = unscored (not buyable).
        pub total_score: Option<f64>,
        pub priced: bool,
        pub last_buy: Option<NaiveDate>,
        pub pending_order: bool,
    }

    /// Why a security may not be bought; `None` = buy-eligible.
    pub fn buy_refusal(f: &BuyFacts, rules: &Rules, today: NaiveDate) -> Option<&'static str> {
        if !f.active {
            return Some("not in the universe");
        }
        if !f.allow_buy {
            return Some("allow_buy is off");
        }
        if matches!(f.product_type.as_str(), "CASH" | "UNKNOWN") {
            return Some("product type unknown or cash");
        }
        match f.total_score {
            None => return Some("unscored"),
            Some(s) if s < rules.min_security_score => return Some("score below min_security_score"),
            _ => {}
        }
        if !f.priced {
            return Some("no price or FX rate");
        }
        if f.last_buy.is_some_and(|d| (today - d).num_days() < rules.buy_cooldown_days) {
            return Some("bought within buy_cooldown_days");
        }
        if f.pending_order {
            return Some("a broker order is pending");
        }
        None
    }

    /// What a sell decision needs to know of a position.
    #[derive(Debug, Clone, PartialEq)]
    pub struct SellFacts {
        pub allow_sell: bool,
        pub quantity: f64,
        pub min_lot: i64,
        pub last_sell: Option<NaiveDate>,
        pub last_buy: Option<NaiveDate>,
        /// `(price − avg) / avg`.
        pub unrealized_pct: f64,
        pub pending_order: bool,
    }

    /// Why a position may not be sold by the planner; `None` = sell-eligible. The hold period counts from the
    /// last BUY and the cooldown from the last SELL (the original measured both from either side).
    pub fn sell_refusal(f: &SellFacts, rules: &Rules, today: NaiveDate) -> Option<&'static str> {
        if !f.allow_sell {
            return Some("allow_sell is off");
        }
        if f.quantity < f.min_lot.max(1) as f64 {
            return Some("holding below one lot");
        }
        if f.last_sell.is_some_and(|d| (today - d).num_days() < rules.sell_cooldown_days) {
            return Some("sold within sell_cooldown_days");
        }
        if f.last_buy.is_some_and(|d| (today - d).num_days() < rules.min_hold_days) {
            return Some("held less than min_hold_days");
        }
        if f.unrealized_pct < rules.max_loss_threshold {
            return Some("down more than max_loss_threshold");
        }
        if f.pending_order {
            return Some("a broker order is pending");
        }
        None
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn day(s: &str) -> NaiveDate {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
        }

        fn buyable() -> BuyFacts {
            BuyFacts {
                active: true,
                allow_buy: true,
                product_type: "EQUITY".into(),
                total_score: Some(0.6),
                priced: true,
                last_buy: None,
                pending_order: false,
            }
        }

        fn sellable() -> SellFacts {
            SellFacts {
                allow_sell: true,
                quantity: 10.0,
                min_lot: 1,
                last_sell: None,
                last_buy: Some(day("2026-01-01")),
                unrealized_pct: 0.1,
                pending_order: false,
            }
        }

        #[test]
        fn buy_eligibility_follows_every_rule_in_order() {
            let (rules, today) = (Rules::default(), day("2026-06-01"));
            assert_eq!(buy_refusal(&buyable(), &rules, today), None);
            let cases: [(BuyFacts, &str); 6] = [
                (BuyFacts { allow_buy: false, ..buyable() }, "allow_buy is off"),
                (BuyFacts { product_type: "UNKNOWN".into(), ..buyable() }, "product type unknown or cash"),
                (BuyFacts { total_score: None, ..buyable() }, "unscored"),
                (BuyFacts { total_score: Some(0.49), ..buyable() }, "score below min_security_score"),
                (BuyFacts { last_buy: Some(day("2026-05-10")), ..buyable() }, "bought within buy_cooldown_days"),
                (BuyFacts { pending_order: true, ..buyable() }, "a broker order is pending"),
            ];
            for (facts, why) in cases {
                assert_eq!(buy_refusal(&facts, &rules, today), Some(why));
            }
            assert_eq!(
                buy_refusal(&BuyFacts { last_buy: Some(day("2026-05-02")), ..buyable() }, &rules, today),
                None,
                "30 days ago"
            );
        }

        #[test]
        fn sell_eligibility_measures_hold_from_the_last_buy_and_cooldown_from_the_last_sell() {
            let (rules, today) = (Rules::default(), day("2026-06-01"));
            assert_eq!(sell_refusal(&sellable(), &rules, today), None, "bought 151 days ago");
            let recent_buy = SellFacts { last_buy: Some(day("2026-04-01")), ..sellable() };
            assert_eq!(sell_refusal(&recent_buy, &rules, today), Some("held less than min_hold_days"));
            let recent_sell = SellFacts { last_sell: Some(day("2026-03-01")), ..sellable() };
            assert_eq!(sell_refusal(&recent_sell, &rules, today), Some("sold within sell_cooldown_days"));
            let deep_loss = SellFacts { unrealized_pct: -0.25, ..sellable() };
            assert_eq!(sell_refusal(&deep_loss, &rules, today), Some("down more than max_loss_threshold"));
            let small = SellFacts { quantity: 4.0, min_lot: 5, ..sellable() };
            assert_eq!(sell_refusal(&small, &rules, today), Some("holding below one lot"));
            let never_bought = SellFacts { last_buy: None, ..sellable() };
            assert_eq!(sell_refusal(&never_bought, &rules, today), None, "no recorded BUY satisfies the hold period");
        }
    }
}
