//! Container IDs and generated names.

use anyhow::{Context, Result};
use std::io::Read;

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
