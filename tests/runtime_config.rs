//! The low-level runtime (`pier runtime run/create`) on hand-written OCI bundles: what a
//! `config.json` asks for is applied, or refused with an error naming the field; never
//! silently dropped.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{text, Pier};
use serde_json::{json, Value};
use std::path::PathBuf;

/// A bundle directory: busybox's files as `rootfs/`, and a config.json written per test.
struct Bundle {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Bundle {
    fn new(p: &Pier) -> Bundle {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_path_buf();
        common::copy_busybox_rootfs(p, &path.join("rootfs"));
        Bundle { _dir: dir, path }
    }

    /// Writes config.json: `args` in the bundle's rootfs with `resources` and extra `mounts`.
    fn configure(&self, args: &[&str], resources: Value, mounts: Value) {
        let mut all_mounts =
            vec![json!({"destination": "/proc", "type": "proc", "source": "proc"})];
        all_mounts.extend(mounts.as_array().cloned().unwrap_or_default());
        let config = json!({
            "ociVersion": "1.2.0",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": args,
                "env": ["PATH=/bin:/usr/bin"],
                "cwd": "/"
            },
            "root": {"path": "rootfs"},
            "mounts": all_mounts,
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}],
                "resources": resources
            }
        });
        std::fs::write(
            self.path.join("config.json"),
            serde_json::to_vec_pretty(&config).expect("json"),
        )
        .expect("writing config.json");
    }
}

impl Bundle {
    /// Writes config.json like [`Bundle::configure`] (no resources, no extra mounts), then lets
    /// `edit` change it.
    fn configure_with(&self, args: &[&str], edit: impl FnOnce(&mut Value)) {
        self.configure(args, json!({}), json!([]));
        let path = self.path.join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut config);
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    }

    /// `pier runtime run -d` of the bundle as `id`; returns the init's PID.
    fn run_detached(&self, p: &Pier, id: &str) -> i64 {
        p.ok(&[
            "runtime",
            "run",
            "-d",
            "-b",
            self.path.to_str().unwrap(),
            id,
        ]);
        let state: Value = serde_json::from_str(&p.ok(&["runtime", "state", id])).unwrap();
        state["pid"].as_i64().expect("a PID in the state")
    }

    /// `pier runtime run` of the bundle; returns (stdout, stderr, exit code).
    fn run(&self, p: &Pier) -> (String, String, Option<i32>) {
        let id = common::unique_id("rtcfg");
        let out = p.run(&["runtime", "run", "-b", self.path.to_str().unwrap(), &id]);
        common::assert_no_cgroup(&id);
        (text(&out.stdout), text(&out.stderr), out.status.code())
    }
}

/// Deletes the runtime container on drop (pass or fail), then checks nothing is left.
struct Container<'a> {
    pier: &'a Pier,
    id: String,
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.pier.run(&["runtime", "delete", "-f", &self.id]);
        if !std::thread::panicking() {
            common::assert_no_cgroup(&self.id);
            common::assert_no_process(&self.id);
        }
    }
}

/// `pier runtime run` of the bundle as `id`; asserts it failed naming `field` and left no
/// state, cgroup or process.
fn assert_refused(p: &Pier, bundle: &Bundle, field: &str) {
    let id = common::unique_id("rtcfg");
    let out = p.run(&["runtime", "run", "-b", bundle.path.to_str().unwrap(), &id]);
    assert_ne!(out.status.code(), Some(0), "{field}: accepted");
    assert!(
        text(&out.stderr).contains(field),
        "the error must name {field}: {}",
        text(&out.stderr)
    );
    assert!(
        !p.root().join("runtime").join(&id).exists(),
        "{field}: state left behind"
    );
    common::assert_no_cgroup(&id);
    common::assert_no_process(&id);
}

fn is_v2() -> bool {
    pier_oci::cgroups::detect_version().expect("cgroup version") == 2
}

#[test]
fn resource_fields_pier_cannot_apply_are_errors_naming_them() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    // The bundle itself runs: the refusals below are about the fields alone.
    bundle.configure(&["true"], json!({}), json!([]));
    let id = common::unique_id("rtcfg");
    let out = p.run(&["runtime", "run", "-b", bundle.path.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let mut cases = vec![
        (
            json!({"memory": {"useHierarchy": false}}),
            "linux.resources.memory.useHierarchy",
        ),
        (json!({"blockIO": {"leafWeight": 500}}), "leafWeight"),
        (
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]}),
            "hugepageLimits",
        ),
    ];
    if is_v2() {
        cases.extend([
            (
                json!({"memory": {"disableOOMKiller": true}}),
                "linux.resources.memory.disableOOMKiller",
            ),
            (
                json!({"memory": {"swappiness": 10}}),
                "linux.resources.memory.swappiness",
            ),
        ]);
    }
    for (resources, field) in cases {
        bundle.configure(&["true"], resources, json!([]));
        assert_refused(&p, &bundle, field);
    }
}

