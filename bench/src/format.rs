//! How numbers and intervals are written in the report, the summary table and the figures.

use crate::record::SummaryRow;

/// Formats a number with about four significant digits.
pub fn num(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        "-".into()
    } else if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 100.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// `value [low–high]`.
pub fn with_ci(value: f64, low: f64, high: f64) -> String {
    format!("{} [{}–{}]", num(value), num(low), num(high))
}

/// `median [low–high] (n=N)` of a summary row.
pub fn spread(r: &SummaryRow) -> String {
    format!("{} (n={})", with_ci(r.median, r.ci_low, r.ci_high), r.n)
}

/// The row's ratio to native with its interval, `-` when there is none.
pub fn ratio(r: &SummaryRow) -> String {
    match (r.ratio_to_native, r.ratio_ci_low, r.ratio_ci_high) {
        (Some(v), Some(lo), Some(hi)) => with_ci(v, lo, hi),
        (Some(v), _, _) => num(v),
        _ => "-".into(),
    }
}

/// A ratio well below one written as a fraction (`1/17.5`), which reads better than
/// `0.057` for "17.5 times slower"; other values as [`num`].
pub fn fraction(x: f64) -> String {
    if x > 0.0 && x < 0.1 {
        format!("1/{}", num(1.0 / x))
    } else {
        num(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_four_digits_and_small_ratios_read_as_fractions() {
        assert_eq!(num(1234.56), "1235");
        assert_eq!(num(123.456), "123.5");
        assert_eq!(num(12.3456), "12.35");
        assert_eq!(num(0.12345), "0.123");
        assert_eq!(num(f64::NAN), "-");
        assert_eq!(with_ci(1.0, 0.9, 1.1), "1.00 [0.900–1.10]");
        assert_eq!(fraction(0.5), "0.500");
        assert_eq!(fraction(1.0 / 17.5), "1/17.50");
        assert_eq!(fraction(1.0 / 2476.0), "1/2476");
    }
}
