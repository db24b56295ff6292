//! Money and valuation (portfolio.md §3, §7.3, §9): FX rates, EUR valuation, the fee model, the minimum
//! worthwhile trade and trade sizing — in exact decimals. A missing rate is an error, never a silent 1:1 (the
//! original used 1:1 and fixed constants in inconsistent directions).

use std::collections::BTreeMap;

use rust_decimal::prelude::*;
use serde::Serialize;

/// Why something could not be valued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum ValuationError {
    /// No broker rate and no stored rate young enough: health `FX_MISSING_C`, planning and execution blocked.
    #[error("no EUR→{0} rate (neither from the broker nor stored within fx_max_age_hours)")]
    FxRateMissing(String),
    #[error("no price for {0}")]
    PriceMissing(String),
}

impl ValuationError {
    /// The error pool's text for the display (portfolio.md §12.1).
    pub fn display_text(&self) -> String {
        match self {
            ValuationError::FxRateMissing(c) => format!("FX {c} MISSING"),
            ValuationError::PriceMissing(s) => format!("PRICE {} MISSING", crate::display::short_symbol(s)),
        }
    }
}

/// Rates as units of currency C per 1 EUR; EUR value = native ÷ rate(C).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FxRates {
    rates: BTreeMap<String, Decimal>,
}

impl FxRates {
    pub fn new() -> FxRates {
        FxRates::default()
    }

    /// Set a rate; a rate ≤ 0 is refused (it would value everything at infinity or flip signs).
    pub fn set(&mut self, currency: &str, rate: Decimal) -> Result<(), String> {
        if rate <= Decimal::ZERO {
            return Err(format!("rate of {currency} must be positive, got {rate}"));
        }
        self.rates.insert(currency.to_owned(), rate);
        Ok(())
    }

    /// From a broker instrument that quotes EUR per unit of C (like `HKD/EUR`): rate(C) = 1 / last.
    pub fn set_inverse(&mut self, currency: &str, eur_per_unit: Decimal) -> Result<(), String> {
        if eur_per_unit <= Decimal::ZERO {
            return Err(format!("{currency}/EUR quote must be positive, got {eur_per_unit}"));
        }
        self.set(currency, Decimal::ONE / eur_per_unit)
    }

    pub fn rate(&self, currency: &str) -> Result<Decimal, ValuationError> {
        if currency == "EUR" {
            return Ok(Decimal::ONE);
        }
        self.rates.get(currency).copied().ok_or_else(|| ValuationError::FxRateMissing(currency.to_owned()))
    }

    /// Native amount in EUR.
    pub fn to_eur(&self, amount: Decimal, currency: &str) -> Result<Decimal, ValuationError> {
        Ok(amount / self.rate(currency)?)
    }
}

/// The fee model (portfolio.md §3.4): one source of truth for every cost the engine computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fees {
    pub fixed_eur: Decimal,
    pub percent: Decimal,
    pub max_cost_ratio: Decimal,
}

impl Default for Fees {
    fn default() -> Self {
        Fees { fixed_eur: Decimal::new(2, 0), percent: Decimal::new(2, 3), max_cost_ratio: Decimal::new(1, 2) }
    }
}

impl Fees {
    /// Commission of a trade of native value `value` in a currency with `rate`, in that currency.
    pub fn commission_native(&self, value: Decimal, rate: Decimal) -> Decimal {
        self.fixed_eur * rate + self.percent * value.abs()
    }

    /// The same commission in EUR.
    pub fn commission_eur(&self, value: Decimal, rate: Decimal) -> Decimal {
        self.fixed_eur + self.percent * value.abs() / rate
    }

    /// The smallest trade whose commission stays within `max_cost_ratio` (€250 with the defaults); €1000 when
    /// the percentage alone already exceeds the ratio.
    pub fn min_trade_value(&self) -> Decimal {
        let denominator = self.max_cost_ratio - self.percent;
        if denominator > Decimal::ZERO { self.fixed_eur / denominator } else { Decimal::new(1000, 0) }
    }

