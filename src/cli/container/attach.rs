//! `pier attach`: follow a running container's output from now on, pass Ctrl-C on to it
//! (Docker's `--sig-proxy`), and end with its exit code.
//!
//! It does not enter the container: a detached container's output goes to its log (the
//! monitor writes it), and attach reads that log, as `pier logs -f` does, from its current
//! end. It carries output only: a detached container's stdin (`-i`) is reached through its
//! monitor's attach point (`pier_engine::container::attach_point`), which the Engine API
//! service uses for `docker attach`; this command does not yet.

use anyhow::{bail, Context, Result};
use clap::Args;
use nix::sys::signal::{self, SigHandler, Signal};
use pier_engine::container::logs::{self, LogOptions};
use pier_engine::container::record::ContainerStatus;
use pier_engine::container::Engine;
use std::sync::atomic::{AtomicI32, Ordering};

/// `pier attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not pass signals (Ctrl-C) on to the container: Ctrl-C only detaches.
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// Do not attach stdin (pier never attaches it: accepted for Docker's command lines).
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Container.
    pub container: String,
}

/// The last signal received and not yet passed on (0: none).
static PENDING: AtomicI32 = AtomicI32::new(0);

extern "C" fn remember(sig: libc::c_int) {
    PENDING.store(sig, Ordering::SeqCst);
}

/// `pier attach`.
pub fn attach(engine: &Engine, args: AttachArgs) -> Result<i32> {
    let (paths, rec) = engine.find(&args.container)?;
    if rec.status != ContainerStatus::Running {
        bail!(
            "cannot attach to container {}: it is {}, start it first",
            rec.name,
            rec.status.as_str()
        );
    }
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        let handler = if args.sig_proxy {
            SigHandler::Handler(remember)
        } else {
            SigHandler::SigDfl
        };
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { signal::signal(sig, handler) }
            .with_context(|| format!("installing a handler for {sig}"))?;
    }
    let id = rec.id.clone();
    let running = || {
        let sig = PENDING.swap(0, Ordering::SeqCst);
        if sig != 0 {
            if let Ok(s) = Signal::try_from(sig) {
                let _ = engine.kill(&id, s);
            }
        }
        engine
            .find(&id)
            .map(|(_, r)| r.status == ContainerStatus::Running)
            .unwrap_or(false)
    };
    let mut reader = logs::LogReader::at_end(&paths.log())?;
    let opts = LogOptions {
        tail: None,
        timestamps: false,
    };
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    logs::follow(&mut reader, &opts, &running, &mut out, &mut err)?;
    // The record has the exit code once the monitor wrote it (gone with --rm: then 0).
    Ok(engine.wait(&id).unwrap_or(0))
}
