//! A containerd with its CRI plugin, for the tests that speak CRI as kubelet does
//! (tests/cri.rs): Debian's containerd with a private configuration, root, state and socket
//! under a test-made directory; runtime handlers `pier` (the runc shim with pier as its
//! runc binary) and `runc`; CNI from Debian's containernetworking-plugins (bridge +
//! host-local + loopback + portmap) with its own bridge and subnet; a pause image built
//! here (a small static C program, `pier build`, imported with `ctr -n k8s.io images
//! import`); pier's busybox imported as `docker.io/library/busybox:latest`. Nothing comes
//! from the network.
//!
//! Two cgroup drivers, as kubelet has: `cgroupfs` (pods' cgroup parents are paths, pier
//! makes the directories) and `systemd` (the pier handler's runc options say
//! `SystemdCgroup = true`, so the shim passes `--systemd-cgroup` and containerd writes
//! `slice:cri-containerd:ID` cgroup paths for pods whose parent is a `.slice`: each
//! container's cgroup is a `.scope` in its pod's slice). The driver is systemd's on a
//! cgroup-v2 host booted by systemd (how kubelet runs there, and the v2 lane's guest), and
//! cgroupfs elsewhere; `PIER_CRI_CGROUP_DRIVER=systemd|cgroupfs` chooses one.
//!
//! On drop: every pod is stopped and removed, containerd is stopped, and what a pod could
//! leave on the host is removed (mounts under the directory, the bridge, the iptables
//! chains the portmap plugin made if it made them, the cgroup parents, containerd's shim
//! directories under /run/containerd).

use super::clients::{
    cgroups_named, client, client_ok, pier_runc_link, state_entries, Daemon, ShimDirs,
};
use super::{static_c_program, Pier};
use pier_cri::api;
use pier_testkit::prereq::{file, require, tool};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

/// The sandbox image's name (containerd's `sandbox_image`).
pub const PAUSE_IMAGE: &str = "localhost/pier-pause:1";

/// The busybox image as CRI names it.
pub const BUSYBOX: &str = "docker.io/library/busybox:latest";

/// The pause program: holds the pod's namespaces, sleeps until SIGINT or SIGTERM, reaps
/// the orphans a shared PID namespace hands it (what Kubernetes' pause does).
const PAUSE_C: &str = r#"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction a = {0};
  a.sa_handler = quit;
  sigaction(SIGINT, &a, 0);
  sigaction(SIGTERM, &a, 0);
  a.sa_handler = reap;
  a.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &a, 0);
  for (;;) pause();
}
"#;

/// The iptables chains (nat table) CNI's portmap plugin makes once for every pod.
const PORTMAP_CHAINS: [&str; 3] = [
    "CNI-HOSTPORT-DNAT",
    "CNI-HOSTPORT-SETMARK",
    "CNI-HOSTPORT-MASQ",
];

/// Fixtures alive in this process, and whether the portmap chains existed before the first:
/// the chains are global, so only the last fixture to go removes them.
static LIVE: Mutex<(u32, bool)> = Mutex::new((0, false));
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
    daemon: Option<Daemon>,
    _shim_dirs: ShimDirs,
    _work: tempfile::TempDir,
}

