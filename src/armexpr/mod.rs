//! The ARM template language: expression parser and evaluator, and template expansion (parameters, variables,
//! conditions, copy loops, child and extension resources, nested deployments). One evaluator serves both the
//! guardrails (to resolve `[parameters('x')]` and friends before checking) and the local cloud (to deploy).
//!
//! # Contract
//! - [`expand`]: `RenderedDeployment` → `Vec<model::Resource>`, static: nothing is deployed, so values that
//!   need `reference()` / `list*()` stay as their expression text, secrets are a placeholder, a condition
//!   that needs deployed state counts as true, nested deployments are flattened into their resources (which
//!   go into the nested deployment's target resource group). Anything the template language does not allow,
//!   or trustprint does not evaluate, is an [`Error`] naming it (ARM's `InvalidTemplate`): never a guess.
//! - [`Plan`]: the engine API for the local cloud. A template + parameter values + a [`DeploymentScope`] give
//!   concrete resources as a DAG ([`Plan::layers`]: each layer can be deployed in parallel; cycles are an
//!   error). Each [`Node`] has its id, type, apiVersion, name and a body evaluated as far as possible; once
//!   the resources it references exist, [`Plan::evaluate`] gives the final body through a [`Resolver`]
//!   callback. Nested deployments are nodes of kind [`NodeKind::Deployment`]: [`Plan::nested`] plans them
//!   (inner or outer evaluation scope). [`Plan::outputs`] evaluates the outputs at the end.
//!
//! # Example: the engine's loop
//! ```
//! use trustprint::armexpr::{DeploymentScope, Mode, NodeKind, Plan, Resolver, Error};
//! use serde_json::{json, Map, Value};
//!
//! struct Deployed(std::sync::Mutex<Map<String, Value>>);
//! impl Resolver for Deployed {
//!     fn reference(&self, id: &str, _: Option<&str>, _: bool) -> Result<Value, Error> {
//!         self.0.lock().unwrap().get(&id.to_lowercase()).cloned().ok_or_else(|| Error::Resolver {
//!             code: "ResourceNotFound".into(),
//!             message: format!("The Resource '{id}' was not found."),
//!         })
//!     }
//! }
//!
//! let template = json!({
//!     "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
//!     "contentVersion": "1.0.0.0",
//!     "parameters": {"prefix": {"type": "string", "defaultValue": "app"}},
//!     "resources": [
//!         {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-09-01",
//!          "name": "[concat(parameters('prefix'), '-vnet')]", "location": "[resourceGroup().location]",
//!          "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}},
//!         {"type": "Microsoft.Network/networkInterfaces", "apiVersion": "2023-09-01", "name": "nic",
//!          "location": "[resourceGroup().location]",
//!          "properties": {"space": "[reference(concat(parameters('prefix'), '-vnet')).addressSpace]"}}
//!     ],
//!     "outputs": {"vnet": {"type": "string",
//!         "value": "[resourceId('Microsoft.Network/virtualNetworks', 'app-vnet')]"}}
//! });
//! let scope = DeploymentScope::resource_group("sub-1", "tenant-1", "rg-app", "uksouth", "deploy-1");
//! let plan = Plan::new(&template, &Map::new(), &scope, Mode::Strict)?;
//! // The nic references the vnet, so it waits for it: two layers.
//! assert_eq!(plan.layers()?, vec![vec![0], vec![1]]);
//! assert_eq!(plan.nodes[1].body["properties"]["space"], "[reference(concat(parameters('prefix'), '-vnet')).addressSpace]");
//!
//! let deployed = Deployed(Default::default());
//! for layer in plan.layers()? {
//!     for i in layer {   // the nodes of one layer may run in parallel
//!         let node = &plan.nodes[i];
//!         assert_eq!(node.kind, NodeKind::Resource);
//!         let body = plan.evaluate(i, &deployed)?;
//!         // ... PUT the body; then remember what reference() should see:
//!         deployed.0.lock().unwrap().insert(node.id.to_lowercase(), body["properties"].clone());
//!     }
//! }
//! assert_eq!(plan.evaluate(1, &deployed)?["properties"]["space"], json!({"addressPrefixes": ["10.0.0.0/16"]}));
//! let outputs = plan.outputs(&deployed)?;
//! assert_eq!(outputs["vnet"]["value"],
//!     "/subscriptions/sub-1/resourceGroups/rg-app/providers/Microsoft.Network/virtualNetworks/app-vnet");
//! # Ok::<(), Error>(())
//! ```

mod error;
mod eval;
mod functions;
mod ids;
mod parse;
mod secure;
mod symbolic;
mod template;

pub use error::Error;
pub use eval::{
    azure_cloud, Context, CopyFrame, Evaluator, Scope, MAX_EVAL_DEPTH, MAX_EVAL_STEPS,
    MAX_VALUE_BYTES,
};
pub use functions::{
    lookup, markdown_table, registry, supported, to_text, Family, FunctionDef, Kind,
};
pub use ids::{
    guid, management_group_id, provider_path, resource_id_at, unique_string, GUID_NAMESPACE,
};
pub use parse::{classify, parse, Expr, Template, MAX_DEPTH};
pub use secure::{secure_outputs, SecureOutput};
pub use template::{
    parameter_values, secret_placeholder, DeploymentScope, Mode, Node, NodeKind, Plan, Resolver,
    ResourceGroupScope, Unresolved,
};

