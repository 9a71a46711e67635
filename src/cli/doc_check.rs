//! Every `pier ...` command shown in the book and the labs parses with the real clap
//! definitions, none skipped.

use super::Cli;
use clap::Parser;
use std::path::{Path, PathBuf};

/// Markdown files to scan: both editions of the book (English in book/src, Korean in
/// book/ko/src) and every lab text (lab.md, lab.ko.md).
fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut stack = vec![
        root.join("book/src"),
        root.join("book/ko/src"),
        root.join("labs"),
    ];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                if !p.ends_with("labs/src") && !p.ends_with("target") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "md") && !p.ends_with("reference/cli.md") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Command lines of fenced code blocks, continuation lines (`\`) joined, with their line
/// numbers. In `console` blocks only lines after a `$ ` prompt are commands (the others are
/// output); in other blocks every line is.
pub(super) fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_code = false;
    let mut console = false;
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some(lang) = t.strip_prefix("```") {
            in_code = !in_code;
            console = in_code && lang.trim() == "console";
            continue;
        }
        if !in_code || (console && pending.is_none() && !t.starts_with("$ ")) {
            continue;
        }
        let (n, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
        joined.push_str(t);
        if let Some(stripped) = joined.strip_suffix('\\') {
            pending = Some((n, format!("{stripped} ")));
        } else {
            out.push((n, joined));
        }
    }
    out
}

