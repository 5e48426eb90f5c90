//! The identity side: an OAuth2 client-credentials token endpoint (`POST /{tenant}/oauth2/v2.0/token`), the
//! OpenID configuration and instance discovery documents MSAL asks for, the cloud's endpoints document
//! (`/metadata/endpoints`, which the Azure CLI reads to register a custom cloud), and the bearer check every ARM request
//! passes. Tokens are opaque random strings; only their SHA-256 is stored, so the state folder holds no usable
//! credential.
//!
//! Tenants: each token records the client it was issued to and the tenant that issued it (what Entra ID
//! writes in a token's `tid` claim). Declared identities ([`Identity`]) get tokens only from their own
//! tenant; a subscription declared to belong to a tenant ([`SubscriptionTenant`]) accepts only tokens from
//! that tenant or from a tenant it is delegated to through Azure Lighthouse ([`Delegation`]), and answers
//! others with ARM's 401 `InvalidAuthenticationTokenTenant`.

use super::errors::ArmError;
use super::http::{json_body, json_response, Req};
use super::AppState;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

/// A service principal the token endpoint knows, registered in one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The tenant it is registered in (the only one that issues it tokens).
    pub tenant_id: String,
    /// Its application (client) id.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: crate::arm::Secret,
}

/// A subscription and the tenant it belongs to: `SUBSCRIPTION_ID:TENANT_ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionTenant {
    pub subscription_id: String,
    pub tenant_id: String,
}

/// An Azure Lighthouse delegation: identities of the managing tenant may act on the subscription.
/// `SUBSCRIPTION_ID:MANAGING_TENANT_ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    pub subscription_id: String,
    pub managing_tenant_id: String,
}

/// `SUBSCRIPTION_ID:TENANT_ID`, the subscription a GUID (as ARM requires) and the tenant non-empty.
fn subscription_and_tenant(s: &str, shape: &str) -> Result<(String, String), String> {
    let Some((sub, tenant)) = s.split_once(':') else {
        return Err(format!("'{s}' is not {shape}"));
    };
    if uuid::Uuid::parse_str(sub).is_err() {
        return Err(format!(
            "'{s}': the subscription id '{sub}' is not a GUID ({shape})"
        ));
    }
    if tenant.is_empty() || tenant.contains(':') {
        return Err(format!(
            "'{s}': the tenant id '{tenant}' is not valid ({shape})"
        ));
    }
    Ok((sub.to_ascii_lowercase(), tenant.to_string()))
}

impl std::str::FromStr for SubscriptionTenant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (subscription_id, tenant_id) =
            subscription_and_tenant(s, "expected SUBSCRIPTION_ID:TENANT_ID")?;
        Ok(SubscriptionTenant {
            subscription_id,
            tenant_id,
        })
    }
}

impl std::str::FromStr for Delegation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (subscription_id, managing_tenant_id) =
            subscription_and_tenant(s, "expected SUBSCRIPTION_ID:MANAGING_TENANT_ID")?;
        Ok(Delegation {
            subscription_id,
            managing_tenant_id,
        })
    }
}

/// Who a token was issued to: the client id and the tenant that issued it (`tid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub client_id: String,
    pub tenant_id: String,
}

