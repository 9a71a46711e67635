//! Named and anonymous volumes: data that outlives containers, shared by name, copied up from
//! the image once, removed only when no container uses it.

// A test reports a failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_no_mounts_under, assert_one_line_error, text, Pier};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Names of this root's volumes (`volume ls -q`).
fn volumes(p: &Pier) -> Vec<String> {
    p.ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The directory volume `name` keeps its files in, from `volume inspect`.
fn mountpoint(p: &Pier, name: &str) -> PathBuf {
    let out = p.ok(&["volume", "inspect", name]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("volume inspect prints JSON");
    assert_eq!(v[0]["Name"], name);
    assert_eq!(v[0]["Driver"], "local");
    PathBuf::from(v[0]["Mountpoint"].as_str().expect("Mountpoint"))
}

/// Builds `tag` from a Dockerfile.
fn build(p: &Pier, tag: &str, dockerfile: &str) {
    let ctx = tempfile::tempdir().expect("temp dir");
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).expect("Dockerfile");
    p.ok(&["build", "-q", "-t", tag, &ctx.path().to_string_lossy()]);
}

#[test]
fn data_outlives_its_container_and_is_shared_by_name() {
    let p = Pier::new();
    let out = p.ok(&[
        "run",
        "--name",
        "writer",
        "-v",
        "appdata:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/note",
    ]);
    assert_eq!(out, "");
    let inspect = p.inspect("writer");
    let mounts = inspect["Mounts"].as_array().expect("Mounts array");
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    assert_eq!(mounts[0]["Type"], "volume");
    assert_eq!(mounts[0]["Name"], "appdata");
    assert_eq!(mounts[0]["Destination"], "/data");
    assert_eq!(mounts[0]["RW"], true);
    let dir = mountpoint(&p, "appdata");
    assert_eq!(mounts[0]["Source"], dir.to_string_lossy().as_ref());
    assert!(dir.starts_with(p.root().join("volumes")));

    p.ok(&["rm", "writer"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("note")).expect("the file is still in the volume"),
        "kept\n"
    );
    assert_eq!(volumes(&p), ["appdata"]);
    let out = p.ok(&[
        "run",
        "--rm",
        "-v",
        "appdata:/elsewhere",
        "busybox",
        "cat",
        "/elsewhere/note",
    ]);
    assert_eq!(out, "kept");
    // --mount names the same volume.
    let out = p.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,source=appdata,target=/m",
        "busybox",
        "cat",
        "/m/note",
    ]);
    assert_eq!(out, "kept");
    assert_no_mounts_under(p.root());
}

