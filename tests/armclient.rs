//! Integration tests: armclient. A scripted mock ARM (axum on 127.0.0.1:0) answers each request with the
//! next scripted reply and records what it got; tests assert both the client's result and the requests.

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, Response};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trustprint::arm::{
    ArmClient, ArmClientOptions, ChangeType, Credential, DeploymentMode, DeploymentRequest,
    DeploymentScope, Error, PollOptions, PropertyChangeType, ProvisioningState, RetryOptions,
    Secret,
};

const SUB: &str = "00000000-0000-0000-0000-0000000000aa";

/// One scripted answer.
#[derive(Clone, Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.to_string(),
        }
    }

    fn empty(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// One request the mock received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    query: String,
    authorization: Option<String>,
    body: String,
}

impl Seen {
    fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Reply>,
    seen: Vec<Seen>,
    token_requests: Vec<String>,
    token_reply: Option<Reply>,
}

struct Mock {
    url: String,
    shared: Arc<Mutex<Shared>>,
}

impl Mock {
    async fn start() -> Mock {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Mock { url, shared }
    }

    fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.lock().unwrap().script.extend(replies);
    }

    fn seen(&self) -> Vec<Seen> {
        self.shared.lock().unwrap().seen.clone()
    }

    fn lines(&self) -> Vec<String> {
        self.seen().iter().map(Seen::line).collect()
    }

    fn token_requests(&self) -> Vec<String> {
        self.shared.lock().unwrap().token_requests.clone()
    }

    fn unused(&self) -> usize {
        self.shared.lock().unwrap().script.len()
    }

    fn client(&self) -> ArmClient {
        ArmClient::new(
            &self.url,
            Credential::AccessToken(Secret::new("tok-static")),
            fast(),
        )
        .unwrap()
    }
}

fn fast() -> ArmClientOptions {
    ArmClientOptions {
        retry: RetryOptions {
            max_attempts: 6,
            max_total_wait: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
        },
        poll: PollOptions {
            interval: Duration::from_millis(10),
            max_interval: Duration::from_secs(2),
            timeout: Duration::from_secs(20),
        },
        request_timeout: Duration::from_secs(10),
        ..ArmClientOptions::default()
    }
}

async fn handle(State(shared): State<Arc<Mutex<Shared>>>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 10 << 20)
        .await
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let path = parts.uri.path().to_owned();
    let reply = {
        let mut s = shared.lock().unwrap();
        if path.ends_with("/oauth2/v2.0/token") {
            s.token_requests.push(body);
            s.token_reply.clone().unwrap_or_else(|| {
                let n = s.token_requests.len();
                Reply::json(
                    200,
                    json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": format!("tok-sp-{n}")}),
                )
            })
        } else {
            s.seen.push(Seen {
                method: parts.method.to_string(),
                path,
                query: parts.uri.query().unwrap_or_default().to_owned(),
                authorization: parts
                    .headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                body,
            });
            s.script.pop_front().unwrap_or_else(|| {
                Reply::json(
                    500,
                    json!({"error": {"code": "Unscripted", "message": "no reply scripted"}}),
                )
            })
        }
    };
    let mut b = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        b = b.header(k, v);
    }
    b.body(Body::from(reply.body)).unwrap()
}

fn rg_scope() -> DeploymentScope {
    DeploymentScope::ResourceGroup {
        subscription_id: SUB.into(),
        resource_group: "rg-rm3-uks-epr".into(),
    }
}

