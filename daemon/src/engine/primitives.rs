//! The numeric primitives of portfolio.md §4.1, exactly as defined there. Every series is **oldest first**
//! (index 0 = oldest): [`Series`] refuses anything else, so a reversed series can never be scored silently
//! (the original computed "current price", momentum, EMA, RSI, Bollinger and CAGR on reversed data).
//! "Absent" is `None`; each consumer states its default.

use chrono::NaiveDate;

/// Trading days per year: annualisation of daily figures.
pub const TRADING_DAYS: f64 = 252.0;

/// A dated series, oldest first with strictly increasing dates.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    dates: Vec<NaiveDate>,
    values: Vec<f64>,
}

/// Why a series was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeriesError {
    #[error("series dates must strictly increase (oldest first): {later} is not after {earlier}")]
    NotOldestFirst { earlier: NaiveDate, later: NaiveDate },
    #[error("series has {dates} dates but {values} values")]
    Length { dates: usize, values: usize },
}

impl Series {
    pub fn new(dates: Vec<NaiveDate>, values: Vec<f64>) -> Result<Series, SeriesError> {
        if dates.len() != values.len() {
            return Err(SeriesError::Length { dates: dates.len(), values: values.len() });
        }
        if let Some(w) = dates.windows(2).find(|w| w[1] <= w[0]) {
            return Err(SeriesError::NotOldestFirst { earlier: w[0], later: w[1] });
        }
        Ok(Series { dates, values })
    }

    /// From `(date, value)` pairs, oldest first.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (NaiveDate, f64)>) -> Result<Series, SeriesError> {
        let (dates, values) = pairs.into_iter().unzip();
        Series::new(dates, values)
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    pub fn dates(&self) -> &[NaiveDate] {
        &self.dates
    }

    /// The most recent `n` points (all if fewer): the scoring windows (400 daily, 120 monthly).
    pub fn last(&self, n: usize) -> Series {
        let from = self.values.len().saturating_sub(n);
        Series { dates: self.dates[from..].to_vec(), values: self.values[from..].to_vec() }
    }

    /// Monthly averages (portfolio.md §4.0): the mean close of each calendar month present, the partial current
    /// month included, dated by the month's first day.
    pub fn monthly_means(&self) -> Series {
        use chrono::Datelike;
        let mut dates: Vec<NaiveDate> = Vec::new();
        let mut sums: Vec<(f64, usize)> = Vec::new();
        for (d, v) in self.dates.iter().zip(&self.values) {
            let month = d.with_day(1).expect("day 1 exists");
            if dates.last() != Some(&month) {
                dates.push(month);
                sums.push((0.0, 0));
            }
            let s = sums.last_mut().expect("pushed above");
            s.0 += v;
            s.1 += 1;
        }
        Series { dates, values: sums.into_iter().map(|(s, n)| s / n as f64).collect() }
    }
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

fn last_n(x: &[f64], n: usize) -> &[f64] {
    &x[x.len().saturating_sub(n)..]
}

/// Mean of the last `n` values; absent if fewer than `n`.
pub fn sma(x: &[f64], n: usize) -> Option<f64> {
    (n > 0 && x.len() >= n).then(|| mean(last_n(x, n)))
}

/// TA-Lib EMA: seeded with the mean of the first `n` values; the mean of all values if fewer than `n`.
pub fn ema(x: &[f64], n: usize) -> Option<f64> {
    if x.is_empty() || n == 0 {
        return None;
    }
    if x.len() < n {
        return Some(mean(x));
    }
    let k = 2.0 / (n as f64 + 1.0);
    Some(x[n..].iter().fold(mean(&x[..n]), |e, v| e + k * (v - e)))
}

/// Wilder's RSI (TA-Lib): 0 … 100; 0 when nothing moved; absent with fewer than `n + 1` values.
pub fn rsi(x: &[f64], n: usize) -> Option<f64> {
    if n == 0 || x.len() < n + 1 {
        return None;
    }
    let changes: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
    let (first, rest) = changes.split_at(n);
    let mut gain = mean(&first.iter().map(|d| d.max(0.0)).collect::<Vec<_>>());
    let mut loss = mean(&first.iter().map(|d| (-d).max(0.0)).collect::<Vec<_>>());
    let nf = n as f64;
    for d in rest {
        gain = (gain * (nf - 1.0) + d.max(0.0)) / nf;
        loss = (loss * (nf - 1.0) + (-d).max(0.0)) / nf;
    }
    Some(if gain + loss == 0.0 { 0.0 } else { 100.0 * gain / (gain + loss) })
}

/// Bollinger bands over the last `n` values with the population σ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bollinger {
    pub middle: f64,
    pub upper: f64,
    pub lower: f64,
    /// Where the last value sits between the bands, 0 … 1 (0.5 when the bands coincide).
    pub position: f64,
}

