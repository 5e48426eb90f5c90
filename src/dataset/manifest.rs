//! The manifest written beside a generated dataset (`manifest.json`): what was generated from what, and each
//! file's record count, size and checksums. `load` uploads it last and `verify` checks storage against it.

use super::trust::{Trust, TrustKind};
use super::DatasetError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The manifest's file name.
pub const MANIFEST_FILE: &str = "manifest.json";

/// What a dataset holds. No timestamps: the same seed, N and trust give a byte-identical manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// `trustprint <version>`.
    pub generator: String,
    pub seed: u64,
    pub patients: u64,
    pub trust: TrustSummary,
    pub files: Vec<FileEntry>,
}

/// The trust a dataset was generated for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustSummary {
    pub ods_code: String,
    pub name: String,
    pub district: String,
    /// `acute` or `community`.
    pub kind: String,
}

impl From<&Trust> for TrustSummary {
    fn from(t: &Trust) -> Self {
        TrustSummary {
            ods_code: t.ods_code.clone(),
            name: t.name.clone(),
            district: t.district.clone(),
            kind: match t.kind {
                TrustKind::Acute => "acute",
                TrustKind::Community => "community",
            }
            .into(),
        }
    }
}

/// One NDJSON file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileEntry {
    pub resource_type: String,
    /// File name relative to the dataset folder (`Patient.ndjson`).
    pub file: String,
    /// Records (lines).
    pub count: u64,
    pub bytes: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// MD5, base64: the form Azure Storage keeps in `Content-MD5`.
    pub md5: String,
}

impl Manifest {
    /// Write `manifest.json` into `dir` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), DatasetError> {
        let path = dir.join(MANIFEST_FILE);
        let mut body = serde_json::to_vec_pretty(self).map_err(|e| DatasetError::Internal {
            message: format!("serialising the manifest: {e}"),
        })?;
        body.push(b'\n');
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| DatasetError::io(dir, e))?;
        std::io::Write::write_all(&mut tmp, &body).map_err(|e| DatasetError::io(&path, e))?;
        tmp.persist(&path)
            .map_err(|e| DatasetError::io(&path, e.error))?;
        Ok(())
    }

    /// Read the manifest of the dataset in `dir`.
    pub fn read(dir: &Path) -> Result<Manifest, DatasetError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read(&path).map_err(|e| DatasetError::io(&path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse a manifest's bytes; `origin` names where they came from in errors.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Manifest, DatasetError> {
        serde_json::from_slice(bytes).map_err(|e| DatasetError::Manifest {
            origin: origin.to_owned(),
            message: e.to_string(),
        })
    }
}