fn request() -> DeploymentRequest {
    let mut parameters = serde_json::Map::new();
    parameters.insert("vaultName".into(), json!({"value": "kv-rm3-uks-epr"}));
    DeploymentRequest {
        location: None,
        tags: BTreeMap::new(),
        mode: DeploymentMode::Incremental,
        template: json!({"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                         "contentVersion": "1.0.0.0", "resources": []}),
        parameters,
    }
}

fn deployment_path() -> String {
    format!("/subscriptions/{SUB}/resourcegroups/rg-rm3-uks-epr/providers/Microsoft.Resources/deployments/epr")
}

fn deployment_body(state: &str) -> Value {
    json!({
        "id": format!("/subscriptions/{SUB}/resourceGroups/rg-rm3-uks-epr/providers/Microsoft.Resources/deployments/epr"),
        "name": "epr",
        "properties": {"provisioningState": state, "correlationId": "corr-1", "mode": "Incremental"}
    })
}

#[tokio::test]
async fn deployment_is_put_once_then_polled_through_azure_async_operation() {
    let mock = Mock::start().await;
    let status_url = format!(
        "{}{}/operationStatuses/op1?api-version=2021-04-01",
        mock.url,
        deployment_path()
    );
    let mut done = deployment_body("Succeeded");
    done["properties"]["outputs"] =
        json!({"vaultUri": {"type": "String", "value": "https://kv-rm3-uks-epr.vault.azure.net/"}});
    done["properties"]["outputResources"] =
        json!([{"id": "/subscriptions/x/vaults/kv-rm3-uks-epr"}]);
    mock.script([
        Reply::json(201, deployment_body("Accepted"))
            .header("azure-asyncoperation", &status_url)
            .header("retry-after", "0"),
        Reply::json(200, json!({"status": "Running"})).header("retry-after", "0"),
        Reply::json(200, json!({"status": "Running"})),
        Reply::json(200, json!({"status": "Succeeded"})),
        Reply::json(200, done),
    ]);
    let d = mock
        .client()
        .create_deployment(&rg_scope(), "epr", &request())
        .await
        .unwrap();
    assert_eq!(d.provisioning_state, ProvisioningState::Succeeded);
    assert_eq!(d.correlation_id.as_deref(), Some("corr-1"));
    assert_eq!(
        d.outputs["vaultUri"].value,
        json!("https://kv-rm3-uks-epr.vault.azure.net/")
    );
    assert_eq!(
        d.output_resources,
        vec!["/subscriptions/x/vaults/kv-rm3-uks-epr".to_string()]
    );
    let seen = mock.seen();
    let status_path = format!("{}/operationStatuses/op1", deployment_path());
    assert_eq!(
        mock.lines(),
        vec![
            format!("PUT {}", deployment_path()),
            format!("GET {status_path}"),
            format!("GET {status_path}"),
            format!("GET {status_path}"),
            format!("GET {}", deployment_path()),
        ]
    );
    assert_eq!(seen.iter().filter(|s| s.method == "PUT").count(), 1);
    assert_eq!(seen[0].query, "api-version=2021-04-01");
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer tok-static"));
    assert_eq!(
        seen[0].json()["properties"]["parameters"],
        json!({"vaultName": {"value": "kv-rm3-uks-epr"}})
    );
    assert!(seen
        .iter()
        .all(|s| s.authorization.as_deref() == Some("Bearer tok-static")));
}

#[tokio::test]
async fn subscription_deployment_sends_its_location() {
    let mock = Mock::start().await;
    let path = format!("/subscriptions/{SUB}/providers/Microsoft.Resources/deployments/gov");
    mock.script([Reply::json(
        200,
        json!({"id": path, "name": "gov", "location": "uksouth", "properties": {"provisioningState": "Succeeded"}}),
    )]);
    let mut req = request();
    req.location = Some("uksouth".into());
    let scope = DeploymentScope::Subscription {
        subscription_id: SUB.into(),
    };
    let d = mock
        .client()
        .create_deployment(&scope, "gov", &req)
        .await
        .unwrap();
    assert_eq!(d.location.as_deref(), Some("uksouth"));
    assert_eq!(mock.lines(), vec![format!("PUT {path}")]);
    assert_eq!(mock.seen()[0].json()["location"], json!("uksouth"));
}

#[tokio::test]
async fn failed_deployment_returns_the_error_tree_and_the_failing_operations() {
    let mock = Mock::start().await;
    let status_url = format!(
        "{}{}/operationStatuses/op1?api-version=2021-04-01",
        mock.url,
        deployment_path()
    );
    let error = json!({
        "code": "DeploymentFailed",
        "target": format!("/subscriptions/{SUB}/resourceGroups/rg-rm3-uks-epr/providers/Microsoft.Resources/deployments/epr"),
        "message": "At least one resource deployment operation failed. Please list deployment operations for details.",
        "details": [{
            "code": "ResourceDeploymentFailure",
            "target": "/subscriptions/x/providers/Microsoft.Storage/storageAccounts/strm3uksepr",
            "message": "The resource write operation failed to complete successfully, because it reached terminal provisioning state 'Failed'.",
            "details": [{"code": "StorageAccountAlreadyTaken", "message": "The storage account named strm3uksepr is already taken."}]
        }]
    });
    let mut failed = deployment_body("Failed");
    failed["properties"]["error"] = error.clone();
    mock.script([
        Reply::json(201, deployment_body("Accepted")).header("azure-asyncoperation", &status_url),
        Reply::json(200, json!({"status": "Failed", "error": error})),
        Reply::json(200, failed),
        Reply::json(200, json!({"value": [
            {"id": "/ops/1", "operationId": "1", "properties": {
                "provisioningOperation": "Create", "provisioningState": "Failed", "statusCode": "Conflict",
                "statusMessage": {"status": "Failed", "error": {"code": "StorageAccountAlreadyTaken",
                                  "message": "The storage account named strm3uksepr is already taken."}},
                "targetResource": {"id": "/subscriptions/x/providers/Microsoft.Storage/storageAccounts/strm3uksepr",
                                   "resourceType": "Microsoft.Storage/storageAccounts", "resourceName": "strm3uksepr"}}},
            {"id": "/ops/2", "operationId": "2", "properties": {
                "provisioningOperation": "Create", "provisioningState": "Succeeded", "statusCode": "OK",
                "targetResource": {"id": "/kv", "resourceType": "Microsoft.KeyVault/vaults", "resourceName": "kv"}}}
        ]})),
    ]);
    let client = mock.client();
    let d = client
        .create_deployment(&rg_scope(), "epr", &request())
        .await
        .unwrap();
    assert_eq!(d.provisioning_state, ProvisioningState::Failed);
    let e = d.error.expect("error tree");
    assert_eq!(e.code, "DeploymentFailed");
    assert_eq!(e.details[0].code, "ResourceDeploymentFailure");
    assert_eq!(
        e.root_causes()
            .iter()
            .map(|c| c.code.as_str())
            .collect::<Vec<_>>(),
        vec!["StorageAccountAlreadyTaken"]
    );
    let failures = client
        .deployment_failures(&rg_scope(), "epr")
        .await
        .unwrap();
    assert_eq!(failures.len(), 1);
    let f = &failures[0];
    assert_eq!(
        f.target_resource.as_ref().unwrap().resource_name,
        "strm3uksepr"
    );
    assert_eq!(f.error.as_ref().unwrap().code, "StorageAccountAlreadyTaken");
    assert_eq!(
        mock.lines().last().unwrap(),
        &format!("GET {}/operations", deployment_path())
    );
    assert_eq!(mock.seen().iter().filter(|s| s.method == "PUT").count(), 1);
}

#[tokio::test]
async fn what_if_follows_location_to_the_result() {
    let mock = Mock::start().await;
    let loc = format!(
        "{}/subscriptions/{SUB}/operationresults/wi1?api-version=2021-04-01",
        mock.url
    );
    mock.script([
        Reply::empty(202).header("location", &loc).header("retry-after", "0"),
        Reply::empty(202).header("location", &loc).header("retry-after", "0"),
        Reply::json(200, json!({
            "status": "Succeeded",
            "properties": {"changes": [
                {"resourceId": "/subscriptions/x/vaults/kv-rm3-uks-epr", "changeType": "Modify",
                 "before": {"tags": {"tier": "bronze"}}, "after": {"tags": {"tier": "gold"}},
                 "delta": [{"path": "tags.tier", "propertyChangeType": "Modify", "before": "bronze", "after": "gold"}]},
                {"resourceId": "/subscriptions/x/storageAccounts/strm3uksepr", "changeType": "Create"},
                {"resourceId": "/subscriptions/x/other", "changeType": "Ignore"}
            ]},
            "error": null
        })),
    ]);
    let r = mock
        .client()
        .what_if(&rg_scope(), "epr", &request())
        .await
        .unwrap();
    assert_eq!(r.status, ProvisioningState::Succeeded);
    let kinds: Vec<_> = r.changes.iter().map(|c| c.change_type.clone()).collect();
    assert_eq!(
        kinds,
        vec![ChangeType::Modify, ChangeType::Create, ChangeType::Ignore]
    );
    let delta = &r.changes[0].delta[0];
    assert_eq!(delta.path, "tags.tier");
    assert_eq!(delta.property_change_type, PropertyChangeType::Modify);
    assert_eq!(
        (delta.before.clone(), delta.after.clone()),
        (Some(json!("bronze")), Some(json!("gold")))
    );
    let op = format!("/subscriptions/{SUB}/operationresults/wi1");
    assert_eq!(
        mock.lines(),
        vec![
            format!("POST {}/whatIf", deployment_path()),
            format!("GET {op}"),
            format!("GET {op}")
        ]
    );
    assert_eq!(
        mock.seen()[0].json()["properties"]["whatIfSettings"],
        json!({"resultFormat": "FullResourcePayloads"})
    );
}

#[tokio::test]
async fn failed_what_if_is_an_error_with_arms_code() {
    let mock = Mock::start().await;
    let loc = format!("{}/subscriptions/{SUB}/operationresults/wi2", mock.url);
    mock.script([
        Reply::empty(202).header("location", &loc),
        Reply::json(
            200,
            json!({"status": "Failed", "error": {"code": "InvalidTemplate", "message": "bad"}}),
        ),
    ]);
    let e = mock
        .client()
        .what_if(&rg_scope(), "epr", &request())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidTemplate"));
    assert!(matches!(e, Error::OperationFailed { .. }), "{e:?}");
}

#[tokio::test]
async fn resource_group_lifecycle() {
    let mock = Mock::start().await;
    let rg = json!({"id": format!("/subscriptions/{SUB}/resourceGroups/rg-rm3-uks-epr"), "name": "rg-rm3-uks-epr",
                    "type": "Microsoft.Resources/resourceGroups", "location": "uksouth",
                    "tags": {"ods-code": "RM3"}, "properties": {"provisioningState": "Succeeded"}});
    let loc = format!(
        "{}/subscriptions/{SUB}/operationresults/del1?api-version=2021-04-01",
        mock.url
    );
    mock.script([
        Reply::json(201, rg.clone()),
        Reply::empty(204),
        Reply::json(200, rg.clone()),
        Reply::empty(202).header("location", &loc).header("retry-after", "0"),
        Reply::empty(202).header("location", &loc).header("retry-after", "0"),
        Reply::empty(200),
        Reply::empty(404),
        Reply::json(404, json!({"error": {"code": "ResourceGroupNotFound",
                                          "message": "Resource group 'rg-rm3-uks-epr' could not be found."}}))
            .header("x-ms-request-id", "req-9")
            .header("x-ms-correlation-request-id", "corr-9"),
    ]);
    let client = mock.client();
    let tags = BTreeMap::from([("ods-code".to_string(), "RM3".to_string())]);
    let g = client
        .create_or_update_resource_group(SUB, "rg-rm3-uks-epr", "uksouth", &tags)
        .await
        .unwrap();
    assert_eq!(g.location, "uksouth");
    assert_eq!(g.tags, tags);
    assert_eq!(g.provisioning_state, Some(ProvisioningState::Succeeded));
    assert!(client
        .resource_group_exists(SUB, "rg-rm3-uks-epr")
        .await
        .unwrap());
    assert_eq!(
        client
            .get_resource_group(SUB, "rg-rm3-uks-epr")
            .await
            .unwrap(),
        g
    );
    client
        .delete_resource_group(SUB, "rg-rm3-uks-epr")
        .await
        .unwrap();
    assert!(!client
        .resource_group_exists(SUB, "rg-rm3-uks-epr")
        .await
        .unwrap());
    let e = client
        .get_resource_group(SUB, "rg-rm3-uks-epr")
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("GET {}/subscriptions/{SUB}/resourcegroups/rg-rm3-uks-epr?api-version=2021-04-01: HTTP 404: ResourceGroupNotFound: Resource group 'rg-rm3-uks-epr' could not be found. [request id req-9, correlation id corr-9]", mock.url)
    );
    let rgp = format!("/subscriptions/{SUB}/resourcegroups/rg-rm3-uks-epr");
    let op = format!("/subscriptions/{SUB}/operationresults/del1");
    assert_eq!(
        mock.lines(),
        vec![
            format!("PUT {rgp}"),
            format!("HEAD {rgp}"),
            format!("GET {rgp}"),
            format!("DELETE {rgp}"),
            format!("GET {op}"),
            format!("GET {op}"),
            format!("HEAD {rgp}"),
            format!("GET {rgp}"),
        ]
    );
    assert_eq!(
        mock.seen()[0].json(),
        json!({"location": "uksouth", "tags": {"ods-code": "RM3"}})
    );
}

#[tokio::test]
async fn resource_groups_by_tag_follow_next_link() {
    let mock = Mock::start().await;
    let next = format!(
        "{}/subscriptions/{SUB}/resourcegroups?api-version=2021-04-01&%24skiptoken=2",
        mock.url
    );
    let g = |n: &str| {
        json!({"id": format!("/subscriptions/{SUB}/resourceGroups/{n}"), "name": n, "location": "uksouth",
                             "tags": {"trust": "RM3"}, "properties": {"provisioningState": "Succeeded"}})
    };
    mock.script([
        Reply::json(200, json!({"value": [g("rg-a")], "nextLink": next})),
        Reply::json(200, json!({"value": [g("rg-b")]})),
    ]);
    let groups = mock
        .client()
        .list_resource_groups_by_tag(SUB, "trust", "RM3")
        .await
        .unwrap();
    let names: Vec<_> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, vec!["rg-a", "rg-b"]);
    let seen = mock.seen();
    assert!(
        seen[0]
            .query
            .contains("%24filter=tagName+eq+%27trust%27+and+tagValue+eq+%27RM3%27"),
        "{}",
        seen[0].query
    );
    assert_eq!(seen[1].query, "api-version=2021-04-01&%24skiptoken=2");
}

