//! Names and IDs: the one rule for names users give to containers, networks and volumes
//! (Docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, which also keeps them safe as file names,
//! interface-name fragments and firewall-rule comments), new random 64-hex-digit IDs, and the
//! Docker-style names (`brave_turing`) given to containers that have none.

use anyhow::{bail, Context, Result};
use std::io::Read;

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

/// A new random 64-hex-digit container ID.
pub fn new_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for a container ID")?;
    Ok(hex::encode(bytes))
}

const ADJECTIVES: &[&str] = &[
    "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry",
    "nimble", "proud", "quiet", "rapid", "sharp", "swift", "tender", "vivid", "witty", "zen",
];
const NOUNS: &[&str] = &[
    "babbage",
    "curie",
    "dijkstra",
    "engelbart",
    "feynman",
    "goldberg",
    "hopper",
    "kernighan",
    "lamport",
    "lovelace",
    "mccarthy",
    "noether",
    "pike",
    "ritchie",
    "shannon",
    "thompson",
    "torvalds",
    "turing",
    "wirth",
    "wozniak",
];

/// A Docker-style name (`brave_turing`) derived from the ID; `taken` decides collisions.
pub fn generate_name(id: &str, taken: impl Fn(&str) -> bool) -> String {
    let bytes = hex::decode(&id[..8.min(id.len())]).unwrap_or_default();
    let a = bytes.first().copied().unwrap_or(0) as usize % ADJECTIVES.len();
    let n = bytes.get(1).copied().unwrap_or(0) as usize % NOUNS.len();
    let base = format!("{}_{}", ADJECTIVES[a], NOUNS[n]);
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|i| format!("{base}{i}"))
        .find(|c| !taken(c))
        .unwrap_or(base)
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
