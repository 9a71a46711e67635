//! The Korean book (book/ko) as a reader sees it. Its pages carry `lang="ko"` and the Korean
//! style sheet (words kept whole), its figures are its own with Korean labels (the
//! hand-drawn ones in book/ko/src/img, the reference run's plots in book/ko/src/bench/plots,
//! drawn by `pier bench report results/latest --lang ko --plots-to ...`), and in a
//! browser its Hangul is drawn as glyphs, not as empty boxes: a bare Debian has no font with
//! Hangul, and `scripts/setup.sh test` installs one (fonts-nanum).
//!
//! The glyph check renders a built Korean page in headless Chromium twice: as built, and with
//! every Hangul syllable replaced by one syllable (가), which keeps every line break and
//! width. Without a Korean font every syllable is drawn as the same missing-glyph box, so the
//! two screenshots are the same; with one, the syllables' glyphs differ, so the screenshots
//! do. A negative control renders both again under a fontconfig that sees every installed
//! font except those covering Korean, and asserts that the check then fails.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pier_testkit::prereq::{require, tool};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The checkout (the root package's directory).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The page rendered: a translated chapter with prose, a table and code.
const PAGE: &str = "concepts/container.html";

/// Share of pixels that must differ between the page and its one-syllable twin when Hangul is
/// drawn (measured: 0.041 with Noto Sans CJK), and at most differ when it is not (measured:
/// none). Far apart, so neither font hinting nor a Chromium update moves a result across.
const DRAWN_MIN: f64 = 0.01;
const TOFU_MAX: f64 = 0.001;

fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

