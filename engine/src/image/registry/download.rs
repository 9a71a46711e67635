//! Downloading a layer blob to a file, resuming an interrupted transfer with an HTTP
//! `Range` request from where it stopped (the registry answers 206 with the rest; one
//! that ignores the range answers 200 and the download starts over). The store hashes
//! the whole file afterwards, so a resumed blob is verified like any other.

use super::client::{error_text, header, Body, Client};
use crate::image::store::LayerProgress;
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Times a download is resumed after its connection broke (each time it must have made
/// progress, so a registry that always cuts at the same byte is given up on quickly).
pub const MAX_RESUMES: u32 = 5;

/// Progress is reported every this many bytes (and at the end).
const REPORT_EVERY: u64 = 256 << 10;

/// Streams blob `digest` into `dest` (in the store's staging area), reading at most one
/// byte more than the descriptor's `size` (so an endless answer cannot fill the disk; the
/// store's size check then rejects it).
pub fn download_blob(
    client: &mut Client,
    digest: &str,
    size: u64,
    dest: &Path,
    progress: &LayerProgress<'_>,
) -> Result<()> {
    let url = client.repo_url(&format!("blobs/{digest}"));
    let mut file = File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut done = 0u64;
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
                        .with_context(|| format!("truncating {}", dest.display()))?;
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
        let before = done;
        let mut body = response
            .into_body()
            .into_reader()
            .take(size.saturating_add(1).saturating_sub(done));
        match copy_reporting(&mut body, &mut file, &mut done, progress) {
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
    file.sync_all()
        .with_context(|| format!("syncing {}", dest.display()))
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
