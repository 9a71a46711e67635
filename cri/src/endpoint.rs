//! The gRPC channel over the runtime's Unix socket.

use crate::Error;
use hyper_util::rt::TokioIo;
use std::path::PathBuf;
use tonic::transport::{Channel, Endpoint, Uri};

/// containerd's socket, where kubelet finds it by default.
pub const DEFAULT_ENDPOINT: &str = "unix:///run/containerd/containerd.sock";

/// The socket path of `endpoint`: `unix:///path` or a bare absolute path (as crictl takes
/// them). TCP endpoints are refused: kubelet's runtime socket is local.
pub fn socket_path(endpoint: &str) -> Result<PathBuf, Error> {
    let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    if !path.starts_with('/') {
        return Err(Error::Endpoint {
            endpoint: endpoint.into(),
            reason: "not a unix:///absolute/path socket".into(),
        });
    }
    Ok(PathBuf::from(path))
}

/// Connects a channel to `endpoint`'s socket. The URI given to tonic is a placeholder: the
/// connector ignores it and dials the socket (HTTP/2 needs an authority all the same).
pub(crate) async fn channel(endpoint: &str) -> Result<Channel, Error> {
    let path = socket_path(endpoint)?;
    let connect_error = |reason: String| Error::Connect {
        endpoint: endpoint.into(),
        reason,
    };
    let dial = Endpoint::from_static("http://localhost")
        .connect_timeout(std::time::Duration::from_secs(10));
    dial.connect_with_connector(tower::service_fn(move |_: Uri| {
        let path = path.clone();
        async move {
            let stream = tokio::net::UnixStream::connect(&path).await?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    }))
    .await
    .map_err(|e| {
        // tonic's transport error says only "transport error"; its source says why.
        let why = std::error::Error::source(&e)
            .map(|s| s.to_string())
            .unwrap_or_else(|| e.to_string());
        connect_error(why)
    })
}
