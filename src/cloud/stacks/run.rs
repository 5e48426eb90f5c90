//! A stack's update as it runs after the PUT has answered: the deployment on the engine, then what the
//! stack stops managing detached or deleted, then its deny assignments replaced and its final state written.

use super::{
    deny, deploy, forget_resource_group, get_row, kind_of, managed_ids, rbac, set_in_sync,
    update_body, Action, AppState, ArmError, Caller, DenyMode, DenySettings, Kind, OnUnmanage,
    Store,
};
use crate::cloud::http;
use axum::http::Method;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::time::Instant;

/// A stack's update, run on a blocking thread after the PUT has answered.
pub(super) struct Run {
    pub(super) id: String,
    pub(super) dep_id: String,
    pub(super) on_unmanage: OnUnmanage,
    pub(super) deny: DenySettings,
    pub(super) deny_scope: Option<String>,
    pub(super) caller: Option<Caller>,
    pub(super) op: String,
}

/// What a deployment did, read from its operations (nested deployments included): the resources it wrote,
/// and those it failed to write with their errors.
pub(super) fn deployed_resources(
    st: &AppState,
    dep_id: &str,
    depth: usize,
) -> (Vec<String>, Vec<(String, Value)>) {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    let Ok(ops) = st.store.deployment_operations(dep_id) else {
        return (ok, failed);
    };
    for o in ops {
        let p = &o["properties"];
        if p["provisioningOperation"] != "Create" {
            continue;
        }
        let Some(id) = p["targetResource"]["id"].as_str() else {
            continue;
        };
        let ty = p["targetResource"]["resourceType"].as_str().unwrap_or("");
        if ty.eq_ignore_ascii_case("Microsoft.Resources/deployments") {
            if depth < 10 {
                let (o2, f2) = deployed_resources(st, id, depth + 1);
                ok.extend(o2);
                failed.extend(f2);
            }
            continue;
        }
        if p["provisioningState"] == "Succeeded" {
            ok.push(id.to_string());
        } else {
            failed.push((id.to_string(), p["statusMessage"]["error"].clone()));
        }
    }
    (ok, failed)
}

pub(super) fn dedup(ids: Vec<String>) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.into_iter()
        .filter(|i| seen.insert(i.to_lowercase()))
        .collect()
}

/// Delete one resource a stack stops managing, as its caller (whose roles must allow it); a resource already
/// gone counts as deleted.
pub(super) fn delete_managed(
    st: &AppState,
    caller: Option<&Caller>,
    id: &str,
) -> Result<(), ArmError> {
    if let Some(c) = caller {
        rbac::authorize_id(
            &st.config.role_assignments,
            &c.client_id,
            &Method::DELETE,
            id,
        )?;
    }
    let segs: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    match kind_of(id) {
        Kind::ResourceGroup => {
            if st.store.get_rg(segs[1], segs[3])?.is_some() {
                st.store.delete_rg_cascade(segs[1], segs[3])?;
                forget_resource_group(st, segs[1], segs[3])?;
            }
            Ok(())
        }
        Kind::ManagementGroup => Err(ArmError::bad_request(
            "DeploymentStackDeleteFailed",
            format!("The local cloud does not emulate management groups and cannot delete '{id}'."),
        )),
        Kind::Resource if deploy::is_under_management_group(id) => {
            deploy::delete_at_management_group(st, id)
        }
        Kind::Resource => {
            st.store.tx(|tx| Store::delete_resource_tree(tx, id))?;
            Ok(())
        }
    }
}

/// Whether a stack can delete the resource: Azure's deployment stacks cannot delete Key Vault secrets (a
/// documented limitation).
pub(super) fn deletable(id: &str) -> bool {
    let lower = id.to_ascii_lowercase();
    let Some((_, rest)) = lower.rsplit_once("/providers/microsoft.keyvault/vaults/") else {
        return true;
    };
    let segs: Vec<&str> = rest.split('/').collect();
    !(segs.len() == 3 && segs[1] == "secrets")
}

/// What unmanaging a set of resources did.
#[derive(Default)]
pub(super) struct Unmanaged {
    pub(super) detached: Vec<String>,
    pub(super) deleted: Vec<String>,
    pub(super) failed: Vec<(String, Value)>,
}

