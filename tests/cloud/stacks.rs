//! Deployment stacks (issue 17, point 1): create, list, update with `actionOnUnmanage`, delete with unmanage
//! actions, deny settings enforced as deny assignments, the activity log of refused requests, Azure's limits.
//! Everything goes over ARM's REST protocol, as the Azure CLI or an SDK would send it.

use super::*;

const STACK_API: &str = "2024-03-01";

fn stack_path(rg: Option<&str>, name: &str) -> String {
    match rg {
        Some(rg) => format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Resources/deploymentStacks/{name}?api-version={STACK_API}"),
        None => format!("/subscriptions/{SUB}/providers/Microsoft.Resources/deploymentStacks/{name}?api-version={STACK_API}"),
    }
}

/// `path` (which carries `?api-version=`) with `/suffix` before the query and `extra` query parameters after.
pub(super) fn with(path: &str, suffix: &str, extra: &str) -> String {
    let (base, query) = path.split_once('?').unwrap();
    format!("{base}{suffix}?{query}{extra}")
}

fn stack_body(template: Value, on_unmanage: &str, deny: Value) -> Value {
    json!({"properties": {
        "template": template,
        "actionOnUnmanage": {"resources": on_unmanage, "resourceGroups": on_unmanage, "managementGroups": "detach"},
        "denySettings": deny,
        "description": "trust estate"
    }})
}

fn no_deny() -> Value {
    json!({"mode": "none"})
}