/// Kernel memory limits, which the kernel itself dropped (Linux 5.16), are ignored with a
/// warning naming the field, as runc does, instead of refusing the container: the command runs.
#[test]
fn kernel_memory_limits_are_ignored_with_a_warning() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    for (memory, field) in [
        (json!({"kernel": 67108864}), "linux.resources.memory.kernel"),
        (
            json!({"kernelTCP": 1048576}),
            "linux.resources.memory.kernelTCP",
        ),
    ] {
        bundle.configure(&["echo", "ran"], json!({ "memory": memory }), json!([]));
        let (out, err, code) = bundle.run(&p);
        assert_eq!(code, Some(0), "{field}: {err}");
        assert_eq!(out.trim(), "ran", "{field}");
        if field.ends_with("kernel") || is_v2() {
            assert!(
                err.contains("warning") && err.contains(field),
                "a warning naming {field}: {err}"
            );
        }
    }
}

#[test]
fn disable_oom_killer_is_applied_on_v1_and_refused_on_v2() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    bundle.configure(
        &["sleep", "3600"],
        json!({"memory": {"limit": 67108864, "disableOOMKiller": true, "swappiness": 5}}),
        json!([]),
    );
    if is_v2() {
        assert_refused(&p, &bundle, "linux.resources.memory.disableOOMKiller");
        return;
    }
    let c = Container {
        pier: &p,
        id: common::unique_id("rtcfg"),
    };
    p.ok(&[
        "runtime",
        "create",
        "-b",
        bundle.path.to_str().unwrap(),
        &c.id,
    ]);
    let state: pier_oci::container::StateFile = serde_json::from_slice(
        &std::fs::read(p.root().join("runtime").join(&c.id).join("state.json"))
            .expect("state.json of the created container"),
    )
    .expect("state.json parses");
    let cgroup = state.cgroup.expect("the cgroup in state.json");
    let dir = cgroup.cgroup_dir("memory").expect("memory controller");
    let oom = std::fs::read_to_string(dir.join("memory.oom_control")).expect("oom_control");
    assert!(
        oom.lines().any(|l| l == "oom_kill_disable 1"),
        "disableOOMKiller not applied: {oom}"
    );
    let swappiness = std::fs::read_to_string(dir.join("memory.swappiness")).expect("swappiness");
    assert_eq!(swappiness.trim(), "5");
}

#[test]
fn rro_makes_a_bind_mount_and_its_submounts_read_only() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    let src = tempfile::tempdir().expect("temp dir");
    let sub = common::HostTmpfs::mount_at(src.path(), "sub");
    let mount = |options: Value| json!([{"destination": "/mnt", "type": "bind", "source": src.path(), "options": options}]);
    bundle.configure(
        &["sh", "-c", "echo x > /mnt/sub/f; echo y > /mnt/g"],
        json!({}),
        mount(json!(["rbind", "rro"])),
    );
    let id = common::unique_id("rtcfg");
    let out = p.run(&["runtime", "run", "-b", bundle.path.to_str().unwrap(), &id]);
    assert_ne!(out.status.code(), Some(0), "writes under rro succeeded");
    assert_eq!(
        text(&out.stderr).matches("Read-only file system").count(),
        2,
        "{}",
        text(&out.stderr)
    );
    assert!(
        !sub.0.join("f").exists(),
        "written through rro onto the host's tmpfs"
    );
    assert!(!src.path().join("g").exists());
    // An option pier does not know is an error, not a no-op (on a filesystem mount, where
    // it would be data for the kernel; data on a bind mount is ignored, as runc does).
    bundle.configure(
        &["true"],
        json!({}),
        json!([{"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["rnosuchoption"]}]),
    );
    assert_refused(&p, &bundle, "rnosuchoption");
}

/// A user namespace maps the container's root to an unprivileged host UID: root inside,
/// 100000 on the host, and unable to write the root-owned files of the rootfs (the attack a
/// mapping stops). Without mappings, or mappings without the namespace, is an error.
#[test]
fn user_namespace_maps_root_to_an_unprivileged_host_uid() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    let userns = |c: &mut Value| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    };
    bundle.configure_with(
        &[
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; grep ^Uid /proc/self/status; \
             echo x > /bin/planted && echo WROTE-ROOTFS || echo rootfs-denied",
        ],
        userns,
    );
    let (out, err, code) = bundle.run(&p);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "root inside: {out}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"],
        "{out}"
    );
    assert!(
        out.contains("rootfs-denied"),
        "mapped root wrote a host-root file: {out}"
    );
    assert!(!bundle.path.join("rootfs/bin/planted").exists());
    // The host sees the unprivileged UID.
    let id = common::unique_id("rtcfg");
    bundle.configure_with(&["sleep", "1000"], userns);
    let _c = Container {
        pier: &p,
        id: id.clone(),
    };
    let pid = bundle.run_detached(&p, &id);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_else(|e| {
        let state = p.run(&["runtime", "state", &id]);
        let procs: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                name.parse::<u32>().ok()?;
                let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
                Some(format!(
                    "{name}:{}",
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                ))
            })
            .collect();
        panic!(
            "/proc/{pid}/status: {e}; state now: {} {}; processes: {procs:?}",
            text(&state.stdout),
            text(&state.stderr)
        )
    });
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid.split_whitespace().skip(1).all(|u| u == "100000"),
        "host view: {uid}"
    );
    // Mappings without the namespace, and the namespace without mappings: errors.
    bundle.configure_with(&["true"], |c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 1}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 1}]);
    });
    assert_refused(&p, &bundle, "uidMappings");
    bundle.configure_with(&["true"], |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "user"}));
    });
    assert_refused(&p, &bundle, "uidMappings");
}

