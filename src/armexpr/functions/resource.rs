//! Resource functions (Microsoft's "Resource functions for ARM templates"): ids, `reference()`, `list*`
//! actions (answered by the context: the local cloud, or "not yet known" for static checks) and `pickZones`.

use super::kinds::{ANY, I, S};
use super::Family::Resource as F;
use super::{all_strings, def, func_err, int_at, str_at, FunctionDef, Imp, LIST, MANY};
use crate::armexpr::eval::Evaluator;
use crate::armexpr::ids;
use crate::armexpr::Error;
use serde_json::Value;

#[rustfmt::skip]
pub(super) const DEFS: &[FunctionDef] = &[
    def(F, "extensionResourceId", (3, MANY), &[S], S, Imp::Eager(extension_resource_id), "an extension resource's id under a scope id"),
    def(F, LIST, (2, 3), &[S, S], ANY, Imp::Eager(list), "`listKeys`, `listSecrets`... answered by the cloud (not in variables)"),
    def(F, "managementGroupResourceId", (2, MANY), &[S], S, Imp::Eager(management_group_resource_id), "a management-group-level resource id (the group named first, or the deployment's)"),
    def(F, "pickZones", (3, 5), &[S, S, S, I, I], ANY, Imp::Eager(pick_zones), "availability zones of a region (`[]` where it has none)"),
    def(F, "providers", (1, 2), &[S, S], ANY, Imp::Eager(providers), "deprecated by Microsoft: a provider's types, locations and api-versions (write the api-version instead)"),
    def(F, "reference", (1, 3), &[S, S, S], ANY, Imp::Eager(reference), "a resource's state, `'Full'` for the whole resource (not in variables)"),
    def(F, "references", (1, 2), &[], ANY, Imp::Refused("symbolic-name collections are not supported"), ""),
    def(F, "resourceId", (2, MANY), &[S], S, Imp::Eager(resource_id), "a resource id (subscription and group optional; trailing `/` on the type allowed)"),
    def(F, "subscriptionResourceId", (2, MANY), &[S], S, Imp::Eager(subscription_resource_id), "a subscription-level resource id"),
    def(F, "tenantResourceId", (2, MANY), &[S], S, Imp::Eager(tenant_resource_id), "a tenant-level resource id"),
];

impl Evaluator<'_> {
    /// ARM evaluates variables before any resource exists, so `reference()` and `list*()` may not be used in
    /// them (its rule, and the reason variables can be cached).
    fn not_in_variable(&self, function: &str) -> Result<(), Error> {
        match self.in_variable() {
            Some(var) => Err(Error::Signature {
                function: function.to_string(),
                message: format!("cannot be used in variables (used in variable '{var}'); use it in the resource or output instead"),
            }),
            None => Ok(()),
        }
    }

    fn subscription_id(&self) -> Result<String, Error> {
        self.ctx
            .subscription_id()
            .ok_or_else(|| Error::template("the deployment context has no subscriptionId"))
    }

    /// A name declared in the template → its resource id; anything else as given.
    fn resolve_name(&self, target: &str) -> String {
        if target.starts_with('/') {
            return target.to_string();
        }
        self.names
            .and_then(|n| n.get(&target.to_ascii_lowercase()))
            .cloned()
            .unwrap_or_else(|| target.to_string())
    }
}

fn reference(ev: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    ev.not_in_variable("reference")?;
    let target = str_at(&args, 0);
    let api = args.get(1).and_then(Value::as_str);
    let full = args
        .get(2)
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("full"));
    let id = ev.resolve_name(target);
    ev.ctx.reference(&id, api, full)
}

fn list(ev: &Evaluator<'_>, name: &str, args: Vec<Value>) -> Result<Value, Error> {
    ev.not_in_variable(name)?;
    let id = ev.resolve_name(str_at(&args, 0));
    ev.ctx.list(name, &id, str_at(&args, 1), args.get(2))
}

/// `resourceId([subscriptionId], [resourceGroupName], resourceType, name1, name2, ...)`.
fn resource_id(ev: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let strs = all_strings(&args);
    // The type is the first argument with a '/': subscription ids and group names cannot contain one.
    let type_at = strs.iter().position(|s| s.contains('/')).ok_or_else(|| {
        Error::func(
            "resourceId",
            "no resource type (like 'Microsoft.Storage/storageAccounts') among the arguments",
        )
    })?;
    let (rtype, names) = (strs[type_at], &strs[type_at + 1..]);
    if names.is_empty() {
        return Err(Error::func(
            "resourceId",
            format!("type '{rtype}' needs at least one name"),
        ));
    }
    let scope = match &strs[..type_at] {
        // Microsoft's resourceId reference: at management group (or tenant) scope the id is
        // `/providers/{namespace}/{type}/{name}`; managementGroupResourceId gives the group-level one.
        [] if ev.ctx.subscription_id().is_none() && ev.ctx.management_group().is_some() => {
            String::new()
        }
        [] => match ev.ctx.resource_group_name() {
            Some(rg) => ids::resource_group_id(&ev.subscription_id()?, &rg),
            None => ids::subscription_id(&ev.subscription_id()?),
        },
        [rg] => ids::resource_group_id(&ev.subscription_id()?, rg),
        [sub, rg] => ids::resource_group_id(sub, rg),
        _ => {
            return Err(Error::func(
                "resourceId",
                "at most a subscription id and a resource group may precede the type",
            ))
        }
    };
    let path = ids::provider_path(rtype, names).map_err(|e| func_err("resourceId", e))?;
    Ok(Value::String(format!("{scope}/providers/{path}")))
}

