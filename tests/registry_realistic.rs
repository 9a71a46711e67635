//! A realistic image, byte for byte: a Debian 12 root filesystem made into a multi-layer
//! image (`scripts/layered-image.sh`: whiteouts, an opaque directory, hardlinks, symlinks,
//! setuid/setgid/sticky modes, a file capability, xattrs, other owners, a FIFO, names over
//! 100 bytes), pushed by skopeo to a private registry over TLS with
//! htpasswd authentication in Docker and OCI formats, gzip and zstd; pulled by pier, and by
//! skopeo + umoci (the reference unpacker); the two root filesystems compared entry by
//! entry: type, content, mode, owner, hardlink groups, symlink target, xattrs, device
//! numbers (pier, as root, makes an image's device nodes as Docker does).
//! pier's tree is the one its containers see: the image's layer directories mounted as one
//! read-only overlay, as `pier run` mounts them.
//!
//! And compose: an `image:` that is not in the store is pulled by `pier compose up`.
//!
//! Needs: docker-registry, skopeo, umoci, mmdebstrap (a Debian mirror, the first time: the
//! tarball is cached in $PIER_TEST_CACHE), setcap, setfattr, htpasswd, a global IPv4 address.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::registry::{self, Registry, PASSWORD, USER};
use pier_testkit::prereq;
use sha2::Digest;
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// pier with a private root, credentials file, configuration and certs.d.
struct World {
    pier: common::Pier,
    dir: tempfile::TempDir,
}

impl World {
    fn new(reg: &Registry) -> World {
        let w = World {
            pier: common::Pier::empty(),
            dir: tempfile::tempdir().unwrap(),
        };
        let d = w.dir.path().join("certs.d").join(&reg.host);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("ca.crt"), reg.ca.pem()).unwrap();
        let out = w.run(
            &["login", "-u", USER, "--password-stdin", &reg.host],
            Some(PASSWORD),
        );
        assert!(out.status.success(), "login: {}", common::text(&out.stderr));
        w
    }
    fn run(&self, args: &[&str], input: Option<&str>) -> Output {
        let mut c = self.pier.command(args);
        c.env("DOCKER_CONFIG", self.dir.path().join("docker"))
            .env("PIER_CONFIG", self.dir.path().join("pier-config.json"))
            .env("PIER_CERTS_D", self.dir.path().join("certs.d"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        if let Some(i) = input {
            writeln!(stdin, "{i}").unwrap();
        }
        drop(stdin);
        common::wait_with_timeout(child, std::time::Duration::from_secs(300)).unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            out.status.success(),
            "pier {args:?}: {}{}",
            common::text(&out.stdout),
            common::text(&out.stderr)
        );
        common::text(&out.stdout)
    }
    /// The image's unpacked layer directories, bottom first: what `pier run` mounts.
    fn layer_dirs(&self, image: &str) -> Vec<PathBuf> {
        let v = self.pier.image_inspect(image);
        v["LayerDirs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| PathBuf::from(d.as_str().unwrap()))
            .collect()
    }
}

/// A read-only overlay of layer directories, unmounted on drop.
struct Overlay {
    dir: tempfile::TempDir,
}

impl Overlay {
    fn mount(bottom_first: &[PathBuf]) -> Overlay {
        let dir = tempfile::tempdir().unwrap();
        let lower: Vec<String> = bottom_first
            .iter()
            .rev()
            .map(|p| p.display().to_string())
            .collect();
        let out = Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o"])
            .arg(format!("ro,lowerdir={}", lower.join(":")))
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting the overlay: {}",
            common::text(&out.stderr)
        );
        Overlay { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// What is compared of one entry of a root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// `d`, `f`, `l`, `c`, `b`, `p` or `s`.
    kind: char,
    /// Permission bits with setuid, setgid and sticky.
    mode: u32,
    uid: u32,
    gid: u32,
    /// SHA-256 of a file, the target of a symlink, the device number of a device.
    content: String,
    /// Every other path of the tree with the same inode (empty: not hardlinked).
    links: Vec<String>,
    /// Every extended attribute (security.capability and user.* here).
    xattrs: BTreeMap<String, Vec<u8>>,
}

/// Every entry under `root` (the root itself as "/"), by path.
fn snapshot(root: &Path) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), Vec<String>> = BTreeMap::new();
    walk(root, root, &mut entries, &mut inodes);
    for paths in inodes.values().filter(|p| p.len() > 1) {
        for p in paths {
            let others = paths.iter().filter(|o| *o != p).cloned().collect();
            entries.get_mut(p).unwrap().links = others;
        }
    }
    entries
}

