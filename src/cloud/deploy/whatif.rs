//! What-if: the changes a deployment would make, compared with the emulator's current state.

use super::engine::StateResolver;
use super::handlers::accepted;
use super::secrets::{scrub_secrets, secret_strings, take_secure_parameters};
use super::{build_plan, deployment_id, management, parse_request, template_error, Scope};
use crate::armexpr::{self, NodeKind, Plan};
use crate::cloud::catalog;
use crate::cloud::errors::ArmError;
use crate::cloud::http::{self, Req};
use crate::cloud::ids;
use crate::cloud::providers;
use crate::cloud::AppState;
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// A resource as what-if compares it: without what its provider fills in. The read-only paths of its type come
/// from Microsoft's specifications (`providers::is_read_only`); the envelope every type has (`id`, `name`,
/// `type`, `etag`, `systemData`, `provisioningState`, a system identity's ids) is left out whatever the type.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    let resource_type = v["type"].as_str().unwrap_or("").to_string();
    if let Some(o) = v.as_object_mut() {
        for k in ["id", "name", "type", "etag", "systemData"] {
            o.remove(k);
        }
        if let Some(p) = o.get_mut("properties").and_then(Value::as_object_mut) {
            p.remove("provisioningState");
        }
        if let Some(i) = o.get_mut("identity").and_then(Value::as_object_mut) {
            i.remove("principalId");
            i.remove("tenantId");
        }
    }
    drop_read_only(&resource_type, "", &mut v);
    v
}