#[test]
fn read_only_volume_refuses_writes() {
    let p = Pier::new();
    p.ok(&["volume", "create", "shelf"]);
    let dir = mountpoint(&p, "shelf");
    std::fs::write(dir.join("f"), "original\n").expect("seed the volume");
    for flag in [
        vec!["-v", "shelf:/data:ro"],
        vec!["--mount", "type=volume,src=shelf,dst=/data,readonly"],
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend(&flag);
        args.extend([
            "busybox",
            "sh",
            "-c",
            "cat /data/f; echo changed > /data/f; touch /data/new",
        ]);
        let out = p.run(&args);
        assert_eq!(text(&out.stdout), "original\n");
        assert_ne!(out.status.code(), Some(0), "{flag:?}: writing must fail");
        assert!(
            text(&out.stderr).contains("Read-only file system"),
            "{flag:?}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("f")).unwrap(),
        "original\n"
    );
    assert!(!dir.join("new").exists(), "a file was created through :ro");
    let id = p.ok(&["create", "-v", "shelf:/data:ro", "busybox", "true"]);
    assert_eq!(p.inspect(&id)["Mounts"][0]["RW"], false);
}

#[test]
fn empty_volume_gets_the_image_files_with_owner_and_mode_once() {
    let p = Pier::new();
    build(
        &p,
        "seeded",
        "FROM busybox\n\
         RUN mkdir /data && echo seed > /data/f && chown 7:8 /data/f && chmod 640 /data/f \
             && ln -s f /data/link && chown 5:6 /data && chmod 750 /data\n\
         VOLUME /data\n",
    );
    // A named volume, empty: the image's /data is copied in.
    let out = p.ok(&[
        "run",
        "--rm",
        "-v",
        "seeded-data:/data",
        "seeded",
        "sh",
        "-c",
        "stat -c '%u:%g %a %n' /data/f /data; readlink /data/link; cat /data/f",
    ]);
    assert_eq!(out, "7:8 640 /data/f\n5:6 750 /data\nf\nseed");
    let dir = mountpoint(&p, "seeded-data");
    let f = std::fs::metadata(dir.join("f")).expect("copied file");
    assert_eq!((f.uid(), f.gid(), f.mode() & 0o7777), (7, 8, 0o640));
    assert_eq!(
        std::fs::read_link(dir.join("link")).unwrap(),
        Path::new("f")
    );

    // Not again: the volume keeps what containers made of it.
    p.ok(&[
        "run",
        "--rm",
        "-v",
        "seeded-data:/data",
        "seeded",
        "sh",
        "-c",
        "rm /data/f; echo mine > /data/g",
    ]);
    let out = p.ok(&[
        "run",
        "--rm",
        "-v",
        "seeded-data:/data",
        "seeded",
        "ls",
        "/data",
    ]);
    assert_eq!(
        out, "g\nlink",
        "the image's files came back into a volume that had data"
    );

    // nocopy leaves a new volume empty.
    let out = p.ok(&[
        "run",
        "--rm",
        "-v",
        "bare:/data:nocopy",
        "seeded",
        "ls",
        "-A",
        "/data",
    ]);
    assert_eq!(out, "");

    // Without -v, the image's VOLUME gets an anonymous volume, filled the same way.
    let before = volumes(&p);
    let id = p.ok(&["create", "seeded", "cat", "/data/f"]);
    let anon: Vec<String> = volumes(&p)
        .into_iter()
        .filter(|v| !before.contains(v))
        .collect();
    assert_eq!(anon.len(), 1, "one anonymous volume for VOLUME /data");
    assert!(anon[0].len() == 64 && anon[0].chars().all(|c| c.is_ascii_hexdigit()));
    let out = p.ok(&["start", "-a", &id]);
    assert_eq!(out, "seed");
    assert_eq!(p.inspect(&id)["Mounts"][0]["Name"], anon[0].as_str());
}

#[test]
fn copy_up_through_an_image_symlink_stays_in_the_image() {
    // The attack: the image makes its VOLUME path a symlink to an absolute path, hoping the
    // copy reads the host's /etc. It must read the image's own /etc.
    let p = Pier::new();
    build(
        &p,
        "linky",
        "FROM busybox\nRUN rm -rf /data && ln -s /etc /data\nVOLUME /data\n",
    );
    p.ok(&["create", "--name", "c", "-v", "trap:/data", "linky", "true"]);
    let dir = mountpoint(&p, "trap");
    let copied = std::fs::read_to_string(dir.join("passwd")).expect("the image's passwd copied");
    let host = std::fs::read_to_string("/etc/passwd").expect("host passwd");
    assert_ne!(
        copied, host,
        "the host's /etc/passwd was copied into the volume"
    );
    let layer = p.image_inspect("busybox")["LayerDirs"][0]
        .as_str()
        .expect("busybox layer")
        .to_string();
    let image_passwd = std::fs::read_to_string(Path::new(&layer).join("etc/passwd")).unwrap();
    assert_eq!(copied, image_passwd);
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_run_rm_named_ones_stay() {
    let p = Pier::new();
    let anon_of = |c: &str| -> String {
        p.inspect(c)["Mounts"]
            .as_array()
            .expect("Mounts")
            .iter()
            .find(|m| m["Destination"] == "/scratch")
            .and_then(|m| m["Name"].as_str())
            .expect("a volume at /scratch")
            .to_string()
    };
    p.ok(&[
        "create", "--name", "plain", "-v", "/scratch", "busybox", "true",
    ]);
    let kept = anon_of("plain");
    p.ok(&["rm", "plain"]);
    assert!(
        volumes(&p).contains(&kept),
        "plain rm removed the anonymous volume"
    );

    p.ok(&[
        "create",
        "--name",
        "withv",
        "-v",
        "/scratch",
        "-v",
        "named-one:/n",
        "busybox",
        "true",
    ]);
    let gone = anon_of("withv");
    let gone_dir = mountpoint(&p, &gone);
    p.ok(&["rm", "-v", "withv"]);
    let left = volumes(&p);
    assert!(!left.contains(&gone), "rm -v kept the anonymous volume");
    assert!(!gone_dir.exists(), "its files are still on disk");
    assert!(
        left.contains(&"named-one".to_string()),
        "rm -v removed a named volume"
    );

    let before = volumes(&p);
    p.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,target=/scratch",
        "busybox",
        "touch",
        "/scratch/x",
    ]);
    assert_eq!(volumes(&p), before, "run --rm left its anonymous volume");
    let mut expected = vec![kept, "named-one".to_string()];
    expected.sort();
    assert_eq!(volumes(&p), expected);
}

