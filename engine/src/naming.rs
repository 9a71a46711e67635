//! The one rule for names users give to containers, networks and volumes: Docker's
//! `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, which also keeps them safe as file names, interface-name
//! fragments and firewall-rule comments.

use anyhow::{bail, Result};

/// Checks `name` against Docker's restricted name pattern with a length of `min..=max`
/// characters; the error names the kind of thing (`container`, `network`, `volume`).
pub fn check(kind: &str, name: &str, min: usize, max: usize) -> Result<()> {
    let ok = (min..=max).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        let length = if min > 1 {
            format!("{min} to {max} characters")
        } else {
            format!("at most {max} characters")
        };
        bail!("invalid {kind} name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, {length}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn docker_pattern() {
        assert!(check("volume", "db-data_1.x", 2, 64).is_ok());
        assert!(check("volume", "a", 2, 64).is_err());
        assert!(check("container", "a", 1, 64).is_ok());
        for bad in ["", "-x", ".x", "a b", "a/b", "a:b", "é"] {
            assert!(check("volume", bad, 1, 64).is_err(), "{bad:?}");
        }
        let e = check("network", &"n".repeat(65), 1, 64).unwrap_err();
        assert!(e.to_string().contains("network"));
    }
}
