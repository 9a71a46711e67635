//! Escapes through symlinks in trees pier does not trust (build context, image, container
//! upper directory, volume), each performed as an attacker would with the real binary; each
//! test asserts that nothing on the host changed (mode, content, existence) and that the
//! legitimate operation still works. The rule they hold pier to is in
//! `oci/src/security/in_root/root_dir.rs`; `engine/tests/untrusted_paths.rs` keeps the
//! engine's code to it.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{text, HostTmpfs, Pier};
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A host directory the attacks aim at: mode 0700, owner 4321, mtime 12345, one file.
struct HostDir {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl HostDir {
    fn new() -> HostDir {
        let dir = tempfile::Builder::new()
            .prefix("pier-host-")
            .tempdir()
            .unwrap();
        let path = dir.path().canonicalize().unwrap().join("victim");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("secret"), "HOST-SECRET-CONTENT\n").unwrap();
        fs::create_dir(path.join("sub")).unwrap();
        for p in [path.join("sub"), path.clone()] {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o712)).unwrap();
            std::os::unix::fs::chown(&p, Some(4321), Some(4321)).unwrap();
            set_mtime(&p, 12345);
        }
        HostDir { _dir: dir, path }
    }

    /// (mode, uid, mtime, names) of the directory, and the secret's content.
    fn state(&self) -> (u32, u32, i64, Vec<String>, String) {
        let m = fs::symlink_metadata(&self.path).unwrap();
        let mut names: Vec<String> = fs::read_dir(&self.path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        (
            m.mode() & 0o7777,
            m.uid(),
            m.mtime(),
            names,
            fs::read_to_string(self.path.join("secret")).unwrap(),
        )
    }

    fn assert_untouched(&self) {
        assert_eq!(
            self.state(),
            (
                0o712,
                4321,
                12345,
                vec!["secret".to_string(), "sub".to_string()],
                "HOST-SECRET-CONTENT\n".to_string()
            ),
            "the host directory {} changed",
            self.path.display()
        );
    }
}

fn set_mtime(p: &Path, secs: i64) {
    let t = nix::sys::time::TimeSpec::new(secs, 0);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .unwrap();
}

/// A build context directory.
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    for (rel, content) in files {
        let p = ctx.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }
    ctx
}

fn build(p: &Pier, tag: &str, ctx: &Path) -> std::process::Output {
    p.run(&["build", "-q", "-t", tag, ctx.to_str().unwrap()])
}

fn build_ok(p: &Pier, tag: &str, ctx: &Path) {
    let out = build(p, tag, ctx);
    assert!(
        out.status.success(),
        "build failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn build_fails(p: &Pier, tag: &str, ctx: &Path) -> String {
    let out = build(p, tag, ctx);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "build succeeded:\n{all}");
    all
}

#[test]
fn copy_of_a_directory_over_a_context_link_to_a_host_dir_does_not_chmod_it() {
    let host = HostDir::new();
    let p = Pier::new();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox\nCOPY d1 d2 /dst/\n"),
        ("d2/a/x", "inside\n"),
    ]);
    fs::create_dir(ctx.path().join("d1")).unwrap();
    symlink(&host.path, ctx.path().join("d1/a")).unwrap();
    fs::set_permissions(ctx.path().join("d2/a"), fs::Permissions::from_mode(0o777)).unwrap();
    build_ok(&p, "copied", ctx.path());
    host.assert_untouched();
    // The legitimate copy: d2's directory replaced d1's link.
    assert_eq!(
        p.ok(&[
            "run",
            "--rm",
            "copied",
            "sh",
            "-c",
            "cat /dst/a/x; stat -c %a /dst/a"
        ]),
        "inside\n777"
    );
}

#[test]
fn copy_parents_take_nothing_from_a_host_dir_behind_an_image_link() {
    let host = HostDir::new();
    let p = Pier::new();
    let df = format!(
        "FROM busybox\nRUN mkdir /dst && ln -s {} /dst/a\nCOPY t /dst/\n",
        host.path.display()
    );
    // t/a/sub itself is not copied (only its file): pier makes /dst/a/sub as a parent,
    // with the image's metadata for it if the image has one.
    let ctx = context(&[
        ("Dockerfile", &df),
        ("t/a/sub/f", "new\n"),
        (".dockerignore", "t/a/sub\n!t/a/sub/f\n"),
    ]);
    build_ok(&p, "parents", ctx.path());
    host.assert_untouched();
    // The image has no /dst/a/sub (its /dst/a leads out of it): the defaults (0755, root,
    // mtime 0), not those of the host's /victim/sub (0712, 4321, 12345).
    assert_eq!(
        p.ok(&[
            "run",
            "--rm",
            "parents",
            "sh",
            "-c",
            "cat /dst/a/sub/f; stat -c '%a %u %Y' /dst/a/sub"
        ]),
        "new\n755 0 0"
    );
}

