//! Tests of the image store: import, commit, resolve, remove and prune against a real
//! filesystem (overlay mounts need root).

use super::*;
use crate::image::layer::tests::raw_entry;
use crate::image::overlay::{mount_overlay, unmount};
use flate2::write::GzEncoder;
use oci_spec::image::MediaType;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use tar::{EntryType, Header};

/// A rootfs tar with `bin/sh`, `etc/hostname` and the given extra file.
fn rootfs_tar(extra: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: EntryType, mode: u32, data: &[u8]| {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, path, data).unwrap();
    };
    add("bin", EntryType::Directory, 0o755, b"");
    add("bin/sh", EntryType::Regular, 0o755, b"#!fake shell\n");
    add("etc", EntryType::Directory, 0o755, b"");
    add("etc/hostname", EntryType::Regular, 0o644, b"pier\n");
    add(extra, EntryType::Regular, 0o644, extra.as_bytes());
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn count(dir: &Path) -> usize {
    fs::read_dir(dir).unwrap().count()
}

/// Asserts that the store holds nothing but its empty skeleton.
fn assert_store_empty(store: &ImageStore) {
    for d in ["blobs/sha256", "layers", "tmp"] {
        assert_eq!(count(&store.dir().join(d)), 0, "{d} is not empty");
    }
    assert!(store.list().unwrap().is_empty());
}

struct MountGuard(PathBuf);
impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = unmount(&self.0);
    }
}

#[test]
fn import_then_resolve_by_reference_and_id() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let image = store
        .import_rootfs_tar(&mut &rootfs_tar("etc/motd")[..], "myroot")
        .unwrap();
    assert_eq!(image.references, vec!["myroot:latest"]);
    assert!(image.id.starts_with("sha256:"));
    assert_eq!(image.layer_dirs.len(), 1);
    assert_eq!(
        fs::read_to_string(image.layer_dirs[0].join("etc/hostname")).unwrap(),
        "pier\n"
    );
    let cfg = image.config.config().as_ref().unwrap();
    assert_eq!(cfg.cmd().as_deref(), Some(&["/bin/sh".to_string()][..]));
    assert_eq!(
        cfg.env().as_deref(),
        Some(&[DEFAULT_PATH_ENV.to_string()][..])
    );
    assert_eq!(image.size, 13 + 5 + 8);

    for wanted in [
        "myroot",
        "myroot:latest",
        &image.id,
        &image.id[7..11],
        image.short_id(),
    ] {
        assert_eq!(store.resolve(wanted).unwrap().id, image.id, "{wanted}");
    }
    let err = store.resolve("foo").unwrap_err().to_string();
    assert_eq!(err, "no such image: foo:latest");
    assert!(store.resolve("myroot:v2").is_err());

    // A blob for the layer, the config and the manifest.
    assert_eq!(count(&store.dir().join("blobs/sha256")), 3);
    assert_eq!(
        count(&store.dir().join("tmp")),
        0,
        "staging area cleaned up"
    );

    store.tag("myroot", "other:v1").unwrap();
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].references, vec!["myroot:latest", "other:v1"]);
    assert!(store.tag("missing", "x").is_err());
    assert!(store.tag("myroot", "Bad Name").is_err());
}

