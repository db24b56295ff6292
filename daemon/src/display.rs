//! What the matrix and the RGB LEDs show (portfolio.md §12): the daemon decides the content, the link carries
//! it, the MCU animates it. Composition is a pure function of [`DisplayInputs`], so every rule is unit-tested.

use rust_decimal::prelude::*;

use proto::{DisplayState, Indicator, Pattern, Rgb, Scene, text};

use crate::store::values::Side;
use crate::store::{DbName, Result, Store};

/// The ticker settings of portfolio.md §12.2, with their defaults.
#[derive(Debug, Clone)]
pub struct TickerSettings {
    pub show_value: bool,
    pub show_cash: bool,
    pub show_actions: bool,
    pub show_amounts: bool,
    pub max_actions: usize,
    /// Milliseconds per scrolled column (`ticker_speed_ms`).
    pub speed_ms: u16,
}

impl Default for TickerSettings {
    fn default() -> Self {
        TickerSettings {
            show_value: true,
            show_cash: true,
            show_actions: true,
            show_amounts: true,
            max_actions: 3,
            speed_ms: 50,
        }
    }
}

/// A pending recommendation as the display needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAction {
    pub side: Side,
    pub symbol: String,
    pub value_eur: Decimal,
}

/// Everything the display is composed from.
#[derive(Debug, Clone, Default)]
pub struct DisplayInputs {
    /// The error pool, most severe first (`FX USD MISSING`, `SYNC FAILED`, …).
    pub errors: Vec<String>,
    /// What the daemon is doing now (`SYNCING`, `BUY AAPL EUR500`, …).
    pub activity: Option<String>,
    pub total_value_eur: Decimal,
    pub total_cash_eur: Decimal,
    /// Every pending action the executor would pick up now, in execution order.
    pub actions: Vec<PendingAction>,
    pub sync_in_progress: bool,
    /// At least one sync has succeeded since the start.
    pub synced_once: bool,
    pub ticker: TickerSettings,
    /// The allocation view's pages (country groups, then industry groups); shown instead of the ticker when
    /// `display.mode = "allocation"` selects it and there is something to show.
    pub allocation_pages: Vec<Vec<proto::Bar>>,
    /// Which page is due now (the composer turns them every 10 s).
    pub page: usize,
    pub mode: DisplayMode,
}

/// What the matrix shows when nothing more urgent does (`display.mode`, portfolio.md §12.4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisplayMode {
    #[default]
    Ticker,
    Allocation,
}

/// One page of the allocation view: at most six groups (two columns each), bar heights
/// `round(8 × share / max share on the page)`, the target as a marker on the same scale.
pub fn allocation_page(rows: &[crate::engine::allocation::GroupAllocation]) -> Vec<proto::Bar> {
    use crate::engine::allocation::Status;
    let rows = &rows[..rows.len().min(proto::BARS_MAX)];
    let max = rows.iter().map(|r| r.share.max(r.target)).fold(0.0, f64::max);
    let height = |x: f64| if max > 0.0 { (8.0 * x / max).round().clamp(0.0, 8.0) as u8 } else { 0 };
    rows.iter()
        .map(|r| proto::Bar {
            current: height(r.share),
            target: height(r.target),
            status: match r.status {
                Status::Underweight => proto::Balance::Under,
                Status::Balanced => proto::Balance::Balanced,
                Status::Overweight => proto::Balance::Over,
            },
        })
        .collect()
}

/// LED blink half-period: "toggles every 1000 ms" (portfolio.md §12.3).
const BLINK_MS: u16 = 1000;
const RED: Rgb = Rgb { r: 255, g: 0, b: 0 };
const BLUE: Rgb = Rgb { r: 0, g: 0, b: 255 };
const YELLOW: Rgb = Rgb { r: 255, g: 255, b: 0 };
const GREEN: Rgb = Rgb { r: 0, g: 255, b: 0 };
const BUY_COLOUR: Rgb = Rgb { r: 0, g: 100, b: 255 };
const SELL_COLOUR: Rgb = Rgb { r: 255, g: 165, b: 0 };

