//! The bench's own dockerd: started for the run, stopped and every trace of it removed at
//! the end, on failure and on Ctrl-C.
//!
//! Everything it owns is named after the bench's PID and kept apart from a user's Docker and
//! from pier:
//! * state under `<cache>/docker/<pid>/`: `--data-root data`, `--exec-root exec` (its managed
//!   containerd lives there too), `--pidfile`, the API socket, the log, the client's config;
//! * its bridge `pbdk<pid>`, made by the bench with a free `10.253.N.1/22` (N from the PID; room for the scale
//!   suite's 1000 containers, a /24 holds 253) (outside Docker's
//!   172.17/16 and pier's 10.88/16, 10.89.N and 10.200-249 ranges) and handed over with
//!   `--bridge`: dockerd never touches a `docker0`;
//! * `--iptables=false --ip-masq=false --ip-forward=false`: no rule, chain or sysctl of the
//!   host is changed. The paths measured do not need them: the host reaches a container on
//!   the bridge directly, and a port published on 127.0.0.1 goes through `docker-proxy`
//!   (Docker's userland proxy, which carries loopback traffic in the default set-up too,
//!   since Docker's DNAT rule skips 127.0.0.0/8);
//! * containers' cgroups under `/pier-bench-docker-<pid>` (`--cgroup-parent`, cgroupfs driver).
//!
//! [`Teardown`] removes all of it and is idempotent; it also clears what a bench killed
//! outright (SIGKILL) left behind, found by the PID in the state directory's name.

use crate::interrupt::{self, Registration};
use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use pier_engine::network::ipam::Subnet;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long dockerd may take to answer after its start.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a client command (load, ps, rm) may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// The Debian client first: it speaks docker.io's API version (a newer client elsewhere on
/// PATH may not).
const CLIENTS: &[&str] = &["/usr/bin/docker"];

/// The docker client bound to the bench's daemon.
#[derive(Debug, Clone)]
pub struct Client {
    binary: PathBuf,
    socket: PathBuf,
    config: PathBuf,
}

impl Client {
    /// `docker -H unix://<socket>` with the client's own config directory (so the user's
    /// `~/.docker` is neither read nor written) and no `DOCKER_HOST`/`DOCKER_CONTEXT`.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env("DOCKER_CONFIG", &self.config);
        c
    }

    /// Runs `docker <args>` to completion and returns its stdout; an error carries stderr.
    pub fn output(&self, args: &[&str], timeout: Duration) -> Result<String> {
        let mut c = self.command();
        c.args(args);
        let what = format!("docker {}", args.first().copied().unwrap_or(""));
        crate::envs::run_timed_text(c, &what, timeout)
    }
}

/// Everything a dockerd of PID-tagged state owns, removable without the daemon's help.
#[derive(Debug, Clone)]
pub struct Teardown {
    /// `<cache>/docker/<pid>`.
    dir: PathBuf,
    /// The bridge made for it.
    bridge: String,
    /// Its containers' parent cgroup name.
    cgroup_parent: String,
    /// dockerd's PID when the bench started it.
    daemon: Option<Pid>,
    /// The client, to remove containers while dockerd still runs.
    client: Option<Client>,
    /// containerd's shim directories under /run/containerd missing before the daemon ran.
    shim_dirs: Vec<PathBuf>,
}

/// The bench's dockerd, running.
#[derive(Debug)]
pub struct Daemon {
    client: Client,
    dir: PathBuf,
    subnet: Subnet,
    teardown: Arc<Mutex<Option<Teardown>>>,
    _interrupt: Registration,
}

/// The bridge of the dockerd of bench process `pid` (at most 15 characters).
fn bridge_name(pid: u32) -> String {
    format!("pbdk{pid}")
}

/// The parent cgroup of that dockerd's containers.
fn cgroup_parent(pid: u32) -> String {
    format!("pier-bench-docker-{pid}")
}

