//! `GET /containers/{id}/changes` (what the container changed in its image's files, from its
//! overlay upper directory) and `GET /containers/{id}/export` (its whole filesystem as a tar
//! stream), on the engine's `diff` and `export_merged`.

use crate::error::ApiError;
use crate::frames::{FrameWriter, Stream};
use crate::http::{self, Reply};
use crate::state::{blocking, State};
use hyper::StatusCode;
use pier_engine::image::export::export_merged;
use serde_json::{json, Value};
use std::sync::Arc;

/// `GET /containers/{id}/changes`: `[{"Path": "/x", "Kind": 0|1|2}]` (changed, added,
/// deleted), sorted by path.
pub async fn changes(state: Arc<State>, key: String) -> Result<Reply, ApiError> {
    let list = blocking(move || Ok(state.engine.diff(&key)?)).await?;
    let items: Vec<Value> = list
        .iter()
        .map(|c| {
            let kind = match c.kind {
                'A' => 1,
                'D' => 2,
                _ => 0,
            };
            json!({"Path": c.path, "Kind": kind})
        })
        .collect();
    Ok(http::json(StatusCode::OK, &Value::Array(items)))
}

/// `GET /containers/{id}/export`: the merged filesystem (image layers and the container's
/// changes) as one tar, streamed. A running container is exported as it is, as Docker does
/// (not a consistent snapshot). An error before the first byte is a status; after it, the
/// stream ends short and the service's log says why.
pub async fn export(state: Arc<State>, key: String) -> Result<Reply, ApiError> {
    let s = state.clone();
    let (paths, rec, image, scratch) = blocking(move || {
        let (paths, rec) = s.engine.find(&key)?;
        let store = s.engine.images()?;
        let image = store.resolve(&rec.image_id).map_err(|e| {
            ApiError::from_engine(
                &e.context(format!("image {} of container {}", rec.image, rec.name)),
            )
        })?;
        let scratch = store.staging_dir()?;
        Ok((paths, rec, image, scratch))
    })
    .await?;
    let (mut reply, tx) = http::streamed("application/x-tar");
    *reply.status_mut() = StatusCode::OK;
    let busy = state.busy();
    // Its own thread, not the blocking pool's: export_merged moves the calling thread into a
    // private mount namespace for its read-only view, and a pool thread would stay there for
    // the engine calls it runs next (their unmounts would miss the host's mounts).
    let spawned = std::thread::Builder::new()
        .name("pier-export".into())
        .spawn(move || {
            let _busy = busy;
            let out = std::io::BufWriter::with_capacity(
                64 << 10,
                FrameWriter::new(Some(tx), Stream::Stdout, true),
            );
            let result = export_merged(&image.layer_dirs, &paths.upper(), scratch.path(), out)
                .and_then(|mut w| {
                    std::io::Write::flush(&mut w)?;
                    Ok(w)
                });
            // The staging directory goes before the stream ends (the writer is its last
            // sender): a client that has the whole tar finds nothing left behind.
            drop(scratch);
            match result {
                Ok(writer) => drop(writer),
                Err(e) => {
                    eprintln!(
                        "pier system service: exporting container {}: {e:#}",
                        rec.name
                    )
                }
            }
        });
    spawned.map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("starting the export thread: {e}"),
    })?;
    Ok(reply)
}
