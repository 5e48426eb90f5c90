//! Pure request builders: no IO, unit-tested on method, URL and body. The SDK builds the requests it has
//! builders for (resource groups, deployments); these cover what it cannot: polling URLs taken from
//! response headers, generic resources with their provider's own api-version, subscriptions, next pages,
//! and the conversion of our [`DeploymentRequest`] into the SDK's request bodies.

use super::error::{Error, Result};
use super::models::{
    ActionOnUnmanage, DeploymentMode, DeploymentRequest, DeploymentScope, StackRequest,
};
use azure_mgmt_resources::package_resources_2021_04::models as sdk;
use serde_json::Value;
use url::Url;

/// The api-version of the `Microsoft.Resources` calls the SDK makes (fixed by the SDK package).
pub const RESOURCES_API_VERSION: &str = "2021-04-01";
/// The api-version for `GET /subscriptions/{id}`.
pub const SUBSCRIPTIONS_API_VERSION: &str = "2022-12-01";

/// HTTP methods the client sends over raw HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// POST
    Post,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Post => "POST",
        }
    }
}

/// A request to send: everything but the bearer token.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmRequest {
    /// Method.
    pub method: Method,
    /// Absolute URL, with `api-version`.
    pub url: Url,
    /// JSON body, if any.
    pub body: Option<Value>,
}

impl ArmRequest {
    /// Safe to resend after a connection error: the method is idempotent by HTTP's definition, or the POST is
    /// a what-if (a deployment's or a stack's), which predicts and changes nothing.
    pub fn idempotent(&self) -> bool {
        !matches!(self.method, Method::Post) || self.url.path().ends_with("/whatIf")
    }
}

/// `endpoint` + `path` + `?api-version=`. `path` must be absolute; ARM ids are used as paths verbatim.
pub fn arm_url(endpoint: &Url, path: &str, api_version: &str) -> Result<Url> {
    if !path.starts_with('/') || path.contains("//") || path.contains('?') || path.contains('#') {
        return Err(Error::InvalidUrl {
            url: path.to_owned(),
            message: "expected an ARM path or resource id like /subscriptions/{id}/...".into(),
        });
    }
    let mut url = endpoint.clone();
    url.set_path(path);
    url.set_query(None);
    url.query_pairs_mut()
        .append_pair("api-version", api_version);
    Ok(url)
}

/// `GET /subscriptions/{id}`.
pub fn get_subscription(endpoint: &Url, subscription_id: &str) -> Result<ArmRequest> {
    Ok(ArmRequest {
        method: Method::Get,
        url: arm_url(
            endpoint,
            &format!("/subscriptions/{subscription_id}"),
            SUBSCRIPTIONS_API_VERSION,
        )?,
        body: None,
    })
}

/// `GET {resourceId}?api-version={provider's version}`.
pub fn get_resource(endpoint: &Url, id: &str, api_version: &str) -> Result<ArmRequest> {
    Ok(ArmRequest {
        method: Method::Get,
        url: arm_url(endpoint, id, api_version)?,
        body: None,
    })
}

/// `PUT {resourceId}?api-version=...` with the resource body.
pub fn put_resource(
    endpoint: &Url,
    id: &str,
    api_version: &str,
    body: Value,
) -> Result<ArmRequest> {
    Ok(ArmRequest {
        method: Method::Put,
        url: arm_url(endpoint, id, api_version)?,
        body: Some(body),
    })
}

/// `DELETE {resourceId}?api-version=...`.
pub fn delete_resource(endpoint: &Url, id: &str, api_version: &str) -> Result<ArmRequest> {
    Ok(ArmRequest {
        method: Method::Delete,
        url: arm_url(endpoint, id, api_version)?,
        body: None,
    })
}

/// `GET` of a URL ARM gave us (`Azure-AsyncOperation`, `Location`, `nextLink`). It must be on the
/// endpoint's origin: the bearer token goes with it, and a header must not be able to send it elsewhere.
pub fn get_absolute(endpoint: &Url, link: &str) -> Result<ArmRequest> {
    let url = Url::parse(link).map_err(|e| Error::InvalidUrl {
        url: link.to_owned(),
        message: e.to_string(),
    })?;
    if url.origin() != endpoint.origin() {
        return Err(Error::InvalidUrl {
            url: link.to_owned(),
            message: format!(
                "not on the Resource Manager endpoint {}; refusing to send the token there",
                endpoint.origin().ascii_serialization()
            ),
        });
    }
    Ok(ArmRequest {
        method: Method::Get,
        url,
        body: None,
    })
}

