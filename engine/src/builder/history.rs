//! `pier history`: an image's history entries with the layer each one made.

use crate::image::{Image, ImageStore};
use anyhow::Result;

/// One row of `pier history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    /// The image ID for the top row (the others are `<missing>`, as in Docker for
    /// intermediate images that are not listed).
    pub id: Option<String>,
    /// Creation time (RFC 3339), if recorded.
    pub created: Option<String>,
    /// The instruction that made it (`/bin/sh -c #(nop)  CMD ["sh"]`).
    pub created_by: String,
    /// Bytes the entry's layer adds (0 for metadata-only entries).
    pub size: u64,
    /// Whether the entry made no layer.
    pub empty_layer: bool,
    /// Comment.
    pub comment: String,
}

/// The history of `image`, newest first, each layered entry with its layer's size.
pub fn history(store: &ImageStore, image: &Image) -> Result<Vec<HistoryRow>> {
    let diff_ids = image.config.rootfs().diff_ids();
    let mut layer = 0;
    let mut rows = Vec::new();
    let entries = image.config.history().clone().unwrap_or_default();
    for h in &entries {
        let empty = h.empty_layer().unwrap_or(false);
        let size = if empty {
            0
        } else {
            let s = match diff_ids.get(layer) {
                Some(d) => store.layer_size(d).unwrap_or(0),
                None => 0,
            };
            layer += 1;
            s
        };
        rows.push(HistoryRow {
            id: None,
            created: h.created().clone(),
            created_by: h.created_by().clone().unwrap_or_default(),
            size,
            empty_layer: empty,
            comment: h.comment().clone().unwrap_or_default(),
        });
    }
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top.id = Some(image.id.clone());
    }
    Ok(rows)
}
