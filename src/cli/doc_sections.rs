//! A Markdown page as a list of sections (`##` and `###` headings), each with what a
//! translation must keep as it is: the commands of its code blocks, its inline code, and the
//! targets of its links. Parsed with pulldown-cmark (the
//! workspace's Markdown parser, already used by the bench report), so that a `#` line inside
//! a code block is no heading and a heading's `{#id}` is no part of its title.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use std::collections::BTreeSet;

/// One section of a page: the text before the first `##`/`###` heading is section 0, with
/// level 1.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Section {
    /// 1 (the page's opening), 2 (`##`) or 3 (`###`).
    pub level: usize,
    /// The heading's text, without its `{#id}`.
    pub title: String,
    /// 1-based line of the heading.
    pub line: usize,
    /// Command lines of the section's code blocks, in order: the `$ ` lines of `console`
    /// blocks and every line of `bash`/`sh`/`shell` blocks, continuation lines joined,
    /// comments dropped, blanks collapsed, placeholders (`<host PID>`, which a translation
    /// translates) made `<…>`. Other blocks (output, files) may be translated.
    pub commands: Vec<String>,
    /// Inline code (`pier compose`, `not measured:`), as a set, white space collapsed and
    /// placeholders made `<…>`: names, commands and messages a translation keeps.
    pub code_spans: BTreeSet<String>,
    /// Link targets, as a set.
    pub links: BTreeSet<String>,
}

impl Section {
    /// `## title (line N)`, for messages.
    pub fn label(&self) -> String {
        if self.level == 1 {
            return "before the first heading".to_string();
        }
        format!(
            "{} {} (line {})",
            "#".repeat(self.level),
            self.title,
            self.line
        )
    }
}

/// The sections of a Markdown page.
pub(super) fn sections(text: &str) -> Vec<Section> {
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut out = vec![Section {
        level: 1,
        line: 1,
        ..Section::default()
    }];
    let mut in_heading = false;
    let mut block: Option<(String, String)> = None;
    let options = Options::ENABLE_HEADING_ATTRIBUTES | Options::ENABLE_TABLES;
    for (event, range) in Parser::new_ext(text, options).into_offset_iter() {
        let cur = out.len() - 1;
        match event {
            Event::Start(Tag::Heading { level, .. })
                if matches!(level, HeadingLevel::H2 | HeadingLevel::H3) =>
            {
                in_heading = true;
                out.push(Section {
                    level: if level == HeadingLevel::H2 { 2 } else { 3 },
                    line: line_of(range.start),
                    ..Section::default()
                });
            }
            Event::End(TagEnd::Heading(_)) => in_heading = false,
            Event::Start(Tag::CodeBlock(kind)) => {
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => {
                        info.split_whitespace().next().unwrap_or("").to_string()
                    }
                    CodeBlockKind::Indented => String::new(),
                };
                block = Some((lang, String::new()));
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((lang, body)) = block.take() {
                    out[cur].commands.extend(block_commands(&lang, &body));
                }
            }
            Event::Text(t) => match &mut block {
                Some((_, body)) => body.push_str(&t),
                None if in_heading => out[cur].title.push_str(&t),
                None => {}
            },
            Event::Code(c) => {
                if in_heading {
                    out[cur].title.push_str(&format!("`{c}`"));
                } else {
                    out[cur].code_spans.insert(placeholders(&squeeze(&c)));
                }
            }
            Event::Start(Tag::Link { dest_url, .. }) => {
                out[cur].links.insert(dest_url.to_string());
            }
            _ => {}
        }
    }
    out
}

/// The command lines of one code block (see [`Section::commands`]).
fn block_commands(lang: &str, body: &str) -> Vec<String> {
    let console = lang == "console";
    if !console && !matches!(lang, "bash" | "sh" | "shell") {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut pending: Option<String> = None;
    for raw in body.lines() {
        let line = raw.trim();
        let joined = match pending.take() {
            Some(p) => p + line,
            None if console => match line.strip_prefix("$ ") {
                Some(cmd) => cmd.to_string(),
                None => continue,
            },
            None => line.to_string(),
        };
        if let Some(head) = joined.strip_suffix('\\') {
            pending = Some(format!("{head} "));
            continue;
        }
        let cmd = placeholders(&squeeze(without_comment(&joined)));
        if !cmd.is_empty() && !cmd.starts_with("{{#include") {
            out.push(cmd);
        }
    }
    out
}

/// A shell line without its comment: a `#` that starts a word outside quotes.
fn without_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut word_start = true;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') if word_start => return &line[..i],
            _ => {}
        }
        word_start = quote.is_none() && c.is_whitespace();
    }
    line
}

/// Placeholders such as `<host PID>` or `<64 hex>` made `<…>`: a `<` followed by a word
/// character, up to the next `>` on the line. Redirections (`< file`, `<<EOF`, `2>&1`) stay.
fn placeholders(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find('<') {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let after = &tail[1..];
        let word = after.chars().next().is_some_and(char::is_alphanumeric);
        match after.find('>') {
            Some(end) if word && !after[..end].contains('<') => {
                out.push_str("<…>");
                rest = &after[end + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Runs of white space made one space, ends trimmed.
fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn a_page_splits_at_its_second_and_third_level_headings() {
    let page = "# Title\n\nText `pier ps -a` [a](a.md).\n\n\
        ```console\n$ pier run --rm \\\n    busybox true   # a comment\noutput\n## not a heading\n```\n\n\
        ## First {#first}\n\n```bash\necho '# kept' # dropped\n\n# only a comment\n```\n\n\
        ### `pier network` commands\n\n```text\npier shown as output\n```\n\n#### deeper\n\n[b](b.md#x)\n";
    let s = sections(page);
    let shape: Vec<_> = s
        .iter()
        .map(|s| (s.level, s.title.as_str(), s.line))
        .collect();
    assert_eq!(
        shape,
        [
            (1, "", 1),
            (2, "First", 12),
            (3, "`pier network` commands", 20)
        ]
    );
    assert_eq!(s[0].commands, ["pier run --rm busybox true"]);
    assert_eq!(s[0].code_spans.iter().collect::<Vec<_>>(), ["pier ps -a"]);
    assert_eq!(s[0].links.iter().collect::<Vec<_>>(), ["a.md"]);
    assert_eq!(s[1].commands, ["echo '# kept'"]);
    assert!(s[2].commands.is_empty(), "a text block is output");
    assert_eq!(s[2].links.iter().collect::<Vec<_>>(), ["b.md#x"]);
    assert_eq!(
        placeholders("kill -TERM <host PID> < in 2>&1 <<EOF <호스트 PID>"),
        "kill -TERM <…> < in 2>&1 <<EOF <…>"
    );
    assert_eq!(s[2].label(), "### `pier network` commands (line 20)");
}
