//! Waiting for a foreground container's process (`run`, `exec` without `--detach`) while
//! relaying its terminal to this process's stdin and stdout, as runc does when no
//! `--console-socket` was given (where the terminal goes is pier-oci's
//! [`pier_oci::process::terminal::Terminal`]).

use anyhow::{Context, Result};
use nix::unistd::Pid;
use pier_engine::container::io_loop::{copy_window_size, IoLoop, RawTerminal, Sink};
use pier_oci::container::ExitInfo;
use std::os::fd::{AsFd, OwnedFd};

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
    ExitInfo::of_ended(
        IoLoop {
            child: pid,
            forward_signals: true,
            streams,
            stdin_to: master.as_ref().map(|m| m.as_fd()),
            tty_master: master.as_ref().map(|m| m.as_fd()),
            log: None,
            attach: None,
        }
        .run()?,
    )
}
