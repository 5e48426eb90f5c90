//! The HTTP front door: one handler that does what ARM's front door does for every request (latency, faults,
//! authentication, api-version, throttling, request ids), then routes by path segments matched
//! case-insensitively. Resource groups, subscriptions, tags and generic resources live here; deployments in
//! [`super::deploy`].

use super::catalog::{self, normalize_location};
use super::errors::ArmError;
use super::ids::{self, ResourceId};
use super::realism::{Draw, Fault, RequestClass};
use super::store::{Operation, Store};
use super::{deploy, policy, AppState};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// Largest request body accepted (templates can be large; ARM's own limit is 4 MB per template).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Serialize a JSON body with ARM's content type.
pub fn json_body(v: &Value) -> Response {
    let mut r = Response::new(Body::from(v.to_string()));
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// A JSON response with a status.
pub fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut r = json_body(v);
    *r.status_mut() = status;
    r
}

/// An empty response with a status.
pub fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// What a handler sees of a request.
pub struct Req {
    pub method: Method,
    pub segs: Vec<String>,
    pub lower: Vec<String>,
    pub query: HashMap<String, String>,
    pub body: Bytes,
    pub headers: HeaderMap,
}

impl Req {
    pub fn api_version(&self) -> &str {
        self.query.get("api-version").map_or("", String::as_str)
    }

    /// Parse the body as JSON (an empty body is `{}`).
    pub fn json(&self) -> Result<Value, ArmError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(json!({}));
        }
        serde_json::from_slice(&self.body).or_else(|e| {
            // ARM reads bodies with Newtonsoft's JSON reader, which accepts property names without quotes;
            // the Azure CLI relies on it (it splices the template text in as `template:{...}`).
            std::str::from_utf8(&self.body)
                .ok()
                .and_then(quote_bare_keys)
                .and_then(|t| serde_json::from_str(&t).ok())
                .ok_or_else(|| {
                    ArmError::bad_request(
                        "InvalidRequestContent",
                        format!(
                            "The request content was invalid and could not be deserialized: '{e}'."
                        ),
                    )
                })
        })
    }

    pub fn seg(&self, i: usize) -> &str {
        self.segs.get(i).map_or("", String::as_str)
    }

    pub fn is(&self, i: usize, word: &str) -> bool {
        self.lower.get(i).is_some_and(|s| s == word)
    }
}

/// `text` with every unquoted property name (an identifier after `{` or `,` and before `:`, outside
/// strings) put in quotes; `None` when there is none, so the caller's original error stands.
fn quote_bare_keys(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.char_indices().peekable();
    let (mut in_string, mut escaped, mut changed) = (false, false, false);
    let mut last_significant = ' ';
    while let Some((i, c)) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if (c.is_ascii_alphabetic() || c == '_' || c == '$')
            && matches!(last_significant, '{' | ',')
        {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' || d == '$' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let ident = &text[i..end];
            if text[end..].trim_start().starts_with(':') {
                out.push('"');
                out.push_str(ident);
                out.push('"');
                changed = true;
            } else {
                out.push_str(ident);
            }
            last_significant = 'a';
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if !c.is_whitespace() {
            last_significant = c;
        }
        out.push(c);
    }
    changed.then_some(out)
}

/// Every request enters here.
pub async fn dispatch(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let correlation = parts
        .headers
        .get("x-ms-correlation-request-id")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string);
    let request_id = uuid::Uuid::new_v4().to_string();

    let (latency, fault) = st.chaos.next();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let mut resp = match fault {
        Some(Fault::DropConnection) => return dropped_connection(),
        Some(Fault::InternalServerError) => ArmError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Encountered internal server error. Diagnostic information: injected by the local cloud's fault rate.",
        )
        .into_response(),
        Some(Fault::ServiceUnavailable) => {
            let mut r = ArmError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "The service is temporarily unavailable (injected by the local cloud's fault rate). Please retry.",
            )
            .into_response();
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            r
        }
        None => match axum::body::to_bytes(body, MAX_BODY).await {
            Ok(bytes) => {
                let path = parts.uri.path().to_string();
                let query: HashMap<String, String> = parts
                    .uri
                    .query()
                    .map(|q| {
                        url::form_urlencoded::parse(q.as_bytes())
                            .map(|(k, v)| (k.to_lowercase(), v.into_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                let segs: Vec<String> = path
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| {
                        percent_decode(s)
                    })
                    .collect();
                let lower = segs.iter().map(|s| s.to_lowercase()).collect();
                let req = Req {
                    method: parts.method.clone(),
                    segs,
                    lower,
                    query,
                    body: bytes,
                    headers: parts.headers.clone(),
                };
                handle(&st, &req).await
            }
            Err(_) => ArmError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestContentTooLarge",
                "The request content size exceeds the maximum allowed.",
            )
            .into_response(),
        },
    };

    let h = resp.headers_mut();
    for (k, v) in [
        ("x-ms-request-id", request_id.clone()),
        ("x-ms-correlation-request-id", correlation),
        (
            "x-ms-routing-request-id",
            format!("UKSOUTH:{}:{request_id}", time_stamp_compact()),
        ),
    ] {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    resp
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map_or_else(|| s.to_string(), |(_, v)| v.into_owned())
}

/// A response whose body fails mid-stream, so the server aborts the connection: what a client sees when a
/// front-end drops it.
fn dropped_connection() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected dropped connection",
        ))
    });
    let mut r = Response::new(Body::from_stream(stream));
    // The status line goes out before the body breaks. It must not say success: a HEAD (or any client that
    // does not read the body) would take a 200 for an answer, as a resource group existence check once did.
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn time_stamp_compact() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// RFC 3339 timestamp of now, as ARM writes them.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

