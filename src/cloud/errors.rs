//! The emulator's error: ARM's error tree ([`crate::protocol::ErrorDetail`], the one definition of the wire
//! shape the client reads too) with the HTTP status it travels with and the `x-ms-error-code` header. Every
//! handler returns [`ArmError`] on failure.

use crate::protocol::{AdditionalInfo, ErrorDetail, ErrorResponse};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

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

    /// The error tree as the protocol defines it.
    pub fn detail(&self) -> ErrorDetail {
        ErrorDetail {
            code: self.code.clone(),
            message: self.message.clone(),
            target: self.target.clone(),
            details: self.details.iter().map(ArmError::detail).collect(),
            additional_info: self
                .additional_info
                .iter()
                .map(|v| {
                    serde_json::from_value(v.clone()).unwrap_or_else(|_| AdditionalInfo {
                        kind: String::new(),
                        info: v.clone(),
                    })
                })
                .collect(),
        }
    }

    /// An error read from its protocol form, travelling with `status`.
    pub fn from_detail(status: StatusCode, d: ErrorDetail) -> Self {
        ArmError {
            status,
            code: d.code,
            message: d.message,
            target: d.target,
            details: d
                .details
                .into_iter()
                .map(|d| ArmError::from_detail(StatusCode::BAD_REQUEST, d))
                .collect(),
            additional_info: d
                .additional_info
                .iter()
                .filter_map(|i| serde_json::to_value(i).ok())
                .collect(),
        }
    }

    /// The inner object (`{"code","message",...}`), as it appears nested in `details` or `properties.error`.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self.detail()).unwrap_or(Value::Null)
    }

    /// Read an error back from its JSON form (stored deployment errors).
    pub fn from_value(v: &Value) -> Option<ArmError> {
        let d: ErrorDetail = serde_json::from_value(v.clone()).ok()?;
        (!d.code.is_empty()).then(|| ArmError::from_detail(StatusCode::BAD_REQUEST, d))
    }
}

impl std::fmt::Display for ArmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl IntoResponse for ArmError {
    fn into_response(self) -> Response {
        let body = ErrorResponse {
            error: self.detail(),
        };
        let body = serde_json::to_value(&body).unwrap_or(Value::Null);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn the_wire_body_is_the_one_the_arm_client_reads() {
        let e = ArmError::bad_request("DeploymentFailed", "At least one resource failed.")
            .with_target("/subscriptions/s/deployments/d")
            .with_details(vec![ArmError::bad_request("InvalidTemplate", "bad")
                .with_info(
                    json!({"type": "TemplateViolation", "info": {"path": "resources[0]"}}),
                )]);
        let resp = e.clone().into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(resp.headers()["x-ms-error-code"], "DeploymentFailed");
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let read = crate::arm::ErrorDetail::from_body(&bytes).unwrap();
        assert_eq!(read.code, "DeploymentFailed");
        assert_eq!(
            read.target.as_deref(),
            Some("/subscriptions/s/deployments/d")
        );
        assert_eq!(read.details[0].code, "InvalidTemplate");
        assert_eq!(read.details[0].additional_info[0].kind, "TemplateViolation");
        assert_eq!(
            read.details[0].additional_info[0].info["path"],
            "resources[0]"
        );
        // And a stored error reads back whole.
        assert_eq!(ArmError::from_value(&e.to_value()), Some(e));
    }
}