/// A time namespace with offsets: the container's boot-time clock runs ten days ahead.
#[test]
fn time_namespace_offsets_move_the_containers_clocks() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    bundle.configure_with(&["cat", "/proc/uptime"], |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "time"}));
        c["linux"]["timeOffsets"] =
            json!({"boottime": {"secs": 864000}, "monotonic": {"secs": 864000}});
    });
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let (out, err, code) = bundle.run(&p);
    assert_eq!(code, Some(0), "{err}");
    let inside: f64 = out.split_whitespace().next().unwrap().parse().unwrap();
    assert!(
        inside - host > 863_000.0,
        "uptime inside {inside} vs host {host}"
    );
    // Offsets without a new time namespace are refused.
    bundle.configure_with(&["true"], |c| {
        c["linux"]["timeOffsets"] = json!({"boottime": {"secs": 1}});
    });
    assert_refused(&p, &bundle, "timeOffsets");
}

/// personality, scheduler, ioPriority, execCPUAffinity and memoryPolicy reach the process.
#[test]
fn process_attributes_reach_the_process() {
    // A kernel without NUMA has no memory policy (nor numa_maps) to check.
    let numa = std::path::Path::new("/proc/self/numa_maps").exists();
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    bundle.configure_with(
        &[
            "sh",
            "-c",
            "uname -m; grep ^policy /proc/self/sched; cut -d' ' -f19 /proc/self/stat; \
             grep ^Cpus_allowed_list /proc/self/status; grep -c bind:0 /proc/self/numa_maps 2>/dev/null; true",
        ],
        |c| {
            c["linux"]["personality"] = json!({"domain": "LINUX32"});
            if numa {
                c["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"});
            }
            c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
            c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
            c["process"]["execCPUAffinity"] = json!({"final": "0"});
        },
    );
    let (out, err, code) = bundle.run(&p);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    if std::env::consts::ARCH == "x86_64" {
        assert_eq!(lines[0], "i686", "LINUX32 personality: {out}");
    }
    assert!(lines[1].ends_with(" 3"), "SCHED_BATCH is policy 3: {out}");
    assert_eq!(lines[2], "5", "nice 5: {out}");
    assert!(lines[3].ends_with("\t0"), "CPU 0 only: {out}");
    if numa {
        assert_ne!(lines[4], "0", "memory bound to node 0: {out}");
    }
    // The I/O priority, read from the host with ioprio_get.
    let id = common::unique_id("rtcfg");
    bundle.configure_with(&["sleep", "1000"], |c| {
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
    });
    let _c = Container {
        pier: &p,
        id: id.clone(),
    };
    let pid = bundle.run_detached(&p, &id);
    // SAFETY: ioprio_get takes integers only.
    let prio = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, pid as libc::c_int) };
    assert_eq!(prio >> 13, 3, "IOPRIO_CLASS_IDLE from the host: {prio}");
}

/// Labels for an LSM the host does not run, an RDT class, a seccomp agent: refused by name.
#[test]
fn what_this_host_cannot_honour_is_refused_by_name() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    if !std::path::Path::new("/sys/module/apparmor/parameters/enabled").exists() {
        bundle.configure_with(&["true"], |c| {
            c["process"]["apparmorProfile"] = json!("docker-default");
        });
        assert_refused(&p, &bundle, "process.apparmorProfile");
    }
    if !std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        bundle.configure_with(&["true"], |c| {
            c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
        });
        assert_refused(&p, &bundle, "process.selinuxLabel");
        bundle.configure_with(&["true"], |c| {
            c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
        });
        assert_refused(&p, &bundle, "linux.mountLabel");
    }
    bundle.configure_with(&["true"], |c| {
        c["linux"]["intelRdt"] = json!({"closID": "x"});
    });
    assert_refused(&p, &bundle, "linux.intelRdt");
    bundle.configure_with(&["true"], |c| {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt", "type": "bind", "source": "/tmp", "options": ["rbind", "idmap"],
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]
        }));
    });
    assert_refused(&p, &bundle, "idmapped mounts");
    bundle.configure_with(&["true"], |c| {
        c["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]});
    });
    assert_refused(&p, &bundle, "linux.personality.flags");
}

/// A veth pair and a named network namespace made by the test, removed on drop.
struct NetFixture {
    veth: String,
    netns: String,
}

