//! The local cloud's HTTP layer. [`router`] is the front door (what ARM's front door does for every request:
//! latency, faults, authentication, api-version, throttling, request ids) and routes by path segments matched
//! case-insensitively to the handlers of subscriptions, resource groups, tags and generic resources
//! (deployments live in [`super::deploy`]). [`resources`] is the write path a direct request and a
//! deployment share. This file is the toolkit the handlers use: the request as they see it, responses,
//! paging and long-running operations.

mod resources;
mod router;

pub use resources::{
    ensure_subscription, existing_rg, prepare_write, put_resource_group, redact,
    resource_not_found, rg_not_found, secret_value, write_resource,
};
pub use router::dispatch;

use super::errors::ArmError;
use super::store::Operation;
use super::AppState;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

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
    /// Who sent it, once the bearer token is checked.
    pub caller: Option<crate::cloud::auth::Caller>,
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

/// RFC 3339 timestamp of now, as ARM writes them.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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

/// Mark `resp` as a long-running operation followed through `Azure-AsyncOperation`: the status monitor of
/// operation `op` under `id` (`{id}/operationStatuses/{op}`), and `Retry-After`.
pub fn async_operation(st: &AppState, req: &Req, resp: &mut Response, id: &str, op: &str) {
    let status_url = format!(
        "{}{id}/operationStatuses/{op}?api-version={}",
        st.base_url(),
        req.api_version()
    );
    if let Ok(v) = HeaderValue::from_str(&status_url) {
        resp.headers_mut().insert("azure-asyncoperation", v);
    }
    resp.headers_mut()
        .insert("retry-after", HeaderValue::from(retry_after(st)));
}

/// `202 Accepted` with `Location` pointing at the subscription's operation result and `Retry-After`.
pub fn accepted_location(st: &AppState, sub: &str, op: &str, api_version: &str) -> Response {
    accepted_at(
        st,
        &format!("/subscriptions/{sub}/operationresults/{op}"),
        api_version,
    )
}

/// `202 Accepted` with `Location` on `path` (an operation result's) and `Retry-After`.
pub fn accepted_at(st: &AppState, path: &str, api_version: &str) -> Response {
    let mut r = empty(StatusCode::ACCEPTED);
    let loc = format!("{}{path}?api-version={api_version}", st.base_url());
    if let Ok(v) = HeaderValue::from_str(&loc) {
        r.headers_mut().insert("location", v);
    }
    r.headers_mut()
        .insert("retry-after", HeaderValue::from(retry_after(st)));
    r
}

/// `GET {path}` of operation `op`: 202 (again with `Location` on `path`) while it runs, then its result. With
/// `target`, only an operation on that resource is found.
pub fn operation_result(
    st: &AppState,
    req: &Req,
    op: &str,
    target: Option<&str>,
    path: &str,
) -> Result<Response, ArmError> {
    let found = st
        .store
        .get_operation(op)?
        .filter(|o| target.is_none_or(|t| o.target.eq_ignore_ascii_case(t)));
    let Some(o) = found else {
        return Err(ArmError::not_found(
            "OperationNotFound",
            format!("The operation '{op}' could not be found."),
        ));
    };
    if o.status == "Running" {
        return Ok(accepted_at(st, path, req.api_version()));
    }
    let status = StatusCode::from_u16(o.http_status.unwrap_or(200)).unwrap_or(StatusCode::OK);
    Ok(match o.body {
        Some(b) => json_response(status, &b),
        None => empty(status),
    })
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

/// Deterministic GUID from text, for ids the emulator makes up (principal ids, tracking ids).
pub fn derived_guid(text: &str) -> String {
    let hash = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
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