/// The whole display state: matrix scene by pool priority (error > activity > next actions), LED3 for the
/// service, LED4 for pending actions.
pub fn compose(inputs: &DisplayInputs) -> DisplayState {
    let scene = if !inputs.errors.is_empty() {
        Scene::Error { text: text(&inputs.errors.join(" * ").to_uppercase()) }
    } else if let Some(activity) = &inputs.activity {
        Scene::Ticker { text: text(&activity.to_uppercase()), step_ms: inputs.ticker.speed_ms }
    } else if inputs.mode == DisplayMode::Allocation && !inputs.allocation_pages.is_empty() {
        let page = &inputs.allocation_pages[inputs.page % inputs.allocation_pages.len()];
        Scene::Bars(proto::heapless::Vec::from_slice(page).unwrap_or_default())
    } else {
        Scene::Ticker { text: text(&ticker_text(inputs)), step_ms: inputs.ticker.speed_ms }
    };
    let blink =
        |colour, anti_phase| Indicator { colour, pattern: Pattern::Blink { half_period_ms: BLINK_MS, anti_phase } };
    let led3 = if !inputs.errors.is_empty() {
        Indicator { colour: RED, pattern: Pattern::Solid }
    } else if inputs.sync_in_progress {
        Indicator { colour: BLUE, pattern: Pattern::Solid }
    } else if !inputs.synced_once {
        blink(YELLOW, false)
    } else {
        blink(GREEN, false)
    };
    let buys = inputs.actions.iter().any(|a| a.side == Side::Buy);
    let sells = inputs.actions.iter().any(|a| a.side == Side::Sell);
    let led4 = match (buys, sells) {
        (true, true) => Indicator {
            colour: BUY_COLOUR,
            pattern: Pattern::Alternate { other: SELL_COLOUR, half_period_ms: BLINK_MS },
        },
        (true, false) => blink(BUY_COLOUR, true),
        (false, true) => blink(SELL_COLOUR, true),
        (false, false) => Indicator::default(),
    };
    DisplayState { scene, led3, led4, brightness: 255 }
}

/// The ticker of portfolio.md §12.2: value, cash and the next actions joined with ` * `; `READY` or
/// `SYSTEM ONLINE` when no part is produced.
pub fn ticker_text(inputs: &DisplayInputs) -> String {
    let settings = &inputs.ticker;
    let mut parts = Vec::new();
    if settings.show_value && !inputs.total_value_eur.is_zero() {
        parts.push(format!("PORTFOLIO {}", eur(inputs.total_value_eur)));
    }
    if settings.show_cash {
        parts.push(format!("CASH {}", eur(inputs.total_cash_eur)));
    }
    if settings.show_actions {
        for action in inputs.actions.iter().take(settings.max_actions) {
            let mut part = format!("{} {}", action.side.as_str(), short_symbol(&action.symbol));
            if settings.show_amounts {
                part = format!("{part} {}", eur(action.value_eur));
            }
            parts.push(part);
        }
    }
    if parts.is_empty() {
        return if inputs.total_value_eur > Decimal::ZERO { "READY" } else { "SYSTEM ONLINE" }.to_owned();
    }
    parts.join(" * ").to_uppercase()
}

/// An amount in whole euros, rounded half away from zero, thousands separated by `,`: `EUR12,345`,
/// `-EUR1,234`.
pub fn eur(amount: Decimal) -> String {
    let rounded = amount.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    let digits = rounded.abs().trunc().to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() { "-" } else { "" };
    format!("{sign}EUR{grouped}")
}

/// The symbol up to its first `.`: `XIAO.1810.AS` → `XIAO`, `AAPL.US` → `AAPL`.
pub fn short_symbol(symbol: &str) -> &str {
    symbol.split('.').next().unwrap_or(symbol)
}