#[tokio::test]
async fn a_next_link_back_to_a_page_already_read_stops_the_listing_with_an_error() {
    let mock = Mock::start().await;
    let first = format!(
        "{}/subscriptions/{SUB}/resourcegroups?api-version=2021-04-01&%24skiptoken=1",
        mock.url
    );
    let second = format!(
        "{}/subscriptions/{SUB}/resourcegroups?api-version=2021-04-01&%24skiptoken=2",
        mock.url
    );
    let g = |n: &str| json!({"id": format!("/subscriptions/{SUB}/resourceGroups/{n}"), "name": n, "location": "uksouth"});
    mock.script([
        Reply::json(200, json!({"value": [g("rg-a")], "nextLink": first})),
        Reply::json(200, json!({"value": [g("rg-b")], "nextLink": second})),
        Reply::json(200, json!({"value": [g("rg-c")], "nextLink": first})),
    ]);
    let err = mock
        .client()
        .list_resource_groups_by_tag(SUB, "trust", "RM3")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("leads back to a page already read"), "{text}");
    assert!(text.contains("skiptoken=1"), "{text}");
    assert_eq!(mock.seen().len(), 3, "no page is read twice");
}

#[tokio::test]
async fn throttling_honours_retry_after_seconds() {
    let mock = Mock::start().await;
    let rg = json!({"id": "/x", "name": "rg", "location": "uksouth"});
    mock.script([
        Reply::json(
            429,
            json!({"error": {"code": "SubscriptionRequestsThrottled", "message": "slow down"}}),
        )
        .header("retry-after", "1"),
        Reply::json(200, rg),
    ]);
    let started = Instant::now();
    let g = mock.client().get_resource_group(SUB, "rg").await.unwrap();
    assert_eq!(g.name, "rg");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(mock.seen().len(), 2);
}

