//! Management groups in the local cloud (`Microsoft.Management/managementGroups`): the hierarchy above
//! subscriptions that Azure Policy (and deployments at management group scope) follow.
//!
//! Contract:
//! - The tenant root group is always there: its name is the tenant id, its display name "Tenant Root Group",
//!   it has no parent. Every other group has one parent (the root when the PUT names none); every
//!   subscription sits under the root until it is placed in a group.
//! - `PUT|GET|DELETE /providers/Microsoft.Management/managementGroups/{mg}` (`properties.displayName`,
//!   `properties.details.parent.id`) and `GET .../managementGroups` (list). A PUT that creates a group answers
//!   202 with `Azure-AsyncOperation` and `Location` (`/providers/Microsoft.Management/operationResults/create/
//!   managementGroups/{mg}`), as Azure does; the operation is already `Succeeded` when first polled. An update
//!   answers 200. GET takes `$expand=children` (and `$recurse=true`) and `$expand=path` (the ancestors, root
//!   first). A group with child groups or subscriptions is not deleted (400 `ManagementGroupHasChildren`);
//!   a parent that does not exist, or is the group itself or one of its descendants, is refused.
//! - `PUT|GET|DELETE .../managementGroups/{mg}/subscriptions/{subscriptionId}` places a subscription in a group
//!   (moving it from where it was), reads the placement, or returns the subscription to the root group;
//!   `GET .../managementGroups/{mg}/subscriptions` lists the group's own subscriptions.
//! - [`ancestors_of_subscription`], [`ancestors_of_group`], [`is_descendant`] and [`subscriptions_under`] are
//!   the hierarchy for the rest of the local cloud (Azure Policy, PolicyInsights, deployments).
//!
//! Groups and placements are stored as scoped resources (`store::put_scoped`), so they survive a restart of a
//! cloud with a state folder.

use super::errors::ArmError;
use super::http::{empty, json_body, json_response, method_not_allowed, no_route, Req};
use super::AppState;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The resource type of a management group.
pub const TYPE: &str = "Microsoft.Management/managementGroups";
/// The resource type of a subscription's placement in a group.
const SUBSCRIPTION_TYPE: &str = "Microsoft.Management/managementGroups/subscriptions";
const PREFIX: &str = "/providers/Microsoft.Management/managementGroups/";
const API_VERSIONS: [&str; 6] = [
    "2020-02-01",
    "2020-05-01",
    "2020-10-01",
    "2021-04-01",
    "2023-04-01",
    "2024-02-01-preview",
];

