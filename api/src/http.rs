//! Bodies and replies: bounded JSON request bodies, JSON and empty replies, streamed replies
//! fed from a channel, and the query string.

use crate::error::ApiError;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// The body of every reply.
pub type Body = BoxBody<Bytes, std::io::Error>;
/// A reply.
pub type Reply = Response<Body>;

/// The largest JSON request body accepted (a container's create request is a few KiB).
pub const JSON_LIMIT: usize = 1 << 20;
/// How long a client may take to send a request body.
pub const BODY_TIME_LIMIT: Duration = Duration::from_secs(30);

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// A whole body from bytes.
pub fn full_body(bytes: impl Into<Bytes>) -> Body {
    full(bytes.into())
}

/// A JSON reply.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
    let mut text = serde_json::to_vec(value).unwrap_or_default();
    text.push(b'\n');
    let mut r = Response::new(full(Bytes::from(text)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// One JSON value and a newline: a message of a streamed JSON reply (stats, events).
pub fn json_line(value: &serde_json::Value) -> Bytes {
    let mut text = serde_json::to_vec(value).unwrap_or_default();
    text.push(b'\n');
    Bytes::from(text)
}

/// A reply without a body (204 after start, stop, remove...).
pub fn empty(status: StatusCode) -> Reply {
    let mut r = Response::new(Empty::new().map_err(|never| match never {}).boxed());
    *r.status_mut() = status;
    r
}

/// Docker's error reply: `{"message": "..."}`.
pub fn error(e: &ApiError) -> Reply {
    json(e.status, &serde_json::json!({ "message": e.message }))
}

/// Reads a JSON request body of at most [`JSON_LIMIT`] bytes within [`BODY_TIME_LIMIT`]: 413
/// when larger, 408 when too slow, 400 when it is not JSON. An empty body is `null`.
pub async fn read_json(req: Request<Incoming>) -> Result<serde_json::Value, ApiError> {
    let limited = Limited::new(req.into_body(), JSON_LIMIT);
    let collected = match tokio::time::timeout(BODY_TIME_LIMIT, limited.collect()).await {
        Err(_) => {
            return Err(ApiError {
                status: StatusCode::REQUEST_TIMEOUT,
                message: format!("request body not received within {BODY_TIME_LIMIT:?}"),
            })
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!("request body larger than {JSON_LIMIT} bytes"),
            })
        }
        Ok(Err(e)) => {
            return Err(ApiError::bad_request(format!(
                "reading the request body: {e}"
            )))
        }
        Ok(Ok(c)) => c.to_bytes(),
    };
    if collected.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(&collected)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON in the request body: {e}")))
}

/// A streamed body fed by a channel: each message is one chunk, the end of the channel is
/// the end of the body.
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx).map(|m| m.map(|b| Ok(Frame::data(b))))
    }
}

/// A streamed reply with `content_type`, and the sender that feeds it.
pub fn streamed(content_type: &'static str) -> (Reply, mpsc::Sender<Bytes>) {
    let (tx, rx) = mpsc::channel(64);
    let mut r = Response::new(ChannelBody { rx }.boxed());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    (r, tx)
}

/// The query string's parameters (the last value of a repeated one wins).
#[derive(Debug, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    /// Parses `a=1&b=x%20y`.
    pub fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A boolean parameter as Docker reads them: `1`, `true`, `True` are true.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("1" | "true" | "True" | "TRUE"))
    }

    /// A number parameter; 400 naming it when it is not one.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("invalid value for {name}: {v:?} is not a number"))
            }),
        }
    }
}
