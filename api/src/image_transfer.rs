//! Images in and out through the socket: `GET /images/{name}/get` and `GET /images/get`
//! (save), `POST /images/load`, `POST /images/create?fromImage=` (pull) and
//! `POST /images/{name}/push`, on the engine's save, load, pull and push. Pull and push
//! answer with Docker's JSON progress stream; a failure after the 200 is the stream's last
//! message (`{"errorDetail": ...}`), which the docker client prints and exits 1 for.

use crate::error::ApiError;
use crate::http::{self, Query, Reply};
use crate::state::{blocking, State};
use crate::transfer::{BodyReader, ChannelWriter, JsonStream, UPLOAD_LIMIT};
use base64::Engine as _;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use pier_engine::image::archive;
use pier_engine::image::platform::Platform;
use pier_engine::image::registry::progress::{state_text, PullProgress};
use pier_engine::image::registry::{self, auth::Credentials, RemoteRef};
use pier_engine::image::store::LayerState;
use std::io::Write;
use std::sync::Arc;

/// `GET /images/get?names=a&names=b` and `GET /images/{name}/get`: a tar of the images
/// (OCI layout with Docker's `manifest.json`, which `docker load` reads).
pub async fn save(state: Arc<State>, names: Vec<String>) -> Result<Reply, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image named: give names=IMAGE"));
    }
    let s = state.clone();
    let checked = names.clone();
    // Every name resolved before the 200: a missing image is a 404, not a broken tar.
    blocking(move || {
        let store = s.engine.images()?;
        for n in &checked {
            store.resolve(n)?;
        }
        Ok(())
    })
    .await?;
    let (reply, tx) = http::streamed("application/x-tar");
    let busy = state.busy();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        let mut out = ChannelWriter::new(tx);
        let result = state
            .engine
            .images()
            .and_then(|store| archive::save(&store, &names, &mut out))
            .and_then(|()| out.flush().map_err(Into::into));
        if let Err(e) = result {
            eprintln!("pier system service: saving {names:?}: {e:#}");
        }
    });
    Ok(reply)
}

/// The `names` of `GET /images/get` (repeated, which [`Query`] does not keep).
pub fn names_param(query: Option<&str>) -> Vec<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "names")
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// `POST /images/load?quiet=`: a `docker save` or OCI layout tar in the body. The
/// `Loaded image: x` lines are sent even with `quiet` (which silences only progress bars,
/// as in dockerd; the docker client asks for quiet whenever its output is not a terminal).
pub async fn load(state: Arc<State>, req: Request<Incoming>) -> Result<Reply, ApiError> {
    let mut body = BodyReader::new(req, UPLOAD_LIMIT);
    let lines = blocking(move || {
        let store = state.engine.images()?;
        let loaded = archive::load(&store, &mut body)
            .map_err(|e| ApiError::bad_request(format!("loading the archive: {e:#}")))?;
        Ok(archive::describe(&loaded))
    })
    .await?;
    let mut text = Vec::new();
    for l in lines {
        let v = serde_json::json!({ "stream": format!("{l}\n") });
        text.extend_from_slice(v.to_string().as_bytes());
        text.extend_from_slice(b"\r\n");
    }
    let mut reply = hyper::Response::new(http::full_body(text));
    reply.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(reply)
}

/// The credentials of an `X-Registry-Auth` header (base64url of Docker's AuthConfig JSON:
/// `username`/`password`, or `auth` = base64 of `user:password`); `None` for `{}`.
pub fn registry_auth(req: &Request<Incoming>) -> Result<Option<Credentials>, ApiError> {
    let Some(value) = req.headers().get("X-Registry-Auth") else {
        return Ok(None);
    };
    let bad = |why: String| ApiError::bad_request(format!("X-Registry-Auth: {why}"));
    let text = value.to_str().map_err(|e| bad(e.to_string()))?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let engines = [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
    ];
    let json = engines
        .iter()
        .find_map(|e| e.decode(text).ok())
        .ok_or_else(|| bad("not base64".into()))?;
    let auth: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| bad(format!("not JSON: {e}")))?;
    let field = |k: &str| auth[k].as_str().unwrap_or_default().to_string();
    if !field("username").is_empty() {
        return Ok(Some(Credentials {
            username: field("username"),
            password: field("password"),
        }));
    }
    if !field("auth").is_empty() {
        let pair = base64::engine::general_purpose::STANDARD
            .decode(field("auth"))
            .map_err(|_| bad("auth is not base64".into()))?;
        return Credentials::parse(&String::from_utf8_lossy(&pair))
            .map(Some)
            .map_err(|e| bad(format!("{e:#}")));
    }
    Ok(None)
}

