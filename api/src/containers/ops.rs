//! `POST /containers/{id}/restart`, `/pause`, `/unpause`, `/rename` and `GET /top`: the
//! engine's operations on a container, in Docker's status codes.

use crate::error::ApiError;
use crate::http::{self, Query, Reply};
use crate::state::{blocking, State};
use hyper::StatusCode;
use pier_engine::container::inspect::TopProcess;
use pier_engine::container::record::validate_name;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// `POST /containers/{id}/restart?t=SECONDS`: stop (if running), then start; 204.
pub async fn restart(state: Arc<State>, key: String, q: Query) -> Result<Reply, ApiError> {
    let t = q.number::<u64>("t")?.unwrap_or(10);
    blocking(move || {
        let (_, rec) = state.engine.find(&key)?;
        state.engine.stop(&rec.id, Duration::from_secs(t))?;
        state.engine.find(&rec.id).map_err(|_| ApiError {
            status: StatusCode::CONFLICT,
            message: format!(
                "container {} was removed when it stopped (AutoRemove): nothing to start again",
                rec.name
            ),
        })?;
        state.launcher.start(&rec.id)?;
        Ok(http::empty(StatusCode::NO_CONTENT))
    })
    .await
}

/// `POST /containers/{id}/pause`: 204; 409 if it is not running or already paused.
pub async fn pause(state: Arc<State>, key: String) -> Result<Reply, ApiError> {
    blocking(move || {
        state
            .engine
            .pause(&key)
            .map_err(|e| conflict_if(&e, "paused"))?;
        Ok(http::empty(StatusCode::NO_CONTENT))
    })
    .await
}

/// `POST /containers/{id}/unpause`: 204; 409 if it is not paused.
pub async fn unpause(state: Arc<State>, key: String) -> Result<Reply, ApiError> {
    blocking(move || {
        state
            .engine
            .unpause(&key)
            .map_err(|e| conflict_if(&e, "paused"))?;
        Ok(http::empty(StatusCode::NO_CONTENT))
    })
    .await
}

/// The engine's error, as 409 when its words are about the container's state (`word`).
fn conflict_if(e: &anyhow::Error, word: &str) -> ApiError {
    let mut err = ApiError::from_engine(e);
    if err.status == StatusCode::INTERNAL_SERVER_ERROR && err.message.contains(word) {
        err.status = StatusCode::CONFLICT;
    }
    err
}

/// `POST /containers/{id}/rename?name=NEW`: 204; 400 for a bad or unchanged name, 409 when
/// the name is taken (or the container runs on a network whose members resolve it by name).
pub async fn rename(state: Arc<State>, key: String, q: Query) -> Result<Reply, ApiError> {
    let name = q
        .get("name")
        .map(|n| n.trim_start_matches('/').to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("rename: the new name (name=) is missing"))?;
    validate_name(&name).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    blocking(move || {
        let (_, rec) = state.engine.find(&key)?;
        if rec.name == name {
            return Err(ApiError::bad_request(format!(
                "renaming container {}: it already has that name",
                rec.name
            )));
        }
        state
            .engine
            .rename(&rec.id, &name)
            .map_err(|e| conflict_if(&e, "while it runs"))?;
        Ok(http::empty(StatusCode::NO_CONTENT))
    })
    .await
}

/// The columns of `ps -ef`, what `docker top` shows by default.
const TOP_TITLES: &[&str] = &["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];

/// `GET /containers/{id}/top?ps_args=`: `{"Titles": [...], "Processes": [[...]]}`. Without
/// `ps_args` (or with `-ef`) the rows come from the engine's reading of `/proc`; other
/// arguments are given to the host's `ps`, whose rows are kept for the container's PIDs, as
/// dockerd does.
pub async fn top(state: Arc<State>, key: String, q: Query) -> Result<Reply, ApiError> {
    let args = q.get("ps_args").unwrap_or("").trim().to_string();
    let value = blocking(move || {
        let procs = state.engine.top(&key)?;
        if args.is_empty() || args == "-ef" {
            Ok(default_table(&procs))
        } else {
            host_ps(&args, &procs)
        }
    })
    .await?;
    Ok(http::json(StatusCode::OK, &value))
}

fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}

fn default_table(procs: &[TopProcess]) -> Value {
    let rows: Vec<Vec<String>> = procs
        .iter()
        .map(|p| {
            let t = p.cpu_time.as_secs();
            vec![
                user_name(p.uid),
                p.pid.to_string(),
                p.ppid.to_string(),
                "0".into(),
                "-".into(),
                "?".into(),
                format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60),
                p.command.clone(),
            ]
        })
        .collect();
    json!({"Titles": TOP_TITLES, "Processes": rows})
}

/// Runs the host's `ps` with `args` (split on blanks, no shell) and keeps the rows of
/// `procs`, found by the `PID` column.
fn host_ps(args: &str, procs: &[TopProcess]) -> Result<Value, ApiError> {
    let out = std::process::Command::new("ps")
        .args(args.split_whitespace())
        .output()
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("running ps {args}: {e}"),
        })?;
    if !out.status.success() {
        return Err(ApiError::bad_request(format!(
            "ps {args}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let titles: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    let Some(pid_col) = titles.iter().position(|t| *t == "PID") else {
        return Err(ApiError::bad_request(format!(
            "ps {args}: its output has no PID column, which top needs to find the container's processes"
        )));
    };
    let pids: Vec<String> = procs.iter().map(|p| p.pid.to_string()).collect();
    let rows: Vec<Vec<String>> = lines
        .filter_map(|line| {
            // The last column (the command) keeps its blanks.
            let words: Vec<&str> = line.split_whitespace().collect();
            let last = titles.len() - 1;
            if words.len() < titles.len() {
                return None;
            }
            let mut fields: Vec<String> = words[..last].iter().map(|w| w.to_string()).collect();
            fields.push(words[last..].join(" "));
            let pid = fields.get(pid_col)?;
            pids.contains(pid).then_some(fields)
        })
        .collect();
    Ok(json!({"Titles": titles, "Processes": rows}))
}
