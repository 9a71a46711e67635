//! Running a lab's checks in order, with dependencies, and printing the score.

use crate::context::Ctx;
use crate::lab::{Lab, Outcome};
use crate::text::{self, Lang, Msg, Tr};

/// What happened to one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskStatus {
    /// The check passed; what it saw.
    Passed(Msg),
    /// The check failed; why.
    Failed(Msg),
    /// Not checked because this task depends on one that did not pass.
    ParentFailed(String),
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct TaskResult {
    /// Task id.
    pub id: &'static str,
    /// Task title.
    pub title: Tr,
    /// Outcome.
    pub status: TaskStatus,
}

/// The result of `pier lab check N`.
#[derive(Debug, Clone)]
pub struct Report {
    /// Lab number.
    pub lab: u32,
    /// One entry per task, in order.
    pub results: Vec<TaskResult>,
}

impl Report {
    /// Tasks passed.
    pub fn passed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.status, TaskStatus::Passed(_)))
            .count()
    }

    /// Tasks in the lab.
    pub fn total(&self) -> usize {
        self.results.len()
    }

    /// Whether every task passed.
    pub fn complete(&self) -> bool {
        self.passed() == self.total()
    }

    /// The report as text in `lang`: one line per task with ✔ or ✘, then `Score N/M`.
    pub fn render(&self, lang: Lang) -> String {
        let mut out = String::new();
        for r in &self.results {
            let title = r.title.get(lang);
            out.push_str(&match &r.status {
                TaskStatus::Passed(note) => text::passed(r.id, title, note.get(lang)),
                TaskStatus::Failed(why) => text::failed(r.id, title, why.get(lang)),
                TaskStatus::ParentFailed(parent) => text::parent_failed(lang, r.id, title, parent),
            });
        }
        out.push_str(&text::score(lang, self.passed(), self.total()));
        if !self.complete() {
            out.push_str(&text::hint_pointer(lang, self.lab));
        }
        out
    }
}

/// Runs `lab`'s checks. A task whose parent did not pass is not checked.
pub fn run(ctx: &Ctx, lab: &Lab) -> Report {
    let mut results: Vec<TaskResult> = Vec::new();
    for task in &lab.tasks {
        let failed_parent = task.after.iter().find(|p| {
            !results
                .iter()
                .any(|r| r.id == **p && matches!(r.status, TaskStatus::Passed(_)))
        });
        let status = match failed_parent {
            Some(p) => TaskStatus::ParentFailed(p.to_string()),
            None => match (task.check)(ctx) {
                Outcome::Pass(note) => TaskStatus::Passed(note),
                Outcome::Fail(why) => TaskStatus::Failed(why),
            },
        };
        results.push(TaskResult {
            id: task.id,
            title: task.title,
            status,
        });
    }
    Report {
        lab: lab.number,
        results,
    }
}
