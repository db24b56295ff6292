//! The portfolio's state for people (`trader status`): value, cash, allocation against the country-group and
//! industry-group targets, concentration alerts, and the pending recommendations.

use std::collections::BTreeMap;

use rust_decimal::prelude::*;
use serde::Serialize;

use super::allocation::{self, GroupAllocation, Scope, Severity};
use super::money::Valuation;
use super::runs::{self, EngineError};
use crate::store::config::TargetType;
use crate::store::universe::Security;
use crate::store::{Instant, Store};

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub scope: Scope,
    pub name: String,
    pub share: f64,
    pub severity: Severity,
}

#[derive(Debug, Clone, Serialize)]
pub struct PendingRecommendation {
    pub side: String,
    pub symbol: String,
    pub quantity: Option<f64>,
    pub value_eur: Option<f64>,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub valuation: Valuation,
    /// Shares of invested value (portfolio.md §6.2, reporting denominator).
    pub countries: Vec<GroupAllocation>,
    pub industries: Vec<GroupAllocation>,
    pub alerts: Vec<Alert>,
    pub recommendations: Vec<PendingRecommendation>,
}

/// Everything allocation needs, read once: the valuation, the securities (removed ones too, by symbol), the
/// group memberships and the normalised targets of both kinds.
pub struct Portfolio {
    pub valuation: Valuation,
    pub securities: BTreeMap<String, Security>,
    pub country_groups: BTreeMap<String, Vec<String>>,
    pub industry_groups: BTreeMap<String, Vec<String>>,
    pub country_targets: BTreeMap<String, f64>,
    pub industry_targets: BTreeMap<String, f64>,
}

/// Allocation of the held positions against the targets, with the concentration alerts.
pub struct Allocation {
    /// Shares of invested value (portfolio.md §6.2, reporting denominator).
    pub countries: Vec<GroupAllocation>,
    pub industries: Vec<GroupAllocation>,
    pub alerts: Vec<Alert>,
}

impl Portfolio {
    pub fn load(store: &Store, now: Instant) -> Result<Portfolio, EngineError> {
        let groupings = store.groupings();
        let targets = store.allocations();
        Ok(Portfolio {
            valuation: runs::value_portfolio(store, now)?,
            securities: store.securities().list_all(true)?.into_iter().map(|s| (s.symbol.clone(), s)).collect(),
            country_groups: groupings.country_groups()?,
            industry_groups: groupings.industry_groups()?,
            country_targets: targets.group_targets(TargetType::CountryGroup)?,
            industry_targets: targets.group_targets(TargetType::IndustryGroup)?,
        })
    }

    pub fn allocation(&self) -> Allocation {
        let valuation = &self.valuation;
        let invested = valuation.invested_eur.to_f64().unwrap_or(0.0);
        let total = valuation.total_eur.to_f64().unwrap_or(0.0);
        let mut country_values: BTreeMap<String, f64> = BTreeMap::new();
        let mut by_country: BTreeMap<String, f64> = BTreeMap::new();
        let mut industry_positions: Vec<(String, f64)> = Vec::new();
        let mut alerts = Vec::new();
        for p in &valuation.positions {
            let value = p.value_eur.to_f64().unwrap_or(0.0);
            let security = self.securities.get(&p.symbol);
            let country = security.and_then(|s| s.country.clone()).unwrap_or_default();
            *country_values.entry(allocation::group_of(&country, &self.country_groups).to_owned()).or_default() +=
                value;
            *by_country.entry(country).or_default() += value;
            industry_positions.push((security.and_then(|s| s.industry.clone()).unwrap_or_default(), value));
            if total > 0.0
                && let Some(severity) = allocation::concentration_alert(Scope::Position, value / total)
            {
                alerts.push(Alert { scope: Scope::Position, name: p.symbol.clone(), share: value / total, severity });
            }
        }
        let industries = allocation::industry_values(industry_positions.iter().map(|(i, v)| (i.as_str(), *v)));
        let mut industry_values: BTreeMap<String, f64> = BTreeMap::new();
        for (industry, value) in &industries {
            *industry_values.entry(allocation::group_of(industry, &self.industry_groups).to_owned()).or_default() +=
                value;
        }
        if invested > 0.0 {
            for (scope, values) in [(Scope::Country, &by_country), (Scope::Industry, &industries)] {
                for (name, value) in values.iter().filter(|(n, _)| !n.is_empty()) {
                    if let Some(severity) = allocation::concentration_alert(scope, value / invested) {
                        alerts.push(Alert { scope, name: name.clone(), share: value / invested, severity });
                    }
                }
            }
        }
        Allocation {
            countries: allocation::allocate(&country_values, &self.country_targets, invested),
            industries: allocation::allocate(&industry_values, &self.industry_targets, invested),
            alerts,
        }
    }
}

/// The status of the portfolio now, from the databases.
pub fn status(store: &Store, now: Instant, recommendations: usize) -> Result<Status, EngineError> {
    let portfolio = Portfolio::load(store, now)?;
    let Allocation { countries, industries, alerts } = portfolio.allocation();
    let recommendations = store
        .recommendations()
        .pending(recommendations)?
        .into_iter()
        .map(|r| PendingRecommendation {
            side: r.side.as_str().to_owned(),
            symbol: r.symbol,
            quantity: r.quantity,
            value_eur: r.estimated_value,
            reason: r.reason,
        })
        .collect();
    Ok(Status { valuation: portfolio.valuation, countries, industries, alerts, recommendations })
}

/// The status as text tables.
pub fn render(s: &Status) -> String {
    let eur = |d: Decimal| crate::display::eur(d);
    let mut out = format!(
        "portfolio {}   invested {}   cash {}   {} positions\n",
        eur(s.valuation.total_eur),
        eur(s.valuation.invested_eur),
        eur(s.valuation.cash_eur),
        s.valuation.positions.len()
    );
    for (title, rows) in [("country groups", &s.countries), ("industry groups", &s.industries)] {
        out.push_str(&format!(
            "\n{title} (share of invested value):\n  {:<18} {:>8} {:>8} {:>9}  status\n",
            "group", "current", "target", "deviation"
        ));
        if rows.is_empty() {
            out.push_str("  (no holdings and no targets)\n");
        }
        for r in rows.iter() {
            out.push_str(&format!(
                "  {:<18} {:>7.1}% {:>7.1}% {:>+8.1}%  {:?}\n",
                r.group,
                100.0 * r.share,
                100.0 * r.target,
                100.0 * r.deviation,
                r.status
            ));
        }
    }
    if !s.alerts.is_empty() {
        out.push_str("\nconcentration alerts:\n");
        for a in &s.alerts {
            out.push_str(&format!("  {:?} {:<16} {:>5.1}%  {:?}\n", a.scope, a.name, 100.0 * a.share, a.severity));
        }
    }
    out.push_str("\npending recommendations:\n");
    if s.recommendations.is_empty() {
        out.push_str("  none\n");
    }
    for r in &s.recommendations {
        let value = r.value_eur.and_then(Decimal::from_f64).map(eur).unwrap_or_else(|| "?".into());
        out.push_str(&format!(
            "  {:<4} {:<14} {:>8} {:>12}  {}\n",
            r.side,
            r.symbol,
            r.quantity.map(|q| q.to_string()).unwrap_or_default(),
            value,
            r.reason
        ));
    }
    out
}
