//! Issue 18's local-cloud rows: secrets, authorisation in depth, names, bounded work, exposure. Each test
//! reproduces what the issue's attacker did and checks what Azure would answer.

use super::*;
use std::os::unix::fs::PermissionsExt;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

mod secrets {
    use super::*;

    const PASSWORD: &str = "Corr3ct-H0rse-Battery-Staple";

    /// Row 1: a securestring output of a secure parameter.
    fn leaking_template() -> Value {
        json!({
            "$schema": RG_SCHEMA, "contentVersion": "1.0.0.0",
            "parameters": {"vmAdminPassword": {"type": "securestring"}},
            "resources": [{
                "type": "Microsoft.Storage/storageAccounts", "apiVersion": ST_API, "name": "stsecrets",
                "location": "[resourceGroup().location]", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
                "properties": {"minimumTlsVersion": "TLS1_2"}
            }],
            "outputs": {
                "password": {"type": "securestring", "value": "[parameters('vmAdminPassword')]"},
                "settings": {"type": "secureObject", "value": {"pw": "[parameters('vmAdminPassword')]"}},
                "name": {"type": "string", "value": "stsecrets"}
            }
        })
    }

    #[tokio::test]
    async fn secure_outputs_are_left_out_and_no_secret_reaches_the_state_folder() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cloud::start(Config {
            state_dir: Some(dir.path().to_path_buf()),
            ..Config::default()
        })
        .await;
        c.rg("rg-secrets", "uksouth").await;
        let body = json!({"properties": {"mode": "Incremental", "template": leaking_template(),
                          "parameters": {"vmAdminPassword": {"value": PASSWORD}}}});
        let d = c.deploy(Some("rg-secrets"), "leak", body).await;
        assert_eq!(
            d.body["properties"]["provisioningState"], "Succeeded",
            "{}",
            d.body
        );
        let outputs = d.body["properties"]["outputs"].as_object().unwrap();
        assert_eq!(
            outputs.keys().collect::<Vec<_>>(),
            ["name"],
            "Azure omits secure outputs: {}",
            d.body
        );
        assert!(!d.body.to_string().contains(PASSWORD));
        c.server.shutdown().await;
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes
                    .windows(PASSWORD.len())
                    .any(|w| w == PASSWORD.as_bytes()),
                "{} holds the password",
                path.display()
            );
        }
    }

    #[tokio::test]
    async fn the_state_folder_is_private_whatever_the_umask_left() {
        // What a umask of 000 produces: a world-writable folder and a world-readable database.
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("state");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(dir.join("state.db"), b"").unwrap();
        std::fs::set_permissions(dir.join("state.db"), std::fs::Permissions::from_mode(0o666))
            .unwrap();
        let server = Server::start(Config {
            state_dir: Some(dir.clone()),
            tls: true,
            ..Config::default()
        })
        .await
        .unwrap();
        assert_eq!(mode(&dir), 0o700);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        server.shutdown().await;
        // A fresh folder, under the test's own umask.
        let fresh = parent.path().join("fresh");
        let server = Server::start(Config {
            state_dir: Some(fresh.clone()),
            ..Config::default()
        })
        .await
        .unwrap();
        assert_eq!(mode(&fresh), 0o700);
        assert_eq!(mode(&fresh.join("state.db")), 0o600);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn a_ca_key_other_users_can_read_is_refused_with_the_chmod_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            state_dir: Some(dir.path().to_path_buf()),
            tls: true,
            ..Config::default()
        };
        Server::start(config.clone())
            .await
            .unwrap()
            .shutdown()
            .await;
        let key = dir.path().join("ca-key.pem");
        assert_eq!(mode(&key), 0o600);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let Err(e) = Server::start(config).await else {
            panic!("a world-readable CA key was used");
        };
        assert_eq!(
            e.to_string(),
            format!(
                "local cloud: {} is readable by other users (mode 0644); it must be private: run `chmod 600 {}`",
                key.display(),
                key.display()
            )
        );
    }
    /// Row 3: emulated Key Vault secret values sat in plain text in state.db.
    #[tokio::test]
    async fn key_vault_secret_values_are_sealed_at_rest_and_still_resolve_after_a_restart() {
        const VALUE: &str = "Kv-S3cret-Value-0123456789";
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            state_dir: Some(dir.path().to_path_buf()),
            ..Config::default()
        };
        let vault = format!("/subscriptions/{SUB}/resourceGroups/rg-kv/providers/Microsoft.KeyVault/vaults/kv-sealed");
        let c = Cloud::start(config.clone()).await;
        c.rg("rg-kv", "uksouth").await;
        let r = c.put(&vault, json!({"location": "uksouth", "properties": {"tenantId": "t", "sku": {"family": "A", "name": "standard"}}})).await;
        assert!(r.status.is_success(), "{}", r.body);
        let r = c
            .put(
                &format!("{vault}/secrets/admin"),
                json!({"properties": {"value": VALUE}}),
            )
            .await;
        assert!(r.status.is_success(), "{}", r.body);
        assert!(!r.body.to_string().contains(VALUE));
        c.server.shutdown().await;
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()),
                "{} holds the secret value",
                path.display()
            );
        }
        assert_eq!(mode(&dir.path().join("state.key")), 0o600);
        // After a restart a Key Vault reference still resolves to the value.
        let c = Cloud::start(config).await;
        let template = json!({"$schema": RG_SCHEMA, "contentVersion": "1.0.0.0",
            "parameters": {"pw": {"type": "string"}}, "resources": [],
            "outputs": {"pw": {"type": "string", "value": "[parameters('pw')]"}}});
        let d = c
            .deploy(
                Some("rg-kv"),
                "kvref",
                json!({"properties": {"mode": "Incremental", "template": template, "parameters": {
                    "pw": {"reference": {"keyVault": {"id": vault}, "secretName": "admin"}}}}}),
            )
            .await;
        assert_eq!(
            d.body["properties"]["outputs"]["pw"]["value"], VALUE,
            "{}",
            d.body
        );
    }
}

