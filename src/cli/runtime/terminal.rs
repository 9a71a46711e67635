//! The terminal of a container's process (`process.terminal`): made inside the container, its
//! master goes to the manager's `--console-socket`; or, when this runtime process stays in the
//! foreground (`run`, `exec` without `--detach`) and no socket was given, a terminal this
//! process keeps and relays to its own stdin and stdout, as runc does.

use anyhow::{bail, Context, Result};
use nix::unistd::Pid;
use oci_spec::runtime::Process;
use pier_engine::container::io_loop::{copy_window_size, IoLoop, RawTerminal, Sink};
use pier_oci::container::ExitInfo;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// A process's terminal, when it has one.
#[derive(Default)]
pub struct Terminal {
    /// The manager's console socket, connected: the container's process makes the terminal
    /// and sends the master over it.
    pub socket: Option<UnixStream>,
    /// The slave side and its path (the process's stdio and `/dev/console`), when this process
    /// relays the terminal.
    pub slave: Option<(OwnedFd, PathBuf)>,
    /// The master side, when this process relays it.
    pub master: Option<OwnedFd>,
}

impl Terminal {
    /// The terminal `process` asks for: sent to `socket`, or kept here when `foreground`.
    pub fn open(process: &Process, socket: Option<&Path>, foreground: bool) -> Result<Terminal> {
        let wanted = process.terminal().unwrap_or(false);
        match (wanted, socket) {
            (true, Some(socket)) => Ok(Terminal {
                socket: Some(UnixStream::connect(socket).with_context(|| {
                    format!("connecting to the console socket {}", socket.display())
                })?),
                ..Terminal::default()
            }),
            (true, None) if foreground => {
                let pty = nix::pty::openpty(None, None).context("openpty for the container")?;
                let path = nix::unistd::ttyname(&pty.slave).context("ttyname of the terminal")?;
                Ok(Terminal {
                    socket: None,
                    slave: Some((pty.slave, path)),
                    master: Some(pty.master),
                })
            }
            (true, None) => bail!(
                "the process has a terminal but no --console-socket was given: a runtime that \
                 returns (create, run --detach, exec --detach) must hand the terminal to its caller"
            ),
            (false, Some(_)) => {
                bail!("--console-socket was given but the process has no terminal (process.terminal, --tty)")
            }
            (false, None) => Ok(Terminal::default()),
        }
    }
}

/// Waits for `pid` (a child of this process) while forwarding signals to it and, with
/// `master`, relaying the terminal to this process's stdin and stdout.
pub fn wait(pid: Pid, master: Option<OwnedFd>) -> Result<ExitInfo> {
    let _raw = master.as_ref().map(|_| RawTerminal::enable());
    if let Some(m) = &master {
        copy_window_size(m.as_fd());
    }
    let streams = match &master {
        Some(m) => vec![(
            m.try_clone().context("dup of the terminal master")?,
            Sink::Fd(1),
        )],
        None => Vec::new(),
    };
    IoLoop {
        child: pid,
        forward_signals: true,
        streams,
        stdin_to: master.as_ref().map(|m| m.as_fd()),
        tty_master: master.as_ref().map(|m| m.as_fd()),
        log: None,
    }
    .run()
}
