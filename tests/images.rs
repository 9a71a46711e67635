//! Images: containers never change them; import, list, tag, remove.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{hash_tree, text, Pier};
use std::path::{Path, PathBuf};

/// The image's layer directories (`LayerDirs` of `pier image inspect`).
fn layer_dirs(p: &Pier, image: &str) -> Vec<PathBuf> {
    let info = p.image_inspect(image);
    info["LayerDirs"]
        .as_array()
        .unwrap_or_else(|| panic!("no LayerDirs: {info}"))
        .iter()
        .map(|d| PathBuf::from(d.as_str().expect("path")))
        .collect()
}

/// A tar of the busybox image's layer (as `tar` makes it, not as pier would).
fn busybox_tar(p: &Pier, dest: &Path) {
    let layer = &layer_dirs(p, "busybox")[0];
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(layer)
        .arg("-cf")
        .arg(dest)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(st.success(), "tar failed");
}

#[test]
fn container_writes_do_not_change_the_image() {
    let p = Pier::new();
    let layers = layer_dirs(&p, "busybox");
    let before: Vec<_> = layers.iter().map(|l| hash_tree(l)).collect();
    let vandal = "rm /bin/ls && echo junk > /bin/cat && echo evil > /etc/passwd && rm /etc/group && mkdir /etc/new && echo x > /bin/extra && chmod 777 /bin && echo done";
    assert_eq!(
        p.ok(&["run", "--name", "vandal", "busybox", "sh", "-c", vandal]),
        "done"
    );
    // The changes are in the container's writable layer...
    let upper = PathBuf::from(
        p.inspect("vandal")["upper_dir"]
            .as_str()
            .expect("upper_dir"),
    );
    assert!(
        upper.join("bin/extra").exists() && upper.join("etc/passwd").exists(),
        "writes should land in the upper dir"
    );
    // ...not in the image: a new container sees the original files.
    let check = "ls /bin/ls >/dev/null && echo ls-ok; cat /bin/cat /dev/null >/dev/null && echo cat-ok; grep -c ^root: /etc/passwd; test -f /etc/group && echo group-ok; test -e /bin/extra || echo no-extra; test -e /etc/new || echo no-new";
    let out = p.ok(&["run", "--rm", "busybox", "sh", "-c", check]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["ls-ok", "cat-ok", "1", "group-ok", "no-extra", "no-new"]
    );
    let after: Vec<_> = layers.iter().map(|l| hash_tree(l)).collect();
    assert!(before == after, "the image's layer directory changed");
    // Removing the container does not touch the image either.
    p.ok(&["rm", "vandal"]);
    assert!(
        before == layers.iter().map(|l| hash_tree(l)).collect::<Vec<_>>(),
        "rm changed the image layer"
    );
}