pub fn bollinger(x: &[f64], n: usize, k: f64) -> Option<Bollinger> {
    let middle = sma(x, n)?;
    let window = last_n(x, n);
    let sigma = (window.iter().map(|v| (v - middle).powi(2)).sum::<f64>() / n as f64).sqrt();
    let (upper, lower) = (middle + k * sigma, middle - k * sigma);
    let last = *x.last()?;
    let position = if upper == lower { 0.5 } else { ((last - lower) / (upper - lower)).clamp(0.0, 1.0) };
    Some(Bollinger { middle, upper, lower, position })
}

/// Simple returns; 0 where the previous value is 0.
pub fn returns(x: &[f64]) -> Vec<f64> {
    x.windows(2).map(|w| if w[0] == 0.0 { 0.0 } else { (w[1] - w[0]) / w[0] }).collect()
}

/// Sample standard deviation (N − 1); absent for fewer than 2 values.
pub fn stdev_sample(r: &[f64]) -> Option<f64> {
    if r.len() < 2 {
        return None;
    }
    let m = mean(r);
    Some((r.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (r.len() - 1) as f64).sqrt())
}

/// Annualised volatility of daily returns; 0 for fewer than 2 returns.
pub fn ann_vol(r: &[f64]) -> f64 {
    stdev_sample(r).map_or(0.0, |s| s * TRADING_DAYS.sqrt())
}

/// Sharpe ratio of returns with `periods` per year; absent for fewer than 2 returns or σ = 0.
pub fn sharpe(r: &[f64], risk_free: f64, periods: f64) -> Option<f64> {
    let sigma = stdev_sample(r).filter(|s| *s > 0.0)?;
    Some((mean(r) - risk_free / periods) / sigma * periods.sqrt())
}

/// Sortino ratio: downside deviation over **all** returns (empyrical's form).
pub fn sortino(r: &[f64], mar: f64, periods: f64) -> Option<f64> {
    if r.len() < 2 {
        return None;
    }
    let target = mar / periods;
    let dd = (r.iter().map(|v| (v - target).min(0.0).powi(2)).sum::<f64>() / r.len() as f64).sqrt();
    (dd > 0.0).then(|| (mean(r) - target) / dd * periods.sqrt())
}

/// Drawdown figures of a value series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drawdown {
    /// The deepest fall from a running peak (≤ 0).
    pub max: f64,
    /// Where the last value stands against the highest (≤ 0).
    pub current: f64,
    /// Points since the highest value.
    pub days_since_peak: usize,
}

pub fn drawdown(x: &[f64]) -> Option<Drawdown> {
    if x.len() < 2 {
        return None;
    }
    let mut peak = x[0];
    let mut max = 0.0f64;
    let (mut high, mut high_at) = (x[0], 0);
    for (i, &v) in x.iter().enumerate() {
        peak = peak.max(v);
        if peak > 0.0 {
            max = max.min((v - peak) / peak);
        }
        if v >= high {
            (high, high_at) = (v, i);
        }
    }
    let last = x[x.len() - 1];
    let current = if high > 0.0 { (last - high) / high } else { 0.0 };
    Some(Drawdown { max, current, days_since_peak: x.len() - 1 - high_at })
}

/// The deepest fall from a running peak (≤ 0); absent for fewer than 2 values.
pub fn max_drawdown(x: &[f64]) -> Option<f64> {
    drawdown(x).map(|d| d.max)
}

/// Highest of the last 252 values (a trading year).
pub fn high_52w(x: &[f64]) -> Option<f64> {
    last_n(x, 252).iter().copied().reduce(f64::max)
}

pub fn low_52w(x: &[f64]) -> Option<f64> {
    last_n(x, 252).iter().copied().reduce(f64::min)
}