mod exposure {
    use super::*;

    fn everywhere() -> Config {
        Config {
            addr: "0.0.0.0:0".parse().unwrap(),
            ..Config::default()
        }
    }

    #[tokio::test]
    async fn serving_beyond_loopback_needs_a_client_secret_and_tls() {
        let Err(e) = Server::start(everywhere()).await else {
            panic!("served on every interface over plain HTTP with any secret");
        };
        let msg = e.to_string();
        assert!(msg.starts_with("local cloud: refusing to listen on 0.0.0.0:0, an address other machines can reach, without --client-secret (or --identity) and --tls: anyone who can reach it could get an Owner token and read every token in plain HTTP."), "{msg}");
        assert!(msg.ends_with("or listen on 127.0.0.1"), "{msg}");
        let Err(e) = Server::start(Config {
            client_secret: Some("s3cret".into()),
            ..everywhere()
        })
        .await
        else {
            panic!("served on every interface over plain HTTP");
        };
        assert!(e.to_string().contains(" without --tls: "), "{e}");
        let Err(e) = Server::start(Config {
            tls: true,
            ..everywhere()
        })
        .await
        else {
            panic!("served on every interface handing tokens to any secret");
        };
        assert!(
            e.to_string()
                .contains(" without --client-secret (or --identity): "),
            "{e}"
        );
        let server = Server::start(Config {
            tls: true,
            client_secret: Some("s3cret".into()),
            ..everywhere()
        })
        .await
        .unwrap();
        assert!(server.url().starts_with("https://0.0.0.0:"));
        server.shutdown().await;
    }

