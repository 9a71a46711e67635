//! The low-level runtime (`pier runtime run/create`) on hand-written OCI bundles: what a
//! `config.json` asks for is applied, or refused with an error naming the field; never
//! silently dropped.

mod common;

use common::{text, Pier};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

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

/// A container ID unique to this test process.
fn unique_id() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "rtcfg-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
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
    let id = unique_id();
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
    pier_runtime::cgroups::detect_version().expect("cgroup version") == 2
}

#[test]
fn resource_fields_pier_cannot_apply_are_errors_naming_them() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    // The bundle itself runs: the refusals below are about the fields alone.
    bundle.configure(&["true"], json!({}), json!([]));
    let id = unique_id();
    let out = p.run(&["runtime", "run", "-b", bundle.path.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let mut cases = vec![
        (
            json!({"memory": {"kernel": 67108864}}),
            "linux.resources.memory.kernel",
        ),
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
            (
                json!({"memory": {"kernelTCP": 1048576}}),
                "linux.resources.memory.kernelTCP",
            ),
        ]);
    }
    for (resources, field) in cases {
        bundle.configure(&["true"], resources, json!([]));
        assert_refused(&p, &bundle, field);
    }
}

#[test]
fn disable_oom_killer_is_applied_on_v1_and_refused_on_v2() {
    let p = Pier::new();
    let bundle = Bundle::new(&p);
    bundle.configure(
        &["sleep", "60"],
        json!({"memory": {"limit": 67108864, "disableOOMKiller": true, "swappiness": 5}}),
        json!([]),
    );
    if is_v2() {
        assert_refused(&p, &bundle, "linux.resources.memory.disableOOMKiller");
        return;
    }
    let c = Container {
        pier: &p,
        id: unique_id(),
    };
    p.ok(&[
        "runtime",
        "create",
        "-b",
        bundle.path.to_str().unwrap(),
        &c.id,
    ]);
    let cgroup: pier_runtime::cgroups::Cgroup = serde_json::from_slice(
        &std::fs::read(p.root().join("runtime").join(&c.id).join("cgroup.json"))
            .expect("cgroup.json of the created container"),
    )
    .expect("cgroup.json parses");
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
    let id = unique_id();
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
    // An option pier does not know is an error, not a no-op.
    bundle.configure(
        &["true"],
        json!({}),
        mount(json!(["rbind", "rnosymfollow"])),
    );
    assert_refused(&p, &bundle, "rnosymfollow");
}
