//! `POST /build` (an image from a tar of the build context, with Docker's JSON progress
//! stream) and `POST /build/prune`.
//!
//! - [`context`]: the request body to a context directory, safely;
//! - [`forker`]: the single-threaded process that forks one process a build;
//! - [`worker`]: the build process, the engine's builder writing Docker's stream.

pub mod context;
pub mod forker;
pub mod worker;

use crate::error::ApiError;
use crate::http::{self, Query, Reply};
use crate::state::{blocking, State};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use pier_engine::builder::cache::BuildCache;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;
use worker::BuildJob;

/// Every value of a repeated query parameter (`t=a&t=b`).
fn all_values(raw: Option<&str>, name: &str) -> Vec<String> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .filter(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// A JSON-object parameter (`buildargs={"A":"b"}`, `labels=...`) as ordered pairs. A null
/// build argument (the CLI's `--build-arg A` with no A in its environment) is left out.
fn json_map(q: &Query, name: &str) -> Result<Vec<(String, String)>, ApiError> {
    let Some(text) = q.get(name).filter(|t| !t.is_empty()) else {
        return Ok(Vec::new());
    };
    let map: BTreeMap<String, Option<String>> = serde_json::from_str(text).map_err(|e| {
        ApiError::bad_request(format!(
            "{name}: expected a JSON object of strings, got {text:?} ({e})"
        ))
    })?;
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

/// The request's parameters; 400 for what pier's builder does not do.
fn job_from_query(q: &Query, raw: Option<&str>) -> Result<BuildJob, ApiError> {
    if q.get("remote").is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::bad_request(
            "remote: building from a URL is not supported by pier; send the context as a tar",
        ));
    }
    if q.get("platform")
        .is_some_and(|p| !p.is_empty() && p != "linux/amd64" && p != "linux")
    {
        return Err(ApiError::bad_request(format!(
            "platform {:?}: pier builds for the host's platform only",
            q.get("platform").unwrap_or("")
        )));
    }
    let host_network = match q.get("networkmode") {
        None | Some("" | "default" | "none") => false,
        Some("host") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "networkmode {other:?}: RUN steps support only none (the default) and host"
            )))
        }
    };
    Ok(BuildJob {
        context: Default::default(),
        dockerfile: Default::default(),
        tags: all_values(raw, "t"),
        build_args: json_map(q, "buildargs")?,
        labels: json_map(q, "labels")?,
        target: q.get("target").filter(|t| !t.is_empty()).map(String::from),
        no_cache: q.flag("nocache"),
        quiet: q.flag("q"),
        host_network,
    })
}

/// `POST /build`: 200 and the JSON stream; the build's own failures are messages in the
/// stream (as dockerd sends them), a bad request or context is a 400 before it.
pub async fn build(state: Arc<State>, q: Query, req: Request<Incoming>) -> Result<Reply, ApiError> {
    let raw_query = req.uri().query().map(String::from);
    let mut job = job_from_query(&q, raw_query.as_deref())?;
    for t in &job.tags {
        pier_engine::image::Reference::parse(t)
            .map_err(|e| ApiError::bad_request(format!("invalid tag {t:?}: {e:#}")))?;
    }
    let rel_dockerfile = context::dockerfile_path(q.get("dockerfile"))?;
    // The context lives under the state root (the builder's scratch is there too), in a
    // directory removed when this request ends, whatever way it ends.
    let root = state.engine.root().to_path_buf();
    let dir = blocking(move || {
        tempfile::Builder::new()
            .prefix("api-build-")
            .tempdir_in(&root)
            .map_err(|e| {
                ApiError::from_engine(&anyhow::anyhow!("a directory for the build context: {e}"))
            })
    })
    .await?;
    let mut spool_file = tempfile::tempfile_in(dir.path()).map_err(|e| {
        ApiError::from_engine(&anyhow::anyhow!("a spool file for the build context: {e}"))
    })?;
    context::spool(req.into_body(), &mut spool_file).await?;
    let ctx = dir.path().join("context");
    let df_dir = dir.path().join("dockerfile");
    job.context = ctx.clone();
    job.dockerfile = blocking(move || {
        let mut prepare = || -> anyhow::Result<std::path::PathBuf> {
            std::fs::create_dir(&ctx)?;
            std::fs::create_dir(&df_dir)?;
            context::extract(&mut spool_file, &ctx)?;
            context::copy_dockerfile(&ctx, &rel_dockerfile, &df_dir)
        };
        prepare().map_err(|e| ApiError::bad_request(format!("{e:#}")))
    })
    .await?;
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| ApiError::from_engine(&anyhow::anyhow!("pipe for the build stream: {e}")))?;
    state.builds.submit(&job, &write_end)?;
    drop(write_end);
    let (reply, tx) = http::streamed("application/json");
    // The build process writes the stream; relay it until its end, then drop the context.
    let busy = state.busy();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        let _dir = dir;
        let mut pipe = std::fs::File::from(read_end);
        let mut buf = vec![0u8; 32 << 10];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    // A client gone: closing the pipe makes the build's next write fail,
                    // which stops it and removes its RUN container.
                    if tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
    });
    let mut reply = reply;
    *reply.status_mut() = StatusCode::OK;
    Ok(reply)
}

/// `POST /build/prune`: forgets the build cache and deletes the layers only it kept.
pub async fn prune(state: Arc<State>) -> Result<Value, ApiError> {
    blocking(move || {
        let store = state.engine.images()?;
        let (layers, bytes) = BuildCache::open(&store).prune(&store)?;
        let _ = layers;
        Ok(json!({"CachesDeleted": [], "SpaceReclaimed": bytes}))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters() {
        let raw = "t=a:1&t=b&buildargs=%7B%22A%22%3A%22x%22%2C%22N%22%3Anull%7D&nocache=1&target=s";
        let q = Query::parse(Some(raw));
        let job = job_from_query(&q, Some(raw)).unwrap();
        assert_eq!(job.tags, ["a:1", "b"]);
        assert_eq!(job.build_args, [("A".to_string(), "x".to_string())]);
        assert!(job.no_cache);
        assert_eq!(job.target.as_deref(), Some("s"));
        let q = Query::parse(Some("buildargs=nope"));
        let e = job_from_query(&q, Some("buildargs=nope")).unwrap_err();
        assert!(e.message.starts_with("buildargs:"), "{}", e.message);
    }
}