async fn handle(st: &Arc<AppState>, req: &Req) -> Response {
    // Identity endpoints need neither a token nor an api-version.
    if let Some(r) = super::auth::identity_route(st, req) {
        return r;
    }
    let caller = match super::auth::check_bearer(st, req) {
        Ok(c) => c,
        Err(e) => {
            let unauthorized = e.status == StatusCode::UNAUTHORIZED;
            let mut r = e.into_response();
            if unauthorized {
                r.headers_mut()
                    .insert("www-authenticate", super::auth::challenge(st));
            }
            return r;
        }
    };
    if req.is(0, "subscriptions") && req.segs.len() >= 2 {
        if let Err(e) = super::auth::check_tenant(st, &caller, req.seg(1)) {
            let mut r = e.into_response();
            r.headers_mut().insert(
                "www-authenticate",
                super::auth::challenge_for(st, super::auth::subscription_tenant(st, req.seg(1))),
            );
            return r;
        }
    }
    if req.api_version().is_empty() {
        return ArmError::bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
        .into_response();
    }
    let class = RequestClass::of(&req.method);
    let mut remaining = None;
    if st.config.throttle && req.is(0, "subscriptions") && req.segs.len() >= 2 {
        match st.throttle.draw(req.seg(1), class) {
            Draw::Allowed(n) => remaining = Some(n),
            Draw::Throttled(wait) => {
                let mut r = ArmError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "SubscriptionRequestsThrottled",
                    format!(
                        "Number of '{}' requests for subscription '{}' exceeded the limit for the time interval. Please try again after '{wait}' seconds.",
                        match class {
                            RequestClass::Reads => "read",
                            RequestClass::Writes => "write",
                            RequestClass::Deletes => "delete",
                        },
                        req.seg(1)
                    ),
                )
                .into_response();
                r.headers_mut()
                    .insert("retry-after", HeaderValue::from(wait));
                for prefix in ["subscription", "subscription-global"] {
                    if let Ok(name) = axum::http::HeaderName::try_from(format!(
                        "x-ms-ratelimit-remaining-{prefix}-{}",
                        class.header_suffix()
                    )) {
                        r.headers_mut().insert(name, HeaderValue::from(0));
                    }
                }
                return r;
            }
        }
    }
    // Listing subscriptions and tenants is open to every identity (Azure lists those it can see).
    if req.is(0, "subscriptions") && req.segs.len() >= 2 {
        if let Err(e) = super::rbac::authorize(&st.config.role_assignments, &caller.client_id, req)
        {
            return e.into_response();
        }
    }
    let mut resp = match route(st, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if let Some(n) = remaining {
        for prefix in ["subscription", "subscription-global"] {
            if let Ok(name) = axum::http::HeaderName::try_from(format!(
                "x-ms-ratelimit-remaining-{prefix}-{}",
                class.header_suffix()
            )) {
                resp.headers_mut().insert(name, HeaderValue::from(n));
            }
        }
    }
    resp
}

pub fn method_not_allowed(req: &Req) -> ArmError {
    ArmError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!(
            "The requested method '{}' is not allowed for '/{}'.",
            req.method,
            req.segs.join("/")
        ),
    )
}

pub fn no_route(req: &Req) -> ArmError {
    ArmError::not_found(
        "NotFound",
        format!("No route matches '/{}'.", req.segs.join("/")),
    )
}