/// `GET /subscriptions/{s}/resourcegroups[?$filter=...]` (our own, so that unknown fields and values do not
/// fail the strict SDK models its pageable parses into).
pub fn list_resource_groups(
    endpoint: &Url,
    subscription_id: &str,
    filter: Option<&str>,
) -> Result<ArmRequest> {
    let mut url = arm_url(
        endpoint,
        &format!("/subscriptions/{subscription_id}/resourcegroups"),
        RESOURCES_API_VERSION,
    )?;
    if let Some(f) = filter {
        url.query_pairs_mut().append_pair("$filter", f);
    }
    Ok(ArmRequest {
        method: Method::Get,
        url,
        body: None,
    })
}

/// `GET {deployment}/operations`, on the `providers/Microsoft.Resources` path at both scopes (the SDK uses
/// the legacy resource-group path without it).
pub fn list_deployment_operations(
    endpoint: &Url,
    scope: &DeploymentScope,
    name: &str,
) -> Result<ArmRequest> {
    Ok(ArmRequest {
        method: Method::Get,
        url: arm_url(
            endpoint,
            &format!("{}/operations", scope.deployment_path(name)),
            RESOURCES_API_VERSION,
        )?,
        body: None,
    })
}

fn sdk_properties(req: &DeploymentRequest) -> sdk::DeploymentProperties {
    let mode = match req.mode {
        DeploymentMode::Complete => sdk::deployment_properties::Mode::Complete,
        // Unknown modes cannot be sent through the SDK's enum; Incremental is the safe one.
        _ => sdk::deployment_properties::Mode::Incremental,
    };
    let mut p = sdk::DeploymentProperties::new(mode);
    p.template = Some(req.template.clone());
    p.parameters = Some(Value::Object(req.parameters.clone()));
    p
}

fn tags_value(req: &DeploymentRequest) -> Option<Value> {
    (!req.tags.is_empty()).then(|| serde_json::to_value(&req.tags).unwrap_or(Value::Null))
}

/// The SDK's body for a deployment PUT or validate.
pub(crate) fn deployment_body(req: &DeploymentRequest) -> sdk::Deployment {
    let mut d = sdk::Deployment::new(sdk_properties(req));
    d.location = req.location.clone();
    d.tags = tags_value(req);
    d
}

/// The body of a deployment PUT as JSON: what [`deployment_body`] serialises to, built directly.
pub(crate) fn deployment_json(req: &DeploymentRequest) -> Value {
    let mode = match req.mode {
        DeploymentMode::Complete => "Complete",
        _ => "Incremental",
    };
    let mut body = serde_json::json!({
        "properties": {"mode": mode, "template": req.template, "parameters": req.parameters}
    });
    if let Some(location) = &req.location {
        body["location"] = Value::String(location.clone());
    }
    if let Some(tags) = tags_value(req) {
        body["tags"] = tags;
    }
    body
}

/// The SDK's body for a what-if; `FullResourcePayloads` so that modifies carry property-level deltas.
pub(crate) fn what_if_body(req: &DeploymentRequest) -> sdk::DeploymentWhatIf {
    let mut props = sdk::DeploymentWhatIfProperties::new(sdk_properties(req));
    props.what_if_settings = Some(sdk::DeploymentWhatIfSettings {
        result_format: Some(sdk::deployment_what_if_settings::ResultFormat::FullResourcePayloads),
    });
    let mut w = sdk::DeploymentWhatIf::new(props);
    w.location = req.location.clone();
    w
}

/// The SDK's body for a resource group PUT.
pub(crate) fn resource_group_body(
    location: &str,
    tags: &std::collections::BTreeMap<String, String>,
) -> sdk::ResourceGroup {
    let mut g = sdk::ResourceGroup::new(location.to_owned());
    g.tags = Some(serde_json::to_value(tags).unwrap_or(Value::Null));
    g
}

