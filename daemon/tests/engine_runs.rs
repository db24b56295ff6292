//! The engine on the demo databases: every security scored and persisted, the portfolio valued in EUR from the
//! stored prices and rates, and a missing rate refused by name.

mod common;

use common::{at, fresh_store};
use rust_decimal::prelude::*;
use trader::engine::money::ValuationError;
use trader::engine::runs::{self, EngineError};
use trader::store::DbName;

#[test]
fn the_demo_universe_is_scored_and_persisted_deterministically() {
    let (_dir, store) = fresh_store();
    let now = at("2026-01-02T12:00:00Z");
    trader::demo::fill(&store, 7, now, &|_| {}).unwrap();
    let first = runs::score_universe(&store, now).unwrap();
    let universe = store.securities().list_in_universe().unwrap().len();
    assert_eq!(first.scored.len() + first.unscored.len(), universe);
    assert!(first.scored.len() >= 20, "three years of prices score: {:?}", first.unscored);
    for row in &first.scored {
        assert!((0.0..=1.0).contains(&row.total_score), "{}: {}", row.symbol, row.total_score);
        // The demo portfolio has group targets and every security a country: the diversification group is
        // computed from the portfolio, not defaulted.
        assert!(!row.defaulted_inputs.as_deref().unwrap().contains("portfolio_context"), "{}", row.symbol);
        assert_eq!(row.history_days, Some(400));
    }
    assert!(first.scored.iter().any(|r| r.diversification_score != Some(0.5)));
    let stored = store.scores().all().unwrap();
    assert_eq!(stored.len(), first.scored.len());
    let second = runs::score_universe(&store, now).unwrap();
    assert_eq!(
        serde_json::to_string(&first.scored).unwrap(),
        serde_json::to_string(&second.scored).unwrap(),
        "the same databases give the same scores, byte for byte"
    );
}

#[test]
fn the_demo_portfolio_is_valued_like_its_last_snapshot() {
    let (_dir, store) = fresh_store();
    let now = at("2026-01-02T12:00:00Z");
    trader::demo::fill(&store, 7, now, &|_| {}).unwrap();
    let valuation = runs::value_portfolio(&store, now).unwrap();
    let snapshot = store.snapshots().latest().unwrap().unwrap();
    let total = valuation.total_eur.to_f64().unwrap();
    assert!(
        (total - snapshot.total_value).abs() / snapshot.total_value < 0.005,
        "valuation €{total} vs last snapshot €{}",
        snapshot.total_value
    );
    assert_eq!(valuation.positions.len(), store.positions().count().unwrap() as usize);
    assert_eq!(valuation.total_eur, valuation.invested_eur + valuation.cash_eur);
}

#[test]
fn a_missing_rate_stops_the_valuation_naming_the_currency() {
    let (_dir, store) = fresh_store();
    let now = at("2026-01-02T12:00:00Z");
    trader::demo::fill(&store, 7, now, &|_| {}).unwrap();
    store.conn(DbName::History).execute("DELETE FROM exchange_rates WHERE to_currency = 'USD'", []).unwrap();
    match runs::value_portfolio(&store, now) {
        Err(EngineError::Valuation(ValuationError::FxRateMissing(c))) => assert_eq!(c, "USD"),
        other => panic!("expected FxRateMissing(USD), got {other:?}"),
    }
    // Stale rates do not count either: five days later every stored rate is older than 96 hours.
    let later = at("2026-01-07T13:00:00Z");
    let (_dir2, store2) = fresh_store();
    trader::demo::fill(&store2, 7, now, &|_| {}).unwrap();
    assert!(matches!(
        runs::value_portfolio(&store2, later),
        Err(EngineError::Valuation(ValuationError::FxRateMissing(_)))
    ));
}

#[test]
fn a_missing_rate_puts_its_error_on_the_display_instead_of_a_wrong_total() {
    let (_dir, store) = fresh_store();
    let now = at("2026-01-02T12:00:00Z");
    trader::demo::fill(&store, 7, now, &|_| {}).unwrap();
    store.conn(DbName::History).execute("DELETE FROM exchange_rates WHERE to_currency = 'USD'", []).unwrap();
    let inputs = trader::display::inputs_from_store(&store, Default::default(), now).unwrap();
    assert_eq!(inputs.errors, ["FX USD MISSING"]);
    let state = trader::display::compose(&inputs);
    assert_eq!(state.scene, proto::Scene::Error { text: proto::text("FX USD MISSING") });
    assert_eq!(state.led3.colour, proto::Rgb { r: 255, g: 0, b: 0 });
}

#[test]
fn a_negative_group_weight_is_refused_naming_the_group() {
    let (_dir, store) = fresh_store();
    let err = store
        .allocations()
        .upsert(trader::store::config::TargetType::CountryGroup, "EU", -1.0, at("2026-01-02T12:00:00Z"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("EU"), "{err}");
}
