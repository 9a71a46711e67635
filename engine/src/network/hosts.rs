//! Name resolution between containers of one network: managed `/etc/hosts` blocks.
//!
//! Each endpoint may name its container's hosts file (on the host; the engine bind-mounts it
//! as the container's `/etc/hosts`). For every network the container is on, the file holds a
//! block listing every endpoint of that network by container name, short id and aliases.
//! When an endpoint joins or leaves, the blocks of all endpoints on that network are
//! rewritten.
//!
//! Why hosts files rather than an embedded DNS server (Docker's 127.0.0.11, Podman's
//! aardvark-dns): no daemon must run for the lifetime of the containers (pier has none), no
//! extra process per network, lookups work with any libc and without `resolv.conf`
//! changes, and the cost is one small file write per endpoint per change. The price: names
//! are only updated when pier connects or disconnects someone (fine: that is the only time
//! they change), and programs that cache `/etc/hosts` forever will not see later joiners.
//!
//! Files are rewritten IN PLACE (write + truncate on the same inode), never by rename: a
//! bind mount pins the inode, so a renamed replacement would be invisible in the container.
//! The new text is written over the old before the file is cut to its length, so a reader
//! never finds it empty; entries are in address order, so a join mostly appends. Lines
//! outside pier's blocks (written by the engine or the user) are preserved.
//!
//! # One file per network, not one per container
//!
//! A container on one network has the same hosts file as every other container there
//! (localhost, then the network's block: its own name and hostname are in the block). So
//! each network has ONE shared file, `<root>/networks/<name>.hosts`, and such a container's
//! hosts file is a hard link to it ([`link_shared`]): the bind mount pins the shared inode,
//! and a join or leave writes that one file, whatever the number of containers (before: the
//! file of every peer, N writes of N lines per join). The shared file is mounted read-only,
//! or one container could rewrite the names of all the others. A container on several
//! networks keeps a file of its own (rewritten at each change of any of its networks), and a
//! running container that joins or leaves a network gets a private copy mounted over its
//! `/etc/hosts` first ([`pier_oci::mount_into`]).

use anyhow::{Context, Result};
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// One line of a block: an address and the names it answers to.
#[derive(Debug, Clone)]
pub struct HostEntry {
    /// The endpoint's address on the network.
    pub ip: Ipv4Addr,
    /// Container name, short id, aliases.
    pub names: Vec<String>,
}

fn begin_marker(network: &str) -> String {
    format!("# BEGIN pier network {network} (managed by pier, do not edit)")
}

fn end_marker(network: &str) -> String {
    format!("# END pier network {network}")
}

/// `text` without the block of `network`.
fn strip_block(text: &str, network: &str) -> String {
    let (begin, end) = (begin_marker(network), end_marker(network));
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for line in text.lines() {
        if line == begin {
            inside = true;
        } else if inside && line == end {
            inside = false;
        } else if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Writes `text` over the file at `path` in place (same inode), then cuts it to its length:
/// a reader sees the old text, the new one, or the new one followed by the old tail, never
/// an empty file.
fn rewrite_in_place(path: &Path, text: &str) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("opening hosts file {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.set_len(text.len() as u64))
        .with_context(|| format!("writing hosts file {}", path.display()))
}

/// Makes `own` (a container's hosts file) a hard link to the network's `shared` file,
/// replacing it atomically (link beside it, then rename). Fails when the two are on
/// different file systems; the caller then keeps a file of the container's own.
pub fn link_shared(shared: &Path, own: &Path) -> Result<()> {
    let tmp = own.with_extension("shared-link");
    let _ = fs::remove_file(&tmp);
    fs::hard_link(shared, &tmp)
        .with_context(|| format!("linking {} to {}", tmp.display(), shared.display()))?;
    fs::rename(&tmp, own)
        .with_context(|| format!("renaming {} to {}", tmp.display(), own.display()))
}

/// Writes `text` to a new file beside `own` (a link to a shared file), `<own>.private`, and
/// hands it to `mount` (which puts it over the container's `/etc/hosts`); returns its path.
/// `own` itself stays: the new mount sits on its name, and the kernel takes mounts off a
/// name that is removed or renamed over. If `mount` fails, the new file goes.
pub fn write_private(
    own: &Path,
    text: &str,
    mount: &mut dyn FnMut(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let private = own.with_extension("private");
    let _ = fs::remove_file(&private);
    fs::write(&private, text)
        .with_context(|| format!("writing hosts file {}", private.display()))?;
    if let Err(e) = mount(&private) {
        let _ = fs::remove_file(&private);
        return Err(e);
    }
    Ok(private)
}

/// The text of a hosts file holding the blocks of `blocks` (network, entries), after the
/// localhost lines.
pub fn render(blocks: &[(&str, Vec<HostEntry>)]) -> String {
    let mut text = String::new();
    for (network, entries) in blocks {
        text = with_block(text, network, entries);
    }
    if text.is_empty() {
        text.push_str(LOCALHOST);
    }
    text
}

/// Reads a hosts file; a missing one reads as empty.
fn read(path: &Path) -> Result<String> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("reading hosts file {}", path.display())),
    }
}

