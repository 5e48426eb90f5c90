//! Credentials: which identity trustprint acts as, built from configuration or the environment, and a
//! token cache in front of it.
//!
//! azure_identity 0.21 fetches the tokens (client credentials, federated token exchange, IMDS, `az`), and
//! caches them until 20 s before expiry. That margin is too thin for a request that then waits behind a
//! 429 for a minute, so the client's token cache refreshes 5 minutes before expiry (clearing the inner
//! cache so the refresh is real), makes concurrent callers share one fetch, and re-reads the federated
//! token file on every refresh (GitHub Actions and Kubernetes rotate it; azure_identity reads it once).
//!
//! Token requests go through [`RetryingHttp`]: an identity endpoint answering 429 or 5xx (Entra ID does under
//! load, IMDS does while a VM starts) or dropping the connection is asked again, as long as its
//! `Retry-After` says, with the same limits as ARM requests. A refusal (400, 401: a wrong secret, an unknown
//! client) is not retried.
//!
//! Secrets (client secret, federated token, access tokens) are held in [`Secret`], whose `Debug` is
//! redacted; they never appear in errors or logs.

use super::error::{CredentialKind, Error, Result};
use super::retry::{self, RetryOptions};
use azure_core::auth::{AccessToken, TokenCredential};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Mutex;
use url::Url;

/// The public cloud's Entra ID authority.
pub const PUBLIC_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// A secret string. `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The identity to act as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A service principal with a client secret (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_CLIENT_SECRET`).
    ServicePrincipal {
        /// Entra ID tenant.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// The client secret.
        client_secret: Secret,
        /// Authority host (`AZURE_AUTHORITY_HOST`; http is allowed for the local cloud).
        authority_host: Url,
    },
    /// Workload identity federation: an OIDC token from the CI system (GitHub Actions, Azure DevOps) or
    /// Kubernetes, in a file, exchanged for an access token (`AZURE_FEDERATED_TOKEN_FILE`).
    WorkloadIdentity {
        /// Entra ID tenant.
        tenant_id: String,
        /// Application (client) id of the federated identity.
        client_id: String,
        /// File holding the federated token; re-read at each refresh.
        token_file: PathBuf,
        /// Authority host.
        authority_host: Url,
    },
    /// The system-assigned managed identity of the Azure host (VM, App Service, Container Apps).
    ManagedIdentity,
    /// The user logged in with `az login`.
    AzureCli,
    /// A fixed bearer token (the local cloud, tests). It is not refreshed.
    AccessToken(Secret),
}

impl Credential {
    /// The credential the environment describes, in this order: a federated token file
    /// (`AZURE_FEDERATED_TOKEN_FILE` with `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`), a client secret
    /// (`AZURE_CLIENT_SECRET` with the same two), a managed identity (`IDENTITY_ENDPOINT` or `MSI_ENDPOINT`
    /// set by the host), and otherwise the Azure CLI. `AZURE_AUTHORITY_HOST` overrides the authority.
    pub fn from_env() -> Result<Credential> {
        Self::from_vars(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// As [`Credential::from_env`], reading variables through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Credential> {
        let authority_host = authority_host(var("AZURE_AUTHORITY_HOST").as_deref())?;
        let ids = || -> Result<(String, String)> {
            let missing = |name: &str| {
                Error::CredentialConfig {
                message: format!(
                    "{name} is not set; it is needed with AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE"
                ),
            }
            };
            Ok((
                var("AZURE_TENANT_ID").ok_or_else(|| missing("AZURE_TENANT_ID"))?,
                var("AZURE_CLIENT_ID").ok_or_else(|| missing("AZURE_CLIENT_ID"))?,
            ))
        };
        if let Some(file) = var("AZURE_FEDERATED_TOKEN_FILE") {
            let (tenant_id, client_id) = ids()?;
            return Ok(Credential::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file: PathBuf::from(file),
                authority_host,
            });
        }
        if let Some(secret) = var("AZURE_CLIENT_SECRET") {
            let (tenant_id, client_id) = ids()?;
            return Ok(Credential::ServicePrincipal {
                tenant_id,
                client_id,
                client_secret: Secret::new(secret),
                authority_host,
            });
        }
        if var("IDENTITY_ENDPOINT").is_some() || var("MSI_ENDPOINT").is_some() {
            return Ok(Credential::ManagedIdentity);
        }
        Ok(Credential::AzureCli)
    }

