//! The write path a direct request and a deployment share: subscriptions created on first use, resource
//! groups, and resource writes validated as a provider would accept them.

use super::{derived_guid, finish_operation};
use crate::cloud::catalog::{self, normalize_location};
use crate::cloud::errors::ArmError;
use crate::cloud::ids::{self, ResourceId};
use crate::cloud::store::Store;
use crate::cloud::{policy, AppState};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The subscription id as first seen (created on first use). Must be a GUID, as in Azure.
pub fn ensure_subscription(st: &AppState, raw: &str) -> Result<String, ArmError> {
    if uuid::Uuid::parse_str(raw).is_err() {
        return Err(ArmError::bad_request(
            "InvalidSubscriptionId",
            format!("The provided subscription identifier '{raw}' is malformed or invalid."),
        ));
    }
    if let Some(existing) = st.store.get_subscription(raw)? {
        return Ok(existing["subscriptionId"]
            .as_str()
            .unwrap_or(raw)
            .to_string());
    }
    let managed_by: Vec<Value> = crate::cloud::auth::managing_tenants(st, raw)
        .map(|t| json!({"tenantId": t}))
        .collect();
    let body = json!({
        "id": format!("/subscriptions/{raw}"),
        "subscriptionId": raw,
        "tenantId": crate::cloud::auth::subscription_tenant(st, raw),
        "displayName": format!("Local subscription {}", &raw[..8]),
        "state": "Enabled",
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
        "authorizationSource": "RoleBased",
        "managedByTenants": managed_by,
        "tags": {},
    });
    st.store.put_subscription(raw, &body)?;
    Ok(raw.to_string())
}

pub fn rg_not_found(rg: &str) -> ArmError {
    ArmError::not_found(
        "ResourceGroupNotFound",
        format!("Resource group '{rg}' could not be found."),
    )
}

/// The stored name of an existing, not-being-deleted group.
pub fn existing_rg(st: &AppState, sub: &str, rg: &str) -> Result<String, ArmError> {
    match st.store.get_rg(sub, rg)? {
        None => Err(rg_not_found(rg)),
        Some((_, state)) if state == "Deleting" => Err(ArmError::conflict(
            "ResourceGroupBeingDeleted",
            format!("The resource group '{rg}' is in deprovisioning state and cannot perform this operation."),
        )),
        Some((body, _)) => Ok(body["name"].as_str().unwrap_or(rg).to_string()),
    }
}

