//! RFC 3339 timestamps: the one place pier formats and parses them (over `humantime`).
//!
//! pier records times as RFC 3339 text in UTC, as Docker and the OCI specifications do:
//! with nanoseconds for what happens to containers (the OCI state's `created`, `StartedAt`,
//! `FinishedAt`, events, health-check runs, log lines), to the second for image configs and
//! volumes. `humantime` does the calendar arithmetic; this module adds what callers need
//! around it: no panic on a time it cannot print (before 1970 or after 9999, which a wrong
//! clock or a file's mtime can give), and a parser that also takes the numeric offsets
//! (`+02:00`) found in image configs made by other tools.

use anyhow::{bail, Context, Result};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The last second `humantime` can print, 9999-12-31T23:59:59Z (RFC 3339 has four-digit
/// years).
const LAST_SECOND: u64 = 253_402_300_799;

/// Clamps `t` into what RFC 3339 can say: 1970 to the end of 9999.
fn printable(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Err(_) => UNIX_EPOCH,
        Ok(d) if d.as_secs() > LAST_SECOND => UNIX_EPOCH + Duration::new(LAST_SECOND, 999_999_999),
        Ok(_) => t,
    }
}

/// `2024-05-07T20:33:45.123456789Z`: UTC with nine fractional digits (always nine). Times
/// before 1970 print as 1970-01-01T00:00:00.000000000Z.
pub fn rfc3339_nanos(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(printable(t)).to_string()
}

/// `2024-05-07T20:33:45Z`: UTC to the second (the fraction is dropped, not rounded).
pub fn rfc3339_seconds(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(printable(t)).to_string()
}

/// The current time as [`rfc3339_nanos`] prints it: what pier records for container events.
pub fn now_rfc3339() -> String {
    rfc3339_nanos(SystemTime::now())
}

/// The current time as [`rfc3339_seconds`] prints it.
pub fn now_rfc3339_seconds() -> String {
    rfc3339_seconds(SystemTime::now())
}

/// `secs` seconds after the Unix epoch (before it when negative), as a time to format.
pub fn from_unix_seconds(secs: i64) -> SystemTime {
    let d = Duration::from_secs(secs.unsigned_abs());
    let t = if secs < 0 {
        UNIX_EPOCH.checked_sub(d)
    } else {
        UNIX_EPOCH.checked_add(d)
    };
    t.unwrap_or(UNIX_EPOCH)
}

