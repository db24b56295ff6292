//! The engine against the eight databases: the scoring run (portfolio.md §5, job 2) and the EUR valuation of
//! what is held (§3.3). Reads and writes only through the repositories.

use std::collections::BTreeMap;

use chrono::Duration;
use rust_decimal::prelude::*;

use super::money::{self, FxRates, Holding, Valuation, ValuationError};
use super::score::{self, Fundamentals, Metrics};
use crate::store::history::ExchangeRateRepository;
use crate::store::portfolio::Score as ScoreRow;
use crate::store::{DbName, Instant, Store, write_tx};

/// Stored rates older than this do not count (`fx_max_age_hours`, 96: covers weekends).
pub const FX_MAX_AGE_HOURS: i64 = 96;
/// A daily close older than this many calendar days (5 trading days) is no price.
const CLOSE_MAX_AGE_DAYS: i64 = 7;

/// Why an engine run could not finish.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Valuation(#[from] ValuationError),
}

/// What a scoring run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScoringRun {
    pub scored: Vec<ScoreRow>,
    /// Securities without enough history (fewer than 50 closes or 12 months): no row, not buyable.
    pub unscored: Vec<String>,
}

/// Where each in-universe security with a country stands in the portfolio, for the diversification group: its
/// country group's and industry groups' target and current shares, and its holding.
fn contexts(portfolio: &super::status::Portfolio) -> BTreeMap<String, score::Context> {
    use super::allocation::group_of;
    use crate::store::universe::split_industries;
    let allocation = portfolio.allocation();
    let shares = |rows: &[super::allocation::GroupAllocation]| -> BTreeMap<String, (f64, f64)> {
        rows.iter().map(|r| (r.group.clone(), (r.target, r.share))).collect()
    };
    let (countries, industries) = (shares(&allocation.countries), shares(&allocation.industries));
    let (country_targets, industry_targets) =
        (!portfolio.country_targets.is_empty(), !portfolio.industry_targets.is_empty());
    let total = portfolio.valuation.total_eur.to_f64().unwrap_or(0.0);
    let held: BTreeMap<&str, &money::PositionValue> =
        portfolio.valuation.positions.iter().map(|p| (p.symbol.as_str(), p)).collect();
    let mut out = BTreeMap::new();
    for s in portfolio.securities.values().filter(|s| s.removed_at.is_none()) {
        let Some(country) = s.country.as_deref().filter(|c| !c.is_empty()) else { continue };
        let group = group_of(country, &portfolio.country_groups);
        let country = country_targets.then(|| countries.get(group).copied().unwrap_or((0.0, 0.0)));
        let industry_list = if industry_targets {
            split_industries(s.industry.as_deref().unwrap_or(""))
                .map(|i| industries.get(group_of(i, &portfolio.industry_groups)).copied().unwrap_or((0.0, 0.0)))
                .collect()
        } else {
            Vec::new()
        };
        let holding = held.get(s.symbol.as_str()).map(|v| score::Held {
            avg_price: v.avg_price.to_f64().unwrap_or(0.0),
            price: v.price.to_f64().unwrap_or(0.0),
            share_of_total: if total > 0.0 { v.value_eur.to_f64().unwrap_or(0.0) / total } else { 0.0 },
        });
        out.insert(s.symbol.clone(), score::Context { country, industries: industry_list, held: holding });
    }
    out
}

/// Score every security in the universe from its price history and its place in the portfolio, and replace
/// its row in `scores`, in one transaction. Fundamentals and analyst data come with the market-data adapter;
/// until then their defaults apply and are listed in `defaulted_inputs`.
pub fn score_universe(store: &Store, now: Instant) -> Result<ScoringRun, EngineError> {
    // Without a valuation (a missing rate or price) the diversification group is neutral, and says so.
    let contexts = match super::status::Portfolio::load(store, now) {
        Ok(portfolio) => Some(contexts(&portfolio)),
        Err(EngineError::Valuation(_)) => None,
        Err(e) => return Err(e),
    };
    let securities = store.securities().list_in_universe()?;
    let prices = store.prices();
    let mut scored = Vec::new();
    let mut unscored = Vec::new();
    for security in securities {
        let daily = prices.last_daily(&security.symbol, score::DAILY_WINDOW)?;
        let monthly = prices.monthly(&security.symbol, score::MONTHLY_WINDOW)?;
        let closes: Vec<f64> = daily.iter().map(|b| b.close).collect();
        let months: Vec<f64> = monthly.iter().map(|m| m.avg_close).collect();
        let Some(metrics) = Metrics::from_inputs(&closes, &months, Fundamentals::default()) else {
            unscored.push(security.symbol);
            continue;
        };
        let context = contexts.as_ref().and_then(|c| c.get(&security.symbol));
        let s = score::score(&metrics, context);
        scored.push(row(&security.symbol, &metrics, &s, daily.last().map(|b| b.date), now));
    }
    write_tx(store.conn(DbName::Portfolio), "writing scores", |conn| {
        let repo = crate::store::portfolio::ScoreRepository::new(conn);
        for row in &scored {
            repo.replace(row, now)?;
        }
        Ok(())
    })?;
    Ok(ScoringRun { scored, unscored })
}

