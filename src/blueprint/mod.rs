//! Blueprints: the manifest model and where a blueprint comes from (a folder, a git URL at a ref, or the copy
//! embedded in the binary).
//!
//! Contract: [`open`] returns a [`Blueprint`] whose manifest is valid and whose every deployment template exists
//! inside one of the blueprint's template roots (no `..`, no absolute paths, no symlinks out).

pub mod azure;
mod error;
mod git;
pub mod import;
pub mod manifest;
mod migrate;
pub mod param;
pub mod release;
mod source;

pub use error::Error;
pub use manifest::{
    Deployment, Guardrails, LockMode, Locks, Manifest, Migration, Output, ParamType, Parameter,
    RuleSet, ScannerSkip,
};
pub use migrate::Migrated;
pub use release::open_version;
pub use source::{cache_dir, lint};

use std::path::PathBuf;

/// Where to find a blueprint, as given to `--blueprint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// The `blueprints/exemplar-epr` copy embedded in the binary (no `--blueprint`).
    Embedded,
    /// A folder holding `blueprint.yaml`.
    Dir(PathBuf),
    /// `https://host/org/repo.git//blueprints/exemplar-epr@v1.2.0` (also `file://`): repository URL, the folder
    /// inside it, and a ref (tag, branch or commit).
    Git {
        url: String,
        subdir: String,
        reference: Option<String>,
    },
}

/// A loaded blueprint: its valid manifest and its template files.
#[derive(Debug, Clone)]
pub struct Blueprint {
    pub manifest: Manifest,
    /// Display form of where it came from (`embedded:exemplar-epr`, a path, or `url//subdir@ref`).
    pub source: String,
    /// The git commit it was read from, when it came from git (or from a folder inside a git work tree).
    pub commit: Option<String>,
    /// Every template under the template roots: (path relative to its root, file text), sorted by path.
    pub templates: Vec<(String, String)>,
    /// The manifest file as named in diagnostics (`blueprints/exemplar-epr/blueprint.yaml`).
    pub manifest_file: String,
    /// The manifest's text as read (for positions in `blueprint lint` warnings).
    pub manifest_text: String,
}

impl Blueprint {
    /// The blueprint reference recorded with every rendering.
    pub fn reference(&self) -> crate::model::BlueprintRef {
        crate::model::BlueprintRef {
            name: self.manifest.name.clone(),
            version: self.manifest.version.to_string(),
            source: self.source.clone(),
            commit: self.commit.clone(),
        }
    }
}

/// Open a blueprint: read and validate its manifest and load its templates. Git sources are fetched with git2
/// into a cache (`$TRUSTPRINT_CACHE`, else the user cache dir) and checked out at the ref.
pub fn open(source: &SourceSpec) -> Result<Blueprint, Error> {
    source::open(source)
}