#[tokio::test]
async fn throttling_honours_retry_after_ms_on_a_deployment_put() {
    let mock = Mock::start().await;
    mock.script([
        Reply::json(
            429,
            json!({"error": {"code": "SubscriptionRequestsThrottled", "message": "slow down"}}),
        )
        .header("retry-after-ms", "300"),
        Reply::json(
            429,
            json!({"error": {"code": "SubscriptionRequestsThrottled", "message": "slow down"}}),
        )
        .header("retry-after-ms", "300"),
        Reply::json(200, deployment_body("Succeeded")),
    ]);
    let started = Instant::now();
    let d = mock
        .client()
        .create_deployment(&rg_scope(), "epr", &request())
        .await
        .unwrap();
    assert_eq!(d.provisioning_state, ProvisioningState::Succeeded);
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(mock.lines(), vec![format!("PUT {}", deployment_path()); 3]);
}

#[tokio::test]
async fn a_burst_of_503_is_ridden_out() {
    let mock = Mock::start().await;
    let busy = || {
        Reply::json(
            503,
            json!({"error": {"code": "ServiceUnavailable", "message": "busy"}}),
        )
    };
    mock.script([busy(), busy(), busy(), busy(), Reply::empty(204)]);
    assert!(mock
        .client()
        .resource_group_exists(SUB, "rg")
        .await
        .unwrap());
    assert_eq!(mock.seen().len(), 5);
}

#[tokio::test]
async fn retries_end_with_a_typed_error_naming_the_attempts() {
    let mock = Mock::start().await;
    let busy = || {
        Reply::json(
            503,
            json!({"error": {"code": "ServiceUnavailable", "message": "busy"}}),
        )
    };
    mock.script((0..6).map(|_| busy()));
    let e = mock
        .client()
        .get_resource_group(SUB, "rg")
        .await
        .unwrap_err();
    match &e {
        Error::RetriesExhausted { attempts, .. } => assert_eq!(*attempts, 6),
        other => panic!("{other:?}"),
    }
    assert_eq!(e.code(), Some("ServiceUnavailable"));
    assert_eq!(e.status(), Some(503));
    assert_eq!(mock.unused(), 0);
}