/// Detach or delete `ids` as `on_unmanage` says: resources first (children before parents), then resource
/// groups, then management groups.
pub(super) fn unmanage(
    st: &AppState,
    stack_id: &str,
    caller: Option<&Caller>,
    ids: &[String],
    on_unmanage: OnUnmanage,
) -> Unmanaged {
    let mut order: Vec<&String> = ids.iter().collect();
    order.sort_by_key(|id| {
        let rank = match kind_of(id) {
            Kind::Resource => 0,
            Kind::ResourceGroup => 1,
            Kind::ManagementGroup => 2,
        };
        (rank, std::cmp::Reverse(id.len()))
    });
    let mut out = Unmanaged::default();
    for id in order {
        match on_unmanage.for_id(id) {
            Action::Detach => out.detached.push(id.clone()),
            Action::Delete if !deletable(id) => {
                if on_unmanage.without_delete_support == Some("detach") {
                    out.detached.push(id.clone());
                } else {
                    out.failed.push((
                        id.clone(),
                        ArmError::bad_request(
                            "DeploymentStackResourceDeletionNotSupported",
                            format!("Deployment stacks cannot delete '{id}': Key Vault secrets do not support deletion by a stack. Detach it (actionOnUnmanage.resourcesWithoutDeleteSupport 'detach') and delete it yourself if it must go."),
                        )
                        .to_value(),
                    ));
                }
            }
            Action::Delete => match delete_managed(st, caller, id) {
                Ok(()) => {
                    // Another stack that also managed it no longer lists what it manages accurately.
                    let _ = super::changed_outside(st, id, stack_id);
                    out.deleted.push(id.clone());
                }
                Err(e) => out.failed.push((id.clone(), e.to_value())),
            },
        }
    }
    out
}

/// The resource type of a managed resource's id (2025-07-01 reports it with each reference).
pub(super) fn type_of(id: &str) -> String {
    match kind_of(id) {
        Kind::ResourceGroup => "Microsoft.Resources/resourceGroups".into(),
        Kind::ManagementGroup => "Microsoft.Management/managementGroups".into(),
        Kind::Resource => {
            crate::cloud::ids::parse_str(id).map_or_else(String::new, |r| r.resource_type())
        }
    }
}

pub(super) fn refs(ids: &[String]) -> Value {
    Value::Array(
        ids.iter()
            .map(|i| json!({"id": i, "type": type_of(i)}))
            .collect(),
    )
}

pub(super) fn failed_refs(f: &[(String, Value)]) -> Value {
    Value::Array(
        f.iter()
            .map(|(i, e)| json!({"id": i, "type": type_of(i), "error": e}))
            .collect(),
    )
}

/// A managed resource's current body (a resource group's, or a resource's with secrets redacted).
pub(super) fn current_body(st: &AppState, id: &str) -> Option<Value> {
    let segs: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    match kind_of(id) {
        Kind::ResourceGroup => st
            .store
            .get_rg(segs[1], segs[3])
            .ok()
            .flatten()
            .map(|(b, _)| b),
        _ if deploy::is_under_management_group(id) => {
            deploy::read_at_management_group(st, id).ok().flatten()
        }
        _ => st.store.get_resource(id).ok().flatten().map(http::redact),
    }
}

pub(super) fn within(scope: &str, id: &str) -> bool {
    let s = scope.to_lowercase();
    let i = id.to_lowercase();
    i == s || i.starts_with(&format!("{s}/"))
}

impl Run {
    pub(super) fn execute(self, st: &AppState) {
        let started = Instant::now();
        let _ = deny::suspend_for_stack(st, &self.id);
        self.set_state(st, "deploying");
        deploy::run(st, &self.dep_id);
        if st.is_stopping() {
            // Left as it is: the next start marks the stack interrupted (see `recover`).
            return;
        }
        let result = self.finish(st, started);
        let (status, body) = match result {
            Ok(None) => ("Succeeded", None),
            Ok(Some(e)) => ("Failed", Some(json!({"error": e.to_value()}))),
            Err(e) => ("Failed", Some(json!({"error": e.to_value()}))),
        };
        let _ = http::finish_operation(st, &self.op, status, 200, body);
    }

    fn set_state(&self, st: &AppState, state: &str) {
        // After a stop, the next start owns the stack's state (see `recover`).
        if st.is_stopping() {
            return;
        }
        if let Ok(Some(mut row)) = get_row(st, &self.id) {
            row.body["properties"]["provisioningState"] = json!(state);
            let _ = update_body(st, &self.id, &row.body);
        }
    }

