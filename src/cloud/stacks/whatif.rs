//! Deployment stack what-if (`Microsoft.Resources/deploymentStacksWhatIfResults`, api-version 2025-07-01):
//! PUT stores a what-if request (a stack definition and the id of the stack to compare with), POST `whatIf`
//! predicts, without changing anything, what updating that stack with it would do.
//!
//! Contract: the prediction builds on the deployment what-if (the same comparison `POST .../whatIf` on a
//! deployment makes) and adds what only a stack knows: resources the template declares are `create`,
//! `modify` or `noChange` and become `managed`; resources the stack manages and the template no longer
//! declares are `delete` or `detach` as `actionOnUnmanage` says, and become `unmanaged`; each change says how
//! the resource's deny status changes, and `denySettingsChange` and `deploymentScopeChange` compare the stack's
//! settings. Secure parameter values are kept in memory only, never stored: after a restart a what-if that
//! needs them must be PUT again.

use super::{
    correlation_of, get_row, parse_request, system_data, target, DenyMode, DenySettings, Scope,
    StackRequest, Target,
};
use crate::cloud::catalog;
use crate::cloud::deploy;
use crate::cloud::errors::ArmError;
use crate::cloud::http::{self, json_body, json_response, Req};
use crate::cloud::AppState;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;

/// The what-if results table (created at startup).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS stack_whatif_results (
    key TEXT PRIMARY KEY, scope TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, request TEXT NOT NULL);
";

const TYPE: &str = "Microsoft.Resources/deploymentStacksWhatIfResults";

fn result_id(scope: &Scope, name: &str) -> String {
    format!("{}/providers/{TYPE}/{name}", scope.id())
}

fn not_found(name: &str) -> ArmError {
    ArmError::not_found(
        "DeploymentStacksWhatIfResultNotFound",
        format!("Deployment stack what-if result '{name}' could not be found."),
    )
}

fn secure_key(id: &str) -> String {
    format!("stack-whatif:{}", id.to_lowercase())
}

/// Route `{scope}/providers/Microsoft.Resources/deploymentStacksWhatIfResults[/{name}[/whatIf]]`.
pub async fn route(
    st: &Arc<AppState>,
    req: &Req,
    scope: Scope,
    at: usize,
) -> Result<Response, ArmError> {
    if !st.config.stack_what_if {
        return Err(ArmError::bad_request(
            "InvalidResourceType",
            format!(
                "The resource type 'deploymentStacksWhatIfResults' could not be found in the namespace 'Microsoft.Resources' for api version '{}'.",
                req.api_version()
            ),
        ));
    }
    catalog::check_type(TYPE, req.api_version())?;
    let scope = scope.existing(st)?;
    let n = req.lower.len();
    if n == at {
        return match req.method {
            Method::GET => http::page(st, req, list(st, &scope)?),
            _ => Err(http::method_not_allowed(req)),
        };
    }
    let name = req.seg(at).to_string();
    let id = result_id(&scope, &name);
    let action = req.lower.get(at + 1).map_or("", String::as_str);
    match (n - at, &req.method, action) {
        (1, &Method::PUT, _) => put(st, req, &scope, &name),
        (1, &Method::GET, _) => match row(st, &id)? {
            Some((body, _)) => Ok(json_body(&body)),
            None => Err(not_found(&name)),
        },
        (1, &Method::DELETE, _) => {
            st.secure_parameters
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&secure_key(&id));
            let removed = st.store.tx(|tx| {
                Ok(tx
                    .prepare_cached("DELETE FROM stack_whatif_results WHERE key = ?1")?
                    .execute([id.to_lowercase()])?)
            })?;
            Ok(http::empty(if removed > 0 {
                StatusCode::OK
            } else {
                StatusCode::NO_CONTENT
            }))
        }
        (2, &Method::POST, "whatif") => run(st, req, &scope, &name),
        _ => Err(http::method_not_allowed(req)),
    }
}