    /// Served beyond loopback, the certificate names what other machines connect to (`--tls-name`): a client
    /// reaching the server by that name verifies it against the local CA; by a name not listed, it is refused.
    #[tokio::test]
    async fn the_certificate_names_what_clients_on_other_machines_connect_to() {
        let server = Server::start(Config {
            tls: true,
            client_secret: Some("s3cret".into()),
            tls_names: vec!["cloud.rhw.example.nhs.uk".into()],
            ..everywhere()
        })
        .await
        .unwrap();
        let port = server.addr().port();
        let ca = reqwest::Certificate::from_pem(server.ca_pem().unwrap().as_bytes()).unwrap();
        let via = |name: &str| {
            reqwest::Client::builder()
                .no_proxy()
                .add_root_certificate(ca.clone())
                .resolve(name, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
                .build()
                .unwrap()
        };
        let named = via("cloud.rhw.example.nhs.uk")
            .get(format!(
                "https://cloud.rhw.example.nhs.uk:{port}/subscriptions?api-version=2022-09-01"
            ))
            .send()
            .await
            .unwrap();
        // The handshake held; ARM's answer to a request without a token follows.
        assert_eq!(named.status(), StatusCode::UNAUTHORIZED);
        let unnamed = via("elsewhere.example.nhs.uk")
            .get(format!(
                "https://elsewhere.example.nhs.uk:{port}/subscriptions?api-version=2022-09-01"
            ))
            .send()
            .await;
        let e = unnamed.expect_err("a name the certificate does not hold was trusted");
        assert!(
            format!("{e:?}").to_lowercase().contains("certificate"),
            "{e:?}"
        );
        server.shutdown().await;
    }
}

mod authorisation_in_depth {
    use super::*;
    use trustprint::cloud::Identity;

    const SUB_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
    const SUB_C: &str = "cccccccc-0000-4000-8000-00000000000c";

    fn identity(tenant: &str, client: &str) -> Identity {
        Identity {
            tenant_id: tenant.into(),
            client_id: client.into(),
            client_secret: trustprint::arm::Secret::new(format!("secret-{client}")),
        }
    }

    async fn token_as(c: &Cloud, tenant: &str, client: &str) -> String {
        let r = c
            .http
            .post(format!("{}/{tenant}/oauth2/v2.0/token", c.server.url()))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client),
                ("client_secret", &format!("secret-{client}")),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn group(sub: &str, rg: &str) -> String {
        format!("/subscriptions/{sub}/resourcegroups/{rg}")
    }

    fn storage(sub: &str, rg: &str, name: &str) -> String {
        format!(
            "{}/providers/Microsoft.Storage/storageAccounts/{name}",
            group(sub, rg)
        )
    }

    /// A deployment in `rg-a` whose one nested deployment targets `sub`/`rg` in `mode`, writing `name`.
    fn reaching(sub: &str, rg: &str, mode: &str, name: &str) -> Value {
        json!({"properties": {"mode": "Incremental", "template": {
        "$schema": RG_SCHEMA, "contentVersion": "1.0.0.0",
        "resources": [{
            "type": "Microsoft.Resources/deployments", "apiVersion": "2021-04-01", "name": "reach",
            "subscriptionId": sub, "resourceGroup": rg,
            "properties": {"mode": mode, "expressionEvaluationOptions": {"scope": "inner"}, "template": {
                "$schema": RG_SCHEMA, "contentVersion": "1.0.0.0",
                "resources": [{"type": "Microsoft.Storage/storageAccounts", "apiVersion": ST_API,
                               "name": name, "location": "uksouth", "sku": {"name": "Standard_LRS"},
                               "kind": "StorageV2", "properties": {}}]}}
        }]}}})
    }

    async fn deploy_in_a(c: &Cloud, name: &str, body: Value) -> Resp {
        let path = format!(
            "{}/providers/Microsoft.Resources/deployments/{name}",
            group(SUB_A, "rg-a")
        );
        let r = c.put(&path, body).await;
        assert!(r.status.is_success(), "{}: {}", r.status, r.body);
        c.wait_deployment(&r).await
    }

