//! Docker's error replies: a status code and `{"message": "..."}`.
//!
//! The engine reports failures as `anyhow` errors with words, not named kinds (a seam the
//! architecture issue is to close); until it has named errors, [`ApiError::from_engine`]
//! maps the engine's own phrases to Docker's status codes, in this one place.

use hyper::StatusCode;

/// An error reply.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The one-line message the client prints.
    pub message: String,
}

impl ApiError {
    /// 400: a parameter or body the client got wrong.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404 for a path the API does not have.
    pub fn no_such_endpoint(method: &str, path: &str) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!("page not found: {method} {path} is not an endpoint pier serves"),
        }
    }

    /// An engine failure with the status its words mean: 404 for what does not exist, 409
    /// for a conflict with the container's state or a name, 500 otherwise.
    pub fn from_engine(e: &anyhow::Error) -> ApiError {
        let message = format!("{e:#}");
        let lower = message.to_lowercase();
        let status = if lower.starts_with("no such ")
            || lower.contains(": no such container")
            || lower.contains(": no such image")
        {
            StatusCode::NOT_FOUND
        } else if lower.contains("already in use")
            || lower.contains("it is running")
            || lower.contains("is not running")
            || lower.contains("is restarting")
            || lower.contains("is ambiguous")
        {
            StatusCode::CONFLICT
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        ApiError { status, message }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::from_engine(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_words_map_to_docker_codes() {
        let code = |m: &str| ApiError::from_engine(&anyhow::anyhow!(m.to_string())).status;
        assert_eq!(code("no such container: x"), StatusCode::NOT_FOUND);
        assert_eq!(code("no such image: foo:latest"), StatusCode::NOT_FOUND);
        assert_eq!(
            code("cannot remove container x: it is running (stop it first, or use rm -f)"),
            StatusCode::CONFLICT
        );
        assert_eq!(
            code("the container name \"x\" is already in use by container 0123"),
            StatusCode::CONFLICT
        );
        assert_eq!(code("mount failed"), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
