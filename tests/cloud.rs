//! Integration tests: the local cloud, driven over raw HTTP (reqwest) as any ARM client would.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use trustprint::cloud::{Config, RunningServer, Server};

const SUB: &str = "11111111-2222-4333-8444-555555555555";
const RG_API: &str = "2021-04-01";
const ST_API: &str = "2023-05-01";

/// A started local cloud with a token, and helpers to talk to it.
struct Cloud {
    server: RunningServer,
    http: reqwest::Client,
    token: String,
}

/// One response: status, headers, parsed body (`Null` when empty).
struct Resp {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Resp {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub(crate) async fn token(http: &reqwest::Client, base: &str) -> String {
    let r = http
        .post(format!("{base}/mytenant/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "app"),
            ("client_secret", "s3cret"),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    v["access_token"].as_str().unwrap().to_string()
}

impl Cloud {
    async fn start(config: Config) -> Cloud {
        let server = Server::start(config).await.unwrap();
        let http = client();
        let token = token(&http, server.url()).await;
        Cloud {
            server,
            http,
            token,
        }
    }

    async fn default() -> Cloud {
        Cloud::start(Config::default()).await
    }

    /// `path` is relative to the endpoint and may carry its own query; api-version is appended when missing.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let url = if path.starts_with("http") {
            path.to_string()
        } else if path.contains("api-version=") {
            format!("{}{path}", self.server.url())
        } else {
            let sep = if path.contains('?') { '&' } else { '?' };
            format!(
                "{}{path}{sep}api-version={}",
                self.server.url(),
                api_for(path)
            )
        };
        let mut rb = self.http.request(method, url).bearer_auth(&self.token);
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
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }
    async fn put(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(body)).await
    }
    async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }
    async fn patch(&self, path: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }

    async fn rg(&self, name: &str, location: &str) -> Resp {
        let r = self
            .put(
                &rg_path(name),
                json!({"location": location, "tags": {"env": "test"}}),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.body);
        r
    }

    /// Follow a `Location` header until it stops answering 202 (bounded).
    async fn poll_location(&self, first: &Resp) -> Resp {
        let loc = first.header("location").to_string();
        assert!(!loc.is_empty(), "no Location header");
        for _ in 0..200 {
            let r = self.get(&loc).await;
            if r.status != StatusCode::ACCEPTED {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("operation at {loc} never finished");
    }
}

fn api_for(path: &str) -> &'static str {
    let l = path.to_lowercase();
    if l.contains("microsoft.storage") {
        ST_API
    } else if l.contains("microsoft.network") {
        "2023-09-01"
    } else if l.contains("microsoft.authorization/policyassignments") {
        "2022-06-01"
    } else if l.contains("microsoft.keyvault") {
        "2023-07-01"
    } else {
        RG_API
    }
}

fn rg_path(name: &str) -> String {
    format!("/subscriptions/{SUB}/resourcegroups/{name}")
}

fn storage_path(rg: &str, name: &str) -> String {
    format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{name}")
}

fn storage_body(location: &str) -> Value {
    json!({"location": location, "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
           "tags": {"a": "1"}, "properties": {"minimumTlsVersion": "TLS1_2"}})
}

fn allowed_locations(scope: &str, locations: &[&str]) -> (String, Value) {
    (
        format!("{scope}/providers/Microsoft.Authorization/policyAssignments/allowed-locations"),
        json!({"properties": {
            "displayName": "Allowed locations (UK)",
            "policyDefinitionId": "/providers/Microsoft.Authorization/policyDefinitions/e56962a6-4747-49cd-b67b-bf8b01975c4c",
            "parameters": {"listOfAllowedLocations": {"value": locations}}
        }}),
    )
}

mod protocol {
    use super::*;

    #[tokio::test]
    async fn requests_without_a_token_or_with_a_bad_one_are_refused() {
        let c = Cloud::default().await;
        let url = format!("{}/subscriptions?api-version={RG_API}", c.server.url());
        let r = c.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer authorization_uri="));
        assert_eq!(r.headers()["x-ms-error-code"], "AuthenticationFailed");
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v,
            json!({"error": {"code": "AuthenticationFailed", "message": "Authentication failed. The 'Authorization' header is missing."}})
        );
        let r = c.http.get(&url).bearer_auth("forged").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "InvalidAuthenticationToken");
    }

    #[tokio::test]
    async fn the_token_endpoint_checks_configured_client_credentials() {
        let server = Server::start(Config {
            client_id: Some("app".into()),
            client_secret: Some("right".into()),
            ..Config::default()
        })
        .await
        .unwrap();
        let http = client();
        let send = |id: &'static str, secret: &'static str, grant: &'static str| {
            http.post(format!("{}/t/oauth2/v2.0/token", server.url()))
                .form(&[
                    ("grant_type", grant),
                    ("client_id", id),
                    ("client_secret", secret),
                ])
                .send()
        };
        let r = send("app", "wrong", "client_credentials").await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
        let r = send("other", "right", "client_credentials").await.unwrap();
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "unauthorized_client"
        );
        let r = send("app", "right", "password").await.unwrap();
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "unsupported_grant_type"
        );
        let r = send("app", "right", "client_credentials").await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["expires_in"], 3599);
        // OpenID configuration for MSAL points back at this server.
        let r = http
            .get(format!(
                "{}/t/v2.0/.well-known/openid-configuration",
                server.url()
            ))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v["token_endpoint"],
            format!("{}/t/oauth2/v2.0/token", server.url())
        );
    }

    #[tokio::test]
    async fn tokens_carry_their_tenant_and_subscriptions_take_only_their_tenants_tokens() {
        const SUB_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
        const SUB_C: &str = "cccccccc-0000-4000-8000-00000000000c";
        let identity = |tenant: &str, client: &str, secret: &str| trustprint::cloud::Identity {
            tenant_id: tenant.into(),
            client_id: client.into(),
            client_secret: trustprint::arm::Secret::new(secret),
        };
        let server = Server::start(Config {
            identities: vec![
                identity("tenant-a", "app-a", "secret-a"),
                identity("tenant-b", "app-b", "secret-b"),
                identity("tenant-m", "ops-m", "secret-m"),
            ],
            subscription_tenants: vec![
                format!("{SUB_A}:tenant-a").parse().unwrap(),
                format!("{SUB_C}:tenant-c").parse().unwrap(),
            ],
            delegations: vec![format!("{SUB_C}:tenant-m").parse().unwrap()],
            ..Config::default()
        })
        .await
        .unwrap();
        let http = client();
        let token = |tenant: &'static str, id: &'static str, secret: &'static str| {
            let http = http.clone();
            let url = format!("{}/{tenant}/oauth2/v2.0/token", server.url());
            async move {
                http.post(url)
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", id),
                        ("client_secret", secret),
                    ])
                    .send()
                    .await
                    .unwrap()
            }
        };
        // An identity gets tokens from its own tenant only, with its own secret only; an undeclared client
        // gets none once identities are declared.
        let r = token("tenant-b", "app-a", "secret-a").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "unauthorized_client");
        assert!(
            v["error_description"].as_str().unwrap().starts_with(
                "AADSTS700016: Application with identifier 'app-a' was not found in the directory 'tenant-b'."
            ),
            "{v}"
        );
        let r = token("tenant-a", "app-a", "secret-b").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_client");
        assert_eq!(
            v["error_description"],
            "AADSTS7000215: Invalid client secret provided for application 'app-a'."
        );
        let r = token("tenant-a", "stranger", "x").await;
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "unauthorized_client"
        );
        // Federated credentials are not verified here, and say so.
        let r = http
            .post(format!("{}/tenant-a/oauth2/v2.0/token", server.url()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "app-a"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", "eyJ..."),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "invalid_request");
        assert!(
            v["error_description"]
                .as_str()
                .unwrap()
                .contains("does not verify federated credentials"),
            "{v}"
        );

        let bearer = |r: reqwest::Response| async move {
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let a = bearer(token("tenant-a", "app-a", "secret-a").await).await;
        let b = bearer(token("tenant-b", "app-b", "secret-b").await).await;
        let m = bearer(token("tenant-m", "ops-m", "secret-m").await).await;
        let get = |token: String, sub: &'static str| {
            let http = http.clone();
            let url = format!(
                "{}/subscriptions/{sub}?api-version=2022-12-01",
                server.url()
            );
            async move {
                let r = http.get(url).bearer_auth(token).send().await.unwrap();
                let status = r.status();
                let challenge = r
                    .headers()
                    .get("www-authenticate")
                    .map(|v| v.to_str().unwrap().to_string());
                (status, challenge, r.json::<Value>().await.unwrap())
            }
        };
        // Tenant A's own subscription, with tenant A's token.
        let (status, _, v) = get(a.clone(), SUB_A).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["tenantId"], "tenant-a");
        // Tenant B's token on tenant A's subscription: ARM's wrong-issuer error naming both tenants.
        let (status, challenge, v) = get(b.clone(), SUB_A).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(v["error"]["code"], "InvalidAuthenticationTokenTenant");
        assert_eq!(
            v["error"]["message"],
            "The access token is from the wrong issuer 'https://sts.windows.net/tenant-b/'. It must match \
             the tenant 'https://sts.windows.net/tenant-a/' associated with this subscription. Please use \
             the authority (URL) 'https://login.windows.net/tenant-a' to get the token. Note, if the \
             subscription is transferred to another tenant there is no impact to the services, but \
             information about new tenant could take time to propagate (up to an hour). If you just \
             transferred your subscription and see this error message, please try back later."
        );
        assert!(challenge.unwrap().contains("/tenant-a\""));
        // Tenant C's subscription is delegated to M: M's token works there, A's does not.
        let (status, _, v) = get(m, SUB_C).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["tenantId"], "tenant-c");
        assert_eq!(v["managedByTenants"], json!([{"tenantId": "tenant-m"}]));
        let (status, _, v) = get(a, SUB_C).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(v["error"]["code"], "InvalidAuthenticationTokenTenant");
        // An undeclared subscription takes any tenant's token, in the home tenant as before.
        let (status, _, v) = get(b, SUB).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["tenantId"], trustprint::cloud::DEFAULT_TENANT);
    }

    #[tokio::test]
    async fn api_version_is_required() {
        let c = Cloud::default().await;
        let r = c
            .http
            .get(format!("{}/subscriptions", c.server.url()))
            .bearer_auth(&c.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v,
            json!({"error": {"code": "MissingApiVersionParameter", "message": "The api-version query parameter (?api-version=) is required for all requests."}})
        );
    }

    #[tokio::test]
    async fn responses_carry_request_ids_echo_the_correlation_id_and_count_the_rate_limit() {
        let c = Cloud::default().await;
        let r = c
            .http
            .get(format!(
                "{}/subscriptions/{SUB}?api-version={RG_API}",
                c.server.url()
            ))
            .bearer_auth(&c.token)
            .header("x-ms-correlation-request-id", "corr-123")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h["x-ms-correlation-request-id"], "corr-123");
        assert_eq!(h["x-ms-request-id"].len(), 36);
        assert!(h["x-ms-routing-request-id"]
            .to_str()
            .unwrap()
            .starts_with("UKSOUTH:"));
        assert_eq!(h["content-type"], "application/json; charset=utf-8");
        assert_eq!(h["x-ms-ratelimit-remaining-subscription-reads"], "249");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["subscriptionId"], SUB);
        assert_eq!(v["state"], "Enabled");
        let r = c.get("/subscriptions").await;
        assert_eq!(r.body["value"][0]["id"], format!("/subscriptions/{SUB}"));
    }

    #[tokio::test]
    async fn a_malformed_subscription_id_is_refused() {
        let c = Cloud::default().await;
        let r = c.get("/subscriptions/not-a-guid/resourcegroups").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            r.body["error"]["message"],
            "The provided subscription identifier 'not-a-guid' is malformed or invalid."
        );
    }
}

