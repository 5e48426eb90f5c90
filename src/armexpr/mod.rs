//! The ARM template language: expression parser and evaluator, and template expansion (parameters, variables,
//! conditions, copy loops, nested deployments). One evaluator serves both the guardrails (to resolve
//! `[parameters('x')]` and friends before checking) and the local cloud (to deploy).

use crate::model::{RenderedDeployment, Resource};

/// Everything that can go wrong evaluating a template.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Todo(String),
}

/// What a template is evaluated against when nothing is deployed yet (for checks and estimates).
#[derive(Debug, Clone)]
pub struct StaticContext {
    /// Subscription id; a placeholder (`00000000-0000-0000-0000-000000000000`) when unknown.
    pub subscription_id: String,
    pub tenant_id: String,
}

/// Evaluate a rendered deployment into its concrete resources (nested deployments flattened). `reference()`
/// and other values only known after deployment stay as their expression strings.
pub fn expand(
    deployment: &RenderedDeployment,
    ctx: &StaticContext,
) -> Result<Vec<Resource>, Error> {
    let _ = (deployment, ctx);
    todo!("armexpr")
}