    /// Row 4: a Contributor of one group in tenant A reaches, through nested deployments, tenant C's
    /// subscription (mode Complete) and a group of its own subscription it holds no role on.
    #[tokio::test]
    async fn nested_deployments_write_and_delete_only_what_their_caller_may() {
        let server = Server::start(Config {
            identities: vec![
                identity("tenant-a", "owner-a"),
                identity("tenant-a", "app-a"),
                identity("tenant-c", "owner-c"),
            ],
            subscription_tenants: vec![
                format!("{SUB_A}:tenant-a").parse().unwrap(),
                format!("{SUB_C}:tenant-c").parse().unwrap(),
            ],
            role_assignments: vec![
                "owner-a:Owner:/".parse().unwrap(),
                "owner-c:Owner:/".parse().unwrap(),
                format!("app-a:Contributor:{}", group(SUB_A, "rg-a"))
                    .parse()
                    .unwrap(),
            ],
            ..Config::default()
        })
        .await
        .unwrap();
        let mut c = Cloud {
            server,
            http: client(),
            token: String::new(),
        };
        c.token = token_as(&c, "tenant-c", "owner-c").await;
        assert!(c
            .put(&group(SUB_C, "rg-c"), json!({"location": "uksouth"}))
            .await
            .status
            .is_success());
        let victim = storage(SUB_C, "rg-c", "stvictim");
        assert!(c
            .put(&victim, storage_body("uksouth"))
            .await
            .status
            .is_success());
        c.token = token_as(&c, "tenant-a", "owner-a").await;
        for rg in ["rg-a", "rg-b"] {
            assert!(c
                .put(&group(SUB_A, rg), json!({"location": "uksouth"}))
                .await
                .status
                .is_success());
        }
        c.token = token_as(&c, "tenant-a", "app-a").await;

        // Each case: the deployment's name, where its nested deployment reaches, the state it ends in and what
        // its body says.
        for (name, nested, state, says) in [
            // Into tenant C's subscription, mode Complete: refused as a direct request would be.
            (
                "cross-tenant",
                reaching(SUB_C, "rg-c", "Complete", "stattacker"),
                "Failed",
                "InvalidAuthenticationTokenTenant",
            ),
            // Into a group of its own subscription where it holds no role.
            (
                "other-group",
                reaching(SUB_A, "rg-b", "Incremental", "stintruder"),
                "Failed",
                "AuthorizationFailed",
            ),
            // Into its own group: allowed, so the refusals above are about scope, not nesting.
            (
                "own-group",
                reaching(SUB_A, "rg-a", "Incremental", "stallowed"),
                "Succeeded",
                "Succeeded",
            ),
        ] {
            let d = deploy_in_a(&c, name, nested).await;
            assert_eq!(
                d.body["properties"]["provisioningState"], state,
                "{name}: {}",
                d.body
            );
            assert!(d.body.to_string().contains(says), "{name}: {}", d.body);
        }

        c.token = token_as(&c, "tenant-c", "owner-c").await;
        assert_eq!(
            c.get(&victim).await.status,
            StatusCode::OK,
            "tenant C's resource was deleted"
        );
        assert_eq!(
            c.get(&storage(SUB_C, "rg-c", "stattacker")).await.status,
            StatusCode::NOT_FOUND
        );
        c.token = token_as(&c, "tenant-a", "owner-a").await;
        assert_eq!(
            c.get(&storage(SUB_A, "rg-b", "stintruder")).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            c.get(&storage(SUB_A, "rg-a", "stallowed")).await.status,
            StatusCode::OK
        );
    }
}

mod names {
    use super::*;

