//! The labs' checks, one file per lab, and what they share.

pub mod lab01;
pub mod lab02;
pub mod lab03;
pub mod lab04;
pub mod lab05;
pub mod lab06;
pub mod lab07;
pub mod lab08;
pub mod lab09;
pub mod lab10;
pub mod lab11;
pub mod lab12;
pub mod lab13;
pub mod lab14;
pub mod lab15;
pub mod lab16;

use crate::context::Ctx;
use crate::lab::{Feature, Lab};
use anyhow::{Context, Result};
use pier_engine::container::events::{Action, Event};
use std::process::{Command, Stdio};

/// Every lab, in course order.
pub fn all() -> Vec<Lab> {
    vec![
        lab01::lab(),
        lab02::lab(),
        lab03::lab(),
        lab04::lab(),
        lab05::lab(),
        lab06::lab(),
        lab07::lab(),
        lab08::lab(),
        lab09::lab(),
        lab10::lab(),
        lab11::lab(),
        lab12::lab(),
        lab13::lab(),
        lab14::lab(),
        lab15::lab(),
        lab16::lab(),
    ]
}

/// What a lab's reset removes before the common part (containers, images, networks, the
/// lab's directory): lab 16's containerd and what its pods left on the host.
pub fn teardown(ctx: &Ctx, lab: &Lab) -> Result<Vec<String>> {
    match lab.number {
        16 => lab16::teardown(ctx),
        _ => Ok(Vec::new()),
    }
}

/// Restart policies and healthchecks (`pier run --restart`, `--health-cmd`).
pub const LIFECYCLE: Feature = Feature {
    name: "`pier run --restart/--health-cmd`",
    present: has_lifecycle,
};

/// `pier compose`.
pub const COMPOSE: Feature = Feature {
    name: "`pier compose`",
    present: has_compose,
};

/// The help of `pier ARGS --help`, if this build knows the command.
fn help(ctx: &Ctx, args: &[&str]) -> Option<String> {
    let out = Command::new(ctx.pier())
        .args(args)
        .arg("--help")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn has_lifecycle(ctx: &Ctx) -> bool {
    help(ctx, &["run"]).is_some_and(|h| h.contains("--restart") && h.contains("--health-cmd"))
}

fn has_compose(ctx: &Ctx) -> bool {
    help(ctx, &["compose"]).is_some()
}

/// Makes sure the `busybox` image exists (bootstrapped from the host's busybox-static).
pub fn ensure_busybox(ctx: &Ctx) -> Result<()> {
    let store = ctx.engine().images()?;
    if store.resolve("busybox").is_err() {
        pier_engine::image::bootstrap::bootstrap_busybox(&store, "busybox")
            .context("bootstrapping the busybox image (pier image bootstrap busybox)")?;
    }
    Ok(())
}

/// Whether `e` is pier sending `signal` (`SIGTERM`) to a container.
pub fn sent(e: &Event, signal: &str) -> bool {
    e.action == Action::Kill && e.signal.as_deref() == Some(signal)
}

/// Parses a number the student typed (`42`, `42.5`, `42%`, `42 ms`).
pub fn number(text: &str) -> Option<f64> {
    let t: String = text
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    t.parse().ok()
}

#[cfg(test)]
mod tests {
    use crate::text::{has_hangul, Tr};

    /// Every lab title, task title and hint has its Korean text, and the Korean keeps the
    /// commands of the English (the spans in backquotes) as they are. A hint that is only a
    /// `pier` command needs no translation and may be the same in both.
    #[test]
    fn every_title_and_hint_exists_in_both_languages() {
        let mut problems = Vec::new();
        let mut seen = 0;
        for lab in super::all() {
            let mut texts: Vec<(String, Tr)> =
                vec![(format!("lab {} title", lab.number), lab.title)];
            for t in &lab.tasks {
                texts.push((format!("lab {} task {} title", lab.number, t.id), t.title));
                texts.push((format!("lab {} task {} hint", lab.number, t.id), t.hint));
            }
            for (what, tr) in texts {
                seen += 1;
                let bare_command = tr.en.starts_with("pier ") && tr.ko == tr.en;
                if has_hangul(tr.en) {
                    problems.push(format!("{what}: the English text holds Korean"));
                }
                if !has_hangul(tr.ko) && !bare_command {
                    problems.push(format!("{what}: no Korean text ({:?})", tr.ko));
                }
                for code in tr.en.split('`').skip(1).step_by(2) {
                    if !tr.ko.contains(code) {
                        problems.push(format!("{what}: the Korean text lacks `{code}`"));
                    }
                }
            }
        }
        assert!(seen > 100, "only {seen} texts");
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
