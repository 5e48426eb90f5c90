//! Deployments (placeholder).

use super::errors::ArmError;
use super::http::Req;
use super::AppState;
use axum::response::Response;
use std::sync::Arc;

pub async fn route(
    _st: &Arc<AppState>,
    req: &Req,
    _sub: &str,
    _rg: Option<&str>,
    _at: usize,
) -> Result<Response, ArmError> {
    Err(ArmError::not_found("NotFound", format!("/{}", req.segs.join("/"))))
}

pub fn recover(_st: &AppState) -> Result<(), ArmError> {
    Ok(())
}
