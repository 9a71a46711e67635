//! Variable interpolation in compose files, as the Compose specification defines it:
//! `$VAR`, `${VAR}`, `${VAR:-default}` (unset or empty), `${VAR-default}` (unset),
//! `${VAR:?error}` / `${VAR?error}` (refuse), `${VAR:+alt}` / `${VAR+alt}`, and `$$` for a
//! literal `$`. It applies to values only (never keys), before the file is read into types.
//!
//! Unlike a Dockerfile's substitution ([`crate::builder::expand`]) there is no quoting: a quote
//! is an ordinary character, and only `$$` escapes.

use anyhow::{bail, Result};
use std::collections::BTreeMap;

/// Replaces the variables in `text` with their values from `vars`; an unset variable without
/// a default is empty, and is reported through `missing` (compose warns about it).
pub fn interpolate(
    text: &str,
    vars: &BTreeMap<String, String>,
    missing: &mut dyn FnMut(&str),
) -> Result<String> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = closing_brace(body).ok_or_else(|| {
                anyhow::anyhow!("invalid interpolation format for {text:?}: a ${{ is never closed")
            })?;
            out.push_str(&braced(&body[..end], text, vars, missing)?);
            rest = &body[end + 1..];
        } else {
            let len = after
                .char_indices()
                .find(|(i, c)| {
                    !(c.is_ascii_alphanumeric() || *c == '_') || (*i == 0 && c.is_ascii_digit())
                })
                .map(|(i, _)| i)
                .unwrap_or(after.len());
            if len == 0 {
                // A lone `$` (before a space, a quote, the end) stays, as compose keeps it.
                out.push('$');
                rest = after;
                continue;
            }
            let name = &after[..len];
            out.push_str(&lookup(name, vars, missing));
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The index of the `}` that closes a `${`, allowing nested `${...}` in defaults.
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn lookup(name: &str, vars: &BTreeMap<String, String>, missing: &mut dyn FnMut(&str)) -> String {
    match vars.get(name) {
        Some(v) => v.clone(),
        None => {
            missing(name);
            String::new()
        }
    }
}

/// One `${...}`: the name and its operator.
fn braced(
    body: &str,
    whole: &str,
    vars: &BTreeMap<String, String>,
    missing: &mut dyn FnMut(&str),
) -> Result<String> {
    let name_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    let (name, op) = body.split_at(name_len);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        bail!("invalid interpolation format for {whole:?}: ${{{body}}} does not start with a variable name");
    }
    let value = vars.get(name);
    let set = value.is_some();
    let non_empty = value.is_some_and(|v| !v.is_empty());
    let arg = |skip: usize| interpolate(&op[skip..], vars, &mut |_| {});
    Ok(match op {
        "" => lookup(name, vars, missing),
        _ if op.starts_with(":-") => match value.filter(|_| non_empty) {
            Some(v) => v.clone(),
            None => arg(2)?,
        },
        _ if op.starts_with('-') => match value {
            Some(v) => v.clone(),
            None => arg(1)?,
        },
        _ if op.starts_with(":?") || op.starts_with('?') => {
            let (ok, skip) = if op.starts_with(':') {
                (non_empty, 2)
            } else {
                (set, 1)
            };
            if !ok {
                let msg = arg(skip)?;
                if msg.is_empty() {
                    bail!("required variable {name} is missing a value");
                }
                bail!("required variable {name} is missing a value: {msg}");
            }
            value.cloned().unwrap_or_default()
        }
        _ if op.starts_with(":+") => {
            if non_empty {
                arg(2)?
            } else {
                String::new()
            }
        }
        _ if op.starts_with('+') => {
            if set {
                arg(1)?
            } else {
                String::new()
            }
        }
        _ => bail!("invalid interpolation format for {whole:?}: unknown operator in ${{{body}}}"),
    })
}

/// Interpolates every string value of a YAML tree (not the keys), each error naming where.
pub fn interpolate_tree(
    value: &mut yaml_serde::Value,
    vars: &BTreeMap<String, String>,
    path: &str,
    missing: &mut dyn FnMut(&str),
) -> Result<()> {
    use yaml_serde::Value;
    match value {
        Value::String(s) => {
            *s = interpolate(s, vars, missing).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                interpolate_tree(v, vars, &format!("{path}[{i}]"), missing)?;
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = k
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{k:?}"));
                let p = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                interpolate_tree(v, vars, &p, missing)?;
            }
        }
        Value::Tagged(t) => interpolate_tree(&mut t.value, vars, path, missing)?,
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [("A", "1"), ("EMPTY", ""), ("NAME", "web")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn run(text: &str) -> Result<String> {
        interpolate(text, &vars(), &mut |_| {})
    }

    #[test]
    fn forms() {
        assert_eq!(run("x$A-${A}y").unwrap(), "x1-1y");
        assert_eq!(run("${UNSET:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY-d}").unwrap(), "");
        assert_eq!(run("${UNSET-d}").unwrap(), "d");
        assert_eq!(run("${A:+alt}${UNSET:+alt}").unwrap(), "alt");
        assert_eq!(run("$$A costs $$5").unwrap(), "$A costs $5");
        assert_eq!(run("${UNSET:-${NAME}-1}").unwrap(), "web-1");
        assert_eq!(run("a $ b").unwrap(), "a $ b");
    }

    #[test]
    fn required_and_bad() {
        let e = run("${UNSET:?set it please}").unwrap_err().to_string();
        assert!(e.contains("UNSET") && e.contains("set it please"), "{e}");
        assert!(run("${EMPTY:?x}").is_err());
        assert_eq!(run("${EMPTY?x}").unwrap(), "");
        assert!(run("${A").is_err());
        assert!(run("${1A}").is_err());
    }

    #[test]
    fn missing_is_reported() {
        let mut seen = Vec::new();
        let out =
            interpolate("$NOPE/${NOPE2}", &vars(), &mut |n| seen.push(n.to_string())).unwrap();
        assert_eq!(out, "/");
        assert_eq!(seen, vec!["NOPE", "NOPE2"]);
    }
}
