//! Parsing of the human units `pier run` accepts: sizes (`32m`, `1g`) and CPU counts (`0.5`).

use anyhow::{bail, Result};

/// Parses a size as Docker does: a number with an optional unit `b`, `k`, `m`, `g` (powers of
/// 1024, case-insensitive, an optional trailing `b` as in `32mb`).
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t
        .strip_suffix('b')
        .filter(|s| !s.is_empty() && s.ends_with(|c: char| c.is_ascii_alphabetic()))
        .unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        Some('b') => (&t[..t.len() - 1], 1),
        _ => (t, 1),
    };
    let value: f64 = match num.parse() {
        Ok(v) => v,
        Err(_) => bail!("invalid size {text:?}: expected a number with an optional unit b, k, m or g (for example 32m)"),
    };
    if !value.is_finite() || value <= 0.0 {
        bail!("invalid size {text:?}: must be greater than zero");
    }
    Ok((value * mult as f64) as u64)
}

/// Parses a `--cpus` value: a positive decimal number of CPUs.
pub fn parse_cpus(text: &str) -> Result<f64> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(_) => {
            bail!("invalid --cpus {text:?}: must be a number greater than 0 (for example 0.5)")
        }
        Err(_) => {
            bail!("invalid --cpus {text:?}: expected a decimal number of CPUs (for example 0.5)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32m").unwrap(), 32 << 20);
        assert_eq!(parse_size("32MB").unwrap(), 32 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("512k").unwrap(), 512 << 10);
        assert!(parse_size("12q").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("-1m").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("0.5").unwrap(), 0.5);
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("abc").is_err());
        assert!(parse_cpus("-2").is_err());
    }
}
