//! `Microsoft.Blueprint` (api-version 2018-11-01-preview), as much as importing a published blueprint needs:
//! blueprint definitions, their artifacts and published versions, at subscription scope
//! (`/subscriptions/{s}`) and management group scope (`/providers/Microsoft.Management/managementGroups/{mg}`).
//!
//! Contract: `PUT`/`GET`/`DELETE` and list of `blueprints/{name}` and `blueprints/{name}/artifacts/{artifact}`;
//! `PUT blueprints/{name}/versions/{version}` publishes: it copies the definition and its artifacts as they
//! are into the version, which can then be read (`GET`, list, `versions/{version}/artifacts[/{artifact}]`)
//! and deleted but not changed (`PUT` of an existing version is refused, as Azure does). Bodies are kept as
//! sent, with `id`, `type` and `name` set and `properties.status` stamped. Stored in the resources table
//! under a scope key of their own (`bp:<subscription>`, `mg:<name>`), so a subscription's resource list does
//! not show them. Azure retires Blueprints on 31 January 2027: this exists so `blueprint import --from-azure`
//! can be tested end to end.

use crate::cloud::errors::ArmError;
use crate::cloud::http::{
    empty, json_body, json_response, method_not_allowed, no_route, now_rfc3339, Req,
};
use crate::cloud::store::Store;
use crate::cloud::AppState;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

const BLUEPRINT: &str = "Microsoft.Blueprint/blueprints";
const ARTIFACT: &str = "Microsoft.Blueprint/blueprints/artifacts";
const VERSION: &str = "Microsoft.Blueprint/blueprints/versions";
const VERSION_ARTIFACT: &str = "Microsoft.Blueprint/blueprints/versions/artifacts";

/// Where the blueprints live: the scope's id (`/subscriptions/{s}` or the management group's id) and the key
/// the store files them under.
pub struct BlueprintScope {
    pub id: String,
    pub key: String,
}

impl BlueprintScope {
    pub fn subscription(sub: &str) -> Self {
        BlueprintScope {
            id: format!("/subscriptions/{sub}"),
            key: format!("bp:{sub}"),
        }
    }

    pub fn management_group(mg: &str) -> Self {
        BlueprintScope {
            id: format!("/providers/Microsoft.Management/managementGroups/{mg}"),
            key: format!("mg:{mg}"),
        }
    }
}

fn not_found(what: &str, name: &str, scope: &BlueprintScope) -> ArmError {
    ArmError::not_found(
        "ResourceNotFound",
        format!(
            "{what} '{name}' could not be found in scope '{}'.",
            scope.id
        ),
    )
}

