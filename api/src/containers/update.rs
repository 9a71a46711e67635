//! `POST /containers/{id}/update`: Docker's update request (the limits of `HostConfig` and
//! its `RestartPolicy`) to the engine's [`UpdateRequest`]; a running container gets its new
//! limits in its cgroup at once. Fields pier does not change are refused by name when set,
//! as in create.

use super::create::{limits, refuse_unknown, restart_policy, LIMIT_FIELDS};
use crate::error::ApiError;
use crate::http::{self, Reply};
use crate::state::{blocking, State};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use pier_engine::container::update::UpdateRequest;
use serde_json::{json, Value};
use std::sync::Arc;

/// Translates an update request's body.
pub fn update_request(body: &Value) -> Result<UpdateRequest, ApiError> {
    let obj = match body {
        Value::Object(o) => o,
        _ => {
            return Err(ApiError::bad_request(
                "the update request's body must be a JSON object (Docker's UpdateConfig)",
            ))
        }
    };
    // The limits create takes, and the restart policy.
    refuse_unknown(obj, &[LIMIT_FIELDS, &["RestartPolicy"]], "")?;
    let limits = limits(obj)?;
    let asked = obj
        .get("RestartPolicy")
        .and_then(|p| p.get("Name"))
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    let restart = if asked {
        Some(restart_policy(obj.get("RestartPolicy"))?)
    } else {
        None
    };
    Ok(UpdateRequest { limits, restart })
}

/// `POST /containers/{id}/update`: 200 `{"Warnings": []}`; 400 for a field pier does not
/// change or a value the kernel refuses, 404 for no such container.
pub async fn update(
    state: Arc<State>,
    key: String,
    req: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let body = http::read_json(req).await?;
    let request = update_request(&body)?;
    blocking(move || {
        state.engine.update_container(&key, &request).map_err(|e| {
            let mut err = ApiError::from_engine(&e);
            if err.status == StatusCode::INTERNAL_SERVER_ERROR {
                // The kernel or the engine refused a value the client gave.
                err.status = StatusCode::BAD_REQUEST;
            }
            err
        })?;
        Ok(http::json(StatusCode::OK, &json!({"Warnings": []})))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_update_body_translates_and_unknowns_are_named() {
        // What `docker update --memory 64m --pids-limit 20` sends (zero values elsewhere).
        let body = json!({"Memory": 67108864, "MemorySwap": 0, "CpuShares": 0, "CpuQuota": 0,
            "KernelMemory": 0, "MemorySwappiness": null, "PidsLimit": 20,
            "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}, "BlkioWeightDevice": null});
        let r = update_request(&body).unwrap();
        assert_eq!(r.limits.memory, Some(64 << 20));
        assert_eq!(r.limits.pids_limit, Some(20));
        assert!(r.restart.is_none());
        let e = update_request(&json!({"CpuQuota": 50000})).unwrap_err();
        assert!(e.message.starts_with("CpuQuota "), "{}", e.message);
        let r = update_request(&json!({"RestartPolicy": {"Name": "always"}})).unwrap();
        assert_eq!(r.restart.map(|p| p.name()), Some("always"));
    }
}
