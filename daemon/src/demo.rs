//! A realistic demo portfolio for the main job and for tests: 25 securities in seven countries and five
//! currencies, three years of daily prices and FX rates, monthly deposits, buys and sells with commissions,
//! quarterly dividends with withholding tax, daily snapshots, groups and targets.
//!
//! Everything is derived from one seed, so the same seed and end date always give the same databases.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::store::agents::AgentConfig;
use crate::store::config::TargetType;
use crate::store::history::DailyBar;
use crate::store::ledger::{CashFlow, Dividend, FlowType, Mode, Trade, value_eur};
use crate::store::portfolio::{Position, Snapshot};
use crate::store::satellites::{Bucket, BucketTransaction, CORE, SatelliteSettings, TxType};
use crate::store::universe::{ProductType, Security, SecurityPatch};
use crate::store::values::cents;
use crate::store::{Instant, Result, Side, Store, write_tx};

/// One security of the demo universe: symbol, name, kind, country, industry, currency, first price, yearly
/// drift and volatility, dividend yield.
struct DemoSecurity {
    symbol: &'static str,
    name: &'static str,
    kind: ProductType,
    country: &'static str,
    industry: &'static str,
    exchange: &'static str,
    currency: &'static str,
    start_price: f64,
    drift: f64,
    volatility: f64,
    dividend_yield: f64,
}

#[allow(clippy::too_many_arguments)]
const fn sec(
    symbol: &'static str,
    name: &'static str,
    kind: ProductType,
    country: &'static str,
    industry: &'static str,
    exchange: &'static str,
    currency: &'static str,
    start_price: f64,
    drift: f64,
    volatility: f64,
    dividend_yield: f64,
) -> DemoSecurity {
    DemoSecurity {
        symbol,
        name,
        kind,
        country,
        industry,
        exchange,
        currency,
        start_price,
        drift,
        volatility,
        dividend_yield,
    }
}

use ProductType::{Equity, Etf};

#[rustfmt::skip]
const UNIVERSE: [DemoSecurity; 25] = [
    sec("AAPL.US", "Apple Inc.", Equity, "United States", "Technology", "NasdaqGS", "USD", 150.0, 0.12, 0.26, 0.005),
    sec("MSFT.US", "Microsoft Corporation", Equity, "United States", "Technology", "NasdaqGS", "USD", 280.0, 0.13, 0.25, 0.008),
    sec("NVDA.US", "NVIDIA Corporation", Equity, "United States", "Technology", "NasdaqGS", "USD", 45.0, 0.35, 0.50, 0.0005),
    sec("JNJ.US", "Johnson & Johnson", Equity, "United States", "Healthcare", "NYSE", "USD", 160.0, 0.03, 0.16, 0.03),
    sec("PG.US", "Procter & Gamble Company", Equity, "United States", "Consumer Defensive", "NYSE", "USD", 145.0, 0.05, 0.17, 0.025),
    sec("KO.US", "Coca-Cola Company", Equity, "United States", "Consumer Defensive", "NYSE", "USD", 60.0, 0.04, 0.15, 0.03),
    sec("JPM.US", "JPMorgan Chase & Co.", Equity, "United States", "Financial Services", "NYSE", "USD", 140.0, 0.10, 0.24, 0.025),
    sec("XOM.US", "Exxon Mobil Corporation", Equity, "United States", "Energy", "NYSE", "USD", 100.0, 0.04, 0.28, 0.035),
    sec("SAP.EU", "SAP SE", Equity, "Germany", "Technology", "XETRA", "EUR", 120.0, 0.15, 0.25, 0.012),
    sec("SIE.EU", "Siemens AG", Equity, "Germany", "Industrials", "XETRA", "EUR", 140.0, 0.09, 0.24, 0.028),
    sec("ALV.EU", "Allianz SE", Equity, "Germany", "Financial Services", "XETRA", "EUR", 210.0, 0.09, 0.20, 0.05),
    sec("ASML.EU", "ASML Holding N.V.", Equity, "Netherlands", "Technology", "Euronext Amsterdam", "EUR", 600.0, 0.10, 0.35, 0.01),
    sec("AIR.EU", "Airbus SE", Equity, "France", "Industrials", "Euronext Paris", "EUR", 120.0, 0.10, 0.27, 0.014),
    sec("MC.EU", "LVMH Moët Hennessy Louis Vuitton", Equity, "France", "Consumer Cyclical", "Euronext Paris", "EUR", 700.0, 0.02, 0.28, 0.018),
    sec("SAN.EU", "Banco Santander S.A.", Equity, "Spain", "Financial Services", "BME", "EUR", 3.5, 0.12, 0.30, 0.04),
    sec("OPAP.GR", "OPAP S.A.", Equity, "Greece", "Consumer Cyclical", "Athens", "EUR", 13.0, 0.08, 0.22, 0.07),
    sec("MYTIL.GR", "Metlen Energy & Metals S.A.", Equity, "Greece", "Industrials", "Athens", "EUR", 25.0, 0.14, 0.30, 0.04),
    sec("PPC.GR", "Public Power Corporation S.A.", Equity, "Greece", "Utilities", "Athens", "EUR", 8.0, 0.15, 0.35, 0.03),
    sec("NOVO-B.CO", "Novo Nordisk A/S", Equity, "Denmark", "Healthcare", "Copenhagen", "DKK", 900.0, 0.05, 0.35, 0.015),
    sec("ULVR.UK", "Unilever PLC", Equity, "United Kingdom", "Consumer Defensive", "LSE", "GBP", 40.0, 0.05, 0.17, 0.035),
    sec("SHEL.UK", "Shell plc", Equity, "United Kingdom", "Energy", "LSE", "GBP", 22.0, 0.06, 0.25, 0.04),
    sec("XIAO.1810.AS", "Xiaomi Corporation", Equity, "China", "Technology", "HKSE", "HKD", 12.0, 0.20, 0.45, 0.0),
    sec("BYD.285.AS", "BYD Electronic (International) Co.", Equity, "China", "Technology", "HKSE", "HKD", 25.0, 0.12, 0.45, 0.02),
    sec("SXR8.EU", "iShares Core S&P 500 UCITS ETF", Etf, "Ireland", "Diversified", "XETRA", "EUR", 400.0, 0.10, 0.17, 0.0),
    sec("VWCE.EU", "Vanguard FTSE All-World UCITS ETF", Etf, "Ireland", "Diversified", "XETRA", "EUR", 95.0, 0.09, 0.16, 0.0),
];