/// A management group's id.
pub fn id_of(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// The group name of a management group id (`/providers/Microsoft.Management/managementGroups/{name}`,
/// any casing), or `None`.
pub fn name_of(id: &str) -> Option<&str> {
    let (head, rest) = (id.get(..PREFIX.len())?, id.get(PREFIX.len()..)?);
    (head.eq_ignore_ascii_case(PREFIX) && !rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// The tenant root group's name: the tenant id.
pub fn root(st: &AppState) -> &str {
    &st.config.tenant_id
}

fn placement_id(mg: &str, sub: &str) -> String {
    format!("{PREFIX}{mg}/subscriptions/{sub}")
}

/// The hierarchy as stored: group (lower case) → (its name as created, its parent's name); subscription
/// (lower case) → the group it is placed in.
struct Tree {
    root: String,
    groups: HashMap<String, (String, String)>,
    placed: HashMap<String, String>,
}

impl Tree {
    fn load(st: &AppState) -> Result<Tree, ArmError> {
        let mut groups = HashMap::new();
        for g in st.store.scoped_of_type(TYPE)? {
            let name = g["name"].as_str().unwrap_or_default().to_string();
            let parent = g["properties"]["details"]["parent"]["id"]
                .as_str()
                .and_then(name_of)
                .unwrap_or(root(st))
                .to_string();
            groups.insert(name.to_ascii_lowercase(), (name, parent));
        }
        let mut placed = HashMap::new();
        for p in st.store.scoped_of_type(SUBSCRIPTION_TYPE)? {
            if let (Some(sub), Some(mg)) = (
                p["name"].as_str(),
                p["properties"]["parent"]["id"].as_str().and_then(name_of),
            ) {
                placed.insert(sub.to_ascii_lowercase(), mg.to_string());
            }
        }
        Ok(Tree {
            root: root(st).to_string(),
            groups,
            placed,
        })
    }

    fn is_root(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(&self.root)
    }

    fn exists(&self, name: &str) -> bool {
        self.is_root(name) || self.groups.contains_key(&name.to_ascii_lowercase())
    }

    /// The canonical name of an existing group.
    fn canonical(&self, name: &str) -> Option<String> {
        if self.is_root(name) {
            return Some(self.root.clone());
        }
        self.groups
            .get(&name.to_ascii_lowercase())
            .map(|(n, _)| n.clone())
    }

    /// `name` and the groups above it, nearest first, ending with the root. A group whose stored parent is
    /// gone hangs from the root (a cycle cannot be stored: a PUT that would make one is refused).
    fn chain(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut at = name.to_string();
        while !self.is_root(&at) && out.len() <= self.groups.len() {
            let Some((canonical, parent)) = self.groups.get(&at.to_ascii_lowercase()) else {
                break;
            };
            out.push(canonical.clone());
            at = parent.clone();
        }
        out.push(self.root.clone());
        out
    }

    fn group_of(&self, sub: &str) -> String {
        match self.placed.get(&sub.to_ascii_lowercase()) {
            Some(mg) if self.exists(mg) => mg.clone(),
            _ => self.root.clone(),
        }
    }

    fn children(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .groups
            .values()
            .filter(|(_, p)| p.eq_ignore_ascii_case(name))
            .map(|(n, _)| n.clone())
            .collect();
        v.sort();
        v
    }
}

/// The management groups above a subscription, nearest first, ending with the tenant root group (ids).
pub fn ancestors_of_subscription(st: &AppState, sub: &str) -> Result<Vec<String>, ArmError> {
    let tree = Tree::load(st)?;
    Ok(tree
        .chain(&tree.group_of(sub))
        .iter()
        .map(|n| id_of(n))
        .collect())
}

/// The management groups above group `name` (not itself), nearest first, ending with the tenant root group
/// (ids); empty for the root.
pub fn ancestors_of_group(st: &AppState, name: &str) -> Result<Vec<String>, ArmError> {
    let tree = Tree::load(st)?;
    if tree.is_root(name) {
        return Ok(Vec::new());
    }
    Ok(tree.chain(name).iter().skip(1).map(|n| id_of(n)).collect())
}

/// Is `scope` (a management group, a subscription, a resource group or a resource id) the management group
/// `mg_id` or beneath it?
pub fn is_descendant(st: &AppState, scope: &str, mg_id: &str) -> Result<bool, ArmError> {
    let Some(mg) = name_of(mg_id) else {
        return Ok(false);
    };
    let tree = Tree::load(st)?;
    let chain = if let Some(group) = name_of(scope) {
        tree.chain(group)
    } else {
        let segs: Vec<&str> = scope.trim_start_matches('/').split('/').collect();
        match segs.as_slice() {
            [s, sub, ..] if s.eq_ignore_ascii_case("subscriptions") => {
                tree.chain(&tree.group_of(sub))
            }
            _ => return Ok(false),
        }
    };
    Ok(chain.iter().any(|n| n.eq_ignore_ascii_case(mg)))
}

/// Every subscription beneath management group `mg_id`, through its child groups too (for the root: every
/// subscription the cloud knows).
pub fn subscriptions_under(st: &AppState, mg_id: &str) -> Result<Vec<String>, ArmError> {
    let Some(mg) = name_of(mg_id) else {
        return Ok(Vec::new());
    };
    let tree = Tree::load(st)?;
    Ok(st
        .store
        .list_subscriptions()?
        .iter()
        .filter_map(|s| s["subscriptionId"].as_str())
        .filter(|sub| {
            tree.chain(&tree.group_of(sub))
                .iter()
                .any(|n| n.eq_ignore_ascii_case(mg))
        })
        .map(str::to_string)
        .collect())
}

fn not_found(name: &str) -> ArmError {
    ArmError::not_found(
        "ManagementGroupNotFound",
        format!("The management group '{name}' could not be found."),
    )
}

/// A group as GET returns it.
fn body(st: &AppState, tree: &Tree, name: &str) -> Value {
    let stored = if tree.is_root(name) {
        None
    } else {
        st.store.get_scoped(&id_of(name)).ok().flatten()
    };
    let canonical = tree.canonical(name).unwrap_or_else(|| name.to_string());
    let display = |n: &str| -> String {
        if tree.is_root(n) {
            return "Tenant Root Group".into();
        }
        st.store
            .get_scoped(&id_of(n))
            .ok()
            .flatten()
            .and_then(|b| b["properties"]["displayName"].as_str().map(str::to_string))
            .unwrap_or_else(|| n.to_string())
    };
    let details = stored
        .as_ref()
        .map(|b| b["properties"]["details"].clone())
        .unwrap_or_else(|| json!({"version": 1, "updatedTime": null, "updatedBy": null}));
    let mut details = if details.is_object() {
        details
    } else {
        json!({})
    };
    details["parent"] = match tree.chain(&canonical).get(1) {
        Some(p) => json!({"id": id_of(p), "name": p, "displayName": display(p)}),
        None => Value::Null,
    };
    json!({
        "id": id_of(&canonical),
        "type": TYPE,
        "name": canonical,
        "properties": {
            "tenantId": st.config.tenant_id,
            "displayName": display(&canonical),
            "details": details,
        },
    })
}

/// `properties.children` of a group: its child groups (recursively when `recurse`) and its subscriptions.
fn children(st: &AppState, tree: &Tree, name: &str, recurse: bool) -> Result<Value, ArmError> {
    let mut out = Vec::new();
    for c in tree.children(name) {
        let mut child = json!({"id": id_of(&c), "type": TYPE, "name": c,
                               "displayName": body(st, tree, &c)["properties"]["displayName"]});
        if recurse {
            child["children"] = children(st, tree, &c, true)?;
        }
        out.push(child);
    }
    for s in st.store.list_subscriptions()? {
        let Some(sub) = s["subscriptionId"].as_str() else {
            continue;
        };
        if tree.group_of(sub).eq_ignore_ascii_case(name) {
            out.push(
                json!({"id": format!("/subscriptions/{sub}"), "type": "/subscriptions",
                            "name": sub, "displayName": s["displayName"]}),
            );
        }
    }
    Ok(json!(out))
}

fn placement(st: &AppState, mg: &str, sub: &Value) -> Value {
    let id = sub["subscriptionId"].as_str().unwrap_or_default();
    json!({
        "id": placement_id(mg, id),
        "type": SUBSCRIPTION_TYPE,
        "name": id,
        "properties": {
            "tenant": st.config.tenant_id,
            "displayName": sub["displayName"],
            "parent": {"id": id_of(mg)},
            "state": sub["state"],
        },
    })
}

/// `Azure-AsyncOperation`, `Location` and `Retry-After` for a group's create or delete, as Azure sends them.
fn accepted(st: &AppState, req: &Req, action: &str, name: &str, body: &Value) -> Response {
    let mut r = json_response(StatusCode::ACCEPTED, body);
    let url = format!(
        "{}/providers/Microsoft.Management/operationResults/{action}/managementGroups/{name}?api-version={}",
        st.base_url(),
        req.api_version()
    );
    if let Ok(v) = HeaderValue::from_str(&url) {
        r.headers_mut().insert("azure-asyncoperation", v.clone());
        r.headers_mut().insert("location", v);
    }
    r.headers_mut()
        .insert("retry-after", HeaderValue::from(0u32));
    r
}

/// Requests under `/providers/Microsoft.Management/`: management groups, their subscriptions, and the status
/// of a group's create or delete. `None` when the path is not one of them (policy resources, PolicyInsights,
/// deployments at a management group go elsewhere).
pub fn route(st: &AppState, req: &Req) -> Option<Result<Response, ArmError>> {
    let l: Vec<&str> = req.lower.iter().map(String::as_str).collect();
    let ours = matches!(
        l.as_slice(),
        ["providers", "microsoft.management", "managementgroups"]
            | ["providers", "microsoft.management", "managementgroups", _]
            | [
                "providers",
                "microsoft.management",
                "managementgroups",
                _,
                "subscriptions"
            ]
            | [
                "providers",
                "microsoft.management",
                "managementgroups",
                _,
                "subscriptions",
                _
            ]
            | [
                "providers",
                "microsoft.management",
                "operationresults",
                _,
                "managementgroups",
                _
            ]
    );
    if !ours {
        return None;
    }
    Some(handle(st, req, &l))
}

/// ARM's 400 `InvalidApiVersionParameter` unless the request's api-version is one of `supported` (for
/// providers whose versions are not in the catalogue: Microsoft.Management, Microsoft.PolicyInsights).
pub(super) fn check_api_version(req: &Req, supported: &[&str]) -> Result<(), ArmError> {
    let version = req.api_version();
    if supported.contains(&version) {
        return Ok(());
    }
    Err(ArmError::bad_request(
        "InvalidApiVersionParameter",
        format!(
            "The api-version '{version}' is invalid. The supported versions are '{}'.",
            supported.join(",")
        ),
    ))
}

fn handle(st: &AppState, req: &Req, l: &[&str]) -> Result<Response, ArmError> {
    check_api_version(req, &API_VERSIONS)?;
    let tree = Tree::load(st)?;
    match l {
        ["providers", _, "managementgroups"] => {
            if req.method != Method::GET {
                return Err(method_not_allowed(req));
            }
            let mut names: Vec<String> = tree.groups.values().map(|(n, _)| n.clone()).collect();
            names.sort_by_key(|n| n.to_ascii_lowercase());
            names.insert(0, tree.root.clone());
            let value: Vec<Value> = names
                .iter()
                .map(|n| {
                    let b = body(st, &tree, n);
                    json!({"id": b["id"], "type": TYPE, "name": b["name"],
                           "properties": {"tenantId": st.config.tenant_id, "displayName": b["properties"]["displayName"]}})
                })
                .collect();
            Ok(json_body(&json!({"value": value})))
        }
        ["providers", _, "managementgroups", _] => group(st, req, &tree, req.seg(3)),
        ["providers", _, "managementgroups", _, "subscriptions"] => {
            if req.method != Method::GET {
                return Err(method_not_allowed(req));
            }
            let mg = tree
                .canonical(req.seg(3))
                .ok_or_else(|| not_found(req.seg(3)))?;
            let value: Vec<Value> = st
                .store
                .list_subscriptions()?
                .iter()
                .filter(|s| {
                    s["subscriptionId"]
                        .as_str()
                        .is_some_and(|id| tree.group_of(id).eq_ignore_ascii_case(&mg))
                })
                .map(|s| placement(st, &mg, s))
                .collect();
            Ok(json_body(&json!({"value": value})))
        }
        ["providers", _, "managementgroups", _, "subscriptions", _] => {
            subscription(st, req, &tree, req.seg(3), req.seg(5))
        }
        ["providers", _, "operationresults", action, _, _] => {
            if req.method != Method::GET {
                return Err(method_not_allowed(req));
            }
            let name = req.seg(5);
            match *action {
                "create" => {
                    if !tree.exists(name) {
                        return Err(not_found(name));
                    }
                    let b = body(st, &tree, name);
                    Ok(json_body(
                        &json!({"id": b["id"], "type": TYPE, "name": b["name"],
                                         "status": "Succeeded", "properties": b["properties"]}),
                    ))
                }
                "delete" if !tree.exists(name) => Ok(json_body(&json!({
                    "id": id_of(name), "type": TYPE, "name": name, "status": "Succeeded"}))),
                "delete" => Ok(json_body(&json!({
                    "id": id_of(name), "type": TYPE, "name": name, "status": "Running"}))),
                _ => Err(no_route(req)),
            }
        }
        _ => Err(no_route(req)),
    }
}

fn group(st: &AppState, req: &Req, tree: &Tree, name: &str) -> Result<Response, ArmError> {
    match req.method {
        Method::GET => {
            if !tree.exists(name) {
                return Err(not_found(name));
            }
            let mut b = body(st, tree, name);
            let expand = req.query.get("$expand").map(String::as_str).unwrap_or("");
            let recurse = req
                .query
                .get("$recurse")
                .is_some_and(|r| r.eq_ignore_ascii_case("true"));
            for e in expand.split(',').map(str::trim) {
                if e.eq_ignore_ascii_case("children") {
                    b["properties"]["children"] = children(st, tree, name, recurse)?;
                } else if e.eq_ignore_ascii_case("path") {
                    let mut path: Vec<Value> = ancestors_of_group(st, name)?
                        .iter()
                        .filter_map(|id| name_of(id))
                        .map(|n| json!({"name": n, "displayName": body(st, tree, n)["properties"]["displayName"]}))
                        .collect();
                    path.reverse();
                    b["properties"]["path"] = json!(path);
                }
            }
            Ok(json_body(&b))
        }
        Method::PUT => {
            if tree.is_root(name) {
                return Err(ArmError::bad_request(
                    "InvalidRequest",
                    "The tenant root group cannot be changed in the local cloud.",
                ));
            }
            super::names::check_resource(TYPE, name)?;
            let input = req.json()?;
            let props = &input["properties"];
            let parent_id = props["details"]["parent"]["id"]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    st.store
                        .get_scoped(&id_of(name))
                        .ok()
                        .flatten()
                        .and_then(|b| {
                            b["properties"]["details"]["parent"]["id"]
                                .as_str()
                                .map(str::to_string)
                        })
                })
                .unwrap_or_else(|| id_of(&tree.root));
            let parent = name_of(&parent_id).ok_or_else(|| {
                ArmError::bad_request(
                    "InvalidRequest",
                    format!("properties.details.parent.id '{parent_id}' is not a management group id (/providers/Microsoft.Management/managementGroups/{{groupId}})."),
                )
            })?;
            let parent = tree.canonical(parent).ok_or_else(|| {
                ArmError::bad_request(
                    "ParentManagementGroupNotFound",
                    format!(
                        "The parent management group '{parent}' of '{name}' could not be found."
                    ),
                )
            })?;
            if tree
                .chain(&parent)
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name))
            {
                return Err(ArmError::bad_request(
                    "InvalidRequest",
                    format!("The management group '{parent}' is '{name}' or one of its descendants: a group cannot be its own ancestor."),
                ));
            }
            let existing = st.store.get_scoped(&id_of(name))?;
            let canonical = tree.canonical(name).unwrap_or_else(|| name.to_string());
            let version = existing
                .as_ref()
                .and_then(|b| b["properties"]["details"]["version"].as_u64())
                .map_or(1, |v| v + 1);
            let display = props["displayName"]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    existing
                        .as_ref()
                        .and_then(|b| b["properties"]["displayName"].as_str().map(str::to_string))
                })
                .unwrap_or_else(|| canonical.clone());
            let stored = json!({
                "id": id_of(&canonical),
                "type": TYPE,
                "name": canonical,
                "properties": {
                    "tenantId": st.config.tenant_id,
                    "displayName": display,
                    "details": {
                        "version": version,
                        "updatedTime": super::http::now_rfc3339(),
                        "updatedBy": null,
                        "parent": {"id": id_of(&parent)},
                    },
                },
            });
            st.store
                .put_scoped(&id_of(&canonical), "/", TYPE, &stored)?;
            let tree = Tree::load(st)?;
            let b = body(st, &tree, &canonical);
            if existing.is_some() {
                return Ok(json_body(&b));
            }
            Ok(accepted(
                st,
                req,
                "create",
                &canonical,
                &json!({"id": b["id"], "type": TYPE, "name": b["name"], "status": "NotStarted"}),
            ))
        }
        Method::DELETE => {
            if tree.is_root(name) {
                return Err(ArmError::bad_request(
                    "InvalidRequest",
                    "The tenant root group cannot be deleted.",
                ));
            }
            let Some(canonical) = tree.canonical(name) else {
                return Ok(empty(StatusCode::NO_CONTENT));
            };
            let kids = tree.children(&canonical);
            let subs = st
                .store
                .list_subscriptions()?
                .iter()
                .filter_map(|s| s["subscriptionId"].as_str().map(str::to_string))
                .filter(|s| tree.group_of(s).eq_ignore_ascii_case(&canonical))
                .count();
            if !kids.is_empty() || subs > 0 {
                return Err(ArmError::bad_request(
                    "ManagementGroupHasChildren",
                    format!(
                        "The management group '{canonical}' has {} child group(s) and {subs} subscription(s): move or delete them first.",
                        kids.len()
                    ),
                ));
            }
            st.store.delete_scoped(&id_of(&canonical))?;
            Ok(accepted(
                st,
                req,
                "delete",
                &canonical,
                &json!({"id": id_of(&canonical), "type": TYPE, "name": canonical, "status": "NotStarted"}),
            ))
        }
        _ => Err(method_not_allowed(req)),
    }
}