async fn route(st: &Arc<AppState>, req: &Req) -> Result<Response, ArmError> {
    let n = req.lower.len();
    if n == 1 && req.is(0, "tenants") {
        let t = &st.config.tenant_id;
        return Ok(json_body(&json!({"value": [{
            "id": format!("/tenants/{t}"), "tenantId": t, "displayName": "trustprint local cloud", "tenantCategory": "Home"
        }]})));
    }
    if !req.is(0, "subscriptions") {
        return Err(no_route(req));
    }
    if n == 1 {
        let subs = st.store.list_subscriptions()?;
        return Ok(json_body(&json!({"value": subs})));
    }
    let sub = ensure_subscription(st, req.seg(1))?;
    if n == 2 {
        return match req.method {
            Method::GET => Ok(json_body(
                &st.store.get_subscription(&sub)?.unwrap_or_default(),
            )),
            _ => Err(method_not_allowed(req)),
        };
    }
    // Deployments and tags are Microsoft.Resources extension paths; look for them first.
    let prov = if req.is(2, "providers") {
        Some(2)
    } else if req.is(2, "resourcegroups") && req.is(4, "providers") {
        Some(4)
    } else {
        None
    };
    if let Some(p) = prov {
        if req.is(p + 1, "microsoft.resources") && req.is(p + 2, "deployments") {
            let rg = (p == 4).then(|| req.seg(3).to_string());
            return deploy::route(st, req, &sub, rg.as_deref(), p + 3).await;
        }
    }
    // The specs also route deployment operations without `providers/Microsoft.Resources`.
    if req.is(2, "deployments") {
        return deploy::route(st, req, &sub, None, 3).await;
    }
    if req.is(2, "resourcegroups") && req.is(4, "deployments") {
        let rg = req.seg(3).to_string();
        return deploy::route(st, req, &sub, Some(&rg), 5).await;
    }
    if req.lower.len() >= 4
        && req.lower[n - 4] == "providers"
        && req.lower[n - 3] == "microsoft.resources"
        && req.lower[n - 2] == "tags"
        && req.lower[n - 1] == "default"
    {
        let scope: Vec<&str> = req.segs[..n - 4].iter().map(String::as_str).collect();
        return tags(st, req, &sub, &scope);
    }
    match (n, req.lower[2].as_str()) {
        (3, "locations") => Ok(json_body(
            &json!({"value": catalog::REGIONS.iter().map(|(name, display)| json!({
            "id": format!("/subscriptions/{sub}/locations/{name}"), "name": name, "displayName": display,
            "regionalDisplayName": format!("(Europe) {display}"), "type": "Region",
            "metadata": {"regionType": "Physical", "regionCategory": "Recommended"}
        })).collect::<Vec<_>>()}),
        )),
        (3, "resources") if req.method == Method::GET => list_resources(st, req, &sub, None),
        (4, "operationresults") if req.method == Method::GET => operation_result(st, req, &sub),
        (3, "resourcegroups") if req.method == Method::GET => list_rgs(st, req, &sub),
        (4, "resourcegroups") => resource_group(st, req, &sub),
        (5, "resourcegroups") if req.is(4, "resources") && req.method == Method::GET => {
            let rg = existing_rg(st, &sub, req.seg(3))?;
            list_resources(st, req, &sub, Some(&rg))
        }
        _ => {
            let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
            let id = ids::parse(&segs).ok_or_else(|| no_route(req))?;
            generic(st, req, &id)
        }
    }
}

/// The subscription id as first seen (created on first use). Must be a GUID, as in Azure.
pub fn ensure_subscription(st: &AppState, raw: &str) -> Result<String, ArmError> {
    if uuid::Uuid::parse_str(raw).is_err() {
        return Err(ArmError::bad_request(
            "InvalidSubscriptionId",
            format!("The provided subscription identifier '{raw}' is malformed or invalid."),
        ));
    }
    if let Some(existing) = st.store.get_subscription(raw)? {
        return Ok(existing["subscriptionId"]
            .as_str()
            .unwrap_or(raw)
            .to_string());
    }
    let managed_by: Vec<Value> = super::auth::managing_tenants(st, raw)
        .map(|t| json!({"tenantId": t}))
        .collect();
    let body = json!({
        "id": format!("/subscriptions/{raw}"),
        "subscriptionId": raw,
        "tenantId": super::auth::subscription_tenant(st, raw),
        "displayName": format!("Local subscription {}", &raw[..8]),
        "state": "Enabled",
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
        "authorizationSource": "RoleBased",
        "managedByTenants": managed_by,
        "tags": {},
    });
    st.store.put_subscription(raw, &body)?;
    Ok(raw.to_string())
}

pub fn rg_not_found(rg: &str) -> ArmError {
    ArmError::not_found(
        "ResourceGroupNotFound",
        format!("Resource group '{rg}' could not be found."),
    )
}

/// The stored name of an existing, not-being-deleted group.
pub fn existing_rg(st: &AppState, sub: &str, rg: &str) -> Result<String, ArmError> {
    match st.store.get_rg(sub, rg)? {
        None => Err(rg_not_found(rg)),
        Some((_, state)) if state == "Deleting" => Err(ArmError::conflict(
            "ResourceGroupBeingDeleted",
            format!("The resource group '{rg}' is in deprovisioning state and cannot perform this operation."),
        )),
        Some((body, _)) => Ok(body["name"].as_str().unwrap_or(rg).to_string()),
    }
}

/// Create or update a resource group (used by the HTTP handler and by deployments). Returns the body and
/// whether it was created.
pub fn put_resource_group(
    st: &AppState,
    sub: &str,
    rg: &str,
    input: &Value,
) -> Result<(Value, bool), ArmError> {
    let Some(raw_loc) = input["location"].as_str() else {
        return Err(ArmError::bad_request(
            "LocationRequired",
            "The location property is required for this definition.",
        ));
    };
    let loc = normalize_location(raw_loc);
    if !catalog::is_region(&loc) {
        return Err(ArmError::bad_request(
            "LocationNotAvailableForResourceGroup",
            format!(
                "The provided location '{raw_loc}' is not available for resource group. List of available regions is '{}'.",
                catalog::REGIONS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(",")
            ),
        ));
    }
    let existing = st.store.get_rg(sub, rg)?;
    let name = match &existing {
        Some((_, state)) if state == "Deleting" => {
            return Err(ArmError::conflict(
                "ResourceGroupBeingDeleted",
                format!("The resource group '{rg}' is in deprovisioning state and cannot perform this operation."),
            ))
        }
        Some((body, _)) => {
            let old = body["location"].as_str().unwrap_or("");
            if old != loc {
                return Err(ArmError::conflict(
                    "InvalidResourceGroupLocation",
                    format!("Invalid resource group location '{raw_loc}'. The Resource group already exists in location '{old}'."),
                ));
            }
            body["name"].as_str().unwrap_or(rg).to_string()
        }
        None => rg.to_string(),
    };
    let mut body = json!({
        "id": ids::scope_id(sub, Some(&name)),
        "name": name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": loc,
    });
    if let Some(tags) = input.get("tags").filter(|t| t.is_object()) {
        body["tags"] = tags.clone();
    }
    if let Some(m) = input.get("managedBy").filter(|t| t.is_string()) {
        body["managedBy"] = m.clone();
    }
    body["properties"] = json!({"provisioningState": "Succeeded"});
    st.store.put_rg(sub, &name, "Succeeded", &body)?;
    Ok((body, existing.is_none()))
}