/// Builds `book` (a directory with a book.toml) into `dest`.
fn build_book(mdbook: &Path, book: &Path, dest: &Path) {
    let out = Command::new(mdbook)
        .arg("build")
        .arg(book)
        .arg("-d")
        .arg(dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mdbook build {}: {}",
        book.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the Korean edition into `dest` (the English edition's own build is not needed: the
/// untranslated pages include its sources, not its output).
fn build_korean_book(mdbook: &Path, dest: &Path) {
    build_book(mdbook, &repo().join("book/ko"), dest);
}

/// Font files fontconfig knows, optionally only those covering `lang`.
fn font_files(fc_list: &Path, lang: Option<&str>) -> Vec<PathBuf> {
    let mut cmd = Command::new(fc_list);
    if let Some(l) = lang {
        cmd.arg(format!(":lang={l}"));
    }
    let out = cmd.args(["--format", "%{file}\n"]).output().unwrap();
    assert!(out.status.success(), "fc-list failed");
    let mut files: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect();
    files.sort();
    files.dedup();
    files
}

/// A fontconfig configuration in `dir` that sees every installed font but those covering
/// Korean: the machine as a bare Debian would be.
fn fontconfig_without_korean(fc_list: &Path, dir: &Path) -> PathBuf {
    let korean = font_files(fc_list, Some("ko"));
    let fonts = dir.join("fonts");
    std::fs::create_dir_all(&fonts).unwrap();
    let mut kept = 0;
    for (i, f) in font_files(fc_list, None).iter().enumerate() {
        if korean.contains(f) {
            continue;
        }
        let name = format!("{i}-{}", f.file_name().unwrap().to_string_lossy());
        std::os::unix::fs::symlink(f, fonts.join(name)).unwrap();
        kept += 1;
    }
    assert!(
        kept > 0,
        "no font without Korean to render the control with"
    );
    let conf = dir.join("fonts.conf");
    std::fs::write(
        &conf,
        format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n\
             <fontconfig><dir>{}</dir><cachedir>{}</cachedir></fontconfig>\n",
            fonts.display(),
            dir.join("cache").display()
        ),
    )
    .unwrap();
    conf
}

/// A screenshot of `page` in headless Chromium (a fresh profile each time), under the
/// fontconfig file `fonts` when given.
fn screenshot(chromium: &Path, page: &Path, out: &Path, fonts: Option<&Path>) -> Vec<u8> {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("timeout");
    cmd.arg("120")
        .arg(chromium)
        .args([
            "--headless",
            // Root cannot use Chromium's sandbox; the page is the book's own.
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1000,1200",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", out.display()))
        .arg(format!("file://{}", page.display()));
    if let Some(f) = fonts {
        cmd.env("FONTCONFIG_FILE", f);
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success() && out.is_file(),
        "chromium --screenshot {}: {}",
        page.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    decode_rgba(out)
}

/// The pixels of a PNG as RGBA bytes.
fn decode_rgba(path: &Path) -> Vec<u8> {
    let mut decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => panic!("{}: unexpected colour type {other:?}", path.display()),
    }
}

/// Share of pixels that differ visibly (any channel by more than 32) between two images of
/// the same size.
fn differing(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "screenshots of different sizes");
    let pixels = a.len() / 4;
    let n = a
        .chunks(4)
        .zip(b.chunks(4))
        .filter(|(p, q)| p.iter().zip(q.iter()).any(|(x, y)| x.abs_diff(*y) > 32))
        .count();
    n as f64 / pixels as f64
}

/// Screenshots the page and its one-syllable twin; returns the share of pixels they differ in.
fn hangul_difference(chromium: &Path, book: &Path, shots: &Path, fonts: Option<&Path>) -> f64 {
    let tag = if fonts.is_some() { "control" } else { "real" };
    let page = book.join(PAGE);
    let twin = page.with_file_name("container-one-syllable.html");
    let a = screenshot(chromium, &page, &shots.join(format!("{tag}.png")), fonts);
    let b = screenshot(
        chromium,
        &twin,
        &shots.join(format!("{tag}-twin.png")),
        fonts,
    );
    differing(&a, &b)
}

#[test]
fn a_korean_page_draws_its_hangul() {
    let Some(mdbook) = require("mdbook", tool("mdbook")) else {
        return;
    };
    let Some(chromium) = require("chromium", tool("chromium")) else {
        return;
    };
    let Some(fc_list) = require("fc-list (fontconfig)", tool("fc-list")) else {
        return;
    };
    let korean = font_files(&fc_list, Some("ko"));
    let Some(_) = require(
        "a Korean font (fonts-nanum)",
        if korean.is_empty() {
            Err("fc-list :lang=ko lists no font")
        } else {
            Ok(())
        },
    ) else {
        return;
    };

    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("book");
    build_korean_book(&mdbook, &book);
    let html = std::fs::read_to_string(book.join(PAGE)).unwrap();
    let hangul = html.chars().filter(|&c| is_hangul(c)).count();
    assert!(hangul > 200, "{PAGE} has only {hangul} Hangul syllables");
    let twin: String = html
        .chars()
        .map(|c| if is_hangul(c) { '가' } else { c })
        .collect();
    std::fs::write(
        book.join(PAGE)
            .with_file_name("container-one-syllable.html"),
        twin,
    )
    .unwrap();
    let shots = dir.path().join("shots");
    std::fs::create_dir(&shots).unwrap();

    let real = hangul_difference(&chromium, &book, &shots, None);
    let conf = fontconfig_without_korean(&fc_list, &dir.path().join("control"));
    let control = hangul_difference(&chromium, &book, &shots, Some(&conf));
    eprintln!("pixels differing from the one-syllable twin: {real:.4} with the installed fonts, {control:.4} without Korean fonts");
    assert!(
        control <= TOFU_MAX,
        "the check cannot fail: without a Korean font the page still differs from its \
         one-syllable twin in {control:.4} of its pixels (at most {TOFU_MAX} expected)"
    );
    assert!(
        real >= DRAWN_MIN,
        "Hangul is not drawn: {PAGE} differs from the same page with every syllable replaced \
         by 가 in only {real:.4} of its pixels (at least {DRAWN_MIN} expected); \
         installed Korean fonts: {korean:?}"
    );
}

/// Every Korean page says it is Korean and links the style sheet that keeps Korean words
/// whole when a line breaks.
#[test]
fn korean_pages_are_marked_korean_and_keep_words_whole() {
    let Some(mdbook) = require("mdbook", tool("mdbook")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    build_korean_book(&mdbook, dir.path());
    let html = std::fs::read_to_string(dir.path().join(PAGE)).unwrap();
    assert!(
        html.contains("<html lang=\"ko\""),
        "{PAGE} is not lang=\"ko\""
    );
    let css = std::fs::read_dir(dir.path().join("css"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("korean") && n.ends_with(".css"))
        .expect("no css/korean*.css in the built Korean book");
    assert!(
        html.contains(&format!("css/{css}")),
        "{PAGE} does not link css/{css}"
    );
    let text = std::fs::read_to_string(dir.path().join("css").join(&css)).unwrap();
    let rule = text
        .split_once(":lang(ko)")
        .map(|(_, r)| r.split('}').next().unwrap_or(""))
        .unwrap_or("");
    assert!(
        rule.contains("word-break: keep-all"),
        "css/{css} has no `:lang(ko) {{ word-break: keep-all }}`"
    );
}

/// The sidebar of a built book (mdbook writes it into toc-<hash>.js).
fn sidebar(built: &Path) -> String {
    let toc = std::fs::read_dir(built)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("toc") && n.ends_with(".js")
        })
        .expect("no toc-*.js in the built book");
    std::fs::read_to_string(toc).unwrap()
}

/// Each edition's sidebar numbers a lab once, with the number `pier lab start` takes: no
/// running chapter number of mdbook's in front of the lab's own ("22. 1. Your first
/// container").
#[test]
fn sidebar_numbers_each_lab_once() {
    let Some(mdbook) = require("mdbook", tool("mdbook")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (edition, book) in [("en", "book"), ("ko", "book/ko")] {
        let built = dir.path().join(edition);
        build_book(&mdbook, &repo().join(book), &built);
        let toc = sidebar(&built);
        assert!(
            !toc.contains("<strong aria-hidden=\"true\">"),
            "{book}: the sidebar has mdbook's chapter numbers beside the labs' own"
        );
        for n in [1, 13, 15] {
            let link = format!("<a href=\"labs/{n:02}-");
            let entry = toc
                .split(&link)
                .nth(1)
                .unwrap_or_else(|| panic!("{book}: no sidebar entry for lab {n}"));
            let title = entry.split_once('>').unwrap().1;
            assert!(
                title.starts_with(&format!("{n}. ")),
                "{book}: lab {n}'s sidebar entry reads {:?}",
                &title[..title.len().min(40)]
            );
        }
    }
}

/// The text a built page shows for a lab's reference solution: the lines of solution.sh
/// between `ANCHOR: all` and `ANCHOR_END: all` (the inner anchors dropped), escaped as
/// mdbook escapes a code block's text (quotes stay as they are).
fn solution_as_html(solution: &Path) -> String {
    let text = std::fs::read_to_string(solution).unwrap();
    let body = text
        .split_once("# ANCHOR: all\n")
        .and_then(|(_, rest)| rest.split_once("# ANCHOR_END: all"))
        .unwrap_or_else(|| panic!("{}: no `all` anchor", solution.display()))
        .0;
    body.lines()
        .filter(|l| !l.trim_start().starts_with("# ANCHOR"))
        .map(|l| {
            l.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// On every lab page of both editions, the reference solution is folded away in a
/// `<details>` after the lab's whole text (its tasks, questions and answer key): a student
/// sees the script only by opening it.
#[test]
fn lab_solutions_are_folded_after_the_tasks() {
    let Some(mdbook) = require("mdbook", tool("mdbook")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut pages = 0;
    for (edition, book) in [("en", "book"), ("ko", "book/ko")] {
        let built = dir.path().join(edition);
        build_book(&mdbook, &repo().join(book), &built);
        for lab in std::fs::read_dir(repo().join("labs")).unwrap() {
            let lab = lab.unwrap().file_name().to_string_lossy().into_owned();
            let solution = repo().join("labs").join(&lab).join("solution.sh");
            if !solution.is_file() {
                continue;
            }
            let script = solution_as_html(&solution);
            let page = format!("{book}: labs/{lab}/lab.html");
            let html = std::fs::read_to_string(built.join(format!("labs/{lab}/lab.html")))
                .unwrap_or_else(|e| panic!("{page}: {e}"));
            let at = html
                .find(&script)
                .unwrap_or_else(|| panic!("{page}: the reference solution is not on the page"));
            let (before, after) = html.split_at(at);
            let open = before
                .rfind("<details>")
                .unwrap_or_else(|| panic!("{page}: the solution is not in a <details>"));
            assert!(
                !before[open..].contains("</details>") && after.contains("</details>"),
                "{page}: the solution is outside its <details>"
            );
            assert!(
                before[open..].contains("<summary>"),
                "{page}: the solution's <details> has no <summary>"
            );
            let rest = &after[after.find("</details>").unwrap()..];
            assert!(
                !rest.contains("<h2") && !rest.contains("<details>"),
                "{page}: lab text follows the solution (it belongs after the tasks)"
            );
            pages += 1;
        }
    }
    assert!(pages >= 30, "only {pages} lab pages checked");
}

/// In the browser, a Korean page's paragraphs keep their words whole: Chromium computes
/// `word-break: keep-all` for them (the page's lang="ko" and its style sheet together), read
/// back from the DOM Chromium dumps after a script on a copy of the page has written it there.
#[test]
fn a_korean_page_keeps_words_whole_in_the_browser() {
    let Some(mdbook) = require("mdbook", tool("mdbook")) else {
        return;
    };
    let Some(chromium) = require("chromium", tool("chromium")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("book");
    build_korean_book(&mdbook, &book);
    let html = std::fs::read_to_string(book.join(PAGE)).unwrap();
    let probe = "<script>document.body.setAttribute('data-word-break', \
                 getComputedStyle(document.querySelector('main p')).wordBreak);</script></body>";
    assert!(html.contains("</body>"), "{PAGE} has no </body>");
    let copy = book.join(PAGE).with_file_name("container-probe.html");
    std::fs::write(&copy, html.replacen("</body>", probe, 1)).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("timeout")
        .arg("120")
        .arg(&chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", copy.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium --dump-dom: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let value = dom
        .split_once("data-word-break=\"")
        .and_then(|(_, r)| r.split_once('"'))
        .map(|(v, _)| v.to_string())
        .unwrap_or_else(|| panic!("the probe wrote nothing into the DOM"));
    assert_eq!(
        value, "keep-all",
        "a paragraph of {PAGE} breaks lines with word-break: {value}"
    );
}

/// Image links of a markdown text: the targets of `![alt](target)`.
fn image_links(text: &str) -> Vec<String> {
    text.split("![")
        .skip(1)
        .filter_map(|rest| rest.split_once("](").map(|(_, t)| t))
        .filter_map(|t| t.split_once(')').map(|(t, _)| t.to_string()))
        .filter(|t| !t.starts_with("http"))
        .collect()
}

/// The figures of the Korean edition are its own, with Korean labels: every image a Korean
/// page shows (its own or through an include) is a file under book/ko/src, not the English
/// one, and an SVG's texts include Hangul.
#[test]
fn korean_figures_have_korean_labels() {
    let ko = repo().join("book/ko/src");
    let ko_real = ko.canonicalize().unwrap();
    let mut pages = vec![ko.clone()];
    let mut problems = Vec::new();
    let mut seen = 0;
    while let Some(p) = pages.pop() {
        if p.is_dir() {
            pages.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if p.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let mut text = std::fs::read_to_string(&p).unwrap();
        // An included English page's images resolve against the Korean page.
        for inc in text
            .split("{{#include ")
            .skip(1)
            .filter_map(|r| r.split_once("}}"))
            .map(|(f, _)| f.split(':').next().unwrap_or(f).trim().to_string())
            .collect::<Vec<_>>()
        {
            text.push_str(
                &std::fs::read_to_string(p.parent().unwrap().join(inc)).unwrap_or_default(),
            );
        }
        for link in image_links(&text) {
            seen += 1;
            let img = p.parent().unwrap().join(&link);
            let Ok(real) = img.canonicalize() else {
                problems.push(format!("{}: {link} does not exist", p.display()));
                continue;
            };
            if !real.starts_with(&ko_real) {
                problems.push(format!(
                    "{}: {link} is the English figure {}",
                    p.display(),
                    real.display()
                ));
            } else if real.extension().is_some_and(|e| e == "svg") {
                let svg = std::fs::read_to_string(&real).unwrap();
                if !svg.contains("<text") || !svg.chars().any(is_hangul) {
                    problems.push(format!("{}: no Korean label", real.display()));
                }
            }
        }
    }
    assert!(seen >= 4, "only {seen} figures found in book/ko/src");
    assert!(
        problems.is_empty(),
        "figures of the Korean edition:\n{}",
        problems.join("\n")
    );
}
