//! Issue 18's local-cloud rows: secrets, authorisation in depth, names, bounded work, exposure. Each test
//! reproduces what the attacker did and checks what Azure would answer.

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
}