impl Drop for NetFixture {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.veth])
            .status();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

/// `linux.netDevices`: a host interface is moved into the container's network namespace,
/// renamed, with its address; the namespace was joined by path, so `delete` gives the
/// interface back to the host under its own name.
#[test]
fn net_devices_are_moved_in_renamed_and_given_back() {
    let Some(_) = pier_testkit::prereq::require("ip (iproute2)", pier_testkit::prereq::tool("ip"))
    else {
        return;
    };
    let n = std::process::id();
    let fx = NetFixture {
        veth: format!("pnd{n}a"),
        netns: format!("piernd{n}"),
    };
    let sh = |cmd: String| {
        let st = std::process::Command::new("sh")
            .args(["-c", &cmd])
            .status()
            .unwrap();
        assert!(st.success(), "{cmd}");
    };
    sh(format!(
        "ip link add {v} type veth peer name pnd{n}b && ip addr add 169.254.77.13/32 dev {v} && ip link set {v} up && ip netns add {ns}",
        v = fx.veth,
        ns = fx.netns
    ));
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    let netns_path = format!("/run/netns/{}", fx.netns);
    let devices = |c: &mut Value| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "network", "path": netns_path}));
        c["linux"]["netDevices"] = json!({ fx.veth.as_str(): {"name": "eth9"} });
    };
    bundle.configure_with(&["busybox", "ip", "addr", "show", "eth9"], devices);
    let (out, err, code) = bundle.run(&p);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("inet 169.254.77.13/32") && out.contains("UP"),
        "the device inside, renamed, with its address, up: {out}"
    );
    let back = std::process::Command::new("ip")
        .args(["link", "show", &fx.veth])
        .output()
        .unwrap();
    assert!(
        back.status.success(),
        "the device is back on the host under its name"
    );
    // Without a network namespace, and with a device the host lacks: errors naming it.
    bundle.configure_with(&["true"], |c| {
        c["linux"]["netDevices"] = json!({"pndnone0": {}});
    });
    assert_refused(&p, &bundle, "netDevices");
    bundle.configure_with(&["true"], |c| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "network"}));
        c["linux"]["netDevices"] = json!({"pndnone0": {}});
    });
    assert_refused(&p, &bundle, "pndnone0");
}

/// The kernel's `struct seccomp_notif` (seccomp_data inlined).
#[repr(C)]
#[derive(Default)]
struct SeccompNotif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    instruction_pointer: u64,
    args: [u64; 6],
}

/// The kernel's `struct seccomp_notif_resp`.
#[repr(C)]
struct SeccompNotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const SECCOMP_IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const SECCOMP_IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;

/// A seccomp agent: takes the listener pier sends, answers the first notified syscall with
/// EACCES, and returns the container process state it was sent and the syscall number.
fn seccomp_agent(
    listener: std::os::unix::net::UnixListener,
) -> std::thread::JoinHandle<(Value, i32)> {
    use std::os::fd::AsRawFd;
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        let (buf, notify) = common::recv_fd(&conn);
        let state: Value = serde_json::from_slice(&buf).expect("the process state");
        let mut req = SeccompNotif::default();
        // SAFETY: NOTIF_RECV fills one zeroed seccomp_notif.
        let r = unsafe { libc::ioctl(notify.as_raw_fd(), SECCOMP_IOCTL_NOTIF_RECV, &mut req) };
        assert_eq!(r, 0, "NOTIF_RECV: {}", std::io::Error::last_os_error());
        let resp = SeccompNotifResp {
            id: req.id,
            val: 0,
            error: -libc::EACCES,
            flags: 0,
        };
        // SAFETY: NOTIF_SEND reads one seccomp_notif_resp.
        let r = unsafe { libc::ioctl(notify.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SEND, &resp) };
        assert_eq!(r, 0, "NOTIF_SEND: {}", std::io::Error::last_os_error());
        (state, req.nr)
    })
}

/// SCMP_ACT_NOTIFY hands mkdir to a seccomp agent at linux.seccomp.listenerPath: the agent
/// gets the listener with the container's state and metadata, and its answer (EACCES) is
/// what the container's mkdir returns, although the profile's default allows everything.
#[test]
fn seccomp_notify_hands_syscalls_to_the_agent() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    let socket = bundle.path.join("agent.sock");
    let agent = seccomp_agent(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let socket_str = socket.to_str().unwrap().to_string();
    bundle.configure_with(
        &[
            "sh",
            "-c",
            "mkdir /tmp/made; echo rc=$?; [ -d /tmp/made ] && echo exists || echo absent",
        ],
        |c| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "listenerPath": socket_str,
                "listenerMetadata": "meta-42",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
            });
        },
    );
    let (out, err, code) = bundle.run(&p);
    assert_eq!(code, Some(0), "{err}");
    let (state, nr) = agent.join().expect("the agent");
    assert!(
        out.contains("rc=1") && out.contains("absent"),
        "the agent's EACCES: {out}"
    );
    assert!(
        nr as i64 == libc::SYS_mkdir || nr as i64 == libc::SYS_mkdirat,
        "notified syscall {nr}"
    );
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "meta-42");
    assert_eq!(state["state"]["pid"], state["pid"]);
    // NOTIFY without an agent, an agent without NOTIFY: errors naming the field.
    bundle.configure_with(&["true"], |c| {
        c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]});
    });
    assert_refused(&p, &bundle, "listenerPath");
}

