//! Azure Policy, evaluated before deployment: Microsoft's definition language and built-in definitions
//! over a rendered trust.
//!
//! # Contract
//! - [`evaluate`]: a [`Library`] (definitions and aliases), an [`Initiative`], an [`Assignment`] (scope,
//!   `notScopes`, enforcement mode, parameter values, exemptions) and the trust's expanded resources give a
//!   [`Report`]: per policy and resource compliant, non-compliant (the field, its value, what was expected),
//!   exempt or not evaluable before deployment (with the reason); per initiative group; the compliance
//!   percentage Azure's dashboard would show; and the enforced `deny` effects the trust would hit.
//! - Nothing is guessed. An alias the shipped alias data lacks, a property that is still an ARM expression
//!   (`[reference(...)]`), a related resource only Azure creates (Defender assessments, guest configuration)
//!   or a data-plane mode make the outcome "not evaluable before deployment" with the reason.
//! - The language is Microsoft's (learn.microsoft.com, "Azure Policy definition structure"): `allOf`/`anyOf`/
//!   `not`; `field` (`type`, `name`, `fullName`, `kind`, `location`, `id`, `identity.type`, `tags`,
//!   `tags['x']`, aliases with `[*]`), `value` and `count` (field and value counts with `where`,
//!   `current()`); every operator; template functions through [`crate::armexpr`]; effects `deny`, `audit`,
//!   `append`, `modify`, `auditIfNotExists`, `deployIfNotExists` (existence conditions over the trust's
//!   related resources, `existenceScope`, `roleDefinitionIds`), `denyAction`, `disabled`, `manual`; modes
//!   `All` and `Indexed`.
//! - The local cloud uses the same engine for requests: [`evaluate::on_request`] gives what a `deny`,
//!   `append` or `modify` policy does to a PUT.

pub mod alias;
pub mod condition;
pub mod data;
pub mod effect;
pub mod evaluate;
pub mod model;
pub mod report;

pub use condition::{Reason, Subject, Undecidable};
pub use data::Library;
pub use effect::{Effect, Operation};
pub use evaluate::evaluate;
pub use model::{Assignment, Definition, Enforcement, Exemption, Group, Initiative, Reference};
pub use report::{PolicyResult, PolicyState, Report, ResourceOutcome, State, Summary};

use std::path::PathBuf;

/// What can go wrong loading or assigning a policy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A definition or initiative lacks a member or has the wrong kind of value.
    #[error("policy {definition}: {member} must be {expected}")]
    Definition {
        definition: String,
        member: String,
        expected: String,
    },
    /// An initiative refers to a definition neither built in nor given.
    #[error(
        "initiative {initiative}: policy {reference} refers to definition {definition}, which is neither \
         a built-in trustprint ships nor in the file"
    )]
    UnknownDefinition {
        initiative: String,
        reference: String,
        definition: String,
    },
    /// A definition's parameter has no value.
    #[error("initiative {initiative}: policy {reference}: parameter {parameter} {message}")]
    Parameter {
        initiative: String,
        reference: String,
        parameter: String,
        message: String,
    },
    /// A rendered ARM template could not be evaluated before its resources were checked.
    #[error("deployment '{deployment}': {source}")]
    Expand {
        deployment: String,
        #[source]
        source: crate::armexpr::Error,
    },
    /// `--policy` names neither a shipped initiative nor a file.
    #[error("unknown policy {name:?}: expected uk-nhs, ncsc-caf or the path of a policy definition or initiative JSON file")]
    UnknownInitiative { name: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: not JSON: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// An initiative by the name `--policy` takes: `uk-nhs`, `ncsc-caf`, or a JSON file's path.
pub fn resolve(name: &str) -> Result<(std::borrow::Cow<'static, Library>, Initiative), Error> {
    let builtin = Library::builtin();
    if let Some(i) = builtin.initiative(name) {
        return Ok((std::borrow::Cow::Borrowed(builtin), i));
    }
    let path = std::path::Path::new(name);
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || path.exists()
    {
        let (lib, i) = Library::load_file(path)?;
        return Ok((std::borrow::Cow::Owned(lib), i));
    }
    Err(Error::UnknownInitiative {
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests;

/// Evaluate initiatives (`--policy` names) over a rendered trust: every deployment expanded with `ctx`
/// (as the guardrails see it), assigned at the trust's subscription with default parameters.
pub fn check_rendered(
    rendered: &crate::model::Rendered,
    ctx: &crate::armexpr::StaticContext,
    names: &[String],
) -> Result<Vec<Report>, Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut resources = Vec::new();
    for deployment in &rendered.deployments {
        let expanded = crate::armexpr::expand(deployment, ctx).map_err(|source| Error::Expand {
            deployment: deployment.name.clone(),
            source,
        })?;
        resources.extend(expanded);
    }
    let assignment = Assignment::at(format!("/subscriptions/{}", ctx.subscription_id));
    names
        .iter()
        .map(|name| {
            let (library, initiative) = resolve(name)?;
            evaluate(&library, &initiative, &assignment, &resources)
        })
        .collect()
}
