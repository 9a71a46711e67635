//! `GET|HEAD /_ping`, `GET /version`, `GET /info`: what a client asks first.

use crate::error::ApiError;
use crate::http::{self, Reply};
use crate::{API_VERSION, MIN_API_VERSION};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use pier_engine::container::record::ContainerStatus;
use pier_engine::container::Engine;
use serde_json::{json, Value};

/// `_ping`: `OK` (no body for HEAD), with the headers clients negotiate from.
pub fn ping(head: bool) -> Reply {
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from_static(b"OK")
    };
    let mut r = Response::new(Full::new(body).map_err(|never| match never {}).boxed());
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("OSType", HeaderValue::from_static("linux"));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    // The classic builder: pier has no BuildKit session endpoint.
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    r
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `version`.
pub fn version() -> Value {
    let v = env!("CARGO_PKG_VERSION");
    json!({
        "Platform": {"Name": "pier"},
        "Components": [{
            "Name": "Engine",
            "Version": v,
            "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": arch()},
        }],
        "Version": v,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": arch(),
        "KernelVersion": kernel(),
        "BuildTime": "",
    })
}

/// `info`: the counts and the machine, as `pier system info` reports them.
pub fn info(engine: &Engine) -> Result<Value, ApiError> {
    let containers = engine.containers()?;
    let count = |f: &dyn Fn(&pier_engine::container::record::ContainerRecord) -> bool| {
        containers.iter().filter(|c| f(c)).count()
    };
    let running = count(&|c| c.status == ContainerStatus::Running && !c.paused);
    let paused = count(&|c| c.paused);
    let cgroup = pier_oci::cgroups::detect_version()
        .map(|v| v.to_string())
        .unwrap_or_default();
    let security: Vec<String> = pier_oci::security::report::protections(engine.root())
        .iter()
        .map(|p| format!("name={},state={}", p.name, p.state))
        .collect();
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(json!({
        "ID": "pier",
        "Containers": containers.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": containers.len() - running - paused,
        "Images": engine.images()?.list()?.len(),
        "Driver": "overlay",
        "DockerRootDir": engine.root(),
        "KernelVersion": kernel(),
        "OperatingSystem": "pier",
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "Name": hostname,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup,
        "DefaultRuntime": "pier",
        "Runtimes": {"pier": {"path": "pier"}},
        "SecurityOptions": security,
        "Swarm": {"LocalNodeState": "inactive"},
        "Labels": [],
        "Warnings": [],
    }))
}

/// `_ping`'s reply for an unsupported method is Docker's 405.
pub fn method_not_allowed() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: "_ping takes GET or HEAD".into(),
    }
}

/// A JSON reply of `value`.
pub fn ok(value: &Value) -> Reply {
    http::json(StatusCode::OK, value)
}