fn resource_group(st: &Arc<AppState>, req: &Req, sub: &str) -> Result<Response, ArmError> {
    let rg = req.seg(3);
    match req.method {
        Method::PUT => {
            let (body, created) = put_resource_group(st, sub, rg, &req.json()?)?;
            Ok(json_response(
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &body,
            ))
        }
        Method::GET => match st.store.get_rg(sub, rg)? {
            Some((body, _)) => Ok(json_body(&body)),
            None => Err(rg_not_found(rg)),
        },
        Method::HEAD => Ok(empty(match st.store.get_rg(sub, rg)? {
            Some(_) => StatusCode::NO_CONTENT,
            None => StatusCode::NOT_FOUND,
        })),
        Method::PATCH => {
            let name = existing_rg(st, sub, rg)?;
            let Some((mut body, _)) = st.store.get_rg(sub, &name)? else {
                return Err(rg_not_found(rg));
            };
            let input = req.json()?;
            if let Some(tags) = input.get("tags") {
                body["tags"] = tags.clone();
            }
            if let Some(m) = input.get("managedBy") {
                body["managedBy"] = m.clone();
            }
            st.store.put_rg(sub, &name, "Succeeded", &body)?;
            Ok(json_body(&body))
        }
        Method::DELETE => {
            let Some((mut body, _)) = st.store.get_rg(sub, rg)? else {
                return Err(rg_not_found(rg));
            };
            let name = body["name"].as_str().unwrap_or(rg).to_string();
            body["properties"]["provisioningState"] = json!("Deleting");
            st.store.put_rg(sub, &name, "Deleting", &body)?;
            let op = new_operation(st, "rg-delete", &Store::rg_key(sub, &name))?;
            spawn_rg_delete(st, sub.to_string(), name, op.clone());
            Ok(accepted_location(st, sub, &op, req.api_version()))
        }
        _ => Err(method_not_allowed(req)),
    }
}

/// Record a new running operation.
pub fn new_operation(st: &AppState, kind: &str, target: &str) -> Result<String, ArmError> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    st.store.put_operation(&Operation {
        id: id.clone(),
        kind: kind.to_string(),
        target: target.to_string(),
        status: "Running".into(),
        http_status: None,
        body: None,
    })?;
    Ok(id)
}

/// Whole seconds a client should wait before polling, from the configured operation duration.
pub fn retry_after(st: &AppState) -> u64 {
    st.config.lro.as_secs() + u64::from(st.config.lro.subsec_nanos() > 0)
}

/// `202 Accepted` with `Location` pointing at the operation result and `Retry-After`.
pub fn accepted_location(st: &AppState, sub: &str, op: &str, api_version: &str) -> Response {
    let mut r = empty(StatusCode::ACCEPTED);
    let loc = format!(
        "{}/subscriptions/{sub}/operationresults/{op}?api-version={api_version}",
        st.base_url()
    );
    if let Ok(v) = HeaderValue::from_str(&loc) {
        r.headers_mut().insert("location", v);
    }
    r.headers_mut()
        .insert("retry-after", HeaderValue::from(retry_after(st)));
    r
}

/// Finish an operation.
pub fn finish_operation(
    st: &AppState,
    id: &str,
    status: &str,
    http_status: u16,
    body: Option<Value>,
) -> Result<(), ArmError> {
    let Some(mut op) = st.store.get_operation(id)? else {
        return Ok(());
    };
    op.status = status.to_string();
    op.http_status = Some(http_status);
    op.body = body;
    st.store.put_operation(&op)
}

/// Delete a group after the configured operation duration; the delete itself is one transaction.
pub fn spawn_rg_delete(st: &Arc<AppState>, sub: String, rg: String, op: String) {
    let st2 = Arc::clone(st);
    st.spawn(async move {
        tokio::time::sleep(st2.config.lro).await;
        let result = st2.store.delete_rg_cascade(&sub, &rg);
        let _ = match result {
            Ok(()) => finish_operation(&st2, &op, "Succeeded", 200, None),
            Err(e) => finish_operation(
                &st2,
                &op,
                "Failed",
                500,
                Some(json!({"error": e.to_value()})),
            ),
        };
    });
}

fn operation_result(st: &Arc<AppState>, req: &Req, sub: &str) -> Result<Response, ArmError> {
    let id = req.seg(3);
    let Some(op) = st.store.get_operation(id)? else {
        return Err(ArmError::not_found(
            "OperationNotFound",
            format!("The operation '{id}' could not be found."),
        ));
    };
    if op.status == "Running" {
        return Ok(accepted_location(st, sub, id, req.api_version()));
    }
    let status = StatusCode::from_u16(op.http_status.unwrap_or(200)).unwrap_or(StatusCode::OK);
    Ok(match op.body {
        Some(b) => json_response(status, &b),
        None => empty(status),
    })
}

