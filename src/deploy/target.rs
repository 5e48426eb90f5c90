//! Where plan, apply and destroy act: the embedded local cloud (started in process, state under
//! `.trustprint/cloud`), a running local cloud (`--cloud-url`), or Azure.
//!
//! Contract: [`connect`] turns [`TargetOptions`] and the trust's values into a [`Connection`]: an
//! [`ArmClient`] acting as the right identity, the subscription to deploy into, and (for the embedded cloud)
//! the server, kept alive as long as the connection.
//!
//! The identity: a fleet trust's own credential reference ([`TrustTarget`], from `trusts.<ODS>.target` in
//! fleet.yaml) when there is one, resolved by [`trust_credential`]; otherwise the environment's
//! ([`crate::arm::Credential::from_env`] for Azure, `AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET` or defaults for
//! the local cloud). Connections made from one [`TargetOptions`] (and its clones: every trust of a fleet
//! run) share a token cache per identity ([`crate::arm::TokenPool`]).

use super::DeployError;
use crate::arm::{ArmClient, ArmClientOptions, Credential, Secret, TokenPool};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use url::Url;

/// The public Azure Resource Manager endpoint.
pub const AZURE_ENDPOINT: &str = "https://management.azure.com";
/// Where the embedded local cloud keeps its state, relative to the working directory.
pub const LOCAL_STATE_DIR: &str = ".trustprint/cloud";
/// The environment variable read for `--cloud-ca` when the option is not given.
pub const CLOUD_CA_ENV: &str = "TRUSTPRINT_CLOUD_CA";
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
    /// `--cloud-ca`: a PEM file of a certificate authority to trust besides the system's, for a local cloud
    /// serving TLS with its own CA (`cloud serve --tls` writes `<state>/ca.pem`). `None` reads
    /// [`CLOUD_CA_ENV`].
    pub cloud_ca: Option<PathBuf>,
    /// State folder of the embedded local cloud (default [`LOCAL_STATE_DIR`]).
    pub state_dir: Option<PathBuf>,
    /// `--subscription`, over the values' `azure.subscription_id`.
    pub subscription: Option<String>,
    /// `--tenant`, over the values' `azure.tenant_id`.
    pub tenant: Option<String>,
    /// The trust's own tenant and credential reference, when its fleet records one: acted as instead of
    /// the environment's identity.
    pub trust: Option<TrustTarget>,
    /// Token caches shared by every connection made from these options and their clones.
    pub tokens: TokenPool,
}

/// What a fleet records about one trust's target (`trusts.<ODS>.target` in fleet.yaml): its tenant and how to
/// get a token there. Only references: the environment variables named are read at connect time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustTarget {
    /// The trust's ODS code, for errors.
    pub ods: String,
    /// The tenant the trust's subscription belongs to.
    pub tenant_id: String,
    /// How to get a token for it.
    pub credential: CredentialRef,
}

/// How to get a token for a trust's tenant (`trusts.<ODS>.target.credential` in fleet.yaml, where it is
/// `fleet::config::Credential`). Only names of environment variables, never secrets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CredentialRef {
    /// Whatever `--target azure` finds in the environment (service principal, workload identity, managed
    /// identity, Azure CLI), as for a single trust.
    #[default]
    Default,
    /// A service principal whose id and secret are in these environment variables.
    ServicePrincipal {
        client_id_env: String,
        client_secret_env: String,
    },
    /// Workload identity federation (GitHub Actions, Azure DevOps): the app's client id, the token file from
    /// the environment.
    WorkloadIdentity { client_id: String },
    /// The fleet's own identity in a managing tenant, delegated the trust's subscription through Azure
    /// Lighthouse: the token is issued by the managing tenant.
    Lighthouse { managing_tenant_id: String },
}

