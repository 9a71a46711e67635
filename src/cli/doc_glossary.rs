//! One glossary for all Korean text: the book (book/ko/src), the lab texts (labs/*/lab.ko.md)
//! and the checker's Korean messages (labs/src, src). A variant the glossary
//! (book/ko/src/appendix/glossary.md) does not use is refused, with the term to use instead.

use regex::Regex;
use std::path::{Path, PathBuf};

/// A variant the Korean text must not use: (pattern, the glossary's term, an example the
/// pattern must catch).
const FORBIDDEN: &[(&str, &str, &str)] = &[
    ("검사기", "채점기 (checker)", "검사기가 기록을 읽습니다"),
    (
        r"(권한|능력)\s*\(capability\)|파일 능력",
        "케이퍼빌리티 (capability; 권한 is a permission)",
        "권한(capability)을 줄입니다",
    ),
    (
        r"게시(된|한|하는|할)?\s*포트|포트\s*게시",
        "포트 공개 / 공개된 포트 (publish)",
        "게시된 포트 규칙",
    ),
    ("생명주기", "생명 주기 (lifecycle)", "생명주기: 시그널"),
    (
        "준비물",
        "선행 실습 (a lab to do first) or 필요한 것 (tools)",
        "**준비물:** 실습 1",
    ),
    ("그제서야", "그제야", "그제서야 시작합니다"),
    (
        r"저장소\s*\(repository\)|저장소 간|저장소 이름|저장소마다|저장소 밖|저장소 `",
        "리포지토리 (repository; 저장소 is a store)",
        "저장소마다 사본을",
    ),
];

/// Terms the glossary's table must list (first column), so the test and the glossary agree.
const GLOSSARY_TERMS: &[&str] = &[
    "채점기",
    "케이퍼빌리티",
    "포트 공개",
    "생명 주기",
    "선행 실습",
    "리포지토리",
    "저장소",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Files that hold Korean text: Markdown of the Korean book and the labs, Rust sources of
/// the labs and the CLI (their Korean strings). This file is left out: it names the variants.
fn korean_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![
        root().join("book/ko/src"),
        root().join("labs"),
        root().join("src"),
    ];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            if p.is_dir() {
                if name != "target" {
                    stack.push(p);
                }
            } else if name == "lab.ko.md"
                || (p.starts_with(root().join("book/ko/src")) && name.ends_with(".md"))
                || (name.ends_with(".rs") && !p.ends_with("src/cli/doc_glossary.rs"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn has_hangul(s: &str) -> bool {
    s.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c))
}

#[test]
fn the_korean_text_uses_the_glossarys_terms() {
    let rules: Vec<(Regex, &str)> = FORBIDDEN
        .iter()
        .map(|(pat, term, example)| {
            let re = Regex::new(pat).unwrap();
            assert!(re.is_match(example), "{pat:?} must catch {example:?}");
            assert!(
                !re.is_match(term),
                "{pat:?} must not catch its own term {term:?}"
            );
            (re, *term)
        })
        .collect();
    let mut problems = Vec::new();
    let mut scanned = 0;
    for file in korean_files() {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if !has_hangul(&text) {
            continue;
        }
        scanned += 1;
        let rel = file
            .strip_prefix(root())
            .unwrap_or(&file)
            .display()
            .to_string();
        // A line break inside a phrase ("게시된\n포트") must not hide it.
        let joined = text.replace('\n', " ");
        for (re, term) in &rules {
            for m in re.find_iter(&joined) {
                let line = text[..m.start()].matches('\n').count() + 1;
                problems.push(format!("{rel}:{line}: {:?}: write {term}", m.as_str()));
            }
        }
    }
    assert!(scanned >= 20, "only {scanned} files with Korean text found");
    assert!(
        problems.is_empty(),
        "Korean text not in the glossary's terms (book/ko/src/appendix/glossary.md):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_glossary_lists_the_terms_the_text_must_use() {
    let path = root().join("book/ko/src/appendix/glossary.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let firsts: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .collect();
    for term in GLOSSARY_TERMS {
        assert!(
            firsts.iter().any(|f| f.contains(term)),
            "{} has no row for {term:?}",
            path.display()
        );
    }
}
