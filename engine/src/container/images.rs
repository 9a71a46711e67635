//! Images as the engine sees them: which ones containers use, and `pier image prune`.

use super::Engine;
use anyhow::Result;
use std::collections::BTreeSet;

/// What `pier image prune` removed.
#[derive(Debug, Default)]
pub struct ImagePruneReport {
    /// Docker-style lines (`untagged: x`, `deleted: sha256:...`), then a line per
    /// abandoned partial download removed (`deleted partial download: sha256:...`).
    pub lines: Vec<String>,
    /// Bytes of layers and partial downloads deleted.
    pub reclaimed: u64,
}

impl Engine {
    /// IDs of the images some container (in any state) was created from.
    pub fn images_in_use(&self) -> Result<BTreeSet<String>> {
        Ok(self.containers()?.into_iter().map(|c| c.image_id).collect())
    }

    /// `pier image prune`: removes dangling images (no name) that no container uses, or with
    /// `all` every image no container uses; and the partial downloads of interrupted pulls
    /// that no pull is resuming now.
    pub fn prune_images(&self, all: bool) -> Result<ImagePruneReport> {
        let store = self.images()?;
        // Under the containers lock: no container can be created from an image being removed.
        let _lock = self.lock()?;
        let in_use = self.images_in_use()?;
        let before = store.disk_usage()?.bytes;
        let mut report = ImagePruneReport::default();
        for img in store.list()? {
            if in_use.contains(&img.id) || !(all || img.references.is_empty()) {
                continue;
            }
            // `docker image prune` words them in lower case (`untagged: x`, `deleted: ...`),
            // unlike `docker rmi`.
            report
                .lines
                .extend(store.remove(&img.id)?.into_iter().map(|l| {
                    l.replacen("Untagged:", "untagged:", 1)
                        .replacen("Deleted:", "deleted:", 1)
                }));
        }
        report.reclaimed = before.saturating_sub(store.disk_usage()?.bytes);
        let (partials, bytes) = store.prune_partials()?;
        report.reclaimed += bytes;
        report.lines.extend(
            partials
                .iter()
                .map(|d| format!("deleted partial download: {d}")),
        );
        Ok(report)
    }
}