/// A parsed `$filter` of the forms ARM's list calls accept:
/// `tagName eq 'a' [and tagValue eq 'b']`, `resourceType eq 'x'`, `name eq 'x'`.
#[derive(Debug, Default)]
struct Filter {
    tag_name: Option<String>,
    tag_value: Option<String>,
    resource_type: Option<String>,
    name: Option<String>,
}

fn parse_filter(raw: Option<&String>) -> Result<Filter, ArmError> {
    let mut f = Filter::default();
    let Some(raw) = raw else { return Ok(f) };
    let re = regex::Regex::new(
        r"(?i)^\s*(tagName|tagValue|resourceType|name)\s+eq\s+'((?:[^']|'')*)'\s*$",
    )
    .map_err(|e| ArmError::internal(e.to_string()))?;
    let and = regex::Regex::new(r"(?i)\s+and\s+").map_err(|e| ArmError::internal(e.to_string()))?;
    for clause in and.split(raw) {
        let Some(c) = re.captures(clause) else {
            return Err(ArmError::bad_request(
                "InvalidFilterInQueryString",
                format!("The $filter '{raw}' is not supported: use tagName eq '...' [and tagValue eq '...'], resourceType eq '...' or name eq '...'."),
            ));
        };
        let v = Some(c[2].replace("''", "'"));
        match c[1].to_lowercase().as_str() {
            "tagname" => f.tag_name = v,
            "tagvalue" => f.tag_value = v,
            "resourcetype" => f.resource_type = v,
            _ => f.name = v,
        }
    }
    if f.tag_value.is_some() && f.tag_name.is_none() {
        return Err(ArmError::bad_request(
            "InvalidFilterInQueryString",
            "A tagValue filter requires a tagName filter.",
        ));
    }
    Ok(f)
}

impl Filter {
    fn matches(&self, v: &Value) -> bool {
        if let Some(t) = &self.resource_type {
            if !v["type"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(t))
            {
                return false;
            }
        }
        if let Some(n) = &self.name {
            if !v["name"]
                .as_str()
                .is_some_and(|x| x.eq_ignore_ascii_case(n))
            {
                return false;
            }
        }
        if let Some(tn) = &self.tag_name {
            let Some(tags) = v["tags"].as_object() else {
                return false;
            };
            let found = tags.iter().find(|(k, _)| k.eq_ignore_ascii_case(tn));
            match (found, &self.tag_value) {
                (None, _) => return false,
                (Some((_, val)), Some(want)) => {
                    if val.as_str() != Some(want.as_str()) {
                        return false;
                    }
                }
                (Some(_), None) => {}
            }
        }
        true
    }
}

/// Page a list with `$top` and our `$skiptoken` (an offset), building `nextLink` as ARM does.
pub fn page(st: &AppState, req: &Req, items: Vec<Value>) -> Result<Response, ArmError> {
    let skip: usize = match req.query.get("$skiptoken") {
        Some(s) => s.parse().map_err(|_| {
            ArmError::bad_request(
                "InvalidSkipToken",
                format!("The skip token '{s}' is invalid."),
            )
        })?,
        None => 0,
    };
    let top: Option<usize> = match req.query.get("$top") {
        Some(s) => Some(s.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
            ArmError::bad_request(
                "InvalidTopInQueryString",
                format!("The value '{s}' of $top is invalid: a positive integer is expected."),
            )
        })?),
        None => None,
    };
    let items: Vec<Value> = items.into_iter().map(redact).collect();
    let total = items.len();
    let end = top.map_or(total, |t| (skip + t).min(total));
    let value: Vec<Value> = items
        .into_iter()
        .skip(skip)
        .take(end.saturating_sub(skip))
        .collect();
    let mut out = json!({ "value": value });
    if end < total {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &req.query {
            if k != "$skiptoken" {
                q.append_pair(k, v);
            }
        }
        q.append_pair("$skiptoken", &end.to_string());
        out["nextLink"] = json!(format!(
            "{}/{}?{}",
            st.base_url(),
            req.segs.join("/"),
            q.finish()
        ));
    }
    Ok(json_body(&out))
}

fn list_rgs(st: &Arc<AppState>, req: &Req, sub: &str) -> Result<Response, ArmError> {
    let f = parse_filter(req.query.get("$filter"))?;
    let items = st
        .store
        .list_rgs(sub)?
        .into_iter()
        .filter(|v| f.matches(v))
        .collect();
    page(st, req, items)
}

fn list_resources(
    st: &Arc<AppState>,
    req: &Req,
    sub: &str,
    rg: Option<&str>,
) -> Result<Response, ArmError> {
    let f = parse_filter(req.query.get("$filter"))?;
    let items = st
        .store
        .list_resources(sub, rg)?
        .into_iter()
        .filter(|v| f.matches(v))
        .collect();
    page(st, req, items)
}

