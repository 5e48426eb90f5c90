//! The identity side: an OAuth2 client-credentials token endpoint (`POST /{tenant}/oauth2/v2.0/token`), the
//! OpenID configuration and instance discovery documents MSAL asks for, the cloud's endpoints document
//! (`/metadata/endpoints`, which the Azure CLI reads to register a custom cloud), and the bearer check every ARM request
//! passes. Tokens are opaque random strings; only their SHA-256 is stored, so the state folder holds no usable
//! credential.

use super::errors::ArmError;
use super::http::{json_body, json_response, Req};
use super::AppState;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

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
    let id_ok = !id.is_empty() && st.config.client_id.as_ref().is_none_or(|c| *c == id);
    let secret_ok = !secret.is_empty()
        && st
            .config
            .client_secret
            .as_ref()
            .is_none_or(|c| *c == secret);
    if !id_ok {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            &format!(
                "AADSTS700016: Application with identifier '{id}' was not found in the directory."
            ),
        );
    }
    if !secret_ok {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            &format!("AADSTS7000215: Invalid client secret provided for application '{id}'."),
        );
    }
    let token = format!(
        "tp1.{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let expires = now() + LIFETIME;
    if let Err(e) = st.store.put_token(&hash(&token), expires, &id) {
        return e.into_response();
    }
    st.remember_token(hash(&token), expires, id);
    json_body(&json!({
        "token_type": "Bearer",
        "expires_in": LIFETIME,
        "ext_expires_in": LIFETIME,
        "access_token": token,
    }))
}

/// Check the `Authorization: Bearer` header of an ARM request; the client id the token was issued to.
pub fn check_bearer(st: &AppState, req: &Req) -> Result<String, ArmError> {
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
    if let Some(client) = st.known_token(&h) {
        return Ok(client);
    }
    match st.store.token_lookup(&h)? {
        Some((exp, client)) if exp > now() => {
            st.remember_token(h, exp, client.clone());
            Ok(client)
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