#[test]
fn unindexed_images_resolve_by_full_id_until_listed_or_pruned() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let base = store
        .import_rootfs_tar(&mut &rootfs_tar("etc/base")[..], "base")
        .unwrap();
    let (kept_dir, dropped_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    fs::write(kept_dir.path().join("kept"), "k").unwrap();
    fs::write(dropped_dir.path().join("dropped"), "d").unwrap();
    let kept = store
        .commit_layers_unindexed(
            Some(&base),
            &[kept_dir.path().to_path_buf()],
            base.config.clone(),
        )
        .unwrap();
    let dropped = store
        .commit_layers_unindexed(
            Some(&base),
            &[dropped_dir.path().to_path_buf()],
            base.config.clone(),
        )
        .unwrap();
    assert_eq!(
        store.list().unwrap().len(),
        1,
        "unindexed images are not listed"
    );
    assert_eq!(store.resolve(&kept.id).unwrap().id, kept.id);
    assert!(
        store.resolve(&kept.id[..19]).is_err(),
        "only the full ID resolves"
    );
    assert_eq!(
        store.load_manifest(&dropped.manifest_digest).unwrap().id,
        dropped.id
    );

    let listed = store.add_to_index(&kept, &["kept:1".to_string()]).unwrap();
    assert_eq!(listed.references, vec!["kept:1"]);
    assert_eq!(
        store
            .layer_size(&kept.config.rootfs().diff_ids()[1])
            .unwrap(),
        1
    );

    let (layers, bytes) = store.prune_unindexed().unwrap();
    assert_eq!((layers, bytes), (1, 1));
    assert!(!dropped.layer_dirs[1].exists());
    assert!(kept.layer_dirs[1].exists() && base.layer_dirs[0].exists());
    assert!(store.resolve(&dropped.id).is_err());
    assert!(store.load_manifest(&dropped.manifest_digest).is_err());
    assert_eq!(store.resolve("kept:1").unwrap().id, kept.id);
}

#[test]
fn stale_staging_of_dead_processes_is_cleaned_on_open() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let tmp = store.dir().join("tmp");
    // PID 0x3fffffff is above pid_max, so it is never alive.
    let dead = tmp.join(format!("{STAGING_PREFIX}1073741823-abc"));
    let mine = tmp.join(format!("{STAGING_PREFIX}{}-abc", std::process::id()));
    fs::create_dir_all(dead.join("layer/diff")).unwrap();
    fs::create_dir_all(&mine).unwrap();
    ImageStore::open(root.path()).unwrap();
    assert!(!dead.exists());
    assert!(mine.exists());
}

#[test]
fn committing_an_empty_directory_adds_an_empty_layer() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let base = store
        .import_rootfs_tar(&mut &rootfs_tar("etc/a")[..], "base")
        .unwrap();
    let empty = tempfile::tempdir().unwrap();
    let child = store
        .commit_layers(
            Some(&base),
            &[empty.path().to_path_buf()],
            base.config.clone(),
            None,
        )
        .unwrap();
    assert_eq!(child.layer_dirs.len(), 2);
    assert!(child.references.is_empty());
    assert_eq!(store.list().unwrap().len(), 2, "untagged images are listed");
}

#[test]
fn imports_a_tar_gz_made_by_gnu_tar() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let src = tempfile::tempdir().unwrap();
    let rootfs = src.path().join("rootfs");
    fs::create_dir_all(rootfs.join("usr/bin")).unwrap();
    fs::write(rootfs.join("usr/bin/sh"), "sh").unwrap();
    fs::hard_link(rootfs.join("usr/bin/sh"), rootfs.join("usr/bin/ash")).unwrap();
    std::os::unix::fs::symlink("usr/bin", rootfs.join("bin")).unwrap();
    let archive = src.path().join("rootfs.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-czf")
        .arg(&archive)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let image = store
        .import_rootfs_tar(&mut File::open(&archive).unwrap(), "gnu:tar")
        .unwrap();
    let layer = &image.layer_dirs[0];
    assert_eq!(
        fs::read_link(layer.join("bin")).unwrap(),
        Path::new("usr/bin")
    );
    let (sh, ash) = (
        fs::metadata(layer.join("usr/bin/sh")).unwrap(),
        fs::metadata(layer.join("usr/bin/ash")).unwrap(),
    );
    assert_eq!(sh.ino(), ash.ino());
    let cfg = image.config.config().as_ref().unwrap();
    assert_eq!(
        cfg.cmd().as_deref(),
        Some(&["/bin/sh".to_string()][..]),
        "found through the bin symlink"
    );
}