pub fn resource_not_found(id: &ResourceId) -> ArmError {
    let where_ = match &id.resource_group {
        Some(rg) => format!("under resource group '{rg}'"),
        None => format!("under subscription '{}'", id.subscription),
    };
    ArmError::not_found(
        "ResourceNotFound",
        format!(
            "The Resource '{}/{}' {where_} was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            id.resource_type(),
            id.name()
        ),
    )
}

/// Policy assignments in force for a subscription.
pub fn assignments(st: &AppState, sub: &str) -> Result<Vec<Value>, ArmError> {
    st.store
        .resources_of_type(sub, "Microsoft.Authorization/policyAssignments")
}

/// Deterministic GUID from text, for ids the emulator makes up (principal ids, tracking ids).
pub fn derived_guid(text: &str) -> String {
    let hash = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// A resource write that passed every check, ready to store.
pub struct PreparedWrite {
    pub id: String,
    pub subscription: String,
    pub resource_group: Option<String>,
    pub resource_type: &'static str,
    pub body: Value,
    /// The stored body before this write, if the resource exists.
    pub existing: Option<Value>,
}

/// Validate a resource write as a provider would accept it and build the body it would store, without
/// storing it (what-if uses this too). `patch` merges the input into the existing resource.
pub fn prepare_write(
    st: &AppState,
    id: &ResourceId,
    api_version: &str,
    input: &Value,
    patch: bool,
) -> Result<PreparedWrite, ArmError> {
    let sub = ensure_subscription(st, &id.subscription)?;
    let rg = match &id.resource_group {
        Some(rg) => Some(existing_rg(st, &sub, rg)?),
        None => None,
    };
    let resource_type = id.resource_type();
    let info = catalog::check_type(&resource_type, api_version)?;
    if info
        .name
        .eq_ignore_ascii_case("Microsoft.Resources/deployments")
    {
        return Err(ArmError::bad_request(
            "InvalidResourceType",
            "Deployments are created through the deployments API.",
        ));
    }
    let mut rid = id.clone();
    rid.subscription.clone_from(&sub);
    if let Some(rg) = &rg {
        // Keep the group's stored casing in ids.
        if rid
            .scope
            .eq_ignore_ascii_case(&ids::scope_id(&sub, Some(rg)))
        {
            rid.scope = ids::scope_id(&sub, Some(rg));
        }
        rid.resource_group = Some(rg.clone());
    }
    let canonical_id = rid.id();
    // Parents Azure creates implicitly (backup fabrics, protection containers) are not in the catalogue and
    // not checked.
    let mut parent = rid.parent();
    while let Some(p) = parent
        .as_ref()
        .filter(|p| super::providers::is_implicit(&p.resource_type(), &p.name()))
    {
        parent = p.parent();
    }
    let parent = parent.filter(|p| catalog::find_type(&p.resource_type()).is_some());
    if let Some(parent) = parent {
        if st.store.get_resource(&parent.id())?.is_none() {
            return Err(ArmError::not_found(
                "ParentResourceNotFound",
                format!(
                    "Can not perform requested operation on nested resource. Parent resource '{}' not found.",
                    parent.name()
                ),
            ));
        }
    }
    let existing = st.store.get_resource(&canonical_id)?;
    let mut body = if patch {
        let Some(mut cur) = existing.clone() else {
            return Err(resource_not_found(id));
        };
        merge(&mut cur, input);
        cur
    } else {
        input.clone()
    };
    let Some(obj) = body.as_object_mut() else {
        return Err(ArmError::bad_request(
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: a JSON object is expected.",
        ));
    };
    let location = obj
        .get("location")
        .and_then(Value::as_str)
        .map(normalize_location);
    catalog::check_location(info, location.as_deref())?;
    policy::check_write(
        &assignments(st, &sub)?,
        &canonical_id,
        &id.name(),
        info.name,
        location.as_deref(),
    )?;
    let mut out = Map::new();
    out.insert("id".into(), json!(canonical_id));
    out.insert("name".into(), json!(id.name()));
    out.insert("type".into(), json!(info.name));
    if let Some(l) = &location {
        out.insert("location".into(), json!(l));
    }
    for (k, v) in obj.iter() {
        if !matches!(
            k.as_str(),
            "id" | "name"
                | "type"
                | "location"
                | "apiVersion"
                | "dependsOn"
                | "condition"
                | "copy"
                | "scope"
                | "comments"
                | "resources"
        ) {
            out.insert(k.clone(), v.clone());
        }
    }
    if let Some(identity) = out.get_mut("identity").and_then(Value::as_object_mut) {
        if identity
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.to_lowercase().contains("systemassigned"))
        {
            identity.insert(
                "principalId".into(),
                json!(derived_guid(&canonical_id.to_lowercase())),
            );
            identity.insert("tenantId".into(), json!(st.config.tenant_id));
        }
    }
    // Values the identity provider would fill in, so `reference(...).principalId` works as in Azure.
    if let Some(uai) = out
        .get_mut("identity")
        .and_then(|i| i.get_mut("userAssignedIdentities"))
        .and_then(Value::as_object_mut)
    {
        for (uid, v) in uai.iter_mut() {
            *v = json!({
                "principalId": derived_guid(&format!("principal:{}", uid.to_lowercase())),
                "clientId": derived_guid(&format!("client:{}", uid.to_lowercase())),
            });
        }
    }
    let mut props = out
        .remove("properties")
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    if info.name == "Microsoft.ManagedIdentity/userAssignedIdentities" {
        let key = canonical_id.to_lowercase();
        props["principalId"] = json!(derived_guid(&format!("principal:{key}")));
        props["clientId"] = json!(derived_guid(&format!("client:{key}")));
        props["tenantId"] = json!(st.config.tenant_id);
    }
    provider_properties(info.name, &id.names, &canonical_id, &mut props);
    super::providers::fill(info.name, &canonical_id, &out, &mut props, &|rid| {
        st.store.get_resource(rid).ok().flatten()
    });
    props["provisioningState"] = json!("Succeeded");
    out.insert("properties".into(), props);
    Ok(PreparedWrite {
        id: canonical_id,
        subscription: sub,
        resource_group: rg,
        resource_type: info.name,
        body: Value::Object(out),
        existing,
    })
}