    /// Row 5: encoded separators address another resource; control, bidi and huge names are accepted.
    #[tokio::test]
    async fn encoded_separators_control_characters_and_bad_names_are_refused_as_arm_does() {
        let c = Cloud::default().await;
        c.rg("rg-names", "uksouth").await;
        let account = storage_path("rg-names", "stconf");
        assert!(c
            .put(&account, storage_body("uksouth"))
            .await
            .status
            .is_success());
        let child = format!("{account}/blobServices/default");
        let r = c.put(&child, json!({"properties": {}})).await;
        assert!(r.status.is_success(), "{}", r.body);
        let encoded = format!(
            "{}%2FblobServices%2Fdefault",
            storage_path("rg-names", "stconf")
        );
        for r in [
            c.put(&encoded, json!({"properties": {"x": 1}})).await,
            c.delete(&encoded).await,
        ] {
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
            assert_eq!(r.body["error"]["code"], "InvalidResourceName");
        }
        let kept = c.get(&child).await;
        assert_eq!(kept.status, StatusCode::OK);
        assert!(kept.body["properties"].get("x").is_none(), "{}", kept.body);

        let r = c
            .put(
                &rg_path("rg-names%2F..%2Frg-b"),
                json!({"location": "uksouth"}),
            )
            .await;
        assert_eq!(
            r.body["error"]["code"], "InvalidResourceGroupName",
            "{}",
            r.body
        );
        for bad in ["rg.", "rg%07bell", "rg%E2%80%AEevil", &"r".repeat(91)] {
            let r = c.put(&rg_path(bad), json!({"location": "uksouth"})).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
            assert_eq!(r.body["error"]["code"], "InvalidResourceGroupName", "{bad}");
        }
        let r = c
            .put(&rg_path("rg_(ok).1"), json!({"location": "uksouth"}))
            .await;
        assert!(r.status.is_success(), "{}", r.body);

        let long = "s".repeat(5000);
        let r = c
            .put(&storage_path("rg-names", &long), storage_body("uksouth"))
            .await;
        assert_eq!(r.body["error"]["code"], "AccountNameInvalid");
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(
            msg.len() < 400,
            "the message quotes the whole name: {} bytes",
            msg.len()
        );
        let r = c
            .put(
                &storage_path("rg-names", "St-Conf"),
                storage_body("uksouth"),
            )
            .await;
        assert_eq!(
            r.body["error"],
            json!({"code": "AccountNameInvalid", "message": "'St-Conf' is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only."})
        );
        let vault = format!("/subscriptions/{SUB}/resourceGroups/rg-names/providers/Microsoft.KeyVault/vaults/kv--x");
        let r = c.put(&vault, json!({"location": "uksouth", "properties": {"tenantId": "t", "sku": {"family": "A", "name": "standard"}}})).await;
        assert_eq!(r.body["error"]["code"], "VaultNameNotValid", "{}", r.body);

        // A deployment's writes are held to the same rules.
        let d = c
            .deploy(
                Some("rg-names"),
                "bad-name",
                json!({"properties": {"mode": "Incremental", "template": storage_template(&["Bad_Name"], "TLS1_2")}}),
            )
            .await;
        assert_eq!(
            d.body["properties"]["provisioningState"], "Failed",
            "{}",
            d.body
        );
        assert!(
            d.body.to_string().contains("AccountNameInvalid"),
            "{}",
            d.body
        );
    }
}

mod bounded_work {
    use super::*;

    fn template_with(extra: Value) -> Value {
        let mut t = json!({"$schema": RG_SCHEMA, "contentVersion": "1.0.0.0", "resources": []});
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        t
    }