#[test]
fn run_step_that_links_etc_to_a_host_dir_does_not_make_pier_delete_there() {
    let host = HostDir::new();
    for f in ["hosts", "hostname", "resolv.conf"] {
        fs::write(host.path.join(f), "").unwrap();
    }
    let p = Pier::new();
    // An image without /etc in its layers: the runtime's /etc is the container's own, and
    // the step can rename it (mount points and all) and leave a link in its place.
    let df = format!(
        "FROM busybox AS b\nFROM scratch\nCOPY --from=b /bin /bin\n\
         RUN mv /etc /etc.old && ln -s {} /etc\n",
        host.path.display()
    );
    let ctx = context(&[("Dockerfile", &df)]);
    build_ok(&p, "etclink", ctx.path());
    for f in ["hosts", "hostname", "resolv.conf"] {
        assert!(
            host.path.join(f).exists(),
            "pier's mount-point clean-up deleted the host's {f}"
        );
    }
    assert_eq!(
        fs::read_to_string(host.path.join("secret")).unwrap(),
        "HOST-SECRET-CONTENT\n"
    );
}

#[test]
fn dockerignore_is_not_bypassed_through_a_context_link() {
    let p = Pier::new();
    let ctx = context(&[
        (".dockerignore", "secret\nprivate/\n"),
        ("secret", "IGNORED-CONTENT\n"),
        ("private/key", "IGNORED-CONTENT\n"),
        ("ok", "fine\n"),
    ]);
    symlink("secret", ctx.path().join("link")).unwrap();
    symlink(".", ctx.path().join("here")).unwrap();
    symlink("private", ctx.path().join("priv")).unwrap();
    for source in ["link", "here/secret", "priv/", "priv/key"] {
        fs::write(
            ctx.path().join("Dockerfile"),
            format!("FROM busybox\nCOPY {source} /got\n"),
        )
        .unwrap();
        let err = build_fails(&p, "ignored", ctx.path());
        assert!(
            err.contains(".dockerignore"),
            "COPY {source}: unexpected error: {err}"
        );
        assert!(!err.contains("IGNORED-CONTENT"), "{err}");
    }
    // A link to a file that is not excluded is followed, as in Docker.
    symlink("ok", ctx.path().join("oklink")).unwrap();
    fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY oklink /got\n",
    )
    .unwrap();
    build_ok(&p, "fine", ctx.path());
    assert_eq!(p.ok(&["run", "--rm", "fine", "cat", "/got"]), "fine");
}