    /// Which kind of credential this is.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Credential::ServicePrincipal { .. } => CredentialKind::ServicePrincipal,
            Credential::WorkloadIdentity { .. } => CredentialKind::WorkloadIdentity,
            Credential::ManagedIdentity => CredentialKind::ManagedIdentity,
            Credential::AzureCli => CredentialKind::AzureCli,
            Credential::AccessToken(_) => CredentialKind::AccessToken,
        }
    }

    /// Who this credential acts as, for sharing one client between uses of the same identity: equal keys,
    /// same identity. Secrets enter it only as a SHA-256 digest, so the key can be kept and compared without
    /// holding a second copy of them.
    pub fn identity_key(&self) -> String {
        use sha2::Digest;
        let digest = |s: &Secret| hex::encode(sha2::Sha256::digest(s.expose().as_bytes()));
        match self {
            Credential::ServicePrincipal {
                tenant_id,
                client_id,
                client_secret,
                authority_host,
            } => format!(
                "sp|{authority_host}|{tenant_id}|{client_id}|{}",
                digest(client_secret)
            ),
            Credential::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file,
                authority_host,
            } => format!(
                "wi|{authority_host}|{tenant_id}|{client_id}|{}",
                token_file.display()
            ),
            Credential::ManagedIdentity => "mi".into(),
            Credential::AzureCli => "cli".into(),
            Credential::AccessToken(t) => format!("token|{}", digest(t)),
        }
    }
}

/// Why the environment's credentials before the Azure CLI were passed over, in the order
/// [`Credential::from_vars`] tries them: for an error that lists every credential tried when the Azure CLI,
/// the last, fails too. Empty when one of them is configured (it was used, not passed over).
pub fn passed_over(var: impl Fn(&str) -> Option<String>) -> Vec<(CredentialKind, String)> {
    if var("AZURE_FEDERATED_TOKEN_FILE").is_some()
        || var("AZURE_CLIENT_SECRET").is_some()
        || var("IDENTITY_ENDPOINT").is_some()
        || var("MSI_ENDPOINT").is_some()
    {
        return Vec::new();
    }
    vec![
        (
            CredentialKind::WorkloadIdentity,
            "AZURE_FEDERATED_TOKEN_FILE is not set (with AZURE_TENANT_ID and AZURE_CLIENT_ID: the OIDC \
             token of GitHub Actions, Azure DevOps or AKS)"
                .into(),
        ),
        (
            CredentialKind::ServicePrincipal,
            "AZURE_CLIENT_SECRET is not set (with AZURE_TENANT_ID and AZURE_CLIENT_ID)".into(),
        ),
        (
            CredentialKind::ManagedIdentity,
            "neither IDENTITY_ENDPOINT nor MSI_ENDPOINT is set (not running on an Azure host with a \
             managed identity)"
                .into(),
        ),
    ]
}

/// Parses an authority host; `None` gives the public cloud's.
pub fn authority_host(value: Option<&str>) -> Result<Url> {
    let v = value.unwrap_or(PUBLIC_AUTHORITY_HOST);
    let url = Url::parse(v).map_err(|e| Error::CredentialConfig {
        message: format!("AZURE_AUTHORITY_HOST {v:?} is not a URL: {e}"),
    })?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(Error::CredentialConfig {
            message: format!("AZURE_AUTHORITY_HOST {v:?} must be an http(s) URL"),
        });
    }
    Ok(url)
}