/// The attack runc's validator stops: a device path with `..` climbs out of the rootfs, and
/// pier would make the device node at that host path. Refused naming the field; the host path
/// stays absent.
#[test]
fn device_paths_outside_dev_are_refused_and_make_nothing_on_the_host() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    let target = PathBuf::from("/tmp").join(common::unique_id("pier-devnode"));
    let climb = format!("/dev/{}{}", "../".repeat(32), target.display());
    for path in [climb.as_str(), target.to_str().unwrap()] {
        let path = path.to_string();
        bundle.configure_with(&["true"], |c| {
            c["linux"]["devices"] = json!([{
                "path": path, "type": "c", "major": 1, "minor": 3,
                "fileMode": 438, "uid": 0, "gid": 0
            }]);
        });
        assert_refused(&p, &bundle, "linux.devices[0].path");
        assert!(
            target.symlink_metadata().is_err(),
            "a device node was made on the host at {}",
            target.display()
        );
    }
}

/// Puts a host kernel parameter back on drop, should an attack on it succeed (the test then
/// fails, but leaves the host as it found it).
struct RestoreSysctl(String, String);

impl Drop for RestoreSysctl {
    fn drop(&mut self) {
        if host_sysctl(&self.0) != self.1 {
            let path = format!("/proc/sys/{}", self.0.replace('.', "/"));
            let _ = std::fs::write(path, &self.1);
        }
    }
}

/// Reads a kernel parameter of this (the host's) namespaces.
fn host_sysctl(key: &str) -> String {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .to_string()
}

/// The attack: a sysctl of a namespace the container shares with the host (or of none) would
/// be written on the host. Each is refused naming the key, and the host's value is unchanged;
/// the same keys with their namespace are applied inside.
#[test]
fn sysctls_outside_the_containers_namespaces_are_refused_and_the_host_is_unchanged() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    let bump = |key: &str| (host_sysctl(key).parse::<u64>().unwrap() + 1).to_string();
    // No namespace at all owns fs.inotify.*; no network namespace for net.*; no IPC namespace
    // for kernel.shmmni (the bundle asks for pid, mount, ipc, uts).
    let cases = [
        ("fs.inotify.max_user_instances", None),
        ("net.ipv4.tcp_keepalive_time", None),
        ("kernel.shmmni", Some("ipc")),
    ];
    for (key, drop_ns) in cases {
        let before = host_sysctl(key);
        let _restore = RestoreSysctl(key.to_string(), before.clone());
        let value = bump(key);
        bundle.configure_with(&["true"], |c| {
            c["linux"]["sysctl"] = json!({ key: value });
            if let Some(ns) = drop_ns {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|n| n["type"] != ns);
            }
        });
        assert_refused(&p, &bundle, key);
        assert_eq!(host_sysctl(key), before, "{key} changed on the host");
    }
    // With their own namespaces they are applied there, and only there.
    let before = (
        host_sysctl("net.ipv4.tcp_keepalive_time"),
        host_sysctl("kernel.shmmni"),
    );
    bundle.configure_with(
        &[
            "sh",
            "-c",
            "cat /proc/sys/net/ipv4/tcp_keepalive_time /proc/sys/kernel/shmmni",
        ],
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "network"}));
            c["linux"]["sysctl"] =
                json!({"net.ipv4.tcp_keepalive_time": "777", "kernel.shmmni": "1234"});
        },
    );
    let (out, err, code) = bundle.run(&p);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["777", "1234"]);
    assert_eq!(
        (
            host_sysctl("net.ipv4.tcp_keepalive_time"),
            host_sysctl("kernel.shmmni")
        ),
        before
    );
}

/// The lines of /proc/<pid>/status that say what a process may do.
const PRIVILEGE_LINES: &str = "^(Cap(Inh|Prm|Eff|Bnd|Amb)|Seccomp|NoNewPrivs):";