#[test]
fn gzip_import_shares_the_unpacked_layer_with_the_plain_one() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let tar = rootfs_tar("etc/motd");
    let plain = store.import_rootfs_tar(&mut &tar[..], "plain").unwrap();
    let gz = store.import_rootfs_tar(&mut &gzip(&tar)[..], "gz").unwrap();
    assert_eq!(
        plain.config.rootfs().diff_ids(),
        gz.config.rootfs().diff_ids()
    );
    assert_eq!(plain.layer_dirs, gz.layer_dirs);
    let manifest = store.read_manifest(&gz.manifest_digest).unwrap();
    assert_eq!(
        manifest.layers()[0].media_type(),
        &MediaType::ImageLayerGzip
    );
    // The diff ID covers the whole uncompressed stream: for a plain tar it is the
    // blob digest itself.
    let plain_manifest = store.read_manifest(&plain.manifest_digest).unwrap();
    let diff_id = &plain.config.rootfs().diff_ids()[0];
    assert_eq!(&plain_manifest.layers()[0].digest().to_string(), diff_id);
    assert_ne!(&manifest.layers()[0].digest().to_string(), diff_id);
    let du = store.disk_usage().unwrap();
    assert_eq!((du.images, du.layers, du.shared_layers), (2, 1, 1));
}

#[test]
fn garbage_and_hostile_input_leave_nothing_in_the_store() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let garbage: Vec<u8> = (0..10_000u32).map(|i| (i * 31 + 7) as u8).collect();
    let mut truncated_gz = gzip(&rootfs_tar("x"));
    truncated_gz.truncate(truncated_gz.len() / 2);
    let mut evil = tar::Builder::new(Vec::new());
    raw_entry(&mut evil, "ok", EntryType::Regular, None, b"fine");
    raw_entry(&mut evil, "../evil", EntryType::Regular, None, b"x");
    let evil = evil.into_inner().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "empty"),
        ("zeros", vec![0; 4096], "no entries"),
        ("garbage", garbage, "tar"),
        ("truncated gzip", truncated_gz, "tar"),
        ("dot-dot", evil, "'..'"),
    ];
    for (what, data, why) in cases {
        let err = store.import_rootfs_tar(&mut &data[..], "bad").unwrap_err();
        assert!(format!("{err:#}").contains(why), "{what}: {err:#}");
        assert_store_empty(&store);
    }
    assert!(!root.path().join("images/evil").exists() && !root.path().join("evil").exists());
    let err = store
        .import_rootfs_tar(&mut &rootfs_tar("x")[..], "Bad:Ref")
        .unwrap_err();
    assert!(err.to_string().contains("lowercase"));
    assert_store_empty(&store);
}

#[test]
fn remove_frees_unused_layers_and_keeps_shared_ones() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let base = store
        .import_rootfs_tar(&mut &rootfs_tar("etc/base")[..], "base")
        .unwrap();
    let extra = tempfile::tempdir().unwrap();
    fs::write(extra.path().join("added"), "new layer").unwrap();
    let child = store
        .commit_layers(
            Some(&base),
            &[extra.path().to_path_buf()],
            base.config.clone(),
            Some("child:1"),
        )
        .unwrap();
    assert_eq!(child.layer_dirs.len(), 2);
    assert_eq!(child.layer_dirs[0], base.layer_dirs[0]);
    assert_eq!(
        fs::read_to_string(child.layer_dirs[1].join("added")).unwrap(),
        "new layer"
    );
    let du = store.disk_usage().unwrap();
    assert_eq!((du.images, du.layers, du.shared_layers), (2, 2, 1));

    // A second reference only untags.
    store.tag("child:1", "child:2").unwrap();
    assert_eq!(store.remove("child:2").unwrap(), vec!["Untagged: child:2"]);
    assert!(child.layer_dirs[1].exists());

    let out = store.remove("child:1").unwrap();
    assert_eq!(out[0], "Untagged: child:1");
    assert!(out.contains(&format!("Deleted: {}", child.id)));
    assert!(
        !child.layer_dirs[1].exists(),
        "the child's own layer is freed"
    );
    assert!(base.layer_dirs[0].exists(), "the shared base layer is kept");
    assert_eq!(store.resolve("base").unwrap().id, base.id);

    let out = store.remove(&base.id[7..19]).unwrap();
    assert_eq!(out[0], "Untagged: base:latest");
    assert!(!base.layer_dirs[0].exists());
    assert_store_empty(&store);
    assert!(store
        .remove("base")
        .unwrap_err()
        .to_string()
        .contains("no such image"));
}