/// Parses an RFC 3339 time: `2024-05-07T20:33:45Z`, with any number of fractional digits
/// (`...:45.5Z`, `...:45.123456789Z`), with a numeric offset (`...:45+02:00`, `-07:00`),
/// or with a space for the `T` and no zone at all (taken as UTC, as `humantime`'s
/// `parse_rfc3339_weak`). Times before 1970 are refused.
pub fn parse_rfc3339(text: &str) -> Result<SystemTime> {
    let parse = |t: &str, zone_given: bool| {
        // humantime reads the first 19 bytes and a fraction; past them it lets a `Z` be
        // followed by anything. Only `[.digits][Z]` may follow the seconds here.
        let tail = t.as_bytes().get(19..).unwrap_or_default();
        let tail = match tail.strip_suffix(b"Z") {
            Some(_) if zone_given => bail!("invalid RFC 3339 time {text:?}: two zones"),
            Some(t) => t,
            None => tail,
        };
        let fraction_ok = match tail.strip_prefix(b".") {
            Some(digits) => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
            None => tail.is_empty(),
        };
        if !fraction_ok {
            bail!("invalid RFC 3339 time {text:?}");
        }
        humantime::parse_rfc3339_weak(t).with_context(|| format!("invalid RFC 3339 time {text:?}"))
    };
    let b = text.as_bytes();
    let n = b.len();
    // `±HH:MM` at the end (not `-DD` of a bare date: that has no colon three from the end).
    let offset = (n > 6 && matches!(b[n - 6], b'+' | b'-') && b[n - 3] == b':').then(|| {
        let digits = |i: usize| {
            let (h, l) = (b[i], b[i + 1]);
            (h.is_ascii_digit() && l.is_ascii_digit())
                .then(|| u64::from((h - b'0') * 10 + (l - b'0')))
        };
        (b[n - 6] == b'-', digits(n - 5), digits(n - 2))
    });
    let Some((west, hours, minutes)) = offset else {
        return parse(text, false);
    };
    let (Some(hours), Some(minutes)) = (hours, minutes) else {
        bail!("invalid RFC 3339 time {text:?}: bad offset");
    };
    if hours > 23 || minutes > 59 {
        bail!("invalid RFC 3339 time {text:?}: offset out of range");
    }
    // The byte before the offset is ASCII, so this is a character boundary.
    let local = parse(&text[..n - 6], true)?;
    let offset = Duration::from_secs(hours * 3600 + minutes * 60);
    // Local time = UTC + offset east of Greenwich.
    let utc = if west {
        local.checked_add(offset)
    } else {
        local.checked_sub(offset)
    };
    match utc {
        Some(t) if t >= UNIX_EPOCH => Ok(t),
        _ => bail!("invalid RFC 3339 time {text:?}: before 1970"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_seconds(at(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_seconds(at(951_782_400, 0)), "2000-02-29T00:00:00Z");
        assert_eq!(
            rfc3339_seconds(at(1_700_000_000, 0)),
            "2023-11-14T22:13:20Z"
        );
        assert_eq!(
            rfc3339_seconds(at(1_795_453_237, 0)),
            "2026-11-23T17:00:37Z"
        );
        assert_eq!(
            rfc3339_seconds(at(1_700_000_000, 999_999_999)),
            "2023-11-14T22:13:20Z",
            "the fraction is dropped"
        );
        assert_eq!(
            rfc3339_nanos(at(1_700_000_000, 5)),
            "2023-11-14T22:13:20.000000005Z"
        );
        assert_eq!(
            rfc3339_nanos(at(1_700_000_000, 0)),
            "2023-11-14T22:13:20.000000000Z",
            "always nine digits"
        );
    }

    #[test]
    fn times_out_of_range_are_clamped_not_a_panic() {
        assert_eq!(
            rfc3339_seconds(from_unix_seconds(-1)),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            rfc3339_nanos(from_unix_seconds(i64::MIN)),
            "1970-01-01T00:00:00.000000000Z"
        );
        assert_eq!(
            rfc3339_seconds(from_unix_seconds(i64::MAX)),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(
            rfc3339_seconds(from_unix_seconds(1_700_000_000)),
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn now_is_after_2020_and_round_trips() {
        let now = now_rfc3339();
        assert_eq!(now.len(), "2024-05-07T20:33:45.123456789Z".len(), "{now}");
        let t = parse_rfc3339(&now).unwrap();
        assert!(t > at(1_577_836_800, 0));
        assert_eq!(rfc3339_nanos(t), now);
        assert!(now_rfc3339_seconds().ends_with('Z'));
    }

    #[test]
    fn parses_what_pier_and_other_tools_write() {
        let t = at(1_715_114_025, 0); // 2024-05-07T20:33:45Z
        assert_eq!(parse_rfc3339("2024-05-07T20:33:45Z").unwrap(), t);
        assert_eq!(parse_rfc3339("2024-05-07T20:33:45+00:00").unwrap(), t);
        assert_eq!(parse_rfc3339("2024-05-07T22:33:45+02:00").unwrap(), t);
        assert_eq!(parse_rfc3339("2024-05-07T13:03:45-07:30").unwrap(), t);
        assert_eq!(parse_rfc3339("2024-05-07 20:33:45").unwrap(), t);
        assert_eq!(
            parse_rfc3339("2024-05-07T20:33:45.123456789Z").unwrap(),
            at(1_715_114_025, 123_456_789)
        );
        assert_eq!(
            parse_rfc3339("2024-05-07T20:33:45.5Z").unwrap(),
            at(1_715_114_025, 500_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-05-08T00:33:45.25+04:00").unwrap(),
            at(1_715_114_025, 250_000_000)
        );
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for bad in [
            "",
            "yesterday",
            "2024-05-07",
            "2024-13-07T20:33:45Z",
            "2024-05-07T20:33:45+2:00",
            "2024-05-07T20:33:45+24:00",
            "2024-05-07T20:33:45+ab:cd",
            "1970-01-01T00:30:00+01:00",
            "2024-05-07T20:33:45Zjunk",
            "2024-05-07T20:33:45.Z",
            "2024-05-07T20:33:45ZZ",
            "2024-05-07T20:33:45Z+01:00",
            "2024-05-07T20:33:45.12x4Z",
            "ééééééééééééééééééééé",
        ] {
            let err = parse_rfc3339(bad).expect_err(bad);
            assert!(
                format!("{err:#}").contains("invalid RFC 3339 time"),
                "{bad}: {err:#}"
            );
        }
    }
}