/// The HTTP transport of the identity endpoints, retrying throttling (429), server errors (5xx) and broken
/// connections as [`retry::next_delay`] decides. Asking for a token again is harmless, so every request is
/// retried.
#[derive(Debug)]
pub(crate) struct RetryingHttp {
    inner: Arc<dyn azure_core::HttpClient>,
    options: RetryOptions,
}

impl RetryingHttp {
    pub(crate) fn new(inner: Arc<dyn azure_core::HttpClient>, options: RetryOptions) -> Self {
        RetryingHttp { inner, options }
    }
}

#[async_trait::async_trait]
impl azure_core::HttpClient for RetryingHttp {
    async fn execute_request(
        &self,
        request: &azure_core::Request,
    ) -> azure_core::Result<azure_core::Response> {
        let start = std::time::Instant::now();
        let mut retries = 0u32;
        loop {
            let outcome = self.inner.execute_request(request).await;
            let (server_wait, what) = match &outcome {
                Ok(r) if retry::is_retryable_status(u16::from(r.status())) => {
                    let wait = retry::retry_after(
                        |name| {
                            r.headers()
                                .iter()
                                .find(|(k, _)| k.as_str().eq_ignore_ascii_case(name))
                                .map(|(_, v)| v.as_str())
                        },
                        std::time::SystemTime::now(),
                    );
                    (wait, format!("HTTP {}", u16::from(r.status())))
                }
                // A certificate that fails verification fails the same way every time: say so at once.
                Err(e)
                    if matches!(e.kind(), azure_core::error::ErrorKind::Io)
                        && !retry::is_certificate_error(&describe(e)) =>
                {
                    (None, "connection failed".to_owned())
                }
                _ => return outcome,
            };
            retries += 1;
            let Some(delay) = retry::next_delay(
                &self.options,
                retries,
                start.elapsed(),
                server_wait,
                rand::random::<f64>(),
            ) else {
                return outcome;
            };
            tracing::debug!(
                url = %request.url().as_str().split('?').next().unwrap_or_default(),
                %what,
                retry = retries,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "the identity endpoint failed; asking again"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// Token caches shared by the clients built through it ([`super::ArmClient::with_pool`]): one cache per
/// identity, so that a fleet run over 200 trusts in 5 tenants asks each tenant for a token once, not each
/// trust. Identities are compared whole (tenant, client id, secret or token file, authority), so two trusts
/// naming different secrets for one client never share a token. Cheap to clone; clones share the caches.
#[derive(Clone, Default)]
pub struct TokenPool {
    caches: Arc<std::sync::Mutex<Vec<PooledCache>>>,
}

/// A pooled cache and the identity it holds tokens of.
type PooledCache = (Credential, Arc<TokenCache>);

impl fmt::Debug for TokenPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.caches.lock().map(|c| c.len()).unwrap_or_default();
        f.debug_struct("TokenPool").field("identities", &n).finish()
    }
}

impl TokenPool {
    /// The cache for `credential`, created on first use.
    ///
    /// The pool outlives the async runtime of any one client (each trust of a fleet run may run on its
    /// own), so its caches fetch over an HTTP client that keeps no idle connection: a pooled connection
    /// belongs to the runtime that opened it and dies with it. Token requests are rare enough that a
    /// fresh connection each costs nothing.
    pub(crate) fn cache(
        &self,
        credential: Credential,
        retry: RetryOptions,
        extra_roots: Option<&super::client::CaCertificates>,
    ) -> Result<Arc<TokenCache>> {
        let mut caches = self
            .caches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, cache)) = caches.iter().find(|(c, _)| *c == credential) {
            return Ok(cache.clone());
        }
        let mut builder = reqwest::Client::builder().pool_max_idle_per_host(0);
        if let Some(roots) = extra_roots {
            builder = roots.trust(builder);
        }
        let http = builder.build().map_err(|e| Error::Credential {
            kind: credential.kind(),
            message: format!("cannot build the HTTP client for the identity endpoint: {e}"),
        })?;
        let cache = Arc::new(TokenCache::new(credential.clone(), Arc::new(http), retry)?);
        caches.push((credential, cache.clone()));
        Ok(cache)
    }