#[test]
fn import_a_rootfs_tar_and_run_it() {
    let p = Pier::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let tar = dir.path().join("rootfs.tar");
    busybox_tar(&p, &tar);
    let id = p.ok(&["import", tar.to_str().unwrap(), "mine:1"]);
    assert!(
        id.starts_with("sha256:"),
        "import prints the image ID: {id}"
    );
    let images = p.ok(&["images"]);
    let line = images
        .lines()
        .find(|l| l.starts_with("mine "))
        .unwrap_or_else(|| panic!("images: {images}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&cols[..3], ["mine", "1", &id[7..19]]);
    assert!(p.ok(&["images", "-q"]).lines().any(|l| l == &id[7..19]));
    assert_eq!(
        p.ok(&[
            "run",
            "--rm",
            "mine:1",
            "sh",
            "-c",
            "echo from-import; ls /bin/busybox"
        ]),
        "from-import\n/bin/busybox"
    );
}

#[test]
fn import_gzip_from_stdin() {
    let p = Pier::new();
    let dir = tempfile::tempdir().expect("temp dir");
    // A tiny root filesystem: only the busybox binary, gzipped.
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    std::fs::copy(
        layer_dirs(&p, "busybox")[0].join("bin/busybox"),
        root.join("bin/busybox"),
    )
    .expect("copy busybox");
    let tgz = dir.path().join("tiny.tar.gz");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-czf")
        .arg(&tgz)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success());
    let data = std::fs::read(&tgz).expect("read tgz");
    let out = p.run_with_input(&["import", "-", "tiny"], Some(&data));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(
        p.ok(&["run", "--rm", "tiny", "/bin/busybox", "echo", "tiny-ok"]),
        "tiny-ok"
    );
    assert!(p
        .ok(&["images"])
        .lines()
        .any(|l| l.starts_with("tiny ") && l.contains("latest")));
}

#[test]
fn rmi_refuses_while_a_container_uses_the_image() {
    let p = Pier::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let tar = dir.path().join("rootfs.tar");
    busybox_tar(&p, &tar);
    p.ok(&["import", tar.to_str().unwrap(), "mine:1"]);
    let layers = layer_dirs(&p, "mine:1");
    p.ok(&["run", "--name", "user", "mine:1", "true"]);
    let out = p.run(&["rmi", "mine:1"]);
    common::assert_one_line_error(&out, 125, &["mine:1", "user"]);
    assert!(
        p.ok(&["images"]).contains("mine"),
        "a refused rmi removed the image"
    );
    assert!(layers.iter().all(|l| l.exists()));
    assert_eq!(
        p.ok(&["run", "--rm", "mine:1", "echo", "still-usable"]),
        "still-usable"
    );

    p.ok(&["rm", "user"]);
    let out = p.ok(&["rmi", "mine:1"]);
    assert!(
        out.contains("Untagged: mine:1") && out.contains("Deleted:"),
        "rmi: {out}"
    );
    assert!(
        !p.ok(&["images"]).contains("mine"),
        "the image is still listed"
    );
    assert!(
        layers.iter().all(|l| !l.exists()),
        "the image's own layer is still on disk: {layers:?}"
    );
    let out = p.run(&["run", "--rm", "mine:1", "true"]);
    common::assert_one_line_error(&out, 125, &["mine:1"]);
    // busybox is untouched.
    assert_eq!(p.ok(&["run", "--rm", "busybox", "echo", "ok"]), "ok");
}

#[test]
fn rmi_of_a_running_containers_image_is_refused() {
    let p = Pier::new();
    p.ok(&["tag", "busybox", "other:2"]);
    let id = p.run_detached(&["other:2", "sleep", "1000"]);
    let out = p.run(&["rmi", "busybox"]);
    common::assert_one_line_error(&out, 125, &["busybox", "running"]);
    assert_eq!(p.status(&id), "running");
}

#[test]
fn tag_gives_a_second_name() {
    let p = Pier::new();
    p.ok(&["tag", "busybox", "mybox:v1"]);
    let images = p.ok(&["images"]);
    let ids: Vec<&str> = images
        .lines()
        .filter(|l| l.starts_with("mybox ") || l.starts_with("busybox "))
        .map(|l| l.split_whitespace().nth(2).expect("id"))
        .collect();
    assert_eq!(ids.len(), 2, "images: {images}");
    assert_eq!(ids[0], ids[1], "a tag names the same image");
    assert_eq!(
        p.ok(&["run", "--rm", "mybox:v1", "echo", "tagged"]),
        "tagged"
    );
}

#[test]
fn docker_hub_names_are_the_familiar_short_names() {
    // bootstrap's busybox is docker.io/library/busybox:latest, as Docker would call it.
    let p = Pier::new();
    for name in [
        "docker.io/library/busybox",
        "docker.io/busybox:latest",
        "index.docker.io/library/busybox",
    ] {
        assert_eq!(
            p.ok(&["run", "--rm", name, "echo", "same"]),
            "same",
            "{name}"
        );
    }
    // A tag given in long form is listed, and found, by its short name.
    p.ok(&["tag", "busybox", "docker.io/library/bb:v1"]);
    let images = p.ok(&["images"]);
    assert!(
        images
            .lines()
            .any(|l| l.starts_with("bb ") && l.contains("v1")),
        "{images}"
    );
    assert!(!images.contains("docker.io"), "{images}");
    assert_eq!(p.ok(&["run", "--rm", "bb:v1", "echo", "short"]), "short");
}

#[test]
fn hash_tree_sees_changes() {
    // The image checks above are only as good as this comparison.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("etc")).expect("mkdir");
    std::fs::write(dir.path().join("etc/passwd"), "root:x:0:0\n").expect("write");
    let before = hash_tree(dir.path());
    assert_eq!(before, hash_tree(dir.path()));
    std::fs::write(dir.path().join("etc/passwd"), "evil:x:0:0\n").expect("write");
    assert_ne!(
        before,
        hash_tree(dir.path()),
        "same-size content change not seen"
    );
    let changed = hash_tree(dir.path());
    std::fs::write(dir.path().join("etc/new"), "").expect("write");
    assert_ne!(changed, hash_tree(dir.path()), "new file not seen");
}