#[test]
fn a_glob_through_a_context_link_does_not_list_or_probe_the_host() {
    let host = HostDir::new();
    let p = Pier::new();
    let ctx = context(&[("sub/a.txt", "a\n"), ("sub/b.txt", "b\n")]);
    symlink(&host.path, ctx.path().join("hostlink")).unwrap();
    for source in ["hostlink/sec*", "hostlink/secret", "hostlink/*"] {
        fs::write(
            ctx.path().join("Dockerfile"),
            format!("FROM busybox\nCOPY {source} /got/\n"),
        )
        .unwrap();
        let err = build_fails(&p, "probe", ctx.path());
        assert!(
            err.contains("file not found in build context"),
            "COPY {source}: {err}"
        );
        assert!(!err.contains("HOST-SECRET"), "{err}");
    }
    host.assert_untouched();
    // A glob through a link that stays in the context works.
    symlink("sub", ctx.path().join("sublink")).unwrap();
    fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY sublink/*.txt /got/\n",
    )
    .unwrap();
    build_ok(&p, "globbed", ctx.path());
    assert_eq!(
        p.ok(&[
            "run",
            "--rm",
            "globbed",
            "sh",
            "-c",
            "cat /got/a.txt /got/b.txt"
        ]),
        "a\nb"
    );
}

#[test]
fn a_context_dockerfile_linking_to_a_host_file_is_refused_unread() {
    let host = HostDir::new();
    fs::write(
        host.path.join("secret"),
        "FROM busybox\nHOST-SECRET-CONTENT\n",
    )
    .unwrap();
    let p = Pier::new();
    let ctx = context(&[]);
    symlink(host.path.join("secret"), ctx.path().join("Dockerfile")).unwrap();
    let err = build_fails(&p, "df", ctx.path());
    assert!(
        !err.contains("HOST-SECRET"),
        "the host file was read: {err}"
    );
    assert!(err.contains("not found in the build context"), "{err}");
    // A Dockerfile linking to another file of the context is read.
    fs::remove_file(ctx.path().join("Dockerfile")).unwrap();
    fs::write(ctx.path().join("real.df"), "FROM busybox\nENV A=1\n").unwrap();
    symlink("real.df", ctx.path().join("Dockerfile")).unwrap();
    build_ok(&p, "df", ctx.path());
}

#[test]
fn cp_into_a_stopped_container_does_not_write_through_a_read_only_volume_submount() {
    let p = Pier::new();
    let vol = tempfile::tempdir().unwrap();
    let sub = HostTmpfs::mount_at(vol.path(), "sub");
    let name = common::unique_id("cp-ro");
    let spec = format!("{}:/data:ro", vol.path().display());
    // Started once (so /data exists in its filesystem), then stopped.
    p.ok(&["run", "--name", &name, "-v", &spec, "busybox", "true"]);
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("x"), "from cp\n").unwrap();
    let from = src.path().join("x");
    for dest in ["/data/sub/x", "/data/x"] {
        let out = p.run(&["cp", from.to_str().unwrap(), &format!("{name}:{dest}")]);
        assert!(
            !out.status.success(),
            "cp to {dest} in a :ro volume succeeded"
        );
        assert!(
            text(&out.stderr).contains("Read-only file system"),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(!sub.0.join("x").exists(), "the write landed on the host");
    assert!(
        !vol.path().join("x").exists(),
        "the write landed on the host"
    );
    // The legitimate copies: into the container's own files, and out of the volume.
    fs::write(sub.0.join("in"), "on the host\n").unwrap();
    p.ok(&["cp", from.to_str().unwrap(), &format!("{name}:/tmp/x")]);
    let out = tempfile::tempdir().unwrap();
    p.ok(&[
        "cp",
        &format!("{name}:/data/sub/in"),
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(
        fs::read_to_string(out.path().join("in")).unwrap(),
        "on the host\n"
    );
    p.ok(&["rm", &name]);
}

/// Every regular file under `dir` (no link followed) that holds `marker`.
fn files_holding(dir: &Path, marker: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(md) = fs::symlink_metadata(&path) else {
            continue;
        };
        if md.is_dir() {
            found.extend(files_holding(&path, marker));
        } else if md.is_file() {
            if let Ok(data) = fs::read(&path) {
                // memmem, not `windows().any()`: unoptimised, that took 15 s here over the
                // exports and the store, and three minutes in the v2 lane's emulated guest.
                if memchr::memmem::find(&data, marker).is_some() {
                    found.push(path);
                }
            }
        }
    }
    found
}

#[test]
fn commit_and_export_of_a_container_swapping_in_links_never_archive_host_content() {
    let host = HostDir::new();
    let p = Pier::new();
    // The container flips /d between a real directory and a link to the host directory
    // (a path that means nothing inside it), and /f between a file and a link to the secret.
    let script = format!(
        "while :; do mkdir -p /d.new; echo safe > /d.new/secret; rm -rf /d; mv /d.new /d; \
         echo safe > /f; rm -rf /d; ln -s {h} /d; ln -sf {h}/secret /f; done",
        h = host.path.display()
    );
    let id = p.run_detached(&["busybox", "sh", "-c", &script]);
    let marker = b"HOST-SECRET-CONTENT";
    let export = tempfile::tempdir().unwrap();
    for i in 0..15 {
        p.ok(&["commit", "--pause=false", &id, &format!("racy:{i}")]);
        let tar = export.path().join(format!("{i}.tar"));
        p.ok(&["export", "-o", tar.to_str().unwrap(), &id]);
    }
    // Committed by default: frozen while archived, thawed after.
    p.ok(&["commit", &id, "racy:paused"]);
    assert_eq!(p.inspect(&id)["State"]["Paused"], false);
    assert_eq!(p.status(&id), "running");
    let actions: Vec<String> = p
        .events_of(&id)
        .iter()
        .filter_map(|e| e["action"].as_str().map(String::from))
        .collect();
    let pauses = actions.iter().filter(|a| *a == "pause").count();
    let unpauses = actions.iter().filter(|a| *a == "unpause").count();
    assert_eq!((pauses, unpauses), (1, 1), "events: {actions:?}");
    p.ok(&["rm", "-f", &id]);
    let leaked: Vec<PathBuf> = files_holding(p.root(), marker)
        .into_iter()
        .chain(files_holding(export.path(), marker))
        .collect();
    assert!(leaked.is_empty(), "host content archived in {leaked:?}");
    host.assert_untouched();
}