/// Read-only properties a provider fills in and templates commonly `reference()` (endpoints, key URIs,
/// workspace ids). Deterministic, derived from the id.
fn provider_properties(resource_type: &str, names: &[String], id: &str, props: &mut Value) {
    let version = || derived_guid(&format!("version:{}", id.to_lowercase())).replace('-', "");
    let first = names.first().map_or("", String::as_str);
    let last = names.last().map_or("", String::as_str);
    match resource_type {
        "Microsoft.KeyVault/vaults" => {
            props["vaultUri"] = json!(format!("https://{first}.vault.azure.net/"))
        }
        "Microsoft.KeyVault/vaults/keys" => {
            let uri = format!("https://{first}.vault.azure.net/keys/{last}");
            props["keyUriWithVersion"] = json!(format!("{uri}/{}", version()));
            props["keyUri"] = json!(uri);
        }
        "Microsoft.KeyVault/vaults/secrets" => {
            let uri = format!("https://{first}.vault.azure.net/secrets/{last}");
            props["secretUriWithVersion"] = json!(format!("{uri}/{}", version()));
            props["secretUri"] = json!(uri);
        }
        "Microsoft.Storage/storageAccounts" => {
            props["primaryEndpoints"] = json!({
                "blob": super::storage::blob_endpoint(first),
                "file": format!("https://{first}.file.core.windows.net/"),
                "queue": format!("https://{first}.queue.core.windows.net/"),
                "table": format!("https://{first}.table.core.windows.net/"),
                "dfs": format!("https://{first}.dfs.core.windows.net/"),
                "web": format!("https://{first}.z33.web.core.windows.net/"),
            });
        }
        "Microsoft.OperationalInsights/workspaces" => {
            props["customerId"] = json!(derived_guid(&format!("workspace:{}", id.to_lowercase())));
        }
        _ => {}
    }
}

/// Validate and store a resource write (used by HTTP and by deployments). Returns the stored body and whether
/// it is new.
pub fn write_resource(
    st: &AppState,
    id: &ResourceId,
    api_version: &str,
    input: &Value,
    patch: bool,
) -> Result<(Value, bool), ArmError> {
    let w = prepare_write(st, id, api_version, input, patch)?;
    let created = st.store.tx(|tx| {
        Store::put_resource(
            tx,
            &w.id,
            &w.subscription,
            w.resource_group.as_deref(),
            w.resource_type,
            &w.body,
        )
    })?;
    Ok((w.body, created))
}