    /// The planner's cost of a sequence: Σ (fixed + percent × |value|) in EUR.
    pub fn sequence_cost(&self, values_eur: &[f64]) -> f64 {
        let (fixed, percent) = (self.fixed_eur.to_f64().unwrap_or(0.0), self.percent.to_f64().unwrap_or(0.0));
        values_eur.iter().map(|v| fixed + percent * v.abs()).sum()
    }
}

/// A sized trade: whole shares and their EUR value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sized {
    pub quantity: i64,
    pub value_eur: Decimal,
}

fn floor_to_lot(quantity: Decimal, lot: i64) -> i64 {
    let lot = lot.max(1);
    (quantity.floor().to_i64().unwrap_or(0) / lot) * lot
}

/// Buy sizing (portfolio.md §7.3): the EUR target in native units, whole lots down; at least one lot; one more
/// lot (once) when the value falls short of the minimum worthwhile trade.
pub fn size_buy(target_eur: Decimal, price: Decimal, rate: Decimal, min_lot: i64, min_trade: Decimal) -> Option<Sized> {
    if price <= Decimal::ZERO || rate <= Decimal::ZERO {
        return None;
    }
    let lot = min_lot.max(1);
    let mut quantity = floor_to_lot(target_eur * rate / price, lot).max(lot);
    let value = |q: i64| Decimal::from(q) * price / rate;
    if value(quantity) < min_trade {
        quantity += lot;
    }
    Some(Sized { quantity, value_eur: value(quantity) })
}

/// Sell sizing for a target quantity: whole lots of at most what is held; `None` when nothing is left.
pub fn size_sell(target_quantity: Decimal, held: Decimal, min_lot: i64) -> Option<i64> {
    let quantity = floor_to_lot(target_quantity.min(held), min_lot);
    (quantity > 0).then_some(quantity)
}

/// DRIP sizing (portfolio.md §9.2): the dividends' EUR sum buys whole lots; below the minimum worthwhile
/// trade nothing is bought yet (the dividends stay pending and add up).
pub fn size_drip(sum_eur: Decimal, price: Decimal, rate: Decimal, min_lot: i64, min_trade: Decimal) -> Option<Sized> {
    if price <= Decimal::ZERO || rate <= Decimal::ZERO {
        return None;
    }
    let quantity = floor_to_lot(sum_eur * rate / price, min_lot);
    let value_eur = Decimal::from(quantity) * price / rate;
    (quantity > 0 && value_eur >= min_trade).then_some(Sized { quantity, value_eur })
}

/// The currency reserve kept in each trading currency: `min_currency_reserve_eur` in that currency's units.
pub fn reserve(min_reserve_eur: Decimal, rate: Decimal) -> Decimal {
    min_reserve_eur * rate
}

/// How much of currency C an FX conversion buys to restore its reserve: the shortfall plus 2 %, capped at
/// what the source currency can spare (its surplus, in C).
pub fn conversion_amount(balance: Decimal, reserve: Decimal, surplus_in_c: Decimal) -> Option<Decimal> {
    let shortfall = reserve - balance;
    (shortfall > Decimal::ZERO).then(|| (shortfall * Decimal::new(102, 2)).min(surplus_in_c))
}

/// A held position as valuation needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Holding {
    pub symbol: String,
    pub currency: String,
    pub quantity: Decimal,
    pub avg_price: Decimal,
    /// The price chosen by [`choose_price`]; `None` = missing.
    pub price: Option<Decimal>,
}

/// The position price (portfolio.md §3.3): broker last if > 0, else the latest quote, else a daily close no
/// older than 5 trading days.
pub fn choose_price(
    broker_last: Option<Decimal>,
    quote: Option<Decimal>,
    recent_close: Option<Decimal>,
) -> Option<Decimal> {
    [broker_last, quote, recent_close].into_iter().flatten().find(|p| *p > Decimal::ZERO)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PositionValue {
    pub symbol: String,
    pub currency: String,
    pub quantity: Decimal,
    pub avg_price: Decimal,
    /// The price the position was valued at.
    pub price: Decimal,
    pub value_native: Decimal,
    pub value_eur: Decimal,
    pub cost_eur: Decimal,
    /// (price − avg) / avg in the security's currency; absent when the average price is 0.
    pub unrealized_pct: Option<f64>,
}

/// The portfolio in EUR (portfolio.md §3.3).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Valuation {
    pub positions: Vec<PositionValue>,
    pub cash_eur: Decimal,
    pub invested_eur: Decimal,
    /// `T`: invested value + cash, negative balances included.
    pub total_eur: Decimal,
}

