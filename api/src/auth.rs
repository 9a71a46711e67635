//! `POST /auth`: checks credentials against a registry with the engine's login code (the
//! request `pier login` makes), as dockerd does for `docker login`. Nothing is saved here:
//! the client keeps its credentials itself.

use crate::error::ApiError;
use crate::http::{self, Reply};
use crate::state::blocking;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use pier_engine::image::registry::auth::Credentials;
use pier_engine::image::registry::{check_login, registry_name};
use serde_json::{json, Value};

/// `POST /auth` with `{"username", "password", "serveraddress"}`: 200 `{"Status": "Login
/// Succeeded"}`; 401 when the registry refuses the credentials or cannot be asked.
pub async fn auth(req: Request<Incoming>) -> Result<Reply, ApiError> {
    let body = http::read_json(req).await?;
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (username, password) = (field("username"), field("password"));
    if !field("identitytoken").is_empty() {
        return Err(ApiError::bad_request(
            "identitytoken: pier logs in with a user name and password only",
        ));
    }
    if username.is_empty() || password.is_empty() {
        return Err(ApiError::bad_request(
            "username and password: both are needed to log in",
        ));
    }
    let server = field("serveraddress");
    let host = registry_name(Some(&server).filter(|s| !s.is_empty()).map(String::as_str));
    blocking(move || {
        check_login(&host, Credentials { username, password }).map_err(|e| ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: format!("logging in to {host}: {e:#}"),
        })
    })
    .await?;
    Ok(http::json(
        StatusCode::OK,
        &json!({"Status": "Login Succeeded", "IdentityToken": ""}),
    ))
}
