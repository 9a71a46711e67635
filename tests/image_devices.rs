//! Device nodes in image layers, by Docker's policy (engine/src/image/layer_devices.rs):
//! pier, as root in the initial user namespace, makes an image's character and block
//! devices and FIFOs when it unpacks the layer, with their numbers, mode and owner; a
//! container from that image still cannot open them (its device cgroup decides, not the
//! nodes in its filesystem: the test writes to `/dev/kmsg`'s twin and reads a loop
//! device's, and both fail with EPERM, and the host's kernel log never gets the line).
//! In a user namespace the devices are skipped, and the pull says so naming them.
//!
//! The image is made here (a tar with busybox and the nodes), imported into a scratch
//! pier, pushed by skopeo to Debian's `docker-registry` over TLS, and pulled. The attack
//! needs no registry (an imported layer is unpacked by the same code), so it runs in the
//! cgroup v2 lane too (scripts/v2-lane.sh).
//!
//! Needs: docker-registry, skopeo, htpasswd, unshare, a global IPv4 address, /bin/busybox.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::registry::{self, Registry, PASSWORD, USER};
use common::{text, Pier};
use pier_testkit::prereq;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;
use std::process::Command;

/// `makedev` as glibc encodes it (what `st_rdev` holds).
fn makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xfffff000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffffff00) << 12)
        | (minor & 0xff)
}

/// The image's root filesystem: static busybox, and in `/nodes` a character device (1:11,
/// the kernel log: anyone may open it for writing), a block device (7:0, the first loop
/// device) and a FIFO.
fn rootfs_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, gid: u64, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_gid(gid);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        match kind {
            tar::EntryType::Symlink => h.set_link_name("busybox").unwrap(),
            tar::EntryType::Char => {
                h.set_device_major(1).unwrap();
                h.set_device_minor(11).unwrap();
            }
            tar::EntryType::Block => {
                h.set_device_major(7).unwrap();
                h.set_device_minor(0).unwrap();
            }
            _ => {}
        }
        b.append_data(&mut h, path, data).unwrap();
    };
    let busybox = fs::read("/bin/busybox").unwrap();
    add("bin", tar::EntryType::Directory, 0o755, 0, b"");
    add("bin/busybox", tar::EntryType::Regular, 0o755, 0, &busybox);
    add("bin/sh", tar::EntryType::Symlink, 0o777, 0, b"");
    add("nodes", tar::EntryType::Directory, 0o755, 0, b"");
    add("nodes/kmsg", tar::EntryType::Char, 0o622, 0, b"");
    add("nodes/loop0", tar::EntryType::Block, 0o660, 6, b"");
    add("nodes/fifo", tar::EntryType::Fifo, 0o640, 0, b"");
    b.into_inner().unwrap()
}

/// pier logged in to the registry, trusting its CA.
fn world(reg: &Registry) -> Pier {
    let p = Pier::empty();
    let certs = p.host_config().join("certs.d").join(&reg.host);
    fs::create_dir_all(&certs).unwrap();
    fs::write(certs.join("ca.crt"), reg.ca.pem()).unwrap();
    let out = p.run_with_input(
        &["login", "-u", USER, "--password-stdin", &reg.host],
        Some(PASSWORD.as_bytes()),
    );
    assert!(out.status.success(), "login: {}", text(&out.stderr));
    p
}

/// The image's single unpacked layer directory.
fn layer_dir(p: &Pier, image: &str) -> PathBuf {
    let dirs = p.image_inspect(image)["LayerDirs"].clone();
    let dirs = dirs.as_array().unwrap();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    PathBuf::from(dirs[0].as_str().unwrap())
}