fn walk(
    root: &Path,
    path: &Path,
    entries: &mut BTreeMap<String, Entry>,
    inodes: &mut BTreeMap<(u64, u64), Vec<String>>,
) {
    let meta = fs::symlink_metadata(path).unwrap();
    let rel = format!("/{}", path.strip_prefix(root).unwrap().display());
    let t = meta.file_type();
    let (kind, content) = if t.is_dir() {
        ('d', String::new())
    } else if t.is_file() {
        let mut h = sha2::Sha256::new();
        std::io::copy(&mut fs::File::open(path).unwrap(), &mut h).unwrap();
        ('f', hex::encode(h.finalize()))
    } else if t.is_symlink() {
        ('l', fs::read_link(path).unwrap().display().to_string())
    } else if t.is_char_device() {
        ('c', format!("{:x}", meta.rdev()))
    } else if t.is_block_device() {
        ('b', format!("{:x}", meta.rdev()))
    } else if t.is_fifo() {
        ('p', String::new())
    } else {
        ('s', String::new())
    };
    let xattrs = xattr::list(path)
        .unwrap()
        .map(|name| {
            let value = xattr::get(path, &name).unwrap().unwrap_or_default();
            (name.to_string_lossy().into_owned(), value)
        })
        .collect();
    if kind != 'd' && meta.nlink() > 1 {
        inodes
            .entry((meta.dev(), meta.ino()))
            .or_default()
            .push(rel.clone());
    }
    entries.insert(
        rel,
        Entry {
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            content,
            links: Vec::new(),
            xattrs,
        },
    );
    if t.is_dir() {
        let mut names: Vec<PathBuf> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for child in names {
            walk(root, &child, entries, inodes);
        }
    }
}

/// Every difference between two snapshots, one line each.
fn differences(reference: &BTreeMap<String, Entry>, pier: &BTreeMap<String, Entry>) -> Vec<String> {
    let mut out = Vec::new();
    for (path, want) in reference {
        match pier.get(path) {
            None => out.push(format!("{path}: missing from pier's tree")),
            Some(got) if got != want => {
                out.push(format!("{path}: reference {want:?}\n    pier {got:?}"))
            }
            Some(_) => {}
        }
    }
    for path in pier.keys().filter(|p| !reference.contains_key(*p)) {
        out.push(format!("{path}: only in pier's tree"));
    }
    out
}

/// `skopeo ARGS` without a registry (local copies), which must succeed.
fn skopeo(args: &[&str]) {
    let out = Command::new("skopeo")
        .arg("copy")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo copy {args:?}: {}",
        common::text(&out.stderr)
    );
}

struct Prereqs {
    ip: std::net::Ipv4Addr,
}

fn prereqs() -> Option<Prereqs> {
    let tool = |name: &'static str| {
        move || {
            Command::new("sh")
                .args(["-c", &format!("command -v {name}")])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .ok_or(format!("{name} is not installed"))
        }
    };
    prereq::require(
        "docker-registry (apt-get install docker-registry)",
        prereq::file("/usr/bin/docker-registry"),
    )?;
    for (what, name) in [
        ("skopeo (apt-get install skopeo)", "skopeo"),
        (
            "umoci, the reference unpacker (apt-get install umoci)",
            "umoci",
        ),
        ("mmdebstrap (apt-get install mmdebstrap)", "mmdebstrap"),
        ("setcap (apt-get install libcap2-bin)", "setcap"),
        ("setfattr (apt-get install attr)", "setfattr"),
        ("htpasswd (apt-get install apache2-utils)", "htpasswd"),
    ] {
        prereq::require(what, tool(name)())?;
    }
    let ip = prereq::require("a non-loopback IPv4 address", registry::host_ip())?;
    Some(Prereqs { ip })
}