    async fn refused(c: &Cloud, name: &str, template: Value) -> Value {
        let r = c
            .put(
                &dep_path(Some("rg-limits"), name),
                json!({"properties": {"mode": "Incremental", "template": template}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.body);
        r.body["error"].clone()
    }

    /// Azure's documented limits, each with ARM's error.
    #[tokio::test]
    async fn templates_beyond_azure_s_limits_are_refused_with_arm_s_errors() {
        let c = Cloud::default().await;
        c.rg("rg-limits", "uksouth").await;
        let params: serde_json::Map<String, Value> = (0..257)
            .map(|i| {
                (
                    format!("p{i}"),
                    json!({"type": "string", "defaultValue": "x"}),
                )
            })
            .collect();
        let e = refused(&c, "params", template_with(json!({"parameters": params}))).await;
        assert_eq!(e["code"], "InvalidTemplate");
        assert_eq!(e["message"], "Deployment template validation failed: 'The number of template parameters limit exceeded. Limit: '256' and actual: '257'.'");
        let vars: serde_json::Map<String, Value> =
            (0..257).map(|i| (format!("v{i}"), json!(i))).collect();
        let e = refused(&c, "vars", template_with(json!({"variables": vars}))).await;
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("template variables limit exceeded. Limit: '256'"),
            "{e}"
        );
        let outputs: serde_json::Map<String, Value> = (0..65)
            .map(|i| (format!("o{i}"), json!({"type": "int", "value": i})))
            .collect();
        let e = refused(&c, "outputs", template_with(json!({"outputs": outputs}))).await;
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("template outputs limit exceeded. Limit: '64'"),
            "{e}"
        );
        // Two copy loops within armexpr's per-loop bound, 802 resources together.
        let nsgs = |prefix: &str| {
            json!({
                "type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2023-09-01",
                "name": format!("[concat('{prefix}', copyIndex())]"), "location": "uksouth",
                "copy": {"name": prefix, "count": 401}, "properties": {}
            })
        };
        let many = template_with(json!({"resources": [nsgs("nsg-a-"), nsgs("nsg-b-")]}));
        let e = refused(&c, "resources", many).await;
        assert_eq!(e["message"], "Deployment template validation failed: 'The number of template resources limit exceeded. Limit: '800' and actual: '802'.'");
        let long = format!("[concat('{}')]", "a".repeat(24_576));
        let e = refused(
            &c,
            "expression",
            template_with(json!({"variables": {"long": long}})),
        )
        .await;
        assert_eq!(e["code"], "InvalidTemplate");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("'variables.long' is 24588 characters long; the limit is '24576'"),
            "{e}"
        );
        // A template over 4 MB: ARM refuses the request's content before reading it as a template.
        let huge = template_with(json!({"variables": {"blob": "b".repeat(4 * 1024 * 1024)}}));
        let r = c
            .put(
                &dep_path(Some("rg-limits"), "huge"),
                json!({"properties": {"mode": "Incremental", "template": huge}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
        assert_eq!(
            r.body["error"]["code"], "RequestContentTooLarge",
            "{}",
            r.body
        );
        assert_eq!(
            r.body["error"]["message"],
            "The request content size exceeds the maximum size of 4 MB."
        );
        // Within every limit: accepted.
        let d = c
            .deploy(Some("rg-limits"), "fine", json!({"properties": {"mode": "Incremental", "template": template_with(json!({"variables": {"v": 1}}))}}))
            .await;
        assert_eq!(d.body["properties"]["provisioningState"], "Succeeded");
    }

    /// Row 6: a 1.5 KB deployment whose variables concat a string with itself 27 times (about 6.7 GB) used
    /// to exhaust the server's memory. The bound lives in armexpr; the cloud answers with ARM's error and
    /// stays up.
    #[tokio::test]
    async fn the_doubling_template_is_answered_with_an_error_and_the_server_stays_up() {
        let c = Cloud::default().await;
        c.rg("rg-doubling", "uksouth").await;
        let mut vars = serde_json::Map::new();
        vars.insert("v0".into(), json!("x".repeat(50)));
        for i in 1..=27 {
            vars.insert(
                format!("v{i}"),
                json!(format!(
                    "[concat(variables('v{0}'), variables('v{0}'))]",
                    i - 1
                )),
            );
        }
        let template = json!({
            "$schema": RG_SCHEMA, "contentVersion": "1.0.0.0", "variables": vars,
            "resources": [{"type": "Microsoft.Storage/storageAccounts", "apiVersion": ST_API, "name": "stdoubling",
                           "location": "uksouth", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
                           "tags": {"big": "[variables('v27')]"}, "properties": {}}],
            "outputs": {"big": {"type": "string", "value": "[variables('v27')]"}}
        });
        let body = json!({"properties": {"mode": "Incremental", "template": template}});
        assert!(body.to_string().len() < 2048);
        let r = c
            .put(&dep_path(Some("rg-doubling"), "doubling"), body)
            .await;
        let error = if r.status.is_success() {
            c.wait_deployment(&r).await.body["properties"]["error"].clone()
        } else {
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
            r.body["error"].clone()
        };
        assert!(error.to_string().contains("InvalidTemplate"), "{error}");
        // Still serving.
        assert_eq!(c.get(&rg_path("rg-doubling")).await.status, StatusCode::OK);
        assert_eq!(
            c.get(&storage_path("rg-doubling", "stdoubling"))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    }
}