/// `at`: the index of the path segment after `providers/Microsoft.Blueprint`.
pub fn route(
    st: &AppState,
    req: &Req,
    scope: &BlueprintScope,
    at: usize,
) -> Result<Response, ArmError> {
    let rest = req.lower.len().saturating_sub(at);
    if !req.is(at, "blueprints") {
        return Err(no_route(req));
    }
    let base = format!("{}/providers/Microsoft.Blueprint/blueprints", scope.id);
    match rest {
        1 => match req.method {
            Method::GET => list(st, scope, BLUEPRINT, &format!("{base}/")),
            _ => Err(method_not_allowed(req)),
        },
        2 => {
            let name = req.seg(at + 1);
            item(
                st,
                req,
                scope,
                &format!("{base}/{name}"),
                BLUEPRINT,
                name,
                None,
            )
        }
        3 | 4 if req.is(at + 2, "artifacts") => {
            let bp = req.seg(at + 1);
            let parent = format!("{base}/{bp}");
            if rest == 3 {
                return match req.method {
                    Method::GET => {
                        existing(st, &parent, "Blueprint", bp, scope)?;
                        list(st, scope, ARTIFACT, &format!("{parent}/artifacts/"))
                    }
                    _ => Err(method_not_allowed(req)),
                };
            }
            let name = req.seg(at + 3);
            let id = format!("{parent}/artifacts/{name}");
            item(st, req, scope, &id, ARTIFACT, name, Some((&parent, bp)))
        }
        3 | 4 if req.is(at + 2, "versions") => {
            let bp = req.seg(at + 1);
            let parent = format!("{base}/{bp}");
            if rest == 3 {
                return match req.method {
                    Method::GET => {
                        existing(st, &parent, "Blueprint", bp, scope)?;
                        list(st, scope, VERSION, &format!("{parent}/versions/"))
                    }
                    _ => Err(method_not_allowed(req)),
                };
            }
            version(st, req, scope, &parent, bp, req.seg(at + 3))
        }
        5 | 6 if req.is(at + 2, "versions") && req.is(at + 4, "artifacts") => {
            let (bp, v) = (req.seg(at + 1), req.seg(at + 3));
            let vid = format!("{base}/{bp}/versions/{v}");
            existing(st, &vid, "Published blueprint version", v, scope)?;
            if req.method != Method::GET {
                return Err(method_not_allowed(req));
            }
            if rest == 5 {
                return list(st, scope, VERSION_ARTIFACT, &format!("{vid}/artifacts/"));
            }
            let name = req.seg(at + 5);
            let body = existing(
                st,
                &format!("{vid}/artifacts/{name}"),
                "Artifact",
                name,
                scope,
            )?;
            Ok(json_body(&body))
        }
        _ => Err(no_route(req)),
    }
}

fn existing(
    st: &AppState,
    id: &str,
    what: &str,
    name: &str,
    scope: &BlueprintScope,
) -> Result<Value, ArmError> {
    st.store
        .get_resource(id)?
        .ok_or_else(|| not_found(what, name, scope))
}

/// The resources of `resource_type` directly under `prefix` (an id ending in `/`), ordered by id.
fn list(
    st: &AppState,
    scope: &BlueprintScope,
    resource_type: &str,
    prefix: &str,
) -> Result<Response, ArmError> {
    let lower = prefix.to_lowercase();
    let value: Vec<Value> = st
        .store
        .resources_of_type(&scope.key, resource_type)?
        .into_iter()
        .filter(|r| {
            r["id"]
                .as_str()
                .and_then(|id| {
                    id.to_lowercase()
                        .strip_prefix(&lower)
                        .map(|rest| !rest.contains('/'))
                })
                .unwrap_or(false)
        })
        .collect();
    Ok(json_body(&json!({"value": value})))
}

fn put(
    st: &AppState,
    scope: &BlueprintScope,
    id: &str,
    resource_type: &str,
    body: &Value,
) -> Result<bool, ArmError> {
    st.store
        .tx(|tx| Store::put_resource(tx, id, &scope.key, None, resource_type, body))
}