/// The api-version of `Microsoft.Resources/deploymentStacks` (GA; the SDK package has no stacks).
pub const STACKS_API_VERSION: &str = "2024-03-01";

/// The path of stack `name` at `scope`.
pub fn stack_path(scope: &DeploymentScope, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Resources/deploymentStacks/{name}",
        scope.path()
    )
}

/// `PUT .../deploymentStacks/{name}`: create or update a stack (a long-running operation).
pub fn put_stack(
    endpoint: &Url,
    scope: &DeploymentScope,
    name: &str,
    req: &StackRequest,
) -> Result<ArmRequest> {
    put_resource(
        endpoint,
        &stack_path(scope, name),
        STACKS_API_VERSION,
        stack_json(req),
    )
}

/// `GET .../deploymentStacks/{name}`.
pub fn get_stack(endpoint: &Url, scope: &DeploymentScope, name: &str) -> Result<ArmRequest> {
    get_resource(endpoint, &stack_path(scope, name), STACKS_API_VERSION)
}

/// `DELETE .../deploymentStacks/{name}?unmanageAction.Resources=...&unmanageAction.ResourceGroups=...`:
/// the stack goes, and its resources are deleted or detached as `action` says. With `bypass_out_of_sync`,
/// also `bypassStackOutOfSyncError=true`.
pub fn delete_stack(
    endpoint: &Url,
    scope: &DeploymentScope,
    name: &str,
    action: &ActionOnUnmanage,
    bypass_out_of_sync: bool,
) -> Result<ArmRequest> {
    let mut url = arm_url(endpoint, &stack_path(scope, name), STACKS_API_VERSION)?;
    url.query_pairs_mut()
        .append_pair("unmanageAction.Resources", action.resources.as_str())
        .append_pair(
            "unmanageAction.ResourceGroups",
            action.resource_groups.as_str(),
        )
        .append_pair("unmanageAction.ManagementGroups", "detach");
    if bypass_out_of_sync {
        url.query_pairs_mut()
            .append_pair("bypassStackOutOfSyncError", "true");
    }
    Ok(ArmRequest {
        method: Method::Delete,
        url,
        body: None,
    })
}

/// The api-version of the deployment stack what-if (`Microsoft.Resources/deploymentStacksWhatIfResults`,
/// generally available since August 2026).
pub const STACK_WHAT_IF_API_VERSION: &str = "2025-07-01";

/// The path of stack what-if result `name` at `scope`.
pub fn stack_what_if_path(scope: &DeploymentScope, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Resources/deploymentStacksWhatIfResults/{name}",
        scope.path()
    )
}

/// `PUT .../deploymentStacksWhatIfResults/{name}`: the stack definition to compare with stack `stack_id`,
/// kept by Azure for `retentionInterval` (a day).
pub fn put_stack_what_if(
    endpoint: &Url,
    scope: &DeploymentScope,
    name: &str,
    req: &StackRequest,
    stack_id: &str,
) -> Result<ArmRequest> {
    let mut body = stack_json(req);
    body["properties"]["deploymentStackResourceId"] = Value::String(stack_id.to_owned());
    body["properties"]["retentionInterval"] = Value::String("P1D".to_owned());
    put_resource(
        endpoint,
        &stack_what_if_path(scope, name),
        STACK_WHAT_IF_API_VERSION,
        body,
    )
}

/// `POST .../deploymentStacksWhatIfResults/{name}/whatIf`: predict (a long-running operation).
pub fn run_stack_what_if(
    endpoint: &Url,
    scope: &DeploymentScope,
    name: &str,
) -> Result<ArmRequest> {
    Ok(ArmRequest {
        method: Method::Post,
        url: arm_url(
            endpoint,
            &format!("{}/whatIf", stack_what_if_path(scope, name)),
            STACK_WHAT_IF_API_VERSION,
        )?,
        body: None,
    })
}

/// The body of a stack PUT.
pub(crate) fn stack_json(req: &StackRequest) -> Value {
    let d = &req.deployment;
    let mut body = serde_json::json!({
        "properties": {
            "description": req.description,
            "template": d.template,
            "parameters": d.parameters,
            "denySettings": req.deny_settings,
            "actionOnUnmanage": {
                "resources": req.action_on_unmanage.resources.as_str(),
                "resourceGroups": req.action_on_unmanage.resource_groups.as_str(),
                "managementGroups": "detach",
            },
            "bypassStackOutOfSyncError": req.bypass_out_of_sync,
        }
    });
    if let Some(location) = &d.location {
        body["location"] = Value::String(location.clone());
    }
    if let Some(tags) = tags_value(d) {
        body["tags"] = tags;
    }
    body
}

