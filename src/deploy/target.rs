//! Where plan, apply and destroy act: the embedded local cloud (started in process, state under
//! `.trustprint/cloud`), a running local cloud (`--cloud-url`), or Azure.
//!
//! Contract: [`connect`] turns [`TargetOptions`] and the trust's values into a [`Connection`]: an
//! [`ArmClient`] acting as the right identity, the subscription to deploy into, and (for the embedded cloud)
//! the server, kept alive as long as the connection.

use super::DeployError;
use crate::arm::{ArmClient, ArmClientOptions, Credential, Secret};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The public Azure Resource Manager endpoint.
pub const AZURE_ENDPOINT: &str = "https://management.azure.com";
/// Where the embedded local cloud keeps its state, relative to the working directory.
pub const LOCAL_STATE_DIR: &str = ".trustprint/cloud";
/// The client id trustprint presents to a local cloud when `AZURE_CLIENT_ID` is not set.
pub const LOCAL_CLIENT_ID: &str = "trustprint-local";

/// `--target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// The local cloud (embedded or `--cloud-url`).
    Local,
    /// Azure Resource Manager.
    Azure,
}

impl TargetKind {
    /// `local` or `azure`.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Local => "local",
            TargetKind::Azure => "azure",
        }
    }
}

/// How to reach the target, as the command line gives it.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// `--target`; `None` picks Azure when a subscription is configured, else local.
    pub kind: Option<TargetKind>,
    /// `--cloud-url`: a running local cloud instead of the embedded one.
    pub cloud_url: Option<String>,
    /// State folder of the embedded local cloud (default [`LOCAL_STATE_DIR`]).
    pub state_dir: Option<PathBuf>,
    /// `--subscription`, over the values' `azure.subscription_id`.
    pub subscription: Option<String>,
    /// `--tenant`, over the values' `azure.tenant_id`.
    pub tenant: Option<String>,
}

/// What the plan file records about the target, compared by `apply --plan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    pub kind: TargetKind,
    pub subscription_id: String,
}

/// A client for the target and the subscription the trust lives in.
pub struct Connection {
    pub client: ArmClient,
    pub target: TargetRef,
    /// The tenant, for `tenant()` in static expansion.
    pub tenant_id: String,
    /// The embedded cloud, stopped when the connection is dropped.
    _server: Option<crate::cloud::RunningServer>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.client.endpoint().as_str())
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// A local cloud answers in milliseconds: poll and back off on its scale, not Azure's (a stamp would
/// otherwise spend most of its time asleep).
fn local_client_options() -> ArmClientOptions {
    let mut o = ArmClientOptions::default();
    o.poll.interval = std::time::Duration::from_millis(100);
    o.poll.max_interval = std::time::Duration::from_secs(2);
    o.retry.initial_backoff = std::time::Duration::from_millis(100);
    o.retry.max_backoff = std::time::Duration::from_secs(5);
    o
}

/// Reads the subscription once before anything else: a wrong credential or a subscription the identity
/// cannot see stops here, with one clear error, rather than inside the first what-if. (A failing identity
/// endpoint is retried by the credential's transport, `arm::auth`.)
async fn check_access(client: &ArmClient, subscription_id: &str) -> Result<(), DeployError> {
    client
        .get_subscription(subscription_id)
        .await
        .map(|_| ())
        .map_err(DeployError::arm(format!(
            "reading subscription {subscription_id}"
        )))
}

/// The api-version trustprint uses for the Key Vaults it seeds in the local cloud.
const KEY_VAULT_API: &str = "2023-07-01";