/// The image, pushed in Docker format with gzip, and OCI format with gzip and with zstd.
const VARIANTS: [(&str, &[&str], &str); 3] = [
    (
        "debian/layered:docker-gzip",
        &["--format", "v2s2", "--dest-compress-format", "gzip"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ),
    (
        "debian/layered:oci-gzip",
        &["--format", "oci", "--dest-compress-format", "gzip"],
        "application/vnd.oci.image.layer.v1.tar+gzip",
    ),
    (
        "debian/layered:oci-zstd",
        &["--format", "oci", "--dest-compress-format", "zstd"],
        "application/vnd.oci.image.layer.v1.tar+zstd",
    ),
];

#[test]
fn a_debian_image_pulled_by_pier_is_the_tree_skopeo_and_umoci_unpack() {
    let Some(p) = prereqs() else { return };
    let work = tempfile::Builder::new()
        .prefix("pier-realistic-")
        .tempdir()
        .unwrap();
    let layout = registry::layered_image(&work.path().join("layout"), 0).unwrap();
    let reg = Registry::start(p.ip);
    let (reg_pid, reg_dir) = (reg.pid(), reg.dir().to_path_buf());
    let src = format!("oci:{}:layered", layout.display());
    for (name, flags, media_type) in VARIANTS {
        let mut extra = vec!["--dest-compress"];
        extra.extend(flags);
        if media_type.ends_with("zstd") {
            // Pushing straight to the registry, skopeo would reuse the gzip blobs it finds
            // there: compress into a directory first, then push those exact bytes.
            let zdir = work.path().join("zstd");
            skopeo(&[&extra[..], &[&src, &format!("oci:{}:z", zdir.display())]].concat());
            reg.push(
                &["--preserve-digests"],
                &format!("oci:{}:z", zdir.display()),
                name,
            );
        } else {
            reg.push(&extra, &src, name);
        }
        let manifest = reg.raw_manifest(name);
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 4, "{name}: {manifest}");
        assert!(
            layers.iter().all(|l| l["mediaType"] == media_type),
            "{name} has {media_type} layers: {manifest}"
        );
    }

    // The reference: skopeo's copy of the Docker variant, unpacked by umoci.
    let oci = work.path().join("skopeo-oci");
    reg.fetch(VARIANTS[0].0, &format!("oci:{}:ref", oci.display()));
    let reference_dir = work.path().join("reference");
    let out = Command::new("umoci")
        .args(["raw", "unpack", "--image"])
        .arg(format!("{}:ref", oci.display()))
        .arg(&reference_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "umoci: {}", common::text(&out.stderr));
    let reference = snapshot(&reference_dir);
    fs::remove_dir_all(&reference_dir).unwrap();
    // The reference has what the layers were made to exercise, so the comparison is not
    // vacuous: the whiteouts and the opaque directory took effect, the rest arrived.
    for gone in ["/etc/motd", "/usr/share/doc/bash", "/usr/bin/chfn"] {
        assert!(!reference.contains_key(gone), "{gone} is whited out");
    }
    let apt: Vec<&String> = reference
        .keys()
        .filter(|k| k.starts_with("/etc/apt/apt.conf.d/"))
        .collect();
    assert_eq!(apt, ["/etc/apt/apt.conf.d/99pier"], "opaque directory");
    let tool = &reference["/opt/pier/raw-socket-tool"];
    assert!(tool.xattrs.contains_key("security.capability"), "{tool:?}");
    assert_eq!(reference["/opt/pier/setuid-tool"].mode, 0o4755);
    assert_eq!(reference["/opt/pier/hard-a"].links.len(), 2);
    assert_eq!(reference["/dev/null"].kind, 'c');
    assert!(reference.len() > 8000, "{} entries", reference.len());

    for (name, _, _) in VARIANTS {
        // A fresh store each time, so every layer is downloaded and unpacked again.
        let w = World::new(&reg);
        let image = format!("{}/{name}", reg.host);
        w.ok(&["pull", &image]);
        let layers = w.layer_dirs(&image);
        assert_eq!(layers.len(), 4);
        let tree = Overlay::mount(&layers);
        let pier_tree = snapshot(tree.path());
        // Device nodes too (engine/src/image/layer_devices.rs): Debian's tarball has
        // /dev/null, /dev/tty, ...; pier makes them as the image has them, as Docker does.
        assert_eq!(pier_tree["/dev/null"], reference["/dev/null"]);
        let diffs = differences(&reference, &pier_tree);
        assert!(
            diffs.is_empty(),
            "{name}: pier's tree differs from umoci's in {} entries:\n{}",
            diffs.len(),
            diffs.join("\n")
        );
        // The comparison can fail: without the top layer, it lists what that layer added
        // (once: a snapshot hashes the whole tree).
        if name == VARIANTS[0].0 {
            let partial = Overlay::mount(&layers[..3]);
            let diffs = differences(&reference, &snapshot(partial.path()));
            assert!(
                diffs
                    .iter()
                    .any(|d| d.starts_with("/opt/pier/raw-socket-tool: missing")),
                "{diffs:?}"
            );
            drop(partial);
        }
        drop(tree);
        // And the image runs: Debian's own programs, with the file capability in place.
        let out = w.ok(&["run", "--rm", &image, "cat", "/etc/debian_version"]);
        assert!(out.starts_with("12."), "{out}");
        common::assert_no_mounts_under(w.pier.root());
    }

    drop(reg);
    assert!(
        !common::is_alive(reg_pid as i32),
        "the registry was stopped"
    );
    assert!(!reg_dir.exists(), "the registry's directory was removed");
    let work_dir = work.path().to_path_buf();
    drop(work);
    assert!(!work_dir.exists(), "the work directory was removed");
}