/// `name` with `tag` as Docker's client sends them: a digest tag joins with `@`.
fn with_tag(name: &str, tag: Option<&str>) -> String {
    match tag.filter(|t| !t.is_empty()) {
        Some(t) if t.contains(':') => format!("{name}@{t}"),
        Some(t) => format!("{name}:{t}"),
        None => name.to_string(),
    }
}

/// `POST /images/create?fromImage=NAME&tag=TAG[&platform=]`: a pull, with Docker's progress.
/// (`fromSrc`, an import, is refused by name.)
pub async fn pull(state: Arc<State>, q: Query, req: Request<Incoming>) -> Result<Reply, ApiError> {
    if q.get("fromSrc").is_some() {
        return Err(ApiError::bad_request(
            "POST /images/create?fromSrc= (docker import) is not supported by pier's API: use pier import",
        ));
    }
    let Some(from) = q.get("fromImage").filter(|f| !f.is_empty()) else {
        return Err(ApiError::bad_request("the fromImage parameter is required"));
    };
    let reference = with_tag(from, q.get("tag"));
    let remote = RemoteRef::parse(&reference)
        .map_err(|e| ApiError::bad_request(format!("invalid reference format: {e:#}")))?;
    let platform = match q.get("platform").filter(|p| !p.is_empty()) {
        Some(p) => Platform::parse(p).map_err(|e| ApiError::bad_request(format!("{e:#}")))?,
        None => Platform::host(),
    };
    let creds = registry_auth(&req)?;
    let (reply, tx) = http::streamed("application/json");
    let busy = state.busy();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        let out = JsonStream::new(tx);
        out.status(
            &format!("Pulling from {}", remote.repository),
            Some(&remote.tag),
        );
        let result = state.engine.images().and_then(|store| {
            registry::pull_platform(
                &store,
                &reference,
                &platform,
                &|_| Ok(creds.clone()),
                &mut DockerProgress { out: &out },
            )
        });
        match result {
            Ok(report) => {
                out.status(&format!("Digest: {}", report.repo_digest), None);
                let verb = if report.downloaded.is_empty() {
                    "Image is up to date for"
                } else {
                    "Downloaded newer image for"
                };
                out.status(&format!("Status: {verb} {}", remote.shown()), None);
            }
            Err(e) => out.error(&format!("{e:#}")),
        }
    });
    Ok(reply)
}

/// `POST /images/{name}/push?tag=`: the image pushed to the registry its name holds, with
/// the credentials of `X-Registry-Auth`.
pub async fn push(
    state: Arc<State>,
    name: String,
    q: Query,
    req: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let reference = with_tag(&name, q.get("tag"));
    let creds = registry_auth(&req)?;
    let s = state.clone();
    let r = reference.clone();
    blocking(move || {
        s.engine.images()?.resolve(&r).map_err(|_| ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("An image does not exist locally with the tag: {r}"),
        })
    })
    .await?;
    let (reply, tx) = http::streamed("application/json");
    let busy = state.busy();
    tokio::task::spawn_blocking(move || {
        let _busy = busy;
        let out = JsonStream::new(tx);
        out.status(&format!("The push refers to repository [{name}]"), None);
        let result = state.engine.images().and_then(|store| {
            registry::push(&store, &reference, &|_| Ok(creds.clone()), &mut |line| {
                match line.split_once(": ") {
                    Some((id, word @ (registry::LAYER_PUSHED | registry::LAYER_EXISTS))) => {
                        out.status(word, Some(id))
                    }
                    _ => out.status(line, None),
                };
            })
        });
        match result {
            Ok(report) => {
                let tag = reference
                    .rsplit_once(':')
                    .filter(|(_, t)| !t.contains('/'))
                    .map_or("latest", |(_, t)| t);
                out.send(&serde_json::json!({
                    "progressDetail": {},
                    "aux": {"Tag": tag, "Digest": report.manifest_digest},
                }));
            }
            Err(e) => out.error(&format!("{e:#}")),
        }
    });
    Ok(reply)
}

/// The engine's pull progress as Docker's JSON messages: a line per layer state, with the
/// byte counts while it downloads (what `docker pull` draws its bars from).
struct DockerProgress<'a> {
    out: &'a JsonStream,
}

impl PullProgress for DockerProgress<'_> {
    fn line(&mut self, text: &str) {
        self.out.status(text, None);
    }

    fn layer(&mut self, digest: &str, state: LayerState) {
        let id = registry::short_digest(digest);
        match state {
            LayerState::Downloading { done, total } => {
                self.out.send(&serde_json::json!({
                    "status": "Downloading",
                    "progressDetail": {"current": done, "total": total},
                    "id": id,
                }));
            }
            LayerState::Extracting => {
                self.out.status("Verifying Checksum", Some(id));
                self.out.status("Download complete", Some(id));
                self.out.status("Extracting", Some(id));
            }
            other => {
                self.out.status(state_text(other), Some(id));
            }
        }
    }
}
