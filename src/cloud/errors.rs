//! ARM's error shape: `{"error":{"code","message","target"?,"details":[..],"additionalInfo":[..]}}` with the
//! `x-ms-error-code` header. Every handler returns [`ArmError`] on failure so the wire shape is built in one place.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// An error as Azure Resource Manager reports it, with the HTTP status it travels with.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub target: Option<String>,
    pub details: Vec<ArmError>,
    pub additional_info: Vec<Value>,
}

impl ArmError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ArmError {
            status,
            code: code.to_string(),
            message: message.into(),
            target: None,
            details: Vec::new(),
            additional_info: Vec::new(),
        }
    }

    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// A failure inside the emulator itself (its database): reported as ARM reports its own faults.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            message,
        )
    }

    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn with_details(mut self, details: Vec<ArmError>) -> Self {
        self.details = details;
        self
    }

    pub fn with_info(mut self, info: Value) -> Self {
        self.additional_info.push(info);
        self
    }

    /// The inner object (`{"code","message",...}`), as it appears nested in `details` or `properties.error`.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("code".into(), json!(self.code));
        m.insert("message".into(), json!(self.message));
        if let Some(t) = &self.target {
            m.insert("target".into(), json!(t));
        }
        if !self.details.is_empty() {
            m.insert(
                "details".into(),
                Value::Array(self.details.iter().map(ArmError::to_value).collect()),
            );
        }
        if !self.additional_info.is_empty() {
            m.insert(
                "additionalInfo".into(),
                Value::Array(self.additional_info.clone()),
            );
        }
        Value::Object(m)
    }

    /// Read an error back from its JSON form (stored deployment errors).
    pub fn from_value(v: &Value) -> Option<ArmError> {
        let code = v.get("code")?.as_str()?;
        let message = v.get("message").and_then(Value::as_str).unwrap_or("");
        Some(ArmError {
            status: StatusCode::BAD_REQUEST,
            code: code.to_string(),
            message: message.to_string(),
            target: v.get("target").and_then(Value::as_str).map(str::to_string),
            details: v
                .get("details")
                .and_then(Value::as_array)
                .map(|d| d.iter().filter_map(ArmError::from_value).collect())
                .unwrap_or_default(),
            additional_info: v
                .get("additionalInfo")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        })
    }
}

impl std::fmt::Display for ArmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl IntoResponse for ArmError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.to_value() });
        let mut resp = (self.status, super::http::json_body(&body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            resp.headers_mut().insert("x-ms-error-code", v);
        }
        if let Some(h) = resp.headers_mut().get_mut("content-type") {
            *h = HeaderValue::from_static("application/json; charset=utf-8");
        }
        resp
    }
}

impl From<rusqlite::Error> for ArmError {
    fn from(e: rusqlite::Error) -> Self {
        ArmError::internal(format!("The local cloud's state store failed: {e}"))
    }
}

impl From<serde_json::Error> for ArmError {
    fn from(e: serde_json::Error) -> Self {
        ArmError::internal(format!(
            "The local cloud's stored state is not valid JSON: {e}"
        ))
    }
}
