//! Allocation against country-group and industry-group targets, and concentration alerts (portfolio.md §6).

use std::collections::BTreeMap;

use serde::Serialize;

/// The implicit group of everything unmapped.
pub const OTHER: &str = "OTHER";
/// ±2 % around the target counts as balanced.
pub const BALANCED_BAND: f64 = 0.02;

/// The group a member (country or industry) belongs to; `OTHER` when unmapped.
pub fn group_of<'a>(member: &str, groups: &'a BTreeMap<String, Vec<String>>) -> &'a str {
    groups.iter().find(|(_, members)| members.iter().any(|m| m == member)).map(|(g, _)| g.as_str()).unwrap_or(OTHER)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Underweight,
    Balanced,
    Overweight,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupAllocation {
    pub group: String,
    pub value_eur: f64,
    pub share: f64,
    pub target: f64,
    pub deviation: f64,
    pub status: Status,
    /// `max(0, −deviation)`.
    pub need: f64,
}

/// Allocation of one kind: each group's value and share of `denominator` against its target. Lists the union of
/// groups with a target, groups held, and `OTHER` when non-zero; ordered by target share descending, `OTHER` last.
pub fn allocate(
    values: &BTreeMap<String, f64>,
    targets: &BTreeMap<String, f64>,
    denominator: f64,
) -> Vec<GroupAllocation> {
    let mut names: Vec<&String> = targets.keys().chain(values.keys().filter(|g| values[*g] > 0.0)).collect();
    names.sort();
    names.dedup();
    let mut rows: Vec<GroupAllocation> = names
        .into_iter()
        .map(|g| {
            let value_eur = values.get(g).copied().unwrap_or(0.0);
            let share = if denominator > 0.0 { value_eur / denominator } else { 0.0 };
            let target = targets.get(g).copied().unwrap_or(0.0);
            let deviation = share - target;
            let status = if deviation < -BALANCED_BAND {
                Status::Underweight
            } else if deviation > BALANCED_BAND {
                Status::Overweight
            } else {
                Status::Balanced
            };
            GroupAllocation {
                group: g.clone(),
                value_eur,
                share,
                target,
                deviation,
                status,
                need: (-deviation).max(0.0),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        (a.group == OTHER).cmp(&(b.group == OTHER)).then(b.target.total_cmp(&a.target)).then(a.group.cmp(&b.group))
    });
    rows
}

/// Industry values: each security's EUR value split equally across its industries.
pub fn industry_values<'a>(positions: impl IntoIterator<Item = (&'a str, f64)>) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for (text, value) in positions {
        let list: Vec<&str> = crate::store::universe::split_industries(text).collect();
        for industry in &list {
            *out.entry((*industry).to_owned()).or_default() += value / list.len() as f64;
        }
    }
    out
}

/// The scopes of concentration caps (portfolio.md §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Share of total value including cash.
    Position,
    /// Share of invested value.
    Country,
    /// Share of invested value.
    Industry,
}

impl Scope {
    /// (hard cap, alert threshold).
    pub fn limits(self) -> (f64, f64) {
        match self {
            Scope::Position => (0.15, 0.12),
            Scope::Country => (0.35, 0.28),
            Scope::Industry => (0.30, 0.24),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Critical,
}

/// The alert for a share, if any: at or above the alert threshold; `critical` from 90 % of the hard cap.
pub fn concentration_alert(scope: Scope, share: f64) -> Option<Severity> {
    let (cap, alert) = scope.limits();
    (share >= alert).then(|| if share / cap >= 0.90 { Severity::Critical } else { Severity::Warning })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    // portfolio.md §13.6

    use crate::store::config::normalise_weights;

    #[test]
    fn targets_are_normalised_weights() {
        let t = normalise_weights(map(&[("EU", 3.0), ("US", 2.0), ("ASIA", 1.0)]));
        assert!(
            (t["EU"] - 0.5).abs() < 1e-12
                && (t["US"] - 1.0 / 3.0).abs() < 1e-12
                && (t["ASIA"] - 1.0 / 6.0).abs() < 1e-12
        );
        assert!(normalise_weights(map(&[("EU", 0.0)])).is_empty(), "no targets when Σw = 0");
        // Negative weights are refused when stored (daemon/tests/engine_runs.rs); a legacy one counts as 0.
        assert_eq!(normalise_weights(map(&[("EU", -1.0), ("US", 1.0)]))["EU"], 0.0);
    }

    #[test]
    fn shares_deviations_and_statuses() {
        let targets = normalise_weights(map(&[("EU", 3.0), ("US", 2.0), ("ASIA", 1.0)]));
        let rows = allocate(&map(&[("EU", 4000.0), ("US", 4500.0), ("ASIA", 1500.0)]), &targets, 10_000.0);
        let get = |g: &str| rows.iter().find(|r| r.group == g).unwrap().clone();
        let (eu, us, asia) = (get("EU"), get("US"), get("ASIA"));
        assert!((eu.share - 0.40).abs() < 1e-12 && (eu.deviation + 0.10).abs() < 1e-9);
        assert_eq!(eu.status, Status::Underweight);
        assert!((us.deviation - 0.116667).abs() < 1e-6);
        assert_eq!(us.status, Status::Overweight);
        assert!((asia.deviation + 0.016667).abs() < 1e-6);
        assert_eq!(asia.status, Status::Balanced);
        assert_eq!(rows.iter().map(|r| r.group.as_str()).collect::<Vec<_>>(), ["EU", "US", "ASIA"], "by target");
    }

    #[test]
    fn unmapped_holdings_are_other_and_listed_last() {
        let groups: BTreeMap<String, Vec<String>> = [("EU".to_owned(), vec!["Germany".to_owned()])].into();
        assert_eq!(group_of("Germany", &groups), "EU");
        assert_eq!(group_of("Brazil", &groups), OTHER);
        let rows = allocate(&map(&[("EU", 50.0), (OTHER, 50.0)]), &map(&[("EU", 1.0)]), 100.0);
        assert_eq!(rows.last().unwrap().group, OTHER);
        assert_eq!(rows.last().unwrap().status, Status::Overweight, "a group without target counts as overweight");
    }

    #[test]
    fn concentration_alerts() {
        assert_eq!(concentration_alert(Scope::Position, 0.13), Some(Severity::Warning));
        assert_eq!(concentration_alert(Scope::Position, 0.14), Some(Severity::Critical));
        assert_eq!(concentration_alert(Scope::Position, 0.11), None);
        assert_eq!(concentration_alert(Scope::Country, 0.32), Some(Severity::Critical));
        assert_eq!(concentration_alert(Scope::Industry, 0.25), Some(Severity::Warning));
    }

    #[test]
    fn a_security_with_two_industries_is_split_equally() {
        let v = industry_values([("Software, Semiconductors", 1000.0), (" Software ,", 200.0)]);
        assert_eq!(v["Software"], 700.0);
        assert_eq!(v["Semiconductors"], 500.0);
    }
}
