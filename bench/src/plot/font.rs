//! The font texts are drawn and measured with: the bundled DejaVu Sans for English, an
//! installed Korean font for Korean-labelled figures (DejaVu has no Hangul, and a bare Debian
//! has no font that does: `scripts/setup.sh test` installs fonts-nanum).
//!
//! The choice is per thread ([`korean`] returns a guard), so a Korean drawing and an English
//! one on two threads (parallel tests) never measure with each other's font.

use anyhow::{anyhow, Context, Result};
use plotters::prelude::FontStyle;
use std::cell::Cell;
use std::sync::OnceLock;

static DEJAVU: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
/// The English family, as SVGs name it.
const ENGLISH: &str = "sans-serif";

/// Korean fonts looked for, best first: (file, the family name SVGs give browsers). A
/// collection (.ttc) is read at its first face, which covers Hangul in every Noto CJK build.
const KOREAN_FONTS: &[(&str, &str)] = &[
    (
        "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
        "NanumGothic, Nanum Gothic, sans-serif",
    ),
    (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "Noto Sans CJK KR, sans-serif",
    ),
    (
        "/usr/share/fonts/truetype/noto/NotoSansKR-Regular.ttf",
        "Noto Sans KR, sans-serif",
    ),
];

thread_local! {
    static KOREAN: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// The family texts on this thread are drawn in.
pub fn family() -> &'static str {
    KOREAN.with(Cell::get).unwrap_or(ENGLISH)
}

/// Registers the bundled font once per process (a Korean font is registered by [`korean`]).
pub fn ensure() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(ENGLISH, FontStyle::Normal, DEJAVU).is_ok());
    if ok {
        Ok(())
    } else {
        Err(anyhow!("registering the bundled DejaVu Sans font failed"))
    }
}

/// The installed Korean font, registered once per process; its family name.
fn korean_family() -> Result<&'static str> {
    static FAMILY: OnceLock<std::result::Result<&'static str, String>> = OnceLock::new();
    FAMILY
        .get_or_init(|| {
            let Some((path, family)) = KOREAN_FONTS
                .iter()
                .find(|(p, _)| std::path::Path::new(p).is_file())
            else {
                return Err(format!(
                    "no Korean font for Korean-labelled plots: looked for {}; install fonts-nanum",
                    KOREAN_FONTS
                        .iter()
                        .map(|f| f.0)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            let bytes = std::fs::read(path)
                .with_context(|| format!("reading the Korean font {path}"))
                .map_err(|e| format!("{e:#}"))?;
            // plotters keeps registered fonts for the process: so does this one.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font(family, FontStyle::Normal, bytes)
                .map_err(|_| format!("{path} is not a font plotters can read"))?;
            Ok(*family)
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// Draws this thread's texts in the installed Korean font until the guard is dropped.
pub fn korean() -> Result<KoreanText> {
    let family = korean_family()?;
    let previous = KOREAN.with(|k| k.replace(Some(family)));
    Ok(KoreanText { previous })
}

/// While alive, this thread's plot texts are Korean-capable ([`korean`]).
#[must_use = "the Korean font is used only while the guard lives"]
pub struct KoreanText {
    previous: Option<&'static str>,
}

impl Drop for KoreanText {
    fn drop(&mut self) {
        KOREAN.with(|k| k.set(self.previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_korean_font_is_used_only_while_its_guard_lives() {
        assert_eq!(family(), ENGLISH);
        match korean() {
            Ok(guard) => {
                assert_ne!(family(), ENGLISH);
                drop(guard);
                assert_eq!(family(), ENGLISH);
            }
            Err(e) => assert!(e.to_string().contains("fonts-nanum"), "{e}"),
        }
    }
}