fn row(st: &AppState, id: &str) -> Result<Option<(Value, Value)>, ArmError> {
    let r: Option<(String, String)> = st.store.tx(|tx| {
        Ok(tx
            .prepare_cached("SELECT body, request FROM stack_whatif_results WHERE key = ?1")?
            .query_row([id.to_lowercase()], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    })?;
    r.map(|(b, q)| Ok((serde_json::from_str(&b)?, serde_json::from_str(&q)?)))
        .transpose()
}

fn list(st: &AppState, scope: &Scope) -> Result<Vec<Value>, ArmError> {
    st.store.bodies(
        "SELECT body FROM stack_whatif_results WHERE scope = ?1 ORDER BY name",
        [scope.key()],
    )
}

fn put(st: &Arc<AppState>, req: &Req, scope: &Scope, name: &str) -> Result<Response, ArmError> {
    super::check_name(name)?;
    let mut input = req.json()?;
    let sr = parse_request(&input, scope, name)?;
    target(st, scope, &sr, name)?;
    let props = &input["properties"];
    let stack_id = props["deploymentStackResourceId"]
        .as_str()
        .ok_or_else(|| {
            super::invalid_content(
                "Required property 'deploymentStackResourceId' not found in JSON",
            )
        })?
        .to_string();
    let retention = props["retentionInterval"]
        .as_str()
        .ok_or_else(|| {
            super::invalid_content("Required property 'retentionInterval' not found in JSON")
        })?
        .to_string();
    if !retention.starts_with('P') || retention.len() < 3 {
        return Err(super::invalid_content(&format!(
            "'retentionInterval' '{retention}' is not an ISO 8601 duration (for example P7D)"
        )));
    }
    let id = result_id(scope, name);
    let existing = row(st, &id)?;
    let secure = crate::cloud::deploy::take_secure_parameters(&mut input);
    st.secure_parameters
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(secure_key(&id), secure);
    let mut body = json!({"id": id, "name": name, "type": TYPE});
    if let Some(l) = &sr.location {
        body["location"] = json!(l);
    }
    if let Some(t) = &sr.tags {
        body["tags"] = t.clone();
    }
    body["systemData"] = system_data(
        req.caller.as_ref(),
        existing.as_ref().map(|(b, _)| &b["systemData"]),
    );
    let mut p = json!({
        "deploymentStackResourceId": stack_id,
        "retentionInterval": retention,
        "actionOnUnmanage": sr.on_unmanage.to_value(),
        "denySettings": sr.deny.to_value(),
        "parameters": input["properties"]["parameters"].clone(),
        "correlationId": correlation_of(req),
        "provisioningState": "succeeded",
    });
    if let Some(d) = &sr.description {
        p["description"] = json!(d);
    }
    if let Some(d) = &sr.deployment_scope {
        p["deploymentScope"] = json!(d);
    }
    if let Some(v) = sr.validation_level {
        p["validationLevel"] = json!(v);
    }
    body["properties"] = p;
    st.store.tx(|tx| {
        tx.prepare_cached("INSERT OR REPLACE INTO stack_whatif_results (key, scope, name, body, request) VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(
            params![id.to_lowercase(), scope.key(), name.to_lowercase(), body.to_string(), input.to_string()],
        )?;
        Ok(())
    })?;
    Ok(json_response(
        if existing.is_some() {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        &body,
    ))
}

/// `Create` → `create`: the stack what-if spells change types in camel case.
fn camel(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or_else(String::new, |f| {
        f.to_lowercase().collect::<String>() + c.as_str()
    })
}

/// A deployment what-if's property delta in the stack what-if's shape (`changeType` instead of
/// `propertyChangeType`, camel-cased).
fn stack_delta(d: &Value) -> Value {
    let mut out = json!({
        "path": d["path"],
        "changeType": camel(d["propertyChangeType"].as_str().unwrap_or("")),
    });
    for k in ["before", "after"] {
        if let Some(v) = d.get(k) {
            out[k] = v.clone();
        }
    }
    if let Some(children) = d["children"].as_array() {
        out["children"] = Value::Array(children.iter().map(stack_delta).collect());
    }
    out
}

/// The deny status a resource would have after the update.
fn deny_after(deny: &DenySettings, deny_scope: Option<&str>, id: &str) -> &'static str {
    match (deny.mode, deny_scope) {
        (DenyMode::None, _) => "none",
        (mode, Some(s)) if super::within(s, id) => mode.as_str(),
        _ => "inapplicable",
    }
}

/// How the deny settings change: `before`, `after` and a delta by field, as the stack what-if reports it.
fn deny_settings_change(before: Option<&Value>, after: &DenySettings) -> Value {
    let after_v = after.to_value();
    let mut delta = Vec::new();
    for (field, path) in [
        ("mode", "Mode"),
        ("excludedPrincipals", "ExcludedPrincipals"),
        ("excludedActions", "ExcludedActions"),
        ("applyToChildScopes", "ApplyToChildScopes"),
    ] {
        let a = &after_v[field];
        match before.map(|b| &b[field]) {
            None | Some(Value::Null) => {
                delta.push(json!({"path": path, "changeType": "create", "after": a}));
            }
            Some(b) if b != a => {
                delta.push(json!({"path": path, "changeType": "modify", "before": b, "after": a}));
            }
            Some(_) => {}
        }
    }
    let mut out = json!({"after": after_v, "delta": delta});
    if let Some(b) = before {
        out["before"] = b.clone();
    }
    out
}

fn run(st: &Arc<AppState>, req: &Req, scope: &Scope, name: &str) -> Result<Response, ArmError> {
    let id = result_id(scope, name);
    let (mut body, mut request) = row(st, &id)?.ok_or_else(|| not_found(name))?;
    if let Some(secure) = st
        .secure_parameters
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&secure_key(&id))
        .cloned()
    {
        if let Some(p) = request["properties"]["parameters"].as_object_mut() {
            p.extend(secure);
        }
    }
    let sr: StackRequest = parse_request(&request, scope, name)?;
    let t: Target = target(st, scope, &sr, name)?;
    let stack_id = body["properties"]["deploymentStackResourceId"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let stack = get_row(st, &stack_id)?.map(|r| r.body);
    let managed: Vec<(String, String)> = stack
        .as_ref()
        .and_then(|s| s["properties"]["resources"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            Some((
                r["id"].as_str()?.to_string(),
                r["denyStatus"].as_str().unwrap_or("none").to_string(),
            ))
        })
        .collect();
    let managed_status = |id: &str| {
        managed
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(id))
            .map(|(_, d)| d.clone())
    };
    let changes = deploy::what_if_changes(
        st,
        &t.at,
        &super::deployment_name(name),
        &super::deployment_request(&sr, &t),
    )?;
    let mut resource_changes = Vec::new();
    let mut declared = HashSet::new();
    for c in &changes {
        let Some(rid) = c["resourceId"].as_str() else {
            continue;
        };
        let kind = c["changeType"].as_str().unwrap_or("");
        if kind == "Ignore" || kind == "Delete" {
            continue;
        }
        declared.insert(rid.to_lowercase());
        let before = managed_status(rid);
        let mut rc = json!({
            "id": rid,
            "type": c["after"]["type"].as_str().or(c["before"]["type"].as_str()).unwrap_or(""),
            "changeType": camel(kind),
            "changeCertainty": if kind == "Unsupported" { "potential" } else { "definite" },
            "managementStatusChange": {
                "before": if before.is_some() { "managed" } else { "unmanaged" },
                "after": "managed",
            },
            "denyStatusChange": {
                "before": before.as_deref().unwrap_or("none"),
                "after": deny_after(&sr.deny, t.deny_scope.as_deref(), rid),
            },
        });
        if let Some(reason) = c.get("unsupportedReason") {
            rc["unsupportedReason"] = reason.clone();
        }
        let mut config = json!({});
        for k in ["before", "after"] {
            if let Some(v) = c.get(k) {
                config[k] = v.clone();
            }
        }
        if let Some(d) = c["delta"].as_array() {
            config["delta"] = Value::Array(d.iter().map(stack_delta).collect());
        }
        rc["resourceConfigurationChanges"] = config;
        resource_changes.push(rc);
    }
    // What the stack manages and the template no longer declares: deleted or detached.
    for (mid, deny_before) in &managed {
        if declared.contains(&mid.to_lowercase()) {
            continue;
        }
        let action = sr.on_unmanage.for_id(mid);
        let current = super::current_body(st, mid);
        let mut rc = json!({
            "id": mid,
            "changeType": action.as_str(),
            "changeCertainty": "definite",
            "managementStatusChange": {"before": "managed", "after": "unmanaged"},
            "denyStatusChange": {"before": deny_before, "after": "none"},
        });
        if let Some(b) = current {
            rc["type"] = b["type"].clone();
            rc["resourceConfigurationChanges"] = if action == super::Action::Delete {
                json!({"before": b})
            } else {
                json!({"before": b, "after": b})
            };
        }
        resource_changes.push(rc);
    }
    let mut changes = json!({
        "resourceChanges": resource_changes,
        "denySettingsChange": deny_settings_change(stack.as_ref().map(|s| &s["properties"]["denySettings"]), &sr.deny),
    });
    let scope_after = super::ids_scope(&t);
    let scope_before = stack.as_ref().and_then(|s| {
        s["properties"]["deploymentScope"]
            .as_str()
            .map(str::to_string)
    });
    if scope_before.as_deref() != Some(scope_after.as_str()) {
        let mut d = json!({ "after": scope_after });
        if let Some(b) = scope_before {
            d["before"] = json!(b);
        }
        changes["deploymentScopeChange"] = d;
    }
    let p = &mut body["properties"];
    p["changes"] = changes;
    p["diagnostics"] = json!([]);
    p["provisioningState"] = json!("succeeded");
    p["correlationId"] = json!(correlation_of(req));
    if let Some(m) = stack
        .as_ref()
        .and_then(|s| s["systemData"]["lastModifiedAt"].as_str())
    {
        p["deploymentStackLastModified"] = json!(m);
    }
    st.store.tx(|tx| {
        tx.prepare_cached("UPDATE stack_whatif_results SET body = ?2 WHERE key = ?1")?
            .execute(params![id.to_lowercase(), body.to_string()])?;
        Ok(())
    })?;
    Ok(json_body(&body))
}
