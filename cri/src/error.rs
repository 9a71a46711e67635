//! What can go wrong talking CRI, named for callers to match on.

/// An error of the CRI client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint is not one this client speaks (only `unix://` sockets).
    #[error("CRI endpoint {endpoint}: {reason}")]
    Endpoint {
        /// The endpoint as given.
        endpoint: String,
        /// Why it is refused.
        reason: String,
    },
    /// Nothing answers on the socket.
    #[error("connecting to the CRI endpoint {endpoint}: {reason}")]
    Connect {
        /// The endpoint as given.
        endpoint: String,
        /// The transport's reason.
        reason: String,
    },
    /// The runtime refused or failed a call; `message` is the runtime's own words.
    #[error("{call}: {message}")]
    Call {
        /// The CRI method (RunPodSandbox, CreateContainer, ...).
        call: &'static str,
        /// The gRPC status code.
        code: tonic::Code,
        /// The runtime's message.
        message: String,
    },
    /// A reply lacked a field the API promises.
    #[error("{0}: the reply has no {1}")]
    Missing(&'static str, &'static str),
    /// A pod or container configuration file could not be used.
    #[error("{file}: {reason}")]
    Config {
        /// The file (or `-`).
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A private containerd could not be set up ([`crate::private_containerd`]).
    #[error("{step}: {reason}")]
    Setup {
        /// What was being done.
        step: String,
        /// Why it failed.
        reason: String,
    },
    /// The async runtime under the blocking client could not be made.
    #[error("starting the CRI client's I/O runtime: {0}")]
    Runtime(String),
}

impl Error {
    /// A [`Error::Setup`] of `step`.
    pub(crate) fn setup(step: &str, reason: impl Into<String>) -> Error {
        Error::Setup {
            step: step.into(),
            reason: reason.into(),
        }
    }

    /// A mapper from a gRPC status to [`Error::Call`] for `call`.
    pub(crate) fn call(call: &'static str) -> impl Fn(tonic::Status) -> Error {
        move |status| Error::Call {
            call,
            code: status.code(),
            message: status.message().to_string(),
        }
    }
}