/// Seed, in the local cloud, the secrets the trust's Key Vault references point at when the local cloud
/// does not hold them. On Azure such a vault is one the operator set up beforehand (a bootstrap vault
/// outside the trust); the local cloud starts empty, so without this every deployment taking a secret by
/// reference would fail with `KeyVaultParameterReferenceSecretRetrieveFailed`. A missing vault is created
/// (with its resource group, tagged `managed-by: trustprint-local-seed`, and `enabledForTemplateDeployment`
/// set) and the secret gets a random throwaway value, with a warning naming the vault and the secret. A
/// secret the local cloud already holds is left alone. Returns the `vault id/secrets/name` seeded. Only
/// for the local target: Azure is never written to here.
pub async fn seed_key_vault_references(
    conn: &Connection,
    rendered: &crate::model::Rendered,
) -> Result<Vec<String>, DeployError> {
    if conn.target.kind != TargetKind::Local {
        return Ok(Vec::new());
    }
    let mut wanted: std::collections::BTreeMap<String, (String, String, String)> =
        std::collections::BTreeMap::new();
    for d in &rendered.deployments {
        let Some(params) = d
            .parameters
            .get("parameters")
            .and_then(serde_json::Value::as_object)
        else {
            continue;
        };
        for (parameter, entry) in params {
            let r = &entry["reference"];
            if let (Some(vault), Some(secret)) =
                (r["keyVault"]["id"].as_str(), r["secretName"].as_str())
            {
                wanted
                    .entry(format!("{vault}/secrets/{secret}"))
                    .or_insert_with(|| (d.name.clone(), parameter.clone(), d.location.clone()));
            }
        }
    }
    let mut seeded = Vec::new();
    for (secret_id, (deployment, parameter, location)) in wanted {
        let err =
            |what: &str| DeployError::arm(format!("deployment {deployment}: {what} {secret_id}"));
        if conn
            .client
            .get_resource(&secret_id, KEY_VAULT_API)
            .await
            .map_err(err("reading the referenced secret"))?
            .is_some()
        {
            continue;
        }
        let Some((vault_id, secret)) = secret_id.rsplit_once("/secrets/") else {
            continue;
        };
        let parts: Vec<&str> = vault_id.trim_start_matches('/').split('/').collect();
        let (Some(sub), Some(rg)) = (parts.get(1), parts.get(3)) else {
            return Err(DeployError::Target {
                message: format!(
                    "deployment {deployment}: parameter {parameter} references Key Vault {vault_id}, which \
                     is not a vault resource id (/subscriptions/<id>/resourceGroups/<name>/providers/\
                     Microsoft.KeyVault/vaults/<name>)"
                ),
            });
        };
        if conn
            .client
            .get_resource(vault_id, KEY_VAULT_API)
            .await
            .map_err(err("reading the vault of"))?
            .is_none()
        {
            let tags = [("managed-by".to_owned(), "trustprint-local-seed".to_owned())]
                .into_iter()
                .collect();
            conn.client
                .create_or_update_resource_group(sub, rg, &location, &tags)
                .await
                .map_err(err("creating the resource group of"))?;
            let vault = serde_json::json!({
                "location": location,
                "tags": {"managed-by": "trustprint-local-seed"},
                "properties": {
                    "tenantId": conn.tenant_id,
                    "sku": {"family": "A", "name": "standard"},
                    "enabledForTemplateDeployment": true,
                    "enableRbacAuthorization": true,
                },
            });
            conn.client
                .put_resource(vault_id, KEY_VAULT_API, &vault)
                .await
                .map_err(err("creating the vault of"))?;
        }
        let value = serde_json::json!({"properties": {"value": super::throwaway_secret()}});
        conn.client
            .put_resource(&secret_id, KEY_VAULT_API, &value)
            .await
            .map_err(err("seeding"))?;
        tracing::warn!(
            "Key Vault secret {secret} in {vault_id} is not in the local cloud: deployment '{deployment}' \
             parameter {parameter} gets a random throwaway value seeded there (on Azure the vault must \
             exist and hold the secret)"
        );
        seeded.push(secret_id);
    }
    Ok(seeded)
}

/// The subscription a trust gets in the local cloud when its values give none: stable per ODS code, so
/// trusts do not share one and a rerun finds the same one.
pub fn local_subscription(ods_code: &str) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        format!("trustprint-local:{}", ods_code.to_ascii_uppercase()).as_bytes(),
    )
    .to_string()
}

fn value_str(values: &crate::values::Values, key: &str) -> Option<String> {
    values
        .get(key)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// ARM clients shared by the trusts of one run: one per endpoint, identity and client options, so that
/// trusts reaching the same target through the same identity share one connection pool, one TLS setup and
/// one token cache instead of building their own. A client is tied to the async runtime it first connects
/// on: share a `Clients` only within one runtime.
#[derive(Default)]
pub struct Clients {
    clients: std::sync::Mutex<std::collections::HashMap<String, ArmClient>>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.clients.lock().map(|c| c.len()).unwrap_or(0);
        f.debug_struct("Clients").field("clients", &n).finish()
    }
}