#[test]
fn volume_in_use_is_not_removed() {
    let p = Pier::new();
    p.ok(&[
        "create",
        "--name",
        "holder",
        "-v",
        "precious:/data",
        "busybox",
        "true",
    ]);
    let dir = mountpoint(&p, "precious");
    std::fs::write(dir.join("f"), "x").unwrap();
    for args in [
        vec!["volume", "rm", "precious"],
        vec!["volume", "rm", "-f", "precious"],
    ] {
        let out = p.run(&args);
        assert_one_line_error(&out, 1, &["precious", "in use", "holder"]);
    }
    p.ok(&["volume", "prune", "-a", "-f"]);
    assert_eq!(volumes(&p), ["precious"]);
    assert_eq!(std::fs::read_to_string(dir.join("f")).unwrap(), "x");

    p.ok(&["rm", "holder"]);
    assert_eq!(p.ok(&["volume", "rm", "precious"]), "precious");
    assert!(volumes(&p).is_empty());
    assert!(!dir.exists());
    // -f: a missing volume is not an error; without it, it is.
    p.ok(&["volume", "rm", "-f", "precious"]);
    assert_one_line_error(
        &p.run(&["volume", "rm", "precious"]),
        1,
        &["no such volume: precious"],
    );
}

#[test]
fn bad_names_and_mount_keys_are_one_line_errors_that_create_nothing() {
    let p = Pier::new();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["run", "--rm", "-v", "x:/d", "busybox", "true"],
            &["invalid volume name \"x\""],
        ),
        (
            &["run", "--rm", "-v", "no good:/d", "busybox", "true"],
            &["invalid volume name"],
        ),
        (
            &[
                "run",
                "--rm",
                "-v",
                "ok-name:/d",
                "-v",
                "bad/name:/e",
                "busybox",
                "true",
            ],
            &["bad/name"],
        ),
        (
            &["run", "--rm", "-v", "ok-name:relative", "busybox", "true"],
            &["must be absolute"],
        ),
        (
            &["run", "--rm", "-v", "ok-name:/d:rx", "busybox", "true"],
            &["unknown option \"rx\""],
        ),
        (
            &[
                "run",
                "--rm",
                "--mount",
                "type=volume,source=ok-name,target=/d,colour=red",
                "busybox",
                "true",
            ],
            &["unexpected key \"colour\""],
        ),
        (
            &[
                "run",
                "--rm",
                "--mount",
                "type=volume,source=ok-name,target=/d,tmpfs-size=1m",
                "busybox",
                "true",
            ],
            &["tmpfs-size", "type=tmpfs"],
        ),
        (
            &[
                "run",
                "--rm",
                "--mount",
                "type=volume,source=ok-name",
                "busybox",
                "true",
            ],
            &["target is required"],
        ),
        (
            &[
                "run",
                "--rm",
                "--mount",
                "type=disk,target=/d",
                "busybox",
                "true",
            ],
            &["type \"disk\""],
        ),
        (
            &[
                "run",
                "--rm",
                "-v",
                "ok-name:/d",
                "--mount",
                "type=tmpfs,target=/d",
                "busybox",
                "true",
            ],
            &["duplicate mount point: /d"],
        ),
        (
            &["create", "-v", "ok-name:/d", "nosuchimage"],
            &["nosuchimage"],
        ),
        (&["volume", "create", "-x"], &[]),
        (
            &["volume", "create", ".hidden"],
            &["invalid volume name \".hidden\""],
        ),
        (
            &["volume", "create", "--driver", "nfs", "ok-name"],
            &["driver \"nfs\""],
        ),
        (&["volume", "ls", "--filter", "colour=red"], &["colour=red"]),
    ];
    for (args, needles) in cases {
        let out = p.run(args);
        if needles.is_empty() {
            assert_eq!(
                out.status.code(),
                Some(125),
                "{args:?}: {}",
                text(&out.stderr)
            );
        } else {
            assert_one_line_error(&out, 125, needles);
        }
    }
    assert!(volumes(&p).is_empty(), "a failed command created a volume");
    let on_disk: Vec<_> = std::fs::read_dir(p.root().join("volumes"))
        .expect("volumes dir")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(on_disk.is_empty(), "left in volumes/: {on_disk:?}");
    assert!(p.all_ids().is_empty(), "a failed command left a container");
    assert_no_mounts_under(p.root());
}

