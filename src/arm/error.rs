//! The ARM client's error type. Every variant names the operation it concerns; ARM's own error bodies are
//! kept whole (code, message, target, nested details, additional info) because "DeploymentFailed" alone tells
//! an operator nothing. No variant ever holds a token, a client secret or a request body.

pub use crate::protocol::{AdditionalInfo, ErrorDetail};
use std::fmt;
use std::time::Duration;

/// Which credential failed to produce a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// Service principal with a client secret.
    ServicePrincipal,
    /// Workload identity: an OIDC federated token exchanged for an access token.
    WorkloadIdentity,
    /// Managed identity of the Azure host.
    ManagedIdentity,
    /// `az account get-access-token`.
    AzureCli,
    /// A fixed bearer token.
    AccessToken,
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialKind::ServicePrincipal => "service principal (client secret)",
            CredentialKind::WorkloadIdentity => "workload identity (federated token)",
            CredentialKind::ManagedIdentity => "managed identity",
            CredentialKind::AzureCli => "Azure CLI",
            CredentialKind::AccessToken => "access token",
        })
    }
}

/// Everything the ARM client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// ARM answered with an error status and (usually) an error body.
    #[error("{method} {url}: HTTP {status}: {detail}{}", request_ids(request_id.as_deref(), correlation_id.as_deref()))]
    Api {
        /// HTTP method of the failing request.
        method: &'static str,
        /// URL of the failing request (no secrets: ARM URLs carry none).
        url: String,
        /// HTTP status.
        status: u16,
        /// ARM's error tree; `code` is the HTTP reason when the body was not an ARM error.
        detail: Box<ErrorDetail>,
        /// `x-ms-request-id`, for support tickets.
        request_id: Option<String>,
        /// `x-ms-correlation-request-id`.
        correlation_id: Option<String>,
    },

    /// 401: the token was refused (expired, wrong tenant, wrong audience).
    #[error("{method} {url}: not authenticated (HTTP 401 {}): {}{}", detail.code, detail.message, request_ids(request_id.as_deref(), correlation_id.as_deref()))]
    Unauthenticated {
        /// HTTP method of the failing request.
        method: &'static str,
        /// URL of the failing request.
        url: String,
        /// ARM's error; the code is e.g. `InvalidAuthenticationToken` or `AuthenticationFailed`.
        detail: Box<ErrorDetail>,
        /// `x-ms-request-id`.
        request_id: Option<String>,
        /// `x-ms-correlation-request-id`.
        correlation_id: Option<String>,
    },

    /// 403: the identity is known but lacks the right (`AuthorizationFailed`) or a policy denies the write
    /// (`RequestDisallowedByPolicy`).
    #[error("{method} {url}: forbidden (HTTP 403): {detail}{}", request_ids(request_id.as_deref(), correlation_id.as_deref()))]
    Forbidden {
        /// HTTP method of the failing request.
        method: &'static str,
        /// URL of the failing request.
        url: String,
        /// ARM's error tree (the policy assignment is in `additional_info` for policy denials).
        detail: Box<ErrorDetail>,
        /// `x-ms-request-id`.
        request_id: Option<String>,
        /// `x-ms-correlation-request-id`.
        correlation_id: Option<String>,
    },

    /// The credential could not produce a token. The message comes from the identity provider or tool;
    /// secrets are never part of it.
    #[error("could not get an Azure access token with the {kind} credential: {message}")]
    Credential {
        /// Which credential was used.
        kind: CredentialKind,
        /// What went wrong.
        message: String,
    },

    /// The credential configuration is incomplete or contradictory.
    #[error("Azure credential configuration: {message}")]
    CredentialConfig {
        /// What is missing or wrong, naming the environment variable or setting.
        message: String,
    },

    /// A long-running operation (or a single request) did not finish in time.
    #[error("{operation}: gave up after {}s waiting (limit {}s){}", waited.as_secs(), limit.as_secs(), last_status.as_deref().map(|s| format!("; last status {s}")).unwrap_or_default())]
    Timeout {
        /// What we were waiting for (method and URL, or the deployment).
        operation: String,
        /// How long we waited.
        waited: Duration,
        /// The configured limit.
        limit: Duration,
        /// The last status the operation reported, if any.
        last_status: Option<String>,
    },

    /// Retries were exhausted on throttling or server errors. The last error is the `source()`.
    #[error("{method} {url}: still failing after {attempts} attempt(s) over {}s", waited.as_secs())]
    RetriesExhausted {
        /// HTTP method.
        method: &'static str,
        /// URL.
        url: String,
        /// How many requests were sent.
        attempts: u32,
        /// Total time spent, including waits.
        waited: Duration,
        /// The last error.
        #[source]
        last: Box<Error>,
    },

    /// The request never got an HTTP response (connection refused, reset, DNS, TLS).
    #[error("{method} {url}: {message}")]
    Transport {
        /// HTTP method.
        method: &'static str,
        /// URL.
        url: String,
        /// The transport's description.
        message: String,
    },

    /// ARM answered with a body we could not read as the expected model.
    #[error("{method} {url}: unexpected response (HTTP {status}): {message}")]
    UnexpectedResponse {
        /// HTTP method.
        method: &'static str,
        /// URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// What was wrong: the JSON error, a missing header.
        message: String,
    },

    /// A long-running operation ended Failed or Canceled.
    #[error("{operation} ended {state}{}", error.as_ref().map(|e| format!(": {e}")).unwrap_or_default())]
    OperationFailed {
        /// The operation (method and URL of the request that started it).
        operation: String,
        /// `Failed` or `Canceled`.
        state: String,
        /// ARM's error tree, when given.
        error: Option<Box<ErrorDetail>>,
    },

    /// A URL (endpoint, polling URL, resource id) is not usable.
    #[error("invalid URL {url}: {message}")]
    InvalidUrl {
        /// The offending URL or resource id.
        url: String,
        /// Why it is refused.
        message: String,
    },
}

fn request_ids(request_id: Option<&str>, correlation_id: Option<&str>) -> String {
    match (request_id, correlation_id) {
        (None, None) => String::new(),
        (r, c) => format!(
            " [request id {}, correlation id {}]",
            r.unwrap_or("-"),
            c.unwrap_or("-")
        ),
    }
}

impl Error {
    /// ARM's error code, when the error came from ARM.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { detail, .. }
            | Error::Forbidden { detail, .. }
            | Error::Unauthenticated { detail, .. } => Some(&detail.code),
            Error::OperationFailed { error: Some(e), .. } => Some(&e.code),
            Error::RetriesExhausted { last, .. } => last.code(),
            _ => None,
        }
    }

    /// Whether ARM answered that it does not know the resource type or api-version asked for (an Azure, or
    /// a sovereign cloud, older than the API): `InvalidResourceType`, `NoRegisteredProviderFound`,
    /// `InvalidApiVersionParameter` or `InvalidResourceNamespace`, with HTTP 400 or 404.
    pub fn is_unknown_api(&self) -> bool {
        matches!(self.status(), Some(400 | 404))
            && self.code().is_some_and(|c| {
                [
                    "InvalidResourceType",
                    "NoRegisteredProviderFound",
                    "InvalidApiVersionParameter",
                    "InvalidResourceNamespace",
                ]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(c))
            })
    }

    /// The HTTP status, when the error came from an HTTP response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::UnexpectedResponse { status, .. } => Some(*status),
            Error::Unauthenticated { .. } => Some(401),
            Error::Forbidden { .. } => Some(403),
            Error::RetriesExhausted { last, .. } => last.status(),
            _ => None,
        }
    }
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
