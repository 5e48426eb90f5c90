//! The blueprint layer's own error: opening, fetching, importing and checking a blueprint. `crate::Error` maps
//! each variant to its own of the same name (same wording, same exit code).

use crate::diag::Diagnostic;
use std::path::PathBuf;

/// Why a blueprint could not be opened, fetched, imported or released.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The blueprint manifest is invalid: every problem at once.
    #[error("{file}: {} problem(s) in the blueprint manifest", diagnostics.len())]
    Manifest {
        file: String,
        diagnostics: Vec<Diagnostic>,
    },
    /// The blueprint could not be found or fetched (`--blueprint` argument, git fetch, missing template).
    #[error("blueprint {source_desc}: {message}")]
    Blueprint {
        source_desc: String,
        message: String,
    },
    /// A git operation failed.
    #[error("git: {context}")]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },
    /// The output folder cannot be written as asked.
    #[error("output folder {}: {message}", path.display())]
    OutDir { path: PathBuf, message: String },
    /// A bug in trustprint.
    #[error("internal error (a bug in trustprint, please report it): {message}")]
    Internal { message: String },
}

impl Error {
    /// An I/O error naming the path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<crate::yaml::ReadError> for Error {
    fn from(e: crate::yaml::ReadError) -> Self {
        Error::Io {
            path: e.path,
            source: e.source,
        }
    }
}

impl From<crate::atomic::Error> for Error {
    fn from(e: crate::atomic::Error) -> Self {
        match e {
            crate::atomic::Error::Io { path, source } => Error::Io { path, source },
            crate::atomic::Error::OutDir { path, message } => Error::OutDir { path, message },
        }
    }
}
