//! The Korean edition (book/ko/src, with labs/NN-*/lab.ko.md) has the same chapters as the
//! English one (book/src), in the same order; a translated page shows the same `pier` command
//! lines and the same includes as its English page; a page not yet translated is listed in
//! book/ko/UNTRANSLATED, is exactly a stub that includes the English page, and its title in
//! the Korean table of contents ends with " (영어)". Nothing is left out silently.
//!
//! Within a translated page, the sections must match too: every `##`/`###` section of the
//! English page has its Korean counterpart, in the same number, order and level, and each
//! pair shows the same code-block commands and links to the same places, and the Korean
//! section keeps every inline code of the English one (it may add its own, such as
//! `PIER_LANG=ko`). A paragraph added to the English edition only is caught when it brings a
//! heading, a command, a name or message in inline code, or a link with it.

use super::doc_check::{code_lines, pier_command};
use super::doc_sections::{sections, Section};
use std::path::{Component, Path, PathBuf};

/// Marks an untranslated chapter's title in the Korean SUMMARY.md.
const MARK: &str = " (영어)";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A SUMMARY.md line: a part heading, or a chapter (title, file).
#[derive(Debug, PartialEq)]
enum Entry {
    Part,
    Chapter(String, String),
}

fn summary(book_src: &Path) -> Vec<Entry> {
    let path = book_src.join("SUMMARY.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with("# ") {
            out.push(Entry::Part);
        } else if let Some(rest) = line.strip_prefix("- [").or(line.strip_prefix('[')) {
            let (title, link) = rest
                .split_once("](")
                .unwrap_or_else(|| panic!("{}: odd line {line:?}", path.display()));
            let link = link.trim_end_matches(')');
            out.push(Entry::Chapter(title.to_string(), link.to_string()));
        }
    }
    out
}

