//! Fictional patients (issue 8): rehearse a migration on a synthetic population before real records.
//!
//! Three entry points, one per command:
//! - [`generate()`]: a trust's fictional population as FHIR R4 NDJSON plus a manifest (deterministic per seed);
//! - [`load()`]: upload a generated dataset into the trust's staging storage account (Azure Storage blob API,
//!   parallel blocks, resumable, MD5-checked), on Azure or on the local cloud's Azurite;
//! - [`verify()`]: check that what storage holds matches the manifest (record counts and checksums).
//!
//! Nothing here reads real patient data: every record is drawn from a seeded generator, carries the
//! `HTEST` (test health data) tag and an NHS number from the range reserved for testing.

mod generate;
mod manifest;
pub mod nhs;
mod storage;
mod trust;
mod vocab;

pub use generate::{
    file_name, generate, GenerateConfig, RESOURCE_TYPES, SYNTHETIC_TAG_CODE, SYNTHETIC_TAG_SYSTEM,
};
pub use manifest::{FileEntry, Manifest, TrustSummary, MANIFEST_FILE};
pub use storage::{
    load, verify, FileLoad, LoadConfig, LoadReport, StagingTarget, VerifyReport, BLOB_PREFIX,
};
pub use trust::{Trust, TrustKind};

use std::path::{Path, PathBuf};

/// What can go wrong generating, loading or verifying a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The trust is not an open trust in the ODS extract.
    #[error("trust {ods_code}: {message}")]
    Trust { ods_code: String, message: String },

    /// A command-line value out of range (`--patients 0`).
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },

    /// The output folder cannot be used.
    #[error("output folder {}: {message}", path.display())]
    OutDir { path: PathBuf, message: String },

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A manifest that does not parse.
    #[error("manifest {origin}: {message}")]
    Manifest { origin: String, message: String },

    /// The values do not ask for staging storage (or the blueprint's `staging` deployment lacks what load
    /// needs).
    #[error("staging storage: {message}")]
    Staging { message: String },

    /// The staging account could not be found or reached through the target (not applied yet, credentials).
    #[error("staging storage: {message}")]
    Target { message: String },

    /// A blob operation failed.
    #[error("staging storage account {account}, blob {blob}: {message}")]
    Storage {
        account: String,
        blob: String,
        message: String,
    },

    /// What storage holds differs from the manifest; each line names a file and what differs.
    #[error("staging storage does not match the dataset manifest:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Mismatch { problems: Vec<String> },

    /// A bug.
    #[error("{message}")]
    Internal { message: String },
}

impl crate::error::FeatureError for DatasetError {
    fn exit_code(&self) -> crate::ExitCode {
        DatasetError::exit_code(self)
    }
    fn kind(&self) -> &'static str {
        "other"
    }
}

impl From<DatasetError> for crate::Error {
    fn from(e: DatasetError) -> Self {
        crate::Error::Feature(crate::error::Feature(Box::new(e)))
    }
}

impl DatasetError {
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        DatasetError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// The exit code: bad input 4, everything else (I/O, storage, a mismatch) 1.
    pub fn exit_code(&self) -> crate::ExitCode {
        match self {
            DatasetError::Trust { .. }
            | DatasetError::Invalid { .. }
            | DatasetError::Manifest { .. }
            | DatasetError::Staging { .. } => crate::ExitCode::InvalidInput,
            DatasetError::Internal { .. } => crate::ExitCode::Internal,
            DatasetError::OutDir { .. }
            | DatasetError::Io { .. }
            | DatasetError::Target { .. }
            | DatasetError::Storage { .. }
            | DatasetError::Mismatch { .. } => crate::ExitCode::Failure,
        }
    }
}