    /// How many identities the pool holds a cache for.
    pub fn len(&self) -> usize {
        self.caches.lock().map(|c| c.len()).unwrap_or_default()
    }

    /// Whether the pool holds no cache yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Refresh this long before a token expires.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Tokens for one credential, cached and refreshed before expiry. Implements azure_core's
/// `TokenCredential` so that the SDK's client uses the same cache as our own requests.
pub(crate) struct TokenCache {
    credential: Credential,
    http: Arc<dyn azure_core::HttpClient>,
    inner: Option<Arc<dyn TokenCredential>>,
    cached: Mutex<Option<AccessToken>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache for `credential`, fetching over `http`; token requests are retried as `retry` says.
    pub(crate) fn new(
        credential: Credential,
        http: Arc<dyn azure_core::HttpClient>,
        retry: RetryOptions,
    ) -> Result<Self> {
        let http: Arc<dyn azure_core::HttpClient> = Arc::new(RetryingHttp::new(http, retry));
        let inner: Option<Arc<dyn TokenCredential>> = match &credential {
            Credential::ServicePrincipal {
                tenant_id,
                client_id,
                client_secret,
                authority_host,
            } => Some(Arc::new(azure_identity::ClientSecretCredential::new(
                http.clone(),
                authority_host.clone(),
                tenant_id.clone(),
                client_id.clone(),
                client_secret.expose().to_owned(),
            ))),
            Credential::ManagedIdentity => {
                let options = azure_identity::TokenCredentialOptions::from(http.clone());
                if std::env::var_os("IDENTITY_ENDPOINT").is_some() {
                    let c = azure_identity::AppServiceManagedIdentityCredential::create(options)
                        .map_err(|e| Error::Credential {
                            kind: CredentialKind::ManagedIdentity,
                            message: e.to_string(),
                        })?;
                    Some(Arc::new(c))
                } else {
                    Some(Arc::new(
                        azure_identity::VirtualMachineManagedIdentityCredential::new(options),
                    ))
                }
            }
            Credential::AzureCli => Some(Arc::new(azure_identity::AzureCliCredential::new())),
            // Built per refresh, from the file's current content.
            Credential::WorkloadIdentity { .. } => None,
            Credential::AccessToken(_) => None,
        };
        Ok(TokenCache {
            credential,
            http,
            inner,
            cached: Mutex::new(None),
        })
    }

