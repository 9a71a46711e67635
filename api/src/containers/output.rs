//! A container's output: `GET /containers/{id}/logs` (replay, `tail`, `timestamps`,
//! `follow`) and `POST /containers/{id}/attach` (the hijacked connection `docker run` reads
//! the output from), both from the container's log through the engine's log functions, as
//! Docker's multiplexed frames (or raw bytes for a tty container).

use super::attach_stdin;
use crate::error::ApiError;
use crate::frames::{FrameWriter, Stream};
use crate::http::{self, Query, Reply};
use crate::state::{blocking, State};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, UPGRADE};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use pier_engine::container::logs::{self, LogOptions, LogReader};
use pier_engine::container::record::ContainerStatus;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// How long an attach to a created container waits for it to be started.
const START_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

fn content_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// `GET /containers/{id}/logs?stdout=&stderr=&follow=&tail=&timestamps=`.
pub async fn logs(state: Arc<State>, key: String, q: Query) -> Result<Reply, ApiError> {
    let (stdout, stderr) = (q.flag("stdout"), q.flag("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "you must choose at least one stream: stdout=1 or stderr=1",
        ));
    }
    let tail = match q.get("tail") {
        None | Some("" | "all") => None,
        Some(n) => Some(n.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("invalid tail {n:?}: a number or \"all\""))
        })?),
    };
    let (follow, timestamps) = (q.flag("follow"), q.flag("timestamps"));
    let s = state.clone();
    let (paths, rec) = blocking(move || Ok(s.engine.find(&key)?)).await?;
    let (reply, tx) = http::streamed(content_type(rec.config.tty));
    let busy = state.busy();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        let raw = rec.config.tty;
        let mut out = FrameWriter::new(stdout.then(|| tx.clone()), Stream::Stdout, raw);
        let mut err = FrameWriter::new(stderr.then(|| tx.clone()), Stream::Stderr, raw);
        let opts = LogOptions { tail, timestamps };
        let Ok(mut reader) = logs::print(&paths.log(), &opts, &mut out, &mut err) else {
            return;
        };
        if follow {
            let running = || {
                !tx.is_closed()
                    && state
                        .engine
                        .find(&rec.id)
                        .is_ok_and(|(_, r)| r.status == ContainerStatus::Running || r.restarting)
            };
            let opts = LogOptions {
                tail: None,
                timestamps,
            };
            let _ = logs::follow(&mut reader, &opts, &running, &mut out, &mut err);
        }
    });
    Ok(reply)
}

/// `POST /containers/{id}/attach?stream=1&stdout=1&stderr=1[&stdin=1][&logs=1]`: answers
/// 101 and streams the container's output on the hijacked connection until the container's next
/// run ends (a created container: until it has started and exited), as `docker run` needs.
/// With `stdin=1` what the client sends on the connection goes to the container's stdin
/// ([`attach_stdin`]). Without an `Upgrade` header the output is the reply's body (and no
/// input is taken).
///
/// The log is opened before the reply, and read through that open file
/// (`/proc/self/fd/N`): a container made with `AutoRemove` has its log deleted the moment it
/// exits, and the last output must still reach the client.
pub async fn attach(
    state: Arc<State>,
    key: String,
    q: Query,
    mut req: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let (stdout, stderr, replay) = (q.flag("stdout"), q.flag("stderr"), q.flag("logs"));
    let s = state.clone();
    let (mut reader, rec) = blocking(move || {
        let (paths, rec) = s.engine.find(&key)?;
        // The log is made if the container has not written yet, so that the reader below
        // holds it open from now on.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(paths.log())
            .map_err(|e| anyhow::anyhow!("opening the log of container {}: {e}", rec.name))?;
        // The reader opens the log's files now, before the reply: output written from here
        // on is read even if `AutoRemove` deletes the log when the container exits.
        let reader = if replay {
            LogReader::from_start(&paths.log())
        } else {
            LogReader::at_end(&paths.log())
        }
        .map_err(|e| anyhow::anyhow!("reading the log of container {}: {e:#}", rec.name))?;
        Ok((reader, rec))
    })
    .await?;
    let tty = rec.config.tty;
    let id = rec.id.clone();
    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    let busy = state.busy();
    let engine_state = state.clone();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        let mut out = FrameWriter::new(stdout.then(|| tx.clone()), Stream::Stdout, tty);
        let mut err = FrameWriter::new(stderr.then(|| tx.clone()), Stream::Stderr, tty);
        let first_finish = rec.finished_at.clone();
        let attached = std::time::Instant::now();
        let running = || {
            !tx.is_closed()
                && engine_state.engine.find(&rec.id).is_ok_and(|(_, r)| {
                    // A client that attached and went away without starting the container
                    // is not noticed (with no stdin it half-closes at once, so its end of
                    // the connection says nothing): a start that does not come ends the wait.
                    let start_due =
                        r.status == ContainerStatus::Created && attached.elapsed() > START_WAIT;
                    !start_due
                        && (r.status == ContainerStatus::Running
                            || r.restarting
                            || r.finished_at == first_finish)
                })
        };
        let _ = logs::follow(
            &mut reader,
            &LogOptions::default(),
            &running,
            &mut out,
            &mut err,
        );
    });

    if !req.headers().contains_key(UPGRADE) {
        let (mut reply, body_tx) = http::streamed(content_type(tty));
        tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                if body_tx.send(b).await.is_err() {
                    break;
                }
            }
        });
        *reply.status_mut() = StatusCode::OK;
        return Ok(reply);
    }
    let upgrade = hyper::upgrade::on(&mut req);
    let stdin = q.flag("stdin");
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else {
            return;
        };
        let (from_client, mut to_client) = tokio::io::split(TokioIo::new(upgraded));
        if stdin {
            tokio::spawn(attach_stdin::forward(state, id, from_client));
        }
        while let Some(b) = rx.recv().await {
            if to_client.write_all(&b).await.is_err() {
                return;
            }
        }
        let _ = to_client.shutdown().await;
    });
    let mut reply = http::empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = reply.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(tty)));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("tcp"));
    Ok(reply)
}