/// Removed ten days before the end: its data waits for GC.
const REMOVED: DemoSecurity = sec(
    "INTC.US",
    "Intel Corporation",
    Equity,
    "United States",
    "Technology",
    "NasdaqGS",
    "USD",
    35.0,
    -0.05,
    0.35,
    0.01,
);

/// Units of each currency per 1 EUR at the start, and how much the rate wanders each day.
const CURRENCIES: [(&str, f64, f64); 4] =
    [("USD", 1.08, 0.004), ("DKK", 7.46, 0.0002), ("GBP", 0.86, 0.003), ("HKD", 8.45, 0.004)];

/// How much a demo run made.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DemoSummary {
    pub securities: usize,
    pub daily_prices: usize,
    pub exchange_rates: usize,
    pub trades: usize,
    pub cash_flows: usize,
    pub dividends: usize,
    pub snapshots: usize,
    pub positions: usize,
    pub cash_eur: Decimal,
}

fn dec(value: f64, dp: u32) -> Decimal {
    Decimal::from_f64(value).unwrap_or_default().round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

/// One standard-normal draw (Box–Muller).
fn normal(rng: &mut SmallRng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn is_trading_day(day: NaiveDate) -> bool {
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// A holding while the simulation runs.
#[derive(Default, Clone)]
struct Holding {
    quantity: Decimal,
    cost: Decimal,
    first_bought: Option<Instant>,
    last_sold: Option<Instant>,
}

/// Fills an empty, initialised store. `progress` is called once per simulated month.
pub fn fill(store: &Store, seed: u64, end: Instant, progress: &dyn Fn(&str)) -> Result<DemoSummary> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let end_day = end.date_naive();
    let start_day = end_day - Duration::days(3 * 365);
    let days: Vec<NaiveDate> =
        start_day.iter_days().take_while(|d| *d <= end_day).filter(|d| is_trading_day(*d)).collect();
    let at = |day: NaiveDate, hour: u32| day.and_hms_opt(hour, 0, 0).expect("valid hour").and_utc().min(end);
    let mut summary = DemoSummary::default();

    // Prices and FX as paths over the trading days.
    progress("prices");
    let mut prices: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for s in UNIVERSE.iter().chain(std::iter::once(&REMOVED)) {
        let mut price = s.start_price;
        let daily_drift = s.drift / 252.0;
        let daily_vol = s.volatility / 252f64.sqrt();
        let path = days
            .iter()
            .map(|_| {
                price *= (daily_drift - daily_vol * daily_vol / 2.0 + daily_vol * normal(&mut rng)).exp();
                price = price.max(0.01);
                price
            })
            .collect();
        prices.insert(s.symbol, path);
    }
    let mut fx: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (currency, start, vol) in CURRENCIES {
        let mut rate = start;
        fx.insert(
            currency,
            days.iter()
                .map(|_| {
                    rate *= 1.0 + vol * normal(&mut rng);
                    rate
                })
                .collect(),
        );
    }
    let rate_on = |currency: &str, i: usize| -> Decimal {
        if currency == "EUR" { Decimal::ONE } else { dec(fx[currency][i], 4) }
    };

    // The universe, its groups and targets.
    let securities = store.securities();
    for s in &UNIVERSE {
        add_security(store, s, at(start_day, 8))?;
    }
    add_security(store, &REMOVED, at(start_day, 8))?;
    securities.mark_removed(REMOVED.symbol, end - Duration::days(10))?;
    summary.securities = UNIVERSE.len() + 1;
    let groups = store.groupings();
    let owned = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    for (group, members, target) in [
        ("EU", &["Germany", "France", "Netherlands", "Spain", "Greece", "Denmark", "Ireland"][..], 0.45),
        ("US", &["United States"][..], 0.35),
        ("UK", &["United Kingdom"][..], 0.10),
        ("ASIA", &["China"][..], 0.10),
    ] {
        groups.set_country_group(group, &owned(members), end)?;
        store.allocations().upsert(TargetType::CountryGroup, group, target, end)?;
    }
    for (group, members, target) in [
        ("Technology", &["Technology"][..], 0.30),
        ("Financials", &["Financial Services"][..], 0.15),
        ("Industrials", &["Industrials", "Utilities"][..], 0.15),
        ("Consumer", &["Consumer Defensive", "Consumer Cyclical"][..], 0.15),
        ("Health", &["Healthcare"][..], 0.10),
        ("Energy", &["Energy"][..], 0.05),
        ("Broad market", &["Diversified"][..], 0.10),
    ] {
        groups.set_industry_group(group, &owned(members), end)?;
        store.allocations().upsert(TargetType::IndustryGroup, group, target, end)?;
    }
    let settings = store.settings();
    settings.set("trading_mode", "research", Some("demo data: never place real orders"), end)?;
    settings.set("timezone", "Europe/Athens", None, end)?;

    // History: daily bars, monthly aggregates, FX rates.
    let history = store.prices();
    for (symbol, path) in &prices {
        let bars: Vec<DailyBar> = days
            .iter()
            .zip(path)
            .map(|(day, close)| {
                let spread = close * 0.01;
                DailyBar {
                    date: *day,
                    open: Some(close - spread * 0.3),
                    high: Some(close + spread),
                    low: Some(close - spread),
                    close: *close,
                    adjusted_close: Some(*close),
                    volume: Some(rng.random_range(100_000..5_000_000)),
                    source: "demo".into(),
                }
            })
            .collect();
        summary.daily_prices += history.upsert_daily(symbol, &bars)?;
        history.rebuild_monthly(symbol)?;
    }
    write_tx(store.conn(crate::store::DbName::History), "writing demo FX rates", |conn| {
        let rates = crate::store::history::ExchangeRateRepository::new(conn);
        for (currency, path) in &fx {
            for (day, rate) in days.iter().zip(path) {
                rates.upsert("EUR", currency, *day, *rate, "demo")?;
            }
        }
        Ok(())
    })?;
    summary.exchange_rates = fx.len() * days.len();

    // The ledger: a day-by-day simulation of deposits, trades, dividends and snapshots.
    let mut cash = Decimal::ZERO;
    let mut holdings: BTreeMap<&str, Holding> = BTreeMap::new();
    let mut order_no = 10_000u64;
    let mut flows: Vec<CashFlow> = Vec::new();
    let mut snapshots: Vec<Snapshot> = Vec::new();
    let deposit = |flows: &mut Vec<CashFlow>, day: NaiveDate, amount: Decimal, id: String| {
        flows.push(CashFlow {
            transaction_id: id,
            type_doc_id: "337".into(),
            transaction_type: Some("deposit".into()),
            flow_type: FlowType::Deposit,
            date: day,
            amount,
            currency: "EUR".into(),
            amount_eur: amount,
            currency_rate: Some(Decimal::ONE),
            symbol: None,
            status: Some("completed".into()),
            status_c: Some(3),
            description: Some("Bank transfer".into()),
            params_json: None,
            created_at: at(day, 9),
        });
    };
    let mut last_month = None;
    for (i, day) in days.iter().enumerate() {
        let month = (day.year(), day.month());
        let new_month = last_month != Some(month);
        if new_month {
            last_month = Some(month);
            progress(&format!("{}-{:02}", month.0, month.1));
            let amount = if i == 0 { Decimal::new(20_000, 0) } else { Decimal::new(1_000, 0) };
            deposit(&mut flows, *day, amount, format!("demo-deposit-{}", day.format("%Y%m%d")));
            cash += amount;
        }
        // Buys: the whole initial portfolio on day one, then one or two purchases each month.
        let buys: Vec<usize> = if i == 0 {
            (0..UNIVERSE.len()).filter(|k| k % 5 != 4).collect()
        } else if new_month {
            (0..rng.random_range(1..=2)).map(|_| rng.random_range(0..UNIVERSE.len())).collect()
        } else {
            Vec::new()
        };
        for k in buys {
            let s = &UNIVERSE[k];
            let budget = if i == 0 { Decimal::new(1_000, 0) } else { Decimal::new(450, 0) };
            order_no += 1;
            if let Some((trade, cost_eur)) = make_trade(
                s,
                Side::Buy,
                budget,
                prices[s.symbol][i],
                rate_on(s.currency, i),
                at(*day, 15),
                order_no,
                None,
            ) && cost_eur <= cash
            {
                cash -= cost_eur;
                flows.push(fee_flow(&trade, *day, rate_on(s.currency, i)));
                let h = holdings.entry(s.symbol).or_default();
                h.quantity += trade.quantity;
                h.cost += trade.quantity * trade.price;
                h.first_bought.get_or_insert(trade.executed_at);
                store.trades().insert(&trade)?;
                summary.trades += 1;
            }
        }
        // A partial sale every fourth month, of the holding that gained most.
        if new_month && i > 0 && day.month() % 4 == 0 {
            let best = holdings
                .iter()
                .filter(|(_, h)| h.quantity >= Decimal::TWO)
                .max_by(|a, b| {
                    let gain =
                        |(sym, h): &(&&str, &Holding)| prices[**sym][i] / (h.cost / h.quantity).to_f64().unwrap_or(1.0);
                    gain(a).total_cmp(&gain(b))
                })
                .map(|(sym, h)| (*sym, h.quantity));
            if let Some((symbol, quantity)) = best {
                let s = UNIVERSE.iter().find(|s| s.symbol == symbol).expect("a demo security");
                let sell_quantity = (quantity / Decimal::TWO).floor();
                order_no += 1;
                if let Some((trade, proceeds_eur)) = make_trade(
                    s,
                    Side::Sell,
                    Decimal::ZERO,
                    prices[symbol][i],
                    rate_on(s.currency, i),
                    at(*day, 16),
                    order_no,
                    Some(sell_quantity),
                ) {
                    cash += proceeds_eur;
                    flows.push(fee_flow(&trade, *day, rate_on(s.currency, i)));
                    let h = holdings.get_mut(symbol).expect("held");
                    let average = h.cost / h.quantity;
                    h.quantity -= trade.quantity;
                    h.cost = average * h.quantity;
                    h.last_sold = Some(trade.executed_at);
                    store.trades().insert(&trade)?;
                    summary.trades += 1;
                }
            }
        }
        // Quarterly dividends on the third Friday of March, June, September and December.
        if day.month() % 3 == 0 && day.weekday() == Weekday::Fri && (15..=21).contains(&day.day()) {
            for s in UNIVERSE.iter().filter(|s| s.dividend_yield > 0.0) {
                let Some(h) = holdings.get(s.symbol).filter(|h| !h.quantity.is_zero()) else {
                    continue;
                };
                let per_share = dec(prices[s.symbol][i] * s.dividend_yield / 4.0, 4);
                let gross = cents(h.quantity * per_share);
                if gross.is_zero() {
                    continue;
                }
                let rate = rate_on(s.currency, i);
                let id = format!("demo-div-{}-{}", s.symbol, day.format("%Y%m%d"));
                let flow = dividend_flow(s, *day, gross, rate, &id, at(*day, 12));
                let tax = if s.currency == "USD" { cents(gross * Decimal::new(15, 2)) } else { Decimal::ZERO };
                let flow_id = store.cash_flows().insert(&flow)?.id();
                let mut dividend = Dividend::paid(
                    s.symbol,
                    Some(flow_id),
                    gross,
                    s.currency,
                    flow.amount_eur,
                    Some(rate),
                    *day,
                    at(*day, 12),
                );
                if flow.amount_eur < Decimal::new(10, 0) {
                    dividend.pending_bonus = flow.amount_eur;
                }
                store.dividends().insert(&dividend)?;
                summary.dividends += 1;
                summary.cash_flows += 1;
                cash += flow.amount_eur;
                if !tax.is_zero() {
                    let mut withholding = dividend_flow(s, *day, -tax, rate, &format!("{id}_tax"), at(*day, 12));
                    withholding.flow_type = FlowType::Tax;
                    withholding.type_doc_id = "tax".into();
                    withholding.transaction_type = Some("withholding_tax".into());
                    cash += withholding.amount_eur;
                    flows.push(withholding);
                }
            }
        }
        // The day's snapshot, at the day's closes and rates.
        let (mut invested, mut cost_eur) = (0.0, 0.0);
        for (symbol, h) in &holdings {
            let s = UNIVERSE.iter().find(|s| s.symbol == *symbol).expect("a demo security");
            let rate = rate_on(s.currency, i).to_f64().unwrap_or(1.0);
            invested += h.quantity.to_f64().unwrap_or(0.0) * prices[symbol][i] / rate;
            cost_eur += h.cost.to_f64().unwrap_or(0.0) / rate;
        }
        let cash_f = cash.to_f64().unwrap_or(0.0);
        snapshots.push(Snapshot {
            date: *day,
            total_value: invested + cash_f,
            cash_balance: cash_f,
            invested_value: Some(invested),
            unrealized_pnl: Some(invested - cost_eur),
            geo_eu_pct: None,
            geo_asia_pct: None,
            geo_us_pct: None,
            position_count: Some(holdings.values().filter(|h| !h.quantity.is_zero()).count() as i64),
            annual_turnover: None,
            created_at: at(*day, 23),
        });
    }
    summary.cash_flows += store.cash_flows().insert_batch(&flows)?;

    // Snapshots, then turnover for the newest.
    write_tx(store.conn(crate::store::DbName::Portfolio), "writing demo snapshots", |conn| {
        let repo = crate::store::portfolio::PortfolioRepository::new(conn);
        snapshots.iter().try_for_each(|s| repo.upsert(s))
    })?;
    summary.snapshots = snapshots.len();
    if let Some(turnover) = store.turnover().annual_turnover(end_day)? {
        store.snapshots().set_annual_turnover(*days.last().expect("days"), turnover)?;
    }

    // Positions and cash as the broker would report them at the end.
    let last = days.len() - 1;
    let mut positions = Vec::new();
    for (symbol, h) in holdings.iter().filter(|(_, h)| !h.quantity.is_zero()) {
        let s = UNIVERSE.iter().find(|s| s.symbol == *symbol).expect("a demo security");
        let quantity = h.quantity.to_f64().unwrap_or(0.0);
        let avg_price = (h.cost / h.quantity).round_dp(4).to_f64().unwrap_or(0.0);
        let price = prices[symbol][last];
        let rate = rate_on(s.currency, last).to_f64().unwrap_or(1.0);
        positions.push(Position {
            symbol: symbol.to_string(),
            isin: None,
            quantity,
            avg_price,
            current_price: Some(price),
            currency: s.currency.to_owned(),
            currency_rate: rate,
            market_value_eur: Some(quantity * price / rate),
            cost_basis_eur: Some(quantity * avg_price / rate),
            unrealized_pnl: Some((price - avg_price) * quantity / rate),
            unrealized_pnl_pct: (avg_price > 0.0).then(|| (price - avg_price) / avg_price),
            last_updated: Some(end),
            first_bought_at: h.first_bought,
            last_sold_at: h.last_sold,
            bucket_id: CORE.into(),
        });
    }
    store.positions().replace_all(&positions)?;
    summary.positions = positions.len();
    store.balances().adjust(&BucketTransaction {
        bucket_id: CORE.into(),
        tx_type: TxType::Deposit,
        amount: cash.max(Decimal::ZERO),
        currency: "EUR".into(),
        description: Some("cash at the broker (demo)".into()),
        created_at: end,
    })?;
    summary.cash_eur = cash;

    // A satellite under research, and the default planner configuration.
    let mut satellite = Bucket::satellite("momentum", "Momentum satellite", end);
    satellite.target_pct = Some(0.05);
    store.buckets().create(&satellite)?;
    store.buckets().save_settings(&SatelliteSettings {
        preset: Some("momentum_hunter".into()),
        ..SatelliteSettings::defaults("momentum")
    })?;
    store.agent_configs().create(
        &AgentConfig {
            id: "00000000-0000-4000-8000-000000000001".into(),
            name: "Balanced".into(),
            description: Some("demo: the built-in default planner".into()),
            toml_config: "[planner]\npreset = \"default\"\nmax_depth = 5\n".into(),
            bucket_id: None,
            is_default: true,
            created_at: end,
            updated_at: end,
        },
        true,
    )?;
    Ok(summary)
}

fn add_security(store: &Store, s: &DemoSecurity, at: Instant) -> Result<()> {
    store.securities().add(&Security::new(s.symbol, s.name, at))?;
    store.securities().update(
        s.symbol,
        &SecurityPatch {
            product_type: Some(s.kind),
            country: Some(Some(s.country.into())),
            industry: Some(Some(s.industry.into())),
            full_exchange_name: Some(Some(s.exchange.into())),
            currency: Some(Some(s.currency.into())),
            last_synced: Some(Some(at)),
            ..SecurityPatch::default()
        },
        at,
    )?;
    Ok(())
}

/// A trade worth about `budget` EUR (or of `quantity` shares), with its EUR cost or proceeds after commission.
#[allow(clippy::too_many_arguments)]
fn make_trade(
    s: &DemoSecurity,
    side: Side,
    budget: Decimal,
    close: f64,
    rate: Decimal,
    executed_at: Instant,
    order_no: u64,
    quantity: Option<Decimal>,
) -> Option<(Trade, Decimal)> {
    let price = dec(close, if close < 10.0 { 4 } else { 2 });
    if price.is_zero() {
        return None;
    }
    let quantity = quantity.unwrap_or_else(|| (budget * rate / price).floor().max(Decimal::ONE));
    if quantity <= Decimal::ZERO {
        return None;
    }
    let value = value_eur(quantity, price, rate);
    // portfolio.md §3.4: €2 fixed + 0.2 % of the value, charged in the trade currency.
    let commission = cents(Decimal::TWO * rate + quantity * price * Decimal::new(2, 3));
    let commission_eur = cents(commission / rate);
    let trade = Trade {
        symbol: s.symbol.into(),
        isin: None,
        side,
        quantity,
        price,
        currency: Some(s.currency.into()),
        currency_rate: Some(rate),
        value_eur: Some(value),
        commission: Some(commission),
        commission_currency: Some(s.currency.into()),
        executed_at,
        order_id: Some(format!("DEMO-{order_no}")),
        source: "tradernet".into(),
        mode: Mode::Live,
        bucket_id: CORE.into(),
        created_at: executed_at,
    };
    let cash_effect = match side {
        Side::Buy => value + commission_eur,
        Side::Sell => value - commission_eur,
    };
    Some((trade, cash_effect))
}

fn fee_flow(trade: &Trade, day: NaiveDate, rate: Decimal) -> CashFlow {
    let commission = trade.commission.unwrap_or_default();
    CashFlow {
        transaction_id: format!("trade_fee_{}", trade.order_id.as_deref().unwrap_or_default()),
        type_doc_id: "trade_fee".into(),
        transaction_type: Some("trading_fee".into()),
        flow_type: FlowType::Fee,
        date: day,
        amount: -commission,
        currency: trade.currency.clone().unwrap_or_else(|| "EUR".into()),
        amount_eur: -cents(commission / rate),
        currency_rate: Some(rate),
        symbol: Some(trade.symbol.clone()),
        status: Some("completed".into()),
        status_c: Some(3),
        description: Some(format!("commission {} {}", trade.side, trade.symbol)),
        params_json: None,
        created_at: trade.executed_at,
    }
}

fn dividend_flow(s: &DemoSecurity, day: NaiveDate, amount: Decimal, rate: Decimal, id: &str, at: Instant) -> CashFlow {
    CashFlow {
        transaction_id: id.into(),
        type_doc_id: "corp_dividend".into(),
        transaction_type: Some("dividend".into()),
        flow_type: FlowType::Dividend,
        date: day,
        amount,
        currency: s.currency.into(),
        amount_eur: cents(amount / rate),
        currency_rate: Some(rate),
        symbol: Some(s.symbol.into()),
        status: Some("completed".into()),
        status_c: Some(3),
        description: Some(format!("Dividend {}", s.name)),
        params_json: Some(serde_json::json!({ "demo": true }).to_string()),
        created_at: at,
    }
}
