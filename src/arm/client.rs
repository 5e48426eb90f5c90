//! The async client: sends (through the SDK's request builders where it has them, over raw HTTP
//! otherwise), retries throttling and server errors, follows long-running operations with our own poller,
//! and maps ARM's error bodies to [`Error`].
//!
//! Every SDK request builder is `.send()` once per attempt and its long-running future is never awaited:
//! those futures re-send the PUT in a loop. azure_core's own retry policy is off (`RetryOptions::none`);
//! ours has no 60 s cap and sees every response. azure_core turns any non-2xx response into an opaque error
//! that drops ARM's error details and the `Retry-After` header, so a per-retry policy
//! ([`KeepErrorResponses`]) hands error responses back as responses; we read the real status from a
//! header it adds.

use super::auth::{Credential, TokenCache, TokenPool};
use super::error::{Error, ErrorDetail, Result};
use super::models::{
    ActionOnUnmanage, ActivityEvent, Deployment, DeploymentOperation, DeploymentRequest,
    DeploymentScope, DeploymentStack, Page, ProvisioningState, ResourceGroup, StackRequest,
    StackWhatIf, Subscription, Validation, WhatIfResult,
};
use super::poll::{self, Monitor, PollOptions, PollState};
use super::request::{self, ArmRequest, Method};
use super::retry::{self, RetryOptions};
use azure_core::auth::TokenCredential;
use azure_mgmt_resources::package_resources_2021_04 as sdk;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use url::Url;

/// The token audience for Azure Resource Manager.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// How the client behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmClientOptions {
    /// Retry of throttling and server errors.
    pub retry: RetryOptions,
    /// Polling of long-running operations.
    pub poll: PollOptions,
    /// Limit for one HTTP exchange (not for an operation, which polls).
    pub request_timeout: Duration,
    /// The token scope (audience). The local cloud accepts the public one.
    pub scope: String,
    /// Certificate authorities trusted besides the system's (`--cloud-ca`: a TLS local cloud's own CA), for
    /// both ARM and the identity endpoint.
    pub extra_roots: Option<CaCertificates>,
}

/// PEM certificates of extra certificate authorities, read once from a file. `Debug` shows the file only.
#[derive(Clone, PartialEq, Eq)]
pub struct CaCertificates {
    path: std::path::PathBuf,
    pem: Arc<[u8]>,
}

impl std::fmt::Debug for CaCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CaCertificates")
            .field(&self.path.display())
            .finish()
    }
}

impl CaCertificates {
    /// Reads `path`, which must hold at least one PEM certificate. The error says what is wrong with the
    /// file, without naming the option that gave it (the caller does).
    pub fn read(path: &std::path::Path) -> std::result::Result<Self, String> {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{} is not a PEM certificate file: {e}", path.display()))?;
        if certificates.is_empty() {
            return Err(format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ));
        }
        Ok(CaCertificates {
            path: path.to_path_buf(),
            pem: pem.into(),
        })
    }

    /// The file the certificates came from.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// `builder` trusting these certificates too.
    pub(crate) fn trust(&self, mut builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        // Checked by `read`; a failure here would only drop certificates already known to parse.
        for c in reqwest::Certificate::from_pem_bundle(&self.pem).unwrap_or_default() {
            builder = builder.add_root_certificate(c);
        }
        builder
    }
}

impl Default for ArmClientOptions {
    fn default() -> Self {
        ArmClientOptions {
            retry: RetryOptions::default(),
            poll: PollOptions::default(),
            request_timeout: Duration::from_secs(100),
            scope: ARM_SCOPE.to_owned(),
            extra_roots: None,
        }
    }
}

/// An HTTP response, whole.
#[derive(Debug, Clone)]
pub(crate) struct RawResponse {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// An earlier attempt of this request may have reached ARM (5xx or a broken connection) before this
    /// response: a 409 now may be our own first attempt still running.
    pub after_ambiguous_attempt: bool,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The most pages one list reads: far beyond any real listing (ARM pages hold up to 1,000 items), it stops a
/// service that pages forever.
const MAX_PAGES: usize = 10_000;

const ORIGINAL_STATUS: &str = "x-trustprint-original-status";

/// Passes error responses up azure_core's pipeline as responses, the real status in a header.
#[derive(Debug)]
struct KeepErrorResponses;

#[async_trait::async_trait]
impl azure_core::Policy for KeepErrorResponses {
    async fn send(
        &self,
        ctx: &azure_core::Context,
        request: &mut azure_core::Request,
        next: &[Arc<dyn azure_core::Policy>],
    ) -> azure_core::PolicyResult {
        let rsp = next[0].send(ctx, request, &next[1..]).await?;
        if rsp.status().is_success() {
            return Ok(rsp);
        }
        let (status, mut headers, body) = rsp.deconstruct();
        let bytes = body.collect().await?;
        headers.insert(ORIGINAL_STATUS, u16::from(status).to_string());
        Ok(azure_core::Response::new(
            azure_core::StatusCode::Ok,
            headers,
            Box::pin(azure_core::BytesStream::new(bytes)),
        ))
    }
}

/// A deployment ARM has accepted and that is (probably) still running: returned by
/// [`ArmClient::begin_deployment`], consumed by [`ArmClient::finish_deployment`].
#[derive(Debug, Clone)]
pub struct DeploymentStarted {
    path: String,
    operation: String,
    /// What the PUT returned; `None` when following an earlier attempt.
    first: Option<Deployment>,
    monitor: Monitor,
}

impl DeploymentStarted {
    /// The deployment's ARM path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The deployment as the PUT returned it (state `Accepted` or `Running`, correlation id), unless the
    /// handle follows an earlier attempt.
    pub fn initial(&self) -> Option<&Deployment> {
        self.first.as_ref()
    }
}

/// What a request is, for messages and for retry decisions.
#[derive(Debug, Clone)]
struct Op {
    method: Method,
    url: String,
    idempotent: bool,
}

impl Op {
    fn name(&self) -> String {
        format!("{} {}", self.method.as_str(), self.url)
    }
}

/// One attempt's failure before any HTTP status.
enum AttemptError {
    /// Worth retrying on idempotent requests.
    Transport(Error),
    /// Not worth retrying (credential problems, a certificate that fails verification).
    Fatal(Error),
}

impl AttemptError {
    /// A transport failure: retried, unless the server's certificate failed verification, which asking
    /// again cannot change.
    fn transport(e: Error) -> Self {
        if retry::is_certificate_error(&e.to_string()) {
            AttemptError::Fatal(e)
        } else {
            AttemptError::Transport(e)
        }
    }
}

/// The Azure Resource Manager client. Cheap to clone; clones share the connection pool and token cache.
#[derive(Clone)]
pub struct ArmClient {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Url,
    sdk: sdk::Client,
    http: reqwest::Client,
    tokens: Arc<TokenCache>,
    options: ArmClientOptions,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient")
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("tokens", &self.inner.tokens)
            .finish_non_exhaustive()
    }
}