/// Splits a shell line into words, honouring quotes and `$(...)`, and stops at the first
/// unquoted `|`, `;`, `&`, `>`, `<` or `#` (the rest belongs to other programs).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                has = true;
                for d in chars.by_ref() {
                    if d == '\'' {
                        break;
                    }
                    cur.push(d);
                }
            }
            '"' => {
                has = true;
                while let Some(d) = chars.next() {
                    match d {
                        '"' => break,
                        '\\' => {
                            if let Some(e) = chars.next() {
                                cur.push(e);
                            }
                        }
                        _ => cur.push(d),
                    }
                }
            }
            '$' if chars.peek() == Some(&'(') => {
                // A command substitution stands for one value.
                let mut depth = 0;
                for d in chars.by_ref() {
                    match d {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                cur.push_str("VALUE");
                has = true;
            }
            '|' | ';' | '&' | '>' | '<' | '#' if !has || c != '#' => {
                // `2>` or `1<`: the digits name the redirected descriptor, not an argument.
                let fd = matches!(c, '>' | '<') && cur.chars().all(|d| d.is_ascii_digit());
                if has && !fd {
                    words.push(std::mem::take(&mut cur));
                }
                return words;
            }
            c if c.is_whitespace() => {
                if has {
                    words.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has {
        words.push(cur);
    }
    words
}

/// The `pier` command a code line shows, if it shows one: `$ pier ...`, `pier ...`,
/// `time pier ...`, `sudo pier ...`.
pub(super) fn pier_command(line: &str) -> Option<Vec<String>> {
    let mut l = line.trim();
    l = l.strip_prefix("$ ").unwrap_or(l).trim_start();
    for p in ["sudo ", "time "] {
        l = l.strip_prefix(p).unwrap_or(l).trim_start();
    }
    if !l.starts_with("pier ") {
        return None;
    }
    Some(shell_words(l))
}

#[test]
fn every_pier_command_in_the_docs_parses() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for (n, line) in code_lines(&text) {
            let Some(words) = pier_command(&line) else {
                continue;
            };
            checked += 1;
            if let Err(e) = Cli::try_parse_from(&words) {
                if !matches!(
                    e.kind(),
                    clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                ) {
                    failures.push(format!(
                        "{}:{n}: `{line}`\n    {}",
                        doc.display(),
                        e.to_string().lines().next().unwrap_or("")
                    ));
                }
            }
        }
    }
    eprintln!("checked {checked} pier commands");
    assert!(
        checked > 50,
        "only {checked} pier commands found in the docs"
    );
    assert!(
        failures.is_empty(),
        "commands that do not parse:\n{}",
        failures.join("\n")
    );
}

#[test]
fn shell_words_split_like_a_shell() {
    assert_eq!(
        shell_words("pier run --name a busybox sh -c 'echo $X; exit 3' | tail"),
        [
            "pier",
            "run",
            "--name",
            "a",
            "busybox",
            "sh",
            "-c",
            "echo $X; exit 3"
        ]
    );
    assert_eq!(
        shell_words("pier lab answer 2 pid $(pier inspect -f x lab2-box) # note"),
        ["pier", "lab", "answer", "2", "pid", "VALUE"]
    );
    // A redirection's descriptor number is not an argument.
    assert_eq!(
        shell_words("pier system service --socket \"$PWD/s\" 2> log &"),
        ["pier", "system", "service", "--socket", "$PWD/s"]
    );
    assert_eq!(
        pier_command("$ time pier ps -a"),
        Some(vec!["pier".into(), "ps".into(), "-a".into()])
    );
    assert_eq!(pier_command("echo pier"), None);
}

/// A Dockerfile a lab text shows is the one its reference solution builds.
#[test]
fn lab_dockerfiles_match_their_solutions() {
    let labs = Path::new(env!("CARGO_MANIFEST_DIR")).join("labs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&labs).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path().join("lab.md")).unwrap_or_default();
        let solution =
            std::fs::read_to_string(entry.path().join("solution.sh")).unwrap_or_default();
        for block in text.split("```dockerfile\n").skip(1) {
            let body = block.split("```").next().unwrap();
            assert!(
                solution.contains(body),
                "{}: the Dockerfile in lab.md differs from solution.sh",
                entry.path().display()
            );
            seen += 1;
        }
    }
    assert!(seen > 0);
}

/// Every relative link in the book and the lab texts points at a file that exists, from
/// where the file is and, for lab texts, also from the book page that includes them.
#[test]
fn relative_links_resolve() {
    let mut broken = Vec::new();
    let mut seen = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let dir = doc.parent().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        // A lab text is also rendered from book/src/labs/<slug>/lab.md (the Korean one from
        // book/ko/src/labs/<slug>/lab.md).
        let mut dirs = vec![dir.to_path_buf()];
        if let Ok(rel) = dir.strip_prefix(root.join("labs")) {
            let book = if doc.ends_with("lab.ko.md") {
                "book/ko/src/labs"
            } else {
                "book/src/labs"
            };
            dirs.push(root.join(book).join(rel));
        }
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let path = target.split('#').next().unwrap();
            seen += 1;
            for d in &dirs {
                if !d.join(path).exists() {
                    broken.push(format!(
                        "{} (from {}): {target}",
                        doc.display(),
                        d.display()
                    ));
                }
            }
        }
    }
    assert!(seen > 20, "only {seen} relative links found");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Every `{{#include FILE[:ANCHOR]}}` in the book names a file that exists and, when given,
/// an anchor that file defines (mdbook itself only warns about a missing include).
#[test]
fn book_includes_resolve() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = vec![root.join("book/src"), root.join("book/ko/src")];
    let mut seen = 0;
    let mut broken = Vec::new();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "md") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            for part in text.split("{{#include ").skip(1) {
                let spec = part.split("}}").next().unwrap().trim();
                let (file, anchor) = match spec.split_once(':') {
                    Some((f, a)) => (f, Some(a)),
                    None => (spec, None),
                };
                seen += 1;
                let target = dir.join(file);
                let Ok(body) = std::fs::read_to_string(&target) else {
                    broken.push(format!("{}: {spec}: no such file", p.display()));
                    continue;
                };
                if let Some(a) = anchor {
                    if !body.contains(&format!("ANCHOR: {a}"))
                        || !body.contains(&format!("ANCHOR_END: {a}"))
                    {
                        broken.push(format!("{}: {spec}: no anchor {a}", p.display()));
                    }
                }
            }
        }
    }
    assert!(seen >= 20, "only {seen} includes found");
    assert!(broken.is_empty(), "broken includes:\n{}", broken.join("\n"));
}