use crate::model::{RenderedDeployment, Resource, Scope as DeploymentKind};

/// The subscription id used when none is known yet.
pub const PLACEHOLDER_SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";

/// What a template is evaluated against when nothing is deployed yet (for checks and estimates).
#[derive(Debug, Clone)]
pub struct StaticContext {
    /// Subscription id; a placeholder (`00000000-0000-0000-0000-000000000000`) when unknown.
    pub subscription_id: String,
    /// Tenant id for `tenant()` and `subscription().tenantId`; a placeholder when unknown.
    pub tenant_id: String,
}

impl Default for StaticContext {
    fn default() -> Self {
        StaticContext {
            subscription_id: PLACEHOLDER_SUBSCRIPTION.to_string(),
            tenant_id: PLACEHOLDER_SUBSCRIPTION.to_string(),
        }
    }
}

/// Evaluate a rendered deployment into its concrete resources (nested deployments flattened). `reference()`
/// and other values only known after deployment stay as their expression strings.
pub fn expand(
    deployment: &RenderedDeployment,
    ctx: &StaticContext,
) -> Result<Vec<Resource>, Error> {
    let plan = static_plan(deployment, ctx)?;
    let mut out = Vec::new();
    flatten(plan, &deployment.name, &mut out, 0)?;
    Ok(out)
}

/// How many steps the local cloud's engine (`cloud::deploy`) takes to run `deployment`: one per dependency
/// layer of its resources (the engine writes a layer, then waits its operation time once), plus, for each
/// nested deployment, the steps of its own template, which the engine runs inside the layer one nested
/// deployment after another. The longest `dependsOn` chain of a template without nested deployments.
pub fn engine_steps(deployment: &RenderedDeployment, ctx: &StaticContext) -> Result<usize, Error> {
    fn steps(plan: &Plan, depth: usize) -> Result<usize, Error> {
        let mut n = 0;
        for layer in plan.layers()? {
            n += 1;
            for i in layer {
                if plan.nodes[i].kind == NodeKind::Deployment {
                    if depth >= MAX_NESTING {
                        return Err(Error::Unsupported {
                            construct: format!(
                                "nested deployments more than {MAX_NESTING} levels deep"
                            ),
                        });
                    }
                    n += steps(&plan.nested(i, &Unresolved, None)?, depth + 1)?;
                }
            }
        }
        Ok(n)
    }
    steps(&static_plan(deployment, ctx)?, 0)
}

/// A rendered deployment's template planned statically (secrets as placeholders).
fn static_plan(deployment: &RenderedDeployment, ctx: &StaticContext) -> Result<Plan, Error> {
    let scope = match (deployment.scope, &deployment.resource_group) {
        (DeploymentKind::ResourceGroup, Some(rg)) => DeploymentScope::resource_group(
            &ctx.subscription_id,
            &ctx.tenant_id,
            rg,
            &deployment.location,
            &deployment.name,
        ),
        (DeploymentKind::ResourceGroup, None) => {
            return Err(Error::template(format!(
                "deployment '{}' is at resource group scope but names no resource group",
                deployment.name
            )))
        }
        (DeploymentKind::Subscription, _) => DeploymentScope::subscription(
            &ctx.subscription_id,
            &ctx.tenant_id,
            &deployment.location,
            &deployment.name,
        ),
    };
    let mut params = parameter_values(&deployment.parameters, Mode::Static)?;
    for name in deployment.secret_env.keys() {
        params.insert(
            name.clone(),
            serde_json::Value::String(secret_placeholder().to_string()),
        );
    }
    Plan::new(&deployment.template, &params, &scope, Mode::Static)
}

/// How many nested deployments deep static expansion follows.
const MAX_NESTING: usize = 16;

/// Move the plan's resources into `out`, recursing into nested deployments (the plan is consumed: bodies are
/// moved, not copied).
fn flatten(
    mut plan: Plan,
    deployment: &str,
    out: &mut Vec<Resource>,
    depth: usize,
) -> Result<(), Error> {
    for i in 0..plan.nodes.len() {
        match plan.nodes[i].kind {
            NodeKind::Deployment => {
                if depth >= MAX_NESTING {
                    return Err(Error::Unsupported {
                        construct: format!(
                            "nested deployments more than {MAX_NESTING} levels deep"
                        ),
                    }
                    .at(|| plan.nodes[i].path.clone()));
                }
                let nested = plan.nested(i, &Unresolved, None)?;
                flatten(nested, deployment, out, depth + 1)?;
            }
            NodeKind::Resource => {
                let node = &mut plan.nodes[i];
                let body = std::mem::take(&mut node.body);
                out.push(Resource {
                    id: std::mem::take(&mut node.id),
                    resource_type: std::mem::take(&mut node.resource_type),
                    api_version: std::mem::take(&mut node.api_version),
                    name: std::mem::take(&mut node.name),
                    location: node.location.take(),
                    tags: body
                        .get("tags")
                        .and_then(serde_json::Value::as_object)
                        .cloned(),
                    body,
                    deployment: deployment.to_string(),
                });
            }
        }
    }
    Ok(())
}