/// Token lifetime in seconds (Entra ID issues tokens for about an hour).
const LIFETIME: i64 = 3599;

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Serve the identity endpoints, if the request is for one of them.
pub fn identity_route(st: &AppState, req: &Req) -> Option<Response> {
    let l = &req.lower;
    let base = st.base_url();
    // POST /{tenant}/oauth2/v2.0/token (and the v1 /oauth2/token form MSAL and older clients use).
    let is_token = (l.len() == 4 && l[1] == "oauth2" && l[2] == "v2.0" && l[3] == "token")
        || (l.len() == 3 && l[1] == "oauth2" && l[2] == "token");
    if is_token {
        if req.method != Method::POST {
            return Some(oauth_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                "The token endpoint accepts POST only.",
            ));
        }
        return Some(token(st, req));
    }
    // The cloud's endpoints document (`az cloud register --endpoint-resource-manager URL` reads it); ARM
    // serves it without a token.
    if l.len() == 2 && l[0] == "metadata" && l[1] == "endpoints" && req.method == Method::GET {
        return Some(json_body(&json!({
            "name": "TrustprintLocal",
            "portal": base,
            "resourceManager": format!("{base}/"),
            "authentication": {
                "loginEndpoint": format!("{base}/"),
                "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
                "tenant": "common",
                "identityProvider": "AAD",
            },
            "graphAudience": "https://graph.windows.net/",
            "graph": "https://graph.windows.net/",
            "microsoftGraphResourceId": "https://graph.microsoft.com/",
            "suffixes": {
                "keyVaultDns": "vault.azure.net",
                "storage": "core.windows.net",
                "sqlServerHostname": "database.windows.net",
                "acrLoginServer": "azurecr.io",
            },
        })));
    }
    if l.len() >= 3 && l[l.len() - 2] == ".well-known" && l[l.len() - 1] == "openid-configuration" {
        let tenant = &req.segs[0];
        return Some(json_body(&json!({
            "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
            "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/devicecode"),
            "issuer": format!("{base}/{}/v2.0", st.config.tenant_id),
            "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "trustprint.local",
        })));
    }
    if l.len() == 3 && l[1] == "discovery" && l[2] == "instance" {
        let host = base.split("://").nth(1).unwrap_or("127.0.0.1");
        return Some(json_body(&json!({
            "tenant_discovery_endpoint": format!("{base}/{}/v2.0/.well-known/openid-configuration", req.segs[0]),
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        })));
    }
    None
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({"error": error, "error_description": description, "error_codes": [], "timestamp": super::http::now_rfc3339()}),
    )
}

fn token(st: &AppState, req: &Req) -> Response {
    let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect();
    // Client credentials may also come as HTTP Basic (client_secret_basic).
    let mut id = form.get("client_id").cloned().unwrap_or_default();
    let mut secret = form.get("client_secret").cloned().unwrap_or_default();
    if let Some(basic) = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        use base64::Engine;
        if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) {
            if let Some((i, s)) = String::from_utf8_lossy(&decoded).split_once(':') {
                id = i.to_string();
                secret = s.to_string();
            }
        }
    }
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The local cloud supports grant_type=client_credentials only.",
        );
    }
    // A federated credential (workload identity) would be answered "invalid client secret" below, which
    // sends its user looking for a secret that does not exist.
    if form.contains_key("client_assertion") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The local cloud does not verify federated credentials (client_assertion, workload identity); \
             rehearse with a client secret (--identity TENANT_ID:CLIENT_ID:env:VAR).",
        );
    }
    // The tenant in the path; `common` and `organizations` (multi-tenant authorities) mean the home one.
    let path_tenant = req.segs.first().map(String::as_str).unwrap_or_default();
    let declared = st.config.identities.iter().find(|i| i.client_id == id);
    let legacy_ok = st
        .config
        .client_id
        .as_ref()
        .map_or(st.config.identities.is_empty(), |c| *c == id);
    if id.is_empty() || (declared.is_none() && !legacy_ok) {
        return not_in_directory(&id, path_tenant);
    }
    let tenant_id = match declared {
        Some(identity) => {
            if !identity.tenant_id.eq_ignore_ascii_case(path_tenant) {
                return not_in_directory(&id, path_tenant);
            }
            if secret.is_empty() || secret != identity.client_secret.expose() {
                return invalid_secret(&id);
            }
            identity.tenant_id.clone()
        }
        None => {
            let secret_ok = !secret.is_empty()
                && st
                    .config
                    .client_secret
                    .as_ref()
                    .is_none_or(|c| *c == secret);
            if !secret_ok {
                return invalid_secret(&id);
            }
            if path_tenant.is_empty()
                || ["common", "organizations", "consumers"]
                    .iter()
                    .any(|t| path_tenant.eq_ignore_ascii_case(t))
            {
                st.config.tenant_id.clone()
            } else {
                path_tenant.to_string()
            }
        }
    };
    let token = format!(
        "tp1.{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let expires = now() + LIFETIME;
    if let Err(e) = st.store.put_token(&hash(&token), expires, &id, &tenant_id) {
        return e.into_response();
    }
    tracing::info!(client_id = %id, tenant_id = %tenant_id, "issued an access token");
    st.count_issued(&tenant_id);
    st.remember_token(
        hash(&token),
        expires,
        Caller {
            client_id: id,
            tenant_id,
        },
    );
    json_body(&json!({
        "token_type": "Bearer",
        "expires_in": LIFETIME,
        "ext_expires_in": LIFETIME,
        "access_token": token,
    }))
}

