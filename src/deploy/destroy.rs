//! Destroy: what the trust's deployments created, removed in reverse dependency order.
//!
//! Contract: [`destroy`] deletes each resource-group deployment's group (last deployed first), then the
//! resources the subscription-scope deployments declare (role, policy and other assignments, resource
//! groups, budgets; last declared first) and those deployments' records. Whatever is already gone counts
//! as deleted, so a rerun after a failure finishes the job. A deployment made as a stack is destroyed by
//! deleting its stack with its declared `actionOnUnmanage`: what it deletes goes (and a resource group whose
//! resources are deleted goes with them), what it detaches stays, unmanaged and unprotected, and is listed.

use super::{deployment_name, scope_of, Connection, DeployError};
use crate::model::{Rendered, Scope};
use serde::{Deserialize, Serialize};

/// What destroy removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestroyReport {
    pub target: super::TargetRef,
    pub resource_groups: Vec<String>,
    pub resources: Vec<String>,
    pub deployments: Vec<String>,
    /// Deployment stacks deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stacks: Vec<String>,
    /// Resources their stacks detached: left in place as the manifest says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detached: Vec<String>,
    pub started_at: String,
    pub finished_at: String,
}

impl DestroyReport {
    /// As text.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        for g in &self.resource_groups {
            s.push_str(&format!("  - resource group {g}\n"));
        }
        for r in &self.resources {
            s.push_str(&format!("  - {r}\n"));
        }
        for r in &self.stacks {
            s.push_str(&format!("  - stack {r}\n"));
        }
        for r in &self.detached {
            s.push_str(&format!("  / kept (detached by its stack): {r}\n"));
        }
        s.push_str(&format!(
            "Destroy complete: {} resource group(s), {} subscription-level resource(s), {} deployment record(s) removed",
            self.resource_groups.len(),
            self.resources.len(),
            self.deployments.len()
        ));
        if !self.stacks.is_empty() {
            s.push_str(&format!(
                "; {} stack(s) deleted, {} resource(s) kept as their stacks detach them",
                self.stacks.len(),
                self.detached.len()
            ));
        }
        s.push('\n');
        s
    }
}

/// Delete the trust's estate; `bypass_out_of_sync` deletes a stack even when Azure says its list of managed
/// resources is out of sync.
pub async fn destroy(
    conn: &Connection,
    rendered: &Rendered,
    bypass_out_of_sync: bool,
) -> Result<DestroyReport, DeployError> {
    let sub = &conn.target.subscription_id;
    let started_at = super::now();
    let mut report = DestroyReport {
        target: conn.target.clone(),
        resource_groups: Vec::new(),
        resources: Vec::new(),
        deployments: Vec::new(),
        stacks: Vec::new(),
        detached: Vec::new(),
        started_at,
        finished_at: String::new(),
    };
    for d in rendered.deployments.iter().rev() {
        if let Some(settings) = &d.stack {
            let scope = scope_of(d, sub);
            let name = super::stack::stack_name(d);
            let action = super::stack::action_on_unmanage(settings);
            let exists = super::stack::group_exists(conn, d, "destroy").await?;
            let current = if exists {
                conn.client
                    .get_stack(&scope, &name)
                    .await
                    .map_err(DeployError::arm(format!(
                        "destroy {}: reading stack {name}",
                        d.name
                    )))?
            } else {
                None
            };
            if let Some(stack) = current {
                tracing::info!(stack = %name, "deleting stack");
                conn.client
                    .delete_stack(&scope, &name, &action, bypass_out_of_sync)
                    .await
                    .map_err(|e| match e.code() {
                        Some(c) if c.eq_ignore_ascii_case(super::stack::OUT_OF_SYNC) => {
                            DeployError::StackOutOfSync {
                                message: super::stack::out_of_sync_message(
                                    &d.name, &name, "destroy",
                                ),
                            }
                        }
                        _ => {
                            DeployError::arm(format!("destroy {}: deleting stack {name}", d.name))(
                                e,
                            )
                        }
                    })?;
                report.stacks.push(stack.id.clone());
                for r in &stack.resources {
                    let group =
                        super::plan::resource_type(&r.id) == "Microsoft.Resources/resourceGroups";
                    let kept = if group {
                        action.resource_groups
                    } else {
                        action.resources
                    };
                    if kept == crate::model::UnmanageAction::Detach {
                        report.detached.push(r.id.clone());
                    }
                }
            }
            // Its resources deleted, the group trustprint made for them goes too; detached, it stays.
            if let (Scope::ResourceGroup, Some(rg), crate::model::UnmanageAction::Delete) =
                (d.scope, &d.resource_group, action.resources)
            {
                if exists && !report.resource_groups.contains(rg) {
                    conn.client
                        .delete_resource_group(sub, rg)
                        .await
                        .map_err(DeployError::arm(format!(
                            "destroy {}: deleting resource group {rg}",
                            d.name
                        )))?;
                    report.resource_groups.push(rg.clone());
                }
            }
            continue;
        }
        match (d.scope, &d.resource_group) {
            (Scope::ResourceGroup, Some(rg)) => {
                if report.resource_groups.contains(rg) {
                    continue;
                }
                tracing::info!(group = %rg, "deleting resource group");
                conn.client
                    .delete_resource_group(sub, rg)
                    .await
                    .map_err(DeployError::arm(format!(
                        "destroy {}: deleting resource group {rg}",
                        d.name
                    )))?;
                report.resource_groups.push(rg.clone());
            }
            _ => {
                let ctx = crate::armexpr::StaticContext {
                    subscription_id: sub.clone(),
                    tenant_id: conn.tenant_id.clone(),
                };
                let resources =
                    crate::armexpr::expand(d, &ctx).map_err(|e| DeployError::Target {
                        message: format!("destroy {}: expanding the template: {e}", d.name),
                    })?;
                for r in resources.iter().rev() {
                    let t = r.resource_type.to_ascii_lowercase();
                    if t == "microsoft.resources/deployments" {
                        continue;
                    }
                    if t == "microsoft.resources/resourcegroups" {
                        if report.resource_groups.contains(&r.name) {
                            continue;
                        }
                        conn.client
                            .delete_resource_group(sub, &r.name)
                            .await
                            .map_err(DeployError::arm(format!(
                                "destroy {}: deleting resource group {}",
                                d.name, r.name
                            )))?;
                        report.resource_groups.push(r.name.clone());
                        continue;
                    }
                    if !r.id.to_ascii_lowercase().starts_with("/subscriptions/") {
                        continue;
                    }
                    // Resources inside a group just deleted went with it.
                    let in_deleted_group = report.resource_groups.iter().any(|g| {
                        r.id.to_ascii_lowercase().starts_with(&format!(
                            "/subscriptions/{sub}/resourcegroups/{}/",
                            g.to_ascii_lowercase()
                        ))
                    });
                    if in_deleted_group {
                        continue;
                    }
                    conn.client
                        .delete_resource(&r.id, &r.api_version)
                        .await
                        .map_err(DeployError::arm(format!(
                            "destroy {}: deleting {}",
                            d.name, r.id
                        )))?;
                    report.resources.push(r.id.clone());
                }
                let name = deployment_name(d);
                conn.client
                    .delete_deployment(&scope_of(d, sub), &name)
                    .await
                    .map_err(DeployError::arm(format!(
                        "destroy {}: deleting deployment {name}",
                        d.name
                    )))?;
                report.deployments.push(name);
            }
        }
    }
    report.finished_at = super::now();
    Ok(report)
}