async fn token_for(http: &reqwest::Client, base: &str, client: &str) -> String {
    let r = http
        .post(format!("{base}/mytenant/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", "s3cret"),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

impl Cloud {
    /// The same request as [`Cloud::call`], sent with another principal's token.
    async fn call_as(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
        let url = if path.contains("api-version=") {
            format!("{}{path}", self.server.url())
        } else {
            let sep = if path.contains('?') { '&' } else { '?' };
            format!(
                "{}{path}{sep}api-version={}",
                self.server.url(),
                api_for(path)
            )
        };
        let mut rb = self.http.request(method, url).bearer_auth(token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    /// PUT a stack and follow its `Azure-AsyncOperation` to the end; returns the final GET of the stack.
    async fn stack(&self, path: &str, body: Value) -> Resp {
        let r = self.put(path, body).await;
        assert!(
            r.status == StatusCode::CREATED || r.status == StatusCode::OK,
            "{}: {}",
            r.status,
            r.body
        );
        self.wait_stack(&r).await
    }

    async fn wait_stack(&self, first: &Resp) -> Resp {
        let status_url = first.header("azure-asyncoperation").to_string();
        assert!(status_url.contains("/operationStatuses/"), "{status_url}");
        for _ in 0..400 {
            let s = self.get(&status_url).await;
            assert_eq!(s.status, StatusCode::OK, "{}", s.body);
            if s.body["status"] != "Running" {
                let id = first.body["id"].as_str().unwrap();
                return self.get(&format!("{id}?api-version={STACK_API}")).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the stack never finished");
    }
}

fn resource_ids(stack: &Value, list: &str) -> Vec<String> {
    let mut ids: Vec<String> = stack["properties"][list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list}: {stack}"))
        .iter()
        .map(|r| {
            r["id"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_resource_group_stack_deploys_its_template_and_reports_what_it_manages() {
    let c = Cloud::default().await;
    c.rg("rg-stack", "uksouth").await;
    let path = stack_path(Some("rg-stack"), "estate");
    let template = storage_template(&["ststacka", "ststackb"], "TLS1_2");
    let first = c
        .put(&path, stack_body(template.clone(), "detach", no_deny()))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["properties"]["provisioningState"], "creating");
    assert_eq!(first.body["type"], "Microsoft.Resources/deploymentStacks");
    let s = c.wait_stack(&first).await;
    let p = &s.body["properties"];
    assert_eq!(p["provisioningState"], "succeeded", "{}", s.body);
    assert_eq!(resource_ids(&s.body, "resources"), ["ststacka", "ststackb"]);
    assert_eq!(p["resources"][0]["status"], "managed");
    assert_eq!(
        p["resources"][0]["type"],
        "Microsoft.Storage/storageAccounts"
    );
    assert_eq!(p["resources"][0]["denyStatus"], "none");
    assert_eq!(p["actionOnUnmanage"]["resources"], "detach");
    assert_eq!(p["denySettings"]["mode"], "none");
    assert_eq!(p["description"], "trust estate");
    assert_eq!(p["outputs"]["tls"]["value"], "TLS1_2");
    assert_eq!(
        p["deploymentScope"],
        format!("/subscriptions/{SUB}/resourceGroups/rg-stack")
    );
    assert_eq!(p["detachedResources"], json!([]));
    assert_eq!(p["deletedResources"], json!([]));
    assert_eq!(p["failedResources"], json!([]));
    // The deployment the stack ran is a real deployment of the group.
    let dep = c.get(p["deploymentId"].as_str().unwrap()).await;
    assert_eq!(dep.body["properties"]["provisioningState"], "Succeeded");
    assert!(dep.body["name"].as_str().unwrap().starts_with("estate-"));
    assert_eq!(
        c.get(&storage_path("rg-stack", "ststackb")).await.status,
        StatusCode::OK
    );
    // Listed at its group, not at the subscription.
    let list = c.get(&format!("/subscriptions/{SUB}/resourceGroups/rg-stack/providers/Microsoft.Resources/deploymentStacks?api-version={STACK_API}")).await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["value"][0]["name"], "estate");
    let subs = c.get(&format!("/subscriptions/{SUB}/providers/Microsoft.Resources/deploymentStacks?api-version={STACK_API}")).await;
    assert_eq!(subs.body["value"], json!([]));
    let export = c.post(&with(&path, "/exportTemplate", ""), json!({})).await;
    assert_eq!(export.body["template"], template);
    // The preview api-version answers the same stack.
    let preview = c.get(&path.replace(STACK_API, "2022-08-01-preview")).await;
    assert_eq!(preview.body["properties"]["provisioningState"], "succeeded");
    // Updating answers 200.
    let again = c
        .put(&path, stack_body(template, "detach", no_deny()))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    c.wait_stack(&again).await;
}

#[tokio::test]
async fn an_update_that_drops_resources_detaches_or_deletes_them_as_action_on_unmanage_says() {
    let c = Cloud::default().await;
    for (rg, action) in [("rg-detach", "detach"), ("rg-delete", "delete")] {
        c.rg(rg, "uksouth").await;
        let prefix = &action[..3];
        let names: Vec<String> = ["a", "b", "c"]
            .iter()
            .map(|n| format!("st{prefix}{n}"))
            .collect();
        let all: Vec<&str> = names.iter().map(String::as_str).collect();
        let path = stack_path(Some(rg), "estate");
        let s = c
            .stack(
                &path,
                stack_body(storage_template(&all, "TLS1_2"), action, no_deny()),
            )
            .await;
        assert_eq!(resource_ids(&s.body, "resources").len(), 3, "{}", s.body);
        let s = c
            .stack(
                &path,
                stack_body(storage_template(&all[..1], "TLS1_2"), action, no_deny()),
            )
            .await;
        assert_eq!(
            s.body["properties"]["provisioningState"], "succeeded",
            "{}",
            s.body
        );
        assert_eq!(resource_ids(&s.body, "resources"), [all[0]]);
        let dropped = [all[1].to_string(), all[2].to_string()];
        let still_there = c.get(&storage_path(rg, all[1])).await.status == StatusCode::OK;
        if action == "detach" {
            assert_eq!(resource_ids(&s.body, "detachedResources"), dropped);
            assert_eq!(s.body["properties"]["deletedResources"], json!([]));
            assert!(still_there, "a detached resource is left running");
        } else {
            assert_eq!(resource_ids(&s.body, "deletedResources"), dropped);
            assert_eq!(s.body["properties"]["detachedResources"], json!([]));
            assert!(!still_there, "a deleted resource is gone");
            assert_eq!(
                c.get(&storage_path(rg, all[2])).await.status,
                StatusCode::NOT_FOUND
            );
        }
        assert_eq!(
            c.get(&storage_path(rg, all[0])).await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn deleting_a_stack_detaches_by_default_and_deletes_with_unmanage_actions() {
    let c = Cloud::default().await;
    c.rg("rg-del", "uksouth").await;
    let keep = stack_path(Some("rg-del"), "keep");
    c.stack(
        &keep,
        stack_body(storage_template(&["stkeep"], "TLS1_2"), "delete", no_deny()),
    )
    .await;
    let gone = stack_path(Some("rg-del"), "gone");
    c.stack(
        &gone,
        stack_body(storage_template(&["stgone"], "TLS1_2"), "detach", no_deny()),
    )
    .await;
    // Without query parameters: detach, whatever the stack's own actionOnUnmanage says.
    let r = c.delete(&keep).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(c.poll_location(&r).await.status, StatusCode::OK);
    assert_eq!(c.get(&keep).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        c.get(&keep).await.body["error"]["code"],
        "DeploymentStackNotFound"
    );
    assert_eq!(
        c.get(&storage_path("rg-del", "stkeep")).await.status,
        StatusCode::OK
    );
    // With unmanageAction.Resources=delete the resources go too.
    let r = c
        .delete(&with(&gone, "", "&unmanageAction.Resources=delete"))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(c.poll_location(&r).await.status, StatusCode::OK);
    assert_eq!(
        c.get(&storage_path("rg-del", "stgone")).await.status,
        StatusCode::NOT_FOUND
    );
    // A stack that does not exist: 204. A bad action: 400 naming the parameter.
    assert_eq!(c.delete(&gone).await.status, StatusCode::NO_CONTENT);
    let bad = c
        .delete(&with(&gone, "", "&unmanageAction.Resources=destroy"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unmanageAction.Resources"));
}

#[tokio::test]
async fn deny_settings_refuse_another_principals_delete_and_log_it_but_spare_excluded_principals() {
    let c = Cloud::default().await;
    let base = c.server.url().to_string();
    let admin = token_for(&c.http, &base, "trust-admin").await;
    let ops = token_for(&c.http, &base, "platform-ops").await;
    c.rg("rg-deny", "uksouth").await;
    let path = stack_path(Some("rg-deny"), "platform");
    let deny = json!({"mode": "denyDelete", "excludedPrincipals": ["platform-ops"], "applyToChildScopes": false});
    let s = c
        .stack(
            &path,
            stack_body(
                storage_template(&["stvault", "stlogs"], "TLS1_2"),
                "detach",
                deny.clone(),
            ),
        )
        .await;
    assert_eq!(
        s.body["properties"]["provisioningState"], "succeeded",
        "{}",
        s.body
    );
    assert_eq!(
        s.body["properties"]["resources"][0]["denyStatus"],
        "denyDelete"
    );

    // The trust administrator cannot delete a protected resource...
    let vault = storage_path("rg-deny", "stvault");
    let refused = c.call_as(&admin, Method::DELETE, &vault, None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(
        refused.body["error"]["code"],
        "DenyAssignmentAuthorizationFailed"
    );
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("'trust-admin'")
            && message.contains("Microsoft.Storage/storageAccounts/delete"),
        "{message}"
    );
    assert!(message.contains("created by Deployment Stack"), "{message}");
    assert_eq!(c.get(&vault).await.status, StatusCode::OK);
    // ...but may still change it (denyDelete), and reads are never denied.
    let patched = c
        .call_as(
            &admin,
            Method::PATCH,
            &vault,
            Some(json!({"tags": {"owner": "trust"}})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    // Nor can the deploying principal itself, which the stack does not exclude.
    assert_eq!(c.delete(&vault).await.status, StatusCode::FORBIDDEN);
    // A resource the stack does not manage is the trust's own.
    c.put(
        &storage_path("rg-deny", "sttrustdata"),
        storage_body("uksouth"),
    )
    .await;
    let own = c
        .call_as(
            &admin,
            Method::DELETE,
            &storage_path("rg-deny", "sttrustdata"),
            None,
        )
        .await;
    assert_eq!(own.status, StatusCode::OK);

    // The deny assignments are visible under Microsoft.Authorization.
    let list = c.get(&format!("/subscriptions/{SUB}/resourceGroups/rg-deny/providers/Microsoft.Authorization/denyAssignments?api-version=2022-04-01")).await;
    let assignments = list.body["value"].as_array().unwrap().clone();
    assert_eq!(assignments.len(), 2, "{}", list.body);
    let a = &assignments[0];
    assert_eq!(a["type"], "Microsoft.Authorization/denyAssignments");
    assert_eq!(
        a["properties"]["permissions"][0]["actions"],
        json!(["*/delete"])
    );
    assert_eq!(
        a["properties"]["excludePrincipals"][0]["id"],
        "platform-ops"
    );
    assert_eq!(a["properties"]["principals"][0]["type"], "SystemDefined");
    let one = c
        .get(&format!(
            "{}?api-version=2022-04-01",
            a["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(one.body, *a);
    let at = c.get(&format!("{vault}/providers/Microsoft.Authorization/denyAssignments?api-version=2022-04-01&$filter=atScope()")).await;
    assert_eq!(at.body["value"].as_array().unwrap().len(), 1);

    // The refusal is in the activity log, as Azure's administrative log shows it.
    let log = c.get(&format!("/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01&$filter=eventTimestamp ge '2020-01-01T00:00:00Z' and resourceGroupName eq 'rg-deny'")).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let entries = log.body["value"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{}", log.body);
    let e = entries
        .iter()
        .find(|e| e["claims"]["appid"] == "trust-admin")
        .unwrap();
    assert_eq!(e["status"]["value"], "Failed");
    assert_eq!(
        e["operationName"]["value"],
        "Microsoft.Storage/storageAccounts/delete"
    );
    assert_eq!(e["resourceId"], vault.split('?').next().unwrap());
    assert_eq!(e["subStatus"]["value"], "Forbidden");
    assert!(e["properties"]["statusMessage"]
        .as_str()
        .unwrap()
        .contains("DenyAssignmentAuthorizationFailed"));
    let none = c.get(&format!("/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01&$filter=eventTimestamp ge '2020-01-01' and resourceGroupName eq 'rg-other'")).await;
    assert_eq!(none.body["value"], json!([]));
    let unfiltered = c.get(&format!("/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01")).await;
    assert_eq!(unfiltered.status, StatusCode::BAD_REQUEST);

    // The excluded principal may delete.
    let allowed = c
        .call_as(
            &ops,
            Method::DELETE,
            &storage_path("rg-deny", "stlogs"),
            None,
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
    // Its deny assignment went with it.
    let list = c.get(&format!("/subscriptions/{SUB}/resourceGroups/rg-deny/providers/Microsoft.Authorization/denyAssignments?api-version=2022-04-01")).await;
    assert_eq!(
        list.body["value"].as_array().unwrap().len(),
        1,
        "{}",
        list.body
    );

    // The stack's own update is not held back by its assignments, and denyWriteAndDelete refuses writes.
    let strict = json!({"mode": "denyWriteAndDelete", "excludedPrincipals": ["platform-ops"]});
    let s = c
        .stack(
            &path,
            stack_body(
                storage_template(&["stvault", "stlogs"], "TLS1_2"),
                "detach",
                strict,
            ),
        )
        .await;
    assert_eq!(
        s.body["properties"]["provisioningState"], "succeeded",
        "{}",
        s.body
    );
    assert_eq!(
        s.body["properties"]["resources"][0]["denyStatus"],
        "denyWriteAndDelete"
    );
    let write = c
        .call_as(&admin, Method::PUT, &vault, Some(storage_body("uksouth")))
        .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN);
    assert_eq!(
        write.body["error"]["code"],
        "DenyAssignmentAuthorizationFailed"
    );
    assert_eq!(
        c.call_as(&admin, Method::GET, &vault, None).await.status,
        StatusCode::OK
    );
    // A deployment by the administrator that would change the protected resource fails the same way.
    let dep = c.call_as(&admin, Method::PUT, &dep_path(Some("rg-deny"), "sneaky"),
        Some(json!({"properties": {"mode": "Incremental", "template": storage_template(&["stvault"], "TLS1_0")}}))).await;
    assert_eq!(dep.status, StatusCode::CREATED, "{}", dep.body);
    let mut done = Value::Null;
    for _ in 0..400 {
        let d = c.get(&dep_path(Some("rg-deny"), "sneaky")).await;
        if d.body["properties"]["provisioningState"] != "Accepted"
            && d.body["properties"]["provisioningState"] != "Running"
        {
            done = d.body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(done["properties"]["provisioningState"], "Failed", "{done}");
    assert!(
        done.to_string()
            .contains("DenyAssignmentAuthorizationFailed"),
        "{done}"
    );
    assert_eq!(
        c.get(&vault).await.body["properties"]["minimumTlsVersion"],
        "TLS1_2"
    );
    // The deployment's refused write is in the activity log too, with the direct PUT refused above.
    let log = c.get(&format!("/subscriptions/{SUB}/providers/Microsoft.Insights/eventtypes/management/values?api-version=2015-04-01&$filter=eventTimestamp ge '2020-01-01' and resourceUri eq '{}' and status eq 'Failed'", vault.split('?').next().unwrap())).await;
    let writes: Vec<&Value> = log.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operationName"]["value"] == "Microsoft.Storage/storageAccounts/write")
        .collect();
    assert_eq!(writes.len(), 2, "{}", log.body);
    assert!(writes.iter().all(|e| e["claims"]["appid"] == "trust-admin"));

    // Deleting the stack removes its deny assignments.
    let r = c.delete(&path).await;
    c.poll_location(&r).await;
    let list = c.get(&format!("/subscriptions/{SUB}/resourceGroups/rg-deny/providers/Microsoft.Authorization/denyAssignments?api-version=2022-04-01")).await;
    assert_eq!(list.body["value"], json!([]));
    assert_eq!(
        c.call_as(&admin, Method::DELETE, &vault, None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_subscription_stack_protects_the_resource_groups_it_creates() {
    let c = Cloud::default().await;
    let admin = token_for(&c.http, c.server.url(), "trust-admin").await;
    let template = json!({
        "$schema": SUB_SCHEMA, "contentVersion": "1.0.0.0",
        "resources": [{"type": "Microsoft.Resources/resourceGroups", "apiVersion": RG_API, "name": "rg-platform", "location": "uksouth"}]
    });
    let path = stack_path(None, "landing");
    // A subscription stack needs a location, as a subscription deployment does.
    let r = c
        .put(&path, stack_body(template.clone(), "delete", no_deny()))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["code"], "LocationRequired");
    let mut body = stack_body(template, "delete", json!({"mode": "denyDelete"}));
    body["location"] = json!("uksouth");
    let s = c.stack(&path, body).await;
    assert_eq!(
        s.body["properties"]["provisioningState"], "succeeded",
        "{}",
        s.body
    );
    assert_eq!(
        s.body["properties"]["resources"][0]["id"],
        format!("/subscriptions/{SUB}/resourceGroups/rg-platform")
    );
    assert_eq!(
        s.body["properties"]["resources"][0]["type"],
        "Microsoft.Resources/resourceGroups"
    );
    let refused = c
        .call_as(&admin, Method::DELETE, &rg_path("rg-platform"), None)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        refused.body["error"]["code"],
        "DenyAssignmentAuthorizationFailed"
    );
    // Deleting the stack with resourceGroups=delete removes the group.
    let r = c
        .delete(&with(
            &path,
            "",
            "&unmanageAction.Resources=delete&unmanageAction.ResourceGroups=delete",
        ))
        .await;
    assert_eq!(c.poll_location(&r).await.status, StatusCode::OK);
    assert_eq!(
        c.get(&rg_path("rg-platform")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn azures_limits_on_deny_settings_and_management_groups_are_enforced() {
    let c = Cloud::default().await;
    c.rg("rg-limits", "uksouth").await;
    let path = stack_path(Some("rg-limits"), "limits");
    let template = storage_template(&["stlimits"], "TLS1_2");
    let six: Vec<String> = (0..6).map(|i| format!("principal-{i}")).collect();
    let r = c
        .put(
            &path,
            stack_body(
                template.clone(),
                "detach",
                json!({"mode": "denyDelete", "excludedPrincipals": six}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body["error"]["code"],
        "DeploymentStackInvalidDeploymentStackDefinition"
    );
    assert_eq!(r.body["error"]["message"], "The deployment stack 'limits' is invalid: denySettings.excludedPrincipals holds 6 principals; at most 5 are permitted.");
    let actions: Vec<String> = (0..201)
        .map(|i| format!("Microsoft.Storage/storageAccounts/action{i}/action"))
        .collect();
    let r = c
        .put(
            &path,
            stack_body(
                template.clone(),
                "detach",
                json!({"mode": "denyDelete", "excludedActions": actions}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("201 actions; at most 200"),
        "{}",
        r.body
    );
    let r = c
        .put(&path, stack_body(template.clone(), "later", no_deny()))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("actionOnUnmanage.resources"),
        "{}",
        r.body
    );
    let r = c
        .put(
            &path,
            json!({"properties": {"template": template, "denySettings": {"mode": "none"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("actionOnUnmanage"),
        "{}",
        r.body
    );
    // Nothing was created by the refused requests.
    assert_eq!(c.get(&path).await.status, StatusCode::NOT_FOUND);

    // Management group scope: no deny assignments unless the stack deploys to a subscription.
    let mg = format!("/providers/Microsoft.Management/managementGroups/nhs-trusts/providers/Microsoft.Resources/deploymentStacks/policy?api-version={STACK_API}");
    let sub_template = json!({"$schema": SUB_SCHEMA, "contentVersion": "1.0.0.0", "resources": [
        {"type": "Microsoft.Resources/resourceGroups", "apiVersion": RG_API, "name": "rg-from-mg", "location": "uksouth"}]});
    let mut body = stack_body(sub_template, "detach", json!({"mode": "denyDelete"}));
    body["location"] = json!("uksouth");
    let r = c.put(&mg, body.clone()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body["error"]["code"],
        "DeploymentStackInvalidDeploymentStackDefinition"
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not supported at the management group scope"),
        "{}",
        r.body
    );
    body["properties"]["deploymentScope"] = json!(format!("/subscriptions/{SUB}"));
    let s = c.stack(&mg, body).await;
    assert_eq!(
        s.body["properties"]["provisioningState"], "succeeded",
        "{}",
        s.body
    );
    assert_eq!(
        s.body["properties"]["resources"][0]["denyStatus"],
        "denyDelete"
    );
    let list = c.get(&format!("/providers/Microsoft.Management/managementGroups/nhs-trusts/providers/Microsoft.Resources/deploymentStacks?api-version={STACK_API}")).await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_scope_holds_at_most_800_stacks() {
    // Without ARM's throttling: 800 writes in a row would be throttled, as in Azure.
    let c = Cloud::start(Config {
        throttle: false,
        ..Config::default()
    })
    .await;
    c.rg("rg-many", "uksouth").await;
    let empty = json!({"$schema": RG_SCHEMA, "contentVersion": "1.0.0.0", "resources": []});
    let body = stack_body(empty, "detach", no_deny());
    for i in 0..800 {
        let r = c
            .put(&stack_path(Some("rg-many"), &format!("s{i}")), body.clone())
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{i}: {}", r.body);
    }
    let r = c
        .put(&stack_path(Some("rg-many"), "s800"), body.clone())
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["code"], "DeploymentStackCountLimitExceeded");
    // Another scope is not affected.
    c.rg("rg-few", "uksouth").await;
    let r = c.put(&stack_path(Some("rg-few"), "s800"), body).await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn validate_checks_the_stack_and_its_template_without_deploying() {
    let c = Cloud::default().await;
    c.rg("rg-val", "uksouth").await;
    let path = stack_path(Some("rg-val"), "check");
    let r = c
        .post(
            &with(&path, "/validate", ""),
            stack_body(
                storage_template(&["stval"], "TLS1_2"),
                "detach",
                json!({"mode": "denyDelete"}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["properties"]["validatedResources"][0]["id"],
        storage_path("rg-val", "stval").split('?').next().unwrap()
    );
    assert_eq!(r.body["properties"]["denySettings"]["mode"], "denyDelete");
    assert_eq!(
        c.get(&storage_path("rg-val", "stval")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(c.get(&path).await.status, StatusCode::NOT_FOUND);
    let r = c
        .post(
            &with(&path, "/validate", ""),
            stack_body(storage_template(&["stval"], "TLS1_3"), "detach", no_deny()),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error"]["code"], "InvalidTemplate");
}

#[tokio::test]
async fn a_stack_what_if_predicts_creates_modifies_and_what_an_update_would_delete_or_detach() {
    let c = Cloud::default().await;
    c.rg("rg-wi", "uksouth").await;
    let stack = stack_path(Some("rg-wi"), "estate");
    c.stack(
        &stack,
        stack_body(
            storage_template(&["stwia", "stwib", "stwic"], "TLS1_2"),
            "delete",
            json!({"mode": "denyDelete"}),
        ),
    )
    .await;
    let stack_id = stack.split('?').next().unwrap().to_string();
    let result = format!("/subscriptions/{SUB}/resourceGroups/rg-wi/providers/Microsoft.Resources/deploymentStacksWhatIfResults/upgrade?api-version=2025-07-01");
    let mut body = stack_body(
        storage_template(&["stwia", "stwid"], "TLS1_0"),
        "delete",
        json!({"mode": "denyWriteAndDelete"}),
    );
    body["properties"]["actionOnUnmanage"]["resources"] = json!("delete");
    body["properties"]["deploymentStackResourceId"] = json!(stack_id);
    body["properties"]["retentionInterval"] = json!("P7D");
    let put = c.put(&result, body.clone()).await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.body);
    assert_eq!(
        put.body["type"],
        "Microsoft.Resources/deploymentStacksWhatIfResults"
    );
    let r = c.post(&with(&result, "/whatIf", ""), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let changes = &r.body["properties"]["changes"];
    let by_name = |n: &str| {
        changes["resourceChanges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"].as_str().unwrap().ends_with(&format!("/{n}")))
            .unwrap_or_else(|| panic!("no change for {n}: {changes}"))
            .clone()
    };
    let a = by_name("stwia");
    assert_eq!(a["changeType"], "modify");
    assert_eq!(
        a["managementStatusChange"],
        json!({"before": "managed", "after": "managed"})
    );
    assert_eq!(
        a["denyStatusChange"],
        json!({"before": "denyDelete", "after": "denyWriteAndDelete"})
    );
    assert_eq!(
        a["resourceConfigurationChanges"]["delta"][0]["path"],
        "properties.minimumTlsVersion"
    );
    assert_eq!(
        a["resourceConfigurationChanges"]["delta"][0]["changeType"],
        "modify"
    );
    let d = by_name("stwid");
    assert_eq!(d["changeType"], "create");
    assert_eq!(
        d["managementStatusChange"],
        json!({"before": "unmanaged", "after": "managed"})
    );
    for gone in ["stwib", "stwic"] {
        let g = by_name(gone);
        assert_eq!(g["changeType"], "delete", "{g}");
        assert_eq!(
            g["managementStatusChange"],
            json!({"before": "managed", "after": "unmanaged"})
        );
        assert_eq!(g["type"], "Microsoft.Storage/storageAccounts");
    }
    assert_eq!(
        changes["denySettingsChange"]["before"]["mode"],
        "denyDelete"
    );
    assert_eq!(
        changes["denySettingsChange"]["after"]["mode"],
        "denyWriteAndDelete"
    );
    assert_eq!(
        changes["denySettingsChange"]["delta"][0],
        json!({"path": "Mode", "changeType": "modify", "before": "denyDelete", "after": "denyWriteAndDelete"})
    );
    // A what-if changes nothing.
    assert_eq!(
        c.get(&storage_path("rg-wi", "stwib")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        c.get(&storage_path("rg-wi", "stwid")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.get(&storage_path("rg-wi", "stwia")).await.body["properties"]["minimumTlsVersion"],
        "TLS1_2"
    );
    // With detach, the dropped resources are detached instead; the result is kept and listed.
    body["properties"]["actionOnUnmanage"]["resources"] = json!("detach");
    assert_eq!(c.put(&result, body).await.status, StatusCode::OK);
    let r = c.post(&with(&result, "/whatIf", ""), json!({})).await;
    let detached: Vec<&Value> = r.body["properties"]["changes"]["resourceChanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["changeType"] == "detach")
        .collect();
    assert_eq!(detached.len(), 2, "{}", r.body);
    let got = c.get(&result).await;
    assert_eq!(
        got.body["properties"]["changes"],
        r.body["properties"]["changes"]
    );
    let list = c.get(&format!("/subscriptions/{SUB}/resourceGroups/rg-wi/providers/Microsoft.Resources/deploymentStacksWhatIfResults?api-version=2025-07-01")).await;
    assert_eq!(list.body["value"].as_array().unwrap().len(), 1);
    assert_eq!(c.delete(&result).await.status, StatusCode::OK);
    assert_eq!(c.get(&result).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn managing_deny_settings_needs_more_than_contributor() {
    let c = Cloud::start(Config {
        role_assignments: vec![
            "app:Owner:/".parse().unwrap(),
            format!("ci-contributor:Contributor:/subscriptions/{SUB}")
                .parse()
                .unwrap(),
        ],
        ..Config::default()
    })
    .await;
    let contributor = token_for(&c.http, c.server.url(), "ci-contributor").await;
    c.rg("rg-rbac", "uksouth").await;
    let path = stack_path(Some("rg-rbac"), "estate");
    let template = storage_template(&["strbac"], "TLS1_2");
    let r = c
        .call_as(
            &contributor,
            Method::PUT,
            &path,
            Some(stack_body(
                template.clone(),
                "detach",
                json!({"mode": "denyDelete"}),
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "AuthorizationFailed");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'Microsoft.Resources/deploymentStacks/manageDenySetting/action'"),
        "{}",
        r.body
    );
    // Without deny settings a Contributor may run the stack; the Owner may add them.
    let r = c
        .call_as(
            &contributor,
            Method::PUT,
            &path,
            Some(stack_body(template.clone(), "detach", no_deny())),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    c.wait_stack(&r).await;
    let s = c
        .stack(
            &path,
            stack_body(template, "detach", json!({"mode": "denyDelete"})),
        )
        .await;
    assert_eq!(s.body["properties"]["provisioningState"], "succeeded");
    // Now the Contributor can no longer delete the stack.
    let r = c.call_as(&contributor, Method::DELETE, &path, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// A vault with the given secrets (secret values come from a secure parameter, as a blueprint would give them).
fn vault_template(secrets: &[&str]) -> Value {
    let mut resources = vec![json!({
        "type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01", "name": "kv-stack",
        "location": "[resourceGroup().location]",
        "properties": {"tenantId": "[subscription().tenantId]", "sku": {"family": "A", "name": "standard"}}
    })];
    for s in secrets {
        resources.push(json!({
            "type": "Microsoft.KeyVault/vaults/secrets", "apiVersion": "2023-07-01", "name": format!("kv-stack/{s}"),
            "dependsOn": ["[resourceId('Microsoft.KeyVault/vaults', 'kv-stack')]"],
            "properties": {"value": "[parameters('value')]"}
        }));
    }
    json!({"$schema": RG_SCHEMA, "contentVersion": "1.0.0.0",
           "parameters": {"value": {"type": "securestring"}}, "resources": resources})
}

#[tokio::test]
async fn a_stack_cannot_delete_a_key_vault_secret_unless_told_to_detach_what_it_cannot_delete() {
    let c = Cloud::default().await;
    c.rg("rg-kvs", "uksouth").await;
    let path = stack_path(Some("rg-kvs"), "keys");
    let with_value = |mut body: Value| {
        body["properties"]["parameters"] = json!({"value": {"value": "n0t-a-real-secret"}});
        body
    };
    let s = c
        .stack(
            &path,
            with_value(stack_body(
                vault_template(&["sql-admin", "old-key"]),
                "delete",
                no_deny(),
            )),
        )
        .await;
    assert_eq!(
        s.body["properties"]["provisioningState"], "succeeded",
        "{}",
        s.body
    );
    assert!(
        !s.body.to_string().contains("n0t-a-real-secret"),
        "{}",
        s.body
    );
    let s = c
        .stack(
            &path,
            with_value(stack_body(
                vault_template(&["sql-admin"]),
                "delete",
                no_deny(),
            )),
        )
        .await;
    assert_eq!(
        s.body["properties"]["provisioningState"], "failed",
        "{}",
        s.body
    );
    let failed = &s.body["properties"]["failedResources"][0];
    assert!(failed["id"].as_str().unwrap().ends_with("/secrets/old-key"));
    assert_eq!(
        failed["error"]["code"],
        "DeploymentStackResourceDeletionNotSupported"
    );
    let kept = s.body["properties"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"].as_str().unwrap().ends_with("/secrets/old-key"))
        .unwrap()
        .clone();
    assert_eq!(kept["status"], "deleteFailed");
    // With resourcesWithoutDeleteSupport = detach the secret is detached and the update succeeds.
    let mut body = with_value(stack_body(
        vault_template(&["sql-admin"]),
        "delete",
        no_deny(),
    ));
    body["properties"]["actionOnUnmanage"]["resourcesWithoutDeleteSupport"] = json!("detach");
    let s = c.stack(&path, body).await;
    assert_eq!(
        s.body["properties"]["provisioningState"], "succeeded",
        "{}",
        s.body
    );
    assert_eq!(resource_ids(&s.body, "detachedResources"), ["old-key"]);
    let secret = format!("/subscriptions/{SUB}/resourceGroups/rg-kvs/providers/Microsoft.KeyVault/vaults/kv-stack/secrets/old-key");
    assert_eq!(c.get(&secret).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_stack_interrupted_by_a_restart_refuses_to_delete_until_told_to_bypass_the_out_of_sync_error(
) {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config {
        state_dir: Some(dir.path().to_path_buf()),
        lro: Duration::from_millis(300),
        ..Config::default()
    };
    let c = Cloud::start(config()).await;
    c.rg("rg-sync", "uksouth").await;
    let path = stack_path(Some("rg-sync"), "estate");
    c.stack(
        &path,
        stack_body(
            storage_template(&["stsynca", "stsyncb"], "TLS1_2"),
            "delete",
            no_deny(),
        ),
    )
    .await;
    // The server stops while an update runs.
    let r = c
        .put(
            &path,
            stack_body(
                storage_template(&["stsynca"], "TLS1_2"),
                "delete",
                no_deny(),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let Cloud { server, .. } = c;
    server.shutdown().await;
    let c = Cloud::start(config()).await;
    let s = c.get(&path).await;
    assert_eq!(
        s.body["properties"]["provisioningState"], "failed",
        "{}",
        s.body
    );
    assert_eq!(
        s.body["properties"]["error"]["code"],
        "DeploymentStackInterrupted"
    );
    // Deleting what it no longer declares needs the bypass flag now.
    let body = stack_body(
        storage_template(&["stsynca"], "TLS1_2"),
        "delete",
        no_deny(),
    );
    let r = c.put(&path, body.clone()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "DeploymentStackOutOfSync");
    let r = c
        .delete(&with(&path, "", "&unmanageAction.Resources=delete"))
        .await;
    assert_eq!(r.body["error"]["code"], "DeploymentStackOutOfSync");
    let mut bypass = body;
    bypass["properties"]["bypassStackOutOfSyncError"] = json!(true);
    let s = c.stack(&path, bypass).await;
    assert_eq!(
        s.body["properties"]["provisioningState"], "succeeded",
        "{}",
        s.body
    );
    assert_eq!(resource_ids(&s.body, "deletedResources"), ["stsyncb"]);
    // In sync again: no flag needed.
    let s = c
        .stack(
            &path,
            stack_body(
                storage_template(&["stsynca"], "TLS1_2"),
                "delete",
                no_deny(),
            ),
        )
        .await;
    assert_eq!(
        s.body["properties"]["provisioningState"], "succeeded",
        "{}",
        s.body
    );
}

/// Issue 17: a management group stack without `deploymentScope` runs its template at the group itself.
#[tokio::test]
async fn a_management_group_stack_assigns_policy_at_the_group_and_deletes_what_it_stops_managing() {
    let c = Cloud::default().await;
    let group = "/providers/Microsoft.Management/managementGroups/nhs-estate";
    let path = format!(
        "{group}/providers/Microsoft.Resources/deploymentStacks/guardrails?api-version={STACK_API}"
    );
    let assignment = |name: &str| {
        format!("{group}/providers/Microsoft.Authorization/policyAssignments/{name}?api-version=2023-04-01")
    };
    let template = |names: &[&str]| {
        let resources: Vec<Value> = names
            .iter()
            .map(|n| {
                json!({"type": "Microsoft.Authorization/policyAssignments", "apiVersion": "2023-04-01", "name": n,
                    "properties": {
                        "displayName": format!("[format('{{0}} at {{1}}', '{n}', managementGroup().name)]"),
                        "policyDefinitionId": "/providers/Microsoft.Authorization/policyDefinitions/e56962a6-4747-49cd-b67b-bf8b01975c4c",
                        "parameters": {"listOfAllowedLocations": {"value": ["uksouth", "ukwest"]}}
                    }})
            })
            .collect();
        json!({"$schema": "https://schema.management.azure.com/schemas/2019-08-01/managementGroupDeploymentTemplate.json#",
               "contentVersion": "1.0.0.0", "resources": resources})
    };
    let body = |names: &[&str]| {
        let mut b = stack_body(template(names), "delete", no_deny());
        b["location"] = json!("uksouth");
        b
    };
    let s = c.stack(&path, body(&["uk-only", "uk-only-data"])).await;
    let props = &s.body["properties"];
    assert_eq!(props["provisioningState"], "succeeded", "{}", s.body);
    assert_eq!(props["deploymentScope"], group);
    assert!(
        props["deploymentId"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "{group}/providers/Microsoft.Resources/deployments/guardrails-"
            )),
        "{}",
        s.body
    );
    assert_eq!(
        resource_ids(&s.body, "resources"),
        ["uk-only", "uk-only-data"]
    );
    let a = c.get(&assignment("uk-only-data")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.body["properties"]["displayName"],
        "uk-only-data at nhs-estate"
    );

    // The update no longer declares one assignment: actionOnUnmanage 'delete' deletes it.
    let s = c.stack(&path, body(&["uk-only"])).await;
    assert_eq!(
        s.body["properties"]["provisioningState"], "succeeded",
        "{}",
        s.body
    );
    assert_eq!(resource_ids(&s.body, "deletedResources"), ["uk-only-data"]);
    assert_eq!(resource_ids(&s.body, "resources"), ["uk-only"]);
    assert_eq!(
        c.get(&assignment("uk-only-data")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(c.get(&assignment("uk-only")).await.status, StatusCode::OK);

    // Deleting the stack with unmanageAction.Resources=delete deletes what it still manages.
    let r = c
        .delete(&with(&path, "", "&unmanageAction.Resources=delete"))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let done = c.poll_location(&r).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(c.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        c.get(&assignment("uk-only")).await.status,
        StatusCode::NOT_FOUND
    );
}

/// Issue 17: a stack one of whose resources another stack (or deployment) wrote or deleted since its last
/// update is out of sync, as in Azure: an update or delete that would delete resources is refused with
/// `DeploymentStackOutOfSync` until `bypassStackOutOfSyncError` is given.
#[tokio::test]
async fn a_stack_whose_resources_another_stack_changed_refuses_to_delete_until_told_to_bypass() {
    let c = Cloud::default().await;
    c.rg("rg-shared", "uksouth").await;
    let a = stack_path(Some("rg-shared"), "estate-a");
    let b = stack_path(Some("rg-shared"), "estate-b");
    // Storage accounts `names` in rg-shared, deleted when no longer declared; bypassing the check when told.
    let accounts = |names: &[&str], bypass: bool| {
        let mut body = stack_body(storage_template(names, "TLS1_2"), "delete", no_deny());
        if bypass {
            body["properties"]["bypassStackOutOfSyncError"] = json!(true);
        }
        body
    };
    let succeeds = |s: Resp| {
        assert_eq!(
            s.body["properties"]["provisioningState"], "succeeded",
            "{}",
            s.body
        );
        s
    };
    succeeds(
        c.stack(&a, accounts(&["stshareda", "stsharedb"], false))
            .await,
    );
    // Its own update does not put it out of sync; another stack deploying one of its resources does.
    succeeds(
        c.stack(&a, accounts(&["stshareda", "stsharedb"], false))
            .await,
    );
    succeeds(c.stack(&b, accounts(&["stsharedb"], false)).await);

    let out_of_sync = "The deployment stack 'estate-a' might not have an accurate list of managed resources. To prevent resources from being accidentally deleted, check that the managed resource list doesn't have any additional values. If there is any uncertainty, it's recommended to redeploy the stack with the same template and parameters as the current iteration. To bypass this warning, specify the 'BypassStackOutOfSyncError' flag.";
    let r = c.put(&a, accounts(&["stshareda"], false)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "DeploymentStackOutOfSync");
    assert_eq!(r.body["error"]["message"], out_of_sync);
    let delete_all = |path: &str, extra: &str| {
        with(
            path,
            "",
            &format!("&unmanageAction.Resources=delete{extra}"),
        )
    };
    let r = c.delete(&delete_all(&a, "")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "DeploymentStackOutOfSync");
    // Refused, nothing happened: both accounts are there and the stack still lists them.
    assert_eq!(
        c.get(&storage_path("rg-shared", "stsharedb")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        resource_ids(&c.get(&a).await.body, "resources"),
        ["stshareda", "stsharedb"]
    );

    // Told to bypass, the update deletes what it dropped, though the other stack manages it too: that one is
    // out of sync in turn.
    let s = succeeds(c.stack(&a, accounts(&["stshareda"], true)).await);
    assert_eq!(resource_ids(&s.body, "deletedResources"), ["stsharedb"]);
    assert_eq!(
        c.get(&storage_path("rg-shared", "stsharedb")).await.status,
        StatusCode::NOT_FOUND
    );
    let r = c.delete(&delete_all(&b, "")).await;
    assert_eq!(
        r.body["error"]["code"], "DeploymentStackOutOfSync",
        "{}",
        r.body
    );
    let r = c
        .delete(&delete_all(&b, "&bypassStackOutOfSyncError=true"))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(c.poll_location(&r).await.status, StatusCode::OK);

    // A plain deployment that writes a stack's resource puts the stack out of sync too; its next successful
    // update (bypassing) puts it back in sync.
    c.deploy(
        Some("rg-shared"),
        "by-hand",
        json!({"properties": {"mode": "Incremental", "template": storage_template(&["stshareda"], "TLS1_2")}}),
    )
    .await;
    let r = c.put(&a, accounts(&["stshareda"], false)).await;
    assert_eq!(
        r.body["error"]["code"], "DeploymentStackOutOfSync",
        "{}",
        r.body
    );
    succeeds(c.stack(&a, accounts(&["stshareda"], true)).await);
    succeeds(c.stack(&a, accounts(&["stshareda"], false)).await);
}