/// A blueprint or an artifact.
fn item(
    st: &AppState,
    req: &Req,
    scope: &BlueprintScope,
    id: &str,
    resource_type: &str,
    name: &str,
    parent: Option<(&str, &str)>,
) -> Result<Response, ArmError> {
    let what = if parent.is_some() {
        "Artifact"
    } else {
        "Blueprint"
    };
    match req.method {
        Method::GET => Ok(json_body(&existing(st, id, what, name, scope)?)),
        Method::DELETE => {
            let body = st.store.get_resource(id)?;
            st.store.tx(|tx| Store::delete_resource_tree(tx, id))?;
            Ok(match body {
                Some(b) => json_body(&b),
                None => empty(StatusCode::NO_CONTENT),
            })
        }
        Method::PUT => {
            if let Some((pid, pname)) = parent {
                existing(st, pid, "Blueprint", pname, scope)?;
            }
            let input = req.json()?;
            let Some(obj) = input.as_object() else {
                return Err(ArmError::bad_request(
                    "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized: a JSON object is expected.",
                ));
            };
            if parent.is_some() {
                let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
                if !["template", "policyAssignment", "roleAssignment"].contains(&kind) {
                    return Err(ArmError::bad_request(
                        "InvalidArtifactKind",
                        format!("The artifact kind '{kind}' is not one of template, policyAssignment, roleAssignment."),
                    ));
                }
            } else if obj
                .get("properties")
                .and_then(|p| p.get("targetScope"))
                .is_none()
            {
                return Err(ArmError::bad_request(
                    "InvalidBlueprintDefinition",
                    "The blueprint definition needs properties.targetScope (subscription or managementGroup).",
                ));
            }
            let now = now_rfc3339();
            let created = st
                .store
                .get_resource(id)?
                .and_then(|b| {
                    b["properties"]["status"]["timeCreated"]
                        .as_str()
                        .map(str::to_string)
                })
                .unwrap_or_else(|| now.clone());
            let mut body = input.clone();
            body["id"] = json!(id);
            body["type"] = json!(resource_type);
            body["name"] = json!(name);
            if parent.is_none() {
                if !body["properties"].is_object() {
                    body["properties"] = json!({});
                }
                body["properties"]["status"] = json!({"timeCreated": created, "lastModified": now});
            }
            let new = put(st, scope, id, resource_type, &body)?;
            Ok(json_response(
                if new {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &body,
            ))
        }
        _ => Err(method_not_allowed(req)),
    }
}

/// A published version: `PUT` publishes the blueprint and its artifacts as they are now.
fn version(
    st: &AppState,
    req: &Req,
    scope: &BlueprintScope,
    bp_id: &str,
    bp: &str,
    v: &str,
) -> Result<Response, ArmError> {
    let vid = format!("{bp_id}/versions/{v}");
    match req.method {
        Method::GET => Ok(json_body(&existing(
            st,
            &vid,
            "Published blueprint version",
            v,
            scope,
        )?)),
        Method::DELETE => {
            let body = st.store.get_resource(&vid)?;
            st.store.tx(|tx| Store::delete_resource_tree(tx, &vid))?;
            Ok(match body {
                Some(b) => json_body(&b),
                None => empty(StatusCode::NO_CONTENT),
            })
        }
        Method::PUT => {
            let definition = existing(st, bp_id, "Blueprint", bp, scope)?;
            if st.store.get_resource(&vid)?.is_some() {
                return Err(ArmError::conflict(
                    "PublishedBlueprintVersionExists",
                    format!("Version '{v}' of blueprint '{bp}' is already published; a published version cannot be changed."),
                ));
            }
            let input = req.json().unwrap_or(Value::Null);
            let mut props = definition["properties"].clone();
            props["blueprintName"] = json!(definition["name"]);
            if let Some(notes) = input.pointer("/properties/changeNotes") {
                props["changeNotes"] = notes.clone();
            }
            let body = json!({"id": vid, "type": VERSION, "name": v, "properties": props});
            let prefix = format!("{}/artifacts/", bp_id.to_lowercase());
            let artifacts: Vec<Value> = st
                .store
                .resources_of_type(&scope.key, ARTIFACT)?
                .into_iter()
                .filter(|a| {
                    a["id"]
                        .as_str()
                        .is_some_and(|id| id.to_lowercase().starts_with(&prefix))
                })
                .collect();
            st.store.tx(|tx| {
                Store::put_resource(tx, &vid, &scope.key, None, VERSION, &body)?;
                for a in &artifacts {
                    let name = a["name"].as_str().unwrap_or_default();
                    let aid = format!("{vid}/artifacts/{name}");
                    let mut copy = a.clone();
                    copy["id"] = json!(aid);
                    copy["type"] = json!(VERSION_ARTIFACT);
                    Store::put_resource(tx, &aid, &scope.key, None, VERSION_ARTIFACT, &copy)?;
                }
                Ok(())
            })?;
            Ok(json_response(StatusCode::CREATED, &body))
        }
        _ => Err(method_not_allowed(req)),
    }
}
