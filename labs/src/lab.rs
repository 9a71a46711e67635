//! What a lab is: a list of tasks, each checked against the machine's real state.

use crate::context::Ctx;
use crate::text::{self, Msg, Tr};
use anyhow::Result;

/// The result of one check; what it saw, in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done; the text says what was seen (e.g. "exit code 137").
    Pass(Msg),
    /// Not done; the text says precisely what is wrong.
    Fail(Msg),
}

impl Outcome {
    /// `Pass` with a note in English and Korean (a value alone may be the same in both).
    pub fn passed(en: impl Into<String>, ko: impl Into<String>) -> Outcome {
        Outcome::Pass(Msg::new(en, ko))
    }
    /// `Fail` with the reason in English and Korean.
    pub fn failed(en: impl Into<String>, ko: impl Into<String>) -> Outcome {
        Outcome::Fail(Msg::new(en, ko))
    }
}

/// Lets a check use `?` on lookups: an error becomes a failed check. An error that is a
/// [`Msg`] (the context's lookups make them: "there is no container named ...") keeps both
/// languages; any other error is a fault of the machine, quoted as it is inside a Korean frame
/// ([`text::machine_error`]).
impl From<anyhow::Error> for Outcome {
    fn from(e: anyhow::Error) -> Outcome {
        match e.downcast_ref::<Msg>() {
            Some(m) => Outcome::Fail(m.clone()),
            None => Outcome::Fail(text::machine_error(&format!("{e:#}"))),
        }
    }
}

/// One task of a lab.
pub struct Task {
    /// Short identifier shown in the score (`oom`, `pid`).
    pub id: &'static str,
    /// What the student must achieve, one line (English and Korean).
    pub title: Tr,
    /// Tasks that must pass first; if one fails this one reports "parent failed".
    pub after: &'static [&'static str],
    /// The answer key this task reads (`pier lab answer N KEY VALUE`), if it asks for a value.
    pub answer: Option<&'static str>,
    /// A general hint, shown by `pier lab hint N` (English and Korean; commands verbatim).
    pub hint: Tr,
    /// The check; reads real state through the context.
    pub check: fn(&Ctx) -> Outcome,
}

/// A pier feature a lab needs (a subcommand, a flag), detected in the `pier` binary itself:
/// a build without it lists the lab as pending instead of failing its checks.
#[derive(Clone, Copy)]
pub struct Feature {
    /// What the student would type, for the message: "`pier compose`".
    pub name: &'static str,
    /// Whether this build has it.
    pub present: fn(&Ctx) -> bool,
}

/// One lab.
pub struct Lab {
    /// 1 to 16, in course order.
    pub number: u32,
    /// Folder name under `labs/` (`01-first-container`).
    pub slug: &'static str,
    /// Title (English and Korean).
    pub title: Tr,
    /// Expected time, in minutes.
    pub minutes: u32,
    /// Fixed host ports the lab's solution publishes or listens on: only one lab holding
    /// them can run at a time (the labs' CI cycle runs such labs one after the other).
    pub host_ports: &'static [u16],
    /// Networks the lab makes (removed by reset).
    pub networks: &'static [&'static str],
    /// A pier feature the lab needs that a build may lack; without it the lab is pending.
    pub needs: Option<Feature>,
    /// Prepares the lab after a reset (e.g. makes sure busybox exists).
    pub prepare: fn(&Ctx) -> Result<()>,
    /// The tasks, in order.
    pub tasks: Vec<Task>,
}

impl Lab {
    /// Prefix of every object the lab makes (containers, images, networks): `lab3-`.
    pub fn prefix(&self) -> String {
        prefix(self.number)
    }

    /// The feature the lab needs and this build lacks, if any.
    pub fn missing(&self, ctx: &Ctx) -> Option<Feature> {
        self.needs.filter(|f| !(f.present)(ctx))
    }

    /// The answer keys the lab asks for.
    pub fn answer_keys(&self) -> Vec<&'static str> {
        self.tasks.iter().filter_map(|t| t.answer).collect()
    }
}

/// Prefix of lab `number`'s objects.
pub fn prefix(number: u32) -> String {
    format!("lab{number}-")
}
