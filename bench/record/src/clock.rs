//! Wall-clock helpers: nanosecond timestamps and RFC 3339 dates.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch from `CLOCK_REALTIME` (what `SystemTime` reads on Linux).
///
/// Returns 0 if the clock is before 1970, which only a badly broken guest clock produces.
pub fn realtime_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The current UTC time as RFC 3339 with second precision, e.g. `2026-11-23T17:00:37Z`.
///
/// `humantime` directly rather than `pier_oci::time`: this crate (the run records, read by
/// the labs and the static payload) does not link the runtime. A clock before 1970, which
/// only a badly broken guest clock gives, reads as 1970 (humantime cannot print it).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now().max(UNIX_EPOCH)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_rfc3339_to_the_second() {
        let now = now_rfc3339();
        assert_eq!(now.len(), "2026-11-23T17:00:37Z".len(), "{now}");
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T', "{now}");
        assert!(now.as_str() > "2020", "{now}");
    }

    #[test]
    fn realtime_is_after_2020() {
        assert!(realtime_ns() > 1_577_836_800_000_000_000);
    }
}
