//! Large bodies both ways, for the endpoints that move archives and images: a request body
//! read by blocking code ([`BodyReader`], bounded in size and in the time between chunks),
//! and a reply body written by blocking code ([`ChannelWriter`]) or as Docker's stream of
//! JSON messages ([`JsonStream`]).

use crate::http::BODY_TIME_LIMIT;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Request;
use std::io::{self, Read, Write};
use tokio::sync::mpsc;

/// The largest archive or image accepted in a request body (`docker cp`, `docker load`).
pub const UPLOAD_LIMIT: u64 = 16 << 30;

/// A request body read as a blocking [`Read`]: a task forwards its chunks, ending the read
/// with an error when the client sends more than the limit or nothing for
/// [`BODY_TIME_LIMIT`].
pub struct BodyReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl BodyReader {
    /// Starts forwarding `req`'s body (must be called on the runtime).
    pub fn new(req: Request<Incoming>, limit: u64) -> BodyReader {
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut body = req.into_body();
            let mut total: u64 = 0;
            loop {
                let failure = match tokio::time::timeout(BODY_TIME_LIMIT, body.frame()).await {
                    Err(_) => format!("no request body data received for {BODY_TIME_LIMIT:?}"),
                    Ok(None) => return,
                    Ok(Some(Err(e))) => format!("reading the request body: {e}"),
                    Ok(Some(Ok(frame))) => {
                        let Ok(data) = frame.into_data() else {
                            continue;
                        };
                        total += data.len() as u64;
                        if total > limit {
                            format!("request body larger than {limit} bytes")
                        } else if tx.send(Ok(data)).await.is_err() {
                            // The reader gave up (a refused archive): stop reading.
                            return;
                        } else {
                            continue;
                        }
                    }
                };
                let _ = tx.send(Err(failure)).await;
                return;
            }
        });
        BodyReader {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(b)) => self.current = b,
                Some(Err(m)) => return Err(io::Error::other(m)),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// A blocking [`Write`] into a streamed reply (see [`crate::http::streamed`]), in chunks of
/// 64 KiB; writing fails with `BrokenPipe` once the client has gone, which ends the writer.
pub struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 << 10;

impl ChannelWriter {
    /// Writes into `tx`.
    pub fn new(tx: mpsc::Sender<Bytes>) -> ChannelWriter {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

/// Docker's progress stream: one JSON object a line (`{"status": ...}`, `{"stream": ...}`,
/// and `{"errorDetail": ..., "error": ...}` for a failure after the 200 was sent).
pub struct JsonStream {
    tx: mpsc::Sender<Bytes>,
}

impl JsonStream {
    /// Messages into `tx`.
    pub fn new(tx: mpsc::Sender<Bytes>) -> JsonStream {
        JsonStream { tx }
    }

    /// Sends one message; false once the client has gone.
    pub fn send(&self, v: &serde_json::Value) -> bool {
        let mut line = serde_json::to_vec(v).unwrap_or_default();
        line.extend_from_slice(b"\r\n");
        self.tx.blocking_send(Bytes::from(line)).is_ok()
    }

    /// `{"status": text}`, with `"id"` when given.
    pub fn status(&self, text: &str, id: Option<&str>) -> bool {
        match id {
            Some(id) => {
                self.send(&serde_json::json!({"status": text, "progressDetail": {}, "id": id}))
            }
            None => self.send(&serde_json::json!({"status": text})),
        }
    }

    /// The failure the client prints (and exits non-zero for).
    pub fn error(&self, message: &str) {
        self.send(&serde_json::json!({
            "errorDetail": {"message": message},
            "error": message,
        }));
    }

    /// Whether the client has gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}