fn subscription_resource_id(ev: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let strs = all_strings(&args);
    let (sub, rest) = if strs.len() >= 3 && !strs[0].contains('/') && strs[1].contains('/') {
        (strs[0].to_string(), &strs[1..])
    } else {
        (ev.subscription_id()?, &strs[..])
    };
    let path = ids::provider_path(rest[0], &rest[1..])
        .map_err(|e| func_err("subscriptionResourceId", e))?;
    Ok(Value::String(format!(
        "{}/providers/{path}",
        ids::subscription_id(&sub)
    )))
}

/// `managementGroupResourceId([managementGroupName], resourceType, name1, ...)`: without a group name, the
/// deployment's own management group.
fn management_group_resource_id(
    ev: &Evaluator<'_>,
    _: &str,
    args: Vec<Value>,
) -> Result<Value, Error> {
    let strs = all_strings(&args);
    let (group, rest) = if strs.len() >= 3 && !strs[0].contains('/') && strs[1].contains('/') {
        (strs[0].to_string(), &strs[1..])
    } else {
        let current = ev.ctx.management_group().ok_or_else(|| {
            Error::func(
                "managementGroupResourceId",
                "names no management group, and this deployment is not at management group scope",
            )
        })?;
        let name = current["name"].as_str().unwrap_or_default().to_string();
        (name, &strs[..])
    };
    let path = ids::provider_path(rest[0], &rest[1..])
        .map_err(|e| func_err("managementGroupResourceId", e))?;
    Ok(Value::String(format!(
        "/providers/Microsoft.Management/managementGroups/{group}/providers/{path}"
    )))
}

/// `providers(namespace, [resourceType])`. Microsoft has deprecated it in templates ("we no longer recommend
/// using it"; a dynamically chosen api-version can break a template when properties change between versions),
/// but still answers it: `{namespace, resourceTypes: [{resourceType, locations, apiVersions}]}`, or one type's
/// `{resourceType, locations, apiVersions}`.
fn providers(ev: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    ev.ctx
        .providers(str_at(&args, 0), args.get(1).and_then(Value::as_str))
}

fn tenant_resource_id(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let strs = all_strings(&args);
    let path =
        ids::provider_path(strs[0], &strs[1..]).map_err(|e| func_err("tenantResourceId", e))?;
    Ok(Value::String(format!("/providers/{path}")))
}

fn extension_resource_id(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let strs = all_strings(&args);
    let path =
        ids::provider_path(strs[1], &strs[2..]).map_err(|e| func_err("extensionResourceId", e))?;
    Ok(Value::String(format!(
        "{}/providers/{path}",
        strs[0].trim_end_matches('/')
    )))
}

/// Public Azure regions with availability zones (Microsoft's "Azure regions with availability zone support",
/// 2026). `pickZones` answers `[]` elsewhere, as Azure does for a region without zones.
const ZONAL_REGIONS: &[&str] = &[
    "australiaeast",
    "austriaeast",
    "brazilsouth",
    "canadacentral",
    "centralindia",
    "centralus",
    "chilecentral",
    "eastasia",
    "eastus",
    "eastus2",
    "francecentral",
    "germanywestcentral",
    "indonesiacentral",
    "israelcentral",
    "italynorth",
    "japaneast",
    "japanwest",
    "koreacentral",
    "malaysiawest",
    "mexicocentral",
    "newzealandnorth",
    "northeurope",
    "norwayeast",
    "polandcentral",
    "qatarcentral",
    "southafricanorth",
    "southcentralus",
    "southeastasia",
    "spaincentral",
    "swedencentral",
    "switzerlandnorth",
    "uaenorth",
    "uksouth",
    "westeurope",
    "westus2",
    "westus3",
];

/// `pickZones(namespace, type, location, [numberOfZones = 1], [offset = 0])`: zones `"1"`..`"3"`.
fn pick_zones(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let location: String = str_at(&args, 2)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let count = if args.len() > 3 { int_at(&args, 3) } else { 1 };
    let offset = if args.len() > 4 { int_at(&args, 4) } else { 0 };
    if !(0..=3).contains(&count) || !(0..=2).contains(&offset) {
        return Err(Error::func(
            "pickZones",
            format!("numberOfZones must be 0 to 3 and offset 0 to 2; got {count} and {offset}"),
        ));
    }
    if !ZONAL_REGIONS.contains(&location.as_str()) {
        return Ok(Value::Array(Vec::new()));
    }
    Ok(Value::Array(
        (0..count)
            .map(|i| Value::String(((offset + i) % 3 + 1).to_string()))
            .collect(),
    ))
}