/// pier's `--init` reaper (PID 1, for the container's whole life) runs under the command's
/// seccomp filter, no_new_privs and capabilities: a process allowed to ptrace it gains nothing
/// the command does not have. Read from inside, for root and for a non-root user (whose
/// command keeps no capability across its execve, so neither may the reaper).
#[test]
fn the_init_reaper_has_the_commands_seccomp_filter_and_capabilities() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    let script = format!(
        "for f in /proc/1/status /proc/$$/status; do grep -E '{PRIVILEGE_LINES}' $f; echo ---; done"
    );
    for uid in [0, 1000] {
        bundle.configure_with(&["sh", "-c", &script], |c| {
            c["process"]["user"] = json!({"uid": uid, "gid": uid});
            c["process"]["noNewPrivileges"] = json!(true);
            let set = json!(["CAP_KILL", "CAP_CHOWN", "CAP_SETUID"]);
            c["process"]["capabilities"] = json!({
                "bounding": set, "effective": set, "permitted": set,
                "inheritable": [], "ambient": []
            });
            c["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
            });
        });
        let id = common::unique_id("rtcfg");
        let out = p.run(&[
            "runtime",
            "run",
            "--init",
            "-b",
            bundle.path.to_str().unwrap(),
            &id,
        ]);
        common::assert_no_cgroup(&id);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "uid {uid}: {stderr}");
        let blocks: Vec<&str> = stdout.split("---").map(str::trim).collect();
        let (reaper, command) = (blocks[0], blocks[1]);
        assert!(
            reaper.contains("Seccomp:\t2") && reaper.contains("NoNewPrivs:\t1"),
            "uid {uid}: the reaper's status:\n{reaper}"
        );
        assert_eq!(
            reaper, command,
            "uid {uid}: the reaper (first) and the command differ"
        );
    }
}

/// Inside the container, `/sys/fs/cgroup` shows the container's own cgroup, with and without
/// a cgroup namespace (without one, Docker's and Podman's default on v1, a cgroup filesystem
/// would show the host's root: "no limit", and every other container's directory): its
/// memory limit reads as set, and pier's parent directory of all containers is not there.
#[test]
fn the_containers_own_cgroup_is_at_sys_fs_cgroup_with_and_without_a_cgroup_namespace() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    let (limit_file, parent) = if is_v2() {
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pier")
    } else {
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/pier",
        )
    };
    let script =
        format!("cat {limit_file}; [ -e {parent} ] && echo host-root-visible; touch /sys/fs/cgroup/x 2>/dev/null && echo writable; echo end");
    for cgroupns in [false, true] {
        bundle.configure_with(&["sh", "-c", &script], |c| {
            c["linux"]["resources"] = json!({"memory": {"limit": 67108864}});
            let mounts = c["mounts"].as_array_mut().unwrap();
            mounts.push(
                json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"]}),
            );
            mounts.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup",
                "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}));
            if cgroupns {
                c["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "cgroup"}));
            }
        });
        let (out, err, code) = bundle.run(&p);
        assert_eq!(code, Some(0), "cgroupns {cgroupns}: {err}");
        assert_eq!(
            out.split_whitespace().collect::<Vec<_>>(),
            ["67108864", "end"],
            "cgroupns {cgroupns}: the container's own limit, no host root, read-only"
        );
    }
    // pier run --memory (which gives every container a cgroup namespace, as Docker on v2).
    let out = p.ok(&[
        "run", "--rm", "--memory", "64m", "busybox", "sh", "-c", &script,
    ]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["67108864", "end"]
    );
}

// ---- Mounts and /dev under an image pier does not trust (issue 23) ----

/// An image whose `/dev` is a symlink to a host directory: the device nodes and links go
/// into the container's /dev tmpfs (where the link leads inside the rootfs), and nothing is
/// created in the host directory.
#[test]
fn dev_symlinked_to_a_host_directory_gets_nothing_on_the_host() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    let host = tempfile::tempdir().expect("temp dir");
    let dev = bundle.path.join("rootfs/dev");
    let _ = std::fs::remove_dir_all(&dev);
    std::os::unix::fs::symlink(host.path(), &dev).unwrap();
    bundle.configure(
        &["sh", "-c", "test -c /dev/null && test -c /dev/urandom && test -L /dev/fd && echo dev-ok"],
        json!({}),
        json!([{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]}]),
    );
    let (out, err, code) = bundle.run(&p);
    let planted: Vec<_> = std::fs::read_dir(host.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        planted.is_empty(),
        "created in the host directory: {planted:?}"
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "dev-ok", "{err}");
    // With a terminal, /dev/console is bound there too.
    bundle.configure_with(&["sh", "-c", "test -c /dev/console && echo console-ok"], |c| {
        c["process"]["terminal"] = json!(true);
        c["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]}),
        );
    });
    let (out, err, code) = bundle.run(&p);
    let planted: Vec<_> = std::fs::read_dir(host.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        planted.is_empty(),
        "created in the host directory: {planted:?}"
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("console-ok"), "{out} {err}");
}