impl ArmClient {
    /// A client for the Resource Manager at `endpoint` (`https://management.azure.com` or the local cloud's
    /// `http://127.0.0.1:PORT`), acting as `credential`.
    pub fn new(endpoint: &str, credential: Credential, options: ArmClientOptions) -> Result<Self> {
        let endpoint_url = Self::endpoint_url(endpoint)?;
        let http = Self::http_client(endpoint, &options)?;
        let transport: Arc<dyn azure_core::HttpClient> = Arc::new(http.clone());
        let tokens = Arc::new(TokenCache::new(
            credential,
            transport,
            options.retry.clone(),
        )?);
        Ok(Self::assemble(endpoint_url, http, tokens, options))
    }

    fn http_client(endpoint: &str, options: &ArmClientOptions) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder();
        if let Some(roots) = &options.extra_roots {
            builder = roots.trust(builder);
        }
        builder.build().map_err(|e| Error::Transport {
            method: "-",
            url: endpoint.to_owned(),
            message: format!("cannot build the HTTP client: {e}"),
        })
    }

    /// The endpoint as a bare http(s) origin.
    fn endpoint_url(endpoint: &str) -> Result<Url> {
        let mut endpoint_url = Url::parse(endpoint).map_err(|e| Error::InvalidUrl {
            url: endpoint.to_owned(),
            message: e.to_string(),
        })?;
        if endpoint_url.scheme() != "https" && endpoint_url.scheme() != "http" {
            return Err(Error::InvalidUrl {
                url: endpoint.to_owned(),
                message: "the Resource Manager endpoint must be an http(s) URL".into(),
            });
        }
        // The SDK replaces the path of its endpoint; keep ours a bare origin so both agree.
        endpoint_url.set_path("/");
        endpoint_url.set_query(None);
        Ok(endpoint_url)
    }

    /// As [`ArmClient::new`], with the token cache for `credential` taken from (or added to) `pool`, so
    /// that clients acting as one identity share its tokens.
    pub fn with_pool(
        endpoint: &str,
        credential: Credential,
        options: ArmClientOptions,
        pool: &TokenPool,
    ) -> Result<Self> {
        let endpoint_url = Self::endpoint_url(endpoint)?;
        let http = Self::http_client(endpoint, &options)?;
        let tokens = pool.cache(
            credential,
            options.retry.clone(),
            options.extra_roots.as_ref(),
        )?;
        Ok(Self::assemble(endpoint_url, http, tokens, options))
    }

    fn assemble(
        endpoint_url: Url,
        http: reqwest::Client,
        tokens: Arc<TokenCache>,
        options: ArmClientOptions,
    ) -> Self {
        let transport: Arc<dyn azure_core::HttpClient> = Arc::new(http.clone());
        let client_options =
            azure_core::ClientOptions::new(azure_core::TransportOptions::new(transport))
                .retry(azure_core::RetryOptions::none())
                .per_retry_policies(vec![
                    Arc::new(KeepErrorResponses) as Arc<dyn azure_core::Policy>
                ]);
        let sdk = sdk::Client::new(
            endpoint_url.clone(),
            tokens.clone() as Arc<dyn TokenCredential>,
            vec![options.scope.clone()],
            client_options,
        );
        ArmClient {
            inner: Arc::new(Inner {
                endpoint: endpoint_url,
                sdk,
                http,
                tokens,
                options,
            }),
        }
    }

    /// The endpoint, as a bare origin.
    pub fn endpoint(&self) -> &Url {
        &self.inner.endpoint
    }

    fn op(&self, method: Method, path: &str, idempotent: bool) -> Op {
        let url = request::arm_url(&self.inner.endpoint, path, request::RESOURCES_API_VERSION)
            .map(String::from)
            .unwrap_or_else(|_| path.to_owned());
        Op {
            method,
            url,
            idempotent,
        }
    }

    // ---- sending -------------------------------------------------------------------------------------

    /// Sends with retry. `attempt` performs one exchange. Returns the first response whose status is not
    /// worth retrying (error statuses included: callers decide what a 404 means); when retries run out,
    /// [`Error::RetriesExhausted`] with the last error as its source.
    async fn execute<F, Fut>(&self, op: &Op, attempt: F) -> Result<RawResponse>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = std::result::Result<RawResponse, AttemptError>>,
    {
        let options = &self.inner.options.retry;
        let started = Instant::now();
        let mut attempts = 0u32;
        let mut ambiguous = false;
        let mut reauthenticated = false;
        loop {
            attempts += 1;
            let sent = Instant::now();
            let outcome =
                match tokio::time::timeout(self.inner.options.request_timeout, attempt()).await {
                    Ok(o) => o,
                    Err(_) => Err(AttemptError::Transport(Error::Timeout {
                        operation: op.name(),
                        waited: self.inner.options.request_timeout,
                        limit: self.inner.options.request_timeout,
                        last_status: None,
                    })),
                };
            if let Ok(raw) = &outcome {
                tracing::debug!(
                    request = %op.name(),
                    status = raw.status,
                    elapsed_ms = u64::try_from(sent.elapsed().as_millis()).unwrap_or(u64::MAX),
                    request_id = raw.header("x-ms-request-id").unwrap_or("-"),
                    "ARM response"
                );
            }
            let (last_error, server_wait) = match outcome {
                // A token can be revoked or expire early (a clock skew, `az` handing out one about to
                // expire): fetch a fresh one and try once more before calling it an error.
                Ok(raw) if raw.status == 401 && !reauthenticated => {
                    reauthenticated = true;
                    self.inner.tokens.forget().await;
                    tracing::debug!(request = %op.name(), "401: fetching a fresh token");
                    continue;
                }
                Ok(mut raw) if !retry::is_retryable_status(raw.status) => {
                    raw.after_ambiguous_attempt = ambiguous;
                    return Ok(raw);
                }
                Ok(raw) => {
                    let wait = retry::retry_after(|n| raw.header(n), SystemTime::now());
                    // 429 was refused before doing anything; a 5xx may have done the work.
                    if raw.status != 429 {
                        ambiguous = true;
                    }
                    (map_error(op, &raw), wait)
                }
                Err(AttemptError::Fatal(e)) => return Err(e),
                Err(AttemptError::Transport(e)) if !op.idempotent => return Err(e),
                Err(AttemptError::Transport(e)) => {
                    ambiguous = true;
                    (e, None)
                }
            };
            let delay = retry::next_delay(
                options,
                attempts,
                started.elapsed(),
                server_wait,
                rand::random::<f64>(),
            );
            let Some(delay) = delay else {
                return Err(Error::RetriesExhausted {
                    method: op.method.as_str(),
                    url: op.url.clone(),
                    attempts,
                    waited: started.elapsed(),
                    last: Box::new(last_error),
                });
            };
            tracing::debug!(
                request = %op.name(),
                attempt = attempts,
                wait_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                error = %last_error,
                "retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One SDK exchange per attempt.
    async fn send_sdk<F, Fut, R>(&self, op: &Op, make: F) -> Result<RawResponse>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = azure_core::Result<R>>,
        R: Into<azure_core::Response>,
    {
        self.execute(op, || {
            let fut = make();
            let op = op.clone();
            async move {
                match fut.await {
                    Ok(r) => from_sdk_response(r.into())
                        .await
                        .map_err(|e| AttemptError::Transport(transport_error(&op, &e))),
                    Err(e) => Err(classify_sdk_error(&op, e)),
                }
            }
        })
        .await
    }

    /// One raw exchange per attempt.
    async fn send_raw(&self, req: &ArmRequest) -> Result<RawResponse> {
        let op = Op {
            method: req.method,
            url: req.url.to_string(),
            idempotent: req.idempotent(),
        };
        self.execute(&op, || self.raw_attempt(req, &op)).await
    }

    async fn raw_attempt(
        &self,
        req: &ArmRequest,
        op: &Op,
    ) -> std::result::Result<RawResponse, AttemptError> {
        let token = self
            .inner
            .tokens
            .token(&[self.inner.options.scope.as_str()])
            .await
            .map_err(AttemptError::Fatal)?;
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Put => reqwest::Method::PUT,
            Method::Delete => reqwest::Method::DELETE,
            Method::Post => reqwest::Method::POST,
        };
        let mut builder = self
            .inner
            .http
            .request(method, req.url.clone())
            .bearer_auth(token.token.secret());
        if let Some(body) = &req.body {
            builder = builder.json(body);
        }
        let transport = |e: reqwest::Error| {
            AttemptError::transport(Error::Transport {
                method: op.method.as_str(),
                url: op.url.clone(),
                message: error_chain(&e.without_url()),
            })
        };
        let rsp = builder.send().await.map_err(transport)?;
        let status = rsp.status().as_u16();
        let headers = rsp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body = rsp.bytes().await.map_err(transport)?.to_vec();
        Ok(RawResponse {
            status,
            headers,
            body,
            after_ambiguous_attempt: false,
        })
    }

    /// Follows a long-running operation to its end. Returns the final body of a `Location` operation
    /// (empty for 204 and for `Azure-AsyncOperation` operations, whose result the caller re-reads).
    async fn wait(&self, operation: &str, monitor: Monitor) -> Result<Vec<u8>> {
        let (url, is_async) = match monitor {
            Monitor::Done => return Ok(Vec::new()),
            Monitor::AsyncOperation(u) => (u, true),
            Monitor::Location(u) => (u, false),
        };
        let req = request::get_absolute(&self.inner.endpoint, &url)?;
        let options = &self.inner.options.poll;
        let last = std::sync::Mutex::new(None::<String>);
        let poll_loop = async {
            loop {
                let raw = self.send_raw(&req).await?;
                let state = if is_async {
                    poll::classify_async_operation(raw.status, &raw.body)
                } else {
                    poll::classify_location(raw.status, &raw.body)
                };
                match state {
                    PollState::Succeeded(body) => return Ok(body),
                    PollState::Failed { state, error } => {
                        return Err(Error::OperationFailed {
                            operation: operation.to_owned(),
                            state: state.to_string(),
                            error: error.map(Box::new),
                        })
                    }
                    PollState::HttpError => {
                        return Err(map_error(
                            &Op {
                                method: Method::Get,
                                url: req.url.to_string(),
                                idempotent: true,
                            },
                            &raw,
                        ))
                    }
                    PollState::Running(s) => {
                        let text =
                            s.map_or_else(|| format!("HTTP {}", raw.status), |s| s.to_string());
                        tracing::debug!(%operation, state = %text, "still running");
                        if let Ok(mut l) = last.lock() {
                            *l = Some(text);
                        }
                        let wait = retry::retry_after(|n| raw.header(n), SystemTime::now());
                        tokio::time::sleep(poll::poll_delay(options, wait)).await;
                    }
                }
            }
        };
        let started = Instant::now();
        match tokio::time::timeout(options.timeout, poll_loop).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                operation: operation.to_owned(),
                waited: started.elapsed(),
                limit: options.timeout,
                last_status: last.lock().ok().and_then(|l| l.clone()),
            }),
        }
    }

    /// Polls a GET until the resource's `provisioningState` is terminal (for operations that answered 201
    /// without a status URL, and for attaching to a deployment already running).
    async fn wait_for_state<T, S>(&self, operation: &str, get: &ArmRequest, state: S) -> Result<T>
    where
        T: DeserializeOwned,
        S: Fn(&T) -> ProvisioningState,
    {
        let options = &self.inner.options.poll;
        let last = std::sync::Mutex::new(None::<String>);
        let op = Op {
            method: get.method,
            url: get.url.to_string(),
            idempotent: true,
        };
        let poll_loop = async {
            loop {
                let raw = self.send_raw(get).await?;
                let value: T = parse(&op, &expect_success(&op, raw.clone())?)?;
                let s = state(&value);
                if s.is_terminal() {
                    return Ok(value);
                }
                if let Ok(mut l) = last.lock() {
                    *l = Some(s.to_string());
                }
                let wait = retry::retry_after(|n| raw.header(n), SystemTime::now());
                tokio::time::sleep(poll::poll_delay(options, wait)).await;
            }
        };
        let started = Instant::now();
        match tokio::time::timeout(options.timeout, poll_loop).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                operation: operation.to_owned(),
                waited: started.elapsed(),
                limit: options.timeout,
                last_status: last.lock().ok().and_then(|l| l.clone()),
            }),
        }
    }

    /// Every page of a list.
    async fn list_all<T: DeserializeOwned>(&self, first: ArmRequest) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut req = first;
        // Every page URL read so far: a service whose nextLink leads back to a page already read would
        // otherwise be listed forever.
        let mut read = std::collections::HashSet::new();
        loop {
            let op = Op {
                method: req.method,
                url: req.url.to_string(),
                idempotent: true,
            };
            read.insert(op.url.clone());
            let raw = expect_success(&op, self.send_raw(&req).await?)?;
            let page: Page<T> = parse(&op, &raw)?;
            out.extend(page.value);
            match page.next_link {
                Some(link) if !link.is_empty() => {
                    req = request::get_absolute(&self.inner.endpoint, &link)?;
                    if read.contains(req.url.as_str()) || read.len() >= MAX_PAGES {
                        return Err(Error::UnexpectedResponse {
                            method: op.method.as_str(),
                            url: op.url,
                            status: raw.status,
                            message: format!(
                                "its nextLink {} after {} page(s) {}; stopped listing",
                                req.url,
                                read.len(),
                                if read.len() >= MAX_PAGES {
                                    format!("goes past {MAX_PAGES} pages")
                                } else {
                                    "leads back to a page already read".to_string()
                                }
                            ),
                        });
                    }
                }
                _ => return Ok(out),
            }
        }
    }

    // ---- for the request families in sibling modules (`policyinsights`) ------------------------------

    /// Sends a request a sibling module built (with retry) and parses the successful response's JSON; an
    /// error status is ARM's typed error.
    pub(super) async fn send_json<T: DeserializeOwned>(&self, req: &ArmRequest) -> Result<T> {
        let op = raw_op(req);
        let raw = expect_success(&op, self.send_raw(req).await?)?;
        parse(&op, &raw)
    }

    /// Sends a request a sibling module built (with retry) and follows the long-running operation it
    /// starts (`Azure-AsyncOperation` or `Location`) to its end with our poller.
    pub(super) async fn send_and_wait(&self, req: &ArmRequest) -> Result<()> {
        let op = raw_op(req);
        let raw = expect_success(&op, self.send_raw(req).await?)?;
        self.wait(&op.name(), monitor_of(&raw)).await?;
        Ok(())
    }

    // ---- subscriptions -------------------------------------------------------------------------------

    /// `GET /subscriptions/{id}`: checks that the identity can see the subscription.
    pub async fn get_subscription(&self, subscription_id: &str) -> Result<Subscription> {
        let req = request::get_subscription(&self.inner.endpoint, subscription_id)?;
        let op = raw_op(&req);
        parse(&op, &expect_success(&op, self.send_raw(&req).await?)?)
    }

    // ---- resource groups -----------------------------------------------------------------------------

    /// Creates or updates a resource group (ARM answers 201 or 200; synchronous).
    pub async fn create_or_update_resource_group(
        &self,
        subscription_id: &str,
        name: &str,
        location: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<ResourceGroup> {
        let op = self.op(
            Method::Put,
            &format!("/subscriptions/{subscription_id}/resourcegroups/{name}"),
            true,
        );
        let body = request::resource_group_body(location, tags);
        let client = self.inner.sdk.resource_groups_client();
        let raw = self
            .send_sdk(&op, || {
                client
                    .create_or_update(name, body.clone(), subscription_id)
                    .send()
            })
            .await?;
        parse(&op, &expect_success(&op, raw)?)
    }

    /// Reads a resource group; 404 is [`Error::Api`] with code `ResourceGroupNotFound`.
    pub async fn get_resource_group(
        &self,
        subscription_id: &str,
        name: &str,
    ) -> Result<ResourceGroup> {
        let op = self.op(
            Method::Get,
            &format!("/subscriptions/{subscription_id}/resourcegroups/{name}"),
            true,
        );
        let client = self.inner.sdk.resource_groups_client();
        let raw = self
            .send_sdk(&op, || client.get(name, subscription_id).send())
            .await?;
        parse(&op, &expect_success(&op, raw)?)
    }

    /// Whether a resource group exists (`HEAD`: 204 or 404).
    pub async fn resource_group_exists(&self, subscription_id: &str, name: &str) -> Result<bool> {
        let op = self.op(
            Method::Get,
            &format!("/subscriptions/{subscription_id}/resourcegroups/{name}"),
            true,
        );
        let client = self.inner.sdk.resource_groups_client();
        let raw = self
            .send_sdk(&op, || client.check_existence(name, subscription_id).send())
            .await?;
        match raw.status {
            404 => Ok(false),
            s if (200..300).contains(&s) => Ok(true),
            _ => Err(map_error(&op, &raw)),
        }
    }

    /// Deletes a resource group and everything in it, waiting until it is gone. A group that does not exist
    /// counts as deleted.
    pub async fn delete_resource_group(&self, subscription_id: &str, name: &str) -> Result<()> {
        let op = self.op(
            Method::Delete,
            &format!("/subscriptions/{subscription_id}/resourcegroups/{name}"),
            true,
        );
        let client = self.inner.sdk.resource_groups_client();
        let raw = self
            .send_sdk(&op, || client.delete(name, subscription_id).send())
            .await?;
        if raw.status == 404 {
            return Ok(());
        }
        let raw = expect_success(&op, raw)?;
        self.wait(&op.name(), monitor_of(&raw)).await?;
        Ok(())
    }

    /// The resource groups of a subscription carrying tag `name` = `value`.
    pub async fn list_resource_groups_by_tag(
        &self,
        subscription_id: &str,
        name: &str,
        value: &str,
    ) -> Result<Vec<ResourceGroup>> {
        let filter = request::tag_filter(name, value);
        let req =
            request::list_resource_groups(&self.inner.endpoint, subscription_id, Some(&filter))?;
        self.list_all(req).await
    }

    // ---- deployments ---------------------------------------------------------------------------------

    /// Deploys: [`ArmClient::begin_deployment`] then [`ArmClient::finish_deployment`]. A Failed or
    /// Canceled deployment is returned, not an error: its `error` tree and
    /// [`ArmClient::deployment_failures`] say why.
    pub async fn create_deployment(
        &self,
        scope: &DeploymentScope,
        name: &str,
        deployment: &DeploymentRequest,
    ) -> Result<Deployment> {
        let started = self.begin_deployment(scope, name, deployment).await?;
        self.finish_deployment(started).await
    }

    /// Starts a deployment with one PUT (resent only when throttled or on a server error) and returns
    /// as soon as ARM has accepted it. If a resent PUT meets 409 `DeploymentActive`, the first attempt got
    /// through: the returned handle follows that run.
    pub async fn begin_deployment(
        &self,
        scope: &DeploymentScope,
        name: &str,
        deployment: &DeploymentRequest,
    ) -> Result<DeploymentStarted> {
        let path = scope.deployment_path(name);
        let op = self.op(Method::Put, &path, true);
        // Sent raw: the request holds one copy of the template, serialised from at each attempt, where the
        // SDK's request builders would hold three while the PUT is in flight (a fleet's trusts PUT theirs
        // at once).
        let req = request::put_resource(
            &self.inner.endpoint,
            &path,
            request::RESOURCES_API_VERSION,
            request::deployment_json(deployment),
        )?;
        let raw = self.send_raw(&req).await?;
        drop(req);
        if raw.status == 409
            && raw.after_ambiguous_attempt
            && ErrorDetail::from_body(&raw.body).is_some_and(|e| e.code == "DeploymentActive")
        {
            tracing::debug!(deployment = %path, "an earlier attempt is running; following it");
            return Ok(DeploymentStarted {
                path,
                operation: op.name(),
                first: None,
                monitor: Monitor::Done,
            });
        }
        let raw = expect_success(&op, raw)?;
        let first: Deployment = parse(&op, &raw)?;
        Ok(DeploymentStarted {
            path,
            operation: op.name(),
            monitor: monitor_of(&raw),
            first: Some(first),
        })
    }

    /// Follows a started deployment to Succeeded, Failed or Canceled with our poller, then reads its
    /// final record (outputs, output resources, error tree).
    pub async fn finish_deployment(&self, started: DeploymentStarted) -> Result<Deployment> {
        let get = request::get_resource(
            &self.inner.endpoint,
            &started.path,
            request::RESOURCES_API_VERSION,
        )?;
        match started.monitor {
            Monitor::Done => match started.first {
                Some(first) if first.provisioning_state.is_terminal() => Ok(first),
                _ => {
                    self.wait_for_state(&started.operation, &get, |d: &Deployment| {
                        d.provisioning_state.clone()
                    })
                    .await
                }
            },
            m => {
                match self.wait(&started.operation, m).await {
                    // The record has the details; read it either way.
                    Ok(_) | Err(Error::OperationFailed { .. }) => {}
                    Err(e) => return Err(e),
                }
                let get_op = raw_op(&get);
                let final_raw = expect_success(&get_op, self.send_raw(&get).await?)?;
                parse(&get_op, &final_raw)
            }
        }
    }

    /// Reads a deployment; 404 is [`Error::Api`] with code `DeploymentNotFound`.
    pub async fn get_deployment(&self, scope: &DeploymentScope, name: &str) -> Result<Deployment> {
        let op = self.op(Method::Get, &scope.deployment_path(name), true);
        let client = self.inner.sdk.deployments_client();
        let raw = match scope {
            DeploymentScope::Subscription { subscription_id } => {
                self.send_sdk(&op, || {
                    client
                        .get_at_subscription_scope(name, subscription_id)
                        .send()
                })
                .await?
            }
            DeploymentScope::ResourceGroup {
                subscription_id,
                resource_group,
            } => {
                self.send_sdk(&op, || {
                    client.get(resource_group, name, subscription_id).send()
                })
                .await?
            }
        };
        parse(&op, &expect_success(&op, raw)?)
    }

    /// Waits for a deployment that is already running (started by an earlier run that was interrupted) to
    /// end, polling its record. Returns it as [`ArmClient::create_deployment`] would.
    pub async fn wait_for_deployment(
        &self,
        scope: &DeploymentScope,
        name: &str,
    ) -> Result<Deployment> {
        let path = scope.deployment_path(name);
        let get =
            request::get_resource(&self.inner.endpoint, &path, request::RESOURCES_API_VERSION)?;
        self.wait_for_state(&format!("deployment {path}"), &get, |d: &Deployment| {
            d.provisioning_state.clone()
        })
        .await
    }

    /// Every operation of a deployment.
    pub async fn list_deployment_operations(
        &self,
        scope: &DeploymentScope,
        name: &str,
    ) -> Result<Vec<DeploymentOperation>> {
        let req = request::list_deployment_operations(&self.inner.endpoint, scope, name)?;
        self.list_all(req).await
    }

    /// The failed operations of a deployment: which resource failed, with the provider's code and message.
    pub async fn deployment_failures(
        &self,
        scope: &DeploymentScope,
        name: &str,
    ) -> Result<Vec<DeploymentOperation>> {
        Ok(self
            .list_deployment_operations(scope, name)
            .await?
            .into_iter()
            .filter(|o| o.provisioning_state == ProvisioningState::Failed)
            .collect())
    }

    /// Validates a deployment (pre-flight). A template ARM refuses is [`Error::Api`] (`InvalidTemplate`,
    /// `InvalidTemplateDeployment`) with its details.
    pub async fn validate_deployment(
        &self,
        scope: &DeploymentScope,
        name: &str,
        deployment: &DeploymentRequest,
    ) -> Result<Validation> {
        let op = self.op(
            Method::Post,
            &format!("{}/validate", scope.deployment_path(name)),
            true,
        );
        let body = request::deployment_body(deployment);
        let client = self.inner.sdk.deployments_client();
        let raw = match scope {
            DeploymentScope::Subscription { subscription_id } => {
                self.send_sdk(&op, || {
                    client
                        .validate_at_subscription_scope(name, body.clone(), subscription_id)
                        .send()
                })
                .await?
            }
            DeploymentScope::ResourceGroup {
                subscription_id,
                resource_group,
            } => {
                self.send_sdk(&op, || {
                    client
                        .validate(resource_group, name, body.clone(), subscription_id)
                        .send()
                })
                .await?
            }
        };
        let raw = expect_success(&op, raw)?;
        let body = match monitor_of(&raw) {
            Monitor::Done => raw.body,
            m => self.wait(&op.name(), m).await?,
        };
        parse_bytes(&op, 200, &body)
    }

    /// What-if: POST once, then follow `Location` to the result.
    pub async fn what_if(
        &self,
        scope: &DeploymentScope,
        name: &str,
        deployment: &DeploymentRequest,
    ) -> Result<WhatIfResult> {
        let op = self.op(
            Method::Post,
            &format!("{}/whatIf", scope.deployment_path(name)),
            true,
        );
        let body = request::what_if_body(deployment);
        let client = self.inner.sdk.deployments_client();
        let raw = match scope {
            DeploymentScope::Subscription { subscription_id } => {
                self.send_sdk(&op, || {
                    client
                        .what_if_at_subscription_scope(name, body.clone(), subscription_id)
                        .send()
                })
                .await?
            }
            DeploymentScope::ResourceGroup {
                subscription_id,
                resource_group,
            } => {
                self.send_sdk(&op, || {
                    client
                        .what_if(resource_group, name, body.clone(), subscription_id)
                        .send()
                })
                .await?
            }
        };
        let raw = expect_success(&op, raw)?;
        let body = match monitor_of(&raw) {
            // Answered at once: the body is the result, which may itself say Failed.
            Monitor::Done => match poll::classify_location(raw.status, &raw.body) {
                PollState::Failed { state, error } => {
                    return Err(Error::OperationFailed {
                        operation: op.name(),
                        state: state.to_string(),
                        error: error.map(Box::new),
                    })
                }
                _ => raw.body,
            },
            m => self.wait(&op.name(), m).await?,
        };
        let result: WhatIfResult = parse_bytes(&op, 200, &body)?;
        Ok(result)
    }

    /// Cancels a running deployment (204). Cancelling one that is not running is ARM's 409.
    pub async fn cancel_deployment(&self, scope: &DeploymentScope, name: &str) -> Result<()> {
        let op = self.op(
            Method::Post,
            &format!("{}/cancel", scope.deployment_path(name)),
            false,
        );
        let client = self.inner.sdk.deployments_client();
        let raw = match scope {
            DeploymentScope::Subscription { subscription_id } => {
                self.send_sdk(&op, || {
                    client
                        .cancel_at_subscription_scope(name, subscription_id)
                        .send()
                })
                .await?
            }
            DeploymentScope::ResourceGroup {
                subscription_id,
                resource_group,
            } => {
                self.send_sdk(&op, || {
                    client.cancel(resource_group, name, subscription_id).send()
                })
                .await?
            }
        };
        expect_success(&op, raw)?;
        Ok(())
    }

    /// Deletes a deployment's record (not its resources), waiting until it is gone. A missing one counts
    /// as deleted.
    pub async fn delete_deployment(&self, scope: &DeploymentScope, name: &str) -> Result<()> {
        let op = self.op(Method::Delete, &scope.deployment_path(name), true);
        let client = self.inner.sdk.deployments_client();
        let raw = match scope {
            DeploymentScope::Subscription { subscription_id } => {
                self.send_sdk(&op, || {
                    client
                        .delete_at_subscription_scope(name, subscription_id)
                        .send()
                })
                .await?
            }
            DeploymentScope::ResourceGroup {
                subscription_id,
                resource_group,
            } => {
                self.send_sdk(&op, || {
                    client.delete(resource_group, name, subscription_id).send()
                })
                .await?
            }
        };
        if raw.status == 404 {
            return Ok(());
        }
        let raw = expect_success(&op, raw)?;
        self.wait(&op.name(), monitor_of(&raw)).await?;
        Ok(())
    }

    // ---- deployment stacks ---------------------------------------------------------------------------

    /// Creates or updates a deployment stack with one PUT (resent only when throttled or on a server error),
    /// follows the operation with our poller and reads the stack as it then is. A Failed stack is returned,
    /// not an error: its `error` and `failed_resources` say why.
    pub async fn create_or_update_stack(
        &self,
        scope: &DeploymentScope,
        name: &str,
        stack: &StackRequest,
    ) -> Result<DeploymentStack> {
        let req = request::put_stack(&self.inner.endpoint, scope, name, stack)?;
        let op = raw_op(&req);
        let raw = self.send_raw(&req).await?;
        drop(req);
        let raw = expect_success(&op, raw)?;
        let get = request::get_stack(&self.inner.endpoint, scope, name)?;
        match monitor_of(&raw) {
            Monitor::Done => {
                let first: DeploymentStack = parse(&op, &raw)?;
                if first.provisioning_state.is_terminal() {
                    return Ok(first);
                }
                self.wait_for_state(&op.name(), &get, |s: &DeploymentStack| {
                    s.provisioning_state.clone()
                })
                .await
            }
            m => {
                match self.wait(&op.name(), m).await {
                    // The stack has the details; read it either way.
                    Ok(_) | Err(Error::OperationFailed { .. }) => {}
                    Err(e) => return Err(e),
                }
                let get_op = raw_op(&get);
                parse(
                    &get_op,
                    &expect_success(&get_op, self.send_raw(&get).await?)?,
                )
            }
        }
    }

    /// What updating stack `stack_name` with `stack` would do, from Azure's stack what-if (api-version
    /// 2025-07-01): the definition is PUT as what-if result `name` (which Azure keeps for its retention
    /// interval, a day, and a later PUT of the same name replaces), `whatIf` is POSTed and followed with our
    /// poller. An Azure that does not know the API answers with its error (see [`Error::is_unknown_api`]).
    pub async fn stack_what_if(
        &self,
        scope: &DeploymentScope,
        name: &str,
        stack_name: &str,
        stack: &StackRequest,
    ) -> Result<StackWhatIf> {
        let stack_id = request::stack_path(scope, stack_name);
        let put = request::put_stack_what_if(&self.inner.endpoint, scope, name, stack, &stack_id)?;
        self.send_and_wait(&put).await?;
        drop(put);
        let post = request::run_stack_what_if(&self.inner.endpoint, scope, name)?;
        let op = raw_op(&post);
        let raw = expect_success(&op, self.send_raw(&post).await?)?;
        let body = match monitor_of(&raw) {
            Monitor::Done => raw.body,
            m => self.wait(&op.name(), m).await?,
        };
        parse_bytes(&op, 200, &body)
    }

    /// Reads a deployment stack; `None` when there is none of that name.
    pub async fn get_stack(
        &self,
        scope: &DeploymentScope,
        name: &str,
    ) -> Result<Option<DeploymentStack>> {
        let req = request::get_stack(&self.inner.endpoint, scope, name)?;
        let op = raw_op(&req);
        let raw = self.send_raw(&req).await?;
        if raw.status == 404 {
            return Ok(None);
        }
        parse(&op, &expect_success(&op, raw)?).map(Some)
    }

    /// Deletes a deployment stack, its resources deleted or detached as `action` says, waiting until it is
    /// gone. A missing one counts as deleted. `bypass_out_of_sync`: delete even when Azure says the stack's
    /// list of managed resources is out of sync.
    pub async fn delete_stack(
        &self,
        scope: &DeploymentScope,
        name: &str,
        action: &ActionOnUnmanage,
        bypass_out_of_sync: bool,
    ) -> Result<()> {
        let req = request::delete_stack(
            &self.inner.endpoint,
            scope,
            name,
            action,
            bypass_out_of_sync,
        )?;
        let op = raw_op(&req);
        let raw = self.send_raw(&req).await?;
        if raw.status == 404 {
            return Ok(());
        }
        let raw = expect_success(&op, raw)?;
        self.wait(&op.name(), monitor_of(&raw)).await?;
        Ok(())
    }

    /// The failed requests of a subscription since `from` (RFC 3339), from its activity log.
    pub async fn failed_activity(
        &self,
        subscription_id: &str,
        from: &str,
    ) -> Result<Vec<ActivityEvent>> {
        let req = request::list_failed_activity(&self.inner.endpoint, subscription_id, from)?;
        self.list_all(req).await
    }

    /// The object id (`oid`) of the identity this client acts as, read from its access token when the
    /// token is a JWT (Entra ID's are); `None` for an opaque token (the local cloud's).
    pub async fn caller_object_id(&self) -> Result<Option<String>> {
        let token = self
            .inner
            .tokens
            .token(&[self.inner.options.scope.as_str()])
            .await?;
        Ok(jwt_object_id(token.token.secret()))
    }

    // ---- generic resources ---------------------------------------------------------------------------

    /// Reads any resource by id with its provider's api-version. `None` when it does not exist.
    pub async fn get_resource(&self, id: &str, api_version: &str) -> Result<Option<Value>> {
        let req = request::get_resource(&self.inner.endpoint, id, api_version)?;
        let op = raw_op(&req);
        let raw = self.send_raw(&req).await?;
        if raw.status == 404 {
            return Ok(None);
        }
        parse(&op, &expect_success(&op, raw)?).map(Some)
    }

    /// Every item of a list at `path` (a collection of any provider), following `nextLink` page by page.
    pub async fn list_resources(&self, path: &str, api_version: &str) -> Result<Vec<Value>> {
        let req = request::get_resource(&self.inner.endpoint, path, api_version)?;
        self.list_all(req).await
    }

    /// Creates or updates any resource by id, following the provider's long-running operation if it starts
    /// one, and returns the resource as it then reads.
    pub async fn put_resource(&self, id: &str, api_version: &str, body: &Value) -> Result<Value> {
        let req = request::put_resource(&self.inner.endpoint, id, api_version, body.clone())?;
        let op = raw_op(&req);
        let raw = expect_success(&op, self.send_raw(&req).await?)?;
        let get = request::get_resource(&self.inner.endpoint, id, api_version)?;
        match monitor_of(&raw) {
            Monitor::Done => {
                let value: Value = parse(&op, &raw)?;
                if resource_state(&value).is_terminal() {
                    return Ok(value);
                }
                // 201 with a provider state still in progress and nothing to poll: re-read it.
                self.wait_for_state(&op.name(), &get, resource_state).await
            }
            monitor => {
                self.wait(&op.name(), monitor).await?;
                let get_op = raw_op(&get);
                parse(
                    &get_op,
                    &expect_success(&get_op, self.send_raw(&get).await?)?,
                )
            }
        }
    }

    /// Deletes any resource by id, waiting for the provider to finish. A missing one counts as deleted.
    pub async fn delete_resource(&self, id: &str, api_version: &str) -> Result<()> {
        let req = request::delete_resource(&self.inner.endpoint, id, api_version)?;
        let op = raw_op(&req);
        let raw = self.send_raw(&req).await?;
        if raw.status == 404 {
            return Ok(());
        }
        let raw = expect_success(&op, raw)?;
        self.wait(&op.name(), monitor_of(&raw)).await?;
        Ok(())
    }
}

