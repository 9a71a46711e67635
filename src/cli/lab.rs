//! `pier lab`: the guided labs (list, start, check, hint, answer, reset). The labs and their
//! checks live in the `pier_labs` crate; this file only parses and prints.

use anyhow::{Context, Result};
use clap::Subcommand;
use pier_labs::{text, Ctx, Lab};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// `pier lab ...`.
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// List the labs with their progress.
    List,
    /// Prepare a clean setup for lab N (removes what an earlier attempt left).
    Start {
        /// Lab number.
        n: u32,
    },
    /// Check lab N against the machine's real state; exits 0 only when every task passes.
    Check {
        /// Lab number.
        n: u32,
        /// Check again every 2 seconds until every task passes.
        #[arg(long)]
        watch: bool,
    },
    /// Explain the first task of lab N that is not done yet.
    Hint {
        /// Lab number.
        n: u32,
    },
    /// Record a value the lab asks you to find (e.g. `pier lab answer 2 pid 12345`).
    Answer {
        /// Lab number.
        n: u32,
        /// What the value is (the lab text names it).
        key: String,
        /// The value you found.
        value: String,
    },
    /// Remove everything lab N made (containers, images, networks, files, answers).
    Reset {
        /// Lab number.
        n: u32,
    },
    /// Print lab N's working directory (for files you write: Dockerfile, env file, data).
    Dir {
        /// Lab number.
        n: u32,
    },
}

/// Runs a `pier lab` command.
pub fn lab(root: &Path, cmd: LabCommand) -> Result<i32> {
    let pier = std::env::current_exe().context("finding the pier binary")?;
    let ctx = Ctx::open(root, &pier)?;
    ctx.engine().reconcile()?;
    match cmd {
        LabCommand::List => {
            list(&ctx)?;
            Ok(0)
        }
        LabCommand::Start { n } => {
            let lab = pier_labs::find(n)?;
            pier_labs::start(&ctx, &lab)?;
            let lang = ctx.lang();
            writeln!(
                std::io::stdout(),
                "{}",
                text::ready(lang, n, lab.title.get(lang), lab.slug)
            )?;
            Ok(0)
        }
        LabCommand::Check { n, watch } => {
            let lab = pier_labs::find(n)?;
            pier_labs::available(&ctx, &lab)?;
            check(&ctx, &lab, watch)
        }
        LabCommand::Hint { n } => {
            let lab = pier_labs::find(n)?;
            pier_labs::available(&ctx, &lab)?;
            match pier_labs::hint(&ctx, &lab) {
                Some(h) => writeln!(std::io::stdout(), "{h}")?,
                None => writeln!(
                    std::io::stdout(),
                    "{}",
                    text::nothing_to_hint(ctx.lang(), n)
                )?,
            }
            Ok(0)
        }
        LabCommand::Answer { n, key, value } => {
            let lab = pier_labs::find(n)?;
            pier_labs::answer(&ctx, &lab, &key, &value)?;
            writeln!(
                std::io::stdout(),
                "{}",
                text::recorded(ctx.lang(), n, &key, &value)
            )?;
            Ok(0)
        }
        LabCommand::Reset { n } => {
            let lab = pier_labs::find(n)?;
            let removed = pier_labs::reset(&ctx, &lab)?;
            for r in &removed {
                writeln!(std::io::stdout(), "{}", text::removed(ctx.lang(), r))?;
            }
            writeln!(std::io::stdout(), "{}", text::reset_done(ctx.lang(), n))?;
            Ok(0)
        }
        LabCommand::Dir { n } => {
            let lab = pier_labs::find(n)?;
            let dir = ctx.workdir(lab.number);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            writeln!(std::io::stdout(), "{}", dir.display())?;
            Ok(0)
        }
    }
}

fn list(ctx: &Ctx) -> Result<()> {
    let progress = pier_labs::progress::Progress::load(ctx.root())?;
    writeln!(
        std::io::stdout(),
        "{:<4} {:<46} {:>6} {:>6}  STATUS",
        "LAB",
        "TITLE",
        "TIME",
        "TASKS"
    )?;
    for lab in pier_labs::all() {
        let status = match (lab.missing(ctx), progress.labs.get(&lab.number)) {
            (Some(f), _) => text::pending(ctx.lang(), f.name),
            (None, Some(p)) => text::status(
                ctx.lang(),
                pier_labs::current_score(ctx, &lab, &progress),
                p.started,
            ),
            (None, None) => String::new(),
        };
        // Pad by display width: a Korean syllable takes two terminal columns.
        let title = lab.title.get(ctx.lang());
        let pad = 46usize.saturating_sub(unicode_width::UnicodeWidthStr::width(title));
        writeln!(
            std::io::stdout(),
            "{:<4} {title}{:pad$} {:>4}min {:>6}  {}",
            lab.number,
            "",
            lab.minutes,
            lab.tasks.len(),
            status
        )?;
    }
    Ok(())
}

fn check(ctx: &Ctx, lab: &Lab, watch: bool) -> Result<i32> {
    let mut last = String::new();
    loop {
        let report = pier_labs::check(ctx, lab);
        let text = report.render(ctx.lang());
        if text != last {
            if watch && !last.is_empty() {
                writeln!(std::io::stdout(), "---")?;
            }
            write!(std::io::stdout(), "{text}")?;
            last = text;
        }
        if report.complete() {
            return Ok(0);
        }
        if !watch {
            return Ok(1);
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}