/// The localhost lines a file pier creates itself starts with.
const LOCALHOST: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/// Replaces (or adds) the block of `network` in the hosts file at `path`.
pub fn write_block(path: &Path, network: &str, entries: &[HostEntry]) -> Result<()> {
    let text = with_block(strip_block(&read(path)?, network), network, entries);
    rewrite_in_place(path, &text)
}

/// `text` (without a block of `network`) with the block of `network` appended.
fn with_block(mut text: String, network: &str, entries: &[HostEntry]) -> String {
    if text.is_empty() {
        // A file pier creates itself still resolves localhost.
        text.push_str(LOCALHOST);
    }
    text.push_str(&begin_marker(network));
    text.push('\n');
    for e in entries {
        text.push_str(&format!("{}\t{}\n", e.ip, e.names.join(" ")));
    }
    text.push_str(&end_marker(network));
    text.push('\n');
    text
}

/// The entries of the block of `network` in `text`, in file order.
fn parse_block(text: &str, network: &str) -> Vec<HostEntry> {
    let (begin, end) = (begin_marker(network), end_marker(network));
    let mut entries = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line == begin {
            inside = true;
        } else if inside && line == end {
            break;
        } else if inside {
            let mut words = line.split_whitespace();
            if let Some(ip) = words.next().and_then(|w| w.parse::<Ipv4Addr>().ok()) {
                entries.push(HostEntry {
                    ip,
                    names: words.map(str::to_string).collect(),
                });
            }
        }
    }
    entries
}

/// The entries of the block of `network` in the hosts file at `path`, in file order (none
/// without a file or block).
pub fn read_block(path: &Path, network: &str) -> Result<Vec<HostEntry>> {
    Ok(parse_block(&read(path)?, network))
}

/// Changes the block of `network` in the hosts file at `path` (created if missing) with
/// `change`, reading and writing the file once; returns the new entries. A join or leave
/// edits the network's shared file through this instead of rebuilding the block from every
/// endpoint's record.
pub fn edit_block(
    path: &Path,
    network: &str,
    change: impl FnOnce(&mut Vec<HostEntry>),
) -> Result<Vec<HostEntry>> {
    let text = read(path)?;
    let mut entries = parse_block(&text, network);
    change(&mut entries);
    rewrite_in_place(
        path,
        &with_block(strip_block(&text, network), network, &entries),
    )?;
    Ok(entries)
}

/// Removes the block of `network` from the hosts file at `path` (a missing file is fine).
pub fn remove_block(path: &Path, network: &str) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let text = read(path)?;
    let stripped = strip_block(&text, network);
    if stripped != text {
        rewrite_in_place(path, &stripped)?;
    }
    Ok(())
}

/// Looks `name` up in a hosts file as libc would (first match wins).
pub fn resolve(path: &Path, name: &str) -> Result<Option<Ipv4Addr>> {
    Ok(read(path)?.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let ip = words.next()?.parse::<Ipv4Addr>().ok()?;
        words.any(|w| w == name).then_some(ip)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn network_hosts_blocks_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts");
        fs::write(&p, "127.0.0.1 localhost\n10.0.0.9 user-entry\n").unwrap();
        let ino = fs::metadata(&p).unwrap().ino();
        let a = HostEntry {
            ip: Ipv4Addr::new(10, 213, 1, 2),
            names: vec!["web".into(), "w".into()],
        };
        let b = HostEntry {
            ip: Ipv4Addr::new(10, 213, 2, 2),
            names: vec!["db".into()],
        };
        write_block(&p, "n1", std::slice::from_ref(&a)).unwrap();
        write_block(&p, "n2", &[b]).unwrap();
        write_block(&p, "n1", &[a]).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().ino(), ino, "same inode");
        assert_eq!(
            resolve(&p, "w").unwrap(),
            Some(Ipv4Addr::new(10, 213, 1, 2))
        );
        assert_eq!(
            resolve(&p, "db").unwrap(),
            Some(Ipv4Addr::new(10, 213, 2, 2))
        );
        assert_eq!(
            resolve(&p, "user-entry").unwrap(),
            Some(Ipv4Addr::new(10, 0, 0, 9))
        );
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(text.matches("BEGIN pier network n1").count(), 1);
        let block = read_block(&p, "n1").unwrap();
        assert_eq!(block.len(), 1);
        assert_eq!(block[0].ip, Ipv4Addr::new(10, 213, 1, 2));
        assert_eq!(block[0].names, ["web", "w"]);
        assert!(read_block(&p, "n3").unwrap().is_empty());
        let edited = edit_block(&p, "n1", |e| e.retain(|x| x.names[0] != "web")).unwrap();
        assert!(edited.is_empty());
        assert_eq!(resolve(&p, "web").unwrap(), None);
        assert_eq!(fs::metadata(&p).unwrap().ino(), ino, "edited in place");
        write_block(&p, "n1", &block).unwrap();
        remove_block(&p, "n1").unwrap();
        assert_eq!(resolve(&p, "web").unwrap(), None);
        assert_eq!(
            resolve(&p, "db").unwrap(),
            Some(Ipv4Addr::new(10, 213, 2, 2))
        );
        assert_eq!(resolve(&p, "localhost").unwrap(), Some(Ipv4Addr::LOCALHOST));
        remove_block(&dir.path().join("missing"), "n1").unwrap();
    }
}
