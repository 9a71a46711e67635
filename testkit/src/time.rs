//! Deadlines that stretch on slow machines. The cgroup-v2 lane runs tests in a guest that may
//! be under software emulation (TCG), many times slower than the host; it sets
//! `PIER_TEST_TIME_SCALE`. Only deadlines and upper bounds are stretched, never a lower bound a
//! test asserts.

use std::time::Duration;

/// The factor from `PIER_TEST_TIME_SCALE` (at least 1; default 1).
pub fn factor() -> f64 {
    std::env::var("PIER_TEST_TIME_SCALE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|f| *f >= 1.0)
        .unwrap_or(1.0)
}

/// `limit` stretched by [`factor`].
pub fn scaled(limit: Duration) -> Duration {
    limit.mul_f64(factor())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unscaled_without_the_variable() {
        if std::env::var_os("PIER_TEST_TIME_SCALE").is_none() {
            assert_eq!(scaled(Duration::from_secs(2)), Duration::from_secs(2));
        }
        assert!(factor() >= 1.0);
    }
}