impl Clients {
    /// The client for `endpoint` acting as `credential`, made on first use.
    pub fn client(
        &self,
        endpoint: &str,
        credential: Credential,
        options: ArmClientOptions,
    ) -> Result<ArmClient, crate::arm::Error> {
        let key = format!("{endpoint}|{:?}|{}", options, credential.identity_key());
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let client = ArmClient::new(endpoint, credential, options)?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

/// Connect to the target: start the embedded cloud when asked for, pick the credential and subscription.
pub async fn connect(
    options: &TargetOptions,
    values: &crate::values::Values,
    ods_code: &str,
) -> Result<Connection, DeployError> {
    connect_with(options, values, ods_code, &Clients::default()).await
}

/// [`connect`], taking the ARM client from `clients` (a fleet run's, shared by its trusts).
pub async fn connect_with(
    options: &TargetOptions,
    values: &crate::values::Values,
    ods_code: &str,
    clients: &Clients,
) -> Result<Connection, DeployError> {
    let configured_sub = options
        .subscription
        .clone()
        .or_else(|| value_str(values, "azure.subscription_id"));
    let kind = options.kind.unwrap_or(if configured_sub.is_some() {
        TargetKind::Azure
    } else {
        TargetKind::Local
    });
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match kind {
        TargetKind::Local => {
            let (url, server, tenant) = match &options.cloud_url {
                Some(url) => (
                    url.trim_end_matches('/').to_owned(),
                    None,
                    var("AZURE_TENANT_ID")
                        .unwrap_or_else(|| crate::cloud::DEFAULT_TENANT.to_owned()),
                ),
                None => {
                    let dir = options
                        .state_dir
                        .clone()
                        .unwrap_or_else(|| PathBuf::from(LOCAL_STATE_DIR));
                    let server = crate::cloud::Server::start(crate::cloud::Config {
                        state_dir: Some(dir),
                        ..crate::cloud::Config::default()
                    })
                    .await?;
                    let tenant = server.tenant_id().to_owned();
                    (server.url().to_owned(), Some(server), tenant)
                }
            };
            let authority_host = url::Url::parse(&url).map_err(|e| DeployError::Target {
                message: format!("--cloud-url {url}: {e}"),
            })?;
            // The local cloud's token endpoint issues tokens to a service principal; a running one may be
            // configured to accept only particular credentials, given as for Azure.
            let credential = Credential::ServicePrincipal {
                tenant_id: tenant.clone(),
                client_id: var("AZURE_CLIENT_ID").unwrap_or_else(|| LOCAL_CLIENT_ID.to_owned()),
                client_secret: Secret::new(
                    var("AZURE_CLIENT_SECRET").unwrap_or_else(|| "local".to_owned()),
                ),
                authority_host,
            };
            let client = clients.client(&url, credential, local_client_options())?;
            let subscription_id = configured_sub.unwrap_or_else(|| local_subscription(ods_code));
            check_access(&client, &subscription_id).await?;
            Ok(Connection {
                client,
                target: TargetRef {
                    kind,
                    subscription_id,
                },
                tenant_id: options
                    .tenant
                    .clone()
                    .or_else(|| value_str(values, "azure.tenant_id"))
                    .unwrap_or(tenant),
                _server: server,
            })
        }
        TargetKind::Azure => {
            let subscription_id = configured_sub.ok_or_else(|| DeployError::Target {
                message:
                    "--target azure needs a subscription: set azure.subscription_id in the values \
                          or pass --subscription"
                        .into(),
            })?;
            let tenant = options
                .tenant
                .clone()
                .or_else(|| value_str(values, "azure.tenant_id"));
            let mut credential = Credential::from_env()?;
            if let Some(t) = &tenant {
                match &mut credential {
                    Credential::ServicePrincipal { tenant_id, .. }
                    | Credential::WorkloadIdentity { tenant_id, .. } => tenant_id.clone_from(t),
                    _ => {}
                }
            }
            let endpoint = var("TRUSTPRINT_ARM_ENDPOINT").unwrap_or_else(|| AZURE_ENDPOINT.into());
            let client = clients.client(&endpoint, credential, ArmClientOptions::default())?;
            check_access(&client, &subscription_id).await?;
            Ok(Connection {
                client,
                target: TargetRef {
                    kind,
                    subscription_id,
                },
                tenant_id: tenant.unwrap_or_else(|| crate::run::PLACEHOLDER_ID.to_owned()),
                _server: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_subscription_is_a_stable_guid_per_trust() {
        let a = local_subscription("RM3");
        assert_eq!(a, local_subscription("rm3"));
        assert_ne!(a, local_subscription("RHW"));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }
}