    /// Read the deployment's end, unmanage, replace the deny assignments and write the stack's final state;
    /// returns the stack's error when it failed.
    fn finish(&self, st: &AppState, started: Instant) -> Result<Option<ArmError>, ArmError> {
        let Some(mut body) = get_row(st, &self.id)?.map(|r| r.body) else {
            return Ok(None);
        };
        let dep = st.store.get_deployment(&self.dep_id)?;
        let dep_state = dep
            .as_ref()
            .and_then(|d| {
                d.body["properties"]["provisioningState"]
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "Failed".into());
        let previous = managed_ids(&body);
        let (written, failed) = deployed_resources(st, &self.dep_id, 0);
        let written = dedup(written);
        let now: HashSet<String> = written.iter().map(|i| i.to_lowercase()).collect();
        let mut error = None;
        let (managed, mut unmanaged) = if dep_state.eq_ignore_ascii_case("Succeeded") {
            let gone: Vec<String> = previous
                .iter()
                .filter(|p| !now.contains(&p.to_lowercase()))
                .cloned()
                .collect();
            if !gone.is_empty() {
                self.set_state(st, "deletingResources");
                // The state change above rewrote the body: read it again.
                if let Some(r) = get_row(st, &self.id)? {
                    body = r.body;
                }
            }
            (
                written.clone(),
                unmanage(st, &self.id, self.caller.as_ref(), &gone, self.on_unmanage),
            )
        } else {
            // A failed deployment unmanages nothing: what the stack had stays, with what this run wrote.
            let mut keep = previous.clone();
            keep.extend(written.clone());
            let dep_error = dep
                .as_ref()
                .and_then(|d| ArmError::from_value(&d.body["properties"]["error"]))
                .unwrap_or_else(|| {
                    ArmError::bad_request("DeploymentFailed", "The deployment failed.")
                });
            error = Some(
                ArmError::bad_request(
                    "DeploymentStackDeploymentFailed",
                    format!(
                        "One or more stages of the deployment stack failed. Correlation id: '{}'.",
                        body["properties"]["correlationId"].as_str().unwrap_or("")
                    ),
                )
                .with_details(vec![dep_error]),
            );
            (dedup(keep), Unmanaged::default())
        };
        unmanaged.failed.extend(failed);
        let failed_delete: HashSet<String> = unmanaged
            .failed
            .iter()
            .map(|(i, _)| i.to_lowercase())
            .collect();
        // Resources a delete failed on stay managed, marked `deleteFailed`.
        let mut listed: Vec<(String, &str)> =
            managed.iter().map(|i| (i.clone(), "managed")).collect();
        for p in &previous {
            let l = p.to_lowercase();
            if failed_delete.contains(&l) && !now.contains(&l) {
                listed.push((p.clone(), "deleteFailed"));
            }
        }
        self.set_state(st, "updatingDenyAssignments");
        let mut assignments = Vec::new();
        let resources: Vec<Value> = listed
            .iter()
            .map(|(id, status)| {
                let deny_status = match (&self.deny_scope, self.deny.mode) {
                    (_, DenyMode::None) => "none",
                    (Some(scope), mode) if within(scope, id) => {
                        assignments.push(deny::assignment(&self.id, id, &self.deny));
                        mode.as_str()
                    }
                    _ => "inapplicable",
                };
                json!({"id": id, "type": type_of(id), "status": status, "denyStatus": deny_status})
            })
            .collect();
        let stack_id = self.id.clone();
        st.store
            .tx(|tx| deny::replace_for_stack(tx, &stack_id, &assignments))?;
        if let Some(r) = get_row(st, &self.id)? {
            body = r.body;
        }
        let props = &mut body["properties"];
        props["resources"] = Value::Array(resources);
        props["detachedResources"] = refs(&unmanaged.detached);
        props["deletedResources"] = refs(&unmanaged.deleted);
        props["failedResources"] = failed_refs(&unmanaged.failed);
        props["duration"] = json!(format!("PT{:.3}S", started.elapsed().as_secs_f64()));
        if let Some(d) = &dep {
            if let Some(o) = d.body["properties"].get("outputs") {
                props["outputs"] = o.clone();
            }
            if let Some(p) = d.body["properties"]["parameters"].as_object() {
                props["parameters"] = Value::Object(without_types(p));
            }
        }
        if error.is_none() && !unmanaged.failed.is_empty() {
            error = Some(ArmError::bad_request(
                "DeploymentStackDeleteResourcesFailed",
                format!(
                    "One or more resources could not be deleted. Correlation id: '{}'. See failedResources for details.",
                    props["correlationId"].as_str().unwrap_or("")
                ),
            ));
        }
        match &error {
            Some(e) => {
                props["provisioningState"] = json!("failed");
                props["error"] = e.to_value();
            }
            None => {
                props["provisioningState"] = json!("succeeded");
                if let Some(o) = props.as_object_mut() {
                    o.remove("error");
                }
                set_in_sync(st, &self.id)?;
            }
        }
        update_body(st, &self.id, &body)?;
        Ok(error)
    }
}

/// A deployment's reported parameters (`{"type", "value"}`) as a stack reports them (`{"value"}`); secure
/// parameters keep no value.
pub(super) fn without_types(p: &Map<String, Value>) -> Map<String, Value> {
    p.iter()
        .map(|(k, v)| {
            let entry = match v.get("value") {
                Some(x) => json!({ "value": x }),
                None => json!({}),
            };
            (k.clone(), entry)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_vault_secrets_are_the_resources_a_stack_cannot_delete() {
        let vault = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv";
        assert!(deletable(vault));
        assert!(!deletable(&format!("{vault}/secrets/sql-admin")));
        assert!(deletable(&format!("{vault}/keys/cmk")));
        assert_eq!(
            type_of(&format!("{vault}/secrets/sql-admin")),
            "Microsoft.KeyVault/vaults/secrets"
        );
        assert_eq!(
            type_of("/subscriptions/s/resourceGroups/rg"),
            "Microsoft.Resources/resourceGroups"
        );
    }
}
