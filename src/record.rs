//! Stage 6, record: the stamped trust committed to the fleet git repository.
//!
//! Contract: [`record`] writes `trusts/<ODS>/values.yaml`, `trusts/<ODS>/rendered/...` and
//! `trusts/<ODS>/trustprint.lock` and makes one commit (git2), or none when nothing changed. The repository is
//! created when missing; a lock keeps two trustprints from writing it at once; a failure leaves it as it was.

use std::path::Path;

/// What recording did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordOutcome {
    /// The new commit, or None when the inputs were identical to what was recorded.
    pub commit: Option<String>,
    pub trust_dir: String,
}

/// Commit a rendered trust to the fleet repository at `fleet`.
pub fn record(
    fleet: &Path,
    loaded: &crate::load::Loaded,
    rendered: &crate::model::Rendered,
) -> Result<RecordOutcome, crate::Error> {
    let _ = (fleet, loaded, rendered);
    todo!("record stage")
}
