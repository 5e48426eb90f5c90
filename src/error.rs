//! The one error type the binary sees, and its exit codes. Each variant carries the structured facts (file,
//! key, template, resource id, ARM code); `Display` is the one place they become words. Causes are chained
//! through `source()` and printed once by `main`.

use crate::diag::Diagnostic;
use std::path::PathBuf;

pub use crate::types::ExitCode;

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
    Expand {
        deployment: String,
        #[source]
        source: crate::armexpr::Error,
    },

    /// Azure Resource Manager (or the local cloud) refused or failed a request; ARM's code, message and
    /// details are in the inner error.
    #[error(transparent)]
    Arm(#[from] crate::arm::Error),

    /// Plan, apply or destroy could not proceed (target, secrets, confirmation, plan file, failed
    /// deployments).
    #[error(transparent)]
    Deploy(Box<crate::deploy::DeployError>),

    /// The local cloud could not start or its state could not be read.
    #[error(transparent)]
    Cloud(#[from] crate::cloud::Error),

    /// A feature above the composer failed: a fleet repository or its fleet.yaml is invalid (`fleet`), estimating
    /// cost, refreshing prices or a budget check (`cost`), generating, loading or verifying a fictional dataset
    /// (`dataset`). The feature's own error, which knows its exit code and JSON kind, so this type need not name
    /// the feature.
    #[error(transparent)]
    Feature(Feature),

    /// A git operation failed.
    #[error("git: {context}")]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },

    /// A template failed to render (Tera) or rendered text that is not JSON: the render stage's own error
    /// (only its `Template` and `RenderedJson`; its I/O, blueprint and output-folder errors become this type's).
    #[error(transparent)]
    Render(crate::render::Error),

    /// The `--out` folder cannot be written as asked.
    #[error("output folder {}: {message}", path.display())]
    OutDir { path: PathBuf, message: String },

    /// The fleet repository cannot be recorded in now: another trustprint holds its lock too long, or the trust's
    /// folder has uncommitted changes. The record stage's own error (only `FleetLocked` and `FleetDirty`).
    #[error(transparent)]
    Record(crate::record::Error),

    /// Guardrails found violations; the report says which (the CLI prints it before this error).
    #[error(
        "{} guardrail violation(s)",
        report.violations().count()
    )]
    Violations { report: Box<crate::check::Report> },

    /// An Azure Policy initiative or definition that cannot be loaded or assigned (`--policy`).
    #[error(transparent)]
    Policy(#[from] crate::policy::Error),

    /// Enforced `deny` effects of an assigned initiative would refuse resources (the CLI prints the report
    /// before this error).
    #[error("Azure Policy {initiative} would deny {denials} resource(s)")]
    PolicyDenied { initiative: String, denials: usize },

    /// A command line that parses but cannot be used (`--set` without `=`, a bad `--blueprint`).
    #[error("{message}")]
    Usage { message: String },

    /// The fleet repository's layout: a lock that is not one, a path through a symbolic link.
    #[error(transparent)]
    Repo(#[from] crate::repo::Error),

    /// A bug in trustprint.
    #[error("internal error (a bug in trustprint, please report it): {message}")]
    Internal { message: String },
}

/// The error of a feature that sits above the crate's `Error` (fleet, cost, dataset): it converts itself into
/// [`Error::Feature`] (`impl From<ItsError> for crate::Error` lives with the feature).
pub trait FeatureError: std::error::Error + Send + Sync + 'static {
    /// The exit code this error ends the process with.
    fn exit_code(&self) -> ExitCode;
    /// The `kind` of the `--output json` error document.
    fn kind(&self) -> &'static str;
}

/// A feature's error, displayed (and its causes chained) exactly as the feature's own.
pub struct Feature(pub Box<dyn FeatureError>);

impl Feature {
    /// The feature's error as its own type, when it is one.
    pub fn downcast_ref<T: FeatureError>(&self) -> Option<&T> {
        let e: &dyn std::error::Error = &*self.0;
        e.downcast_ref::<T>()
    }
}