/// Inputs from the databases: the portfolio valued now at the stored prices and rates, and the pending
/// recommendations. A value that cannot be known (a missing FX rate or price) is not shown: its error is.
pub fn inputs_from_store(store: &Store, ticker: TickerSettings, now: crate::store::Instant) -> Result<DisplayInputs> {
    let latest = crate::store::portfolio::PortfolioRepository::new(store.conn(DbName::Portfolio)).latest()?;
    let pending = crate::store::cache::RecommendationRepository::new(store.conn(DbName::Cache)).pending(1000)?;
    let money = |v: f64| Decimal::from_f64(v).unwrap_or_default();
    let mut errors = Vec::new();
    let (total_value_eur, total_cash_eur, allocation_pages) = match crate::engine::status::Portfolio::load(store, now) {
        Ok(p) => {
            let allocation = p.allocation();
            let pages = [&allocation.countries, &allocation.industries]
                .into_iter()
                .filter(|rows| !rows.is_empty())
                .map(|rows| allocation_page(rows))
                .collect();
            (p.valuation.total_eur, p.valuation.cash_eur, pages)
        }
        Err(crate::engine::runs::EngineError::Valuation(e)) => {
            errors.push(e.display_text());
            (Decimal::ZERO, Decimal::ZERO, Vec::new())
        }
        Err(crate::engine::runs::EngineError::Store(e)) => return Err(e),
    };
    Ok(DisplayInputs {
        errors,
        total_value_eur,
        total_cash_eur,
        actions: pending
            .into_iter()
            .map(|r| PendingAction {
                side: r.side,
                symbol: r.symbol,
                value_eur: money(r.estimated_value.unwrap_or(0.0)),
            })
            .collect(),
        synced_once: latest.is_some(),
        allocation_pages,
        ticker,
        ..DisplayInputs::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn action(side: Side, symbol: &str, value: &str) -> PendingAction {
        PendingAction { side, symbol: symbol.into(), value_eur: d(value) }
    }

    #[test]
    fn amounts_round_half_away_from_zero_with_thousands_separators() {
        assert_eq!(eur(d("12344.5")), "EUR12,345");
        assert_eq!(eur(d("675.49")), "EUR675");
        assert_eq!(eur(d("-1233.5")), "-EUR1,234");
        assert_eq!(eur(d("1234567")), "EUR1,234,567");
        assert_eq!(eur(d("0")), "EUR0");
        assert_eq!(eur(d("-0.4")), "EUR0");
        assert_eq!(eur(d("999.5")), "EUR1,000");
    }

    /// portfolio.md §13.9, the amounts row, literally.
    #[test]
    fn the_reference_amounts_of_portfolio_md() {
        let cases = [
            ("12345.49", "EUR12,345"),
            ("674.5", "EUR675"),
            ("855.2", "EUR855"),
            ("1234567", "EUR1,234,567"),
            ("-500", "-EUR500"),
            ("0", "EUR0"),
            ("123.5", "EUR124"),
            ("-123.5", "-EUR124"),
            ("999.5", "EUR1,000"),
        ];
        for (amount, text) in cases {
            assert_eq!(eur(d(amount)), text, "{amount}");
        }
        let inputs = DisplayInputs {
            total_value_eur: d("12345.49"),
            total_cash_eur: d("674.50"),
            actions: vec![action(Side::Buy, "XIAO.1810.AS", "855.20")],
            ..DisplayInputs::default()
        };
        assert_eq!(ticker_text(&inputs), "PORTFOLIO EUR12,345 * CASH EUR675 * BUY XIAO EUR855");
    }

    #[test]
    fn the_ticker_reads_like_the_example_of_portfolio_md() {
        let inputs = DisplayInputs {
            total_value_eur: d("12345.2"),
            total_cash_eur: d("675"),
            actions: vec![action(Side::Buy, "XIAO.1810.AS", "855")],
            ..DisplayInputs::default()
        };
        assert_eq!(ticker_text(&inputs), "PORTFOLIO EUR12,345 * CASH EUR675 * BUY XIAO EUR855");
    }

    #[test]
    fn the_ticker_shows_at_most_three_actions_and_hides_amounts_when_asked() {
        let mut inputs = DisplayInputs {
            total_cash_eur: d("-5"),
            actions: ["A.US", "B.US", "C.US", "D.US"].iter().map(|s| action(Side::Sell, s, "10")).collect(),
            ..DisplayInputs::default()
        };
        inputs.ticker.show_amounts = false;
        assert_eq!(ticker_text(&inputs), "CASH -EUR5 * SELL A * SELL B * SELL C");
    }

    #[test]
    fn without_parts_the_ticker_says_ready_or_system_online() {
        let mut inputs = DisplayInputs::default();
        inputs.ticker.show_cash = false;
        assert_eq!(ticker_text(&inputs), "SYSTEM ONLINE");
        inputs.total_value_eur = d("1");
        inputs.ticker.show_value = false;
        assert_eq!(ticker_text(&inputs), "READY");
    }

    #[test]
    fn errors_take_the_matrix_and_turn_led3_red() {
        let inputs = DisplayInputs {
            errors: vec!["FX USD MISSING".into(), "sync failed".into()],
            activity: Some("SYNCING".into()),
            sync_in_progress: true,
            ..DisplayInputs::default()
        };
        let state = compose(&inputs);
        assert_eq!(state.scene, Scene::Error { text: text("FX USD MISSING * SYNC FAILED") });
        assert_eq!(state.led3, Indicator { colour: RED, pattern: Pattern::Solid });
    }

    #[test]
    fn activity_comes_before_the_ticker_and_sync_shows_blue() {
        let inputs =
            DisplayInputs { activity: Some("SYNCING".into()), sync_in_progress: true, ..DisplayInputs::default() };
        let state = compose(&inputs);
        assert_eq!(state.scene, Scene::Ticker { text: text("SYNCING"), step_ms: 50 });
        assert_eq!(state.led3.colour, BLUE);
    }

    #[test]
    fn led3_blinks_yellow_until_the_first_sync_then_green() {
        let mut inputs = DisplayInputs::default();
        assert_eq!(compose(&inputs).led3.colour, YELLOW);
        inputs.synced_once = true;
        let led3 = compose(&inputs).led3;
        assert_eq!(
            led3,
            Indicator { colour: GREEN, pattern: Pattern::Blink { half_period_ms: 1000, anti_phase: false } }
        );
    }

    #[test]
    fn the_allocation_view_scales_bars_to_the_largest_share_on_the_page() {
        use crate::engine::allocation::allocate;
        use crate::store::config::normalise_weights;
        let weights = [("EU".to_owned(), 3.0), ("US".to_owned(), 2.0), ("ASIA".to_owned(), 1.0)].into();
        let values = [("EU".to_owned(), 4000.0), ("US".to_owned(), 4500.0), ("ASIA".to_owned(), 1500.0)].into();
        let rows = allocate(&values, &normalise_weights(weights), 10_000.0);
        let page = allocation_page(&rows);
        // Max share on the page 0.5 (EU's target): EU 0.40 → 6, US 0.45 → 7, ASIA 0.15 → 2; targets 8, 5, 3.
        let heights: Vec<(u8, u8)> = page.iter().map(|b| (b.current, b.target)).collect();
        assert_eq!(heights, [(6, 8), (7, 5), (2, 3)]);
        assert_eq!(page[0].status, proto::Balance::Under);
        assert_eq!(page[1].status, proto::Balance::Over);
        let inputs = DisplayInputs {
            mode: DisplayMode::Allocation,
            allocation_pages: vec![page.clone(), page[..1].to_vec()],
            page: 3,
            ..DisplayInputs::default()
        };
        assert_eq!(compose(&inputs).scene, Scene::Bars(proto::heapless::Vec::from_slice(&page[..1]).unwrap()));
        let urgent = DisplayInputs { errors: vec!["SYNC FAILED".into()], ..inputs };
        assert!(matches!(compose(&urgent).scene, Scene::Error { .. }), "errors come first");
    }

    #[test]
    fn led4_shows_pending_buys_and_sells_as_portfolio_md_says() {
        let led4 = |actions| compose(&DisplayInputs { actions, ..DisplayInputs::default() }).led4;
        assert_eq!(led4(vec![]), Indicator::default());
        let buy = action(Side::Buy, "AAPL.US", "500");
        let sell = action(Side::Sell, "SAP.DE", "1200");
        assert_eq!(led4(vec![buy.clone()]).pattern, Pattern::Blink { half_period_ms: 1000, anti_phase: true });
        assert_eq!(led4(vec![sell.clone()]).colour, SELL_COLOUR);
        assert_eq!(
            led4(vec![buy, sell]),
            Indicator { colour: BUY_COLOUR, pattern: Pattern::Alternate { other: SELL_COLOUR, half_period_ms: 1000 } }
        );
    }
}