    /// A valid token for `scopes`, from the cache when it has more than [`REFRESH_MARGIN`] left.
    pub(crate) async fn token(&self, scopes: &[&str]) -> Result<AccessToken> {
        // Holding the lock across the fetch makes concurrent callers wait for one refresh instead of
        // each asking the identity provider.
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref() {
            if t.expires_on - OffsetDateTime::now_utc() > REFRESH_MARGIN {
                return Ok(t.clone());
            }
        }
        let fresh = self.fetch(scopes).await?;
        tracing::debug!(
            credential = %self.credential.kind(),
            expires_on = %fresh.expires_on,
            "fetched an Azure access token"
        );
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// Drops the cached token, so that the next call fetches a fresh one.
    pub(crate) async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self, scopes: &[&str]) -> Result<AccessToken> {
        let kind = self.credential.kind();
        let fail = |e: azure_core::Error| Error::Credential {
            kind,
            message: describe(&e),
        };
        match &self.credential {
            Credential::AccessToken(t) => Ok(AccessToken::new(
                t.expose().to_owned(),
                // Unknown expiry: treat as long-lived; ARM will say 401 when it is not.
                OffsetDateTime::now_utc() + Duration::from_secs(24 * 60 * 60),
            )),
            Credential::WorkloadIdentity {
                tenant_id,
                client_id,
                token_file,
                authority_host,
            } => {
                let federated =
                    tokio::fs::read_to_string(token_file)
                        .await
                        .map_err(|e| Error::Credential {
                            kind,
                            message: format!(
                                "cannot read the federated token file {}: {e}",
                                token_file.display()
                            ),
                        })?;
                let c = azure_identity::WorkloadIdentityCredential::new(
                    self.http.clone(),
                    authority_host.clone(),
                    tenant_id.clone(),
                    client_id.clone(),
                    federated.trim().to_owned(),
                );
                c.get_token(scopes).await.map_err(fail)
            }
            _ => {
                let Some(inner) = &self.inner else {
                    return Err(Error::Credential {
                        kind,
                        message: "credential not initialised".into(),
                    });
                };
                // The inner cache would hand back the token we are trying to replace.
                inner.clear_cache().await.map_err(fail)?;
                inner.get_token(scopes).await.map_err(fail)
            }
        }
    }
}

/// The error chain of an azure_core error, on one line. azure_identity's messages carry the identity
/// provider's answer (AADSTS codes) but never the secret it sent.
fn describe(e: &azure_core::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    // oauth2's "Server returned error response" hides the identity provider's answer (the AADSTS code
    // and description) in its Debug form only.
    if parts
        .iter()
        .any(|p| p.contains("Server returned error response"))
    {
        let mut innermost: &dyn std::error::Error = e;
        while let Some(s) = innermost.source() {
            innermost = s;
        }
        let debug = format!("{innermost:?}");
        let re =
            regex::Regex::new(r#"error: (\w+), error_description: Some\("((?:[^"\\]|\\.)*)"\)"#);
        match re
            .ok()
            .and_then(|re| re.captures(&debug).map(|c| format!("{}: {}", &c[1], &c[2])))
        {
            Some(answer) => parts.push(answer),
            None => parts.push(debug),
        }
    }
    parts.join(": ")
}

#[async_trait::async_trait]
impl TokenCredential for TokenCache {
    async fn get_token(&self, scopes: &[&str]) -> azure_core::Result<AccessToken> {
        self.token(scopes).await.map_err(|e| {
            azure_core::Error::full(azure_core::error::ErrorKind::Credential, e, "token")
        })
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        *self.cached.lock().await = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn service_principal_from_env_with_local_authority() {
        let c = Credential::from_vars(vars(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "hunter2"),
            ("AZURE_AUTHORITY_HOST", "http://127.0.0.1:9000"),
        ]))
        .unwrap();
        let Credential::ServicePrincipal { authority_host, .. } = &c else {
            panic!("{c:?}")
        };
        assert_eq!(authority_host.as_str(), "http://127.0.0.1:9000/");
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn federated_token_file_wins_over_a_secret() {
        let c = Credential::from_vars(vars(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
        ]))
        .unwrap();
        assert_eq!(c.kind(), CredentialKind::WorkloadIdentity);
    }

    #[test]
    fn missing_tenant_is_named() {
        let e = Credential::from_vars(vars(&[("AZURE_CLIENT_SECRET", "s")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Azure credential configuration: AZURE_TENANT_ID is not set; it is needed with AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE"
        );
    }

    #[test]
    fn the_credentials_passed_over_for_the_azure_cli_say_why() {
        let tried = passed_over(vars(&[("AZURE_TENANT_ID", "t")]));
        let kinds: Vec<CredentialKind> = tried.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [
                CredentialKind::WorkloadIdentity,
                CredentialKind::ServicePrincipal,
                CredentialKind::ManagedIdentity
            ]
        );
        assert!(tried[1].1.starts_with("AZURE_CLIENT_SECRET is not set"));
        // A configured credential is used, not passed over.
        assert!(passed_over(vars(&[("AZURE_CLIENT_SECRET", "s")])).is_empty());
        assert!(passed_over(vars(&[("MSI_ENDPOINT", "http://x")])).is_empty());
    }

    #[test]
    fn managed_identity_then_cli() {
        let c = Credential::from_vars(vars(&[("IDENTITY_ENDPOINT", "http://x")])).unwrap();
        assert_eq!(c, Credential::ManagedIdentity);
        assert_eq!(
            Credential::from_vars(vars(&[])).unwrap(),
            Credential::AzureCli
        );
    }

    /// Status, headers (lower-case names) and body of one scripted answer.
    type Answer = (u16, Vec<(&'static str, &'static str)>, &'static str);

    /// An identity endpoint that answers from a script, recording when each request came.
    #[derive(Debug)]
    struct Scripted {
        answers: std::sync::Mutex<Vec<Answer>>,
        calls: std::sync::Mutex<Vec<std::time::Instant>>,
    }

    #[async_trait::async_trait]
    impl azure_core::HttpClient for Scripted {
        async fn execute_request(
            &self,
            _request: &azure_core::Request,
        ) -> azure_core::Result<azure_core::Response> {
            self.calls.lock().unwrap().push(std::time::Instant::now());
            let (status, headers, body) = self.answers.lock().unwrap().remove(0);
            let mut h = azure_core::headers::Headers::new();
            for (k, v) in headers {
                h.insert(k, v);
            }
            h.insert("content-type", "application/json");
            Ok(azure_core::Response::new(
                azure_core::StatusCode::try_from(status).unwrap(),
                h,
                Box::pin(azure_core::BytesStream::new(body)),
            ))
        }
    }

    fn quick_retry() -> RetryOptions {
        RetryOptions {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            ..RetryOptions::default()
        }
    }

    fn service_principal() -> Credential {
        Credential::ServicePrincipal {
            tenant_id: "t".into(),
            client_id: "c".into(),
            client_secret: Secret::new("s"),
            authority_host: Url::parse("http://127.0.0.1:9/").unwrap(),
        }
    }

    const TOKEN: &str =
        r#"{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"tok-1"}"#;

    #[tokio::test]
    async fn token_requests_are_retried_after_5xx_and_429_honouring_retry_after() {
        let endpoint = Arc::new(Scripted {
            answers: std::sync::Mutex::new(vec![
                (503, vec![], r#"{"error":"temporarily_unavailable"}"#),
                (429, vec![("retry-after", "1")], r#"{"error":"throttled"}"#),
                (200, vec![], TOKEN),
            ]),
            calls: std::sync::Mutex::new(Vec::new()),
        });
        let cache = TokenCache::new(service_principal(), endpoint.clone(), quick_retry()).unwrap();
        let token = cache
            .token(&["https://management.azure.com/.default"])
            .await
            .unwrap();
        assert_eq!(token.token.secret(), "tok-1");
        let calls = endpoint.calls.lock().unwrap();
        assert_eq!(calls.len(), 3);
        // The 429 asked for a second; the backoff after the 503 is at most 20 ms.
        assert!(
            calls[2] - calls[1] >= Duration::from_secs(1),
            "{:?}",
            calls[2] - calls[1]
        );
    }

    #[tokio::test]
    async fn a_refusal_by_the_identity_endpoint_is_not_retried() {
        let endpoint = Arc::new(Scripted {
            answers: std::sync::Mutex::new(vec![
                (
                    401,
                    vec![],
                    r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#,
                ),
                (200, vec![], TOKEN),
            ]),
            calls: std::sync::Mutex::new(Vec::new()),
        });
        let cache = TokenCache::new(service_principal(), endpoint.clone(), quick_retry()).unwrap();
        let e = cache
            .token(&["https://management.azure.com/.default"])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("AADSTS7000215"), "{e}");
        assert_eq!(endpoint.calls.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn retries_stop_at_the_attempt_limit() {
        let endpoint = Arc::new(Scripted {
            answers: std::sync::Mutex::new(vec![(500, vec![], "{}"); 3]),
            calls: std::sync::Mutex::new(Vec::new()),
        });
        let options = RetryOptions {
            max_attempts: 3,
            ..quick_retry()
        };
        let cache = TokenCache::new(service_principal(), endpoint.clone(), options).unwrap();
        assert!(cache.token(&["x/.default"]).await.is_err());
        assert_eq!(endpoint.calls.lock().unwrap().len(), 3);
    }
}
