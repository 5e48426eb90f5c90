//! Stage 1, load: the blueprint manifest and a trust's values, both validated.
//!
//! Contract: [`load`] takes where the blueprint comes from and the values inputs, and returns a [`Loaded`] in
//! which the manifest is valid, every template path is inside the blueprint's template roots, and the values
//! satisfy every parameter (defaults filled in). Every problem in the values is reported at once.

use crate::blueprint::{Blueprint, SourceSpec};
use crate::values::{Values, ValuesInput};

/// A blueprint and a trust's values, both valid. The blueprint is shared: the trusts of a fleet run hold
/// one between them.
#[derive(Debug)]
pub struct Loaded {
    pub blueprint: std::sync::Arc<Blueprint>,
    pub values: Values,
}

/// Why loading failed: the blueprint's error or the values'. `crate::Error` maps each as it maps the inner one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Blueprint(#[from] crate::blueprint::Error),
    #[error(transparent)]
    Values(#[from] crate::values::Error),
}

/// Open the blueprint (fetching it when it is a git URL) and validate the values against its manifest.
pub fn load(source: &SourceSpec, input: &ValuesInput) -> Result<Loaded, Error> {
    let blueprint = crate::blueprint::open(source)?;
    let values = crate::values::load(&blueprint.manifest, input)?;
    Ok(Loaded {
        blueprint: std::sync::Arc::new(blueprint),
        values,
    })
}
