//! The store's index: which images exist and which references point at them.
//!
//! A small JSON file (`<root>/images/index.json`) rather than an OCI image index, because
//! pier needs two maps an OCI index does not express directly: every known image
//! (including untagged ones, as Docker's `<none>` images) and reference -> image.
//! It is always read and rewritten whole, atomically, under the store lock.

use anyhow::Result;
use pier_oci::persist;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The contents of `index.json`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Index {
    /// Manifest digests of every image in the store, tagged or not.
    #[serde(default)]
    pub manifests: BTreeSet<String>,
    /// `name:tag` -> manifest digest.
    #[serde(default)]
    pub references: BTreeMap<String, String>,
}

impl Index {
    /// Loads the index, or an empty one if the file does not exist yet.
    pub fn load(path: &Path) -> Result<Index> {
        if !path.exists() {
            return Ok(Index::default());
        }
        persist::read_json(path)
    }

    /// Writes the index atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        persist::write_json_atomic(path, self)
    }

    /// References pointing at `manifest`, sorted.
    pub fn references_of(&self, manifest: &str) -> Vec<String> {
        self.references
            .iter()
            .filter(|(_, m)| m.as_str() == manifest)
            .map(|(r, _)| r.clone())
            .collect()
    }
}
