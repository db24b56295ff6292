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

/// Score every security in the universe from its price history and replace its row in `scores`, in one
/// transaction. Fundamentals and analyst data come with the market-data adapter; until then their defaults
/// apply and are listed in `defaulted_inputs`.
pub fn score_universe(store: &Store, now: Instant) -> Result<ScoringRun, EngineError> {
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
        let s = score::score(&metrics, None);
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
