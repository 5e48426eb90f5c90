//! TLS: a locally generated CA and server certificate (placeholder until implemented).

use super::Error;
use std::path::Path;

pub struct Acceptor;

pub fn acceptor(_dir: Option<&Path>) -> Result<(Acceptor, String), Error> {
    Err(Error::Tls("TLS is not implemented yet".into()))
}

pub async fn serve(
    _l: tokio::net::TcpListener,
    _a: Acceptor,
    _app: axum::Router,
    _rx: tokio::sync::oneshot::Receiver<()>,
) {
}