/// `pier compose up` pulls a service's `image:` that the store lacks, as `docker compose
/// up` does, with the credentials `pier login` saved; an image no registry has is refused
/// naming the service, and nothing is created.
#[test]
fn compose_up_pulls_a_missing_image() {
    let Some(p) = prereqs() else { return };
    let reg = Registry::start(p.ip);
    let src = World::new(&reg);
    src.pier.ok(&["image", "bootstrap", "busybox"]);
    let archive = src.dir.path().join("bb.tar");
    src.ok(&["save", "-o", archive.to_str().unwrap(), "busybox"]);
    reg.push(
        &[],
        &format!("oci-archive:{}:busybox:latest", archive.display()),
        "tools/bb:1",
    );

    let w = World::new(&reg);
    let project = w.dir.path().join("project");
    fs::create_dir_all(&project).unwrap();
    let compose = |image: &str| {
        fs::write(
            project.join("compose.yaml"),
            format!(
                "services:\n  app:\n    image: {image}\n    command: [\"sh\", \"-c\", \"echo from-the-registry; sleep 60\"]\n"
            ),
        )
        .unwrap();
    };
    let file = project.join("compose.yaml");
    let file = file.to_str().unwrap();
    compose(&format!("{}/tools/absent:1", reg.host));
    let out = w.run(&["compose", "-f", file, "-p", "pulls", "up", "-d"], None);
    assert!(!out.status.success());
    let err = common::text(&out.stderr);
    assert!(
        err.contains("service \"app\"") && err.contains("absent"),
        "{err}"
    );
    assert!(w.pier.all_ids().is_empty(), "a refused up creates nothing");

    let image = format!("{}/tools/bb:1", reg.host);
    compose(&image);
    let out = w.run(&["compose", "-f", file, "-p", "pulls", "up", "-d"], None);
    let said = format!("{}{}", common::text(&out.stdout), common::text(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert!(said.contains("Pulled"), "up says it pulled: {said}");
    let id = w.pier.image_inspect(&image)["Id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        id,
        src.pier.image_inspect("busybox")["Id"].as_str().unwrap(),
        "the pulled image is the one pushed"
    );
    common::wait_for(
        std::time::Duration::from_secs(10),
        || {
            w.ok(&["compose", "-f", file, "-p", "pulls", "logs"])
                .contains("from-the-registry")
        },
        "the service's output",
    );
    w.ok(&["compose", "-f", file, "-p", "pulls", "down"]);
    assert!(w.pier.all_ids().is_empty());
}