impl CriContainerd {
    /// Starts one; `p` provides the busybox image and builds the pause image.
    pub fn start(p: &Pier) -> CriContainerd {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{n}", std::process::id() % 100_000);
        {
            let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
            if live.0 == 0 {
                live.1 = PORTMAP_CHAINS.iter().any(|c| chain_exists(c));
            }
            live.0 += 1;
        }
        let shim_dirs = ShimDirs::note();
        let work = tempfile::Builder::new()
            .prefix("pier-cri-")
            .tempdir()
            .expect("temp dir");
        let dir = work.path().canonicalize().expect("canonical temp dir");
        let runc = pier_runc_link(&dir);
        let bridge = format!("piercri{n}");
        let subnet = format!("10.217.{}", 20 + n);
        let pause = pause_archive(p, &dir);
        let busybox = dir.join("busybox.tar");
        p.ok(&["save", "-o", busybox.to_str().expect("utf-8"), "busybox"]);
        write_cni(&dir, &bridge, &subnet);
        let driver = CgroupDriver::for_this_host();
        let config = write_config(&dir, &runc, driver);
        let socket = dir.join("containerd.sock");
        let log = dir.join("containerd.log");
        let mut cmd = Command::new("containerd");
        cmd.arg("--config").arg(&config);
        let mut daemon = Daemon::start("containerd", cmd, &log);
        let ctr = |args: &[&str]| {
            let mut c = Command::new("ctr");
            c.arg("--address")
                .arg(&socket)
                .args(["-n", "k8s.io"])
                .args(args)
                .env_remove("CONTAINERD_ADDRESS")
                .env_remove("CONTAINERD_NAMESPACE");
            c
        };
        daemon.wait_ready(Duration::from_secs(60), &log, || {
            client(&mut ctr(&["version"]), T).2 == Some(0)
        });
        for archive in [&pause, &busybox] {
            client_ok(
                &mut ctr(&["images", "import", archive.to_str().expect("utf-8")]),
                T,
            );
        }
        // ctr names an import by its archive's short name (`busybox:latest`); the CRI
        // plugin looks images up by their full reference, as kubelet normalises them.
        client_ok(&mut ctr(&["images", "tag", "busybox:latest", BUSYBOX]), T);
        CriContainerd {
            endpoint: format!("unix://{}", socket.display()),
            pier_state: dir.join("pier-state").join("k8s.io"),
            bridge,
            subnet,
            cgroup_parent: match driver {
                CgroupDriver::Cgroupfs => format!("/pier-cri-{tag}"),
                CgroupDriver::Systemd => format!("/piercri{tag}.slice"),
            },
            cgroup_driver: driver,
            tag,
            dir,
            daemon: Some(daemon),
            _shim_dirs: shim_dirs,
            _work: work,
        }
    }

    /// A CRI client connected to it.
    pub fn client(&self) -> pier_cri::Client {
        pier_cri::Client::connect(&self.endpoint).expect("connecting to containerd's CRI")
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
        std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
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

impl Drop for CriContainerd {
    fn drop(&mut self) {
        // Pods first, through CRI, so that CNI tears their networks down.
        if let Ok(mut c) = pier_cri::Client::connect(&self.endpoint) {
            for pod in c.pods().unwrap_or_default() {
                let _ = c.stop_pod(&pod.id);
                let _ = c.remove_pod(&pod.id);
            }
        }
        drop(self.daemon.take());
        // Whatever a failed test left: mounts (rootfs, shm, netns), the bridge, cgroups.
        let mut mounts = super::mounts_under(&self.dir);
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        remove_cgroup_tree(&self.cgroup_parent);
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        live.0 -= 1;
        if live.0 == 0 && !live.1 {
            remove_portmap_chains();
        }
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

/// Builds the pause image with `pier build` (FROM scratch, the static program) and saves it
/// as an OCI archive in `dir`.
fn pause_archive(p: &Pier, dir: &Path) -> PathBuf {
    let ctx = dir.join("pause-context");
    std::fs::create_dir_all(&ctx).expect("pause context");
    let Some(_) = static_c_program(&ctx, "pause", PAUSE_C) else {
        panic!("cc -static could not build the pause program (gcc, libc6-dev)");
    };
    std::fs::remove_file(ctx.join("pause.c")).expect("removing pause.c");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY pause /pause\nENTRYPOINT [\"/pause\"]\n",
    )
    .expect("pause Dockerfile");
    p.ok(&[
        "build",
        "-q",
        "-t",
        PAUSE_IMAGE,
        ctx.to_str().expect("utf-8"),
    ]);
    let archive = dir.join("pause.tar");
    p.ok(&["save", "-o", archive.to_str().expect("utf-8"), PAUSE_IMAGE]);
    archive
}

/// The CNI network: a bridge with host-local addresses (kept under `dir`), portmap for
/// hostPorts, loopback (CRI adds it to every pod).
fn write_cni(dir: &Path, bridge: &str, subnet: &str) {
    let conf = dir.join("cni");
    std::fs::create_dir_all(&conf).expect("cni conf dir");
    let net = serde_json::json!({
        "cniVersion": "0.4.0",
        "name": bridge,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipMasq": false,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": format!("{subnet}.0/24") }]],
                    "dataDir": dir.join("cni-ipam"),
                }
            },
            { "type": "portmap", "capabilities": { "portMappings": true } },
            { "type": "loopback" }
        ]
    });
    std::fs::write(conf.join("10-pier.conflist"), net.to_string()).expect("cni conflist");
}

