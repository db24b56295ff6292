//! Portfolio analytics from daily snapshots (portfolio.md §10.2): time-weighted daily returns, annual return,
//! volatility, Sharpe, Sortino, max drawdown, Calmar. Turnover is the store's `TurnoverTracker`.

use serde::Serialize;

use super::primitives::{self, TRADING_DAYS};

/// Risk-free rate for the Sharpe ratio (portfolio.md Appendix A, `risk_free_rate`).
pub const RISK_FREE_RATE: f64 = 0.035;
/// Minimum acceptable return for the Sortino ratio (`sortino_mar`).
pub const SORTINO_MAR: f64 = 0.05;

/// One weekday snapshot: total value and the net external flows (deposits − withdrawals) since the previous one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub value: f64,
    pub flows: f64,
}

/// Time-weighted returns `r_t = (V_t − F_t) / V_{t−1} − 1`, skipping steps from a value ≤ 0 (a deposit is not
/// performance — the original counted it as such).
pub fn daily_returns(points: &[Point]) -> Vec<f64> {
    points.windows(2).filter(|w| w[0].value > 0.0).map(|w| (w[1].value - w[1].flows) / w[0].value - 1.0).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Performance {
    pub annual_return: f64,
    pub volatility: f64,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub max_drawdown: Option<f64>,
    pub calmar: Option<f64>,
}

/// The figures of a window of daily returns; non-finite results are absent.
pub fn performance(r: &[f64]) -> Performance {
    let finite = |x: f64| x.is_finite().then_some(x);
    let mut index = vec![100.0];
    for v in r {
        let last = *index.last().expect("starts with 100");
        index.push(last * (1.0 + v));
    }
    let annual_return = primitives::annual_return(r);
    let max_drawdown = primitives::max_drawdown(&index);
    Performance {
        annual_return,
        volatility: primitives::ann_vol(r),
        sharpe: primitives::sharpe(r, RISK_FREE_RATE, TRADING_DAYS).and_then(finite),
        sortino: primitives::sortino(r, SORTINO_MAR, TRADING_DAYS).and_then(finite),
        max_drawdown,
        calmar: max_drawdown.filter(|d| *d != 0.0).and_then(|d| finite(annual_return / d.abs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// portfolio.md §13.9, through the store's one turnover formula and status.
    #[test]
    fn turnover_reference_cases() {
        use crate::store::portfolio::{TurnoverStatus, TurnoverTracker, turnover_ratio};
        let turnover = |b, s, m| turnover_ratio(b, s, m).map(|t| (t, TurnoverTracker::status(t)));
        assert_eq!(turnover(25e3, 25e3, 50e3), Some((0.5, TurnoverStatus::Warning)), "boundary inclusive");
        assert_eq!(turnover(50e3, 50e3, 50e3), Some((1.0, TurnoverStatus::Critical)));
        assert_eq!(turnover(10e3, 10e3, 50e3), Some((0.2, TurnoverStatus::Normal)));
        assert_eq!(turnover(30e3, 10e3, 50e3), Some((0.4, TurnoverStatus::Normal)));
        assert_eq!(turnover(1.0, 1.0, 0.0), None);
    }

    #[test]
    fn deposits_are_not_performance() {
        let points = [
            Point { value: 1000.0, flows: 0.0 },
            Point { value: 2100.0, flows: 1000.0 },
            Point { value: 2100.0, flows: 0.0 },
        ];
        let r = daily_returns(&points);
        assert!((r[0] - 0.1).abs() < 1e-12, "(2100 − 1000)/1000 − 1");
        assert_eq!(r[1], 0.0);
        assert!(daily_returns(&[Point { value: 0.0, flows: 0.0 }, Point { value: 5.0, flows: 5.0 }]).is_empty());
    }

    #[test]
    fn performance_of_a_window() {
        let r = [0.01, -0.02, 0.015, 0.0, -0.005];
        let p = performance(&r);
        assert!((p.annual_return - primitives::annual_return(&r)).abs() < 1e-12);
        // Index 100, 101, 98.98, …: the deepest fall is the −2 % day.
        assert!((p.max_drawdown.unwrap() + 0.02).abs() < 1e-12);
        assert!((p.calmar.unwrap() - p.annual_return / 0.02).abs() < 1e-9);
        assert_eq!(performance(&[0.01, 0.01, 0.01]).calmar, None, "no drawdown, no Calmar");
    }
}