fn not_in_directory(id: &str, tenant: &str) -> Response {
    oauth_error(
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        &format!(
            "AADSTS700016: Application with identifier '{id}' was not found in the directory '{tenant}'. \
             This can happen if the application has not been installed by the administrator of the tenant \
             or consented to by any user in the tenant. You may have sent your authentication request to \
             the wrong tenant."
        ),
    )
}

fn invalid_secret(id: &str) -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        &format!("AADSTS7000215: Invalid client secret provided for application '{id}'."),
    )
}

/// Check the `Authorization: Bearer` header of an ARM request; who the token was issued to.
pub fn check_bearer(st: &AppState, req: &Req) -> Result<Caller, ArmError> {
    let Some(header) = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        ));
    };
    let Some(token) = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
    else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        ));
    };
    let h = hash(token.trim());
    if let Some(caller) = st.known_token(&h) {
        return Ok(caller);
    }
    match st.store.token_lookup(&h)? {
        Some((exp, client_id, tenant_id)) if exp > now() => {
            let caller = Caller {
                client_id,
                // Tokens issued before tenants were recorded came from the home tenant.
                tenant_id: if tenant_id.is_empty() {
                    st.config.tenant_id.clone()
                } else {
                    tenant_id
                },
            };
            st.remember_token(h, exp, caller.clone());
            Ok(caller)
        }
        Some(_) => Err(unauthorized(
            "ExpiredAuthenticationToken",
            "The access token expiry UTC time is earlier than current UTC time.",
        )),
        None => Err(unauthorized(
            "InvalidAuthenticationToken",
            "The access token is invalid.",
        )),
    }
}

/// The tenant a subscription belongs to: declared, or the home tenant.
pub fn subscription_tenant<'a>(st: &'a AppState, subscription: &str) -> &'a str {
    st.config
        .subscription_tenants
        .iter()
        .find(|s| s.subscription_id.eq_ignore_ascii_case(subscription))
        .map_or(st.config.tenant_id.as_str(), |s| s.tenant_id.as_str())
}

/// The tenants a subscription is delegated to.
pub fn managing_tenants<'a>(
    st: &'a AppState,
    subscription: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    st.config
        .delegations
        .iter()
        .filter(move |d| d.subscription_id.eq_ignore_ascii_case(subscription))
        .map(|d| d.managing_tenant_id.as_str())
}

/// A request on a declared subscription needs a token from its tenant or from a tenant it is delegated
/// to; ARM answers any other with 401 `InvalidAuthenticationTokenTenant`. Undeclared subscriptions accept
/// every tenant's tokens.
pub fn check_tenant(st: &AppState, caller: &Caller, subscription: &str) -> Result<(), ArmError> {
    let Some(declared) = st
        .config
        .subscription_tenants
        .iter()
        .find(|s| s.subscription_id.eq_ignore_ascii_case(subscription))
    else {
        return Ok(());
    };
    let owner = &declared.tenant_id;
    if owner.eq_ignore_ascii_case(&caller.tenant_id)
        || managing_tenants(st, subscription).any(|m| m.eq_ignore_ascii_case(&caller.tenant_id))
    {
        return Ok(());
    }
    Err(unauthorized(
        "InvalidAuthenticationTokenTenant",
        &format!(
            "The access token is from the wrong issuer 'https://sts.windows.net/{}/'. It must match the \
             tenant 'https://sts.windows.net/{owner}/' associated with this subscription. Please use the \
             authority (URL) 'https://login.windows.net/{owner}' to get the token. Note, if the \
             subscription is transferred to another tenant there is no impact to the services, but \
             information about new tenant could take time to propagate (up to an hour). If you just \
             transferred your subscription and see this error message, please try back later.",
            caller.tenant_id
        ),
    ))
}

fn unauthorized(code: &str, message: &str) -> ArmError {
    ArmError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// The `WWW-Authenticate` challenge ARM sends with a 401.
pub fn challenge(st: &AppState) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "Bearer authorization_uri=\"{}/{}\", error=\"invalid_token\", error_description=\"The authentication failed because of missing 'Authorization' header.\"",
        st.base_url(),
        st.config.tenant_id
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

/// The challenge with a token from the wrong tenant: it names the authority of the subscription's tenant.
pub fn challenge_for(st: &AppState, tenant: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "Bearer authorization_uri=\"{}/{tenant}\", error=\"invalid_token\", error_description=\"The access token is from the wrong issuer.\"",
        st.base_url(),
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}
