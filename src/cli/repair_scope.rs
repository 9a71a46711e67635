//! Which containers a command repairs before it runs.
//!
//! A container whose watcher died (pier or its monitor killed with SIGKILL) is stopped,
//! cleaned up and recorded as exited by the next command that needs it (`Engine::reconcile`).
//! Checking every container costs one record read and one `/proc` look-up per container, and
//! every command paid it: with 500 containers, most of a `pier run -d` (the scale suite). Now
//! a command that lists, prunes or may collide with any container still checks them all,
//! while one that acts on named containers checks those only: the repair happens before each
//! of them is used, as before, and the cost no longer grows with the number of containers.

use super::Command;

/// The containers to repair before the command.
pub enum Scope<'a> {
    /// Every container (listing, pruning, anything not known to act on named ones only).
    All,
    /// The containers these keys (names, IDs, ID prefixes) name.
    Named(Vec<&'a str>),
    /// A launch: the containers holding these names exactly, and those `Named` keys name.
    Launch {
        /// Names asked for (`--name`): looked up in the name index only.
        names: Vec<&'a str>,
        /// Containers whose namespaces are joined (`--network container:X`).
        joined: Vec<&'a str>,
    },
}

/// The repair `cmd` needs.
pub fn of(cmd: &Command) -> Scope<'_> {
    match cmd {
        Command::Run(a) => launch(&a.create),
        Command::Create(a) => launch(a),
        Command::Stop(a) => Scope::Named(keys(&a.containers)),
        Command::Kill(a) => Scope::Named(keys(&a.containers)),
        Command::Rm(a) => Scope::Named(keys(&a.containers)),
        Command::Wait(a) => Scope::Named(keys(&a.containers)),
        Command::Pause(a) | Command::Unpause(a) => Scope::Named(keys(&a.containers)),
        Command::Inspect(a) => Scope::Named(keys(&a.containers)),
        Command::Logs(a) => Scope::Named(vec![a.container.as_str()]),
        Command::Exec(a) => Scope::Named(vec![a.container.as_str()]),
        Command::Top(a) => Scope::Named(vec![a.container.as_str()]),
        Command::Port(a) => Scope::Named(vec![a.container.as_str()]),
        // `start` and `restart` re-publish the container's ports, which a crashed container
        // may still hold: they repair everything, as every command did.
        _ => Scope::All,
    }
}

/// `run` and `create`: a published port may be held by a crashed container (any of them:
/// repair all); otherwise only the container whose name is asked for (a crashed `--rm`
/// container gives it up) and the one whose network namespace is joined.
fn launch(a: &super::container::create::CreateArgs) -> Scope<'_> {
    if !a.publish.is_empty() || a.publish_all {
        return Scope::All;
    }
    Scope::Launch {
        names: a.name.iter().map(String::as_str).collect(),
        joined: a
            .network
            .as_deref()
            .and_then(|n| n.strip_prefix("container:"))
            .into_iter()
            .collect(),
    }
}

/// The keys as the string slices [`Scope::Named`] holds.
fn keys(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}
