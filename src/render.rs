//! Stage 2, render: Tera templates → ARM JSON, one template and one parameters file per deployment.
//!
//! Contract: [`render`] takes a loaded blueprint and values and returns a [`Rendered`] whose every template is
//! valid JSON, in dependency order, deterministic (same inputs, same bytes) and hashed. Values placed in
//! `.json.tera` templates are JSON-escaped by construction (autoescape), not by a filter authors must remember.

pub use crate::model::{Rendered, RenderedDeployment};

/// Render every deployment of the trust.
pub fn render(loaded: &crate::load::Loaded) -> Result<Rendered, crate::Error> {
    let _ = loaded;
    todo!("render stage")
}
