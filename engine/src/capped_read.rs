//! Reading a whole input that a user or an image provides, with a ceiling on its size, so a
//! hostile file cannot make pier read gigabytes into memory before it is parsed.

use anyhow::{bail, Context, Result};
use std::io::Read;

/// Reads `input` (named `what` in errors) as text, refusing it if it is larger than `max`
/// bytes (the error says the limit and what it is for: `kind`).
pub fn read_to_string_capped(input: impl Read, max: u64, what: &str, kind: &str) -> Result<String> {
    let mut text = String::new();
    input
        .take(max + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {what}"))?;
    if text.len() as u64 > max {
        bail!(
            "{what}: larger than the limit of {} MiB for {kind}",
            max >> 20
        );
    }
    Ok(text)
}