/// `proc` and `sysfs` go on an ordinary directory only (runc's rule): an image's
/// `/proc -> /x` is refused, not followed.
#[test]
fn proc_or_sys_on_a_symlink_is_refused() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    let rootfs = bundle.path.join("rootfs");
    std::fs::create_dir_all(rootfs.join("elsewhere")).unwrap();
    let _ = std::fs::remove_dir_all(rootfs.join("proc"));
    std::os::unix::fs::symlink("/elsewhere", rootfs.join("proc")).unwrap();
    bundle.configure(&["true"], json!({}), json!([]));
    assert_refused(&p, &bundle, "must be mounted on ordinary directory");
    std::fs::remove_file(rootfs.join("proc")).unwrap();
    std::fs::create_dir(rootfs.join("proc")).unwrap();
    let _ = std::fs::remove_dir_all(rootfs.join("sys"));
    std::os::unix::fs::symlink("/elsewhere", rootfs.join("sys")).unwrap();
    bundle.configure(
        &["true"],
        json!({}),
        json!([{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]}]),
    );
    assert_refused(&p, &bundle, "must be mounted on ordinary directory");
    assert_eq!(common::mounts_under(&rootfs), Vec::<String>::new());
}

/// `tmpcopyup` (Podman's --tmpfs, --read-only): the new tmpfs starts with the directory's
/// content, and writes to it stay in the tmpfs.
#[test]
fn tmpcopyup_fills_the_tmpfs_with_the_directory() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    let etc = bundle.path.join("rootfs/etc");
    std::fs::create_dir_all(etc.join("sub")).unwrap();
    std::fs::write(etc.join("sub/marker"), "from the image\n").unwrap();
    bundle.configure(
        &["sh", "-c", "cat /etc/sub/marker && echo new > /etc/sub/written && grep -c tmpfs /proc/self/mountinfo"],
        json!({}),
        json!([{"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m", "tmpcopyup"]}]),
    );
    let (out, err, code) = bundle.run(&p);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("from the image\n"), "{out}");
    assert!(
        !etc.join("sub/written").exists(),
        "the write reached the rootfs"
    );
}

/// The recursive options runc knows, applied to the whole tree an `rbind` copied; plain `ro`
/// on an `rbind` only to its top mount (the runtime spec's rule); data options on a bind
/// mount ignored as runc does.
#[test]
fn recursive_mount_options_and_plain_ro_on_rbind() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    let src = tempfile::tempdir().expect("temp dir");
    let sub = common::HostTmpfs::mount_at(src.path(), "sub");
    std::fs::write(sub.0.join("target"), "followed\n").unwrap();
    std::os::unix::fs::symlink("target", sub.0.join("link")).unwrap();
    let mount = |options: Value| json!([{"destination": "/mnt", "type": "bind", "source": src.path(), "options": options}]);

    // ro on rbind: the top mount read-only, the copied submount writable.
    bundle.configure(
        &[
            "sh",
            "-c",
            "echo top > /mnt/top; echo below > /mnt/sub/below && echo below-ok",
        ],
        json!({}),
        mount(json!(["rbind", "ro", "mode=755", "size=1k"])),
    );
    let (out, err, _) = bundle.run(&p);
    assert!(err.contains("Read-only file system"), "top writable: {err}");
    assert_eq!(out.trim(), "below-ok", "{err}");
    assert!(!src.path().join("top").exists());
    assert!(sub.0.join("below").exists());

    // rnosymfollow: symlinks under the mount and its submounts are not followed.
    bundle.configure(
        &["sh", "-c", "cat /mnt/sub/link"],
        json!({}),
        mount(json!(["rbind", "rnosymfollow"])),
    );
    let (out, err, code) = bundle.run(&p);
    assert_ne!(
        code,
        Some(0),
        "followed a symlink under rnosymfollow: {out}"
    );
    assert!(
        err.contains("Too many levels") || err.contains("Symbolic link loop"),
        "{err}"
    );
    assert!(!out.contains("followed"), "{out}");

    // rro then rrw cancels; rnoexec, rnodev, rnoatime reach the submount.
    bundle.configure(
        &[
            "sh",
            "-c",
            "grep \" /mnt/sub \" /proc/self/mountinfo; echo w > /mnt/sub/w && echo write-ok",
        ],
        json!({}),
        mount(json!([
            "rbind", "rro", "rrw", "rnoexec", "rnodev", "rnoatime", "rnosuid"
        ])),
    );
    let (out, err, code) = bundle.run(&p);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("write-ok"), "{out} {err}");
    let line = out.lines().next().unwrap_or_default();
    let opts = line.split_whitespace().nth(5).unwrap_or_default();
    for want in ["rw", "noexec", "nodev", "nosuid", "noatime"] {
        assert!(opts.split(',').any(|o| o == want), "{want} missing: {line}");
    }
}

