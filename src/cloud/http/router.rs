//! The front door and the request handlers: every request enters [`dispatch`], passes the checks ARM's front
//! door makes, then is routed by path segments matched case-insensitively.

use super::resources::{
    ensure_subscription, existing_rg, put_resource_group, redact, resource_not_found, rg_not_found,
    spawn_rg_delete, write_resource,
};
use super::{
    accepted_location, empty, json_body, json_response, method_not_allowed, new_operation,
    no_route, page, Req,
};
use crate::cloud::catalog;
use crate::cloud::errors::ArmError;
use crate::cloud::ids::{self, ResourceId};
use crate::cloud::realism::{Draw, Fault, RequestClass};
use crate::cloud::store::Store;
use crate::cloud::{deploy, AppState};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Largest request body accepted: ARM refuses a request whose content exceeds 4 MB with 413
/// `RequestContentTooLarge` (what a template over 4 MB meets first).
const MAX_BODY: usize = 4 * 1024 * 1024;

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
                    caller: None,
                };
                handle(&st, req).await
            }
            Err(_) => ArmError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestContentTooLarge",
                "The request content size exceeds the maximum size of 4 MB.",
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

async fn handle(st: &Arc<AppState>, mut req: Req) -> Response {
    // Identity endpoints need neither a token nor an api-version.
    if let Some(r) = crate::cloud::auth::identity_route(st, &req) {
        return r;
    }
    let caller = match crate::cloud::auth::check_bearer(st, &req) {
        Ok(c) => c,
        Err(e) => {
            let unauthorized = e.status == StatusCode::UNAUTHORIZED;
            let mut r = e.into_response();
            if unauthorized {
                r.headers_mut()
                    .insert("www-authenticate", crate::cloud::auth::challenge(st));
            }
            return r;
        }
    };
    req.caller = Some(caller.clone());
    let req = &req;
    // Encoded separators and control characters never reach routing (a name holding `%2F` would address
    // another resource).
    if let Err(e) = crate::cloud::names::check_segments(&req.segs) {
        return e.into_response();
    }
    if req.is(0, "subscriptions") && req.segs.len() >= 2 {
        if let Err(e) = crate::cloud::auth::check_tenant(st, &caller, req.seg(1)) {
            let mut r = e.into_response();
            r.headers_mut().insert(
                "www-authenticate",
                crate::cloud::auth::challenge_for(
                    st,
                    crate::cloud::auth::subscription_tenant(st, req.seg(1)),
                ),
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
        if let Err(e) =
            crate::cloud::rbac::authorize(&st.config.role_assignments, &caller.client_id, req)
        {
            return e.into_response();
        }
    }
    // Deny assignments (deployment stacks' deny settings) hold even against an Owner.
    if req.is(0, "subscriptions") && req.segs.len() >= 2 {
        if let Err(e) = crate::cloud::deny::check_request(st, &caller, req) {
            return e.into_response();
        }
    }
    let mut resp = match route(st, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    // A resource group's deployment stacks go with it, and deny assignments go with their scope.
    if req.method == Method::DELETE && req.is(0, "subscriptions") && resp.status().is_success() {
        if req.lower.len() == 4 && req.is(2, "resourcegroups") {
            if let Err(e) = crate::cloud::stacks::forget_resource_group(st, req.seg(1), req.seg(3))
            {
                return e.into_response();
            }
        }
        if let Err(e) = crate::cloud::deny::forget_scope(st, &format!("/{}", req.segs.join("/"))) {
            return e.into_response();
        }
    }
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

async fn route(st: &Arc<AppState>, req: &Req) -> Result<Response, ArmError> {
    let n = req.lower.len();
    if n == 1 && req.is(0, "tenants") {
        let t = &st.config.tenant_id;
        return Ok(json_body(&json!({"value": [{
            "id": format!("/tenants/{t}"), "tenantId": t, "displayName": "trustprint local cloud", "tenantCategory": "Home"
        }]})));
    }
    // Management group scope: deployments, deployment stacks and their what-if, Microsoft.Blueprint, then
    // Azure Policy's tenant and management group routes.
    let at_group = req.is(0, "providers")
        && req.is(1, "microsoft.management")
        && req.is(2, "managementgroups")
        && req.is(4, "providers");
    if at_group && req.is(5, "microsoft.resources") {
        let scope = deploy::Scope::ManagementGroup {
            mg: req.seg(3).to_string(),
        };
        if req.is(6, "deployments") {
            return deploy::route(st, req, scope, 7).await;
        }
        if req.is(6, "deploymentstacks") {
            return crate::cloud::stacks::route(st, req, scope, 7).await;
        }
        if req.is(6, "deploymentstackswhatifresults") {
            return crate::cloud::stacks::whatif_route(st, req, scope, 7).await;
        }
    }
    if at_group && req.is(5, "microsoft.blueprint") {
        let scope = crate::cloud::blueprints::BlueprintScope::management_group(req.seg(3));
        return crate::cloud::blueprints::route(st, req, &scope, 6);
    }
    if req.is(0, "providers") {
        return crate::cloud::policy::route_tenant(st, req).await;
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
    if let Some(at) = (2..n.saturating_sub(1))
        .find(|&i| req.is(i, "providers") && req.is(i + 1, "microsoft.policyinsights"))
    {
        return crate::cloud::policyinsights::route(st, req, at).await;
    }
    if n == 5
        && req.method == Method::GET
        && req.is(2, "providers")
        && req.is(3, "microsoft.authorization")
        && (req.is(4, "policydefinitions") || req.is(4, "policysetdefinitions"))
    {
        return crate::cloud::policy::list_at_subscription(st, req, &sub);
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
            return deploy::route(st, req, deploy::Scope::of(&sub, rg.as_deref()), p + 3).await;
        }
        if req.is(p + 1, "microsoft.resources")
            && (req.is(p + 2, "deploymentstacks") || req.is(p + 2, "deploymentstackswhatifresults"))
        {
            use crate::cloud::stacks::{route as stacks_route, whatif_route, Scope};
            let scope = if p == 4 {
                Scope::ResourceGroup {
                    sub: sub.clone(),
                    rg: req.seg(3).to_string(),
                }
            } else {
                Scope::Subscription { sub: sub.clone() }
            };
            if req.is(p + 2, "deploymentstackswhatifresults") {
                return whatif_route(st, req, scope, p + 3).await;
            }
            return stacks_route(st, req, scope, p + 3).await;
        }
        if p == 2
            && n == 7
            && req.is(3, "microsoft.insights")
            && req.is(4, "eventtypes")
            && req.is(5, "management")
            && req.is(6, "values")
        {
            return crate::cloud::deny::activity_log(st, req, &sub);
        }
    }
    if req.is(2, "providers") && req.is(3, "microsoft.blueprint") {
        let scope = crate::cloud::blueprints::BlueprintScope::subscription(&sub);
        return crate::cloud::blueprints::route(st, req, &scope, 4);
    }
    // The specs also route deployment operations without `providers/Microsoft.Resources`.
    if req.is(2, "deployments") {
        return deploy::route(st, req, deploy::Scope::of(&sub, None), 3).await;
    }
    if req.is(2, "resourcegroups") && req.is(4, "deployments") {
        let rg = req.seg(3).to_string();
        return deploy::route(st, req, deploy::Scope::of(&sub, Some(&rg)), 5).await;
    }
    // `{scope}/providers/Microsoft.Authorization/denyAssignments[/{name}]`, at any scope.
    for (named, at) in [(false, 2), (true, 3)] {
        if n >= at + 2
            && req.lower[n - at] == "microsoft.authorization"
            && req.lower[n - at - 1] == "providers"
            && req.lower[n - at + 1] == "denyassignments"
        {
            let scope = format!("/{}", req.segs[..n - at - 1].join("/"));
            let name = named.then(|| req.seg(n - 1));
            return crate::cloud::deny::route(st, req, &scope, name);
        }
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

fn operation_result(st: &Arc<AppState>, req: &Req, sub: &str) -> Result<Response, ArmError> {
    let id = req.seg(3);
    crate::cloud::http::operation_result(
        st,
        req,
        id,
        None,
        &format!("/subscriptions/{sub}/operationresults/{id}"),
    )
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

fn generic(st: &Arc<AppState>, req: &Req, id: &ResourceId) -> Result<Response, ArmError> {
    if req.method == Method::POST && id.is_collection() && id.types.len() >= 2 {
        return super::super::providers::post_action(st, req, id);
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
            if let Some(stored) = st.store.get_resource(&key)? {
                crate::cloud::policy::on_delete(st, &sub, &key, &stored)?;
            }
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