/// Value holdings and cash balances; the first missing price or rate is the error.
pub fn value(
    holdings: &[Holding],
    balances: &[(String, Decimal)],
    rates: &FxRates,
) -> Result<Valuation, ValuationError> {
    let mut positions = Vec::with_capacity(holdings.len());
    for h in holdings {
        let price = h.price.ok_or_else(|| ValuationError::PriceMissing(h.symbol.clone()))?;
        let rate = rates.rate(&h.currency)?;
        let value_native = h.quantity * price;
        positions.push(PositionValue {
            symbol: h.symbol.clone(),
            currency: h.currency.clone(),
            quantity: h.quantity,
            avg_price: h.avg_price,
            price,
            value_native,
            value_eur: value_native / rate,
            cost_eur: h.quantity * h.avg_price / rate,
            unrealized_pct: (!h.avg_price.is_zero())
                .then(|| ((price - h.avg_price) / h.avg_price).to_f64().unwrap_or(0.0)),
        });
    }
    let mut cash_eur = Decimal::ZERO;
    for (currency, balance) in balances {
        cash_eur += rates.to_eur(*balance, currency)?;
    }
    let invested_eur: Decimal = positions.iter().map(|p| p.value_eur).sum();
    Ok(Valuation { positions, cash_eur, invested_eur, total_eur: invested_eur + cash_eur })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::values::cents;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    // portfolio.md §13.1

    #[test]
    fn commissions_and_minimum_trades() {
        let fees = Fees::default();
        assert_eq!(fees.commission_native(d("1000"), Decimal::ONE), d("4.00"));
        assert_eq!(fees.commission_native(d("1000"), d("1.1")), d("4.20"));
        assert_eq!(fees.min_trade_value(), d("250"));
        assert_eq!(Fees { fixed_eur: d("5"), ..fees }.min_trade_value(), d("625"));
        assert_eq!(Fees { percent: d("0.02"), ..fees }.min_trade_value(), d("1000"), "denominator ≤ 0");
        // At exactly the minimum the commission is 1 % of the trade.
        assert_eq!(fees.commission_eur(d("250"), Decimal::ONE), d("2.5"));
    }

    #[test]
    fn buy_sizing() {
        let min = d("250");
        assert_eq!(
            size_buy(d("1000"), d("50"), Decimal::ONE, 1, min),
            Some(Sized { quantity: 20, value_eur: d("1000") })
        );
        assert_eq!(size_buy(d("1000"), d("100"), Decimal::ONE, 20, min).unwrap().quantity, 20, "at least one lot");
        let usd = size_buy(d("1000"), d("100"), d("1.1"), 1, min).unwrap();
        assert_eq!((usd.quantity, usd.value_eur), (11, d("1000")));
        assert_eq!(
            size_buy(d("1000"), d("33.33"), Decimal::ONE, 1, min),
            Some(Sized { quantity: 30, value_eur: d("999.90") })
        );
        assert_eq!(size_buy(d("250"), d("30"), Decimal::ONE, 1, min), Some(Sized { quantity: 9, value_eur: d("270") }));
        assert_eq!(size_buy(d("250"), d("0"), Decimal::ONE, 1, min), None);
    }

    #[test]
    fn sell_sizing() {
        assert_eq!(size_sell(d("15.7"), d("100"), 5), Some(15));
        assert_eq!(size_sell(d("150"), d("95"), 10), Some(90));
        assert_eq!(size_sell(d("3"), d("100"), 5), None);
    }

    // portfolio.md §13.2

    #[test]
    fn valuation_with_broker_fx() {
        let mut rates = FxRates::new();
        rates.set("USD", d("1.0850")).unwrap();
        rates.set_inverse("HKD", d("0.1180")).unwrap();
        let usd = rates.to_eur(d("1000"), "USD").unwrap();
        assert_eq!(cents(usd), d("921.66"));
        assert!((usd.to_f64().unwrap() - 921.658986).abs() < 1e-6);
        assert!((rates.rate("HKD").unwrap().to_f64().unwrap() - 8.474576).abs() < 1e-6);
        assert_eq!(cents(rates.to_eur(d("10000"), "HKD").unwrap()), d("1180.00"));
    }

    #[test]
    fn a_missing_rate_is_an_error_never_one_to_one() {
        let rates = FxRates::new();
        let err = rates.to_eur(d("100"), "USD").unwrap_err();
        assert_eq!(err, ValuationError::FxRateMissing("USD".into()));
        assert_eq!(err.display_text(), "FX USD MISSING");
        assert_eq!(rates.to_eur(d("100"), "EUR").unwrap(), d("100"));
        let holding = Holding {
            symbol: "AAPL.US".into(),
            currency: "USD".into(),
            quantity: d("1"),
            avg_price: d("1"),
            price: Some(d("2")),
        };
        assert!(value(&[holding], &[], &rates).is_err());
        assert!(FxRates::new().set("USD", d("0")).is_err());
    }

    #[test]
    fn a_portfolio_is_valued_with_negative_cash_included() {
        let mut rates = FxRates::new();
        rates.set("USD", d("1.25")).unwrap();
        let holdings = [
            Holding {
                symbol: "SAP.DE".into(),
                currency: "EUR".into(),
                quantity: d("10"),
                avg_price: d("100"),
                price: Some(d("120")),
            },
            Holding {
                symbol: "AAPL.US".into(),
                currency: "USD".into(),
                quantity: d("4"),
                avg_price: d("250"),
                price: Some(d("200")),
            },
        ];
        let cash = [("EUR".to_owned(), d("500")), ("USD".to_owned(), d("-125"))];
        let v = value(&holdings, &cash, &rates).unwrap();
        assert_eq!(v.invested_eur, d("1840"), "1200 + 800/1.25");
        assert_eq!(v.cash_eur, d("400"), "500 − 100");
        assert_eq!(v.total_eur, d("2240"));
        assert_eq!(v.positions[1].cost_eur, d("800"));
        assert_eq!(v.positions[1].unrealized_pct, Some(-0.2));
        let missing = Holding { price: None, ..holdings[0].clone() };
        assert_eq!(value(&[missing], &[], &rates).unwrap_err(), ValuationError::PriceMissing("SAP.DE".into()));
    }

    #[test]
    fn the_price_is_chosen_in_the_documented_order() {
        assert_eq!(choose_price(Some(d("10")), Some(d("11")), Some(d("12"))), Some(d("10")));
        assert_eq!(choose_price(Some(d("0")), Some(d("11")), Some(d("12"))), Some(d("11")), "broker 0 is no price");
        assert_eq!(choose_price(None, None, Some(d("12"))), Some(d("12")));
        assert_eq!(choose_price(None, None, None), None);
    }

    // portfolio.md §13.9

    #[test]
    fn drip_waits_until_the_dividends_buy_a_worthwhile_trade() {
        let min = d("250");
        assert_eq!(size_drip(d("270"), d("50"), d("1.10"), 1, min), None, "5 shares = €227.27 < €250");
        let buy = size_drip(d("310"), d("50"), d("1.10"), 1, min).unwrap();
        assert_eq!(buy.quantity, 6);
        assert_eq!(cents(buy.value_eur), d("272.73"));
    }

    #[test]
    fn a_negative_balance_is_restored_to_its_reserve_from_eur() {
        let rate = d("1.10");
        let reserve_usd = reserve(d("5"), rate);
        assert_eq!(reserve_usd, d("5.5"));
        let eur_surplus_in_usd = (d("800") - d("5")) * rate;
        let convert = conversion_amount(d("-120"), reserve_usd, eur_surplus_in_usd).unwrap();
        assert_eq!(convert, d("128.01"), "shortfall 125.50 × 1.02");
        assert_eq!(cents(convert / rate), d("116.37"));
        assert_eq!(conversion_amount(d("10"), reserve_usd, eur_surplus_in_usd), None);
    }
}