fn row(symbol: &str, m: &Metrics, s: &score::Score, price_date: Option<chrono::NaiveDate>, now: Instant) -> ScoreRow {
    let group = |g: &str| s.groups.get(g).copied();
    ScoreRow {
        symbol: symbol.to_owned(),
        total_score: s.total,
        long_term_score: group("long_term"),
        fundamentals_score: group("fundamentals"),
        opportunity_score: group("opportunity"),
        dividends_score: group("dividends"),
        short_term_score: group("short_term"),
        technicals_score: group("technicals"),
        opinion_score: group("opinion"),
        diversification_score: group("diversification"),
        quality_score: Some(s.quality),
        sub_scores: serde_json::to_string(&s.sub_scores).ok(),
        cagr_5y: m.cagr_5y,
        cagr_10y: m.cagr_10y,
        sharpe: m.sharpe,
        sortino: m.sortino,
        max_drawdown: m.max_drawdown,
        volatility: m.volatility,
        rsi_14: m.rsi_14,
        ema_200: m.ema_200,
        bollinger_position: m.bollinger_position,
        below_52w_high: m.below_52w_high,
        momentum: m.momentum,
        dividend_yield: m.fundamentals.dividend_yield,
        five_year_avg_dividend_yield: m.fundamentals.five_year_avg_dividend_yield,
        payout_ratio: m.fundamentals.payout_ratio,
        financial_strength: Some(score::round_n(s.financial_strength, 3)),
        consistency_score: Some(score::round_n(s.consistency, 3)),
        dividend_consistency: Some(score::round_n(s.dividend_consistency, 3)),
        defaulted_inputs: Some(s.defaulted.join(",")),
        history_days: Some(m.daily_closes as i64),
        history_months: Some(m.monthly_points as i64),
        price_date,
        calculated_at: Some(now),
    }
}

/// The stored EUR rates young enough to use, for `currencies`; a currency without one stays missing (the
/// valuation then fails naming it).
pub fn stored_rates(store: &Store, currencies: &[String], now: Instant) -> Result<FxRates, EngineError> {
    let repo = ExchangeRateRepository::new(store.conn(DbName::History));
    let mut rates = FxRates::new();
    for c in currencies.iter().filter(|c| c.as_str() != "EUR") {
        if let Some(r) = repo.latest("EUR", c, Duration::hours(FX_MAX_AGE_HOURS), now)? {
            let rate = Decimal::from_f64(r.rate).filter(|d| *d > Decimal::ZERO);
            if let Some(rate) = rate {
                let _ = rates.set(c, rate);
            }
        }
    }
    Ok(rates)
}

/// Value the held positions and the cash of every bucket in EUR at the stored prices and rates.
pub fn value_portfolio(store: &Store, now: Instant) -> Result<Valuation, EngineError> {
    let positions = store.positions().all()?;
    let prices = store.prices();
    let mut holdings = Vec::with_capacity(positions.len());
    for p in &positions {
        let recent_close = prices
            .latest_close(&p.symbol)?
            .filter(|(date, _)| (now.date_naive() - *date).num_days() <= CLOSE_MAX_AGE_DAYS)
            .and_then(|(_, close)| Decimal::from_f64(close));
        let price = money::choose_price(p.current_price.and_then(Decimal::from_f64), None, recent_close);
        holdings.push(Holding {
            symbol: p.symbol.clone(),
            currency: p.currency.clone(),
            quantity: Decimal::from_f64(p.quantity).unwrap_or_default(),
            avg_price: Decimal::from_f64(p.avg_price).unwrap_or_default(),
            price,
        });
    }
    let balances = store.balances();
    let mut cash: BTreeMap<String, Decimal> = BTreeMap::new();
    for currency in balances.currencies()? {
        cash.insert(currency.clone(), balances.total(&currency)?);
    }
    let mut currencies: Vec<String> = holdings.iter().map(|h| h.currency.clone()).chain(cash.keys().cloned()).collect();
    currencies.sort();
    currencies.dedup();
    let rates = stored_rates(store, &currencies, now)?;
    let cash: Vec<(String, Decimal)> = cash.into_iter().collect();
    Ok(money::value(&holdings, &cash, &rates)?)
}