/// The `oid` claim of a JWT's payload; `None` when `token` is not a JWT or has none.
fn jwt_object_id(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("oid")?.as_str().map(str::to_owned)
}

/// A generic resource's `properties.provisioningState`; none means the provider is done.
fn resource_state(v: &Value) -> ProvisioningState {
    v.pointer("/properties/provisioningState")
        .and_then(Value::as_str)
        .map_or(ProvisioningState::Succeeded, ProvisioningState::parse)
}

fn raw_op(req: &ArmRequest) -> Op {
    Op {
        method: req.method,
        url: req.url.to_string(),
        idempotent: req.idempotent(),
    }
}

fn monitor_of(raw: &RawResponse) -> Monitor {
    poll::monitor(
        raw.status,
        raw.header("azure-asyncoperation"),
        raw.header("location"),
    )
}

async fn from_sdk_response(rsp: azure_core::Response) -> azure_core::Result<RawResponse> {
    let (status, headers, body) = rsp.deconstruct();
    let mut real_status = u16::from(status);
    let mut out = Vec::new();
    for (k, v) in headers.iter() {
        let name = k.as_str().to_ascii_lowercase();
        if name == ORIGINAL_STATUS {
            real_status = v.as_str().parse().unwrap_or(real_status);
        } else {
            out.push((name, v.as_str().to_owned()));
        }
    }
    let body = body.collect().await?.to_vec();
    Ok(RawResponse {
        status: real_status,
        headers: out,
        body,
        after_ambiguous_attempt: false,
    })
}