/// Create or update a resource group (used by the HTTP handler and by deployments). Returns the body and
/// whether it was created.
pub fn put_resource_group(
    st: &AppState,
    sub: &str,
    rg: &str,
    input: &Value,
) -> Result<(Value, bool), ArmError> {
    crate::cloud::names::check_resource_group(rg)?;
    let Some(raw_loc) = input["location"].as_str() else {
        return Err(ArmError::bad_request(
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    };
    let loc = normalize_location(raw_loc);
    if !catalog::is_region(&loc) {
        return Err(ArmError::bad_request(
            "LocationNotAvailableForResourceGroup",
            format!(
                "The provided location '{raw_loc}' is not available for resource group. List of available regions is '{}'.",
                catalog::REGIONS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(",")
            ),
        ));
    }
    let existing = st.store.get_rg(sub, rg)?;
    let name = match &existing {
        Some((_, state)) if state == "Deleting" => {
            return Err(ArmError::conflict(
                "ResourceGroupBeingDeleted",
                format!("The resource group '{rg}' is in deprovisioning state and cannot perform this operation."),
            ))
        }
        Some((body, _)) => {
            let old = body["location"].as_str().unwrap_or("");
            if old != loc {
                return Err(ArmError::conflict(
                    "InvalidResourceGroupLocation",
                    format!("Invalid resource group location '{raw_loc}'. The Resource group already exists in location '{old}'."),
                ));
            }
            body["name"].as_str().unwrap_or(rg).to_string()
        }
        None => rg.to_string(),
    };
    let mut body = json!({
        "id": ids::scope_id(sub, Some(&name)),
        "name": name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": loc,
    });
    if let Some(tags) = input.get("tags").filter(|t| t.is_object()) {
        body["tags"] = tags.clone();
    }
    if let Some(m) = input.get("managedBy").filter(|t| t.is_string()) {
        body["managedBy"] = m.clone();
    }
    policy::on_write(
        st,
        sub,
        &ids::scope_id(sub, Some(&name)),
        "Microsoft.Resources/resourceGroups",
        &mut body,
    )?;
    body["properties"] = json!({"provisioningState": "Succeeded"});
    st.store.put_rg(sub, &name, "Succeeded", &body)?;
    Ok((body, existing.is_none()))
}

/// Delete a group after the configured operation duration; the delete itself is one transaction.
pub fn spawn_rg_delete(st: &Arc<AppState>, sub: String, rg: String, op: String) {
    let st2 = Arc::clone(st);
    st.spawn(async move {
        tokio::time::sleep(st2.config.lro).await;
        let result = st2.store.delete_rg_cascade(&sub, &rg);
        let _ = match result {
            Ok(()) => finish_operation(&st2, &op, "Succeeded", 200, None),
            Err(e) => finish_operation(
                &st2,
                &op,
                "Failed",
                500,
                Some(json!({"error": e.to_value()})),
            ),
        };
    });
}

pub fn resource_not_found(id: &ResourceId) -> ArmError {
    let where_ = match &id.resource_group {
        Some(rg) => format!("under resource group '{rg}'"),
        None => format!("under subscription '{}'", id.subscription),
    };
    ArmError::not_found(
        "ResourceNotFound",
        format!(
            "The Resource '{}/{}' {where_} was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            id.resource_type(),
            id.name()
        ),
    )
}

/// A resource write that passed every check, ready to store.
pub struct PreparedWrite {
    pub id: String,
    pub subscription: String,
    pub resource_group: Option<String>,
    pub resource_type: &'static str,
    pub body: Value,
    /// The stored body before this write, if the resource exists.
    pub existing: Option<Value>,
}

/// Validate a resource write as a provider would accept it and build the body it would store, without
/// storing it (what-if uses this too). `patch` merges the input into the existing resource.
pub fn prepare_write(
    st: &AppState,
    id: &ResourceId,
    api_version: &str,
    input: &Value,
    patch: bool,
) -> Result<PreparedWrite, ArmError> {
    let sub = ensure_subscription(st, &id.subscription)?;
    let rg = match &id.resource_group {
        Some(rg) => Some(existing_rg(st, &sub, rg)?),
        None => None,
    };
    let resource_type = id.resource_type();
    let info = catalog::check_type(&resource_type, api_version)?;
    for (i, name) in id.names.iter().enumerate() {
        let level = format!("{}/{}", id.namespace, id.types[..=i].join("/"));
        crate::cloud::names::check_resource(&level, name)?;
    }
    if info
        .name
        .eq_ignore_ascii_case("Microsoft.Resources/deployments")
    {
        return Err(ArmError::bad_request(
            "InvalidResourceType",
            "Deployments are created through the deployments API.",
        ));
    }
    let mut rid = id.clone();
    rid.subscription.clone_from(&sub);
    if let Some(rg) = &rg {
        // Keep the group's stored casing in ids.
        if rid
            .scope
            .eq_ignore_ascii_case(&ids::scope_id(&sub, Some(rg)))
        {
            rid.scope = ids::scope_id(&sub, Some(rg));
        }
        rid.resource_group = Some(rg.clone());
    }
    let canonical_id = rid.id();
    // Parents Azure creates implicitly (backup fabrics, protection containers) are not in the catalogue and
    // not checked.
    let mut parent = rid.parent();
    while let Some(p) = parent
        .as_ref()
        .filter(|p| super::super::providers::is_implicit(&p.resource_type(), &p.name()))
    {
        parent = p.parent();
    }
    let parent = parent.filter(|p| catalog::find_type(&p.resource_type()).is_some());
    if let Some(parent) = parent {
        if st.store.get_resource(&parent.id())?.is_none() {
            return Err(ArmError::not_found(
                "ParentResourceNotFound",
                format!(
                    "Can not perform requested operation on nested resource. Parent resource '{}' not found.",
                    parent.name()
                ),
            ));
        }
    }
    let existing = st.store.get_resource(&canonical_id)?;
    let mut body = if patch {
        let Some(mut cur) = existing.clone() else {
            return Err(resource_not_found(id));
        };
        merge(&mut cur, input);
        cur
    } else {
        input.clone()
    };
    let Some(obj) = body.as_object_mut() else {
        return Err(ArmError::bad_request(
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: a JSON object is expected.",
        ));
    };
    let location = obj
        .get("location")
        .and_then(Value::as_str)
        .map(normalize_location);
    catalog::check_location(info, location.as_deref())?;
    // Azure Policy acts on the request (modify, append, then deny) before the provider sees it.
    if let Some(l) = &location {
        obj.insert("location".into(), json!(l));
    }
    policy::on_write(st, &sub, &canonical_id, info.name, &mut body)?;
    let Some(obj) = body.as_object_mut() else {
        return Err(ArmError::internal(
            "a policy left the request without a body",
        ));
    };
    let mut out = Map::new();
    out.insert("id".into(), json!(canonical_id));
    out.insert("name".into(), json!(id.name()));
    out.insert("type".into(), json!(info.name));
    if let Some(l) = &location {
        out.insert("location".into(), json!(l));
    }
    for (k, v) in obj.iter() {
        if !matches!(
            k.as_str(),
            "id" | "name"
                | "type"
                | "location"
                | "apiVersion"
                | "dependsOn"
                | "condition"
                | "copy"
                | "scope"
                | "comments"
                | "resources"
        ) {
            out.insert(k.clone(), v.clone());
        }
    }
    if let Some(identity) = out.get_mut("identity").and_then(Value::as_object_mut) {
        if identity
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.to_lowercase().contains("systemassigned"))
        {
            identity.insert(
                "principalId".into(),
                json!(derived_guid(&canonical_id.to_lowercase())),
            );
            identity.insert("tenantId".into(), json!(st.config.tenant_id));
        }
    }
    // Values the identity provider would fill in, so `reference(...).principalId` works as in Azure.
    if let Some(uai) = out
        .get_mut("identity")
        .and_then(|i| i.get_mut("userAssignedIdentities"))
        .and_then(Value::as_object_mut)
    {
        for (uid, v) in uai.iter_mut() {
            *v = json!({
                "principalId": derived_guid(&format!("principal:{}", uid.to_lowercase())),
                "clientId": derived_guid(&format!("client:{}", uid.to_lowercase())),
            });
        }
    }
    let mut props = out
        .remove("properties")
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if info.name == "Microsoft.ManagedIdentity/userAssignedIdentities" {
        let key = canonical_id.to_lowercase();
        props["principalId"] = json!(derived_guid(&format!("principal:{key}")));
        props["clientId"] = json!(derived_guid(&format!("client:{key}")));
        props["tenantId"] = json!(st.config.tenant_id);
    }
    if policy::is_policy_type(info.name) {
        policy::complete(st, info.name, &canonical_id, &mut props)?;
    }
    super::super::providers::fill(info.name, &canonical_id, &out, &mut props, &|rid| {
        st.store.get_resource(rid).ok().flatten()
    });
    if !policy::is_policy_type(info.name) {
        props["provisioningState"] = json!("Succeeded");
    }
    out.insert("properties".into(), props);
    Ok(PreparedWrite {
        id: canonical_id,
        subscription: sub,
        resource_group: rg,
        resource_type: info.name,
        body: Value::Object(out),
        existing,
    })
}

/// Validate and store a resource write (used by HTTP and by deployments). Returns the stored body and whether
/// it is new.
pub fn write_resource(
    st: &AppState,
    id: &ResourceId,
    api_version: &str,
    input: &Value,
    patch: bool,
) -> Result<(Value, bool), ArmError> {
    let mut w = prepare_write(st, id, api_version, input, patch)?;
    seal_secret_value(st, &mut w.body)?;
    let created = st.store.tx(|tx| {
        Store::put_resource(
            tx,
            &w.id,
            &w.subscription,
            w.resource_group.as_deref(),
            w.resource_type,
            &w.body,
        )
    })?;
    Ok((w.body, created))
}

/// A Key Vault secret's value is stored sealed (see `sealed`); other bodies are stored as they are.
fn seal_secret_value(st: &AppState, body: &mut Value) -> Result<(), ArmError> {
    if !body["type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.KeyVault/vaults/secrets"))
    {
        return Ok(());
    }
    if let Some(v) = body["properties"]["value"].as_str() {
        let sealed = st
            .sealer
            .seal(v)
            .ok_or_else(|| ArmError::internal("The local cloud could not seal a secret value."))?;
        body["properties"]["value"] = json!(sealed);
    }
    Ok(())
}

/// The plain value of a stored Key Vault secret.
pub fn secret_value(st: &AppState, stored: &Value) -> Option<String> {
    st.sealer.open(stored["properties"]["value"].as_str()?)
}

/// A resource as clients see it: Key Vault secret values are write-only, as in Azure.
pub fn redact(mut body: Value) -> Value {
    let is_secret = body["type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.KeyVault/vaults/secrets"));
    if is_secret {
        if let Some(p) = body.get_mut("properties").and_then(Value::as_object_mut) {
            p.remove("value");
        }
    }
    body
}

/// JSON merge (RFC 7386-like) used by PATCH: objects merge, everything else replaces; `tags` replace whole.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else if k == "tags" {
                    t.insert(k.clone(), v.clone());
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}