/// A resource as clients see it: Key Vault secret values are write-only, as in Azure.
pub fn redact(mut body: Value) -> Value {
    let is_secret = body["type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("Microsoft.KeyVault/vaults/secrets"));
    if is_secret {
        if let Some(p) = body.get_mut("properties").and_then(Value::as_object_mut) {
            p.remove("value");
        }
    }
    body
}

/// JSON merge (RFC 7386-like) used by PATCH: objects merge, everything else replaces; `tags` replace whole.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else if k == "tags" {
                    t.insert(k.clone(), v.clone());
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn generic(st: &Arc<AppState>, req: &Req, id: &ResourceId) -> Result<Response, ArmError> {
    if req.method == Method::POST && id.is_collection() && id.types.len() >= 2 {
        return super::providers::post_action(st, req, id);
    }
    let resource_type = id.resource_type();
    if id.is_collection() {
        if req.method != Method::GET {
            return Err(method_not_allowed(req));
        }
        catalog::check_type(&resource_type, req.api_version())?;
        let prefix = format!("{}/", id.id().to_lowercase());
        let sub = ensure_subscription(st, &id.subscription)?;
        if let Some(rg) = &id.resource_group {
            existing_rg(st, &sub, rg)?;
        }
        let items: Vec<Value> = st
            .store
            .resources_of_type(&sub, &resource_type)?
            .into_iter()
            .filter(|v| {
                v["id"]
                    .as_str()
                    .is_some_and(|i| i.to_lowercase().starts_with(&prefix))
            })
            .collect();
        return page(st, req, items);
    }
    match req.method {
        Method::PUT | Method::PATCH => {
            let (body, created) = write_resource(
                st,
                id,
                req.api_version(),
                &req.json()?,
                req.method == Method::PATCH,
            )?;
            Ok(json_response(
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &redact(body),
            ))
        }
        Method::GET | Method::HEAD => {
            catalog::check_type(&resource_type, req.api_version())?;
            let sub = ensure_subscription(st, &id.subscription)?;
            if let Some(rg) = &id.resource_group {
                if st.store.get_rg(&sub, rg)?.is_none() {
                    return Err(rg_not_found(rg));
                }
            }
            match st.store.get_resource(&id.id())? {
                Some(b) if req.method == Method::GET => Ok(json_body(&redact(b))),
                Some(_) => Ok(empty(StatusCode::NO_CONTENT)),
                None if req.method == Method::HEAD => Ok(empty(StatusCode::NOT_FOUND)),
                None => Err(resource_not_found(id)),
            }
        }
        Method::DELETE => {
            catalog::check_type(&resource_type, req.api_version())?;
            let sub = ensure_subscription(st, &id.subscription)?;
            if let Some(rg) = &id.resource_group {
                existing_rg(st, &sub, rg)?;
            }
            let key = id.id();
            let existed = st.store.tx(|tx| Store::delete_resource_tree(tx, &key))?;
            Ok(empty(if existed {
                StatusCode::OK
            } else {
                StatusCode::NO_CONTENT
            }))
        }
        _ => Err(method_not_allowed(req)),
    }
}

/// `{scope}/providers/Microsoft.Resources/tags/default`: tags of a subscription, group or resource.
fn tags(st: &Arc<AppState>, req: &Req, sub: &str, scope: &[&str]) -> Result<Response, ArmError> {
    enum Target {
        Sub,
        Rg(String),
        Res(String),
    }
    let target = match scope.len() {
        2 => Target::Sub,
        4 if scope[2].eq_ignore_ascii_case("resourcegroups") => {
            Target::Rg(existing_rg(st, sub, scope[3])?)
        }
        _ => {
            let id = ids::parse(scope).ok_or_else(|| no_route(req))?;
            if st.store.get_resource(&id.id())?.is_none() {
                return Err(resource_not_found(&id));
            }
            Target::Res(id.id())
        }
    };
    let mut body = match &target {
        Target::Sub => st.store.get_subscription(sub)?.unwrap_or_default(),
        Target::Rg(rg) => st
            .store
            .get_rg(sub, rg)?
            .map(|(b, _)| b)
            .unwrap_or_default(),
        Target::Res(id) => st.store.get_resource(id)?.unwrap_or_default(),
    };
    let scope_id = body["id"].as_str().unwrap_or("").to_string();
    let mut current = body["tags"].as_object().cloned().unwrap_or_default();
    let input = req.json()?;
    let given = input["properties"]["tags"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    match req.method {
        Method::GET => {}
        Method::PUT => current = given,
        Method::PATCH => match input["operation"].as_str().unwrap_or("") {
            o if o.eq_ignore_ascii_case("merge") => current.extend(given),
            o if o.eq_ignore_ascii_case("replace") => current = given,
            o if o.eq_ignore_ascii_case("delete") => {
                // Delete removes the given names; with a value, only when the value matches.
                for (k, v) in given {
                    if current
                        .get(&k)
                        .is_some_and(|c| v.as_str().is_none_or(|s| s.is_empty() || c == &v))
                    {
                        current.remove(&k);
                    }
                }
            }
            other => {
                return Err(ArmError::bad_request(
                    "InvalidTagOperation",
                    format!(
                    "The tag operation '{other}' is not valid: expected Merge, Replace or Delete."
                ),
                ))
            }
        },
        Method::DELETE => current.clear(),
        _ => return Err(method_not_allowed(req)),
    }
    if req.method != Method::GET {
        body["tags"] = Value::Object(current.clone());
        match &target {
            Target::Sub => st.store.put_subscription(sub, &body)?,
            Target::Rg(rg) => st.store.put_rg(sub, rg, "Succeeded", &body)?,
            Target::Res(id) => {
                let rid = ids::parse_str(id).ok_or_else(|| no_route(req))?;
                let ty = rid.resource_type();
                st.store.tx(|tx| {
                    Store::put_resource(tx, id, sub, rid.resource_group.as_deref(), &ty, &body)
                })?;
            }
        }
    }
    if req.method == Method::DELETE {
        return Ok(empty(StatusCode::OK));
    }
    Ok(json_body(&json!({
        "id": format!("{scope_id}/providers/Microsoft.Resources/tags/default"),
        "name": "default",
        "type": "Microsoft.Resources/tags",
        "properties": {"tags": current},
    })))
}

#[cfg(test)]
mod tests {
    use super::quote_bare_keys;

    #[test]
    fn bare_property_names_are_quoted_as_newtonsoft_reads_them() {
        // The Azure CLI's body: the template spliced in under an unquoted `template` key.
        let cli = r#"{"properties": {"mode": "Incremental", template:{"a": "x, b: {c", "list": [true, false, null], "n": 1}}}"#;
        let fixed = quote_bare_keys(cli).unwrap();
        let v: serde_json::Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(v["properties"]["template"]["a"], "x, b: {c");
        assert_eq!(v["properties"]["template"]["list"][1], false);
        assert_eq!(
            quote_bare_keys(r#"{ a : 1, b_2:"q\"r: s", $c: [1]}"#).as_deref(),
            Some(r#"{ "a" : 1, "b_2":"q\"r: s", "$c": [1]}"#)
        );
        // Nothing to quote: the caller keeps its own error.
        assert_eq!(quote_bare_keys(r#"{"a": tru}"#), None);
    }
}