fn untranslated() -> Vec<String> {
    let path = root().join("book/ko/UNTRANSLATED");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// The exact text of the Korean page `rel` while it is not translated.
fn stub(rel: &str) -> String {
    let up = "../".repeat(Path::new(rel).components().count() + 1);
    format!(
        "> [!NOTE]\n> 이 장은 아직 한국어로 번역되지 않아 영어 원문을 싣습니다.\n\n{{{{#include {up}src/{rel}}}}}\n"
    )
}

/// `pier` command lines shown in a text, as words (comments and prompts dropped).
fn pier_commands(text: &str) -> Vec<Vec<String>> {
    code_lines(text)
        .into_iter()
        .filter_map(|(_, l)| pier_command(&l))
        .collect()
}

/// Removes `.` and `..` without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// The files a page includes, relative to the repository, with their anchors; a Korean lab
/// text (`lab.ko.md`) counts as the English one it translates.
fn includes(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap_or_default();
    let dir = page.parent().unwrap();
    text.split("{{#include ")
        .skip(1)
        .map(|part| {
            let spec = part.split("}}").next().unwrap().trim();
            let (file, anchor) = spec.split_once(':').unwrap_or((spec, ""));
            let target = normalize(&dir.join(file));
            let rel = target.strip_prefix(root()).unwrap_or(&target).to_path_buf();
            let rel = rel.to_string_lossy().replace("/lab.ko.md", "/lab.md");
            format!("{rel}:{anchor}")
        })
        .collect()
}

fn compare_commands(en: &Path, ko: &Path, problems: &mut Vec<String>) {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let (a, b) = (pier_commands(&read(en)), pier_commands(&read(ko)));
    if a != b {
        let only = |x: &[Vec<String>], y: &[Vec<String>]| {
            x.iter()
                .filter(|c| !y.contains(c))
                .map(|c| format!("`{}`", c.join(" ")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        problems.push(format!(
            "{} and {} show different pier commands (order or content); only in English: [{}]; only in Korean: [{}]",
            en.display(),
            ko.display(),
            only(&a, &b),
            only(&b, &a)
        ));
    }
}

/// Inline code of an English page that its Korean page rightly says otherwise:
/// (Korean page, span).
const KEPT_IN_OTHER_WORDS: &[(&str, &str)] = &[
    // "`#`으로 시작하는 주석" says `# comments` in Korean word order.
    ("labs/09-environment/lab.ko.md", "# comments"),
];

/// Compares two editions of a page section by section (see the module's documentation).
fn compare_sections(en: &Path, ko: &Path, problems: &mut Vec<String>) {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let (a, b) = (sections(&read(en)), sections(&read(ko)));
    let (en, ko) = (
        en.strip_prefix(root()).unwrap_or(en),
        ko.strip_prefix(root()).unwrap_or(ko),
    );
    let levels = |s: &[Section]| s.iter().map(|s| s.level).collect::<Vec<_>>();
    if levels(&a) != levels(&b) {
        let outline = |s: &[Section]| {
            s.iter()
                .skip(1)
                .map(|s| format!("    {}", s.label()))
                .collect::<Vec<_>>()
                .join("\n")
        };
        problems.push(format!(
            "{} has {} sections, {} has {} (## and ###, in order):\n  English:\n{}\n  Korean:\n{}",
            en.display(),
            a.len() - 1,
            ko.display(),
            b.len() - 1,
            outline(&a),
            outline(&b)
        ));
        return;
    }
    for (x, y) in a.iter().zip(&b) {
        let mut diffs = Vec::new();
        if x.commands != y.commands {
            let only = |p: &[String], q: &[String]| {
                let v: Vec<_> = p.iter().filter(|c| !q.contains(c)).cloned().collect();
                if v.is_empty() {
                    "(same lines, other order)".to_string()
                } else {
                    format!("`{}`", v.join("`, `"))
                }
            };
            diffs.push(format!(
                "code-block commands differ; only in English: {}; only in Korean: {}",
                only(&x.commands, &y.commands),
                only(&y.commands, &x.commands)
            ));
        }
        let missing: Vec<_> = x
            .code_spans
            .difference(&y.code_spans)
            .filter(|span| {
                !KEPT_IN_OTHER_WORDS
                    .iter()
                    .any(|(page, s)| ko.ends_with(page) && s == span)
            })
            // The checker's score line is in the reader's language (`점수 7/7`).
            .filter(|span| {
                span.strip_prefix("Score ")
                    .is_none_or(|n| !y.code_spans.contains(&format!("점수 {n}")))
            })
            .collect();
        if !missing.is_empty() {
            diffs.push(format!(
                "the Korean section lacks the English one's inline code {missing:?}"
            ));
        }
        if x.links != y.links {
            diffs.push(format!(
                "links differ; only in English: {:?}; only in Korean: {:?}",
                x.links.difference(&y.links).collect::<Vec<_>>(),
                y.links.difference(&x.links).collect::<Vec<_>>()
            ));
        }
        for d in diffs {
            problems.push(format!(
                "{} section {} / {} section {}: {d}",
                en.display(),
                x.label(),
                ko.display(),
                y.label()
            ));
        }
    }
}

#[test]
fn the_korean_edition_matches_the_english_one() {
    let en_src = root().join("book/src");
    let ko_src = root().join("book/ko/src");
    let en = summary(&en_src);
    let ko = summary(&ko_src);
    let todo = untranslated();
    let mut problems = Vec::new();

    let shape = |s: &[Entry]| -> Vec<Option<String>> {
        s.iter()
            .map(|e| match e {
                Entry::Part => None,
                Entry::Chapter(_, link) => Some(link.clone()),
            })
            .collect()
    };
    assert_eq!(
        shape(&en),
        shape(&ko),
        "book/ko/src/SUMMARY.md must list the same parts and chapter files, in the same order, as book/src/SUMMARY.md"
    );
    for t in &todo {
        if !ko
            .iter()
            .any(|e| matches!(e, Entry::Chapter(_, l) if l == t))
        {
            problems.push(format!(
                "book/ko/UNTRANSLATED lists {t}, which is no chapter"
            ));
        }
    }

    let mut translated = 0;
    for entry in &ko {
        let Entry::Chapter(title, rel) = entry else {
            continue;
        };
        let ko_page = ko_src.join(rel);
        let en_page = en_src.join(rel);
        let text = std::fs::read_to_string(&ko_page).unwrap_or_default();
        let listed = todo.contains(rel);
        let is_stub = text == stub(rel);
        match (listed, is_stub, title.ends_with(MARK)) {
            (true, true, true) => continue,
            (true, false, _) => problems.push(format!(
                "{} is listed in book/ko/UNTRANSLATED but is not the stub: remove it from the list once translated, else restore:\n{}",
                ko_page.display(),
                stub(rel)
            )),
            (true, true, false) => problems.push(format!(
                "untranslated {rel}: its title in book/ko/src/SUMMARY.md must end with {MARK:?}"
            )),
            (false, true, _) => problems.push(format!(
                "{} is a stub of the English page but is not listed in book/ko/UNTRANSLATED",
                ko_page.display()
            )),
            (false, false, true) => problems.push(format!(
                "translated {rel}: drop {MARK:?} from its title in book/ko/src/SUMMARY.md"
            )),
            (false, false, false) => {
                translated += 1;
                compare_commands(&en_page, &ko_page, &mut problems);
                compare_sections(&en_page, &ko_page, &mut problems);
                let (a, b) = (includes(&en_page), includes(&ko_page));
                if a != b {
                    problems.push(format!(
                        "{} includes {b:?}; its English page includes {a:?}",
                        ko_page.display()
                    ));
                }
            }
        }
    }

    // Korean lab texts: the same commands as the English ones, and included by the Korean book.
    for dir in std::fs::read_dir(root().join("labs")).unwrap().flatten() {
        let ko_text = dir.path().join("lab.ko.md");
        if !ko_text.exists() {
            continue;
        }
        compare_commands(&dir.path().join("lab.md"), &ko_text, &mut problems);
        compare_sections(&dir.path().join("lab.md"), &ko_text, &mut problems);
        let page = format!("labs/{}/lab.md", dir.file_name().to_string_lossy());
        if todo.contains(&page) {
            problems.push(format!(
                "{} exists but book/ko/UNTRANSLATED still lists {page}",
                ko_text.display()
            ));
        }
    }

    assert!(translated >= 1, "no translated page found in book/ko/src");
    assert!(
        problems.is_empty(),
        "the Korean edition differs from the English one:\n{}",
        problems.join("\n")
    );
}

#[test]
fn stubs_reach_the_english_page() {
    assert_eq!(
        stub("concepts/vms.md"),
        "> [!NOTE]\n> 이 장은 아직 한국어로 번역되지 않아 영어 원문을 싣습니다.\n\n{{#include ../../../src/concepts/vms.md}}\n"
    );
    for rel in untranslated() {
        let page = root().join("book/ko/src").join(&rel);
        let english = includes(&page);
        assert_eq!(english, [format!("book/src/{rel}:")], "{}", page.display());
    }
}