/// Today's snapshot (portfolio.md §10.1) from the valuation now: total, invested, cash, unrealised P&L,
/// position count, turnover. Written (upsert for the local date) when `write`.
pub fn snapshot(
    store: &Store,
    date: chrono::NaiveDate,
    now: Instant,
    write: bool,
) -> Result<crate::store::portfolio::Snapshot, EngineError> {
    let v = value_portfolio(store, now)?;
    let f = |d: Decimal| d.to_f64().unwrap_or(0.0);
    let pnl: Decimal = v.positions.iter().map(|p| p.value_eur - p.cost_eur).sum();
    let mut row = crate::store::portfolio::Snapshot {
        date,
        total_value: f(v.total_eur),
        cash_balance: f(v.cash_eur),
        invested_value: Some(f(v.invested_eur)),
        unrealized_pnl: Some(f(pnl)),
        geo_eu_pct: None,
        geo_asia_pct: None,
        geo_us_pct: None,
        position_count: Some(v.positions.len() as i64),
        annual_turnover: None,
        created_at: now,
    };
    if write {
        // Turnover's mean value includes today's snapshot, so the row is stored before it is computed.
        store.snapshots().upsert(&row)?;
        row.annual_turnover = store.turnover().annual_turnover(date)?;
        store.snapshots().upsert(&row)?;
    } else {
        row.annual_turnover = store.turnover().annual_turnover(date)?;
    }
    Ok(row)
}

/// Analytics over the weekday snapshots of the `days` up to `end` (portfolio.md §10.2).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AnalyticsReport {
    pub start: chrono::NaiveDate,
    pub end: chrono::NaiveDate,
    pub snapshots: usize,
    pub returns: usize,
    pub performance: super::analytics::Performance,
    pub turnover: Option<(f64, crate::store::portfolio::TurnoverStatus)>,
}

pub fn analytics(store: &Store, end: chrono::NaiveDate, days: i64) -> Result<AnalyticsReport, EngineError> {
    use chrono::Datelike;
    let start = end - Duration::days(days);
    let snapshots: Vec<_> = store
        .snapshots()
        .range(start, end)?
        .into_iter()
        .filter(|s| !matches!(s.date.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun))
        .collect();
    let flows = crate::store::ledger::CashFlowRepository::new(store.conn(crate::store::DbName::Ledger))
        .by_date_range(start, end)?;
    // Net external flows (deposits − withdrawals) per day, summed once; each step reads its date range.
    let mut by_day: BTreeMap<chrono::NaiveDate, f64> = BTreeMap::new();
    for f in flows.iter().filter(|f| {
        matches!(f.flow_type, crate::store::ledger::FlowType::Deposit | crate::store::ledger::FlowType::Withdrawal)
    }) {
        *by_day.entry(f.date).or_default() += f.amount_eur.to_f64().unwrap_or(0.0);
    }
    let external = |from: chrono::NaiveDate, to: chrono::NaiveDate| -> f64 {
        use std::ops::Bound::{Excluded, Included};
        by_day.range((Excluded(from), Included(to))).map(|(_, v)| v).sum()
    };
    let mut points = Vec::with_capacity(snapshots.len());
    for (i, s) in snapshots.iter().enumerate() {
        let flows = if i == 0 { 0.0 } else { external(snapshots[i - 1].date, s.date) };
        points.push(super::analytics::Point { value: s.total_value, flows });
    }
    let r = super::analytics::daily_returns(&points);
    let turnover =
        store.turnover().annual_turnover(end)?.map(|t| (t, crate::store::portfolio::TurnoverTracker::status(t)));
    Ok(AnalyticsReport {
        start,
        end,
        snapshots: snapshots.len(),
        returns: r.len(),
        performance: super::analytics::performance(&r),
        turnover,
    })
}