impl Daemon {
    /// Starts a dockerd for this process with state under `<cache>/docker/<pid>` (removing
    /// what dead bench processes left there first), waits until it answers, and loads
    /// `image_archive` (a `docker load` archive). Stopped and removed on drop.
    pub fn start(cache: &Path, image_archive: &Path) -> Result<Daemon> {
        let dockerd = crate::envs::find_tool("dockerd").context(
            "dockerd is not installed (Debian's docker.io; scripts/setup.sh installs it)",
        )?;
        let binary = CLIENTS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .or_else(|| crate::envs::find_tool("docker"))
            .context("the docker client is not installed (Debian's docker.io)")?;
        let base = cache.join("docker");
        clear_abandoned(&base);
        let pid = std::process::id();
        let dir = base.join(pid.to_string());
        let client = Client {
            binary,
            socket: dir.join("docker.sock"),
            config: dir.join("client"),
        };
        let shim_dirs = pier_cri::private_containerd::SHIM_DIRS
            .iter()
            .map(PathBuf::from)
            .filter(|d| !d.exists())
            .collect();
        let teardown = Arc::new(Mutex::new(Some(Teardown {
            dir: dir.clone(),
            bridge: bridge_name(pid),
            cgroup_parent: cgroup_parent(pid),
            daemon: None,
            client: None,
            shim_dirs,
        })));
        let t = teardown.clone();
        let registration = interrupt::on_interrupt("the bench's dockerd", move || {
            if let Some(t) = t.lock().unwrap_or_else(|p| p.into_inner()).take() {
                t.run();
            }
        });
        // From here on, a failure drops `daemon`, which tears down what was made.
        let mut daemon = Daemon {
            client: client.clone(),
            dir: dir.clone(),
            subnet: Subnet {
                addr: Ipv4Addr::UNSPECIFIED,
                prefix: 24,
            },
            teardown,
            _interrupt: registration,
        };
        std::fs::create_dir_all(dir.join("client"))
            .with_context(|| format!("creating {}", dir.display()))?;
        daemon.subnet = crate::envs::subnet::free(253, 22)?;
        make_bridge(&bridge_name(pid), &daemon.subnet)?;
        let log = dir.join("dockerd.log");
        let config = dir.join("daemon.json");
        std::fs::write(&config, "{}\n").with_context(|| format!("writing {}", config.display()))?;
        let mut cmd = Command::new(dockerd);
        cmd.arg("--config-file")
            .arg(&config)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", client.socket.display()))
            .arg("--bridge")
            .arg(bridge_name(pid))
            .args([
                "--iptables=false",
                "--ip-masq=false",
                "--ip-forward=false",
                "--exec-opt",
                "native.cgroupdriver=cgroupfs",
            ])
            .arg("--cgroup-parent")
            .arg(format!("/{}", cgroup_parent(pid)))
            .stdin(Stdio::null())
            .stdout(open_log(&log)?)
            .stderr(open_log(&log)?)
            // Its own process group: Ctrl-C reaches the bench, which stops dockerd in order.
            .process_group(0);
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of the
        // parent; it runs in the forked child before exec. A bench killed outright (SIGKILL)
        // then still stops its dockerd.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().context("starting dockerd")?;
        if let Some(t) = daemon
            .teardown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            t.daemon = Some(Pid::from_raw(child.id() as i32));
            t.client = Some(client.clone());
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        while client
            .output(&["version"], Duration::from_secs(10))
            .is_err()
        {
            if let Ok(Some(status)) = child.try_wait() {
                bail!(
                    "dockerd exited ({status}) while starting: {}",
                    log_tail(&log)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "dockerd did not answer within {READY_TIMEOUT:?}: {}",
                    log_tail(&log)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        client
            .output(
                &["load", "-i", &image_archive.to_string_lossy()],
                CLIENT_TIMEOUT,
            )
            .context("docker load of the bench image")?;
        Ok(daemon)
    }

    /// The client bound to this daemon.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bridge's subnet (the containers' addresses).
    pub fn subnet(&self) -> Subnet {
        self.subnet
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let t = self
            .teardown
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(t) = t {
            t.run();
        }
    }
}

impl Teardown {
    /// What a bench process `pid` that no longer runs left under `base`. Its empty shim
    /// directories go too when no containerd runs now (one running may be about to use them).
    fn abandoned(base: &Path, pid: u32) -> Teardown {
        let shim_dirs = if any_containerd_runs() {
            Vec::new()
        } else {
            pier_cri::private_containerd::SHIM_DIRS
                .iter()
                .map(PathBuf::from)
                .collect()
        };
        Teardown {
            dir: base.join(pid.to_string()),
            bridge: bridge_name(pid),
            cgroup_parent: cgroup_parent(pid),
            daemon: None,
            client: None,
            shim_dirs,
        }
    }

    /// Removes the containers, stops dockerd (SIGTERM, then SIGKILL after 20 s), kills what
    /// of its containerd and shims is left, unmounts everything under the state directory,
    /// deletes the bridge and the cgroups, and removes the directory. Problems are printed,
    /// not returned: clean-up goes on with the next step.
    pub fn run(self) {
        if let (Some(client), Some(pid)) = (&self.client, self.daemon) {
            if is_alive(pid) {
                let ids = client
                    .output(&["ps", "-aq"], Duration::from_secs(20))
                    .unwrap_or_default();
                let ids: Vec<&str> = ids.split_whitespace().collect();
                if !ids.is_empty() {
                    let mut args = vec!["rm", "-f"];
                    args.extend(ids);
                    if let Err(e) = client.output(&args, Duration::from_secs(60)) {
                        eprintln!("bench: removing Docker's containers: {e:#}");
                    }
                }
            }
        }
        if let Some(pid) = self.daemon {
            stop(pid, Duration::from_secs(20));
        }
        // containerd and its shims name the state directory on their command lines.
        for pid in processes_naming(&self.dir) {
            stop(pid, Duration::from_secs(5));
        }
        let mut mounts = pier_engine::container::mountinfo::mounts_under(&self.dir);
        // Deepest first.
        mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in mounts {
            if let Err(e) = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH) {
                eprintln!("bench: unmounting {}: {e}", m.display());
            }
        }
        delete_link(&self.bridge);
        remove_cgroups(&self.cgroup_parent);
        for d in &self.shim_dirs {
            let _ = std::fs::remove_dir(d);
        }
        if self.dir.exists() {
            if let Err(e) = std::fs::remove_dir_all(&self.dir) {
                eprintln!("bench: removing {}: {e}", self.dir.display());
            }
        }
        // `<cache>/docker` itself, once no other bench's daemon uses it.
        if let Some(base) = self.dir.parent() {
            let _ = std::fs::remove_dir(base);
        }
    }
}

/// Clears the state of bench processes that are gone (a bench killed outright).
fn clear_abandoned(base: &Path) {
    for e in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("bench: removing what an earlier bench (PID {pid}) left of its dockerd");
            Teardown::abandoned(base, pid).run();
        }
    }
}

