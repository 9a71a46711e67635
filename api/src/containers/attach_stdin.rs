//! The input half of `POST /containers/{id}/attach?stdin=1` and
//! `POST /containers/{id}/resize`: what the client types reaches the container through its
//! monitor's attach point (the engine's `attach_point`), which holds the container's stdin
//! pipe or terminal. The output half is [`super::output`], from the container's log.

use crate::error::ApiError;
use crate::http::{self, Query, Reply};
use crate::state::{blocking, State};
use hyper::StatusCode;
use pier_engine::container::attach_point;
use pier_engine::container::record::ContainerStatus;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWriteExt};

/// How long the input of an attach to a created container waits for it to start (as the
/// output half does).
const START_WAIT: Duration = Duration::from_secs(30);

/// Copies the client's input to the container `id` until the client ends it (half-closes:
/// `echo hi | docker run -i` does) or the container's run ends. An attach made before the
/// start (`docker run -i` attaches first) waits for the container to run; what the client
/// sent meanwhile waits in the connection.
pub async fn forward(state: Arc<State>, id: String, mut from_client: impl AsyncRead + Unpin) {
    let Some(stream) = connect_when_running(&state, &id).await else {
        return;
    };
    let Ok(mut to_monitor) = tokio::net::UnixStream::from_std(stream) else {
        return;
    };
    // Ends at the client's end-of-file, or when the monitor is gone (the run ended).
    let _ = tokio::io::copy(&mut from_client, &mut to_monitor).await;
    // End-of-file reaches the monitor, which closes a `StdinOnce` container's stdin.
    let _ = to_monitor.shutdown().await;
}

/// The container's attach point once its run has begun; `None` if it ended or never began.
async fn connect_when_running(
    state: &Arc<State>,
    id: &str,
) -> Option<std::os::unix::net::UnixStream> {
    let began = Instant::now();
    loop {
        let (s, key) = (state.clone(), id.to_string());
        let found = blocking(move || Ok(s.engine.find(&key)?)).await;
        let Ok((paths, rec)) = found else {
            return None;
        };
        match rec.status {
            ContainerStatus::Running if attach_point::is_listening(&paths.dir) => {
                let dir = paths.dir.clone();
                let stream = blocking(move || Ok(attach_point::connect_stdin(&dir)?)).await;
                match stream {
                    Ok(s) if s.set_nonblocking(true).is_ok() => return Some(s),
                    // The run ended between the check and the connection.
                    _ => return None,
                }
            }
            ContainerStatus::Created | ContainerStatus::Running if began.elapsed() < START_WAIT => {
            }
            _ if rec.restarting && began.elapsed() < START_WAIT => {}
            _ => return None,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `POST /containers/{id}/resize?h=&w=`: the container's terminal size, set through its
/// monitor (the terminal's master is the monitor's).
pub async fn resize(state: Arc<State>, key: String, q: Query) -> Result<Reply, ApiError> {
    let (rows, cols) = size(&q)?;
    blocking(move || {
        let (paths, rec) = state.engine.find(&key)?;
        if rec.status != ContainerStatus::Running {
            return Err(ApiError {
                status: StatusCode::CONFLICT,
                message: format!(
                    "cannot resize container {}: it is {}, not running",
                    rec.name,
                    rec.status.as_str()
                ),
            });
        }
        if !rec.config.tty {
            // Docker answers this one with success too: there is nothing to resize.
            return Ok(());
        }
        attach_point::resize(&paths.dir, rows, cols).map_err(|e| {
            anyhow::anyhow!("resizing the terminal of container {}: {e:#}", rec.name)
        })?;
        Ok(())
    })
    .await?;
    Ok(http::empty(StatusCode::OK))
}

/// `h` and `w` of a resize request.
pub fn size(q: &Query) -> Result<(u16, u16), ApiError> {
    let dim = |name: &str| -> Result<u16, ApiError> {
        q.number::<u16>(name)?.ok_or_else(|| {
            ApiError::bad_request(format!("resize needs {name} (rows h, columns w)"))
        })
    };
    Ok((dim("h")?, dim("w")?))
}
