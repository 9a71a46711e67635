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

/// A ratio with its interval, `value [low–high]`, each as a [`fraction`] when well below
/// one (an emulated VM's DGEMM at 1/2476 of native would otherwise read `0.000`).
pub fn ratio_with_ci(value: f64, low: f64, high: f64) -> String {
    format!("{} [{}–{}]", fraction(value), fraction(low), fraction(high))
}

/// The row's ratio to native with its interval, `-` when there is none.
pub fn ratio(r: &SummaryRow) -> String {
    match (r.ratio_to_native, r.ratio_ci_low, r.ratio_ci_high) {
        (Some(v), Some(lo), Some(hi)) => ratio_with_ci(v, lo, hi),
        (Some(v), _, _) => fraction(v),
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

    #[test]
    fn a_tiny_ratio_to_native_is_never_printed_as_zero() {
        // An emulated VM's DGEMM: about 1/2000 of native, whose `num` reads 0.000.
        let row = SummaryRow {
            ratio_to_native: Some(0.000_42),
            ratio_ci_low: Some(0.000_38),
            ratio_ci_high: Some(0.000_45),
            ..SummaryRow::default()
        };
        let text = ratio(&row);
        assert!(!text.contains("0.000"), "{text}");
        assert_eq!(text, "1/2381 [1/2632–1/2222]");
        let row = SummaryRow {
            ratio_to_native: Some(0.000_42),
            ..SummaryRow::default()
        };
        assert_eq!(ratio(&row), "1/2381");
        // Ratios near one keep their digits.
        assert_eq!(ratio_with_ci(0.98, 0.95, 1.01), "0.980 [0.950–1.01]");
    }
}