/// The identity the environment describes. For the local cloud at `local` (its token endpoint is the
/// authority): a service principal from `AZURE_CLIENT_ID`/`AZURE_CLIENT_SECRET`, or a default one a
/// cloud accepting any client takes. For Azure: [`Credential::from_vars`]. `tenant` replaces the
/// environment's tenant where the credential has one.
fn environment_credential(
    local: Option<&Url>,
    tenant: Option<&str>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Credential, DeployError> {
    if let Some(authority_host) = local {
        return Ok(Credential::ServicePrincipal {
            tenant_id: tenant
                .map(str::to_owned)
                .or_else(|| var("AZURE_TENANT_ID"))
                .unwrap_or_else(|| crate::cloud::DEFAULT_TENANT.to_owned()),
            client_id: var("AZURE_CLIENT_ID").unwrap_or_else(|| LOCAL_CLIENT_ID.to_owned()),
            client_secret: Secret::new(
                var("AZURE_CLIENT_SECRET").unwrap_or_else(|| "local".to_owned()),
            ),
            authority_host: authority_host.clone(),
        });
    }
    let mut credential = Credential::from_vars(var)?;
    if let Some(t) = tenant {
        match &mut credential {
            Credential::ServicePrincipal { tenant_id, .. }
            | Credential::WorkloadIdentity { tenant_id, .. } => *tenant_id = t.to_owned(),
            _ => {}
        }
    }
    Ok(credential)
}

/// The identity to act as for a fleet trust, its references resolved through `var` (the environment):
/// - `default`: the environment's identity, in the trust's tenant;
/// - `service_principal`: client id and secret from the environment variables it names, in the trust's tenant;
/// - `workload_identity`: its client id in the trust's tenant, the federated token from
///   `AZURE_FEDERATED_TOKEN_FILE`;
/// - `lighthouse`: the environment's identity in the managing tenant, which issues the token (the trust's
///   subscription is delegated to it).
///
/// `local` is the local cloud's URL when it is the target (its token endpoint is then the authority);
/// Azure's authority is `AZURE_AUTHORITY_HOST` or Entra ID's.
pub fn trust_credential(
    trust: &TrustTarget,
    local: Option<&Url>,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Credential, DeployError> {
    use CredentialRef as Reference;
    let ods = &trust.ods;
    let field = |rest: &str| format!("trusts.{ods}.target.credential.{rest}");
    let authority = || -> Result<Url, DeployError> {
        match local {
            Some(url) => Ok(url.clone()),
            None => Ok(crate::arm::auth::authority_host(
                var("AZURE_AUTHORITY_HOST").as_deref(),
            )?),
        }
    };
    match &trust.credential {
        Reference::Default => environment_credential(local, Some(&trust.tenant_id), var),
        Reference::Lighthouse { managing_tenant_id } => {
            environment_credential(local, Some(managing_tenant_id), var)
        }
        Reference::ServicePrincipal {
            client_id_env,
            client_secret_env,
        } => {
            let read = |key: &str, name: &str, what: &str| {
                var(name).ok_or_else(|| DeployError::TrustCredential {
                    ods: ods.clone(),
                    field: field(&format!("service_principal.{key}")),
                    message: format!(
                        "the environment variable {name} is not set or is empty; it must hold {what} of \
                         the service principal trustprint acts as in tenant {}",
                        trust.tenant_id
                    ),
                })
            };
            let client_id = read("client_id_env", client_id_env, "the client id")?;
            let client_secret = read("client_secret_env", client_secret_env, "the client secret")?;
            Ok(Credential::ServicePrincipal {
                tenant_id: trust.tenant_id.clone(),
                client_id,
                client_secret: Secret::new(client_secret),
                authority_host: authority()?,
            })
        }
        Reference::WorkloadIdentity { client_id } => {
            let token_file =
                var("AZURE_FEDERATED_TOKEN_FILE").ok_or_else(|| DeployError::TrustCredential {
                    ods: ods.clone(),
                    field: field("workload_identity"),
                    message: "the environment variable AZURE_FEDERATED_TOKEN_FILE is not set or is \
                              empty; it must name the file holding the federated (OIDC) token, as GitHub \
                              Actions, Azure DevOps and AKS workload identity provide"
                        .into(),
                })?;
            Ok(Credential::WorkloadIdentity {
                tenant_id: trust.tenant_id.clone(),
                client_id: client_id.clone(),
                token_file: PathBuf::from(token_file),
                authority_host: authority()?,
            })
        }
    }
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
    /// The client (application) id trustprint acts as, when its credential names one (a service principal,
    /// a workload identity): the local cloud's principals are known by it.
    pub client_id: Option<String>,
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
/// A fleet trust's connection names the trust and the identity acted as, so that a token from the wrong
/// tenant points at the line of fleet.yaml to fix.
async fn check_access(
    client: &ArmClient,
    subscription_id: &str,
    acting: Option<(&TrustTarget, &Credential)>,
) -> Result<(), DeployError> {
    let context = match acting {
        None => format!("reading subscription {subscription_id}"),
        Some((trust, credential)) => format!(
            "trust {}: reading subscription {subscription_id} as {} (fleet.yaml trusts.{}.target)",
            trust.ods,
            identity_of(credential),
            trust.ods
        ),
    };
    client
        .get_subscription(subscription_id)
        .await
        .map(|_| ())
        .map_err(DeployError::arm(context))
}

/// The extra certificate authority to trust: `--cloud-ca`, else [`CLOUD_CA_ENV`]. A file that cannot be read
/// or holds no certificate fails here, naming where it came from.
fn cloud_ca(
    options: &TargetOptions,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<crate::arm::CaCertificates>, DeployError> {
    // The CLI fills the option from the variable too: name the variable when that is where it came from.
    let (path, origin) = match (&options.cloud_ca, var(CLOUD_CA_ENV)) {
        (Some(p), Some(v)) if p.as_path() == std::path::Path::new(&v) => (p.clone(), CLOUD_CA_ENV),
        (Some(p), _) => (p.clone(), "--cloud-ca"),
        (None, Some(v)) => (PathBuf::from(v), CLOUD_CA_ENV),
        (None, None) => return Ok(None),
    };
    crate::arm::CaCertificates::read(&path)
        .map(Some)
        .map_err(|message| DeployError::Target {
            message: format!(
                "{origin} {}: {message}; it must be the CA file `trustprint cloud serve --tls` wrote \
                 (<state>/ca.pem, .trustprint/cloud/ca.pem by default)",
                path.display()
            ),
        })
}

/// An error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Turns the two failures a new user meets first into what to do about them:
/// - the endpoint's TLS certificate fails verification (a local cloud serving TLS with its own CA): pass
///   `--cloud-ca`;
/// - no credential in the environment and the Azure CLI (the last one tried) failing: every credential
///   tried and why each was passed over, and `--target local` to rehearse without Azure.
///
/// Any other error is returned as it is. For a fleet trust (`fleet`) the words keep the step and identity
/// [`check_access`] named and fit on the trust's one line of the run's report.
fn explain(
    error: DeployError,
    endpoint: &str,
    ca: Option<&crate::arm::CaCertificates>,
    credential: &Credential,
    var: &dyn Fn(&str) -> Option<String>,
    fleet: bool,
) -> DeployError {
    let DeployError::Arm { source, context } = &error else {
        return error;
    };
    let step = if fleet {
        format!("{context}: ")
    } else {
        String::new()
    };
    // (opening the list, between its items, closing it)
    let (open, between, close) = if fleet {
        (" ", "; ", ". ")
    } else {
        ("\n", "\n", "\n")
    };
    let text = chain(source);
    if crate::arm::retry::is_certificate_error(&text) {
        let todo = match ca {
            None => format!(
                "if it is a local cloud started with `trustprint cloud serve --tls`, trust the CA it wrote: \
                 pass --cloud-ca <state>/ca.pem (.trustprint/cloud/ca.pem by default; `cloud serve` prints \
                 the exact flag) or set {CLOUD_CA_ENV}"
            ),
            Some(ca) => format!(
                "{} (--cloud-ca or {CLOUD_CA_ENV}) is not the CA that signed it: pass the ca.pem of the \
                 state folder that `trustprint cloud serve --tls` runs on",
                ca.path().display()
            ),
        };
        return DeployError::Target {
            message: format!(
                "{step}the TLS certificate of {endpoint} could not be verified, so nothing was sent: \
                 {todo} ({text})"
            ),
        };
    }
    if let crate::arm::Error::Credential {
        kind: crate::arm::CredentialKind::AzureCli,
        message,
    } = source
    {
        let mut tried = crate::arm::auth::passed_over(var);
        if *credential == Credential::AzureCli && !tried.is_empty() {
            tried.push((crate::arm::CredentialKind::AzureCli, message.clone()));
            let bullet = if fleet { "" } else { "  - " };
            let lines: Vec<String> = tried
                .iter()
                .map(|(kind, why)| format!("{bullet}{kind}: {why}"))
                .collect();
            return DeployError::Target {
                message: format!(
                    "{step}no Azure credential could get a token; tried, in order:{open}{}{close}Set one \
                     up (docs/deploying.md, \"Authenticating to Azure\"), or rehearse without Azure: \
                     --target local deploys to the local cloud",
                    lines.join(between)
                ),
            };
        }
    }
    error
}

/// Who a credential acts as, in words and without its secret.
fn identity_of(credential: &Credential) -> String {
    match credential {
        Credential::ServicePrincipal {
            tenant_id,
            client_id,
            ..
        } => format!("service principal {client_id} of tenant {tenant_id}"),
        Credential::WorkloadIdentity {
            tenant_id,
            client_id,
            ..
        } => format!("workload identity {client_id} of tenant {tenant_id}"),
        Credential::ManagedIdentity => "the host's managed identity".into(),
        Credential::AzureCli => "the Azure CLI's signed-in account".into(),
        Credential::AccessToken(_) => "a fixed access token".into(),
    }
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
    /// The client for `endpoint` acting as `credential`, made on first use; its tokens come from `tokens`.
    pub fn client(
        &self,
        endpoint: &str,
        credential: Credential,
        options: ArmClientOptions,
        tokens: &crate::arm::TokenPool,
    ) -> Result<ArmClient, crate::arm::Error> {
        let key = format!("{endpoint}|{:?}|{}", options, credential.identity_key());
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let client = ArmClient::with_pool(endpoint, credential, options, tokens)?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

/// The client id a credential acts as, when it names one.
fn client_id_of(credential: &Credential) -> Option<String> {
    match credential {
        Credential::ServicePrincipal { client_id, .. }
        | Credential::WorkloadIdentity { client_id, .. } => Some(client_id.clone()),
        _ => None,
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
        .or_else(|| values.subscription_id().map(str::to_owned));
    let kind = options.kind.unwrap_or(if configured_sub.is_some() {
        TargetKind::Azure
    } else {
        TargetKind::Local
    });
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let ca = cloud_ca(options, &var)?;
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
            let authority_host = Url::parse(&url).map_err(|e| DeployError::Target {
                message: format!("--cloud-url {url}: {e}"),
            })?;
            let credential = match &options.trust {
                Some(trust) => trust_credential(trust, Some(&authority_host), &var)?,
                None => environment_credential(Some(&authority_host), Some(&tenant), &var)?,
            };
            let acting = options.trust.as_ref().map(|t| (t, credential.clone()));
            let client_options = ArmClientOptions {
                extra_roots: ca.clone(),
                ..local_client_options()
            };
            let client =
                clients.client(&url, credential.clone(), client_options, &options.tokens)?;
            let subscription_id = configured_sub.unwrap_or_else(|| local_subscription(ods_code));
            check_access(
                &client,
                &subscription_id,
                acting.as_ref().map(|(t, c)| (*t, c)),
            )
            .await
            .map_err(|e| {
                explain(
                    e,
                    &url,
                    ca.as_ref(),
                    &credential,
                    &var,
                    options.trust.is_some(),
                )
            })?;
            Ok(Connection {
                client,
                client_id: client_id_of(&credential),
                target: TargetRef {
                    kind,
                    subscription_id,
                },
                tenant_id: options
                    .tenant
                    .clone()
                    .or_else(|| values.tenant_id().map(str::to_owned))
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
                .or_else(|| values.tenant_id().map(str::to_owned));
            let credential = match &options.trust {
                Some(trust) => trust_credential(trust, None, &var)?,
                None => environment_credential(None, tenant.as_deref(), &var)?,
            };
            let acting = options.trust.as_ref().map(|t| (t, credential.clone()));
            let endpoint = var("TRUSTPRINT_ARM_ENDPOINT").unwrap_or_else(|| AZURE_ENDPOINT.into());
            let client = clients.client(
                &endpoint,
                credential.clone(),
                ArmClientOptions {
                    extra_roots: ca.clone(),
                    ..ArmClientOptions::default()
                },
                &options.tokens,
            )?;
            check_access(
                &client,
                &subscription_id,
                acting.as_ref().map(|(t, c)| (*t, c)),
            )
            .await
            .map_err(|e| {
                explain(
                    e,
                    &endpoint,
                    ca.as_ref(),
                    &credential,
                    &var,
                    options.trust.is_some(),
                )
            })?;
            Ok(Connection {
                client,
                client_id: client_id_of(&credential),
                target: TargetRef {
                    kind,
                    subscription_id,
                },
                tenant_id: tenant
                    .unwrap_or_else(|| crate::armexpr::PLACEHOLDER_SUBSCRIPTION.to_owned()),
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

    use super::CredentialRef as Reference;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned().filter(|v| !v.is_empty())
    }

    fn trust(credential: Reference) -> TrustTarget {
        TrustTarget {
            ods: "RBT".into(),
            tenant_id: "tenant-a".into(),
            credential,
        }
    }

    fn sp() -> Reference {
        Reference::ServicePrincipal {
            client_id_env: "RBT_CLIENT_ID".into(),
            client_secret_env: "RBT_CLIENT_SECRET".into(),
        }
    }

    #[test]
    fn a_service_principal_comes_from_the_named_variables_in_the_trusts_tenant() {
        let var = vars(&[
            ("RBT_CLIENT_ID", "app-a"),
            ("RBT_CLIENT_SECRET", "hunter2"),
            ("AZURE_CLIENT_ID", "someone-else"),
        ]);
        let c = trust_credential(&trust(sp()), None, &var).unwrap();
        assert_eq!(
            c,
            Credential::ServicePrincipal {
                tenant_id: "tenant-a".into(),
                client_id: "app-a".into(),
                client_secret: Secret::new("hunter2"),
                authority_host: Url::parse(crate::arm::auth::PUBLIC_AUTHORITY_HOST).unwrap(),
            }
        );
        // The local cloud is its own authority.
        let local = Url::parse("http://127.0.0.1:4010").unwrap();
        let Credential::ServicePrincipal { authority_host, .. } =
            trust_credential(&trust(sp()), Some(&local), &var).unwrap()
        else {
            panic!()
        };
        assert_eq!(authority_host, local);
    }

    #[test]
    fn a_missing_variable_names_the_trust_the_field_and_the_variable_and_never_the_secret() {
        let e = trust_credential(
            &trust(sp()),
            None,
            &vars(&[("RBT_CLIENT_ID", "app-a"), ("RBT_CLIENT_SECRET", "")]),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "trust RBT: fleet.yaml trusts.RBT.target.credential.service_principal.client_secret_env: the \
             environment variable RBT_CLIENT_SECRET is not set or is empty; it must hold the client secret \
             of the service principal trustprint acts as in tenant tenant-a"
        );
        let e = trust_credential(
            &trust(sp()),
            None,
            &vars(&[("RBT_CLIENT_SECRET", "hunter2")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("trust RBT: fleet.yaml trusts.RBT.target.credential.service_principal.client_id_env: the environment variable RBT_CLIENT_ID is not set"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn workload_identity_takes_the_token_file_from_the_environment() {
        let wi = Reference::WorkloadIdentity {
            client_id: "app-wi".into(),
        };
        let c = trust_credential(
            &trust(wi.clone()),
            None,
            &vars(&[("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token")]),
        )
        .unwrap();
        assert_eq!(
            c,
            Credential::WorkloadIdentity {
                tenant_id: "tenant-a".into(),
                client_id: "app-wi".into(),
                token_file: PathBuf::from("/var/run/token"),
                authority_host: Url::parse(crate::arm::auth::PUBLIC_AUTHORITY_HOST).unwrap(),
            }
        );
        let e = trust_credential(&trust(wi), None, &vars(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("trust RBT: fleet.yaml trusts.RBT.target.credential.workload_identity: the environment variable AZURE_FEDERATED_TOKEN_FILE is not set"),
            "{e}"
        );
    }

    #[test]
    fn default_and_lighthouse_use_the_environments_identity_in_the_trusts_or_the_managing_tenant() {
        let env = vars(&[
            ("AZURE_TENANT_ID", "tenant-of-the-runner"),
            ("AZURE_CLIENT_ID", "fleet-ops"),
            ("AZURE_CLIENT_SECRET", "s"),
        ]);
        let tenant_of = |c: Credential| match c {
            Credential::ServicePrincipal {
                tenant_id,
                client_id,
                ..
            } => (tenant_id, client_id),
            other => panic!("{other:?}"),
        };
        let c = trust_credential(&trust(Reference::Default), None, &env).unwrap();
        assert_eq!(tenant_of(c), ("tenant-a".into(), "fleet-ops".into()));
        let lighthouse = Reference::Lighthouse {
            managing_tenant_id: "tenant-m".into(),
        };
        let c = trust_credential(&trust(lighthouse.clone()), None, &env).unwrap();
        assert_eq!(tenant_of(c), ("tenant-m".into(), "fleet-ops".into()));
        // On the local cloud without a service principal in the environment: the default local identity.
        let local = Url::parse("http://127.0.0.1:4010").unwrap();
        let c = trust_credential(&trust(lighthouse), Some(&local), &vars(&[])).unwrap();
        assert_eq!(tenant_of(c), ("tenant-m".into(), LOCAL_CLIENT_ID.into()));
    }

    #[test]
    fn a_failing_azure_cli_with_nothing_else_configured_lists_every_credential_tried() {
        let error = || DeployError::Arm {
            context: "trust RBT: reading subscription s as the Azure CLI's signed-in account"
                .into(),
            source: crate::arm::Error::Credential {
                kind: crate::arm::CredentialKind::AzureCli,
                message: "Azure CLI not installed".into(),
            },
        };
        let alone = explain(
            error(),
            AZURE_ENDPOINT,
            None,
            &Credential::AzureCli,
            &vars(&[]),
            false,
        )
        .to_string();
        assert!(
            alone.starts_with(
                "target: no Azure credential could get a token; tried, in order:\n  - workload identity \
                 (federated token): AZURE_FEDERATED_TOKEN_FILE is not set"
            ),
            "{alone}"
        );
        assert!(
            alone.contains("\n  - Azure CLI: Azure CLI not installed\nSet one up"),
            "{alone}"
        );
        // A fleet trust's line keeps the step and identity, on one line.
        let fleet = explain(
            error(),
            AZURE_ENDPOINT,
            None,
            &Credential::AzureCli,
            &vars(&[]),
            true,
        )
        .to_string();
        assert!(!fleet.contains('\n'), "{fleet}");
        assert!(
            fleet.starts_with("target: trust RBT: reading subscription s as the Azure CLI's signed-in account: no Azure credential could get a token; tried, in order: workload identity"),
            "{fleet}"
        );
        assert!(
            fleet.contains("; Azure CLI: Azure CLI not installed. Set one up"),
            "{fleet}"
        );
        // With a service principal configured, its own error stands.
        let configured = explain(
            error(),
            AZURE_ENDPOINT,
            None,
            &Credential::AzureCli,
            &vars(&[("AZURE_CLIENT_SECRET", "s")]),
            false,
        );
        assert!(matches!(configured, DeployError::Arm { .. }));
    }

    #[tokio::test]
    async fn connections_acting_as_one_identity_share_its_token() {
        let server = crate::cloud::Server::start(crate::cloud::Config::default())
            .await
            .unwrap();
        let url = Url::parse(server.url()).unwrap();
        let pool = TokenPool::default();
        let env = vars(&[("RBT_CLIENT_ID", "app-a"), ("RBT_CLIENT_SECRET", "s")]);
        let other = TrustTarget {
            tenant_id: "tenant-b".into(),
            ..trust(sp())
        };
        for (t, sub) in [
            (trust(sp()), "aaaaaaaa-0000-4000-8000-000000000001"),
            (trust(sp()), "aaaaaaaa-0000-4000-8000-000000000002"),
            (other, "bbbbbbbb-0000-4000-8000-000000000001"),
        ] {
            let credential = trust_credential(&t, Some(&url), &env).unwrap();
            let client =
                ArmClient::with_pool(server.url(), credential, local_client_options(), &pool)
                    .unwrap();
            check_access(&client, sub, None).await.unwrap();
        }
        assert_eq!(pool.len(), 2);
        assert_eq!(
            server.tokens_issued().into_iter().collect::<Vec<_>>(),
            vec![("tenant-a".to_string(), 1), ("tenant-b".to_string(), 1)]
        );
        server.shutdown().await;
    }
}