/// How far below its 52-week high the last value is (≥ 0 when below).
pub fn below_52w_high(x: &[f64]) -> Option<f64> {
    let high = high_52w(x).filter(|h| *h > 0.0)?;
    Some((high - x.last()?) / high)
}

/// Change over the last `d` points; absent with fewer than `d + 1` values or a zero base.
pub fn momentum(x: &[f64], d: usize) -> Option<f64> {
    let base = *x.len().checked_sub(d + 1).and_then(|i| x.get(i))?;
    (base != 0.0).then(|| (x[x.len() - 1] - base) / base)
}

/// Compound annual growth of monthly averages over the last `months` points (u points count u/12 years —
/// the convention portfolio.md keeps on purpose).
pub fn cagr(m: &[f64], months: usize) -> Option<f64> {
    if m.len() < 12 {
        return None;
    }
    let slice = last_n(m, months.min(m.len()));
    let (s, e) = (slice[0], slice[slice.len() - 1]);
    if s <= 0.0 || e <= 0.0 {
        return None;
    }
    let years = slice.len() as f64 / 12.0;
    Some(if years < 0.25 { e / s - 1.0 } else { (e / s).powf(1.0 / years) - 1.0 })
}

/// Annualised compound return of daily returns.
pub fn annual_return(r: &[f64]) -> f64 {
    if r.is_empty() {
        return 0.0;
    }
    let c: f64 = r.iter().map(|v| 1.0 + v).product();
    if r.len() < 3 { c - 1.0 } else { c.powf(TRADING_DAYS / r.len() as f64) - 1.0 }
}

/// Annualised volatility of the returns of the last `d` values.
pub fn volatility_window(x: &[f64], d: usize) -> f64 {
    ann_vol(&returns(last_n(x, d)))
}

