//! The fleet repository's layout, in one room: where a trust's folder, values, rendered files, lock and
//! evidence live (`trusts/<ODS>/...`), and the lock file's format, read with its parse errors naming the file.
//! No other module spells `trusts/` or parses a lock; they ask a [`FleetRepo`].
//!
//! Contract: paths are built from an [`OdsCode`]-shaped string the caller has validated; [`FleetRepo::read_lock`]
//! is `Ok(None)` only when the trust has no lock yet, and any other failure (unreadable, not YAML, not a
//! lock) is an [`Error`] naming the file. [`FleetRepo::refuse_links`] refuses a path under the repository that
//! passes through a symbolic link, so nothing is written outside it.
//!
//! [`OdsCode`]: crate::types::OdsCode

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The folder of trusts in a fleet repository.
pub const TRUSTS_DIR: &str = "trusts";
/// The lock file's name inside a trust's folder.
pub const LOCK_FILE: &str = "trustprint.lock";
/// The values file's name inside a trust's folder.
pub const VALUES_FILE: &str = "values.yaml";
/// The folder of rendered files inside a trust's folder.
pub const RENDERED_DIR: &str = "rendered";
/// The folder of evidence packs inside a trust's folder (`trustprint evidence --fleet`).
pub const EVIDENCE_DIR: &str = "evidence";

/// What can go wrong reading the fleet repository's layout.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A trust's lock file is not a trustprint lock.
    #[error(
        "{}: not a trustprint lock ({message}); it is written by trustprint: restore it with `git checkout` \
         or stamp the trust again",
        path.display()
    )]
    Lock { path: PathBuf, message: String },
    /// A path trustprint would write passes through a symbolic link.
    #[error(
        "{}: {} is a symbolic link; trustprint writes only inside the fleet repository and does not follow \
         links there",
        fleet.display(), link
    )]
    Symlink { fleet: PathBuf, link: String },
}

/// `trustprint.lock`: what a trust was stamped from, with content hashes. No timestamps: stamping identical
/// inputs again must produce identical bytes (and so no commit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    pub trust: crate::model::TrustRef,
    pub blueprint: crate::model::BlueprintRef,
    pub trustprint_version: String,
    pub values: LockedFile,
    /// Rendered file name (under `rendered/`) → `sha256:` of its bytes.
    pub rendered: BTreeMap<String, String>,
    /// The rendering's own hash ([`crate::model::Rendered::hash`]).
    pub render_hash: String,
    /// `sha256:` over the values file's and every rendered file's hash: one hash for the whole record.
    pub content_hash: String,
    /// The last apply or destroy (deployment and correlation ids, outputs, resource ids, timestamps,
    /// succeeded or failed); absent until trustprint deploys the trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<crate::deploy::DeploymentRecord>,
}

impl Lock {
    /// The lock file's text: a header saying who writes it, then the YAML.
    pub fn to_text(&self) -> String {
        format!(
            "# Written by trustprint: what this trust was stamped from. Do not edit.\n{}",
            serde_yaml::to_string(self).unwrap_or_default()
        )
    }

    /// Whether the lock records a successful apply.
    pub fn applied(&self) -> bool {
        matches!(
            &self.deployment,
            Some(crate::deploy::DeploymentRecord::Apply(r)) if r.succeeded
        )
    }
}

/// A file recorded with its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedFile {
    pub file: String,
    pub hash: String,
}

/// A fleet repository on disk: its layout and its locks.
#[derive(Debug, Clone)]
pub struct FleetRepo {
    root: PathBuf,
}

impl FleetRepo {
    /// The fleet repository at `root` (which may not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FleetRepo { root: root.into() }
    }

    /// The repository's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The trust's folder relative to the repository, `/` separated (`trusts/RM3`).
    pub fn trust_rel(ods: &str) -> String {
        format!("{TRUSTS_DIR}/{ods}")
    }

    /// A file of the trust's folder relative to the repository (`trusts/RM3/values.yaml`).
    pub fn trust_file_rel(ods: &str, file: &str) -> String {
        format!("{TRUSTS_DIR}/{ods}/{file}")
    }

    /// The trust's values file relative to the repository.
    pub fn values_rel(ods: &str) -> String {
        Self::trust_file_rel(ods, VALUES_FILE)
    }

    /// The folder of every trust.
    pub fn trusts_dir(&self) -> PathBuf {
        self.root.join(TRUSTS_DIR)
    }

    /// The trust's folder.
    pub fn trust_dir(&self, ods: &str) -> PathBuf {
        self.trusts_dir().join(ods)
    }

    /// The trust's values file.
    pub fn values_path(&self, ods: &str) -> PathBuf {
        self.trust_dir(ods).join(VALUES_FILE)
    }

    /// The trust's lock file.
    pub fn lock_path(&self, ods: &str) -> PathBuf {
        self.trust_dir(ods).join(LOCK_FILE)
    }

    /// The trust's lock, `None` when it has none yet; a lock that cannot be read or parsed is an error
    /// naming the file.
    pub fn read_lock(&self, ods: &str) -> Result<Option<Lock>, Error> {
        let path = self.lock_path(ods);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::Io { path, source }),
        };
        serde_yaml::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Lock {
                message: e.to_string(),
                path,
            })
    }

    /// The ODS codes of the trusts with a folder in the repository, sorted.
    pub fn trust_folders(&self) -> Result<Vec<String>, Error> {
        let dir = self.trusts_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(Error::Io { path: dir, source }),
        };
        let mut out: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Refuse `rel` (a path under the repository, `/` separated) when it, or any folder on the way to it,
    /// is a symbolic link: writing through it would write outside the repository (a `trusts` link to
    /// elsewhere). Parts that do not exist yet are fine.
    pub fn refuse_links(&self, rel: &str) -> Result<(), Error> {
        let mut path = self.root.clone();
        let mut walked = String::new();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            path.push(part);
            if !walked.is_empty() {
                walked.push('/');
            }
            walked.push_str(part);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::Symlink {
                        fleet: self.root.clone(),
                        link: walked,
                    })
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(source) => return Err(Error::Io { path, source }),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_lock_is_none_and_a_broken_one_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let repo = FleetRepo::new(dir.path());
        assert!(repo.read_lock("RM3").unwrap().is_none());
        std::fs::create_dir_all(repo.trust_dir("RM3")).unwrap();
        std::fs::write(repo.lock_path("RM3"), "trust: [unclosed\n").unwrap();
        let err = repo.read_lock("RM3").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{}: not a trustprint lock (",
                repo.lock_path("RM3").display()
            )),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_path_through_a_symbolic_link_is_refused_naming_the_link() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let repo = FleetRepo::new(dir.path().join("fleet"));
        std::fs::create_dir_all(repo.root()).unwrap();
        repo.refuse_links("trusts/RM3/values.yaml").unwrap();
        std::os::unix::fs::symlink(outside.path(), repo.trusts_dir()).unwrap();
        let err = repo.refuse_links("trusts/RM3/values.yaml").unwrap_err();
        assert!(
            err.to_string().contains(": trusts is a symbolic link;"),
            "{err}"
        );
    }
}
