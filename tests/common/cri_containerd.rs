//! A containerd with its CRI plugin, for the tests that speak CRI as kubelet does
//! (tests/cri.rs): pier-cri's [`PrivateContainerd`] (Debian's containerd with a private
//! configuration, root, state and socket; CNI from containernetworking-plugins; the pause
//! image built here; pier's busybox imported) under a test-made directory, with runtime
//! handlers `pier` (the runc shim with pier as its runc binary) and `runc`, its own bridge,
//! subnet and cgroup parent. Everything it made goes on drop.
//!
//! Two cgroup drivers, as kubelet has: `cgroupfs` (pods' cgroup parents are paths, pier
//! makes the directories) and `systemd` (the pier handler's runc options say
//! `SystemdCgroup = true`, so the shim passes `--systemd-cgroup` and containerd writes
//! `slice:cri-containerd:ID` cgroup paths for pods whose parent is a `.slice`: each
//! container's cgroup is a `.scope` in its pod's slice). The driver is systemd's on a
//! cgroup-v2 host booted by systemd (how kubelet runs there, and the v2 lane's guest), and
//! cgroupfs elsewhere; `PIER_CRI_CGROUP_DRIVER=systemd|cgroupfs` chooses one.

use super::clients::{cgroups_named, client, pier_runc_link, state_entries};
use super::Pier;
use pier_cri::api;
use pier_cri::private_containerd::{self, ConfigOptions, Handler, PrivateContainerd};
use pier_testkit::prereq::{file, require, tool};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

/// The busybox image as CRI names it.
pub const BUSYBOX: &str = pier_cri::private_containerd::BUSYBOX;

static NEXT: AtomicU32 = AtomicU32::new(0);
static NEXT_EVENTS: AtomicU32 = AtomicU32::new(0);

/// containerd's events as `ctr events` prints them, one a line: time, namespace, topic
/// (`/tasks/exit`), the event as JSON. Stops recording when dropped.
pub struct Events {
    child: Child,
    file: PathBuf,
    ctr: Command,
}

/// One event: its topic and its JSON body.
#[derive(Debug, Clone)]
pub struct Event {
    /// `/containers/create`, `/tasks/delete`, ...
    pub topic: String,
    /// The event's fields (`container_id`, `id`, `exit_status`, ...).
    pub body: serde_json::Value,
}

impl Events {
    /// Returns once every event containerd published before the call is recorded: makes an
    /// event of its own (a namespace created and removed) and waits for it. (ctr subscribes
    /// some time after it starts, and events reach it in the order they were published.)
    pub fn sync(&self) {
        let probe = format!(
            "pier-events-probe-{}-{}",
            std::process::id(),
            NEXT_EVENTS.fetch_add(1, Ordering::SeqCst)
        );
        let ctr = |args: &[&str]| {
            let mut c = Command::new(self.ctr.get_program());
            c.args(self.ctr.get_args()).args(args);
            for (k, _) in self.ctr.get_envs() {
                c.env_remove(k);
            }
            client(&mut c, T);
        };
        let topic = format!("/namespaces/create {{\"name\":\"{probe}\"}}");
        let deadline = std::time::Instant::now() + super::scaled(T);
        while std::time::Instant::now() < deadline {
            ctr(&["namespaces", "create", &probe]);
            ctr(&["namespaces", "remove", &probe]);
            for _ in 0..10 {
                if self.text().contains(&topic) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("ctr events never reported {probe}: {}", self.text());
    }

    /// Everything recorded so far.
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.file).unwrap_or_default()
    }

