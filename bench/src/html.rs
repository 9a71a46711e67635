//! `report.html`: the report in one file a browser opens, its figures embedded as SVG data
//! URIs (so the file still shows them when copied alone), tables styled for reading.
//!
//! The markdown is converted with pulldown-cmark, the CommonMark parser mdbook and rustdoc
//! use, so the HTML says exactly what `report.md` says.

use anyhow::{Context, Result};
use base64::Engine as _;
use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};
use std::path::Path;

const STYLE: &str = "\
body{font-family:'DejaVu Sans',sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;line-height:1.45;color:#222}\
table{border-collapse:collapse;margin:1em 0;font-size:0.88em}\
th,td{border:1px solid #ccc;padding:3px 7px;vertical-align:top}\
th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}\
img{max-width:100%;height:auto;border:1px solid #eee}\
code{background:#f4f4f4;padding:0 3px}h1,h2,h3{line-height:1.2}";

/// Converts `markdown` (whose images are relative to `dir`) into a standalone page.
pub fn render(markdown: &str, dir: &Path, title: &str) -> Result<String> {
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES);
    let mut events = Vec::new();
    for ev in parser {
        let ev = match ev {
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => Event::Start(Tag::Image {
                link_type,
                dest_url: embed(dir, &dest_url)?.map_or(dest_url, CowStr::from),
                title,
                id,
            }),
            e => e,
        };
        events.push(ev);
    }
    let mut body = String::new();
    html::push_html(&mut body, events.into_iter());
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        html_escape(title)
    ))
}

/// A `data:` URI of the SVG at `url` (relative to `dir`); `None` for other images.
fn embed(dir: &Path, url: &str) -> Result<Option<String>> {
    if !url.ends_with(".svg") || url.contains("://") || url.starts_with('/') {
        return Ok(None);
    }
    let path = dir.join(url);
    let svg = std::fs::read(&path).with_context(|| format!("embedding {}", path.display()))?;
    Ok(Some(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    )))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Writes `report.html` next to `report.md` in `dir`.
pub fn write(dir: &Path, markdown: &str, title: &str) -> Result<std::path::PathBuf> {
    let out = dir.join("report.html");
    let page = render(markdown, dir, title)?;
    pier_oci::persist::write_atomic(&out, page.as_bytes())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeds_svgs_and_renders_tables() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plots")).unwrap();
        let svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"></svg>";
        std::fs::write(dir.path().join("plots/a.svg"), svg).unwrap();
        let md = "# T\n\n![a figure](plots/a.svg)\n\n([PNG](plots/a.png))\n\n| x | y |\n| --- | ---: |\n| 1 | 2 |\n";
        let html = render(md, dir.path(), "T <run>").unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(svg);
        assert!(
            html.contains(&format!("src=\"data:image/svg+xml;base64,{b64}\"")),
            "{html}"
        );
        assert!(html.contains("alt=\"a figure\""));
        assert!(html.contains("href=\"plots/a.png\""));
        assert!(
            html.contains("<table>") && html.contains("<td style=\"text-align: right\">2</td>"),
            "{html}"
        );
        assert!(html.contains("<title>T &lt;run&gt;</title>"));
        // A missing figure is an error naming the file, not a broken page.
        let err = render("![x](plots/missing.svg)", dir.path(), "T").unwrap_err();
        assert!(format!("{err:#}").contains("missing.svg"));
    }
}