#[tokio::test]
async fn a_poll_that_never_ends_times_out_naming_the_operation() {
    let mock = Mock::start().await;
    let status_url = format!("{}{}/operationStatuses/op1", mock.url, deployment_path());
    mock.script([
        Reply::json(201, deployment_body("Accepted")).header("azure-asyncoperation", &status_url)
    ]);
    mock.script((0..500).map(|_| Reply::json(200, json!({"status": "Running"}))));
    let mut options = fast();
    options.poll.timeout = Duration::from_millis(300);
    let client = ArmClient::new(
        &mock.url,
        Credential::AccessToken(Secret::new("t")),
        options,
    )
    .unwrap();
    let e = client
        .create_deployment(&rg_scope(), "epr", &request())
        .await
        .unwrap_err();
    match &e {
        Error::Timeout {
            operation,
            limit,
            last_status,
            ..
        } => {
            assert_eq!(
                operation,
                &format!(
                    "PUT {}{}?api-version=2021-04-01",
                    mock.url,
                    deployment_path()
                )
            );
            assert_eq!(*limit, Duration::from_millis(300));
            assert_eq!(last_status.as_deref(), Some("Running"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn invalid_template_is_a_typed_error_with_details_and_not_retried() {
    let mock = Mock::start().await;
    mock.script([Reply::json(400, json!({"error": {
        "code": "InvalidTemplate",
        "message": "Deployment template validation failed: 'The template resource 'kv' at line '12' and column '9' is not valid.'",
        "details": [{"code": "InvalidTemplateResource", "message": "kv is not valid", "target": "resources[0]"}],
        "additionalInfo": [{"type": "TemplateViolation", "info": {"lineNumber": 12, "linePosition": 9, "path": "resources[0]"}}]
    }}))]);
    let e = mock
        .client()
        .create_deployment(&rg_scope(), "epr", &request())
        .await
        .unwrap_err();
    let Error::Api { status, detail, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*status, 400);
    assert_eq!(detail.code, "InvalidTemplate");
    assert_eq!(detail.details[0].target.as_deref(), Some("resources[0]"));
    assert_eq!(detail.additional_info[0].kind, "TemplateViolation");
    assert_eq!(detail.additional_info[0].info["lineNumber"], json!(12));
    assert_eq!(
        e.to_string(),
        format!("PUT {}{}?api-version=2021-04-01: HTTP 400: InvalidTemplate: Deployment template validation failed: 'The template resource 'kv' at line '12' and column '9' is not valid.'\n  - InvalidTemplateResource: kv is not valid (target resources[0])", mock.url, deployment_path())
    );
    assert_eq!(mock.seen().len(), 1);
}

#[tokio::test]
async fn validate_returns_the_validated_resources() {
    let mock = Mock::start().await;
    mock.script([Reply::json(
        200,
        json!({"properties": {"provisioningState": "Succeeded",
        "validatedResources": [{"id": "/subscriptions/x/vaults/kv-rm3-uks-epr"}]}}),
    )]);
    let v = mock
        .client()
        .validate_deployment(&rg_scope(), "epr", &request())
        .await
        .unwrap();
    assert_eq!(
        v.validated_resources,
        vec!["/subscriptions/x/vaults/kv-rm3-uks-epr".to_string()]
    );
    assert_eq!(
        mock.lines(),
        vec![format!("POST {}/validate", deployment_path())]
    );
}

#[tokio::test]
async fn unauthenticated_and_forbidden_are_typed() {
    let mock = Mock::start().await;
    mock.script([
        Reply::json(401, json!({"error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}})),
        Reply::json(401, json!({"error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}})),
        Reply::json(403, json!({"error": {"code": "AuthorizationFailed",
            "message": "The client 'sp' with object id 'o' does not have authorization to perform action 'Microsoft.Resources/deployments/write' over scope '/subscriptions/s'."}})),
    ]);
    let client = mock.client();
    let e = client.get_resource_group(SUB, "rg").await.unwrap_err();
    assert!(matches!(e, Error::Unauthenticated { .. }), "{e:?}");
    // One fresh token is tried before giving up on a 401.
    assert_eq!(mock.seen().len(), 2);
    assert_eq!(
        e.to_string(),
        format!("GET {}/subscriptions/{SUB}/resourcegroups/rg?api-version=2021-04-01: not authenticated (HTTP 401 InvalidAuthenticationToken): The access token is invalid.", mock.url)
    );
    let e = client
        .create_deployment(&rg_scope(), "epr", &request())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden { .. }), "{e:?}");
    assert_eq!(e.code(), Some("AuthorizationFailed"));
    assert!(!format!("{e} {e:?}").contains("tok-static"));
    assert_eq!(mock.seen().len(), 3);
}

#[tokio::test]
async fn a_retried_put_that_meets_deployment_active_follows_the_running_deployment() {
    let mock = Mock::start().await;
    mock.script([
        Reply::json(500, json!({"error": {"code": "InternalServerError", "message": "oops"}})),
        Reply::json(409, json!({"error": {"code": "DeploymentActive", "message": "The deployment 'epr' is active."}})),
        Reply::json(200, deployment_body("Running")),
        Reply::json(200, deployment_body("Succeeded")),
    ]);
    let d = mock
        .client()
        .create_deployment(&rg_scope(), "epr", &request())
        .await
        .unwrap();
    assert_eq!(d.provisioning_state, ProvisioningState::Succeeded);
    let p = deployment_path();
    assert_eq!(
        mock.lines(),
        vec![
            format!("PUT {p}"),
            format!("PUT {p}"),
            format!("GET {p}"),
            format!("GET {p}")
        ]
    );
}

#[tokio::test]
async fn deployment_active_without_an_earlier_attempt_is_an_error() {
    let mock = Mock::start().await;
    mock.script([Reply::json(409, json!({"error": {"code": "DeploymentActive", "message": "The deployment 'epr' is active."}}))]);
    let e = mock
        .client()
        .create_deployment(&rg_scope(), "epr", &request())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("DeploymentActive"));
    assert_eq!(mock.seen().len(), 1);
}

#[tokio::test]
async fn generic_resources_use_the_providers_api_version() {
    let mock = Mock::start().await;
    let id = format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-rm3-uks-epr"
    );
    mock.script([
        Reply::json(
            200,
            json!({"id": id, "name": "kv-rm3-uks-epr", "properties": {"enableSoftDelete": true}}),
        ),
        Reply::json(
            404,
            json!({"error": {"code": "ResourceNotFound", "message": "not found"}}),
        ),
        Reply::json(
            200,
            json!({"id": id, "name": "kv-rm3-uks-epr", "properties": {"enableSoftDelete": true}}),
        ),
    ]);
    let client = mock.client();
    let r = client
        .get_resource(&id, "2023-07-01")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r["properties"]["enableSoftDelete"], json!(true));
    assert_eq!(client.get_resource(&id, "2023-07-01").await.unwrap(), None);
    let body = json!({"location": "uksouth", "properties": {"enableSoftDelete": true}});
    client.put_resource(&id, "2023-07-01", &body).await.unwrap();
    let seen = mock.seen();
    assert!(
        seen.iter()
            .all(|s| s.query == "api-version=2023-07-01" && s.path == id),
        "{seen:?}"
    );
    assert_eq!(seen[2].json(), body);
}

#[tokio::test]
async fn service_principal_token_from_a_mock_authority_is_reused() {
    let mock = Mock::start().await;
    let rg = json!({"id": "/x", "name": "rg", "location": "uksouth"});
    mock.script((0..3).map(|_| Reply::json(200, rg.clone())));
    mock.script([Reply::json(200, json!({"id": format!("/subscriptions/{SUB}"), "subscriptionId": SUB,
                                         "displayName": "NCA", "state": "Enabled", "tenantId": "tenant-1"}))]);
    let credential = Credential::ServicePrincipal {
        tenant_id: "tenant-1".into(),
        client_id: "app-1".into(),
        client_secret: Secret::new("s3cr3t-value"),
        authority_host: url::Url::parse(&mock.url).unwrap(),
    };
    let client = ArmClient::new(&mock.url, credential, fast()).unwrap();
    for _ in 0..3 {
        client.get_resource_group(SUB, "rg").await.unwrap();
    }
    let s = client.get_subscription(SUB).await.unwrap();
    assert_eq!(s.display_name, "NCA");
    let tokens = mock.token_requests();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(tokens[0].as_bytes())
        .into_owned()
        .collect();
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("client_credentials")
    );
    assert_eq!(form.get("client_id").map(String::as_str), Some("app-1"));
    assert_eq!(
        form.get("scope").map(String::as_str),
        Some("https://management.azure.com/.default")
    );
    assert!(mock
        .seen()
        .iter()
        .all(|s| s.authorization.as_deref() == Some("Bearer tok-sp-1")));
    assert!(!format!("{client:?}").contains("s3cr3t-value"));
}

#[tokio::test]
async fn bad_client_secret_is_a_credential_error_without_the_secret() {
    let mock = Mock::start().await;
    mock.shared.lock().unwrap().token_reply = Some(Reply::json(
        401,
        json!({
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided."
        }),
    ));
    let credential = Credential::ServicePrincipal {
        tenant_id: "tenant-1".into(),
        client_id: "app-1".into(),
        client_secret: Secret::new("s3cr3t-value"),
        authority_host: url::Url::parse(&mock.url).unwrap(),
    };
    let client = ArmClient::new(&mock.url, credential, fast()).unwrap();
    let e = client.get_resource_group(SUB, "rg").await.unwrap_err();
    assert!(matches!(e, Error::Credential { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "could not get an Azure access token with the service principal (client secret) credential: request token error: Server returned error response: invalid_client: AADSTS7000215: Invalid client secret provided."
    );
    let text = format!("{e} {e:?}");
    assert!(!text.contains("s3cr3t-value"), "{text}");
    assert!(mock.seen().is_empty(), "no ARM request without a token");
}

#[tokio::test]
async fn workload_identity_reads_the_federated_token_file() {
    let mock = Mock::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "oidc-jwt-from-ci\n").unwrap();
    mock.script([Reply::json(
        200,
        json!({"id": "/x", "name": "rg", "location": "uksouth"}),
    )]);
    let credential = Credential::WorkloadIdentity {
        tenant_id: "tenant-1".into(),
        client_id: "app-1".into(),
        token_file: file,
        authority_host: url::Url::parse(&mock.url).unwrap(),
    };
    let client = ArmClient::new(&mock.url, credential, fast()).unwrap();
    client.get_resource_group(SUB, "rg").await.unwrap();
    let tokens = mock.token_requests();
    assert_eq!(tokens.len(), 1);
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(tokens[0].as_bytes())
        .into_owned()
        .collect();
    assert_eq!(
        form.get("client_assertion").map(String::as_str),
        Some("oidc-jwt-from-ci")
    );
    assert_eq!(
        form.get("client_assertion_type").map(String::as_str),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
}

#[tokio::test]
async fn a_token_close_to_expiry_is_refreshed_before_use() {
    let mock = Mock::start().await;
    // 60 s left is inside the 5-minute refresh margin: each call must fetch a fresh token.
    mock.shared.lock().unwrap().token_reply = Some(Reply::json(
        200,
        json!({"token_type": "Bearer", "expires_in": 60, "ext_expires_in": 60, "access_token": "short-lived"}),
    ));
    let rg = json!({"id": "/x", "name": "rg", "location": "uksouth"});
    mock.script((0..2).map(|_| Reply::json(200, rg.clone())));
    let credential = Credential::ServicePrincipal {
        tenant_id: "tenant-1".into(),
        client_id: "app-1".into(),
        client_secret: Secret::new("s"),
        authority_host: url::Url::parse(&mock.url).unwrap(),
    };
    let client = ArmClient::new(&mock.url, credential, fast()).unwrap();
    client.get_resource_group(SUB, "rg").await.unwrap();
    client.get_resource_group(SUB, "rg").await.unwrap();
    assert_eq!(mock.token_requests().len(), 2);
}

/// A port nothing listens on.
async fn closed_port_url() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    url
}

#[tokio::test]
async fn connection_errors_are_retried_only_for_idempotent_requests() {
    let url = closed_port_url().await;
    let client = ArmClient::new(&url, Credential::AccessToken(Secret::new("t")), fast()).unwrap();
    let e = client.get_resource_group(SUB, "rg").await.unwrap_err();
    let Error::RetriesExhausted { attempts, last, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*attempts, 6);
    assert!(matches!(**last, Error::Transport { .. }), "{last:?}");
    let source = std::error::Error::source(&e).map(ToString::to_string);
    assert_eq!(
        source.as_deref().map(|s| s.matches(&url).count()),
        Some(1),
        "{source:?}"
    );
    assert!(source.is_some_and(|s| s.starts_with(&format!(
        "GET {url}/subscriptions/{SUB}/resourcegroups/rg?api-version=2021-04-01: "
    ))));

    // Cancel is a POST: a broken connection may have delivered it, so it is not resent.
    let e = client
        .cancel_deployment(&rg_scope(), "epr")
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
}

#[tokio::test]
async fn exhausted_retries_name_the_request_and_chain_the_last_error() {
    let mock = Mock::start().await;
    let busy = || {
        Reply::json(
            429,
            json!({"error": {"code": "SubscriptionRequestsThrottled", "message": "slow down"}}),
        )
        .header("retry-after-ms", "1")
    };
    mock.script((0..3).map(|_| busy()));
    let mut options = fast();
    options.retry.max_attempts = 3;
    let client = ArmClient::new(
        &mock.url,
        Credential::AccessToken(Secret::new("t")),
        options,
    )
    .unwrap();
    let e = client.get_resource_group(SUB, "rg").await.unwrap_err();
    let url = format!(
        "{}/subscriptions/{SUB}/resourcegroups/rg?api-version=2021-04-01",
        mock.url
    );
    let Error::RetriesExhausted { waited, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        e.to_string(),
        format!(
            "GET {url}: still failing after 3 attempt(s) over {}s",
            waited.as_secs()
        )
    );
    assert_eq!(
        std::error::Error::source(&e).unwrap().to_string(),
        format!("GET {url}: HTTP 429: SubscriptionRequestsThrottled: slow down")
    );
}

#[tokio::test]
async fn cancel_and_delete_a_deployment() {
    let mock = Mock::start().await;
    let loc = format!("{}/subscriptions/{SUB}/operationresults/dd1", mock.url);
    mock.script([
        Reply::empty(204),
        Reply::empty(202)
            .header("location", &loc)
            .header("retry-after", "0"),
        Reply::empty(202).header("location", &loc),
        Reply::empty(204),
    ]);
    let client = mock.client();
    client.cancel_deployment(&rg_scope(), "epr").await.unwrap();
    client.delete_deployment(&rg_scope(), "epr").await.unwrap();
    let p = deployment_path();
    let op = format!("/subscriptions/{SUB}/operationresults/dd1");
    assert_eq!(
        mock.lines(),
        vec![
            format!("POST {p}/cancel"),
            format!("DELETE {p}"),
            format!("GET {op}"),
            format!("GET {op}")
        ]
    );
}

#[tokio::test]
async fn dropping_a_deployment_wait_stops_polling() {
    let mock = Mock::start().await;
    let status_url = format!("{}{}/operationStatuses/op1", mock.url, deployment_path());
    mock.script([
        Reply::json(201, deployment_body("Accepted")).header("azure-asyncoperation", &status_url)
    ]);
    mock.script((0..1000).map(|_| Reply::json(200, json!({"status": "Running"}))));
    let client = mock.client();
    let r = tokio::time::timeout(
        Duration::from_millis(150),
        client.create_deployment(&rg_scope(), "epr", &request()),
    )
    .await;
    assert!(r.is_err(), "still running when dropped");
    // A poll in flight at the moment of the drop may still reach the server; none may start after.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let seen_after_drop = mock.seen().len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mock.seen().len(), seen_after_drop);
    assert_eq!(mock.seen().iter().filter(|s| s.method == "PUT").count(), 1);
}

#[tokio::test]
async fn a_rerun_waits_for_the_deployment_an_interrupted_run_started() {
    let mock = Mock::start().await;
    mock.script([
        Reply::json(200, deployment_body("Running")).header("retry-after", "0"),
        Reply::json(200, deployment_body("Running")),
        Reply::json(200, deployment_body("Succeeded")),
    ]);
    let d = mock
        .client()
        .wait_for_deployment(&rg_scope(), "epr")
        .await
        .unwrap();
    assert_eq!(d.provisioning_state, ProvisioningState::Succeeded);
    assert_eq!(mock.lines(), vec![format!("GET {}", deployment_path()); 3]);
    assert!(mock.seen().iter().all(|s| s.method != "PUT"));
}

#[tokio::test]
async fn a_generic_put_still_creating_is_read_until_done() {
    let mock = Mock::start().await;
    let id = format!("/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/strm3uksepr");
    let body = |state: &str| json!({"id": id, "name": "strm3uksepr", "properties": {"provisioningState": state}});
    mock.script([
        Reply::json(201, body("Creating")),
        Reply::json(200, body("Creating")),
        Reply::json(200, body("Succeeded")),
    ]);
    let r = mock
        .client()
        .put_resource(
            &id,
            "2023-05-01",
            &json!({"location": "uksouth", "kind": "StorageV2"}),
        )
        .await
        .unwrap();
    assert_eq!(r["properties"]["provisioningState"], json!("Succeeded"));
    assert_eq!(
        mock.lines(),
        vec![
            format!("PUT {id}"),
            format!("GET {id}"),
            format!("GET {id}")
        ]
    );
}

#[tokio::test]
async fn a_policy_denial_keeps_the_assignment() {
    let mock = Mock::start().await;
    mock.script([Reply::json(403, json!({"error": {
        "code": "RequestDisallowedByPolicy",
        "message": "Resource 'kv' was disallowed by policy.",
        "additionalInfo": [{"type": "PolicyViolation", "info": {"policyAssignmentName": "allowed-locations"}}]
    }}))]);
    let e = mock
        .client()
        .put_resource(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv",
            "2023-07-01",
            &json!({}),
        )
        .await
        .unwrap_err();
    let Error::Forbidden { detail, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(detail.code, "RequestDisallowedByPolicy");
    assert_eq!(detail.additional_info[0].kind, "PolicyViolation");
    assert_eq!(
        detail.additional_info[0].info["policyAssignmentName"],
        json!("allowed-locations")
    );
}

#[tokio::test]
async fn begin_returns_once_accepted_and_finish_polls() {
    let mock = Mock::start().await;
    let status_url = format!("{}{}/operationStatuses/op1", mock.url, deployment_path());
    mock.script([
        Reply::json(201, deployment_body("Accepted")).header("azure-asyncoperation", &status_url),
        Reply::json(200, json!({"status": "Succeeded"})),
        Reply::json(200, deployment_body("Succeeded")),
    ]);
    let client = mock.client();
    let started = client
        .begin_deployment(&rg_scope(), "epr", &request())
        .await
        .unwrap();
    let initial = started.initial().unwrap();
    assert_eq!(initial.provisioning_state, ProvisioningState::Accepted);
    assert_eq!(initial.correlation_id.as_deref(), Some("corr-1"));
    assert_eq!(started.path(), deployment_path());
    assert_eq!(mock.seen().len(), 1);
    let done = client.finish_deployment(started).await.unwrap();
    assert_eq!(done.provisioning_state, ProvisioningState::Succeeded);
    assert_eq!(mock.seen().len(), 3);
}

#[tokio::test]
async fn concurrent_calls_share_one_token_request() {
    let mock = Mock::start().await;
    let rg = json!({"id": "/x", "name": "rg", "location": "uksouth"});
    mock.script((0..8).map(|_| Reply::json(200, rg.clone())));
    let credential = Credential::ServicePrincipal {
        tenant_id: "tenant-1".into(),
        client_id: "app-1".into(),
        client_secret: Secret::new("s"),
        authority_host: url::Url::parse(&mock.url).unwrap(),
    };
    let client = ArmClient::new(&mock.url, credential, fast()).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let c = client.clone();
        tasks.spawn(async move { c.get_resource_group(SUB, "rg").await });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    assert_eq!(mock.token_requests().len(), 1);
    assert_eq!(mock.seen().len(), 8);
}

#[tokio::test]
async fn a_what_if_answered_at_once_is_read_and_its_failure_typed() {
    let mock = Mock::start().await;
    mock.script([
        Reply::json(
            200,
            json!({"status": "Succeeded", "properties": {"changes": [
            {"resourceId": "/a", "changeType": "NoChange"}]}}),
        ),
        Reply::json(
            200,
            json!({"status": "Failed", "error": {"code": "InvalidTemplate", "message": "bad"}}),
        ),
    ]);
    let client = mock.client();
    let r = client
        .what_if(&rg_scope(), "epr", &request())
        .await
        .unwrap();
    assert_eq!(r.changes[0].change_type, ChangeType::NoChange);
    let e = client
        .what_if(&rg_scope(), "epr", &request())
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "POST {}{}/whatIf?api-version=2021-04-01 ended Failed: InvalidTemplate: bad",
            mock.url,
            deployment_path()
        )
    );
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once() {
    let mock = Mock::start().await;
    mock.script([
        Reply::json(401, json!({"error": {"code": "ExpiredAuthenticationToken", "message": "The access token expiry UTC time is earlier than current UTC time."}})),
        Reply::json(200, json!({"id": "/x", "name": "rg", "location": "uksouth"})),
    ]);
    let credential = Credential::ServicePrincipal {
        tenant_id: "tenant-1".into(),
        client_id: "app-1".into(),
        client_secret: Secret::new("s"),
        authority_host: url::Url::parse(&mock.url).unwrap(),
    };
    let client = ArmClient::new(&mock.url, credential, fast()).unwrap();
    client.get_resource_group(SUB, "rg").await.unwrap();
    assert_eq!(mock.token_requests().len(), 2);
    let auth: Vec<_> = mock
        .seen()
        .iter()
        .map(|s| s.authorization.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        auth,
        vec!["Bearer tok-sp-1".to_string(), "Bearer tok-sp-2".to_string()]
    );
}

mod policyinsights;
