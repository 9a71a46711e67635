//! `pier system service`: the Docker Engine API (version 1.41 and the versions below it that
//! clients negotiate down to) on a Unix socket, so the `docker` CLI, docker-compose and the
//! SDKs drive pier. This crate is the service's own room: it uses pier-engine as a library,
//! exactly as the `pier` command does, and shares its state directory, so a container made
//! through the socket shows in `pier ps` and the other way round.
//!
//! The HTTP stack is hyper 1 (with hyper-util's tokio glue) rather than a framework such as
//! axum: the API needs HTTP/1.1 upgrades (`attach` hijacks the connection, as dockerd does),
//! header-read time limits and streamed bodies, all of which hyper exposes directly, while
//! routing is a dozen path patterns that a `match` says more plainly than a router would.
//! hyper is the HTTP implementation under axum, reqwest and most of Rust's HTTP; tokio runs it.
//!
//! One map of the room: [`service`] (the socket, connections, idle time-out), [`launcher`]
//! (the single-threaded process that forks container monitors), [`router`] (paths to
//! handlers), [`system`], [`containers`], [`images`], [`image_manage`], [`image_transfer`]
//! (the endpoints), [`transfer`] (archive-sized bodies both ways), [`http`] (bodies,
//! limits, JSON replies), [`error`] (Docker's `{"message": ...}` errors), [`frames`]
//! (Docker's multiplexed stdout/stderr stream), [`events`], [`disk_usage`], [`auth`],
//! [`activation`] (a socket passed by systemd), [`boot`] (restart policies on start).

pub mod activation;
pub mod auth;
pub mod boot;
pub mod build;
pub mod containers;
pub mod disk_usage;
pub mod error;
pub mod events;
pub mod exec_watcher;
pub mod frames;
pub mod http;
pub mod image_manage;
pub mod image_transfer;
pub mod images;
pub mod launcher;
pub mod networks;
pub mod resource_filters;
pub mod router;
pub mod service;
pub mod state;
pub mod system;
pub mod timestamps;
pub mod transfer;
pub mod volumes;

pub use service::{serve, ServiceOptions};

/// The newest API version served (Debian 12's docker.io 20.10 client speaks it).
pub const API_VERSION: &str = "1.41";
/// The oldest API version accepted.
pub const MIN_API_VERSION: &str = "1.24";
/// Where the service listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/pier/docker.sock";
