//! Where a process's terminal (`process.terminal`) goes, as runc decides it: made inside the
//! container, its master sent to the manager's `--console-socket`; or, when the runtime stays
//! in the foreground (`run`, `exec` without `--detach`) and no socket was given, a terminal
//! the runtime keeps and relays to its own stdin and stdout.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Process;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// A process's terminal, when it has one.
#[derive(Default)]
pub struct Terminal {
    /// The manager's console socket, connected: the container's process makes the terminal
    /// and sends the master over it.
    pub socket: Option<UnixStream>,
    /// The slave side and its path (the process's stdio and `/dev/console`), when the runtime
    /// relays the terminal.
    pub slave: Option<(OwnedFd, PathBuf)>,
    /// The master side, when the runtime relays it.
    pub master: Option<OwnedFd>,
}

impl Terminal {
    /// The terminal `process` asks for: sent to `socket`, or kept by the runtime when it stays
    /// in the `foreground`.
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