fn subscription(
    st: &AppState,
    req: &Req,
    tree: &Tree,
    mg: &str,
    raw_sub: &str,
) -> Result<Response, ArmError> {
    let mg = tree.canonical(mg).ok_or_else(|| not_found(mg))?;
    match req.method {
        Method::PUT => {
            let sub = super::http::ensure_subscription(st, raw_sub)?;
            // A subscription is in one group: placing it moves it.
            if let Some(old) = tree.placed.get(&sub.to_ascii_lowercase()) {
                st.store.delete_scoped(&placement_id(old, &sub))?;
            }
            if !tree.is_root(&mg) {
                let record = json!({"name": sub, "properties": {"parent": {"id": id_of(&mg)}}});
                st.store.put_scoped(
                    &placement_id(&mg, &sub),
                    &id_of(&mg),
                    SUBSCRIPTION_TYPE,
                    &record,
                )?;
            }
            let body = st.store.get_subscription(&sub)?.unwrap_or_default();
            Ok(json_body(&placement(st, &mg, &body)))
        }
        Method::GET => {
            let body = st.store.get_subscription(raw_sub)?;
            match body {
                Some(b) if tree.group_of(raw_sub).eq_ignore_ascii_case(&mg) => {
                    Ok(json_body(&placement(st, &mg, &b)))
                }
                _ => Err(ArmError::not_found(
                    "SubscriptionNotFound",
                    format!("The subscription '{raw_sub}' is not under management group '{mg}'."),
                )),
            }
        }
        Method::DELETE => {
            // Back to the tenant root group, as in Azure.
            if tree.group_of(raw_sub).eq_ignore_ascii_case(&mg) && !tree.is_root(&mg) {
                st.store.delete_scoped(&placement_id(&mg, raw_sub))?;
            }
            Ok(empty(StatusCode::OK))
        }
        _ => Err(method_not_allowed(req)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        let g = |name: &str, parent: &str| {
            (
                name.to_ascii_lowercase(),
                (name.to_string(), parent.to_string()),
            )
        };
        Tree {
            root: "tenant".into(),
            groups: [
                g("mg-nhs", "tenant"),
                g("mg-Acute", "MG-NHS"),
                g("mg-orphan", "mg-deleted"),
            ]
            .into_iter()
            .collect(),
            placed: [("sub-a".to_string(), "mg-acute".to_string())]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn ids_name_their_group_only_when_they_are_a_management_group() {
        assert_eq!(
            name_of("/providers/microsoft.management/MANAGEMENTGROUPS/mg-nhs"),
            Some("mg-nhs")
        );
        assert_eq!(name_of(&format!("{PREFIX}mg-nhs/subscriptions/s")), None);
        assert_eq!(name_of(PREFIX), None);
        assert_eq!(name_of("/subscriptions/s"), None);
        assert_eq!(name_of("/prövïders"), None);
    }

    #[test]
    fn chains_run_to_the_root_case_insensitively_and_unplaced_subscriptions_hang_from_it() {
        let t = tree();
        assert_eq!(t.chain("MG-ACUTE"), ["mg-Acute", "mg-nhs", "tenant"]);
        assert_eq!(
            t.chain(&t.group_of("SUB-A")),
            ["mg-Acute", "mg-nhs", "tenant"]
        );
        assert_eq!(t.chain(&t.group_of("sub-b")), ["tenant"]);
        // A group whose parent is gone hangs from the root.
        assert_eq!(t.chain("mg-orphan"), ["mg-orphan", "tenant"]);
        assert_eq!(t.children("mg-nhs"), ["mg-Acute"]);
        assert_eq!(t.canonical("MG-acute").as_deref(), Some("mg-Acute"));
        assert!(t.exists("TENANT") && !t.exists("mg-deleted"));
    }
}