/// containerd's configuration: private directories, the CRI plugin with the handlers
/// `pier` and `runc`, netns mounts under its state directory.
fn write_config(dir: &Path, pier_runc: &Path, driver: CgroupDriver) -> PathBuf {
    let d = dir.display();
    let cri = "plugins.\"io.containerd.grpc.v1.cri\"";
    let handler = |name: &str, binary: &str, root: &str, systemd: bool| {
        format!(
            "[{cri}.containerd.runtimes.{name}]\n  runtime_type = \"io.containerd.runc.v2\"\n\
             [{cri}.containerd.runtimes.{name}.options]\n  BinaryName = \"{binary}\"\n  \
             Root = \"{d}/{root}\"\n  SystemdCgroup = {systemd}\n"
        )
    };
    // containerd gives every sandbox an OOM score of -998 (kubelet's for the pause), and
    // lowering a score needs CAP_SYS_RESOURCE. Where this process lacks it (some CI
    // sandboxes drop it even for root), containerd is told to cap the scores at its own,
    // its option for unprivileged hosts; runc and pier alike fail otherwise.
    let restrict_oom = !has_cap_sys_resource();
    let text = format!(
        "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
         [grpc]\n  address = \"{d}/containerd.sock\"\n\
         [{cri}]\n  sandbox_image = \"{PAUSE_IMAGE}\"\n  stream_server_address = \"127.0.0.1\"\n  \
         stream_server_port = \"0\"\n  disable_apparmor = true\n  netns_mounts_under_state_dir = true\n  \
         restrict_oom_score_adj = {restrict_oom}\n\
         [{cri}.containerd]\n  default_runtime_name = \"runc\"\n\
         {}{}\
         [{cri}.cni]\n  bin_dir = \"/usr/lib/cni\"\n  conf_dir = \"{d}/cni\"\n",
        handler(
            "pier",
            &pier_runc.display().to_string(),
            "pier-state",
            driver == CgroupDriver::Systemd
        ),
        // runc's systemd driver asks systemd over D-Bus; the tests use this handler only
        // for comparisons, with the default driver.
        handler("runc", "/usr/sbin/runc", "runc-state", false),
    );
    let config = dir.join("config.toml");
    std::fs::write(&config, text).expect("config.toml");
    config
}

/// Whether this process's effective capabilities include CAP_SYS_RESOURCE (bit 24).
fn has_cap_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 24) != 0)
}

fn chain_exists(chain: &str) -> bool {
    Command::new("iptables")
        .args(["-w", "-t", "nat", "-S", chain])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Removes the portmap plugin's chains and the jumps to them.
fn remove_portmap_chains() {
    for (from, to) in [
        ("PREROUTING", "CNI-HOSTPORT-DNAT"),
        ("OUTPUT", "CNI-HOSTPORT-DNAT"),
        ("POSTROUTING", "CNI-HOSTPORT-MASQ"),
    ] {
        let rules = Command::new("iptables")
            .args(["-w", "-t", "nat", "-S", from])
            .output()
            .map(|o| super::text(&o.stdout))
            .unwrap_or_default();
        for rule in rules.lines().filter(|r| r.contains(&format!("-j {to}"))) {
            let args: Vec<&str> = rule.split_whitespace().skip(2).collect();
            let _ = Command::new("iptables")
                .args(["-w", "-t", "nat", "-D", from])
                .args(&args)
                .output();
        }
    }
    for chain in PORTMAP_CHAINS {
        if chain_exists(chain) {
            let _ = Command::new("iptables")
                .args(["-w", "-t", "nat", "-F", chain])
                .output();
            let _ = Command::new("iptables")
                .args(["-w", "-t", "nat", "-X", chain])
                .output();
        }
    }
}

/// Removes `parent` (and what is left below it) from every cgroup hierarchy, deepest first.
fn remove_cgroup_tree(parent: &str) {
    let rel = parent.trim_start_matches('/');
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup").join(rel)];
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        roots.push(h.path().join(rel));
    }
    fn rm(dir: &Path) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rm(&e.path());
            }
        }
        let _ = std::fs::remove_dir(dir);
    }
    for r in roots.iter().filter(|r| r.is_dir()) {
        rm(r);
    }
}
