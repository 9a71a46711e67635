//! Word splitting and variable substitution as Docker does for `ENV`, `ARG`, `COPY`,
//! `WORKDIR` and friends: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}` (and the forms
//! without `:`), `${VAR:?message}`; single quotes are literal, double quotes allow
//! substitution, the escape character makes the next character literal.

use anyhow::{bail, Result};

/// Looks variables up (ENV values override ARG ones; the builder decides).
pub trait Vars {
    /// The value of `name`, if set.
    fn get(&self, name: &str) -> Option<String>;
}

impl Vars for [(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Vars for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        Vars::get(self.as_slice(), name)
    }
}

/// Splits on unquoted whitespace, keeping quotes and escapes in the words (they are
/// removed by [`expand`]).
pub fn split_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == escape && quote != Some('\'') {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
            in_word = true;
            continue;
        }
        match quote {
            Some(q) if c == q => {
                quote = None;
                cur.push(c);
            }
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                cur.push(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// Removes quotes and escapes from `word` and substitutes variables.
pub fn expand(word: &str, vars: &dyn Vars, escape: char) -> Result<String> {
    process(word, vars, escape, true)
}

/// Substitutes variables only (exec-form JSON words: their quotes are literal).
pub fn expand_vars(word: &str, vars: &dyn Vars, escape: char) -> Result<String> {
    process(word, vars, escape, false)
}

fn process(word: &str, vars: &dyn Vars, escape: char, quotes: bool) -> Result<String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        if quotes && quote == Some('\'') {
            if c == '\'' {
                quote = None;
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        if c == escape && i + 1 < chars.len() {
            let n = chars[i + 1];
            // Inside double quotes the escape only matters before `"`, `$` and itself.
            if quote == Some('"') && !matches!(n, '"' | '$') && n != escape {
                out.push(c);
            }
            out.push(n);
            i += 2;
            continue;
        }
        if quotes && (c == '"' || c == '\'') {
            match quote {
                Some(q) if q == c => quote = None,
                None => quote = Some(c),
                Some(_) => out.push(c),
            }
            i += 1;
            continue;
        }
        if c == '$' {
            i = substitute(&chars, i, vars, escape, &mut out)?;
            continue;
        }
        out.push(c);
        i += 1;
    }
    if quote.is_some() {
        bail!("unmatched quote in {word:?}");
    }
    Ok(out)
}

/// Handles a `$` at `chars[i]`; returns the index after the reference.
fn substitute(
    chars: &[char],
    i: usize,
    vars: &dyn Vars,
    escape: char,
    out: &mut String,
) -> Result<usize> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match chars.get(i + 1) {
        Some('{') => {
            let close = chars[i + 2..]
                .iter()
                .position(|&c| c == '}')
                .map(|p| p + i + 2);
            let Some(close) = close else {
                bail!(
                    "missing '}}' in {:?}",
                    chars[i..].iter().collect::<String>()
                );
            };
            let inner: String = chars[i + 2..close].iter().collect();
            let name_len = inner.chars().take_while(|&c| is_name(c)).count();
            let (name, op) = inner.split_at(name_len);
            if name.is_empty() {
                bail!("bad substitution: ${{{inner}}}");
            }
            let value = vars.get(name);
            let expanded = match op {
                "" => value.unwrap_or_default(),
                _ => {
                    let (op, word) = if let Some(w) = op.strip_prefix(":-") {
                        (":-", w)
                    } else if let Some(w) = op.strip_prefix(":+") {
                        (":+", w)
                    } else if let Some(w) = op.strip_prefix(":?") {
                        (":?", w)
                    } else if let Some(w) = op.strip_prefix('-') {
                        ("-", w)
                    } else if let Some(w) = op.strip_prefix('+') {
                        ("+", w)
                    } else if let Some(w) = op.strip_prefix('?') {
                        ("?", w)
                    } else {
                        bail!("unsupported modifier in ${{{inner}}}")
                    };
                    let word = process(word, vars, escape, false)?;
                    let set = value.is_some();
                    let nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
                    match op {
                        ":-" if nonempty => value.unwrap_or_default(),
                        ":-" => word,
                        "-" if set => value.unwrap_or_default(),
                        "-" => word,
                        ":+" if nonempty => word,
                        "+" if set => word,
                        ":+" | "+" => String::new(),
                        ":?" if nonempty => value.unwrap_or_default(),
                        "?" if set => value.unwrap_or_default(),
                        _ => bail!(
                            "{name}: {}",
                            if word.is_empty() {
                                "parameter not set".to_string()
                            } else {
                                word
                            }
                        ),
                    }
                }
            };
            out.push_str(&expanded);
            Ok(close + 1)
        }
        Some(&c) if is_name(c) => {
            let end = chars[i + 1..]
                .iter()
                .position(|&c| !is_name(c))
                .map_or(chars.len(), |p| p + i + 1);
            let name: String = chars[i + 1..end].iter().collect();
            out.push_str(&vars.get(&name).unwrap_or_default());
            Ok(end)
        }
        _ => {
            out.push('$');
            Ok(i + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vec<(String, String)> {
        vec![
            ("A".into(), "alpha".into()),
            ("EMPTY".into(), String::new()),
            ("B".into(), "two words".into()),
        ]
    }

    fn ex(w: &str) -> String {
        expand(w, &vars(), '\\').unwrap()
    }

    #[test]
    fn substitution_forms() {
        assert_eq!(ex("$A"), "alpha");
        assert_eq!(ex("${A}x"), "alphax");
        assert_eq!(ex("$A-x"), "alpha-x");
        assert_eq!(ex("${MISSING:-def}"), "def");
        assert_eq!(ex("${EMPTY:-def}"), "def");
        assert_eq!(ex("${EMPTY-def}"), "");
        assert_eq!(ex("${A:-def}"), "alpha");
        assert_eq!(ex("${A:+set}"), "set");
        assert_eq!(ex("${MISSING:+set}"), "");
        assert_eq!(ex("${MISSING:-$A}"), "alpha");
        assert_eq!(ex("/usr/$MISSING/bin"), "/usr//bin");
        assert_eq!(ex("cost: $"), "cost: $");
        assert!(expand("${MISSING:?must be set}", &vars(), '\\')
            .unwrap_err()
            .to_string()
            .contains("must be set"));
        assert!(expand("${A", &vars(), '\\').is_err());
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(ex("'$A'"), "$A");
        assert_eq!(ex("\"$B\""), "two words");
        assert_eq!(ex("\\$A"), "$A");
        assert_eq!(ex("a\\ b"), "a b");
        assert_eq!(ex("\"x\\\"y\""), "x\"y");
        assert_eq!(expand("`$A", &vars(), '`').unwrap(), "$A");
        assert_eq!(expand_vars("'$A'", &vars(), '\\').unwrap(), "'alpha'");
    }

    #[test]
    fn word_splitting_keeps_quotes() {
        assert_eq!(
            split_words("A=1 B=\"x y\"  C='p q' D=a\\ b", '\\'),
            vec!["A=1", "B=\"x y\"", "C='p q'", "D=a\\ b"]
        );
        assert!(split_words("   ", '\\').is_empty());
    }
}
