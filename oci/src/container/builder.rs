//! [`ContainerBuilder`]: the one way to create a container, for `pier run` (the engine) and
//! `pier runtime create` / `run` alike, in the shape of youki's builder: each flag of runc's
//! `create` is one call, and [`InitContainerBuilder::build`] does the rest (where the state
//! goes, the config as read from the bundle, systemd's cgroup paths, socket activation, the
//! terminal, the pid file).
//!
//! ```no_run
//! # fn main() -> pier_oci::Result<()> {
//! use pier_oci::container::ContainerBuilder;
//! let created = ContainerBuilder::new("web")
//!     .with_root("/run/pier/runtime".as_ref())
//!     .with_pid_file(Some("/run/web.pid".as_ref()))
//!     .with_preserved_fds(0)
//!     .as_init("/srv/bundles/web".as_ref())
//!     .build()?;
//! let started = created.start()?;
//! # let _ = started;
//! # Ok(())
//! # }
//! ```

use super::create::{create, CreateOptions, Created};
use super::delete::delete;
use super::handle::{dir_of, validate_id, CONFIG_COPY};
use super::pid_file::write_pid_file;
use crate::cgroups::systemd;
use crate::error::{Error, Result};
use crate::persist::{read_json, write_json_replace};
use crate::process::init::InitOptions;
use crate::process::passed_fds;
use crate::process::terminal::Terminal;
use crate::trace;
use anyhow::Context;
use oci_spec::runtime::Spec;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

/// Where the container's state goes.
enum StateLocation {
    /// `<root>/<id>`, runc's layout under `--root`: it must not exist yet.
    Root(PathBuf),
    /// A directory the caller chose and looks after (the engine's `containers/<id>/run`).
    Dir(PathBuf),
}

/// How to create a container: the calls mirror runc's `create` flags. Start with
/// [`ContainerBuilder::new`], end with [`ContainerBuilder::as_init`] and
/// [`InitContainerBuilder::build`].
pub struct ContainerBuilder {
    id: String,
    location: Option<StateLocation>,
    pid_file: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    relay_terminal: bool,
    preserved_fds: i32,
    socket_activation: bool,
    systemd_cgroup: bool,
    init: InitOptions,
}

/// A [`ContainerBuilder`] given its bundle: the container's init will run the config's
/// process.
pub struct InitContainerBuilder {
    builder: ContainerBuilder,
    bundle: PathBuf,
}

impl ContainerBuilder {
    /// A container named `id` (letters, digits and `_ + - .`, checked at
    /// [`InitContainerBuilder::build`]), with runc's defaults: its own session keyring, stdio
    /// inherited, nothing else passed on.
    pub fn new(id: &str) -> ContainerBuilder {
        ContainerBuilder {
            id: id.to_string(),
            location: None,
            pid_file: None,
            console_socket: None,
            relay_terminal: false,
            preserved_fds: 0,
            socket_activation: false,
            systemd_cgroup: false,
            init: InitOptions {
                keyring: Some(keyring_name(id)),
                ..InitOptions::default()
            },
        }
    }

    /// Keeps the state in `<root>/<id>` (runc's `--root`); [`Error::AlreadyExists`] if that
    /// directory is there already.
    pub fn with_root(mut self, root: &Path) -> ContainerBuilder {
        self.location = Some(StateLocation::Root(root.to_path_buf()));
        self
    }

    /// Keeps the state in `dir`, a directory the caller looks after (the engine's).
    pub fn with_state_dir(mut self, dir: &Path) -> ContainerBuilder {
        self.location = Some(StateLocation::Dir(dir.to_path_buf()));
        self
    }

    /// Writes the init's host PID to `path` once it is created (`--pid-file`).
    pub fn with_pid_file(mut self, path: Option<&Path>) -> ContainerBuilder {
        self.pid_file = path.map(Path::to_path_buf);
        self
    }

    /// Sends the container's terminal to the manager listening on `path`
    /// (`--console-socket`), when its process has one.
    pub fn with_console_socket(mut self, path: Option<&Path>) -> ContainerBuilder {
        self.console_socket = path.map(Path::to_path_buf);
        self
    }

    /// The caller stays in the foreground and relays the container's terminal itself (runc's
    /// `run` without `--detach`): without a console socket, a terminal is made here and its
    /// master returned in [`Created::terminal`].
    pub fn with_terminal_relay(mut self, relay: bool) -> ContainerBuilder {
        self.relay_terminal = relay;
        self
    }

    /// The terminal the caller made: its slave side and path, the process's stdio and
    /// `/dev/console` (the caller keeps the master; see [`ContainerBuilder::with_close_fds`]).
    pub fn with_console(mut self, slave: RawFd, path: PathBuf) -> ContainerBuilder {
        self.init.console = Some((slave, path));
        self
    }

    /// Passes descriptors 3 .. 3 + `count` on to the container's process
    /// (`--preserve-fds`), after the socket-activation ones.
    pub fn with_preserved_fds(mut self, count: u32) -> ContainerBuilder {
        self.preserved_fds = i32::try_from(count).unwrap_or(i32::MAX);
        self
    }

    /// Passes on the descriptors systemd's socket activation gave this process (`LISTEN_FDS`
    /// when `LISTEN_PID` is ours), as runc does: the container sees `LISTEN_FDS=n` and
    /// `LISTEN_PID=1`.
    pub fn with_socket_activation(mut self, on: bool) -> ContainerBuilder {
        self.socket_activation = on;
        self
    }

    /// `--systemd-cgroup`: the config's `linux.cgroupsPath` must be systemd's
    /// `slice:prefix:name`. (A path of that form is read so even without it.)
    pub fn with_systemd_cgroup(mut self, on: bool) -> ContainerBuilder {
        self.systemd_cgroup = on;
        self
    }