#[test]
fn pulled_device_nodes_are_made_as_root_and_skipped_with_a_warning_in_a_user_namespace() {
    let Some(_) = prereq::require(
        "docker-registry (apt-get install docker-registry)",
        prereq::file("/usr/bin/docker-registry"),
    ) else {
        return;
    };
    for tool in ["skopeo", "htpasswd", "unshare"] {
        let Some(_) = prereq::require(tool, prereq::tool(tool)) else {
            return;
        };
    }
    let Some(_) = prereq::require("static busybox", prereq::file("/bin/busybox")) else {
        return;
    };
    let Some(ip) = prereq::require("a non-loopback IPv4 address", registry::host_ip()) else {
        return;
    };
    let reg = Registry::start(ip);
    let src = Pier::empty();
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs.tar");
    fs::write(&rootfs, rootfs_tar()).unwrap();
    src.ok(&["import", rootfs.to_str().unwrap(), "devices/app:1"]);
    let archive = work.path().join("app.tar");
    src.ok(&["save", "-o", archive.to_str().unwrap(), "devices/app:1"]);
    reg.push(
        &[],
        &format!("oci-archive:{}:devices/app:1", archive.display()),
        "devices/app:1",
    );
    let image = format!("{}/devices/app:1", reg.host);

    // As root: the nodes are made, as the archive has them.
    let p = world(&reg);
    let out = p.run(&["pull", &image]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("device node"), "no warning as root: {said}");
    let info = p.ok(&["system", "info"]);
    assert!(info.contains("image devices:  created"), "{info}");
    let layer = layer_dir(&p, &image);
    let kmsg = fs::symlink_metadata(layer.join("nodes/kmsg")).unwrap();
    assert!(kmsg.file_type().is_char_device());
    assert_eq!(
        (kmsg.rdev(), kmsg.mode() & 0o7777, kmsg.uid(), kmsg.gid()),
        (makedev(1, 11), 0o622, 0, 0)
    );
    let lp = fs::symlink_metadata(layer.join("nodes/loop0")).unwrap();
    assert!(lp.file_type().is_block_device());
    assert_eq!(
        (lp.rdev(), lp.mode() & 0o7777, lp.gid()),
        (makedev(7, 0), 0o660, 6)
    );
    let fifo = fs::symlink_metadata(layer.join("nodes/fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o640);

    // In a user namespace pier cannot make devices: skipped, with one warning naming them.
    let q = world(&reg);
    let mut cmd = Command::new("unshare");
    cmd.args(["--user", "--map-root-user", "--"])
        .arg(common::PIER)
        .args(q.command(&["pull", &image]).get_args());
    for (k, v) in q.command(&[]).get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = common::run_with_timeout(&mut cmd, None, common::COMMAND_TIMEOUT).unwrap();
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    let warnings: Vec<&str> = said.lines().filter(|l| l.contains("device node")).collect();
    assert_eq!(warnings.len(), 1, "one warning: {said}");
    assert!(
        warnings[0].contains("2 device node(s)")
            && warnings[0].contains("/nodes/kmsg")
            && warnings[0].contains("/nodes/loop0")
            && warnings[0].contains("user namespace"),
        "{}",
        warnings[0]
    );
    let layer = layer_dir(&q, &image);
    assert!(fs::symlink_metadata(layer.join("nodes/kmsg")).is_err());
    assert!(fs::symlink_metadata(layer.join("nodes/loop0")).is_err());
    assert!(fs::symlink_metadata(layer.join("nodes/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
}

/// The kernel log's records so far (reading `/dev/kmsg` until it has no more).
fn kernel_log() -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut kmsg = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .unwrap();
    let mut log = String::new();
    let mut buf = vec![0u8; 8192];
    loop {
        match kmsg.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => log.push_str(&String::from_utf8_lossy(&buf[..n])),
            // EPIPE: records were overwritten while reading; the rest still comes.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(_) => break,
        }
    }
    log
}

#[test]
fn a_container_cannot_open_the_device_nodes_its_image_brought() {
    let Some(_) = prereq::require("static busybox", prereq::file("/bin/busybox")) else {
        return;
    };
    let p = Pier::empty();
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs.tar");
    fs::write(&rootfs, rootfs_tar()).unwrap();
    p.ok(&["import", rootfs.to_str().unwrap(), "devices:1"]);
    let layer = layer_dir(&p, "devices:1");
    let kmsg = layer.join("nodes/kmsg");
    assert_eq!(
        fs::symlink_metadata(&kmsg).unwrap().rdev(),
        makedev(1, 11),
        "the image's node was made"
    );
    // The node is live, and the check below sees what goes through it: a line the host
    // writes through the layer's node reaches the kernel log.
    let control = common::unique_id("pier-image-device-control-");
    fs::OpenOptions::new()
        .write(true)
        .open(&kmsg)
        .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{control}\n").as_bytes()))
        .expect("the host writes through the layer's kmsg node");
    assert!(
        kernel_log().contains(&control),
        "the control line is logged"
    );

    // The attack: a container writes to the kernel log and reads a loop device through the
    // nodes its image brought. Its device cgroup says no.
    let marker = common::unique_id("pier-image-device-");
    let script = format!(
        "echo {marker} > /nodes/kmsg; echo kmsg=$?; head -c 1 /nodes/loop0 >/dev/null; echo loop=$?"
    );
    let out = p.run(&["run", "--rm", "devices:1", "sh", "-c", &script]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(stdout.contains("kmsg=1"), "{stdout}{stderr}");
    assert!(stdout.contains("loop=1"), "{stdout}{stderr}");
    assert_eq!(
        stderr.matches("Operation not permitted").count(),
        2,
        "both refused by the device cgroup (EPERM): {stderr}"
    );
    assert!(
        !kernel_log().contains(&marker),
        "the container's line reached the host's kernel log"
    );
    common::assert_no_mounts_under(p.root());
}