#[test]
fn prune_removes_only_unused_volumes() {
    let p = Pier::new();
    p.ok(&["volume", "create", "--label", "keep=yes", "unused-named"]);
    p.ok(&[
        "create",
        "--name",
        "user",
        "-v",
        "used-named:/a",
        "-v",
        "/b",
        "busybox",
        "true",
    ]);
    let used_anon = p.inspect("user")["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/b")
        .and_then(|m| m["Name"].as_str())
        .expect("anonymous volume at /b")
        .to_string();
    p.ok(&["create", "--name", "gone", "-v", "/c", "busybox", "true"]);
    p.ok(&["rm", "gone"]);
    let orphan: Vec<String> = volumes(&p)
        .into_iter()
        .filter(|v| ![&used_anon, "unused-named", "used-named"].contains(&v.as_str()))
        .collect();
    assert_eq!(orphan.len(), 1);

    let dangling = p.ok(&["volume", "ls", "-q", "--filter", "dangling=true"]);
    let mut want = vec![orphan[0].clone(), "unused-named".to_string()];
    want.sort();
    assert_eq!(dangling.lines().collect::<Vec<_>>(), want);
    assert_eq!(
        p.ok(&["volume", "ls", "-q", "--filter", "label=keep=yes"]),
        "unused-named"
    );
    assert_eq!(
        p.ok(&["volume", "ls", "-q", "--filter", "name=used-"]),
        "unused-named\nused-named"
    );

    // Without -a: anonymous unused volumes only (Docker 23+).
    let out = p.ok(&["volume", "prune", "-f"]);
    assert!(out.contains(&orphan[0]), "{out}");
    let mut left = volumes(&p);
    left.sort();
    let mut want = vec![
        used_anon.clone(),
        "unused-named".into(),
        "used-named".into(),
    ];
    want.sort();
    assert_eq!(left, want);
    // A label filter can spare a volume from -a.
    p.ok(&["volume", "prune", "-a", "-f", "--filter", "label!=keep"]);
    assert!(volumes(&p).contains(&"unused-named".to_string()));
    p.ok(&["volume", "prune", "-a", "-f"]);
    let mut left = volumes(&p);
    left.sort();
    let mut want = vec![used_anon, "used-named".to_string()];
    want.sort();
    assert_eq!(
        left, want,
        "prune removed a volume in use, or kept an unused one"
    );
}

#[test]
fn system_df_counts_volume_sizes() {
    let p = Pier::new();
    p.ok(&[
        "run",
        "--rm",
        "-v",
        "sized:/d",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/d/blob",
        "bs=1000",
        "count=250",
    ]);
    p.ok(&[
        "create", "-v", "sized:/d", "-v", "other:/o", "busybox", "true",
    ]);
    let df = p.ok(&["system", "df"]);
    let row: Vec<&str> = df
        .lines()
        .find(|l| l.starts_with("Local Volumes"))
        .unwrap_or_else(|| panic!("no Local Volumes row: {df}"))
        .split_whitespace()
        .collect();
    // TYPE (two words), TOTAL, ACTIVE, SIZE.
    assert_eq!(row[2..5], ["2", "2", "250kB"], "{df}");
}
