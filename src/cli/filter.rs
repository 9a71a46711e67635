//! `--filter KEY=VALUE` as Docker reads it for `ps`, `images`, `volume ls` and `network ls`:
//! values of the same key are ORed, different keys ANDed; an unknown key is an error. Also
//! `--label`/`-l` values and the `label=`/`label!=` filters of the prunes.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::collections::BTreeMap;

/// `-q`, `--filter` and `--format` of the listing commands (`ps`, `images`, `volume ls`,
/// `network ls`); each names its filter keys with `mut_arg("filters", ...)`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only IDs (names for volumes and networks).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Filter KEY=VALUE (repeatable: the same key ORed, different keys ANDed).
    #[arg(short = 'f', long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
    #[arg(long, help = super::format::HELP)]
    pub format: Option<String>,
}

/// Parsed `--filter` options.
#[derive(Debug, Default)]
pub struct Filters {
    by_key: BTreeMap<String, Vec<String>>,
}

impl Filters {
    /// Parses `KEY=VALUE` items, accepting only `keys` (the error lists them).
    pub fn parse(items: &[String], command: &str, keys: &[&str]) -> Result<Filters> {
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in items {
            let (k, v) = f
                .split_once('=')
                .with_context(|| format!("invalid filter {f:?}: expected KEY=VALUE"))?;
            if !keys.contains(&k) {
                bail!(
                    "invalid filter {f:?}: {command} filters are {}",
                    keys.join(", ")
                );
            }
            if k == "dangling" {
                bool_value(f, v)?;
            }
            by_key.entry(k.to_string()).or_default().push(v.to_string());
        }
        Ok(Filters { by_key })
    }

    /// Whether `key` was given.
    pub fn has(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    /// The values given for `key`.
    pub fn values(&self, key: &str) -> &[String] {
        self.by_key.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether the item passes `key`: true when the key was not given, otherwise when one of
    /// its values matches.
    pub fn pass(&self, key: &str, matches: impl Fn(&str) -> bool) -> bool {
        match self.by_key.get(key) {
            None => true,
            Some(values) => values.iter().any(|v| matches(v)),
        }
    }

    /// `label=KEY` / `label=KEY=VALUE`: every label filter must match (Docker ANDs labels).
    pub fn pass_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.values("label")
            .iter()
            .all(|want| label_matches(labels, want))
    }

    /// `dangling=true|false` against the item's dangling state.
    pub fn pass_dangling(&self, dangling: bool) -> bool {
        self.pass("dangling", |v| matches!(v, "true" | "1") == dangling)
    }

    /// `name=TEXT`: Docker matches names with a regular expression (a plain word is a
    /// substring match).
    pub fn pass_name(&self, name: &str) -> Result<bool> {
        for want in self.values("name") {
            let re = regex::Regex::new(want).with_context(|| {
                format!("invalid filter name={want:?}: not a regular expression")
            })?;
            if re.is_match(name) {
                return Ok(true);
            }
        }
        Ok(!self.has("name"))
    }
}

/// The `before=`/`since=` filters as creation times (RFC 3339 strings compare in time order).
#[derive(Debug, Default)]
pub struct CreatedWindow {
    before: Vec<String>,
    since: Vec<String>,
}

impl CreatedWindow {
    /// Whether an item created at `created` was made before every `before=` item and after
    /// every `since=` item.
    pub fn contains(&self, created: &str) -> bool {
        self.before.iter().all(|t| created < t.as_str())
            && self.since.iter().all(|t| created > t.as_str())
    }
}

impl Filters {
    /// Looks up the creation time of each `before=`/`since=` item with `created_of`.
    pub fn created_window(
        &self,
        created_of: impl Fn(&str) -> Result<String>,
    ) -> Result<CreatedWindow> {
        let times = |key: &str| -> Result<Vec<String>> {
            self.values(key).iter().map(|k| created_of(k)).collect()
        };
        Ok(CreatedWindow {
            before: times("before")?,
            since: times("since")?,
        })
    }
}

fn bool_value(f: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => bail!("invalid filter {f:?}: expected true or false"),
    }
}

/// `KEY` (present) or `KEY=VALUE` (equal) against a label map.
pub fn label_matches(labels: &BTreeMap<String, String>, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|got| got == v),
        None => labels.contains_key(want),
    }
}

/// Labels as `ps` and `ls` print them: `k=v,k2=v2`.
pub fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `--label KEY=VALUE` (or `KEY`, an empty value) options as a map; `flag` names the option in
/// errors.
pub fn parse_labels(items: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for l in items {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.is_empty() || k.contains(char::is_whitespace) {
            bail!("invalid label {l:?}: expected KEY=VALUE");
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// A prune's `label=KEY[=VALUE]` or `label!=KEY[=VALUE]` filter.
#[derive(Debug)]
pub struct LabelFilter {
    want: String,
    negate: bool,
}

impl LabelFilter {
    /// Parses one prune `--filter`.
    pub fn parse(text: &str) -> Result<LabelFilter> {
        let (negate, rest) = if let Some(r) = text.strip_prefix("label!=") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("label=") {
            (false, r)
        } else {
            bail!(
                "invalid filter {text:?}: prune filters are label=KEY[=VALUE] or label!=KEY[=VALUE]"
            );
        };
        if rest.split('=').next().unwrap_or("").is_empty() {
            bail!("invalid filter {text:?}: the label key is empty");
        }
        Ok(LabelFilter {
            want: rest.to_string(),
            negate,
        })
    }

    /// Whether an item with these labels is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        label_matches(labels, &self.want) != self.negate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(items: &[&str]) -> Filters {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        Filters::parse(&items, "ps", &["name", "label", "status", "dangling"]).unwrap()
    }

    #[test]
    fn same_key_ors_different_keys_and() {
        let flt = f(&["status=running", "status=exited", "name=web"]);
        assert!(flt.pass("status", |s| s == "exited"));
        assert!(!flt.pass("status", |s| s == "created"));
        assert!(flt.pass_name("my-web-1").unwrap());
        assert!(!flt.pass_name("db").unwrap());
        assert!(f(&[]).pass("status", |_| false));
    }

    #[test]
    fn labels() {
        let labels: BTreeMap<String, String> = [("tier".to_string(), "front".to_string())].into();
        assert!(f(&["label=tier"]).pass_labels(&labels));
        assert!(f(&["label=tier=front"]).pass_labels(&labels));
        assert!(!f(&["label=tier=back"]).pass_labels(&labels));
        assert!(!f(&["label=tier", "label=app"]).pass_labels(&labels));
        assert!(LabelFilter::parse("label!=app").unwrap().matches(&labels));
        assert!(LabelFilter::parse("name=x").is_err());
    }

    #[test]
    fn bad_filters() {
        let bad = |s: &str| Filters::parse(&[s.to_string()], "ps", &["name", "dangling"]);
        assert!(format!("{:#}", bad("colour=red").unwrap_err()).contains("\"colour=red\""));
        assert!(bad("name").is_err());
        assert!(bad("dangling=maybe").is_err());
        assert!(parse_labels(&["=x".to_string()]).is_err());
    }
}
