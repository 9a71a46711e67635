//! pier's guided labs and their checker.
//!
//! Each lab lives in `labs/NN-slug/` (the text, `lab.md`, and the reference solution,
//! `solution.sh`) and has its checks here, in [`labs`] (one file per lab). A check reads the
//! real state of the machine — container records through the engine, `/proc/<pid>/ns/*`, the
//! container's cgroup files, network interfaces, the image store — never the commands the
//! student typed.
//!
//! The `pier lab` command is a thin layer over [`all`], [`start()`], [`check()`],
//! [`hint()`], [`answer()`] and [`reset()`].

pub mod context;
pub mod daemon;
pub mod evidence;
pub mod lab;
pub mod labs;
pub mod probe;
pub mod progress;
pub mod report;
pub mod reset;
pub mod text;

pub use context::Ctx;
pub use lab::{Feature, Lab, Outcome, Task};
pub use report::{Report, TaskResult, TaskStatus};

use anyhow::{bail, Result};

/// Every lab, in course order.
pub fn all() -> Vec<Lab> {
    labs::all()
}

/// The lab numbered `number`.
pub fn find(number: u32) -> Result<Lab> {
    match all().into_iter().find(|l| l.number == number) {
        Some(l) => Ok(l),
        None => bail!(
            "{}",
            text::no_such_lab(text::Lang::from_env(), number, all().len())
        ),
    }
}

/// Fails, saying which feature, when `lab` needs something this build of pier lacks.
pub fn available(ctx: &Ctx, lab: &Lab) -> Result<()> {
    match lab.missing(ctx) {
        Some(f) => bail!("{}", text::pending_lab(ctx.lang(), lab.number, f.name)),
        None => Ok(()),
    }
}

/// Prepares a clean setup for `lab`: removes what an earlier attempt left, then runs the
/// lab's own preparation and records the start in the progress file. A lab whose feature
/// this build lacks is refused.
pub fn start(ctx: &Ctx, lab: &Lab) -> Result<()> {
    available(ctx, lab)?;
    reset::reset(ctx, lab)?;
    std::fs::create_dir_all(ctx.workdir(lab.number))?;
    (lab.prepare)(ctx)?;
    progress::Progress::update(ctx.root(), |p| {
        let entry = p.lab_mut(lab.number);
        entry.started = true;
        entry.started_at = Some(pier_oci::time::now_rfc3339());
    })?;
    Ok(())
}

/// Runs every check of `lab` against the machine's real state.
pub fn check(ctx: &Ctx, lab: &Lab) -> Report {
    let report = report::run(ctx, lab);
    let _ = progress::Progress::update(ctx.root(), |p| {
        let entry = p.lab_mut(lab.number);
        entry.score = Some((report.passed(), report.total()));
    });
    report
}

/// The score `pier lab list` shows for `lab`: `None` if it was never started, else its checks
/// run again now. The score saved in `progress.json` is not trusted: the file is the
/// student's to edit, and what passed then may have been undone since.
pub fn current_score(ctx: &Ctx, lab: &Lab, saved: &progress::Progress) -> Option<(usize, usize)> {
    let entry = saved.labs.get(&lab.number)?;
    if !entry.started && entry.score.is_none() {
        return None;
    }
    let report = report::run(ctx, lab);
    Some((report.passed(), report.total()))
}

/// Records a value the student found (`pier lab answer N KEY VALUE`).
pub fn answer(ctx: &Ctx, lab: &Lab, key: &str, value: &str) -> Result<()> {
    let keys = lab.answer_keys();
    if !keys.contains(&key) {
        bail!(
            "{}",
            text::unknown_answer_key(ctx.lang(), lab.number, key, &keys)
        );
    }
    progress::Progress::update(ctx.root(), |p| {
        p.lab_mut(lab.number)
            .answers
            .insert(key.to_string(), value.trim().to_string());
    })
}

/// The hint of the first task that does not pass, or `None` when all pass.
pub fn hint(ctx: &Ctx, lab: &Lab) -> Option<String> {
    let report = check(ctx, lab);
    report.results.iter().find_map(|r| match &r.status {
        TaskStatus::Failed(why) => {
            let task = lab.tasks.iter().find(|t| t.id == r.id)?;
            let lang = ctx.lang();
            Some(text::hint(
                lang,
                r.id,
                task.title.get(lang),
                task.hint.get(lang),
                why.get(lang),
            ))
        }
        _ => None,
    })
}

/// Removes everything `lab` made and asserts nothing is left.
pub fn reset(ctx: &Ctx, lab: &Lab) -> Result<Vec<String>> {
    reset::reset(ctx, lab)
}
