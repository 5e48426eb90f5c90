//! The one error type the binary sees, and its exit codes. Each variant carries the structured facts (file,
//! key, template, resource id, ARM code); `Display` is the one place they become words. Causes are chained
//! through `source()` and printed once by `main`.

use crate::diag::Diagnostic;
use std::path::PathBuf;

/// Process exit codes (documented in README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    Success = 0,
    /// The operation failed (I/O, git, Azure Resource Manager, a deployment).
    Failure = 1,
    /// `plan --detailed-exitcode` / `fleet drift`: changes (or drift) present.
    Changes = 2,
    /// Guardrail violations.
    Violations = 3,
    /// Invalid input: command line, values, blueprint.
    InvalidInput = 4,
    /// A bug in trustprint.
    Internal = 5,
}

/// Everything that can go wrong, by stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The values are invalid: every problem at once.
    #[error("{file}: {} problem(s) in values", diagnostics.len())]
    Values {
        file: String,
        diagnostics: Vec<Diagnostic>,
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

    /// A rendered ARM template could not be evaluated (expand, plan).
    #[error("deployment '{deployment}': {source}")]
    Template {
        deployment: String,
        #[source]
        source: crate::armexpr::Error,
    },

    /// The local cloud could not start or its state could not be read.
    #[error(transparent)]
    Cloud(#[from] crate::cloud::Error),

    /// A git operation failed.
    #[error("git: {context}")]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },
}

impl Error {
    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Values { .. }
            | Error::Manifest { .. }
            | Error::Blueprint { .. }
            | Error::Template { .. } => ExitCode::InvalidInput,
            Error::Io { .. } | Error::Git { .. } | Error::Cloud(_) => ExitCode::Failure,
        }
    }

    /// Wrap an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