/// Pearson correlation of two equally long series; absent when lengths differ, fewer than 2, or flat.
pub fn correlation(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    macro_rules! assert_close {
        ($a:expr, $b:expr) => {{
            let (a, b) = ($a, $b);
            assert!(close(a, b), "{} = {a}, expected {b}", stringify!($a));
        }};
    }

    // portfolio.md §13.3, case by case.

    #[test]
    fn ema_reference_cases() {
        let one_to_ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_close!(ema(&one_to_ten, 3).unwrap(), 9.0);
        assert_close!(ema(&[10.0, 11.0, 12.0, 13.0, 12.0, 14.0], 4).unwrap(), 12.62);
        assert_close!(ema(&[4.0, 6.0], 5).unwrap(), 5.0);
        assert_eq!(ema(&[], 3), None);
    }

    #[test]
    fn rsi_reference_case() {
        assert_close!(rsi(&[10.0, 11.0, 10.0, 12.0, 13.0, 12.0], 3).unwrap(), 58.064516);
        assert_eq!(rsi(&[1.0, 2.0, 3.0], 3), None, "needs n + 1 values");
        assert_eq!(rsi(&[5.0; 10], 3), Some(0.0), "nothing moved");
    }

    #[test]
    fn bollinger_reference_case() {
        let b = bollinger(&[10.0, 11.0, 12.0], 3, 2.0).unwrap();
        assert_close!(b.middle, 11.0);
        assert_close!(b.upper, 12.632993);
        assert_close!(b.lower, 9.367007);
        assert_close!(b.position, 0.806186);
        assert_eq!(bollinger(&[7.0; 5], 3, 2.0).unwrap().position, 0.5);
        assert_eq!(bollinger(&[1.0, 2.0], 3, 2.0), None);
    }

    #[test]
    fn returns_reference_case() {
        let r = returns(&[100.0, 110.0, 105.0]);
        assert_close!(r[0], 0.10);
        assert_close!(r[1], -0.0454545454);
        assert_eq!(returns(&[0.0, 5.0]), vec![0.0], "a zero base gives 0, not infinity");
    }

    #[test]
    fn sharpe_and_sortino_reference_cases() {
        let r = [0.01, -0.005, 0.02, 0.0];
        assert_close!(sharpe(&r, 0.0, 252.0).unwrap(), 8.949008);
        assert_close!(sharpe(&r, 0.02, 252.0).unwrap(), 8.835370);
        assert_close!(sortino(&r, 0.0, 252.0).unwrap(), 39.686270);
        assert_eq!(sharpe(&[0.01], 0.0, 252.0), None);
        assert_eq!(sharpe(&[0.01, 0.01], 0.0, 252.0), None, "σ = 0");
        assert_eq!(sortino(&[0.01, 0.02], 0.0, 252.0), None, "no downside");
    }

    #[test]
    fn volatility_and_drawdown_reference_cases() {
        assert_close!(ann_vol(&[0.01, -0.01, 0.02, -0.02, 0.015, -0.015]), 0.270333);
        assert_eq!(ann_vol(&[0.01]), 0.0);
        assert_close!(max_drawdown(&[100.0, 120.0, 90.0, 110.0, 80.0, 130.0]).unwrap(), -1.0 / 3.0);
        let d = drawdown(&[100.0, 120.0, 90.0, 110.0]).unwrap();
        assert_close!(d.current, (110.0 - 120.0) / 120.0);
        assert_eq!(d.days_since_peak, 2);
        assert_eq!(max_drawdown(&[5.0]), None);
    }

    #[test]
    fn cagr_reference_cases() {
        let ramp = |n: usize, from: f64, to: f64| -> Vec<f64> {
            (0..n).map(|i| from + (to - from) * i as f64 / (n - 1) as f64).collect()
        };
        assert_close!(cagr(&ramp(12, 100.0, 110.0), 120).unwrap(), 0.10);
        assert_close!(cagr(&ramp(60, 100.0, 150.0), 120).unwrap(), 0.084472);
        assert_close!(cagr(&ramp(18, 100.0, 121.0), 120).unwrap(), 0.135508);
        assert_eq!(cagr(&ramp(11, 100.0, 110.0), 120), None, "fewer than 12 months");
        let mut zero_start = ramp(12, 100.0, 110.0);
        zero_start[0] = 0.0;
        assert_eq!(cagr(&zero_start, 120), None, "a zero price makes it absent");
    }

    #[test]
    fn annual_return_reference_cases() {
        assert_close!(annual_return(&[0.001; 252]), 0.286434);
        assert_close!(annual_return(&[0.002; 126]), 0.654496);
        assert_close!(annual_return(&[-0.001; 252]), -0.222853);
        assert_close!(annual_return(&[0.01, 0.02]), 0.0302);
        assert_close!(annual_return(&[0.01, -0.005, 0.02, -0.01, 0.015]), 3.440496);
        assert_close!(annual_return(&[0.0; 252]), 0.0);
        assert_eq!(annual_return(&[]), 0.0);
    }

    #[test]
    fn a_series_given_newest_first_is_refused() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let err = Series::new(vec![d("2026-01-02"), d("2026-01-01")], vec![2.0, 1.0]).unwrap_err();
        assert!(matches!(err, SeriesError::NotOldestFirst { .. }), "{err}");
        assert!(Series::new(vec![d("2026-01-01"), d("2026-01-01")], vec![1.0, 1.0]).is_err(), "duplicates too");
        let ok = Series::new(vec![d("2026-01-30"), d("2026-01-31"), d("2026-02-02")], vec![1.0, 3.0, 10.0]).unwrap();
        let monthly = ok.monthly_means();
        assert_eq!(monthly.values(), &[2.0, 10.0]);
        assert_eq!(monthly.dates(), &[d("2026-01-01"), d("2026-02-01")]);
        assert_eq!(ok.last(2).values(), &[3.0, 10.0]);
    }

    #[test]
    fn other_primitives_on_hand_computed_values() {
        let x = [10.0, 12.0, 9.0, 15.0];
        assert_eq!(sma(&x, 2), Some(12.0));
        assert_eq!(sma(&x, 5), None);
        assert_close!(momentum(&x, 3).unwrap(), 0.5);
        assert_eq!(momentum(&x, 4), None);
        assert_eq!((high_52w(&x), low_52w(&x)), (Some(15.0), Some(9.0)));
        assert_close!(below_52w_high(&[10.0, 20.0, 15.0]).unwrap(), 0.25);
        assert_close!(correlation(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]).unwrap(), 1.0);
        assert_close!(correlation(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap(), -1.0);
        assert_eq!(correlation(&[1.0, 1.0], &[1.0, 2.0]), None);
        assert_close!(volatility_window(&[100.0, 101.0, 100.0, 101.0], 3), ann_vol(&returns(&[101.0, 100.0, 101.0])));
    }
}
