//! Docker's words for a container's state, shared by `pier ps` and the API service's
//! container list: the `State` word (`running`, `paused`, `restarting`...), the `Status`
//! sentence ("Up 5 seconds", "Exited (0) 3 minutes ago") and the age in words it uses.

use super::record::{ContainerRecord, ContainerStatus};
use std::time::{SystemTime, UNIX_EPOCH};

/// Age of an RFC 3339 time as Docker words it (`5 seconds`, `2 minutes`, `About an hour`).
pub fn since(rfc3339: &str) -> String {
    let Ok(t) = pier_oci::time::parse_rfc3339(rfc3339) else {
        return "unknown".into();
    };
    // In whole seconds from a whole second, as Docker counts from `Created` (Unix seconds).
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let d = secs(SystemTime::now()).saturating_sub(secs(t));
    match d {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{d} seconds"),
        60..=119 => "About a minute".into(),
        120..=3599 => format!("{} minutes", d / 60),
        3600..=7199 => "About an hour".into(),
        7200..=172_799 => format!("{} hours", d / 3600),
        _ => format!("{} days", d / 86400),
    }
}

/// Docker's STATUS column: "Up 5 seconds (healthy)", "Up 2 minutes (Paused)",
/// "Restarting (1) 2 seconds ago", "Exited (0) 3 minutes ago".
pub fn status_text(r: &ContainerRecord) -> String {
    let finished = || since(r.finished_at.as_deref().unwrap_or(&r.created));
    match r.status {
        ContainerStatus::Running => {
            let mut s = format!(
                "Up {}",
                since(r.started_at.as_deref().unwrap_or(&r.created))
            );
            if r.paused {
                s.push_str(" (Paused)");
            } else if let Some(h) = &r.health {
                s.push(' ');
                s.push_str(h.status.ps_suffix());
            }
            s
        }
        ContainerStatus::Exited if r.restarting => format!(
            "Restarting ({}) {} ago",
            r.exit_code.unwrap_or(0),
            finished()
        ),
        ContainerStatus::Exited => format!(
            "Exited ({}){} {} ago",
            r.exit_code.unwrap_or(0),
            if r.oom_killed { " OOMKilled" } else { "" },
            finished()
        ),
        ContainerStatus::Created => "Created".to_string(),
    }
}

/// Docker's `State` word: `restarting` and `paused` are states of their own there.
pub fn state_word(r: &ContainerRecord) -> &'static str {
    if r.restarting {
        "restarting"
    } else if r.paused {
        "paused"
    } else {
        r.status.as_str()
    }
}