fn transport_error(op: &Op, e: &azure_core::Error) -> Error {
    Error::Transport {
        method: op.method.as_str(),
        url: op.url.clone(),
        // The error already names the URL; reqwest would repeat it.
        message: error_chain(e).replace(&format!(" for url ({})", op.url), ""),
    }
}

fn classify_sdk_error(op: &Op, e: azure_core::Error) -> AttemptError {
    match e.kind() {
        azure_core::error::ErrorKind::Credential => match e.into_downcast::<Error>() {
            Ok(ours) => AttemptError::Fatal(ours),
            Err(e) => AttemptError::Fatal(Error::Credential {
                kind: super::error::CredentialKind::AccessToken,
                message: error_chain(&e),
            }),
        },
        azure_core::error::ErrorKind::Io => AttemptError::transport(transport_error(op, &e)),
        _ => AttemptError::Fatal(transport_error(op, &e)),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
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

/// A typed error for an error response.
fn map_error(op: &Op, raw: &RawResponse) -> Error {
    let mut detail = ErrorDetail::from_body(&raw.body).unwrap_or_else(|| ErrorDetail {
        code: raw
            .header("x-ms-error-code")
            .map(str::to_owned)
            .unwrap_or_else(|| reason(raw.status).to_owned()),
        message: String::from_utf8_lossy(&raw.body)
            .chars()
            .take(500)
            .collect(),
        ..ErrorDetail::default()
    });
    if detail.code.is_empty() {
        detail.code = raw
            .header("x-ms-error-code")
            .unwrap_or(reason(raw.status))
            .to_owned();
    }
    let method = op.method.as_str();
    let url = op.url.clone();
    let request_id = raw.header("x-ms-request-id").map(str::to_owned);
    let correlation_id = raw.header("x-ms-correlation-request-id").map(str::to_owned);
    match raw.status {
        401 => Error::Unauthenticated {
            method,
            url,
            detail: Box::new(detail),
            request_id,
            correlation_id,
        },
        403 => Error::Forbidden {
            method,
            url,
            detail: Box::new(detail),
            request_id,
            correlation_id,
        },
        status => Error::Api {
            method,
            url,
            status,
            detail: Box::new(detail),
            request_id,
            correlation_id,
        },
    }
}

fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("HttpError")
}

fn expect_success(op: &Op, raw: RawResponse) -> Result<RawResponse> {
    if raw.is_success() {
        Ok(raw)
    } else {
        Err(map_error(op, &raw))
    }
}

fn parse<T: DeserializeOwned>(op: &Op, raw: &RawResponse) -> Result<T> {
    parse_bytes(op, raw.status, &raw.body)
}

fn parse_bytes<T: DeserializeOwned>(op: &Op, status: u16, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::UnexpectedResponse {
        method: op.method.as_str(),
        url: op.url.clone(),
        status,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(status: u16, headers: &[(&str, &str)], body: &str) -> RawResponse {
        RawResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
            after_ambiguous_attempt: false,
        }
    }

    fn op() -> Op {
        Op {
            method: Method::Get,
            url: "http://arm/x".into(),
            idempotent: true,
        }
    }

    #[test]
    fn a_gateway_page_without_an_arm_body_still_gives_a_code() {
        let e = map_error(&op(), &raw(502, &[], "<html>Bad Gateway</html>"));
        assert_eq!(
            e.to_string(),
            "GET http://arm/x: HTTP 502: Bad Gateway: <html>Bad Gateway</html>"
        );
        let e = map_error(&op(), &raw(409, &[("x-ms-error-code", "Conflict")], ""));
        assert_eq!(e.code(), Some("Conflict"));
    }

    #[test]
    fn the_object_id_comes_from_a_jwt_and_not_from_an_opaque_token() {
        use base64::Engine as _;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS256"}"#),
            enc(r#"{"oid":"6c2d8e14-3a9b-4f70-b5e2-d1c9a8f7e603","tid":"t"}"#)
        );
        assert_eq!(
            jwt_object_id(&jwt).as_deref(),
            Some("6c2d8e14-3a9b-4f70-b5e2-d1c9a8f7e603")
        );
        assert_eq!(jwt_object_id("0123456789abcdef"), None);
    }

    #[test]
    fn status_classes_become_typed_errors() {
        let body = r#"{"error":{"code":"AuthorizationFailed","message":"no"}}"#;
        assert!(matches!(
            map_error(&op(), &raw(403, &[], body)),
            Error::Forbidden { .. }
        ));
        assert!(matches!(
            map_error(&op(), &raw(401, &[], body)),
            Error::Unauthenticated { .. }
        ));
        let e = map_error(
            &op(),
            &raw(
                404,
                &[("x-ms-request-id", "r1")],
                r#"{"code":"NotFound","message":"gone"}"#,
            ),
        );
        assert_eq!(
            e.to_string(),
            "GET http://arm/x: HTTP 404: NotFound: gone [request id r1, correlation id -]"
        );
    }

    /// apply runs independent deployments concurrently on tokio: every operation must be `Send`.
    #[allow(dead_code)]
    fn operations_are_send(c: &ArmClient, s: &DeploymentScope, r: &DeploymentRequest) {
        fn is_send<T: Send>(_: T) {}
        is_send(c.create_deployment(s, "n", r));
        is_send(c.what_if(s, "n", r));
        is_send(c.validate_deployment(s, "n", r));
        is_send(c.delete_resource_group("s", "g"));
        is_send(c.put_resource("/x", "v", &Value::Null));
        is_send(c.list_resource_groups_by_tag("s", "a", "b"));
    }
}
