//! Downloading a layer blob to a file, resuming an interrupted transfer with an HTTP
//! `Range` request from where it stopped (the registry answers 206 with the rest; one
//! that ignores the range answers 200 and the download starts over). The store hashes
//! the whole file afterwards, so a resumed blob is verified like any other.
//!
//! The bytes go to the store's partial download of the blob ([`ImageStore::open_partial`]),
//! so a pull that is killed or loses its network leaves them there and the next pull of
//! a layer with that blob resumes from them. A prefix from an earlier run is checked
//! once the blob is whole: if the blob does not hash to its digest the prefix was bad,
//! and the blob is downloaded again from the start.

use super::client::{error_text, header, Body, Client};
use crate::image::digest::HashingReader;
use crate::image::store::{ImageStore, LayerProgress};
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Times a download is resumed after its connection broke (each time it must have made
/// progress, so a registry that always cuts at the same byte is given up on quickly).
pub const MAX_RESUMES: u32 = 5;

/// Progress is reported every this many bytes (and at the end).
const REPORT_EVERY: u64 = 256 << 10;

/// Downloads blob `digest` (`size` bytes) to `dest` (in the store's staging area),
/// through the store's partial download of it: resumed if an earlier pull left one,
/// kept there if this one is interrupted. Another pull downloading the same blob right
/// now has it locked; this one then downloads privately, from the start.
pub fn download_blob(
    client: &mut Client,
    store: &ImageStore,
    digest: &str,
    size: u64,
    dest: &Path,
    progress: &LayerProgress<'_>,
) -> Result<()> {
    let Some(mut partial) = store.open_partial(digest, size)? else {
        let mut file =
            File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
        download_into(client, digest, size, &mut file, 0, progress)?;
        return file
            .sync_all()
            .with_context(|| format!("syncing {}", dest.display()));
    };
    let resumed = partial.resumed_from();
    download_into(client, digest, size, partial.file(), resumed, progress)?;
    if resumed > 0 && !hashes_to(partial.file(), digest)? {
        // The earlier run's bytes were wrong (a disk fault, an edited file): start over.
        partial.discard()?;
        download_into(client, digest, size, partial.file(), 0, progress)?;
    }
    partial.finish(dest)
}

/// Whether the whole of `file` hashes to `digest`.
fn hashes_to(file: &mut File, digest: &str) -> Result<bool> {
    file.seek(SeekFrom::Start(0))
        .context("rewinding a resumed blob")?;
    let (_, got, _) = HashingReader::new(BufReader::new(&mut *file))
        .finish()
        .context("hashing a resumed blob")?;
    Ok(got == digest)
}

/// Streams blob `digest` into `file`, which holds its first `done` bytes already (and is
/// positioned after them), reading at most one byte more than `size` (so an endless
/// answer cannot fill the disk; the store's size check then rejects it).
fn download_into(
    client: &mut Client,
    digest: &str,
    size: u64,
    file: &mut File,
    mut done: u64,
    progress: &LayerProgress<'_>,
) -> Result<()> {
    if done > 0 && done >= size {
        // Whole already (killed between the last byte and the move): nothing to ask for.
        progress.downloaded(done);
        return Ok(());
    }
    let url = client.repo_url(&format!("blobs/{digest}"));
    let mut resumes = 0;
    loop {
        let range = format!("bytes={done}-");
        let headers: &[(&str, &str)] = if done > 0 { &[("Range", &range)] } else { &[] };
        let response = client.send("GET", &url, headers, Body::Empty)?;
        match response.status().as_u16() {
            200 => {
                if done > 0 {
                    // The registry ignored the range: start over.
                    done = 0;
                    file.set_len(0)
                        .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
                        .context("emptying the partial blob")?;
                }
            }
            206 if done > 0 => {
                let content_range = header(&response, "content-range").unwrap_or_default();
                if !content_range.starts_with(&format!("bytes {done}-")) {
                    bail!("fetching blob {digest}: asked for bytes from {done}, the registry sent {content_range:?}");
                }
            }
            _ => bail!("fetching blob {digest}: {}", error_text(response)),
        }
        progress.downloaded(done);
        let before = done;
        let mut body = response
            .into_body()
            .into_reader()
            .take(size.saturating_add(1).saturating_sub(done));
        match copy_reporting(&mut body, file, &mut done, progress) {
            Ok(()) => break,
            Err(e) if progress.cancelled() => return Err(e),
            Err(_) if resumes < MAX_RESUMES && done > before => resumes += 1,
            Err(e) => {
                return Err(e.context(format!(
                    "downloading blob {digest}: the connection broke after {done} of {size} bytes"
                )))
            }
        }
    }
    progress.downloaded(done);
    file.flush().context("writing the blob")
}

/// Copies `body` to `file`, counting bytes in `done` and reporting them.
fn copy_reporting(
    body: &mut dyn Read,
    file: &mut File,
    done: &mut u64,
    progress: &LayerProgress<'_>,
) -> Result<()> {
    let mut buf = vec![0u8; 64 << 10];
    let mut reported = *done;
    loop {
        if progress.cancelled() {
            return Err(progress.cancelled_error());
        }
        let n = body.read(&mut buf).context("reading the blob")?;
        if n == 0 {
            return Ok(());
        }
        file.write_all(&buf[..n]).context("writing the blob")?;
        *done += n as u64;
        if *done - reported >= REPORT_EVERY {
            progress.downloaded(*done);
            reported = *done;
        }
    }
}