    /// The process's stdin, stdout, stderr (`None`: inherit this process's).
    pub fn with_stdio(mut self, stdio: [Option<RawFd>; 3]) -> ContainerBuilder {
        self.init.stdio = stdio;
        self
    }

    /// Runs pier's reaper as PID 1 and the command as its child (`--init`).
    pub fn with_reaper(mut self, on: bool) -> ContainerBuilder {
        self.init.reaper = on;
        self
    }

    /// Kills the container when this process dies (a foreground run).
    pub fn with_die_with_parent(mut self, on: bool) -> ContainerBuilder {
        self.init.die_with_parent = on;
        self
    }

    /// Descriptors of this process the container must not inherit (a terminal's master, the
    /// read ends of its output pipes).
    pub fn with_close_fds(mut self, fds: Vec<RawFd>) -> ContainerBuilder {
        self.init.close_fds = fds;
        self
    }

    /// Gives the container a session keyring of its own (the default; `false` is runc's
    /// `--no-new-keyring`).
    pub fn with_new_keyring(mut self, on: bool) -> ContainerBuilder {
        self.init.keyring = on.then(|| keyring_name(&self.id));
        self
    }

    /// The bundle (a directory holding `config.json` and, usually, the root filesystem) whose
    /// process the container's init runs.
    pub fn as_init(self, bundle: &Path) -> InitContainerBuilder {
        InitContainerBuilder {
            builder: self,
            bundle: bundle.to_path_buf(),
        }
    }
}

impl InitContainerBuilder {
    /// Creates the container: its state directory, cgroup, namespaces and root filesystem;
    /// its init then waits for [`Created::start`]. Saves the config beside the state (later
    /// commands read it) and writes the pid file. On failure nothing is left behind.
    pub fn build(self) -> Result<Created> {
        let InitContainerBuilder { builder: b, bundle } = self;
        let config_phase = trace::Phase::start("config");
        let state_dir = match &b.location {
            Some(StateLocation::Root(root)) => {
                let dir = dir_of(root, &b.id)?;
                if dir.exists() {
                    return Err(Error::AlreadyExists { id: b.id });
                }
                dir
            }
            Some(StateLocation::Dir(dir)) => {
                validate_id(&b.id)?;
                dir.clone()
            }
            None => {
                return Err(anyhow::anyhow!(
                    "container {}: no state directory (with_root or with_state_dir)",
                    b.id
                )
                .into())
            }
        };
        let bundle = bundle
            .canonicalize()
            .with_context(|| format!("bundle {}", bundle.display()))?;
        let mut spec: Spec = read_json(&bundle.join("config.json"))?;
        if let Some(path) = systemd::cgroupfs_path(&spec, b.systemd_cgroup)? {
            if let Some(linux) = spec.linux_mut() {
                linux.set_cgroups_path(Some(path));
            }
        }
        let listen = if b.socket_activation {
            passed_fds::listen_fds()
        } else {
            0
        };
        let extra_fds = listen.saturating_add(b.preserved_fds);
        passed_fds::check_open(3, extra_fds)?;
        if listen > 0 {
            passed_fds::announce_listen_fds(&mut spec, listen);
        }
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| Error::config("process", "config.json has no process"))?;
        // A terminal the caller made (`with_console`) is the process's; else runc's rules.
        let terminal = match b.init.console {
            Some(_) => Terminal::default(),
            None => Terminal::open(process, b.console_socket.as_deref(), b.relay_terminal)?,
        };
        config_phase.end();

        let create_phase = trace::Phase::start("create");
        let mut init = b.init;
        if let Some((slave, path)) = &terminal.slave {
            init.console = Some((slave.as_raw_fd(), path.clone()));
        }
        init.console_socket = terminal.socket.as_ref().map(|s| s.as_raw_fd());
        init.close_fds
            .extend(terminal.master.iter().map(|m| m.as_raw_fd()));
        init.extra_fds = extra_fds;
        let created = create(CreateOptions {
            id: &b.id,
            bundle: &bundle,
            spec,
            state_dir: &state_dir,
            init,
        });
        create_phase.end();
        // The container holds its copies now.
        let Terminal { master, .. } = terminal;
        let mut created = match created {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&state_dir);
                return Err(e);
            }
        };
        let saved = (|| -> Result<()> {
            write_json_replace(&state_dir.join(CONFIG_COPY), &created.spec)?;
            if let Some(path) = &b.pid_file {
                write_pid_file(path, created.pid.as_raw())?;
            }
            Ok(())
        })();
        if let Err(e) = saved {
            let _ = delete(Some(&created.cgroup), &state_dir);
            return Err(e);
        }
        created.terminal = master;
        Ok(created)
    }
}

/// The session keyring runc gives container `id`.
fn keyring_name(id: &str) -> String {
    format!("_ses.{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_state_directory_is_already_exists() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("c1")).unwrap();
        let err = ContainerBuilder::new("c1")
            .with_root(root.path())
            .as_init(root.path())
            .build()
            .err();
        assert!(
            matches!(&err, Some(Error::AlreadyExists { id }) if id == "c1"),
            "{err:?}"
        );
    }

    #[test]
    fn a_bad_id_is_refused_before_anything_is_made() {
        let root = tempfile::tempdir().unwrap();
        let err = ContainerBuilder::new("../x")
            .with_root(root.path())
            .as_init(root.path())
            .build()
            .err();
        assert!(matches!(err, Some(Error::InvalidId { .. })), "{err:?}");
    }

    #[test]
    fn the_keyring_follows_the_flag() {
        let b = ContainerBuilder::new("c1");
        assert_eq!(b.init.keyring.as_deref(), Some("_ses.c1"));
        assert_eq!(b.with_new_keyring(false).init.keyring, None);
    }
}