/// The features document names the options pier implements beyond the kernel's.
#[test]
fn features_list_the_runtime_mount_options() {
    let p = Pier::empty();
    let features: Value = serde_json::from_str(&p.ok(&["runtime", "features"])).unwrap();
    let opts: Vec<&str> = features["mountOptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.as_str())
        .collect();
    for want in [
        "tmpcopyup",
        "rro",
        "rrw",
        "rnosuid",
        "rsuid",
        "rnodev",
        "rdev",
        "rnoexec",
        "rexec",
        "rnosymfollow",
        "rsymfollow",
        "rnoatime",
        "ratime",
        "rrelatime",
        "rnorelatime",
        "rstrictatime",
        "rnostrictatime",
        "rnodiratime",
        "rdiratime",
        "rbind",
    ] {
        assert!(opts.contains(&want), "{want} not in {opts:?}");
    }
}

/// `root.readonly` in a user namespace: the remount keeps the flags the rootfs mount is
/// locked with (here nosuid and nodev, as a rootfs under /run or a tmpfs has), and the root is
/// read-only.
#[test]
fn readonly_root_in_a_user_namespace() {
    use nix::mount::{mount, MsFlags};
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    let rootfs = bundle.path.join("rootfs");
    mount(
        Some(&rootfs),
        &rootfs,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .unwrap();
    // Unmounts the bind on drop (pass or fail).
    let _bind = common::HostTmpfs(rootfs.clone());
    let locked = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(None::<&str>, &rootfs, None::<&str>, locked, None::<&str>).unwrap();
    bundle.configure_with(
        &["sh", "-c", "touch /planted; echo done"],
        |c: &mut Value| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "user"}));
            c["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            c["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            c["root"]["readonly"] = json!(true);
        },
    );
    let (out, err, code) = bundle.run(&p);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "done", "{err}");
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!bundle.path.join("rootfs/planted").exists());
}

/// The host's mount table, one line per mount (source, target, type).
fn host_mounts() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| {
            l.split(" - ")
                .next()
                .unwrap_or(l)
                .split_whitespace()
                .nth(4)
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// `rootfsPropagation: shared` with a shared host `/`: the container starts (pier makes the
/// rootfs's parent mount private, as runc), and a create that fails halfway leaves none of its
/// mounts on the host. The host's `/` is made shared in a mount namespace of the test's own
/// (`unshare -m`), so the machine's table is not changed.
#[test]
fn shared_rootfs_propagation_works_and_leaves_no_host_mounts() {
    let unshare = std::process::Command::new("unshare")
        .arg("--version")
        .output()
        .map_err(|e| e.to_string());
    if pier_testkit::prereq::require("util-linux's unshare", unshare).is_none() {
        return;
    }
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    let with = |late_failure: bool| {
        move |c: &mut Value| {
            c["linux"]["rootfsPropagation"] = json!("shared");
            let mounts = c["mounts"].as_array_mut().unwrap();
            mounts.push(json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]}));
            mounts.push(json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666"]}));
            mounts.push(json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "nodev", "mode=1777"]}));
            mounts.push(json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "ro"]}));
            if late_failure {
                mounts.push(json!({"destination": "/late", "type": "bind", "source": "/nonexistent/pier-test", "options": ["rbind"]}));
            }
        }
    };
    // The pier command, run in a mount namespace whose `/` is shared; mountinfo lengths of
    // that namespace before and after are printed around it.
    let script = |id: &str| {
        format!(
            "mount --make-rshared / && wc -l < /proc/self/mountinfo && \
             {} --root {} runtime run -b {} {id}; echo rc=$?; wc -l < /proc/self/mountinfo",
            common::PIER,
            p.root().display(),
            bundle.path.display()
        )
    };
    // Only what this test could leak: mounts under its bundle or its state root. The other
    // tests of this binary run beside it and mount their containers' root filesystems.
    let own = || {
        host_mounts()
            .into_iter()
            .filter(|m| {
                m.starts_with(bundle.path.to_str().unwrap())
                    || m.starts_with(p.root().to_str().unwrap())
            })
            .collect::<Vec<_>>()
    };
    let before = own();
    for late_failure in [false, true] {
        bundle.configure_with(&["sh", "-c", "echo started"], with(late_failure));
        let id = common::unique_id("rtcfg");
        let out = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "unchanged", "sh", "-c", &script(&id)])
            .output()
            .unwrap();
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        let lines: Vec<&str> = stdout.lines().collect();
        assert!(lines.len() >= 3, "{stdout} {stderr}");
        let (first, last) = (lines[0], lines[lines.len() - 1]);
        assert_eq!(
            first, last,
            "mounts left in the shared namespace: {stdout} {stderr}"
        );
        if late_failure {
            assert!(!stdout.contains("rc=0"), "{stdout}");
            assert!(stderr.contains("/late"), "{stderr}");
        } else {
            assert!(
                stdout.contains("started") && stdout.contains("rc=0"),
                "{stdout} {stderr}"
            );
        }
        let _ = p.run(&["runtime", "delete", "-f", &id]);
        common::assert_no_cgroup(&id);
    }
    assert_eq!(before, own(), "the test's own namespace leaked");
}

/// `rootfsPropagation: unbindable`: `/` inside the container is unbindable, and the bind of
/// the rootfs onto itself that pivot_root needs is made before that (it failed with EINVAL).
#[test]
fn unbindable_rootfs_propagation() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    bundle.configure_with(
        &["sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo"],
        |c: &mut Value| c["linux"]["rootfsPropagation"] = json!("unbindable"),
    );
    let (out, err, code) = bundle.run(&p);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("unbindable"), "{out}");
}
