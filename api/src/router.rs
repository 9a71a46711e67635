//! Paths to handlers: the API version prefix (`/v1.41/...`, optional), then one `match` on
//! the method and the path's segments. Every reply carries `Api-Version` and `Server`.

use crate::containers::{
    archive, attach_stdin, exec, filesystem, lifecycle, list, ops, output, prune, stats, update,
};
use crate::error::ApiError;
use crate::http::{self, Query, Reply};
use crate::state::{blocking, State};
use crate::{
    auth, build, disk_usage, events, image_manage, image_transfer, images, networks, system,
    volumes, API_VERSION, MIN_API_VERSION,
};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request};
use std::convert::Infallible;
use std::sync::Arc;

/// `(major, minor)` of `1.41`.
fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// The path without its `/v1.NN` prefix; 400 for a version outside what is served.
pub fn strip_version(path: &str) -> Result<&str, ApiError> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(path);
    };
    let (version, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Some(asked) = parse_version(version) else {
        return Ok(path);
    };
    let (max, min) = (parse_version(API_VERSION), parse_version(MIN_API_VERSION));
    if Some(asked) > max {
        return Err(ApiError::bad_request(format!(
            "client version {version} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    if Some(asked) < min {
        return Err(ApiError::bad_request(format!(
            "client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    Ok(tail)
}

/// Serves one request.
pub async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let _busy = state.busy();
    // The service's log: one line a request, the calls a client makes (`docker run` makes
    // five), to read beside the client.
    let line = format!("{} {}", req.method(), req.uri());
    let mut reply = match route(state.clone(), req).await {
        Ok(r) => r,
        Err(e) => http::error(&e),
    };
    eprintln!("pier system service: {line} -> {}", reply.status().as_u16());
    let h = reply.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert(
        "Server",
        HeaderValue::from_static(concat!("pier/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    Ok(reply)
}

async fn route(state: Arc<State>, req: Request<Incoming>) -> Result<Reply, ApiError> {
    let method = req.method().clone();
    let full_path = req.uri().path().to_string();
    let q = Query::parse(req.uri().query());
    let path = strip_version(&full_path)?;
    let seg: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    let launches = matches!(
        seg.as_slice(),
        ["containers", "create"] | ["containers", _, "start"]
    );
    if !matches!(seg.as_slice(), ["_ping"] | ["version"]) {
        // As every `pier` command does first: clean up after containers whose monitor died,
        // and finish the network tear-down of those that exited (launches skip the latter).
        let s = state.clone();
        blocking(move || {
            s.engine.reconcile()?;
            if !launches {
                s.engine.settle_network_teardown()?;
            }
            Ok(())
        })
        .await?;
    }
    let s = state.clone();
    let ok = |v: serde_json::Value| Ok(system::ok(&v));
    match (&method, seg.as_slice()) {
        (&Method::GET, ["_ping"]) => Ok(system::ping(false)),
        (&Method::HEAD, ["_ping"]) => Ok(system::ping(true)),
        (_, ["_ping"]) => Err(system::method_not_allowed()),
        (&Method::GET, ["version"]) => ok(system::version()),
        (&Method::GET, ["info"]) => ok(blocking(move || system::info(&s.engine)).await?),
        (&Method::GET, ["containers", "json"]) => {
            ok(blocking(move || list::list(&s.engine, &q)).await?)
        }
        (&Method::POST, ["containers", "create"]) => lifecycle::create(state, q, req).await,
        (&Method::GET, ["containers", id, "json"]) => {
            let id = id.to_string();
            ok(blocking(move || list::inspect(&s.engine, &id)).await?)
        }
        (&Method::POST, ["containers", id, "start"]) => {
            lifecycle::start(state, id.to_string()).await
        }
        (&Method::POST, ["containers", id, "stop"]) => {
            lifecycle::stop(state, id.to_string(), q).await
        }
        (&Method::POST, ["containers", id, "kill"]) => {
            lifecycle::kill(state, id.to_string(), q).await
        }
        (&Method::POST, ["containers", id, "wait"]) => {
            lifecycle::wait(state, id.to_string(), q).await
        }
        (&Method::DELETE, ["containers", id]) => lifecycle::remove(state, id.to_string(), q).await,
        (&Method::GET, ["containers", id, "logs"]) => output::logs(state, id.to_string(), q).await,
        (&Method::POST, ["containers", id, "attach"]) => {
            output::attach(state, id.to_string(), q, req).await
        }
        (&Method::HEAD, ["containers", id, "archive"]) => {
            archive::head(state, id.to_string(), q).await
        }
        (&Method::GET, ["containers", id, "archive"]) => {
            archive::get(state, id.to_string(), q).await
        }
        (&Method::PUT, ["containers", id, "archive"]) => {
            archive::put(state, id.to_string(), q, req).await
        }
        (&Method::GET, ["images", "get"]) => {
            let names = image_transfer::names_param(req.uri().query());
            image_transfer::save(state, names).await
        }
        (&Method::POST, ["images", "load"]) => image_transfer::load(state, req).await,
        (&Method::POST, ["images", "create"]) => image_transfer::pull(state, q, req).await,
        (&Method::POST, ["images", "prune"]) => {
            ok(blocking(move || image_manage::prune(&s.engine, &q)).await?)
        }
        (&Method::POST, ["containers", id, "restart"]) => {
            ops::restart(state, id.to_string(), q).await
        }
        (&Method::POST, ["containers", id, "pause"]) => ops::pause(state, id.to_string()).await,
        (&Method::POST, ["containers", id, "unpause"]) => ops::unpause(state, id.to_string()).await,
        (&Method::POST, ["containers", id, "rename"]) => {
            ops::rename(state, id.to_string(), q).await
        }
        (&Method::GET, ["containers", id, "top"]) => ops::top(state, id.to_string(), q).await,
        (&Method::GET, ["containers", id, "stats"]) => stats::stats(state, id.to_string(), q).await,
        (&Method::POST, ["containers", id, "update"]) => {
            update::update(state, id.to_string(), req).await
        }
        (&Method::GET, ["containers", id, "changes"]) => {
            filesystem::changes(state, id.to_string()).await
        }
        (&Method::GET, ["containers", id, "export"]) => {
            filesystem::export(state, id.to_string()).await
        }
        (&Method::POST, ["containers", "prune"]) => {
            ok(blocking(move || prune::prune(&s.engine, &q)).await?)
        }
        (&Method::GET, ["events"]) => events::events(state, q).await,
        (&Method::GET, ["system", "df"]) => ok(blocking(move || disk_usage::df(&s.engine)).await?),
        (&Method::POST, ["auth"]) => auth::auth(req).await,
        (&Method::POST, ["containers", id, "resize"]) => {
            attach_stdin::resize(state, id.to_string(), q).await
        }
        (&Method::POST, ["containers", id, "exec"]) => {
            exec::create(state, id.to_string(), req).await
        }
        (&Method::POST, ["exec", id, "start"]) => exec::start(state, id.to_string(), req).await,
        (&Method::POST, ["exec", id, "resize"]) => exec::resize(state, id.to_string(), q).await,
        (&Method::GET, ["exec", id, "json"]) => exec::inspect(state, id.to_string()).await,
        (&Method::GET, ["images", "json"]) => ok(blocking(move || images::list(&s.engine)).await?),
        // Image names have slashes (`library/busybox`): everything between is the name.
        (&Method::GET, ["images", name @ .., "json"]) if !name.is_empty() => {
            let name = name.join("/");
            ok(blocking(move || images::inspect(&s.engine, &name)).await?)
        }
        (&Method::GET, ["images", name @ .., "history"]) if !name.is_empty() => {
            let name = name.join("/");
            ok(blocking(move || image_manage::history(&s.engine, &name)).await?)
        }
        (&Method::GET, ["images", name @ .., "get"]) if !name.is_empty() => {
            image_transfer::save(state, vec![name.join("/")]).await
        }
        (&Method::POST, ["images", name @ .., "tag"]) if !name.is_empty() => {
            let name = name.join("/");
            let code = blocking(move || image_manage::tag(&s.engine, &name, &q)).await?;
            Ok(http::empty(code))
        }
        (&Method::POST, ["images", name @ .., "push"]) if !name.is_empty() => {
            image_transfer::push(state, name.join("/"), q, req).await
        }
        (&Method::DELETE, ["images", name @ ..]) if !name.is_empty() => {
            let name = name.join("/");
            ok(blocking(move || image_manage::remove(&s.engine, &name, &q)).await?)
        }
        (&Method::GET, ["networks"]) => {
            ok(blocking(move || networks::list(&s.engine, q.get("filters"))).await?)
        }
        (&Method::POST, ["networks", "create"]) => {
            let body = http::read_json(req).await?;
            let v = blocking(move || networks::create(&s.engine, &body)).await?;
            Ok(http::json(hyper::StatusCode::CREATED, &v))
        }
        (&Method::POST, ["networks", "prune"]) => {
            ok(blocking(move || networks::prune(&s.engine)).await?)
        }
        (&Method::GET, ["networks", id]) => {
            let id = id.to_string();
            ok(blocking(move || networks::inspect(&s.engine, &id)).await?)
        }
        (&Method::DELETE, ["networks", id]) => {
            let id = id.to_string();
            blocking(move || networks::remove(&s.engine, &id)).await?;
            Ok(http::empty(hyper::StatusCode::NO_CONTENT))
        }
        (&Method::POST, ["networks", id, action @ ("connect" | "disconnect")]) => {
            let (id, connect) = (id.to_string(), *action == "connect");
            let body = http::read_json(req).await?;
            blocking(move || match connect {
                true => networks::connect(&s.engine, &id, &body),
                false => networks::disconnect(&s.engine, &id, &body),
            })
            .await?;
            Ok(http::empty(hyper::StatusCode::OK))
        }
        (&Method::GET, ["volumes"]) => {
            ok(blocking(move || volumes::list(&s.engine, q.get("filters"))).await?)
        }
        (&Method::POST, ["volumes", "create"]) => {
            let body = http::read_json(req).await?;
            let v = blocking(move || volumes::create(&s.engine, &body)).await?;
            Ok(http::json(hyper::StatusCode::CREATED, &v))
        }
        (&Method::POST, ["volumes", "prune"]) => {
            ok(blocking(move || volumes::prune(&s.engine, q.get("filters"))).await?)
        }
        (&Method::GET, ["volumes", name]) => {
            let name = name.to_string();
            ok(blocking(move || volumes::inspect(&s.engine, &name)).await?)
        }
        (&Method::DELETE, ["volumes", name]) => {
            let (name, force) = (name.to_string(), q.flag("force"));
            blocking(move || volumes::remove(&s.engine, &name, force)).await?;
            Ok(http::empty(hyper::StatusCode::NO_CONTENT))
        }
        (&Method::POST, ["build"]) => build::build(state, q, req).await,
        (&Method::POST, ["build", "prune"]) => ok(build::prune(state).await?),
        _ => Err(ApiError::no_such_endpoint(method.as_str(), &full_path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefixes() {
        assert_eq!(
            strip_version("/v1.41/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(strip_version("/v1.24/_ping").unwrap(), "/_ping");
        assert_eq!(strip_version("/_ping").unwrap(), "/_ping");
        assert!(strip_version("/v1.43/info")
            .unwrap_err()
            .message
            .contains("too new"));
        assert!(strip_version("/v1.12/info")
            .unwrap_err()
            .message
            .contains("too old"));
    }
}