/// The api-version of the activity log (`Microsoft.Insights/eventtypes/management/values`).
pub const ACTIVITY_LOG_API_VERSION: &str = "2015-04-01";

/// `GET /subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values?$filter=eventTimestamp
/// ge '{from}' and status eq 'Failed'`: the failed requests of a subscription since `from` (RFC 3339).
pub fn list_failed_activity(
    endpoint: &Url,
    subscription_id: &str,
    from: &str,
) -> Result<ArmRequest> {
    let mut url = arm_url(
        endpoint,
        &format!(
            "/subscriptions/{subscription_id}/providers/Microsoft.Insights/eventtypes/management/values"
        ),
        ACTIVITY_LOG_API_VERSION,
    )?;
    url.query_pairs_mut().append_pair(
        "$filter",
        &format!(
            "eventTimestamp ge '{}' and status eq 'Failed'",
            from.replace('\'', "")
        ),
    );
    Ok(ArmRequest {
        method: Method::Get,
        url,
        body: None,
    })
}

/// `$filter` for listing resource groups by one tag.
pub fn tag_filter(name: &str, value: &str) -> String {
    // OData string literals escape a quote by doubling it.
    format!(
        "tagName eq '{}' and tagValue eq '{}'",
        name.replace('\'', "''"),
        value.replace('\'', "''")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stack_request() -> StackRequest {
        StackRequest {
            deployment: DeploymentRequest {
                location: None,
                tags: [("managed-by".to_owned(), "trustprint".to_owned())]
                    .into_iter()
                    .collect(),
                mode: DeploymentMode::Incremental,
                template: json!({"resources": []}),
                parameters: serde_json::Map::new(),
            },
            description: "epr".into(),
            deny_settings: crate::arm::DenySettings {
                mode: crate::model::DenyMode::DenyDelete,
                excluded_principals: vec!["0b6f3c2e-7d41-4a5e-9c18-2f7e4d6a1b93".into()],
                excluded_actions: vec![],
                apply_to_child_scopes: false,
            },
            action_on_unmanage: ActionOnUnmanage {
                resources: crate::model::UnmanageAction::Delete,
                resource_groups: crate::model::UnmanageAction::Detach,
            },
            bypass_out_of_sync: false,
        }
    }

    #[test]
    fn a_stack_put_carries_deny_settings_and_the_unmanage_actions() {
        let endpoint = Url::parse("https://management.azure.com").unwrap();
        let scope = DeploymentScope::ResourceGroup {
            subscription_id: "s".into(),
            resource_group: "rg-rm3-uks-epr".into(),
        };
        let r = put_stack(&endpoint, &scope, "trustprint-epr", &stack_request()).unwrap();
        assert_eq!(r.method, Method::Put);
        assert_eq!(
            r.url.as_str(),
            "https://management.azure.com/subscriptions/s/resourcegroups/rg-rm3-uks-epr/providers/\
             Microsoft.Resources/deploymentStacks/trustprint-epr?api-version=2024-03-01"
        );
        assert_eq!(
            r.body.unwrap(),
            json!({
                "tags": {"managed-by": "trustprint"},
                "properties": {
                    "description": "epr",
                    "template": {"resources": []},
                    "parameters": {},
                    "denySettings": {
                        "mode": "denyDelete",
                        "excludedPrincipals": ["0b6f3c2e-7d41-4a5e-9c18-2f7e4d6a1b93"],
                        "excludedActions": [],
                        "applyToChildScopes": false
                    },
                    "actionOnUnmanage": {"resources": "delete", "resourceGroups": "detach", "managementGroups": "detach"},
                    "bypassStackOutOfSyncError": false
                }
            })
        );
    }

    #[test]
    fn a_stack_what_if_puts_the_stack_definition_then_posts_what_if_at_2025_07_01() {
        let endpoint = Url::parse("https://management.azure.com").unwrap();
        let scope = DeploymentScope::ResourceGroup {
            subscription_id: "s".into(),
            resource_group: "rg-epr".into(),
        };
        let stack_id = stack_path(&scope, "trustprint-epr");
        let r =
            put_stack_what_if(&endpoint, &scope, "epr-plan", &stack_request(), &stack_id).unwrap();
        assert_eq!(r.method, Method::Put);
        assert_eq!(
            r.url.as_str(),
            "https://management.azure.com/subscriptions/s/resourcegroups/rg-epr/providers/\
             Microsoft.Resources/deploymentStacksWhatIfResults/epr-plan?api-version=2025-07-01"
        );
        let body = r.body.unwrap();
        assert_eq!(
            body["properties"]["deploymentStackResourceId"],
            "/subscriptions/s/resourcegroups/rg-epr/providers/Microsoft.Resources/deploymentStacks/trustprint-epr"
        );
        assert_eq!(body["properties"]["retentionInterval"], "P1D");
        assert_eq!(body["properties"]["denySettings"]["mode"], "denyDelete");
        let r = run_stack_what_if(&endpoint, &scope, "epr-plan").unwrap();
        // A connection dropped under the POST is retried: a what-if changes nothing. Other POSTs are not.
        assert!(r.idempotent());
        let cancel = ArmRequest {
            method: Method::Post,
            url: arm_url(
                &endpoint,
                "/subscriptions/s/providers/Microsoft.Resources/deployments/d/cancel",
                "2024-03-01",
            )
            .unwrap(),
            body: None,
        };
        assert!(!cancel.idempotent());
        assert_eq!(r.method, Method::Post);
        assert_eq!(
            r.url.as_str(),
            "https://management.azure.com/subscriptions/s/resourcegroups/rg-epr/providers/\
             Microsoft.Resources/deploymentStacksWhatIfResults/epr-plan/whatIf?api-version=2025-07-01"
        );
        assert!(r.body.is_none());
    }

    #[test]
    fn the_activity_log_is_read_from_a_time_on_failed_requests_only() {
        let endpoint = Url::parse("https://management.azure.com").unwrap();
        let r = list_failed_activity(&endpoint, "s", "2026-12-04T00:00:00Z").unwrap();
        assert_eq!(
            r.url.as_str(),
            "https://management.azure.com/subscriptions/s/providers/Microsoft.Insights/eventtypes/management/\
             values?api-version=2015-04-01&%24filter=eventTimestamp+ge+%272026-12-04T00%3A00%3A00Z%27+and+\
             status+eq+%27Failed%27"
        );
    }

    #[test]
    fn a_stack_delete_names_what_happens_to_its_resources() {
        let endpoint = Url::parse("https://management.azure.com").unwrap();
        let scope = DeploymentScope::Subscription {
            subscription_id: "s".into(),
        };
        let r = delete_stack(
            &endpoint,
            &scope,
            "trustprint-governance",
            &stack_request().action_on_unmanage,
            false,
        )
        .unwrap();
        assert_eq!(r.method, Method::Delete);
        assert_eq!(
            r.url.as_str(),
            "https://management.azure.com/subscriptions/s/providers/Microsoft.Resources/deploymentStacks/\
             trustprint-governance?api-version=2024-03-01&unmanageAction.Resources=delete&\
             unmanageAction.ResourceGroups=detach&unmanageAction.ManagementGroups=detach"
        );
        // Only when the user asks: `bypassStackOutOfSyncError=true`.
        let r = delete_stack(
            &endpoint,
            &scope,
            "trustprint-governance",
            &stack_request().action_on_unmanage,
            true,
        )
        .unwrap();
        assert!(
            r.url.as_str().ends_with("&bypassStackOutOfSyncError=true"),
            "{}",
            r.url
        );
    }
    use std::collections::BTreeMap;

    fn endpoint() -> Url {
        Url::parse("http://127.0.0.1:8443").unwrap()
    }

    #[test]
    fn generic_resource_uses_the_providers_api_version_and_one_slash() {
        let id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-rm3";
        let r = get_resource(&endpoint(), id, "2023-07-01").unwrap();
        assert_eq!(r.method, Method::Get);
        assert_eq!(
            r.url.as_str(),
            "http://127.0.0.1:8443/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-rm3?api-version=2023-07-01"
        );
        let r = put_resource(
            &endpoint(),
            id,
            "2023-07-01",
            json!({"location": "uksouth"}),
        )
        .unwrap();
        assert_eq!(r.method, Method::Put);
        assert_eq!(r.body, Some(json!({"location": "uksouth"})));
        assert!(r.idempotent());
    }

    #[test]
    fn resource_ids_that_are_not_paths_are_refused() {
        let e = get_resource(&endpoint(), "subscriptions/s", "1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid URL subscriptions/s: expected an ARM path or resource id like /subscriptions/{id}/..."
        );
        assert!(get_resource(&endpoint(), "//subscriptions/s", "1").is_err());
    }

    #[test]
    fn poll_urls_must_stay_on_the_endpoint() {
        let ok = get_absolute(
            &endpoint(),
            "http://127.0.0.1:8443/subscriptions/s/operationresults/x?api-version=2021-04-01",
        )
        .unwrap();
        assert_eq!(ok.url.query(), Some("api-version=2021-04-01"));
        let e = get_absolute(&endpoint(), "http://evil.example/steal").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid URL http://evil.example/steal: not on the Resource Manager endpoint http://127.0.0.1:8443; refusing to send the token there"
        );
    }

    #[test]
    fn subscription_get() {
        let r = get_subscription(&endpoint(), "0000").unwrap();
        assert_eq!(
            r.url.as_str(),
            "http://127.0.0.1:8443/subscriptions/0000?api-version=2022-12-01"
        );
    }

    fn request() -> DeploymentRequest {
        let mut parameters = serde_json::Map::new();
        parameters.insert("p".into(), json!({"value": 1}));
        DeploymentRequest {
            location: Some("uksouth".into()),
            tags: BTreeMap::from([("ods-code".to_string(), "RM3".to_string())]),
            mode: DeploymentMode::Incremental,
            template: json!({"resources": []}),
            parameters,
        }
    }

    #[test]
    fn deployment_body_is_what_arm_expects() {
        let body = serde_json::to_value(deployment_body(&request())).unwrap();
        assert_eq!(
            body,
            json!({"location": "uksouth", "tags": {"ods-code": "RM3"},
                   "properties": {"mode": "Incremental", "template": {"resources": []},
                                  "parameters": {"p": {"value": 1}}}})
        );
    }

    #[test]
    fn the_raw_deployment_body_is_the_sdks() {
        assert_eq!(
            deployment_json(&request()),
            serde_json::to_value(deployment_body(&request())).unwrap()
        );
        let mut complete = request();
        complete.mode = DeploymentMode::Complete;
        complete.location = None;
        complete.tags.clear();
        assert_eq!(
            deployment_json(&complete),
            serde_json::to_value(deployment_body(&complete)).unwrap()
        );
    }

    #[test]
    fn what_if_body_asks_for_full_payloads() {
        let body = serde_json::to_value(what_if_body(&request())).unwrap();
        assert_eq!(
            body,
            json!({"location": "uksouth",
                   "properties": {"mode": "Incremental", "template": {"resources": []},
                                  "parameters": {"p": {"value": 1}},
                                  "whatIfSettings": {"resultFormat": "FullResourcePayloads"}}})
        );
    }

    #[test]
    fn lists_use_our_own_paths() {
        let r = list_resource_groups(&endpoint(), "s", Some(&tag_filter("trust", "RM3"))).unwrap();
        assert_eq!(
            r.url.as_str(),
            "http://127.0.0.1:8443/subscriptions/s/resourcegroups?api-version=2021-04-01&%24filter=tagName+eq+%27trust%27+and+tagValue+eq+%27RM3%27"
        );
        let scope = DeploymentScope::ResourceGroup {
            subscription_id: "s".into(),
            resource_group: "rg".into(),
        };
        let r = list_deployment_operations(&endpoint(), &scope, "d").unwrap();
        assert_eq!(
            r.url.path(),
            "/subscriptions/s/resourcegroups/rg/providers/Microsoft.Resources/deployments/d/operations"
        );
    }

    #[test]
    fn tag_filter_escapes_quotes() {
        assert_eq!(
            tag_filter("trust", "O'Neil"),
            "tagName eq 'trust' and tagValue eq 'O''Neil'"
        );
    }
}
