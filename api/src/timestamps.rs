//! The times Docker's API takes in `since`, `until` and the `until` filter: Unix seconds with
//! an optional fraction (`1700000000.5`, what the docker CLI sends after converting its
//! `--since 10m`), an RFC 3339 date, or a duration back from now (`10m`, `1h30m`).

use crate::error::ApiError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses `text` for the parameter `what`; 400 naming it when it is none of the forms.
pub fn parse_time(text: &str, what: &str) -> Result<SystemTime, ApiError> {
    let text = text.trim();
    if let Some(t) = unix_seconds(text) {
        return Ok(t);
    }
    if let Ok(t) = pier_oci::time::parse_rfc3339(text) {
        return Ok(t);
    }
    if let Ok(d) = humantime::parse_duration(text) {
        return Ok(SystemTime::now() - d);
    }
    Err(ApiError::bad_request(format!(
        "invalid {what} {text:?}: give Unix seconds (1700000000.5), an RFC 3339 time or a duration such as 10m"
    )))
}

fn unix_seconds(text: &str) -> Option<SystemTime> {
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    Some(UNIX_EPOCH + Duration::new(secs.parse().ok()?, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_forms() {
        assert_eq!(
            parse_time("1700000000.5", "since").unwrap(),
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_500)
        );
        assert_eq!(
            parse_time("1700000000", "since").unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", "since").unwrap(),
            UNIX_EPOCH + Duration::from_secs(1_700_000_000)
        );
        let ago = SystemTime::now().duration_since(parse_time("10m", "until").unwrap());
        assert!(ago.unwrap() >= Duration::from_secs(599));
        let e = parse_time("yesterday", "since").unwrap_err();
        assert!(e.message.contains("invalid since"), "{}", e.message);
    }
}
