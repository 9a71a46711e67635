//! `--format` as Docker reads it: empty or `table` (the default table), `json` (one JSON
//! object a line), `table TEMPLATE` (a header row, then one row per item, tab-aligned), or a
//! Go template printed once per item.

pub mod template;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use template::Template;

/// What `--format` asked for.
#[derive(Debug)]
pub enum Format {
    /// The command's own table (no `--format`, or `--format table`).
    Default,
    /// `--format json`.
    Json,
    /// A Go template, one rendering per item; `table` adds the header row and aligns columns.
    Template {
        /// The parsed template (after `table`, with `\t` and `\n` made real).
        template: Template,
        /// `table ...`.
        table: bool,
    },
}

/// A help text for `--format` options.
pub const HELP: &str =
    "Format output: table, json, table TEMPLATE or a Go template ({{.Names}}, {{json .Config}})";

impl Format {
    /// Reads a `--format` value (`None`: the default table).
    pub fn parse(text: Option<&str>) -> Result<Format> {
        let Some(text) = text else {
            return Ok(Format::Default);
        };
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed == "table" {
            return Ok(Format::Default);
        }
        if trimmed == "json" {
            return Ok(Format::Json);
        }
        if !trimmed.contains("{{") {
            // Go would print it as is for every item: surely a mistyped format name.
            bail!("--format {text:?}: use table, json or a Go template such as '{{{{.Names}}}}'");
        }
        let (table, body) = match trimmed.strip_prefix("table") {
            Some(rest) if rest.starts_with(char::is_whitespace) => (true, rest.trim()),
            _ => (false, trimmed),
        };
        // Docker makes the two-character `\t` and `\n` of a shell string real (formatter.go).
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let template = Template::parse(&body).with_context(|| format!("--format {text:?}"))?;
        Ok(Format::Template { template, table })
    }

    /// Whether the command's own output applies.
    pub fn is_default(&self) -> bool {
        matches!(self, Format::Default)
    }

    /// Prints `items` in this format. `headers` maps each field to its table column title
    /// (for `table` templates); helper keys (`Label`) are left out of `json`.
    pub fn print(&self, items: &[Value], headers: &[(&str, &str)]) -> Result<()> {
        print!("{}", self.render(items, headers)?);
        Ok(())
    }

    /// Prints what an `inspect` command found: the JSON array (default and `json`), or the
    /// template rendered once per object.
    pub fn print_inspect(&self, items: &[Value]) -> Result<()> {
        match self {
            Format::Default | Format::Json => {
                println!("{}", serde_json::to_string_pretty(items)?)
            }
            Format::Template { template, .. } => {
                let mut out = String::new();
                for item in items {
                    out.push_str(&template.render(item)?);
                    out.push('\n');
                }
                print!("{out}");
            }
        }
        Ok(())
    }

    /// The text [`Format::print`] prints.
    pub fn render(&self, items: &[Value], headers: &[(&str, &str)]) -> Result<String> {
        let mut out = String::new();
        match self {
            Format::Default => {}
            Format::Json => {
                for item in items {
                    let mut item = item.clone();
                    if let Some(m) = item.as_object_mut() {
                        m.remove("Label");
                    }
                    out.push_str(&serde_json::to_string(&item)?);
                    out.push('\n');
                }
            }
            Format::Template { template, table } => {
                let mut text = String::new();
                if *table {
                    let header: serde_json::Map<String, Value> = headers
                        .iter()
                        .map(|(k, h)| (k.to_string(), Value::String(h.to_string())))
                        .collect();
                    text.push_str(&template.render(&Value::Object(header))?);
                    text.push('\n');
                }
                for item in items {
                    text.push_str(&template.render(item)?);
                    text.push('\n');
                }
                out = if *table { align(&text) } else { text };
            }
        }
        Ok(out)
    }
}

/// Aligns tab-separated cells as Docker's tabwriter does (minimum width 10, padding 3): a
/// column is as wide as its widest cell plus three; the last cell of a line is not padded.
pub fn align(text: &str) -> String {
    const MIN_WIDTH: usize = 10;
    const PADDING: usize = 3;
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        for (i, c) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            let w = (c.chars().count() + PADDING).max(MIN_WIDTH);
            if widths.len() <= i {
                widths.push(w);
            } else {
                widths[i] = widths[i].max(w);
            }
        }
    }
    lines
        .iter()
        .map(|cells| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(c);
                } else {
                    s.push_str(&format!("{c:<w$}", w = widths[i]));
                }
            }
            s
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_template_has_a_header_and_aligned_columns() {
        let f = Format::parse(Some(r"table {{.Names}}\t{{.Status}}")).unwrap();
        let rows = [
            json!({"Names": "web", "Status": "Up 2 seconds"}),
            json!({"Names": "a-much-longer-name", "Status": "Exited (0)"}),
        ];
        let out = f
            .render(&rows, &[("Names", "NAMES"), ("Status", "STATUS")])
            .unwrap();
        assert_eq!(
            out,
            "NAMES                STATUS\nweb                  Up 2 seconds\na-much-longer-name   Exited (0)\n"
        );
    }

    #[test]
    fn short_columns_are_ten_wide() {
        assert_eq!(align("ID\tX\n1\tY\n"), "ID        X\n1         Y\n");
    }

    #[test]
    fn plain_template_is_one_line_per_item() {
        let f = Format::parse(Some("{{.Names}}")).unwrap();
        let rows = [json!({"Names": "a"}), json!({"Names": "b"})];
        assert_eq!(f.render(&rows, &[]).unwrap(), "a\nb\n");
    }

    #[test]
    fn json_is_one_object_per_line_without_helpers() {
        let f = Format::parse(Some("json")).unwrap();
        let rows = [json!({"Names": "a", "Label": {"k": "v"}})];
        assert_eq!(f.render(&rows, &[]).unwrap(), "{\"Names\":\"a\"}\n");
    }

    #[test]
    fn default_forms() {
        assert!(Format::parse(None).unwrap().is_default());
        assert!(Format::parse(Some("table")).unwrap().is_default());
        assert!(Format::parse(Some("")).unwrap().is_default());
        let e = Format::parse(Some("{{.Names")).unwrap_err();
        assert!(format!("{e:#}").contains("unclosed action"), "{e:#}");
        let e = Format::parse(Some("xml")).unwrap_err();
        assert!(format!("{e:#}").contains("\"xml\""), "{e:#}");
    }
}