mod resource_groups {
    use super::*;

    #[tokio::test]
    async fn put_creates_then_updates_and_get_head_patch_work() {
        let c = Cloud::default().await;
        let r = c
            .put(
                &rg_path("rg-Epr"),
                json!({"location": "UK South", "tags": {"a": "1"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(
            r.body,
            json!({"id": format!("/subscriptions/{SUB}/resourceGroups/rg-Epr"), "name": "rg-Epr",
                   "type": "Microsoft.Resources/resourceGroups", "location": "uksouth", "tags": {"a": "1"},
                   "properties": {"provisioningState": "Succeeded"}})
        );
        let r = c
            .put(&rg_path("RG-EPR"), json!({"location": "uksouth"}))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["name"], "rg-Epr", "the first casing is kept");
        // Path segments match case-insensitively; the id comes back canonical.
        let r = c
            .get(&format!("/SUBSCRIPTIONS/{SUB}/RESOURCEGROUPS/rg-epr"))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(
            r.body["id"],
            format!("/subscriptions/{SUB}/resourceGroups/rg-Epr")
        );
        let r = c.call(Method::HEAD, &rg_path("rg-epr"), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        let r = c.call(Method::HEAD, &rg_path("nope"), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = c
            .patch(&rg_path("rg-epr"), json!({"tags": {"b": "2"}}))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["tags"], json!({"b": "2"}));
        assert_eq!(
            c.get(&rg_path("rg-epr")).await.body["tags"],
            json!({"b": "2"})
        );
    }

    #[tokio::test]
    async fn errors_are_arm_errors() {
        let c = Cloud::default().await;
        let r = c.get(&rg_path("missing")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.header("x-ms-error-code"), "ResourceGroupNotFound");
        assert_eq!(
            r.body,
            json!({"error": {"code": "ResourceGroupNotFound", "message": "Resource group 'missing' could not be found."}})
        );
        c.rg("rg1", "uksouth").await;
        let r = c.put(&rg_path("rg1"), json!({"location": "ukwest"})).await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(
            r.body["error"]["message"],
            "Invalid resource group location 'ukwest'. The Resource group already exists in location 'uksouth'."
        );
        let r = c
            .put(&rg_path("rg2"), json!({"location": "atlantis"}))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            r.body["error"]["code"],
            "LocationNotAvailableForResourceGroup"
        );
        let r = c.put(&rg_path("rg2"), json!({})).await;
        assert_eq!(r.body["error"]["code"], "LocationRequired");
        let r = c.call(Method::PUT, &rg_path("rg3"), None).await;
        assert_eq!(r.body["error"]["code"], "LocationRequired");
        let r = c
            .http
            .put(format!(
                "{}{}?api-version={RG_API}",
                c.server.url(),
                rg_path("rg4")
            ))
            .bearer_auth(&c.token)
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"]["code"],
            "InvalidRequestContent"
        );
    }

    #[tokio::test]
    async fn list_filters_by_tag_and_pages_with_next_link() {
        let c = Cloud::default().await;
        for i in 0..5 {
            let tags = if i % 2 == 0 {
                json!({"team": "epr"})
            } else {
                json!({"team": "ops"})
            };
            c.put(
                &rg_path(&format!("rg-{i}")),
                json!({"location": "uksouth", "tags": tags}),
            )
            .await;
        }
        let r = c
            .get(&format!("/subscriptions/{SUB}/resourcegroups?$filter=tagName eq 'team' and tagValue eq 'epr'"))
            .await;
        let names: Vec<&str> = r.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["rg-0", "rg-2", "rg-4"]);
        let mut seen = Vec::new();
        let mut r = c
            .get(&format!("/subscriptions/{SUB}/resourcegroups?$top=2"))
            .await;
        let mut pages = 1;
        loop {
            for v in r.body["value"].as_array().unwrap() {
                seen.push(v["name"].as_str().unwrap().to_string());
            }
            let Some(next) = r.body["nextLink"].as_str() else {
                break;
            };
            assert!(next.starts_with(c.server.url()));
            r = c.get(next).await;
            pages += 1;
            assert!(pages < 10);
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, ["rg-0", "rg-1", "rg-2", "rg-3", "rg-4"]);
        let r = c
            .get(&format!(
                "/subscriptions/{SUB}/resourcegroups?$filter=location eq 'x'"
            ))
            .await;
        assert_eq!(r.body["error"]["code"], "InvalidFilterInQueryString");
    }

    #[tokio::test]
    async fn delete_is_a_long_running_operation_that_deletes_the_contents() {
        let c = Cloud::start(Config {
            lro: Duration::from_millis(300),
            ..Config::default()
        })
        .await;
        c.rg("rg-del", "uksouth").await;
        assert_eq!(
            c.put(&storage_path("rg-del", "stdel1"), storage_body("uksouth"))
                .await
                .status,
            StatusCode::CREATED
        );
        let r = c.delete(&rg_path("rg-del")).await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        assert_eq!(r.header("retry-after"), "1");
        assert!(r.header("location").starts_with(&format!(
            "{}/subscriptions/{SUB}/operationresults/",
            c.server.url()
        )));
        // While deleting: the group says so and refuses writes.
        assert_eq!(
            c.get(&rg_path("rg-del")).await.body["properties"]["provisioningState"],
            "Deleting"
        );
        let w = c
            .put(&rg_path("rg-del"), json!({"location": "uksouth"}))
            .await;
        assert_eq!(w.status, StatusCode::CONFLICT);
        assert_eq!(w.body["error"]["code"], "ResourceGroupBeingDeleted");
        let poll = c.get(r.header("location")).await;
        assert_eq!(poll.status, StatusCode::ACCEPTED);
        let done = c.poll_location(&r).await;
        assert_eq!(done.status, StatusCode::OK);
        assert_eq!(
            c.get(&rg_path("rg-del")).await.status,
            StatusCode::NOT_FOUND
        );
        // Recreating the group does not bring the old contents back.
        c.rg("rg-del", "uksouth").await;
        assert_eq!(
            c.get(&storage_path("rg-del", "stdel1")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            c.delete(&rg_path("never")).await.status,
            StatusCode::NOT_FOUND
        );
    }
}

mod resources {
    use super::*;

    #[tokio::test]
    async fn put_get_patch_delete_and_list_by_id() {
        let c = Cloud::default().await;
        c.rg("rg-res", "uksouth").await;
        let p = storage_path("rg-res", "stres1");
        let r = c.put(&p, storage_body("UK South")).await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.body["id"], format!("/subscriptions/{SUB}/resourceGroups/rg-res/providers/Microsoft.Storage/storageAccounts/stres1"));
        assert_eq!(r.body["type"], "Microsoft.Storage/storageAccounts");
        assert_eq!(r.body["location"], "uksouth");
        assert_eq!(r.body["properties"]["minimumTlsVersion"], "TLS1_2");
        assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
        // What the provider fills in, so templates can reference it.
        assert_eq!(
            r.body["properties"]["primaryEndpoints"]["blob"],
            "https://stres1.blob.core.windows.net/"
        );
        assert_eq!(
            c.put(&p, storage_body("uksouth")).await.status,
            StatusCode::OK
        );
        let lower = p.to_lowercase();
        let g = c.get(&lower).await;
        assert_eq!(g.status, StatusCode::OK);
        assert_eq!(g.body["id"], r.body["id"]);
        let r = c
            .patch(
                &p,
                json!({"tags": {"z": "9"}, "properties": {"allowBlobPublicAccess": false}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body["tags"], json!({"z": "9"}));
        assert_eq!(r.body["properties"]["minimumTlsVersion"], "TLS1_2");
        assert_eq!(r.body["properties"]["allowBlobPublicAccess"], false);
        c.put(&storage_path("rg-res", "stres2"), storage_body("uksouth"))
            .await;
        let l = c.get(&format!("/subscriptions/{SUB}/resourceGroups/rg-res/providers/Microsoft.Storage/storageAccounts")).await;
        assert_eq!(l.body["value"].as_array().unwrap().len(), 2);
        let l = c.get(&format!("/subscriptions/{SUB}/resources?$filter=resourceType eq 'Microsoft.Storage/storageAccounts'&$top=1")).await;
        assert_eq!(l.body["value"].as_array().unwrap().len(), 1);
        assert!(l.body["nextLink"].is_string());
        assert_eq!(c.delete(&p).await.status, StatusCode::OK);
        assert_eq!(c.delete(&p).await.status, StatusCode::NO_CONTENT);
        let g = c.get(&p).await;
        assert_eq!(g.status, StatusCode::NOT_FOUND);
        assert_eq!(
            g.body["error"]["message"],
            "The Resource 'Microsoft.Storage/storageAccounts/stres1' under resource group 'rg-res' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        );
    }

    #[tokio::test]
    async fn child_resources_need_their_parent_and_go_with_it() {
        let c = Cloud::default().await;
        c.rg("rg-net", "uksouth").await;
        let vnet = format!("/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/vnet1");
        let subnet = format!("{vnet}/subnets/app");
        let r = c
            .put(
                &subnet,
                json!({"properties": {"addressPrefix": "10.0.1.0/24"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.body["error"]["code"], "ParentResourceNotFound");
        c.put(&vnet, json!({"location": "uksouth", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}})).await;
        let r = c
            .put(
                &subnet,
                json!({"properties": {"addressPrefix": "10.0.1.0/24"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.body["name"], "vnet1/app");
        assert_eq!(r.body["type"], "Microsoft.Network/virtualNetworks/subnets");
        c.delete(&vnet).await;
        assert_eq!(c.get(&subnet).await.status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn unknown_types_api_versions_and_locations_fail_as_arm_does() {
        let c = Cloud::default().await;
        c.rg("rg-cat", "uksouth").await;
        let base = format!("/subscriptions/{SUB}/resourceGroups/rg-cat/providers");
        let r = c
            .put(
                &format!("{base}/Microsoft.Storage/storageAccounts/st1?api-version=2099-01-01"),
                storage_body("uksouth"),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.body["error"]["code"], "NoRegisteredProviderFound");
        assert!(r.body["error"]["message"].as_str().unwrap().starts_with(
            "No registered resource provider found for location 'uksouth' and API version '2099-01-01' for type 'storageAccounts'. The supported api-versions are '2026-04-01, "
        ));
        let r = c
            .put(
                &format!("{base}/Microsoft.Storage/widgets/w1?api-version={ST_API}"),
                json!({}),
            )
            .await;
        assert_eq!(
            r.body["error"],
            json!({"code": "InvalidResourceType", "message": format!("The resource type 'widgets' could not be found in the namespace 'Microsoft.Storage' for api version '{ST_API}'.")})
        );
        let r = c
            .put(
                &format!("{base}/Contoso.Things/things/t?api-version=2020-01-01"),
                json!({}),
            )
            .await;
        assert_eq!(r.body["error"]["code"], "InvalidResourceNamespace");
        let r = c
            .put(&storage_path("rg-cat", "st2"), storage_body("mars"))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            r.body["error"]["code"],
            "LocationNotAvailableForResourceType"
        );
        let r = c
            .put(&storage_path("no-rg", "st3"), storage_body("uksouth"))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.body["error"]["code"], "ResourceGroupNotFound");
    }

    #[tokio::test]
    async fn the_tags_resource_merges_replaces_and_deletes() {
        let c = Cloud::default().await;
        c.rg("rg-tags", "uksouth").await;
        let p = storage_path("rg-tags", "sttags");
        c.put(&p, storage_body("uksouth")).await;
        let t = format!("{p}/providers/Microsoft.Resources/tags/default?api-version={RG_API}");
        let r = c
            .patch(
                &t,
                json!({"operation": "Merge", "properties": {"tags": {"b": "2"}}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["properties"]["tags"], json!({"a": "1", "b": "2"}));
        assert_eq!(r.body["id"], format!("/subscriptions/{SUB}/resourceGroups/rg-tags/providers/Microsoft.Storage/storageAccounts/sttags/providers/Microsoft.Resources/tags/default"));
        let r = c
            .patch(
                &t,
                json!({"operation": "Delete", "properties": {"tags": {"a": "1"}}}),
            )
            .await;
        assert_eq!(r.body["properties"]["tags"], json!({"b": "2"}));
        let r = c
            .patch(
                &t,
                json!({"operation": "Replace", "properties": {"tags": {"c": "3"}}}),
            )
            .await;
        assert_eq!(r.body["properties"]["tags"], json!({"c": "3"}));
        assert_eq!(c.get(&p).await.body["tags"], json!({"c": "3"}));
        let g = c
            .put(
                &format!(
                    "{}/providers/Microsoft.Resources/tags/default?api-version={RG_API}",
                    rg_path("rg-tags")
                ),
                json!({"properties": {"tags": {"owner": "it"}}}),
            )
            .await;
        assert_eq!(g.status, StatusCode::OK);
        assert_eq!(
            c.get(&rg_path("rg-tags")).await.body["tags"],
            json!({"owner": "it"})
        );
        let r = c
            .patch(
                &t,
                json!({"operation": "Shuffle", "properties": {"tags": {}}}),
            )
            .await;
        assert_eq!(r.body["error"]["code"], "InvalidTagOperation");
    }
}

mod policy {
    use super::*;

    #[tokio::test]
    async fn an_allowed_locations_assignment_denies_writes_in_its_scope() {
        let c = Cloud::default().await;
        c.rg("rg-pol", "uksouth").await;
        c.rg("rg-free", "uksouth").await;
        let (id, body) = allowed_locations(&rg_path("rg-pol"), &["uksouth", "ukwest"]);
        let r = c.put(&id, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(
            c.put(&storage_path("rg-pol", "stok"), storage_body("ukwest"))
                .await
                .status,
            StatusCode::CREATED
        );
        let r = c
            .put(&storage_path("rg-pol", "stus"), storage_body("eastus"))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.header("x-ms-error-code"), "RequestDisallowedByPolicy");
        let e = &r.body["error"];
        assert_eq!(e["code"], "RequestDisallowedByPolicy");
        assert_eq!(e["target"], "stus");
        assert!(e["message"]
            .as_str()
            .unwrap()
            .starts_with("Resource 'stus' was disallowed by policy. Policy identifiers: "));
        let info = &e["additionalInfo"][0];
        assert_eq!(info["type"], "PolicyViolation");
        assert_eq!(info["info"]["policyAssignmentId"], format!("/subscriptions/{SUB}/resourceGroups/rg-pol/providers/Microsoft.Authorization/policyAssignments/allowed-locations"));
        assert_eq!(
            info["info"]["policyDefinitionDisplayName"],
            "Allowed locations"
        );
        // Outside the assignment's scope the write is allowed.
        assert_eq!(
            c.put(&storage_path("rg-free", "stus"), storage_body("eastus"))
                .await
                .status,
            StatusCode::CREATED
        );
    }

    #[tokio::test]
    async fn each_assignment_of_a_built_in_acts_with_its_own_parameters_as_they_stand() {
        // The prepared policies of built-in assignments are shared between requests: two assignments of
        // the same definition with other parameters, and an assignment whose parameters change, must each act
        // with their own values.
        let c = Cloud::default().await;
        c.rg("rg-south", "uksouth").await;
        c.rg("rg-west", "uksouth").await;
        let (south, body) = allowed_locations(&rg_path("rg-south"), &["uksouth"]);
        assert_eq!(c.put(&south, body).await.status, StatusCode::CREATED);
        let (west, body) = allowed_locations(&rg_path("rg-west"), &["ukwest"]);
        assert_eq!(c.put(&west, body).await.status, StatusCode::CREATED);
        let status = |r: Resp| r.status;
        assert_eq!(
            status(
                c.put(&storage_path("rg-south", "sts1"), storage_body("ukwest"))
                    .await
            ),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(
                c.put(&storage_path("rg-west", "stw1"), storage_body("ukwest"))
                    .await
            ),
            StatusCode::CREATED
        );
        assert_eq!(
            status(
                c.put(&storage_path("rg-west", "stw2"), storage_body("uksouth"))
                    .await
            ),
            StatusCode::FORBIDDEN
        );
        // The first assignment now allows ukwest too.
        let (south, body) = allowed_locations(&rg_path("rg-south"), &["uksouth", "ukwest"]);
        assert_eq!(c.put(&south, body).await.status, StatusCode::OK);
        assert_eq!(
            status(
                c.put(&storage_path("rg-south", "sts1"), storage_body("ukwest"))
                    .await
            ),
            StatusCode::CREATED
        );
    }
}

mod realism {
    use super::*;

    #[tokio::test]
    async fn reads_beyond_the_bucket_are_throttled_with_retry_after() {
        let c = Cloud::default().await;
        c.rg("rg-thr", "uksouth").await;
        let mut throttled = None;
        for i in 0..600 {
            let r = c.get(&rg_path("rg-thr")).await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                throttled = Some((i, r));
                break;
            }
            assert_eq!(r.status, StatusCode::OK);
        }
        let (i, r) = throttled.expect("never throttled");
        assert!(i >= 249, "throttled after {i} reads");
        assert_eq!(r.body["error"]["code"], "SubscriptionRequestsThrottled");
        assert_eq!(r.header("retry-after"), "1");
        assert_eq!(r.header("x-ms-ratelimit-remaining-subscription-reads"), "0");
        // Writes have their own bucket.
        let w = c
            .put(&rg_path("rg-thr2"), json!({"location": "uksouth"}))
            .await;
        assert_eq!(w.status, StatusCode::CREATED);
        // One write drawn from a bucket of 200 (refilled to full while the reads ran).
        let left: u32 = w
            .header("x-ms-ratelimit-remaining-subscription-writes")
            .parse()
            .unwrap();
        assert!((197..=199).contains(&left), "{left}");
    }

    #[tokio::test]
    async fn throttling_can_be_turned_off() {
        let c = Cloud::start(Config {
            throttle: false,
            ..Config::default()
        })
        .await;
        for _ in 0..300 {
            assert_eq!(
                c.get(&format!("/subscriptions/{SUB}")).await.status,
                StatusCode::OK
            );
        }
    }

    async fn fault_sequence(seed: u64) -> Vec<String> {
        let server = Server::start(Config {
            fault_rate: 0.4,
            seed,
            ..Config::default()
        })
        .await
        .unwrap();
        let http = client();
        let mut out = Vec::new();
        for _ in 0..30 {
            let r = http
                .get(format!(
                    "{}/subscriptions?api-version={RG_API}",
                    server.url()
                ))
                .send()
                .await;
            out.push(match r {
                Err(_) => "dropped".to_string(),
                Ok(r) => {
                    let status = r.status().as_u16();
                    match r.bytes().await {
                        Ok(_) => status.to_string(),
                        Err(_) => "dropped".to_string(),
                    }
                }
            });
        }
        out
    }

    /// Regression: an injected dropped connection once answered a HEAD with 200, so trustprint took a missing
    /// resource group for an existing one (`deploy::injected_server_errors_still_converge`, under load).
    #[tokio::test]
    async fn an_injected_fault_never_looks_like_success_even_to_a_head() {
        let server = Server::start(Config {
            fault_rate: 1.0,
            seed: 3,
            ..Config::default()
        })
        .await
        .unwrap();
        let http = client();
        for _ in 0..30 {
            let r = http
                .head(format!(
                    "{}/subscriptions/{SUB}/resourcegroups/rg-missing?api-version={RG_API}",
                    server.url()
                ))
                .send()
                .await;
            if let Ok(r) = r {
                assert!(!r.status().is_success(), "{}", r.status());
            }
        }
    }

    #[tokio::test]
    async fn faults_are_injected_at_the_rate_and_reproducible_with_a_seed() {
        let a = fault_sequence(42).await;
        let b = fault_sequence(42).await;
        assert_eq!(a, b);
        for kind in ["500", "503", "dropped", "401"] {
            assert!(a.iter().any(|s| s == kind), "{kind} missing from {a:?}");
        }
        assert_ne!(a, fault_sequence(43).await);
    }

    #[tokio::test]
    async fn latency_is_added_to_each_request() {
        let c = Cloud::start(Config {
            latency: Duration::from_millis(60),
            ..Config::default()
        })
        .await;
        let t = std::time::Instant::now();
        c.get(&format!("/subscriptions/{SUB}")).await;
        assert!(t.elapsed() >= Duration::from_millis(60));
    }
}

mod state {
    use super::*;

    #[tokio::test]
    async fn state_survives_a_restart_on_the_same_folder() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            state_dir: Some(dir.path().to_path_buf()),
            ..Config::default()
        };
        let c = Cloud::start(config.clone()).await;
        c.rg("rg-keep", "ukwest").await;
        c.put(&storage_path("rg-keep", "stkeep"), storage_body("ukwest"))
            .await;
        let token = c.token.clone();
        c.server.shutdown().await;
        let server = Server::start(config).await.unwrap();
        let c = Cloud {
            server,
            http: client(),
            token,
        };
        let r = c.get(&storage_path("rg-keep", "stkeep")).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "tokens and resources survive: {}",
            r.body
        );
        assert_eq!(c.get(&rg_path("rg-keep")).await.body["location"], "ukwest");
        let summary = trustprint::cloud::status(dir.path()).unwrap();
        assert_eq!((summary.resource_groups, summary.resources), (1, 1));
    }

    #[tokio::test]
    async fn concurrent_clients_see_consistent_state() {
        let dir = tempfile::tempdir().unwrap();
        let c = std::sync::Arc::new(
            Cloud::start(Config {
                state_dir: Some(dir.path().to_path_buf()),
                throttle: false,
                ..Config::default()
            })
            .await,
        );
        c.rg("rg-conc", "uksouth").await;
        let mut set = tokio::task::JoinSet::new();
        for i in 0..40 {
            let c = std::sync::Arc::clone(&c);
            set.spawn(async move {
                let r = c
                    .put(
                        &storage_path("rg-conc", &format!("st{i}")),
                        storage_body("uksouth"),
                    )
                    .await;
                r.status
            });
        }
        while let Some(s) = set.join_next().await {
            assert_eq!(s.unwrap(), StatusCode::CREATED);
        }
        let l = c
            .get(&format!(
                "/subscriptions/{SUB}/resourceGroups/rg-conc/resources"
            ))
            .await;
        assert_eq!(l.body["value"].as_array().unwrap().len(), 40);
    }
}

const RG_SCHEMA: &str =
    "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";
const SUB_SCHEMA: &str =
    "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#";

fn dep_path(rg: Option<&str>, name: &str) -> String {
    match rg {
        Some(rg) => format!("/subscriptions/{SUB}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}"),
        None => format!("/subscriptions/{SUB}/providers/Microsoft.Resources/deployments/{name}"),
    }
}

/// A resource-group template: storage accounts named by a parameter array, with an output.
fn storage_template(names: &[&str], tls: &str) -> Value {
    json!({
        "$schema": RG_SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": {
            "names": {"type": "array", "defaultValue": names},
            "tls": {"type": "string", "defaultValue": tls, "allowedValues": ["TLS1_0", "TLS1_2"]}
        },
        "resources": [{
            "type": "Microsoft.Storage/storageAccounts", "apiVersion": ST_API,
            "name": "[parameters('names')[copyIndex()]]",
            "copy": {"name": "st", "count": "[length(parameters('names'))]"},
            "location": "[resourceGroup().location]",
            "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
            "properties": {"minimumTlsVersion": "[parameters('tls')]"}
        }],
        "outputs": {
            "first": {"type": "string", "value": "[resourceId('Microsoft.Storage/storageAccounts', parameters('names')[0])]"},
            "tls": {"type": "string", "value": "[reference(parameters('names')[0]).minimumTlsVersion]"}
        }
    })
}

impl Cloud {
    /// PUT a deployment and follow its Azure-AsyncOperation to the end; returns the final GET.
    async fn deploy(&self, rg: Option<&str>, name: &str, body: Value) -> Resp {
        let r = self.put(&dep_path(rg, name), body).await;
        assert!(
            r.status == StatusCode::CREATED || r.status == StatusCode::OK,
            "{}: {}",
            r.status,
            r.body
        );
        assert_eq!(r.body["properties"]["provisioningState"], "Accepted");
        self.wait_deployment(&r).await
    }

    async fn wait_deployment(&self, first: &Resp) -> Resp {
        let status_url = first.header("azure-asyncoperation").to_string();
        assert!(status_url.contains("/operationStatuses/"), "{status_url}");
        for _ in 0..400 {
            let s = self.get(&status_url).await;
            assert_eq!(s.status, StatusCode::OK);
            let status = s.body["status"].as_str().unwrap().to_string();
            if status != "Running" {
                let id = first.body["id"].as_str().unwrap();
                return self.get(id).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("deployment never finished");
    }
}

mod deployments {
    use super::*;

    /// Bicep's `existing.list().properties` on a web app's settings: `list()` answers with the settings the
    /// app has, from its `config/appsettings` when one was written, else from its `siteConfig`.
    #[tokio::test]
    async fn list_reads_a_web_apps_settings_back() {
        let c = Cloud::default().await;
        c.rg("rg-web", "uksouth").await;
        let site = "[resourceId('Microsoft.Web/sites', 'app-settings-1')]";
        let tpl = json!({
            "$schema": RG_SCHEMA, "contentVersion": "1.0.0.0",
            "resources": [
                {"type": "Microsoft.Web/serverfarms", "apiVersion": "2022-03-01", "name": "plan-1",
                 "location": "uksouth", "sku": {"name": "B1"}},
                {"type": "Microsoft.Web/sites", "apiVersion": "2022-03-01", "name": "app-settings-1",
                 "location": "uksouth", "dependsOn": ["plan-1"],
                 "properties": {"serverFarmId": "[resourceId('Microsoft.Web/serverfarms', 'plan-1')]",
                                "siteConfig": {"appSettings": [{"name": "FROM_SITE", "value": "1"}]}}},
                {"type": "Microsoft.Web/sites", "apiVersion": "2022-03-01", "name": "app-settings-2",
                 "location": "uksouth", "dependsOn": ["plan-1"],
                 "properties": {"serverFarmId": "[resourceId('Microsoft.Web/serverfarms', 'plan-1')]"}},
                {"type": "Microsoft.Web/sites/config", "apiVersion": "2022-03-01", "name": "app-settings-2/appsettings",
                 "dependsOn": ["app-settings-2"], "properties": {"FROM_CONFIG": "2"}}
            ],
            "outputs": {
                "site": {"type": "object", "value": format!("[list(concat({}, '/config/appsettings'), '2022-03-01').properties]", &site[1..site.len() - 1])},
                "config": {"type": "object", "value": "[list(resourceId('Microsoft.Web/sites/config', 'app-settings-2', 'appsettings'), '2022-03-01').properties]"}
            }
        });
        let d = c
            .deploy(
                Some("rg-web"),
                "settings",
                json!({"properties": {"mode": "Incremental", "template": tpl}}),
            )
            .await;
        let p = &d.body["properties"];
        assert_eq!(p["provisioningState"], "Succeeded", "{}", d.body);
        assert_eq!(p["outputs"]["site"]["value"], json!({"FROM_SITE": "1"}));
        assert_eq!(p["outputs"]["config"]["value"], json!({"FROM_CONFIG": "2"}));
    }

    #[tokio::test]
    async fn a_resource_group_deployment_runs_to_success_with_outputs_and_operations() {
        let c = Cloud::default().await;
        c.rg("rg-dep", "uksouth").await;
        let body = json!({"properties": {"mode": "Incremental", "template": storage_template(&["stdepa", "stdepb"], "TLS1_2"),
                          "parameters": {"tls": {"value": "TLS1_2"}}}});
        let d = c.deploy(Some("rg-dep"), "storage", body.clone()).await;
        let p = &d.body["properties"];
        assert_eq!(p["provisioningState"], "Succeeded", "{}", d.body);
        assert_eq!(d.body["id"], format!("/subscriptions/{SUB}/resourceGroups/rg-dep/providers/Microsoft.Resources/deployments/storage"));
        assert_eq!(p["mode"], "Incremental");
        assert_eq!(
            p["parameters"]["tls"],
            json!({"type": "String", "value": "TLS1_2"})
        );
        assert_eq!(p["outputs"]["first"]["value"], format!("/subscriptions/{SUB}/resourceGroups/rg-dep/providers/Microsoft.Storage/storageAccounts/stdepa"));
        assert_eq!(
            p["outputs"]["tls"],
            json!({"type": "String", "value": "TLS1_2"})
        );
        assert_eq!(p["outputResources"].as_array().unwrap().len(), 2);
        assert!(p["templateHash"].as_str().unwrap().parse::<u64>().is_ok());
        assert_eq!(
            c.get(&storage_path("rg-dep", "stdepb")).await.body["properties"]["minimumTlsVersion"],
            "TLS1_2"
        );
        let ops = c
            .get(&format!(
                "{}/operations",
                dep_path(Some("rg-dep"), "storage")
            ))
            .await;
        let ops = ops.body["value"].as_array().unwrap().clone();
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[0]["properties"]["provisioningOperation"], "Create");
        assert_eq!(ops[0]["properties"]["statusCode"], "Created");
        assert_eq!(
            ops[0]["properties"]["targetResource"]["resourceType"],
            "Microsoft.Storage/storageAccounts"
        );
        assert_eq!(
            ops[2]["properties"]["provisioningOperation"],
            "EvaluateDeploymentOutput"
        );
        let one = c.get(ops[0]["id"].as_str().unwrap()).await;
        assert_eq!(one.body, ops[0]);
        let list = c.get(&format!("/subscriptions/{SUB}/resourcegroups/rg-dep/providers/Microsoft.Resources/deployments")).await;
        assert_eq!(list.body["value"][0]["name"], "storage");
        let export = c
            .post(
                &format!("{}/exportTemplate", dep_path(Some("rg-dep"), "storage")),
                json!({}),
            )
            .await;
        assert_eq!(export.body["template"], body["properties"]["template"]);
        // Redeploying the same name answers 200.
        let again = c.put(&dep_path(Some("rg-dep"), "storage"), body).await;
        assert_eq!(again.status, StatusCode::OK);
        c.wait_deployment(&again).await;
    }

    #[tokio::test]
    async fn a_reference_to_a_resource_that_does_not_exist_fails_with_arms_words() {
        let c = Cloud::default().await;
        c.rg("rg-ref", "uksouth").await;
        let template = json!({
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0",
            "resources": [],
            "outputs": {"tls": {"type": "string", "value":
                "[reference(resourceId('rg-other', 'Microsoft.Storage/storageAccounts', 'stmissing'), '2023-01-01').minimumTlsVersion]"}}
        });
        let d = c
            .deploy(
                Some("rg-ref"),
                "missing",
                json!({"properties": {"mode": "Incremental", "template": template}}),
            )
            .await;
        assert_eq!(d.body["properties"]["provisioningState"], "Failed");
        let text = d.body["properties"]["error"].to_string();
        assert!(text.contains("ResourceNotFound"), "{text}");
        assert!(
            text.contains("The Resource 'Microsoft.Storage/storageAccounts/stmissing' under resource group 'rg-other' was not found."),
            "{text}"
        );
    }

    #[tokio::test]
    async fn the_lifecycle_is_accepted_running_then_succeeded_and_a_second_put_conflicts() {
        let c = Cloud::start(Config {
            lro: Duration::from_millis(250),
            ..Config::default()
        })
        .await;
        c.rg("rg-life", "uksouth").await;
        let body = json!({"properties": {"mode": "Incremental", "template": storage_template(&["stlife"], "TLS1_2")}});
        let r = c
            .put(&dep_path(Some("rg-life"), "life"), body.clone())
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.body["properties"]["provisioningState"], "Accepted");
        assert_eq!(r.header("retry-after"), "1");
        let busy = c.put(&dep_path(Some("rg-life"), "life"), body).await;
        assert_eq!(busy.status, StatusCode::CONFLICT);
        assert_eq!(busy.body["error"]["code"], "DeploymentActive");
        let mut seen = Vec::new();
        for _ in 0..200 {
            let s = c.get(&dep_path(Some("rg-life"), "life")).await;
            let state = s.body["properties"]["provisioningState"]
                .as_str()
                .unwrap()
                .to_string();
            if seen.last() != Some(&state) {
                seen.push(state.clone());
            }
            if state == "Succeeded" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(seen, ["Accepted", "Running", "Succeeded"]);
        let status = c.get(r.header("azure-asyncoperation")).await;
        assert_eq!(status.body["status"], "Succeeded");
        assert!(status.body["endTime"].is_string());
    }

    #[tokio::test]
    async fn cancel_stops_a_running_deployment() {
        let c = Cloud::start(Config {
            lro: Duration::from_millis(300),
            ..Config::default()
        })
        .await;
        c.rg("rg-cancel", "uksouth").await;
        let tpl = json!({"$schema": RG_SCHEMA, "contentVersion": "1.0.0.0", "resources": [
            {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-09-01", "name": "v1", "location": "uksouth", "properties": {}},
            {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-09-01", "name": "v2", "location": "uksouth", "properties": {}, "dependsOn": ["v1"]},
            {"type": "Microsoft.Network/virtualNetworks", "apiVersion": "2023-09-01", "name": "v3", "location": "uksouth", "properties": {}, "dependsOn": ["v2"]}
        ]});
        let r = c
            .put(
                &dep_path(Some("rg-cancel"), "slow"),
                json!({"properties": {"mode": "Incremental", "template": tpl}}),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(350)).await;
        let x = c
            .post(
                &format!("{}/cancel", dep_path(Some("rg-cancel"), "slow")),
                json!({}),
            )
            .await;
        assert_eq!(x.status, StatusCode::NO_CONTENT);
        let d = c.wait_deployment(&r).await;
        assert_eq!(d.body["properties"]["provisioningState"], "Canceled");
        let vnet3 = format!("/subscriptions/{SUB}/resourceGroups/rg-cancel/providers/Microsoft.Network/virtualNetworks/v3");
        assert_eq!(c.get(&vnet3).await.status, StatusCode::NOT_FOUND);
        let again = c
            .post(
                &format!("{}/cancel", dep_path(Some("rg-cancel"), "slow")),
                json!({}),
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(again.body["error"]["code"], "DeploymentCannotBeCancelled");
        // Deleting the record is a long-running operation ending in 204.
        let del = c.delete(&dep_path(Some("rg-cancel"), "slow")).await;
        assert_eq!(del.status, StatusCode::ACCEPTED);
        assert_eq!(c.poll_location(&del).await.status, StatusCode::NO_CONTENT);
        let gone = c.get(&dep_path(Some("rg-cancel"), "slow")).await;
        assert_eq!(
            gone.body,
            json!({"error": {"code": "DeploymentNotFound", "message": "Deployment 'slow' could not be found."}})
        );
    }

    #[tokio::test]
    async fn a_subscription_deployment_creates_groups_and_nested_deployments_across_them() {
        let c = Cloud::default().await;
        let tpl = json!({
            "$schema": SUB_SCHEMA, "contentVersion": "1.0.0.0",
            "parameters": {"prefix": {"type": "string"}},
            "variables": {"rgA": "[concat('rg-', parameters('prefix'), '-a')]", "rgB": "[concat('rg-', parameters('prefix'), '-b')]"},
            "resources": [
                {"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2021-04-01", "name": "[variables('rgA')]", "location": "uksouth", "tags": {"tier": "a"}},
                {"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2021-04-01", "name": "[variables('rgB')]", "location": "ukwest"},
                {"type": "Microsoft.Resources/deployments", "apiVersion": "2021-04-01", "name": "outer-scope",
                 "resourceGroup": "[variables('rgA')]",
                 "dependsOn": ["[resourceId('Microsoft.Resources/resourceGroups', variables('rgA'))]"],
                 "properties": {"mode": "Incremental", "template": {
                     "$schema": RG_SCHEMA, "contentVersion": "1.0.0.0",
                     "resources": [{"type": "Microsoft.Storage/storageAccounts", "apiVersion": ST_API,
                                    "name": "[concat('st', parameters('prefix'), 'a')]", "location": "uksouth",
                                    "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "properties": {}}]}}},
                {"type": "Microsoft.Resources/deployments", "apiVersion": "2021-04-01", "name": "inner-scope",
                 "resourceGroup": "[variables('rgB')]",
                 "dependsOn": ["[resourceId('Microsoft.Resources/resourceGroups', variables('rgB'))]"],
                 "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                     "parameters": {"name": {"value": "[concat('kv-', parameters('prefix'))]"}},
                     "template": {
                         "$schema": RG_SCHEMA, "contentVersion": "1.0.0.0",
                         "parameters": {"name": {"type": "string"}},
                         "resources": [{"type": "Microsoft.KeyVault/vaults", "apiVersion": "2023-07-01",
                                        "name": "[parameters('name')]", "location": "[resourceGroup().location]",
                                        "properties": {"tenantId": "[subscription().tenantId]", "sku": {"family": "A", "name": "standard"}}}],
                         "outputs": {"vaultId": {"type": "string", "value": "[resourceId('Microsoft.KeyVault/vaults', parameters('name'))]"},
                                     "where": {"type": "string", "value": "[resourceGroup().location]"}}}}}
            ],
            "outputs": {
                "vault": {"type": "string", "value": "[reference('inner-scope').outputs.vaultId.value]"},
                "vaultLocation": {"type": "string", "value": "[reference('inner-scope').outputs.where.value]"},
                // Bicep's module output across scopes: the group as a subscription resource, extended.
                "bicepForm": {"type": "string", "value": "[reference(extensionResourceId(subscriptionResourceId('Microsoft.Resources/resourceGroups', variables('rgB')), 'Microsoft.Resources/deployments', 'inner-scope'), '2022-09-01').outputs.vaultId.value]"}
            }
        });
        let d = c
            .deploy(
                None,
                "landing",
                json!({"location": "uksouth", "properties": {"mode": "Incremental", "template": tpl,
                                                  "parameters": {"prefix": {"value": "rm3"}}}}),
            )
            .await;
        let p = &d.body["properties"];
        assert_eq!(p["provisioningState"], "Succeeded", "{}", d.body);
        assert_eq!(d.body["location"], "uksouth");
        assert_eq!(p["outputs"]["vault"]["value"], format!("/subscriptions/{SUB}/resourceGroups/rg-rm3-b/providers/Microsoft.KeyVault/vaults/kv-rm3"));
        assert_eq!(p["outputs"]["vaultLocation"]["value"], "ukwest");
        assert_eq!(
            p["outputs"]["bicepForm"]["value"],
            p["outputs"]["vault"]["value"]
        );
        assert_eq!(
            c.get(&rg_path("rg-rm3-a")).await.body["tags"],
            json!({"tier": "a"})
        );
        assert_eq!(
            c.get(&storage_path("rg-rm3-a", "strm3a")).await.status,
            StatusCode::OK
        );
        let kv = c.get(&format!("/subscriptions/{SUB}/resourceGroups/rg-rm3-b/providers/Microsoft.KeyVault/vaults/kv-rm3")).await;
        assert_eq!(
            kv.body["properties"]["tenantId"],
            trustprint::cloud::DEFAULT_TENANT
        );
        // The nested deployments are real deployment records in their groups.
        let nested = c.get(&dep_path(Some("rg-rm3-b"), "inner-scope")).await;
        assert_eq!(nested.body["properties"]["provisioningState"], "Succeeded");
        // A subscription deployment name cannot move to another location.
        let moved = c.put(&dep_path(None, "landing"), json!({"location": "ukwest", "properties": {"mode": "Incremental", "template": {"$schema": SUB_SCHEMA, "contentVersion": "1.0.0.0", "resources": []}}})).await;
        assert_eq!(moved.status, StatusCode::BAD_REQUEST);
        assert_eq!(moved.body["error"]["message"], "Invalid deployment location 'ukwest'. The deployment 'landing' already exists in location 'uksouth'.");
        let noloc = c
            .put(
                &dep_path(None, "x"),
                json!({"properties": {"mode": "Incremental", "template": {}}}),
            )
            .await;
        assert_eq!(noloc.body["error"]["code"], "LocationRequired");
    }

    #[tokio::test]
    async fn complete_mode_deletes_what_the_template_dropped() {
        let c = Cloud::default().await;
        c.rg("rg-complete", "uksouth").await;
        let d = c.deploy(Some("rg-complete"), "v1", json!({"properties": {"mode": "Incremental", "template": storage_template(&["stkeep1", "stdrop1"], "TLS1_2")}})).await;
        assert_eq!(d.body["properties"]["provisioningState"], "Succeeded");
        let d = c.deploy(Some("rg-complete"), "v2", json!({"properties": {"mode": "Complete", "template": storage_template(&["stkeep1"], "TLS1_2")}})).await;
        assert_eq!(
            d.body["properties"]["provisioningState"], "Succeeded",
            "{}",
            d.body
        );
        assert_eq!(d.body["properties"]["mode"], "Complete");
        assert_eq!(
            c.get(&storage_path("rg-complete", "stkeep1")).await.status,
            StatusCode::OK
        );
        assert_eq!(
            c.get(&storage_path("rg-complete", "stdrop1")).await.status,
            StatusCode::NOT_FOUND
        );
        let ops = c
            .get(&format!(
                "{}/operations",
                dep_path(Some("rg-complete"), "v2")
            ))
            .await;
        let deletes: Vec<&Value> = ops.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["properties"]["provisioningOperation"] == "Delete")
            .collect();
        assert_eq!(deletes.len(), 1);
        assert_eq!(
            deletes[0]["properties"]["targetResource"]["resourceName"],
            "stdrop1"
        );
    }

    #[tokio::test]
    async fn template_errors_are_refused_synchronously_as_invalid_template() {
        let c = Cloud::default().await;
        c.rg("rg-bad", "uksouth").await;
        let missing = c.put(&dep_path(Some("rg-bad"), "bad"), json!({"properties": {"mode": "Incremental",
            "template": {"$schema": RG_SCHEMA, "contentVersion": "1.0.0.0", "parameters": {"p": {"type": "string"}}, "resources": []}}})).await;
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);
        assert_eq!(missing.body["error"]["code"], "InvalidTemplate");
        assert!(missing.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Deployment template validation failed: '"));
        assert!(
            missing.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("'p'"),
            "{}",
            missing.body
        );
        assert_eq!(
            missing.body["error"]["additionalInfo"][0]["type"],
            "TemplateViolation"
        );
        let unknown = c.put(&dep_path(Some("rg-bad"), "bad"), json!({"properties": {"mode": "Incremental",
            "template": {"$schema": RG_SCHEMA, "contentVersion": "1.0.0.0", "resources": [], "outputs": {"x": {"type": "string", "value": "[frobnicate('a')]"}}}}})).await;
        assert_eq!(unknown.body["error"]["code"], "InvalidTemplate");
        assert!(
            unknown.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("frobnicate"),
            "{}",
            unknown.body
        );
        let bad_type = c.put(&dep_path(Some("rg-bad"), "bad"), json!({"properties": {"mode": "Incremental",
            "template": {"$schema": RG_SCHEMA, "contentVersion": "1.0.0.0", "resources": [
                {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "1999-01-01", "name": "stx", "location": "uksouth"}]}}})).await;
        assert_eq!(bad_type.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad_type.body["error"]["code"], "InvalidTemplateDeployment");
        assert_eq!(
            bad_type.body["error"]["details"][0]["code"],
            "NoRegisteredProviderFound"
        );
        let link = c.put(&dep_path(Some("rg-bad"), "bad"), json!({"properties": {"mode": "Incremental", "templateLink": {"uri": "https://example.org/t.json"}}})).await;
        assert_eq!(link.body["error"]["code"], "InvalidContentLink");
        assert_eq!(
            c.get(&dep_path(Some("rg-bad"), "bad")).await.status,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn validate_reports_the_resources_it_checked() {
        let c = Cloud::default().await;
        c.rg("rg-val", "uksouth").await;
        let r = c.post(&format!("{}/validate", dep_path(Some("rg-val"), "v")), json!({"properties": {"mode": "Incremental", "template": storage_template(&["stval"], "TLS1_2")}})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
        assert_eq!(
            r.body["properties"]["validatedResources"],
            json!([{"id": format!("/subscriptions/{SUB}/resourceGroups/rg-val/providers/Microsoft.Storage/storageAccounts/stval")}])
        );
        assert_eq!(
            c.get(&storage_path("rg-val", "stval")).await.status,
            StatusCode::NOT_FOUND,
            "validate deploys nothing"
        );
        let bad = c.post(&format!("{}/validate", dep_path(Some("rg-val"), "v")), json!({"properties": {"mode": "Incremental", "template": storage_template(&["stval"], "SSL3")}})).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad.body["error"]["code"], "InvalidTemplate");
    }

    #[tokio::test]
    async fn policy_denials_appear_in_preflight_and_in_a_deployments_error_tree() {
        let c = Cloud::default().await;
        let (id, body) =
            allowed_locations(&format!("/subscriptions/{SUB}"), &["uksouth", "ukwest"]);
        c.put(&id, body).await;
        c.rg("rg-deny", "uksouth").await;
        let tpl = |loc: &str| {
            json!({"$schema": RG_SCHEMA, "contentVersion": "1.0.0.0", "resources": [
            {"type": "Microsoft.Storage/storageAccounts", "apiVersion": ST_API, "name": "stdenied", "location": loc, "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}]})
        };
        let pre = c
            .put(
                &dep_path(Some("rg-deny"), "direct"),
                json!({"properties": {"mode": "Incremental", "template": tpl("eastus")}}),
            )
            .await;
        assert_eq!(pre.status, StatusCode::BAD_REQUEST);
        assert_eq!(pre.body["error"]["code"], "InvalidTemplateDeployment");
        assert_eq!(
            pre.body["error"]["details"][0]["code"],
            "RequestDisallowedByPolicy"
        );
        // Inside a nested deployment the location is only known at run time: the deployment fails.
        let outer = json!({"$schema": RG_SCHEMA, "contentVersion": "1.0.0.0",
            "parameters": {"where": {"type": "string", "defaultValue": "eastus"}},
            "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2021-04-01", "name": "inner",
                "properties": {"mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
                    "parameters": {"loc": {"value": "[parameters('where')]"}},
                    "template": {"$schema": RG_SCHEMA, "contentVersion": "1.0.0.0", "parameters": {"loc": {"type": "string"}},
                        "resources": [{"type": "Microsoft.Storage/storageAccounts", "apiVersion": ST_API, "name": "stdenied",
                            "location": "[parameters('loc')]", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}]}}}]});
        let d = c
            .deploy(
                Some("rg-deny"),
                "nested",
                json!({"properties": {"mode": "Incremental", "template": outer}}),
            )
            .await;
        let e = &d.body["properties"]["error"];
        assert_eq!(d.body["properties"]["provisioningState"], "Failed");
        assert_eq!(e["code"], "DeploymentFailed");
        assert_eq!(e["target"], format!("/subscriptions/{SUB}/resourceGroups/rg-deny/providers/Microsoft.Resources/deployments/nested"));
        let nested = &e["details"][0];
        assert_eq!(nested["code"], "DeploymentFailed");
        let failure = &nested["details"][0];
        assert_eq!(failure["code"], "ResourceDeploymentFailure");
        assert_eq!(failure["target"], format!("/subscriptions/{SUB}/resourceGroups/rg-deny/providers/Microsoft.Storage/storageAccounts/stdenied"));
        assert_eq!(failure["details"][0]["code"], "RequestDisallowedByPolicy");
        assert_eq!(
            failure["details"][0]["additionalInfo"][0]["type"],
            "PolicyViolation"
        );
        let status = c
            .get(&format!(
                "{}/operations",
                dep_path(Some("rg-deny"), "inner")
            ))
            .await;
        assert_eq!(
            status.body["value"][0]["properties"]["statusCode"],
            "Forbidden"
        );
    }

    #[tokio::test]
    async fn a_deployment_interrupted_by_a_stop_is_failed_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            state_dir: Some(dir.path().to_path_buf()),
            lro: Duration::from_millis(400),
            ..Config::default()
        };
        let c = Cloud::start(config.clone()).await;
        c.rg("rg-int", "uksouth").await;
        let r = c.put(&dep_path(Some("rg-int"), "cut"), json!({"properties": {"mode": "Incremental", "template": storage_template(&["stcut"], "TLS1_2")}})).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let token = c.token.clone();
        c.server.shutdown().await;
        let c = Cloud {
            server: Server::start(Config {
                lro: Duration::ZERO,
                ..config
            })
            .await
            .unwrap(),
            http: client(),
            token,
        };
        let d = c.get(&dep_path(Some("rg-int"), "cut")).await;
        assert_eq!(d.body["properties"]["provisioningState"], "Failed");
        assert_eq!(
            d.body["properties"]["error"]["code"],
            "DeploymentInterrupted"
        );
        // Deploying again finishes the job.
        let d = c.deploy(Some("rg-int"), "cut", json!({"properties": {"mode": "Incremental", "template": storage_template(&["stcut"], "TLS1_2")}})).await;
        assert_eq!(d.body["properties"]["provisioningState"], "Succeeded");
    }

    /// Local clouds of several processes share one state folder (stamps started at once each run an embedded
    /// one): a server that starts while another is deploying leaves that deployment running, and it succeeds.
    /// Recovery is for a folder no live server holds (the test above).
    #[tokio::test]
    async fn a_second_server_on_the_same_state_leaves_the_firsts_deployment_running() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            state_dir: Some(dir.path().to_path_buf()),
            lro: Duration::from_millis(600),
            ..Config::default()
        };
        let c = Cloud::start(config.clone()).await;
        c.rg("rg-two", "uksouth").await;
        let r = c.put(&dep_path(Some("rg-two"), "live"), json!({"properties": {"mode": "Incremental", "template": storage_template(&["stlive"], "TLS1_2")}})).await;
        assert_eq!(r.status, StatusCode::CREATED);
        let second = Server::start(config).await.unwrap();
        let running = c.get(&dep_path(Some("rg-two"), "live")).await;
        assert_ne!(
            running.body["properties"]["provisioningState"], "Failed",
            "the second server failed the first's deployment: {}",
            running.body
        );
        let done = c.wait_deployment(&r).await;
        assert_eq!(
            done.body["properties"]["provisioningState"], "Succeeded",
            "{}",
            done.body
        );
        second.shutdown().await;
    }
}

mod secrets {
    use super::*;

    /// Secure parameters never reach the state database, providers' write-only properties are not stored or
    /// returned, and a redeploy of the same request is NoChange in what-if.
    #[tokio::test]
    async fn secure_parameters_never_reach_the_state_folder() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cloud::start(Config {
            state_dir: Some(dir.path().to_path_buf()),
            lro: Duration::from_millis(50),
            ..Config::default()
        })
        .await;
        c.rg("rg-sec", "uksouth").await;
        let secret = "Pa55-w0rd-that-must-stay-in-memory";
        let template = json!({
            "$schema": RG_SCHEMA, "contentVersion": "1.0.0.0",
            "parameters": {"adminPassword": {"type": "securestring"}},
            "resources": [{
                "type": "Microsoft.Sql/servers", "apiVersion": "2023-08-01", "name": "sql-sec",
                "location": "uksouth",
                "properties": {"administratorLogin": "sqladmin",
                               "administratorLoginPassword": "[parameters('adminPassword')]",
                               "publicNetworkAccess": "Disabled"}
            }]
        });
        let body = json!({"properties": {"mode": "Incremental", "template": template,
                          "parameters": {"adminPassword": {"value": secret}}}});
        let d = c.deploy(Some("rg-sec"), "sql", body.clone()).await;
        assert_eq!(
            d.body["properties"]["provisioningState"], "Succeeded",
            "{}",
            d.body
        );
        assert!(!d.body.to_string().contains(secret), "{}", d.body);

        let server = c
            .get(&format!("/subscriptions/{SUB}/resourceGroups/rg-sec/providers/Microsoft.Sql/servers/sql-sec?api-version=2023-08-01"))
            .await;
        assert_eq!(server.status, StatusCode::OK, "{}", server.body);
        assert_eq!(server.body["properties"]["administratorLogin"], "sqladmin");
        assert!(server.body["properties"]
            .get("administratorLoginPassword")
            .is_none());

        let w = c
            .post(&format!("{}/whatIf", dep_path(Some("rg-sec"), "sql")), body)
            .await;
        let w = c.poll_location(&w).await;
        assert_eq!(
            w.body["properties"]["changes"][0]["changeType"], "NoChange",
            "{}",
            w.body
        );

        c.server.shutdown().await;
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
                assert!(!found, "the secret is in {}", path.display());
            }
        }
    }
}

mod what_if {
    use super::*;

    async fn what_if(c: &Cloud, rg: &str, mode: &str, template: Value) -> Value {
        let r = c
            .post(
                &format!("{}/whatIf", dep_path(Some(rg), "wi")),
                json!({"properties": {"mode": mode, "template": template}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        assert_eq!(
            r.body,
            Value::Null,
            "what-if answers 202 with an empty body"
        );
        let done = c.poll_location(&r).await;
        assert_eq!(done.status, StatusCode::OK);
        assert_eq!(done.body["status"], "Succeeded", "{}", done.body);
        done.body
    }

    fn change_of<'a>(body: &'a Value, name: &str) -> &'a Value {
        body["properties"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["resourceId"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{name}"))
            })
            .unwrap_or_else(|| panic!("no change for {name} in {body}"))
    }

    #[tokio::test]
    async fn what_if_reports_create_modify_with_deltas_delete_and_no_change() {
        let c = Cloud::start(Config {
            lro: Duration::from_millis(100),
            ..Config::default()
        })
        .await;
        c.rg("rg-wi", "uksouth").await;
        let d = c.deploy(Some("rg-wi"), "base", json!({"properties": {"mode": "Incremental", "template": storage_template(&["stsame", "stmod", "stold"], "TLS1_2")}})).await;
        assert_eq!(d.body["properties"]["provisioningState"], "Succeeded");
        // stsame unchanged, stmod gets TLS 1.0 (through a second template), stnew is new, stold is dropped.
        let mut tpl = storage_template(&["stsame", "stnew"], "TLS1_2");
        tpl["resources"].as_array_mut().unwrap().push(json!({
            "type": "Microsoft.Storage/storageAccounts", "apiVersion": ST_API, "name": "stmod", "location": "uksouth",
            "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "properties": {"minimumTlsVersion": "TLS1_0"}}));
        let incremental = what_if(&c, "rg-wi", "Incremental", tpl.clone()).await;
        assert_eq!(change_of(&incremental, "stsame")["changeType"], "NoChange");
        assert_eq!(change_of(&incremental, "stnew")["changeType"], "Create");
        assert_eq!(
            change_of(&incremental, "stnew")["after"]["location"],
            "uksouth"
        );
        let m = change_of(&incremental, "stmod");
        assert_eq!(m["changeType"], "Modify");
        assert_eq!(
            m["delta"],
            json!([{"path": "properties.minimumTlsVersion", "propertyChangeType": "Modify", "before": "TLS1_2", "after": "TLS1_0"}])
        );
        assert_eq!(m["before"]["properties"]["minimumTlsVersion"], "TLS1_2");
        assert_eq!(change_of(&incremental, "stold")["changeType"], "Ignore");
        let complete = what_if(&c, "rg-wi", "Complete", tpl).await;
        assert_eq!(change_of(&complete, "stold")["changeType"], "Delete");
        // What-if changes nothing.
        assert_eq!(
            c.get(&storage_path("rg-wi", "stnew")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            c.get(&storage_path("rg-wi", "stmod")).await.body["properties"]["minimumTlsVersion"],
            "TLS1_2"
        );
    }

    #[tokio::test]
    async fn resource_id_only_results_say_deploy_for_existing_resources() {
        let c = Cloud::default().await;
        c.rg("rg-wi2", "uksouth").await;
        c.deploy(Some("rg-wi2"), "base", json!({"properties": {"mode": "Incremental", "template": storage_template(&["stx1"], "TLS1_2")}})).await;
        let r = c.post(&format!("{}/whatIf", dep_path(Some("rg-wi2"), "wi")), json!({"properties": {"mode": "Incremental",
            "template": storage_template(&["stx1", "stx2"], "TLS1_2"), "whatIfSettings": {"resultFormat": "ResourceIdOnly"}}})).await;
        let done = c.poll_location(&r).await;
        let changes = done.body["properties"]["changes"].as_array().unwrap();
        assert_eq!(
            changes[0],
            json!({"resourceId": format!("/subscriptions/{SUB}/resourceGroups/rg-wi2/providers/Microsoft.Storage/storageAccounts/stx1"), "changeType": "Deploy"})
        );
        assert_eq!(changes[1]["changeType"], "Create");
    }
}

mod tls_and_sdk {
    use super::*;

    /// The exact command `.ci/run` uses to create the virtual environment the SDK test needs.
    const VENV_INSTALL: &str = "python3 -m venv .venv && .venv/bin/pip install azure-identity==1.27.0 azure-mgmt-resource==26.0.0 azure-mgmt-resource-deployments==2.0.0 azure-mgmt-policyinsights==1.0.1 pytest==9.2.0";

    #[tokio::test]
    async fn tls_serves_with_a_local_ca_written_to_the_state_folder() {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(Config {
            tls: true,
            state_dir: Some(dir.path().to_path_buf()),
            ..Config::default()
        })
        .await
        .unwrap();
        assert!(server.url().starts_with("https://127.0.0.1:"));
        let pem = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
        assert_eq!(Some(pem.as_str()), server.ca_pem());
        let trusted = reqwest::Client::builder()
            .no_proxy()
            .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
            .build()
            .unwrap();
        let token = token(&trusted, server.url()).await;
        let r = trusted
            .get(format!(
                "{}/subscriptions?api-version={RG_API}",
                server.url()
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        // A client that does not trust the local CA is refused.
        assert!(client()
            .get(format!("{}/subscriptions", server.url()))
            .send()
            .await
            .is_err());
        // The CA is kept across restarts, so clients trust it once.
        server.shutdown().await;
        let again = Server::start(Config {
            tls: true,
            state_dir: Some(dir.path().to_path_buf()),
            ..Config::default()
        })
        .await
        .unwrap();
        assert_eq!(again.ca_pem(), Some(pem.as_str()));
        let r = trusted
            .post(format!("{}/t/oauth2/v2.0/token", again.url()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "a"),
                ("client_secret", "b"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    /// Whether `python` (in a virtual environment of the repository) can import `modules`.
    fn venv_ready(python: &std::path::Path, modules: &str) -> bool {
        std::process::Command::new(python)
            .args(["-c", &format!("import {modules}")])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Run `pytest FOLDER` with `python` against a local cloud serving TLS (its CA in REQUESTS_CA_BUNDLE),
    /// with `env` added; fails the test with pytest's output unless every test passed.
    async fn pytest_against_a_tls_cloud(
        python: &std::path::Path,
        folder: &str,
        env: &[(&str, &str)],
    ) {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(Config {
            tls: true,
            state_dir: Some(dir.path().to_path_buf()),
            ..Config::default()
        })
        .await
        .unwrap();
        let mut cmd = tokio::process::Command::new(python);
        cmd.args(["-m", "pytest", "-q", "-p", "no:cacheprovider", folder])
            .current_dir(root)
            .env("TRUSTPRINT_CLOUD_URL", server.url())
            .env("TRUSTPRINT_CLOUD_TENANT", server.tenant_id())
            .env("TRUSTPRINT_SUBSCRIPTION", SUB)
            .env("REQUESTS_CA_BUNDLE", dir.path().join("ca.pem"))
            .env("NO_PROXY", "127.0.0.1,localhost")
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
            .await
            .expect("pytest did not finish within 5 minutes")
            .unwrap();
        assert!(
            out.status.success(),
            "pytest failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn microsofts_python_sdk_works_against_the_local_cloud() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join(".venv/bin/python");
        assert!(
            venv_ready(
                &python,
                "azure.identity, azure.mgmt.resource.resources, azure.mgmt.resource.deployments, azure.mgmt.policyinsights, pytest"
            ),
            "the Python SDK test needs a virtual environment at {}: run `{VENV_INSTALL}` in the repository root",
            root.join(".venv").display()
        );
        pytest_against_a_tls_cloud(&python, "tests/python", &[]).await;
    }

    /// The exact command `.ci/run` uses to create the Azure CLI's virtual environment.
    const VENV_AZ_INSTALL: &str =
        "python3 -m venv .venv-az && .venv-az/bin/pip install -r .ci/requirements-az.txt";

    /// The Azure CLI, registered with the local cloud as a custom cloud, logs in as a service principal and
    /// runs `az group create` and `az deployment group create`; `az stack group` and Microsoft's deployment
    /// stacks SDK manage stacks (tests/python-az).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_azure_cli_works_against_the_local_cloud() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = root.join(".venv-az/bin/python");
        assert!(
            venv_ready(&python, "azure.cli.core, pytest") && root.join(".venv-az/bin/az").is_file(),
            "the Azure CLI test needs a virtual environment at {}: run `{VENV_AZ_INSTALL}` in the repository root",
            root.join(".venv-az").display()
        );
        let config = tempfile::tempdir().unwrap();
        let config_dir = config.path().to_str().unwrap();
        pytest_against_a_tls_cloud(
            &python,
            "tests/python-az",
            &[
                // A profile of its own: the user's `az` login and clouds are not touched.
                ("AZURE_CONFIG_DIR", config_dir),
                // MSAL would ask login.microsoftonline.com to validate the local authority.
                ("AZURE_CORE_INSTANCE_DISCOVERY", "false"),
                ("AZURE_CORE_COLLECT_TELEMETRY", "no"),
            ],
        )
        .await;
    }
}

mod key_vault {
    use super::*;

    #[tokio::test]
    async fn key_vault_parameter_references_resolve_from_an_emulated_secret_which_is_never_returned(
    ) {
        let c = Cloud::default().await;
        c.rg("rg-kv", "uksouth").await;
        let vault = format!(
            "/subscriptions/{SUB}/resourceGroups/rg-kv/providers/Microsoft.KeyVault/vaults/kv-rm3"
        );
        c.put(&vault, json!({"location": "uksouth", "properties": {"tenantId": trustprint::cloud::DEFAULT_TENANT, "sku": {"family": "A", "name": "standard"}}})).await;
        let secret = c
            .put(
                &format!("{vault}/secrets/sql-admin"),
                json!({"properties": {"value": "Sup3r-secret!"}}),
            )
            .await;
        assert_eq!(secret.status, StatusCode::CREATED);
        assert!(
            secret.body["properties"].get("value").is_none(),
            "secret values are write-only: {}",
            secret.body
        );
        assert!(
            c.get(&format!("{vault}/secrets/sql-admin")).await.body["properties"]
                .get("value")
                .is_none()
        );
        let tpl = json!({"$schema": RG_SCHEMA, "contentVersion": "1.0.0.0",
            "parameters": {"pw": {"type": "securestring", "minLength": 8}},
            "resources": [],
            "outputs": {"length": {"type": "int", "value": "[length(parameters('pw'))]"}}});
        let params = |name: &str| json!({"pw": {"reference": {"keyVault": {"id": vault}, "secretName": name}}});
        let d = c.deploy(Some("rg-kv"), "kvref", json!({"properties": {"mode": "Incremental", "template": tpl, "parameters": params("sql-admin")}})).await;
        assert_eq!(
            d.body["properties"]["provisioningState"], "Succeeded",
            "{}",
            d.body
        );
        assert_eq!(d.body["properties"]["outputs"]["length"]["value"], 13);
        assert_eq!(
            d.body["properties"]["parameters"]["pw"],
            json!({"type": "SecureString"}),
            "secure parameters are reported without their value"
        );
        assert!(!d.body.to_string().contains("Sup3r"));
        let missing = c.put(&dep_path(Some("rg-kv"), "kvref2"), json!({"properties": {"mode": "Incremental", "template": tpl, "parameters": params("nope")}})).await;
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            missing.body["error"]["code"],
            "KeyVaultParameterReferenceSecretRetrieveFailed"
        );
    }
}

mod exemplar {
    use super::*;
    use trustprint::blueprint::SourceSpec;
    use trustprint::model::{RenderedDeployment, Scope};
    use trustprint::values::ValuesInput;

    fn rendered(example: &str) -> trustprint::model::Rendered {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let input = ValuesInput {
            file: Some(root.join("blueprints/exemplar-epr/examples").join(example)),
            base: None,
            text: None,
            overrides: Vec::new(),
        };
        let loaded = trustprint::load::load(
            &SourceSpec::Dir(root.join("blueprints/exemplar-epr")),
            &input,
        )
        .unwrap();
        trustprint::render::render(&loaded).unwrap()
    }

    /// The PUT body for a rendered deployment; secrets from the environment are given inline, as `apply` does.
    fn body(d: &RenderedDeployment) -> Value {
        let mut params = d.parameters["parameters"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for name in d.secret_env.keys() {
            params.insert(name.clone(), json!({"value": "Local-cloud-test-Passw0rd!"}));
        }
        let mut b = json!({"properties": {"mode": "Incremental", "template": d.template, "parameters": params}});
        if d.scope == Scope::Subscription {
            b["location"] = json!(d.location);
        }
        b
    }

    #[tokio::test]
    async fn the_exemplar_blueprint_deploys_into_the_local_cloud() {
        let c = Cloud::start(Config {
            throttle: false,
            ..Config::default()
        })
        .await;
        let r = rendered("northern-care-alliance-rm3.yaml");
        assert!(r.deployments.len() >= 5);
        for d in &r.deployments {
            let done = c
                .deploy(d.resource_group.as_deref(), &d.name, body(d))
                .await;
            let p = &done.body["properties"];
            assert_eq!(
                p["provisioningState"], "Succeeded",
                "deployment {}: {}",
                d.name, p["error"]
            );
        }
        // The guardrail-relevant bits landed: the Allowed locations assignment and every group.
        let assignments = c.get(&format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/policyAssignments?api-version=2022-06-01")).await;
        let assignments = assignments.body["value"].as_array().unwrap().clone();
        assert!(assignments
            .iter()
            .any(|a| a["properties"]["policyDefinitionId"]
                .as_str()
                .unwrap_or("")
                .ends_with("e56962a6-4747-49cd-b67b-bf8b01975c4c")));
        for d in r
            .deployments
            .iter()
            .filter_map(|d| d.resource_group.as_deref())
        {
            assert_eq!(c.get(&rg_path(d)).await.status, StatusCode::OK, "{d}");
        }
        // And the policy is now enforced: a write outside the UK is refused.
        let rg = r
            .deployments
            .iter()
            .find_map(|d| d.resource_group.clone())
            .unwrap();
        let denied = c
            .put(&storage_path(&rg, "stoutsideuk"), storage_body("eastus"))
            .await;
        assert_eq!(denied.body["error"]["code"], "RequestDisallowedByPolicy");
    }
}

mod azure_policy;
mod deployments_mg;
mod hardening;
mod stacks;