fn open_log(path: &Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

/// The last lines of dockerd's log, for an error message.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Creates bridge `name` with the subnet's first address, up.
fn make_bridge(name: &str, subnet: &Subnet) -> Result<()> {
    ip(&["link", "add", "name", name, "type", "bridge"])?;
    let addr = format!("{}/{}", subnet.first_host(), subnet.prefix);
    ip(&["addr", "add", &addr, "dev", name])?;
    ip(&["link", "set", name, "up"])
}

/// Deletes link `name` if it exists.
fn delete_link(name: &str) {
    if Path::new("/sys/class/net").join(name).exists() {
        if let Err(e) = ip(&["link", "del", name]) {
            eprintln!("bench: {e:#}");
        }
    }
}

/// Removes cgroup `name` (and what is below it) from every hierarchy: v1 controllers and
/// v2 alike.
fn remove_cgroups(name: &str) {
    let root = Path::new("/sys/fs/cgroup");
    let mut tops = vec![root.join(name)];
    for h in std::fs::read_dir(root).into_iter().flatten().flatten() {
        tops.push(h.path().join(name));
    }
    for t in tops.iter().filter(|t| t.is_dir()) {
        remove_cgroup_tree(t);
    }
}

fn remove_cgroup_tree(dir: &Path) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&e.path());
        }
    }
    if let Err(e) = std::fs::remove_dir(dir) {
        eprintln!("bench: removing cgroup {}: {e}", dir.display());
    }
}

/// Whether a process named `containerd` or `containerd-shim*` runs on the host.
fn any_containerd_runs() -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .is_ok_and(|c| c.trim_end().starts_with("containerd"))
        })
}

fn is_alive(pid: Pid) -> bool {
    // A zombie child still answers kill(0): read its state.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next().map(|c| c != "Z"))
        })
        .unwrap_or(false)
}

/// SIGTERM, then SIGKILL after `grace`; reaps `pid` if it is this process's child.
fn stop(pid: Pid, grace: Duration) {
    use nix::sys::wait::{waitpid, WaitPidFlag};
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    loop {
        let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
        if !is_alive(pid) {
            let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
            return;
        }
        if Instant::now() > deadline {
            let _ = kill(pid, Signal::SIGKILL);
            std::thread::sleep(Duration::from_millis(100));
            let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Live processes whose command line names `dir` (or a path below it).
pub fn processes_naming(dir: &Path) -> Vec<Pid> {
    let needle = dir.to_string_lossy().into_owned();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let named = cmdline
            .split(|b| *b == 0)
            .any(|a| String::from_utf8_lossy(a).contains(&needle));
        if named && is_alive(Pid::from_raw(pid)) {
            out.push(Pid::from_raw(pid));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_are_the_bench_process_own() {
        assert_eq!(bridge_name(4_194_304), "pbdk4194304");
        assert!(bridge_name(u32::MAX).len() <= 15, "an interface name");
        assert_eq!(cgroup_parent(7), "pier-bench-docker-7");
    }

    #[test]
    fn finds_processes_by_the_directory_they_name() {
        let dir = tempfile::tempdir().unwrap();
        // `sh -c CMD NAME`: NAME ($0) stays on sh's command line; the `; :` keeps sh from
        // exec'ing sleep in its place.
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30; :"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let found = processes_naming(dir.path());
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            found.contains(&Pid::from_raw(child.id() as i32)),
            "{found:?}"
        );
    }
}
