//! The service: its Unix socket (root-owned, mode 0660, a stale one replaced, never a TCP
//! port), the connections on it, the idle time-out, and a clean end (SIGTERM, SIGINT or
//! `--timeout`: the socket file goes (unless systemd passed the socket), the launcher is
//! reaped; containers keep running under their own monitors, as with the daemonless `pier`
//! command).

use crate::build::forker::BuildForker;
use crate::launcher::Launcher;
use crate::router;
use crate::state::{Activity, State};
use anyhow::{bail, Context, Result};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use pier_engine::container::Engine;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

/// How long a client may take to send a request's headers.
pub const HEADER_TIME_LIMIT: Duration = Duration::from_secs(30);

/// What `pier system service` was asked.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// The socket to listen on.
    pub socket: PathBuf,
    /// Exit after this long without a request or stream in progress (`None`: never).
    pub idle_timeout: Option<Duration>,
}

/// Binds the socket: its directory made if missing, a stale socket (nobody answers on it)
/// replaced, anything else at the path refused; mode 0660, owned by root.
fn bind(path: &Path) -> Result<std::os::unix::net::UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                bail!(
                    "{}: another service is listening on this socket (stop it first)",
                    path.display()
                );
            }
            std::fs::remove_file(path)
                .with_context(|| format!("removing the stale socket {}", path.display()))?;
        }
        Ok(_) => bail!(
            "{} exists and is not a socket: refusing to replace it",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("checking {}", path.display())),
    }
    // Made with no access for group and others, opened to the group once it is root's: no
    // moment in which another user could connect.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
    let listener = std::os::unix::net::UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = listener.with_context(|| format!("binding {}", path.display()))?;
    std::os::unix::fs::chown(path, Some(0), Some(0))
        .with_context(|| format!("chown root:root {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("chmod 0660 {}", path.display()))?;
    Ok(listener)
}

/// Serves the API for the engine rooted at `root` until a signal or the idle time-out.
/// Must be called while the process has one thread (it forks the launcher first).
///
/// Under socket activation (see [`crate::activation`]) it serves the socket systemd passed,
/// and leaves that socket's file to systemd. Before serving, containers whose restart policy
/// wants them running are started again (see [`crate::boot`]).
pub fn serve(root: &Path, opts: ServiceOptions) -> Result<()> {
    let activated = crate::activation::take_listener()?;
    let inherited: Vec<RawFd> = activated.iter().map(|l| l.as_raw_fd()).collect();
    let launcher = Launcher::spawn(root, &inherited)?;
    let builds = BuildForker::spawn(root)?;
    ignore_sigpipe()?;
    let result = (|| {
        let (listener, socket_file) = match activated {
            Some(l) => (l, None),
            None => (bind(&opts.socket)?, Some(opts.socket.clone())),
        };
        listener
            .set_nonblocking(true)
            .context("socket in non-blocking mode")?;
        let state = Arc::new(State {
            engine: Engine::open(root)?,
            launcher,
            builds,
            activity: Activity::new(),
            execs: Default::default(),
        });
        // A failure here is the containers', not the API's: it is logged and the API served.
        if let Err(e) = crate::boot::start_restart_policy_containers(&state) {
            eprintln!("pier system service: restart policies at start: {e:#}");
        }
        let shown = match &socket_file {
            Some(path) => format!("unix://{}", path.display()),
            None => "the socket systemd passed (descriptor 3)".into(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let result = runtime.block_on(accept_loop(state.clone(), listener, &opts, &shown));
        // Streams still open (a follow, an attach) end with the runtime.
        runtime.shutdown_timeout(Duration::from_secs(1));
        if let Some(path) = socket_file {
            let _ = std::fs::remove_file(path);
        }
        match Arc::try_unwrap(state) {
            Ok(s) => {
                s.launcher.stop();
                s.builds.stop();
            }
            Err(_) => eprintln!("pier system service: a request outlived the service"),
        }
        result
    })();
    result
}

/// A client that goes away mid-reply makes the service's next write to its socket fail;
/// with SIGPIPE's default action (which the `pier` command keeps, for `pier ... | head`)
/// that write would kill the whole service. Ignored once the launcher is forked (it, the
/// monitors and the containers keep the default), the write fails with EPIPE and ends only
/// that reply. Programs the service runs get the default back: Rust's `Command` resets
/// SIGPIPE in the child.
fn ignore_sigpipe() -> Result<()> {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_IGN installs no handler code; called before the runtime's threads start.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) }
        .context("ignoring SIGPIPE in the service")?;
    Ok(())
}

async fn accept_loop(
    state: Arc<State>,
    listener: std::os::unix::net::UnixListener,
    opts: &ServiceOptions,
    shown: &str,
) -> Result<()> {
    let listener = tokio::net::UnixListener::from_std(listener).context("listening socket")?;
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    eprintln!(
        "pier system service: serving the Docker Engine API {} on {shown}",
        crate::API_VERSION,
    );
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("pier system service: accept: {e}");
                        continue;
                    }
                };
                let s = state.clone();
                tokio::spawn(async move {
                    let _busy = s.busy();
                    let svc = service_fn(move |req| router::handle(s.clone(), req));
                    let conn = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_TIME_LIMIT)
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades();
                    let _ = conn.await;
                });
            }
            _ = tick.tick() => {
                if let (Some(limit), Some(idle)) = (opts.idle_timeout, state.activity.idle_for()) {
                    if idle >= limit {
                        eprintln!("pier system service: idle for {}s, exiting", limit.as_secs());
                        return Ok(());
                    }
                }
            }
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}
