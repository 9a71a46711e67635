//! `POST /containers/create`, `/start`, `/stop`, `/kill`, `/wait` and `DELETE /containers/{id}`.

use super::create::run_config;
use crate::error::ApiError;
use crate::http::{self, Query, Reply};
use crate::state::{blocking, State};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use pier_engine::container::events::Action;
use pier_engine::container::record::{validate_name, ContainerStatus};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// `POST /containers/create?name=`: 201 `{"Id": ..., "Warnings": []}`.
pub async fn create(
    state: Arc<State>,
    q: Query,
    req: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let body = http::read_json(req).await?;
    let name = q
        .get("name")
        .filter(|n| !n.is_empty())
        .map(|n| n.trim_start_matches('/').to_string());
    if let Some(n) = &name {
        validate_name(n).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    }
    let config = run_config(&body, name)?;
    let rec = blocking(move || Ok(state.engine.create(config, false)?)).await?;
    Ok(http::json(
        StatusCode::CREATED,
        &json!({"Id": rec.id, "Warnings": []}),
    ))
}

/// `POST /containers/{id}/start`: 204, or 304 if it already runs.
pub async fn start(state: Arc<State>, key: String) -> Result<Reply, ApiError> {
    blocking(move || {
        let (_, rec) = state.engine.find(&key)?;
        if rec.status == ContainerStatus::Running {
            return Ok(http::empty(StatusCode::NOT_MODIFIED));
        }
        state.launcher.start(&rec.id)?;
        Ok(http::empty(StatusCode::NO_CONTENT))
    })
    .await
}

/// `POST /containers/{id}/stop?t=SECONDS`: 204, or 304 if it was not running.
pub async fn stop(state: Arc<State>, key: String, q: Query) -> Result<Reply, ApiError> {
    let t = q.number::<u64>("t")?.unwrap_or(10);
    blocking(move || {
        let (_, rec) = state.engine.find(&key)?;
        if rec.status != ContainerStatus::Running && !rec.restarting {
            return Ok(http::empty(StatusCode::NOT_MODIFIED));
        }
        state.engine.stop(&rec.id, Duration::from_secs(t))?;
        Ok(http::empty(StatusCode::NO_CONTENT))
    })
    .await
}

/// `POST /containers/{id}/kill?signal=SIG`: 204; 409 if it is not running.
pub async fn kill(state: Arc<State>, key: String, q: Query) -> Result<Reply, ApiError> {
    let name = q
        .get("signal")
        .filter(|s| !s.is_empty())
        .unwrap_or("SIGKILL");
    let sig = pier_oci::container::kill::parse_signal(name)
        .map_err(|e| ApiError::bad_request(format!("signal {name:?}: {e:#}")))?;
    blocking(move || {
        state.engine.kill(&key, sig)?;
        Ok(http::empty(StatusCode::NO_CONTENT))
    })
    .await
}

/// `DELETE /containers/{id}?force=&v=`: 204; 409 if it runs and `force` is not given.
pub async fn remove(state: Arc<State>, key: String, q: Query) -> Result<Reply, ApiError> {
    let (force, volumes) = (q.flag("force"), q.flag("v"));
    blocking(move || {
        if volumes {
            state.engine.remove_with_volumes(&key, force)?;
        } else {
            state.engine.remove(&key, force)?;
        }
        Ok(http::empty(StatusCode::NO_CONTENT))
    })
    .await
}

/// `POST /containers/{id}/wait?condition=`: `not-running` (the default: at once if it is
/// not running), `next-exit` (the next time it exits, even if it has not started yet: what
/// `docker run` asks before it starts the container) or `removed`. Polls the record; the
/// poll stops when the client goes (the handler is dropped with its connection).
pub async fn wait(state: Arc<State>, key: String, q: Query) -> Result<Reply, ApiError> {
    let condition = q
        .get("condition")
        .filter(|c| !c.is_empty())
        .unwrap_or("not-running")
        .to_string();
    if !matches!(condition.as_str(), "not-running" | "next-exit" | "removed") {
        return Err(ApiError::bad_request(format!(
            "invalid condition {condition:?}: not-running, next-exit or removed"
        )));
    }
    let s = state.clone();
    let first = blocking(move || Ok(s.engine.find(&key)?.1)).await?;
    // The headers go at once, the body when the condition is met: `docker run` waits for the
    // headers of its wait request before it starts the container.
    let (mut reply, tx) = http::streamed("application/json");
    *reply.status_mut() = StatusCode::OK;
    let busy = state.busy();
    tokio::spawn(async move {
        let _busy = busy;
        let body = match wait_for(&state, &first, &condition, &tx).await {
            Ok(Some(code)) => json!({"StatusCode": code, "Error": null}),
            Ok(None) => return,
            Err(e) => json!({"StatusCode": -1, "Error": {"Message": e.message}}),
        };
        let mut text = serde_json::to_vec(&body).unwrap_or_default();
        text.push(b'\n');
        let _ = tx.send(bytes::Bytes::from(text)).await;
    });
    Ok(reply)
}

/// Polls the record until `condition` holds: the exit code, or `None` if the client left.
async fn wait_for(
    state: &Arc<State>,
    first: &pier_engine::container::record::ContainerRecord,
    condition: &str,
    tx: &tokio::sync::mpsc::Sender<bytes::Bytes>,
) -> Result<Option<i32>, ApiError> {
    let id = first.id.clone();
    while !tx.is_closed() {
        let s = state.clone();
        let id2 = id.clone();
        let now = blocking(move || Ok(s.engine.find(&id2).ok().map(|(_, r)| r))).await?;
        let code = match &now {
            None => Some(exit_code_of_removed(state, &id).await?),
            Some(r) => {
                let stopped = r.status != ContainerStatus::Running && !r.restarting;
                match condition {
                    "not-running" if stopped => Some(r.exit_code.unwrap_or(0)),
                    "next-exit" if stopped && r.finished_at != first.finished_at => {
                        Some(r.exit_code.unwrap_or(0))
                    }
                    _ => None,
                }
            }
        };
        if code.is_some() {
            return Ok(code);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(None)
}

/// A removed container's exit code, from its last `die` event (the record went with it).
async fn exit_code_of_removed(state: &Arc<State>, id: &str) -> Result<i32, ApiError> {
    let s = state.clone();
    let id = id.to_string();
    blocking(move || {
        let events = s.engine.events().read()?;
        Ok(events
            .iter()
            .rev()
            .find(|e| e.id == id && e.action == Action::Die)
            .and_then(|e| e.exit_code)
            .unwrap_or(0))
    })
    .await
}
