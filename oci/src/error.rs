//! The errors of the runtime's public API, named by kind (as runc's `ErrNotExist`,
//! `ErrRunning`, ... in `libcontainer/error.go`): a caller matches on [`Error`]'s variants, never
//! on its text. Failures without a kind of their own (a mount refused, a cgroup file not
//! writable) stay context-rich `anyhow` errors inside [`Error::Other`].

use crate::state::Status;

/// The result of the runtime's public functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, by kind. The text of each is what `pier runtime` (and the engine) shows.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An ID that is not a valid directory name (runc's `ErrInvalidID`).
    #[error("invalid container ID {id:?}: use letters, digits and _ + - . only")]
    InvalidId {
        /// The ID given.
        id: String,
    },
    /// No container by that ID (runc's `ErrNotExist`); containerd and Podman recognise the
    /// phrase "does not exist".
    #[error("container {id} does not exist")]
    NotExist {
        /// The ID given.
        id: String,
    },
    /// A container by that ID is already there (runc's `ErrExist`).
    #[error("container {id} already exists")]
    AlreadyExists {
        /// The ID given.
        id: String,
    },
    /// The operation needs a running container (runc's `ErrNotRunning`): it has stopped, or
    /// (for `pause`) is not running.
    #[error("{}", not_running(*.op, .id, *.status))]
    NotRunning {
        /// The container.
        id: String,
        /// Its status.
        status: Status,
        /// What was asked.
        op: Operation,
    },
    /// The operation needs a container that does not run (runc's `ErrRunning`): `delete`
    /// without force, `start` of one already started.
    #[error("{}", running(*.op, .id, *.status))]
    Running {
        /// The container.
        id: String,
        /// Its status (running or paused).
        status: Status,
        /// What was asked.
        op: Operation,
    },
    /// The container is paused and the operation would freeze too (runc's `ErrPaused`).
    #[error("cannot exec in a paused container {id} (use --ignore-paused to override)")]
    Paused {
        /// The container.
        id: String,
    },
    /// `resume` of a container that is not paused (runc's `ErrNotPaused`).
    #[error("cannot resume container {id}: it is not paused")]
    NotPaused {
        /// The container.
        id: String,
    },
    /// The bundle's config.json asks for something invalid, or that pier does not honour.
    #[error("{reason}")]
    InvalidConfig {
        /// The config's field, as a JSON path (`linux.intelRdt`, `root`, `mounts`).
        field: String,
        /// The message shown, one line naming the field.
        reason: String,
    },
    /// The container's process could not be started: its command was not found (127), is
    /// not executable (126), or its setup failed (125), Docker's exit codes.
    #[error("{message}")]
    Start {
        /// The exit code to report.
        code: i32,
        /// What went wrong, one line.
        message: String,
    },
    /// Any other failure, with its context.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The operation a status error refused, for its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `start`.
    Start,
    /// `kill`.
    Kill,
    /// `pause`.
    Pause,
    /// `exec`.
    Exec,
    /// `update`.
    Update,
    /// `delete`.
    Delete,
}

impl Error {
    /// An [`Error::InvalidConfig`] about `field`.
    pub(crate) fn config(field: &str, reason: impl Into<String>) -> Error {
        Error::InvalidConfig {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

/// Returns an [`Error::InvalidConfig`] about `field` from the enclosing function, its message
/// formatted as with `format!` (the config's `bail!`).
macro_rules! bail_config {
    ($field:expr, $($arg:tt)+) => {
        return Err($crate::error::Error::config($field, format!($($arg)+)))
    };
}
pub(crate) use bail_config;

/// The text of [`Error::NotRunning`].
fn not_running(op: Operation, id: &str, status: Status) -> String {
    match op {
        // containerd's shim looks for runc's "container not running" to learn that the
        // process has already finished.
        Operation::Kill => format!("cannot kill container {id}: container not running"),
        Operation::Start => format!("cannot start container {id}: it has stopped"),
        Operation::Exec => format!("cannot exec in a stopped container {id}"),
        Operation::Update => format!("cannot update container {id}: it has stopped"),
        Operation::Pause => format!("cannot pause container {id}: it is {}", status.as_str()),
        Operation::Delete => format!("cannot delete container {id}: it is {}", status.as_str()),
    }
}

/// The text of [`Error::Running`].
fn running(op: Operation, id: &str, status: Status) -> String {
    match op {
        Operation::Delete => format!(
            "cannot delete container {id} that is not stopped: {}",
            status.as_str()
        ),
        Operation::Start => format!(
            "cannot start container {id}: it is {}, not created",
            status.as_str()
        ),
        other => format!(
            "cannot {} container {id}: it is {}",
            other.verb(),
            status.as_str()
        ),
    }
}

impl Operation {
    /// The command's name.
    fn verb(self) -> &'static str {
        match self {
            Operation::Start => "start",
            Operation::Kill => "kill",
            Operation::Pause => "pause",
            Operation::Exec => "exec in",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

/// An error and its causes on one line, without repeating a cause already in the text: how
/// `pier` and `pier-bench` print an error.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors_read_as_runc_and_containerd_expect() {
        let kill = Error::NotRunning {
            id: "c1".into(),
            status: Status::Stopped,
            op: Operation::Kill,
        };
        assert_eq!(
            kill.to_string(),
            "cannot kill container c1: container not running"
        );
        let delete = Error::Running {
            id: "c1".into(),
            status: Status::Running,
            op: Operation::Delete,
        };
        assert_eq!(
            delete.to_string(),
            "cannot delete container c1 that is not stopped: running"
        );
        assert_eq!(
            Error::NotExist { id: "c2".into() }.to_string(),
            "container c2 does not exist"
        );
    }

    #[test]
    fn other_errors_keep_their_context() {
        let inner = anyhow::anyhow!("No such file").context("opening x");
        let e = Error::from(inner);
        assert_eq!(format!("{e:#}"), "opening x: No such file");
        assert!(matches!(e, Error::Other(_)));
    }
}