    /// The events so far, in order.
    pub fn list(&self) -> Vec<Event> {
        self.text()
            .lines()
            .filter_map(|l| {
                let at = l.find(" /")?;
                let (topic, body) = l[at + 1..].split_once(' ')?;
                Some(Event {
                    topic: topic.to_string(),
                    body: serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }

    /// The topics of the events about container (or task) `id`, in order.
    pub fn topics_of(&self, id: &str) -> Vec<String> {
        self.list()
            .into_iter()
            .filter(|e| e.body["id"] == id || e.body["container_id"] == id)
            .map(|e| e.topic)
            .collect()
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Live processes whose command line mentions `id` (a shim's `-id ID`, pier's own).
fn processes_naming(id: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if !e
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(id) {
            out.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
        }
    }
    out
}

/// How the pods' cgroups are named; see the module's documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupDriver {
    /// cgroup parents are paths (`/pier-cri-N/pod-NAME`).
    Cgroupfs,
    /// cgroup parents are systemd slices, containers' cgroups `.scope`s in them.
    Systemd,
}

impl CgroupDriver {
    /// `PIER_CRI_CGROUP_DRIVER` if set, else systemd's where the unified hierarchy is
    /// mounted and systemd is init (`/run/systemd/system`, sd_booted's test), else cgroupfs.
    pub fn for_this_host() -> CgroupDriver {
        match std::env::var("PIER_CRI_CGROUP_DRIVER").as_deref() {
            Ok("systemd") => return CgroupDriver::Systemd,
            Ok("cgroupfs") => return CgroupDriver::Cgroupfs,
            Ok(other) => panic!("PIER_CRI_CGROUP_DRIVER={other:?}: systemd or cgroupfs"),
            Err(_) => {}
        }
        let unified = nix::sys::statfs::statfs("/sys/fs/cgroup")
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
        if unified && Path::new("/run/systemd/system").is_dir() {
            CgroupDriver::Systemd
        } else {
            CgroupDriver::Cgroupfs
        }
    }
}

/// A running containerd with the CRI plugin; see the module's documentation.
pub struct CriContainerd {
    /// The test-made directory everything lives under.
    pub dir: PathBuf,
    /// `unix://` + its socket.
    pub endpoint: String,
    /// pier's state root for the `pier` handler, as the shim passes it (`--root`), with
    /// containerd's namespace added.
    pub pier_state: PathBuf,
    /// This fixture's CNI bridge.
    pub bridge: String,
    /// Its subnet's first three octets (`10.217.N`).
    pub subnet: String,
    /// The cgroup directory its pods are put under (a path under every hierarchy's root:
    /// `/pier-cri-N`, or with the systemd driver the slice's `/piercriN.slice`).
    pub cgroup_parent: String,
    /// The cgroup driver of the `pier` handler.
    pub cgroup_driver: CgroupDriver,
    /// A name unique to this fixture (pid and count), in its cgroup names.
    tag: String,
    // Dropped before the directory it lives in.
    containerd: PrivateContainerd,
    _work: tempfile::TempDir,
}

impl CriContainerd {
    /// Starts one; `p` provides the busybox image and builds the pause image.
    pub fn start(p: &Pier) -> CriContainerd {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{n}", std::process::id() % 100_000);
        let work = tempfile::Builder::new()
            .prefix("pier-cri-")
            .tempdir()
            .expect("temp dir");
        let dir = work.path().canonicalize().expect("canonical temp dir");
        // pier-runc in a directory of its own: pier seals its binary with a read-only overlay
        // of the binary's directory, which must not hold the state root (else each command
        // copies the binary into a memfd instead).
        let bin = dir.join("bin");
        std::fs::create_dir(&bin).expect("creating the bin directory");
        let runc = pier_runc_link(&bin);
        let images = private_containerd::pause::image_archives(&dir, &mut |args| {
            p.ok(args);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let driver = CgroupDriver::for_this_host();
        let mut pier = Handler::new("pier", runc);
        pier.systemd_cgroup = driver == CgroupDriver::Systemd;
        // runc's systemd driver asks systemd over D-Bus; the tests use this handler only
        // for comparisons, with the default driver.
        let mut config = ConfigOptions::new(vec![pier, Handler::new("runc", "/usr/sbin/runc")]);
        config.default_handler = "runc".into();
        let opts = private_containerd::Options {
            config,
            bridge: format!("piercri{n}"),
            subnet: format!("10.217.{}", 20 + n),
            cgroup_parent: match driver {
                CgroupDriver::Cgroupfs => format!("/pier-cri-{tag}"),
                CgroupDriver::Systemd => format!("/piercri{tag}.slice"),
            },
            ready_timeout: super::scaled(Duration::from_secs(60)),
        };
        let containerd = PrivateContainerd::start(&dir, &opts, &images)
            .unwrap_or_else(|e| panic!("starting the private containerd: {e}"));
        CriContainerd {
            endpoint: containerd.endpoint().to_string(),
            pier_state: dir.join("pier-state").join("k8s.io"),
            bridge: opts.bridge,
            subnet: opts.subnet,
            cgroup_parent: opts.cgroup_parent,
            cgroup_driver: driver,
            tag,
            dir,
            containerd,
            _work: work,
        }
    }

    /// A CRI client connected to it.
    pub fn client(&self) -> pier_cri::Client {
        self.containerd
            .client()
            .expect("connecting to containerd's CRI")
    }

    /// The `cgroup_parent` kubelet would give pod `name` (alphanumeric): a directory under
    /// the fixture's, or with the systemd driver a slice nested in the fixture's slice
    /// (kubelet's `kubepods-besteffort-podUID.slice`).
    pub fn pod_cgroup_parent(&self, name: &str) -> String {
        match self.cgroup_driver {
            CgroupDriver::Cgroupfs => format!("{}/pod-{name}", self.cgroup_parent),
            CgroupDriver::Systemd => format!("piercri{}-pod{name}.slice", self.tag),
        }
    }

    /// The cgroup directory (under each hierarchy's root) of pod `name`'s parent: systemd
    /// nests slice `a-b.slice` in `a.slice`.
    pub fn pod_cgroup_dir(&self, name: &str) -> String {
        match self.cgroup_driver {
            CgroupDriver::Cgroupfs => self.pod_cgroup_parent(name),
            CgroupDriver::Systemd => {
                format!("{}/{}", self.cgroup_parent, self.pod_cgroup_parent(name))
            }
        }
    }

    /// A pod configuration as kubelet would send it for pod `name` (alphanumeric), under
    /// the fixture's cgroup parent (a slice with the systemd driver), logs in the fixture's
    /// directory.
    pub fn pod_config(&self, name: &str) -> api::PodSandboxConfig {
        let logs = self.dir.join("logs").join(name);
        std::fs::create_dir_all(&logs).expect("pod log directory");
        api::PodSandboxConfig {
            metadata: Some(api::PodSandboxMetadata {
                name: name.into(),
                uid: format!("uid-{name}-{}", std::process::id()),
                namespace: "default".into(),
                attempt: 0,
            }),
            hostname: name.into(),
            log_directory: logs.to_string_lossy().into_owned(),
            linux: Some(api::LinuxPodSandboxConfig {
                cgroup_parent: self.pod_cgroup_parent(name),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// `ctr` against this containerd, in the CRI plugin's namespace.
    pub fn ctr(&self) -> Command {
        let mut c = Command::new("ctr");
        c.arg("--address")
            .arg(self.dir.join("containerd.sock"))
            .args(["-n", "k8s.io"])
            .env_remove("CONTAINERD_ADDRESS")
            .env_remove("CONTAINERD_NAMESPACE");
        c
    }

    /// containerd's event stream (`ctr events`, every namespace) recorded from now on: what
    /// kubelet's view of a pod is built from besides CRI's answers.
    pub fn events(&self) -> Events {
        let file = self.dir.join(format!(
            "events-{}.log",
            NEXT_EVENTS.fetch_add(1, Ordering::SeqCst)
        ));
        let out = std::fs::File::create(&file).expect("events file");
        let child = self
            .ctr()
            .arg("events")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .expect("ctr events");
        let events = Events {
            child,
            file,
            ctr: self.ctr(),
        };
        events.sync();
        events
    }

    /// Fails the test if anything of pods or containers `ids` is left: pier's state of them
    /// under the handler's root, their cgroups, veths on the bridge, mounts under the
    /// fixture's directory (rootfs, shm, netns), processes naming them (shims, pier).
    pub fn assert_pod_gone(&self, ids: &[&str]) {
        let state = state_entries(&self.pier_state);
        for id in ids {
            assert!(
                !state.iter().any(|e| e == id),
                "pier state of {id} left in {}: {state:?}",
                self.pier_state.display()
            );
            let cg = cgroups_named(id);
            assert!(cg.is_empty(), "cgroups of {id} left: {cg:?}");
            // A shim exits just after containerd has its answer to Shutdown: a moment.
            let deadline = std::time::Instant::now() + super::scaled(Duration::from_secs(10));
            let mut procs = processes_naming(id);
            while !procs.is_empty() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
                procs = processes_naming(id);
            }
            assert!(procs.is_empty(), "processes of {id} left: {procs:?}");
        }
        assert!(
            self.bridge_ports().is_empty(),
            "veths left on {}: {:?}",
            self.bridge,
            self.bridge_ports()
        );
        let mounts: Vec<String> = super::mounts_under(&self.dir)
            .into_iter()
            .filter(|m| ids.iter().any(|id| m.contains(id)) || m.contains("netns"))
            .collect();
        assert!(mounts.is_empty(), "mounts of the pod left: {mounts:?}");
    }

    /// containerd's log so far (for failure messages).
    pub fn log(&self) -> String {
        self.containerd.log()
    }

    /// The interfaces enslaved to this fixture's bridge (the pods' veths).
    pub fn bridge_ports(&self) -> Vec<String> {
        let brif = Path::new("/sys/class/net").join(&self.bridge).join("brif");
        std::fs::read_dir(brif)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

/// The tools the fixture needs (scripts/setup.sh test installs them), or `None` when
/// missing outside CI.
pub fn prerequisites() -> Option<()> {
    require("containerd", tool("containerd"))?;
    require("ctr (containerd)", tool("ctr"))?;
    require("containerd-shim-runc-v2", tool("containerd-shim-runc-v2"))?;
    require(
        "CNI plugins (containernetworking-plugins)",
        file("/usr/lib/cni/portmap"),
    )?;
    require("iptables (CNI's portmap)", tool("iptables"))?;
    require("a C compiler for the pause program (gcc)", tool("cc"))?;
    Some(())
}

/// A busybox container named `name` running `sh -c script`.
pub fn container_config(name: &str, attempt: u32, script: &str) -> api::ContainerConfig {
    api::ContainerConfig {
        metadata: Some(api::ContainerMetadata {
            name: name.into(),
            attempt,
        }),
        image: Some(api::ImageSpec {
            image: BUSYBOX.into(),
            ..Default::default()
        }),
        command: vec!["sh".into(), "-c".into(), script.into()],
        log_path: format!("{name}_{attempt}.log"),
        ..Default::default()
    }
}