#[test]
fn committing_an_overlay_upper_carries_whiteouts_into_the_new_image() {
    let root = tempfile::tempdir().unwrap();
    let store = ImageStore::open(root.path()).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    for (p, d) in [("a", "a"), ("d/x", "x"), ("keep", "k")] {
        let mut h = Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(d.len() as u64);
        h.set_mtime(1);
        b.append_data(&mut h, p, d.as_bytes()).unwrap();
    }
    let base = store
        .import_rootfs_tar(&mut &b.into_inner().unwrap()[..], "wb")
        .unwrap();

    let c = tempfile::tempdir().unwrap();
    let (upper, work, merged) = (c.path().join("u"), c.path().join("w"), c.path().join("m"));
    mount_overlay(&base.layer_dirs, &upper, &work, &merged, false).unwrap();
    let guard = MountGuard(merged.clone());
    fs::remove_file(merged.join("a")).unwrap();
    fs::remove_dir_all(merged.join("d")).unwrap();
    fs::create_dir(merged.join("d")).unwrap();
    fs::write(merged.join("d/y"), "y").unwrap();
    drop(guard);
    let a = fs::symlink_metadata(upper.join("a")).unwrap();
    assert!(a.file_type().is_char_device() && a.rdev() == 0);

    let child = store
        .commit_layers(
            Some(&base),
            std::slice::from_ref(&upper),
            base.config.clone(),
            Some("wb:child"),
        )
        .unwrap();
    let top = &child.layer_dirs[1];
    let a = fs::symlink_metadata(top.join("a")).unwrap();
    assert!(
        a.file_type().is_char_device() && a.rdev() == 0,
        "whiteout survives the round trip"
    );

    let merged2 = c.path().join("m2");
    mount_overlay(
        &child.layer_dirs,
        &c.path().join("u2"),
        &c.path().join("w2"),
        &merged2,
        true,
    )
    .unwrap();
    let _guard2 = MountGuard(merged2.clone());
    assert!(!merged2.join("a").exists());
    assert!(
        !merged2.join("d/x").exists(),
        "opaque directory hides the lower one"
    );
    assert_eq!(fs::read_to_string(merged2.join("d/y")).unwrap(), "y");
    assert_eq!(fs::read_to_string(merged2.join("keep")).unwrap(), "k");
}

#[test]
fn partial_downloads_are_kept_locked_and_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let digest = format!("sha256:{}", "a".repeat(64));
    let mut first = store.open_partial(&digest, 10).unwrap().unwrap();
    assert_eq!(first.resumed_from(), 0, "a new partial starts empty");
    first.file().write_all(b"abcd").unwrap();
    assert!(
        store.open_partial(&digest, 10).unwrap().is_none(),
        "a partial being written is not handed out twice"
    );
    let (pruned, _) = store.prune_partials().unwrap();
    assert!(pruned.is_empty(), "a partial in use is not pruned");
    drop(first);

    // The next run resumes after the 4 bytes, appending.
    let mut again = store.open_partial(&digest, 10).unwrap().unwrap();
    assert_eq!(again.resumed_from(), 4);
    again.file().write_all(b"ef").unwrap();
    drop(again);
    let path = dir.path().join("images/ingest").join("a".repeat(64));
    assert_eq!(fs::read(&path).unwrap(), b"abcdef");

    // Longer than the blob it is for: stale, emptied.
    let stale = store.open_partial(&digest, 3).unwrap().unwrap();
    assert_eq!(stale.resumed_from(), 0);
    drop(stale);
    assert_eq!(fs::metadata(&path).unwrap().len(), 0);

    // Finished: moved out of the ingest area, so no later pull appends to it.
    let mut done = store.open_partial(&digest, 3).unwrap().unwrap();
    done.file().write_all(b"xyz").unwrap();
    let dest = dir.path().join("blob");
    done.finish(&dest).unwrap();
    assert_eq!(fs::read(&dest).unwrap(), b"xyz");
    assert!(!path.exists());

    // Abandoned: pruned, with its size.
    let mut left = store.open_partial(&digest, 10).unwrap().unwrap();
    left.file().write_all(b"12345").unwrap();
    drop(left);
    let (pruned, bytes) = store.prune_partials().unwrap();
    assert_eq!((pruned, bytes), (vec![digest.clone()], 5));
    assert!(!path.exists());
}
