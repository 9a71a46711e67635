//! Fetching and unpacking an image's missing layers several at a time (as Docker's
//! `max-concurrent-downloads`, 3 by default): each worker fetches a layer, verifies it and
//! unpacks it into its own staging directory as soon as it has arrived, while the others
//! are still downloading. Layers land in separate directories, so the order they finish
//! in does not matter; they are published in manifest order by the caller.

use super::{ImageStore, StagedLayer};
use crate::image::digest::HashingReader;
use anyhow::{bail, Context, Result};
use oci_spec::image::Descriptor;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Where a layer is while [`ImageStore::add_image`] works on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerState {
    /// The store has it: not fetched.
    Exists,
    /// Waiting for a free download slot.
    Waiting,
    /// `done` of `total` bytes fetched.
    Downloading {
        /// Bytes fetched so far.
        done: u64,
        /// The descriptor's size.
        total: u64,
    },
    /// Fetched and verified against its digest; being unpacked.
    Extracting,
    /// Unpacked and checked against the config's diff ID.
    Complete,
}

/// Receives each layer's state changes (by layer digest), from any worker thread.
pub type LayerEvents<'a> = dyn Fn(&str, LayerState) + Sync + 'a;

/// Where [`ImageStore::add_image`] takes a layer blob from: it writes the blob with
/// descriptor `.0` to the (not yet existing) file `.1`, e.g. by downloading it or by
/// linking a file extracted from an archive, reporting its progress to `.2`. Called from
/// several threads at once. The store verifies the blob afterwards.
pub type FetchBlob<'a> = dyn Fn(&Descriptor, &Path, &LayerProgress<'_>) -> Result<()> + Sync + 'a;

/// How [`ImageStore::add_image`] gets the layers it lacks.
pub struct Ingest<'a> {
    /// Fetches one layer blob.
    pub fetch: &'a FetchBlob<'a>,
    /// Layers fetched at once (at least 1).
    pub jobs: usize,
    /// Told of each layer's progress.
    pub events: &'a LayerEvents<'a>,
}

impl<'a> Ingest<'a> {
    /// One layer at a time, nobody told: for local sources (`pier load`).
    pub fn serial(fetch: &'a FetchBlob<'a>) -> Ingest<'a> {
        Ingest {
            fetch,
            jobs: 1,
            events: &|_, _| {},
        }
    }
}

/// What a [`FetchBlob`] reports its progress to, and asks whether to give up.
pub struct LayerProgress<'a> {
    digest: &'a str,
    total: u64,
    events: &'a LayerEvents<'a>,
    cancelled: &'a AtomicBool,
}

impl LayerProgress<'_> {
    /// `done` bytes of the blob have arrived.
    pub fn downloaded(&self, done: u64) {
        (self.events)(
            self.digest,
            LayerState::Downloading {
                done,
                total: self.total,
            },
        );
    }

    /// Another layer failed: the pull is over, stop fetching this one.
    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// The error a fetch returns when it stopped because [`Self::cancelled`].
    pub fn cancelled_error(&self) -> anyhow::Error {
        anyhow::Error::new(Cancelled)
    }
}

/// A fetch stopped because another layer failed (never the error shown).
#[derive(Debug)]
struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled: another layer failed")
    }
}

impl std::error::Error for Cancelled {}

/// A layer to fetch: its descriptor and the diff ID the config gives it.
pub(super) type LayerJob<'a> = (&'a Descriptor, &'a String);

impl ImageStore {
    /// Fetches, verifies and unpacks `jobs` into staging directories, `ingest.jobs` at a
    /// time; returns them in the order given. On the first failure the other workers stop
    /// (their fetches see [`LayerProgress::cancelled`]) and every staging directory is
    /// removed; the error returned is the first real one in manifest order.
    pub(super) fn stage_layers(
        &self,
        jobs: &[LayerJob<'_>],
        ingest: &Ingest<'_>,
    ) -> Result<Vec<StagedLayer>> {
        let next = AtomicUsize::new(0);
        let cancelled = AtomicBool::new(false);
        let results: Mutex<Vec<Option<Result<StagedLayer>>>> =
            Mutex::new(jobs.iter().map(|_| None).collect());
        let workers = ingest.jobs.clamp(1, jobs.len().max(1));
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    if cancelled.load(Ordering::Relaxed) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { return };
                    let result = self.stage_one(*job, ingest, &cancelled);
                    if result.is_err() {
                        cancelled.store(true, Ordering::Relaxed);
                    }
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(result);
                });
            }
        });
        let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut staged = Vec::new();
        let mut first_error = None;
        for r in results.into_iter().flatten() {
            match r {
                Ok(layer) => staged.push(layer),
                Err(e) if e.chain().any(|c| c.is::<Cancelled>()) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if staged.len() != jobs.len() {
            bail!("a layer fetch stopped without an error");
        }
        Ok(staged)
    }

    /// Fetches one layer blob into a staging directory, verifies its digest and size,
    /// unpacks it and checks its diff ID.
    fn stage_one(
        &self,
        (descriptor, diff_id): LayerJob<'_>,
        ingest: &Ingest<'_>,
        cancelled: &AtomicBool,
    ) -> Result<StagedLayer> {
        let digest = descriptor.digest().to_string();
        let what = format!("layer blob {digest}");
        let tmp = self.new_tmp()?;
        let blob = tmp.path().join("blob");
        let progress = LayerProgress {
            digest: &digest,
            total: descriptor.size(),
            events: ingest.events,
            cancelled,
        };
        (ingest.fetch)(descriptor, &blob, &progress).with_context(|| format!("fetching {what}"))?;
        let file = File::open(&blob).with_context(|| format!("opening {}", blob.display()))?;
        let (_, got, size) = HashingReader::new(BufReader::new(file))
            .finish()
            .with_context(|| format!("reading {}", blob.display()))?;
        super::ingest::check_digest(&got, size, &digest, descriptor.size(), &what)?;
        (ingest.events)(&digest, LayerState::Extracting);
        let mut layer = self
            .stage_blob(tmp, digest.clone(), size, 0)
            .with_context(|| format!("unpacking {what}"))?;
        if &layer.diff_id != diff_id {
            bail!(
                "{what}: its uncompressed content has digest {} but the config says {diff_id}",
                layer.diff_id
            );
        }
        layer.descriptor = descriptor.clone();
        (ingest.events)(&digest, LayerState::Complete);
        Ok(layer)
    }
}