impl std::fmt::Debug for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for Feature {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<crate::render::Error> for Error {
    fn from(e: crate::render::Error) -> Self {
        use crate::render::Error as R;
        match e {
            R::Io { path, source } => Error::Io { path, source },
            R::Blueprint {
                source_desc,
                message,
            } => Error::Blueprint {
                source_desc,
                message,
            },
            e @ (R::Template { .. } | R::RenderedJson { .. }) => Error::Render(e),
            R::OutDir { path, message } => Error::OutDir { path, message },
            R::Internal { message } => Error::Internal { message },
        }
    }
}

impl From<crate::record::Error> for Error {
    fn from(e: crate::record::Error) -> Self {
        use crate::record::Error as R;
        match e {
            R::Io { path, source } => Error::Io { path, source },
            R::Git { context, source } => Error::Git { context, source },
            R::OutDir { path, message } => Error::OutDir { path, message },
            e @ (R::FleetLocked { .. } | R::FleetDirty { .. }) => Error::Record(e),
            R::Repo(e) => Error::Repo(e),
            R::Internal { message } => Error::Internal { message },
        }
    }
}

impl From<crate::check::Error> for Error {
    fn from(e: crate::check::Error) -> Self {
        match e {
            crate::check::Error::Expand { deployment, source } => {
                Error::Expand { deployment, source }
            }
        }
    }
}

impl From<crate::deploy::DeployError> for Error {
    fn from(e: crate::deploy::DeployError) -> Self {
        match e {
            crate::deploy::DeployError::Internal { message } => Error::Internal { message },
            e => Error::Deploy(Box::new(e)),
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

impl From<crate::blueprint::Error> for Error {
    fn from(e: crate::blueprint::Error) -> Self {
        use crate::blueprint::Error as B;
        match e {
            B::Io { path, source } => Error::Io { path, source },
            B::Manifest { file, diagnostics } => Error::Manifest { file, diagnostics },
            B::Blueprint {
                source_desc,
                message,
            } => Error::Blueprint {
                source_desc,
                message,
            },
            B::Git { context, source } => Error::Git { context, source },
            B::OutDir { path, message } => Error::OutDir { path, message },
            B::Internal { message } => Error::Internal { message },
        }
    }
}

impl From<crate::load::Error> for Error {
    fn from(e: crate::load::Error) -> Self {
        match e {
            crate::load::Error::Blueprint(e) => e.into(),
            crate::load::Error::Values(e) => e.into(),
        }
    }
}

impl From<crate::values::Error> for Error {
    fn from(e: crate::values::Error) -> Self {
        match e {
            crate::values::Error::Read(e) => e.into(),
            crate::values::Error::Invalid { file, diagnostics } => {
                Error::Values { file, diagnostics }
            }
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

impl Error {
    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Values { .. }
            | Error::Manifest { .. }
            | Error::Blueprint { .. }
            | Error::Expand { .. }
            | Error::Render(_)
            | Error::Usage { .. } => ExitCode::InvalidInput,
            Error::Arm(crate::arm::Error::CredentialConfig { .. }) => ExitCode::InvalidInput,
            Error::Io { .. }
            | Error::Git { .. }
            | Error::OutDir { .. }
            | Error::Record(_)
            | Error::Cloud(_) => ExitCode::Failure,
            Error::Arm(_) => ExitCode::Failure,
            Error::Violations { .. } | Error::PolicyDenied { .. } => ExitCode::Violations,
            Error::Policy(_) => ExitCode::InvalidInput,
            Error::Deploy(e) => e.exit_code(),
            Error::Feature(e) => e.0.exit_code(),
            Error::Repo(crate::repo::Error::Io { .. }) => ExitCode::Failure,
            Error::Repo(_) => ExitCode::InvalidInput,
            Error::Internal { .. } => ExitCode::Internal,
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
