//! Lab 11's base image, `lab11-base`: busybox's files and `/etc/lab11-base`, a nonce made at
//! `pier lab start`, in one layer. The student builds FROM it, so the layer a pull of the
//! student's image skips is this one, whose digest is new at every start: busybox's own
//! layer, built reproducibly, has the same digest on every machine (and in the lab's text),
//! so naming it would prove nothing.

use crate::context::Ctx;
use anyhow::{Context, Result};
use std::io::Read;

/// The base image's name (the lab's prefix: `pier lab reset 11` removes it).
pub const BASE: &str = "lab11-base";

/// The file in the base image that holds this start's nonce.
const NONCE_FILE: &str = "etc/lab11-base";

/// Makes `lab11-base` from the store's busybox and a fresh nonce.
pub fn plant(ctx: &Ctx) -> Result<()> {
    let store = ctx.engine().images()?;
    let busybox = ctx.image("busybox")?;
    let manifest = store.manifest(&busybox)?;
    let mut out = tar::Builder::new(Vec::new());
    for layer in manifest.layers() {
        let digest = layer.digest().to_string();
        let blob = store.open_blob(&digest)?;
        copy_entries(blob, &mut out)
            .with_context(|| format!("copying busybox's layer {digest}"))?;
    }
    let nonce = pier_engine::naming::new_id()?;
    let text = format!("{nonce}\n");
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    out.append_data(&mut header, NONCE_FILE, text.as_bytes())
        .context("adding the nonce to lab11-base")?;
    let tar = out.into_inner().context("finishing lab11-base's layer")?;
    store
        .import_rootfs_tar(&mut &tar[..], BASE)
        .context("storing lab11-base")?;
    Ok(())
}

/// Copies every entry of a layer blob (gzip or plain tar) into `out`, links as links.
fn copy_entries(blob: std::fs::File, out: &mut tar::Builder<Vec<u8>>) -> Result<()> {
    let mut reader = std::io::BufReader::new(blob);
    let mut magic = [0u8; 2];
    reader.read_exact(&mut magic).context("reading the layer")?;
    let head = std::io::Cursor::new(magic.to_vec()).chain(reader);
    let plain: Box<dyn Read> = if magic == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(head))
    } else {
        Box::new(head)
    };
    let mut archive = tar::Archive::new(plain);
    for entry in archive.entries().context("reading the layer's entries")? {
        let mut entry = entry.context("reading a layer entry")?;
        let mut header = entry.header().clone();
        let path = entry.path().context("a layer entry's path")?.into_owned();
        match entry.link_name().context("a layer entry's link")? {
            Some(link) => {
                let link = link.into_owned();
                out.append_link(&mut header, &path, &link)
            }
            None => out.append_data(&mut header, &path, &mut entry),
        }
        .with_context(|| format!("copying {}", path.display()))?;
    }
    Ok(())
}