/// Remove, below `path`, every object member the type marks read-only. Arrays are kept whole: the
/// specifications' paths do not reach into array items.
fn drop_read_only(resource_type: &str, path: &str, v: &mut Value) {
    let Some(o) = v.as_object_mut() else {
        return;
    };
    o.retain(|k, _| !providers::is_read_only(resource_type, &join(path, k)));
    for (k, child) in o.iter_mut() {
        drop_read_only(resource_type, &join(path, k), child);
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Property deltas between two values, as what-if reports them: objects by dotted path, arrays with children.
fn delta(before: &Value, after: &Value, path: &str, out: &mut Vec<Value>) {
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, av) in a {
                match b.get(k) {
                    Some(bv) => delta(bv, av, &join(path, k), out),
                    None => out.push(
                        json!({"path": join(path, k), "propertyChangeType": "Create", "after": av}),
                    ),
                }
            }
            for (k, bv) in b {
                if !a.contains_key(k) {
                    out.push(json!({"path": join(path, k), "propertyChangeType": "Delete", "before": bv}));
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            let mut children = Vec::new();
            for i in 0..a.len().max(b.len()) {
                let p = i.to_string();
                match (b.get(i), a.get(i)) {
                    (Some(bv), Some(av)) if bv != av => {
                        if bv.is_object() && av.is_object() {
                            let mut inner = Vec::new();
                            delta(bv, av, "", &mut inner);
                            children.push(json!({"path": p, "propertyChangeType": "Modify", "children": inner}));
                        } else {
                            children.push(json!({"path": p, "propertyChangeType": "Modify", "before": bv, "after": av}));
                        }
                    }
                    (None, Some(av)) => children
                        .push(json!({"path": p, "propertyChangeType": "Create", "after": av})),
                    (Some(bv), None) => children
                        .push(json!({"path": p, "propertyChangeType": "Delete", "before": bv})),
                    _ => {}
                }
            }
            out.push(json!({"path": path, "propertyChangeType": "Array", "children": children}));
        }
        _ => out.push(
            json!({"path": path, "propertyChangeType": "Modify", "before": before, "after": after}),
        ),
    }
}

fn change(resource_id: &str, before: Option<Value>, after: Option<Value>, ids_only: bool) -> Value {
    let (kind, d) = match (&before, &after) {
        (None, Some(_)) => ("Create", None),
        (Some(_), None) => ("Delete", None),
        (Some(b), Some(a)) => {
            let mut d = Vec::new();
            delta(&comparable(b), &comparable(a), "", &mut d);
            if d.is_empty() {
                ("NoChange", None)
            } else {
                ("Modify", Some(d))
            }
        }
        (None, None) => ("Ignore", None),
    };
    if ids_only {
        let kind = match kind {
            "Modify" | "NoChange" => "Deploy",
            k => k,
        };
        return json!({"resourceId": resource_id, "changeType": kind});
    }
    let mut c = json!({"resourceId": resource_id, "changeType": kind});
    if let Some(b) = before {
        c["before"] = b;
    }
    if let Some(a) = after {
        c["after"] = a;
    }
    if let Some(d) = d {
        c["delta"] = Value::Array(d);
    }
    c
}

/// The body a node would be stored with, when it cannot be prepared against current state (its group or
/// parent does not exist yet): what the template says, with the id, name and type filled in.
fn synthesized(node: &armexpr::Node, body: &Value) -> Value {
    let mut b = body.clone();
    if let Some(o) = b.as_object_mut() {
        o.remove("apiVersion");
        o.insert("id".into(), json!(node.id));
        o.insert("name".into(), json!(node.name));
        o.insert("type".into(), json!(node.resource_type));
        if let Some(l) = o
            .get("location")
            .and_then(Value::as_str)
            .map(catalog::normalize_location)
        {
            o.insert("location".into(), json!(l));
        }
    }
    b
}

pub(super) fn changes_for(
    st: &AppState,
    plan: &Plan,
    complete: bool,
    ids_only: bool,
    secrets: &[String],
    out: &mut Vec<Value>,
) -> Result<(), ArmError> {
    let resolver = StateResolver::new(st, plan);
    let mut declared = HashSet::new();
    for (i, node) in plan.nodes.iter().enumerate() {
        declared.insert(node.id.to_lowercase());
        // Values that need resources this deployment creates stay as their expression text.
        let body = match plan.evaluate(i, &resolver) {
            Ok(b) => b,
            Err(e)
                if e.is_not_yet_known()
                    || matches!(e.innermost(), armexpr::Error::Resolver { .. }) =>
            {
                node.body.clone()
            }
            Err(e) => return Err(template_error(&e)),
        };
        // Compared as the provider would store it: without write-only secrets.
        let body = if secrets.is_empty() {
            body
        } else {
            scrub_secrets(&body, secrets)
        };
        match node.kind {
            NodeKind::Deployment => {
                let rg_location = node.target_resource_group.as_ref().and_then(|rg| {
                    st.store
                        .get_rg(&node.target_subscription, rg)
                        .ok()
                        .flatten()
                        .and_then(|(b, _)| b["location"].as_str().map(str::to_string))
                });
                match plan.nested(i, &resolver, rg_location.as_deref()) {
                    Ok(nested) => {
                        let nested_complete = body["properties"]["mode"]
                            .as_str()
                            .is_some_and(|m| m.eq_ignore_ascii_case("complete"));
                        changes_for(st, &nested, nested_complete, ids_only, secrets, out)?;
                    }
                    Err(e) => out.push(json!({
                        "resourceId": node.id, "changeType": "Unsupported",
                        "unsupportedReason": format!("The nested deployment cannot be evaluated before deployment: {e}"),
                    })),
                }
            }
            NodeKind::Resource
                if node
                    .resource_type
                    .eq_ignore_ascii_case("Microsoft.Resources/resourceGroups") =>
            {
                let before = st
                    .store
                    .get_rg(&plan.scope.subscription_id, &node.name)?
                    .map(|(b, _)| b);
                let mut after = synthesized(node, &body);
                after["properties"] = json!({"provisioningState": "Succeeded"});
                out.push(change(&node.id, before, Some(after), ids_only));
            }
            NodeKind::Resource if management::is_under_management_group(&node.id) => {
                management::check_type(&node.resource_type, &node.id)?;
                let before = management::read(st, &node.id)?;
                out.push(change(
                    &node.id,
                    before,
                    Some(synthesized(node, &body)),
                    ids_only,
                ));
            }
            NodeKind::Resource => {
                let Some(rid) = ids::parse_str(&node.id) else {
                    return Err(ArmError::bad_request(
                        "InvalidResourceId",
                        format!("'{}' is not a valid resource id.", node.id),
                    ));
                };
                match http::prepare_write(st, &rid, &node.api_version, &body, false) {
                    // Compared and shown as clients see them: a secret's value is write-only.
                    Ok(w) => out.push(change(
                        &w.id,
                        w.existing.map(http::redact),
                        Some(http::redact(w.body)),
                        ids_only,
                    )),
                    Err(e)
                        if e.code == "ResourceGroupNotFound"
                            || e.code == "ParentResourceNotFound" =>
                    {
                        out.push(change(
                            &node.id,
                            None,
                            Some(synthesized(node, &body)),
                            ids_only,
                        ));
                    }
                    Err(e) => return Err(e.with_target(node.id.clone())),
                }
            }
        }
    }
    if let Some(rg) = &plan.scope.resource_group {
        for r in st
            .store
            .list_resources(&plan.scope.subscription_id, Some(&rg.name))?
        {
            let Some(id) = r["id"].as_str() else { continue };
            let lower = id.to_lowercase();
            if declared.contains(&lower)
                || declared.iter().any(|k| lower.starts_with(&format!("{k}/")))
            {
                continue;
            }
            let ty = r["type"].as_str().unwrap_or("").to_lowercase();
            if complete && !ty.starts_with("microsoft.authorization/") {
                out.push(change(id, Some(r.clone()), None, ids_only));
            } else {
                let mut c = json!({"resourceId": id, "changeType": "Ignore"});
                if !ids_only {
                    c["before"] = r.clone();
                }
                out.push(c);
            }
        }
    }
    Ok(())
}

pub(super) fn what_if(
    st: &Arc<AppState>,
    req: &Req,
    scope: &Scope,
    name: &str,
) -> Result<Response, ArmError> {
    let input = req.json()?;
    let dr = parse_request(&input, scope.rg().is_none())?;
    let ids_only = input["properties"]["whatIfSettings"]["resultFormat"]
        .as_str()
        .is_some_and(|f| f.eq_ignore_ascii_case("ResourceIdOnly"));
    let plan = build_plan(st, scope, name, &dr)?;
    let secrets = secret_strings([&take_secure_parameters(&mut input.clone())]);
    let mut changes = Vec::new();
    let result = match changes_for(st, &plan, dr.complete, ids_only, &secrets, &mut changes) {
        Ok(()) => json!({"status": "Succeeded", "properties": {"changes": changes}, "error": null}),
        Err(e) => json!({"status": "Failed", "error": e.to_value()}),
    };
    let id = deployment_id(scope, name);
    let op = http::new_operation(st, "whatif", &id)?;
    let (st2, op2) = (Arc::clone(st), op.clone());
    st.spawn(async move {
        tokio::time::sleep(st2.config.lro).await;
        let _ = http::finish_operation(&st2, &op2, "Succeeded", 200, Some(result));
    });
    Ok(accepted(st, scope, &id, &op, req.api_version()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_use_dotted_paths_for_objects_and_children_for_arrays() {
        let mut d = Vec::new();
        delta(
            &json!({"properties": {"a": 1, "gone": true, "list": ["x", "y"]}}),
            &json!({"properties": {"a": 2, "new": "n", "list": ["x", "z", "w"]}}),
            "",
            &mut d,
        );
        assert_eq!(
            d,
            vec![
                json!({"path": "properties.a", "propertyChangeType": "Modify", "before": 1, "after": 2}),
                json!({"path": "properties.new", "propertyChangeType": "Create", "after": "n"}),
                json!({"path": "properties.list", "propertyChangeType": "Array", "children": [
                    {"path": "1", "propertyChangeType": "Modify", "before": "y", "after": "z"},
                    {"path": "2", "propertyChangeType": "Create", "after": "w"}]}),
                json!({"path": "properties.gone", "propertyChangeType": "Delete", "before": true}),
            ]
        );
    }

    #[test]
    fn properties_the_specification_marks_read_only_do_not_count_as_changes() {
        // `primaryEndpoints` and `creationTime` are read-only for storage accounts (Microsoft's specification);
        // `minimumTlsVersion` is not, so a change to it is still a change.
        let stored = json!({"type": "Microsoft.Storage/storageAccounts", "properties": {
            "minimumTlsVersion": "TLS1_2", "creationTime": "2026-01-01T00:00:00Z",
            "primaryEndpoints": {"blob": "https://old.blob.core.windows.net/"}}});
        let same = json!({"type": "Microsoft.Storage/storageAccounts", "properties": {
            "minimumTlsVersion": "TLS1_2", "primaryEndpoints": {"blob": "https://new.blob.core.windows.net/"}}});
        assert_eq!(
            change("x", Some(stored.clone()), Some(same), false)["changeType"],
            "NoChange"
        );
        let tls = json!({"type": "Microsoft.Storage/storageAccounts", "properties": {"minimumTlsVersion": "TLS1_0"}});
        let c = change("x", Some(stored), Some(tls), false);
        assert_eq!(c["changeType"], "Modify");
        assert_eq!(
            c["delta"],
            json!([{"path": "properties.minimumTlsVersion", "propertyChangeType": "Modify", "before": "TLS1_2", "after": "TLS1_0"}])
        );
    }

    #[test]
    fn read_only_properties_do_not_count_as_changes() {
        let before = json!({"id": "x", "properties": {"provisioningState": "Succeeded", "a": 1}, "identity": {"type": "SystemAssigned", "principalId": "p"}});
        let after = json!({"id": "x", "properties": {"provisioningState": "Succeeded", "a": 1}, "identity": {"type": "SystemAssigned"}});
        assert_eq!(
            change("x", Some(before), Some(after), false)["changeType"],
            "NoChange"
        );
    }
}
