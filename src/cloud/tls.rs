//! TLS for `--tls`: a local certificate authority (kept in the state folder as `ca.pem` and `ca-key.pem`, so
//! clients trust it once) signs a fresh server certificate for `127.0.0.1` and `localhost` at every start. The
//! Azure CLI and the Python SDK trust `ca.pem` through `REQUESTS_CA_BUNDLE`. Without a state folder the CA lives
//! in memory and [`super::RunningServer::ca_pem`] hands it to the caller.

use super::Error;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// Accepts TLS connections with the server certificate.
pub struct Acceptor(TlsAcceptor);

fn tls_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Tls(format!("{what}: {e}"))
}

/// The CA's parameters; rebuilt identically at every start so a stored CA key can sign again.
fn ca_params() -> Result<CertificateParams, Error> {
    let mut p =
        CertificateParams::new(Vec::<String>::new()).map_err(|e| tls_err("CA parameters", e))?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "trustprint local cloud CA");
    p.distinguished_name
        .push(DnType::OrganizationName, "trustprint");
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

/// Write a file atomically (temp file in the same folder, then rename).
fn write_atomic(path: &Path, contents: &str) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |source| Error::StateDir {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(contents.as_bytes()).map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Load the CA from the state folder, or make one (and store it there).
fn load_or_create_ca(dir: Option<&Path>) -> Result<(String, KeyPair), Error> {
    if let Some(d) = dir {
        let (cert_path, key_path) = (d.join("ca.pem"), d.join("ca-key.pem"));
        if cert_path.exists() && key_path.exists() {
            super::check_private(&key_path)?;
            let read = |p: &Path| {
                std::fs::read_to_string(p).map_err(|source| Error::StateDir {
                    path: p.to_path_buf(),
                    source,
                })
            };
            let key = KeyPair::from_pem(&read(&key_path)?).map_err(|e| tls_err("ca-key.pem", e))?;
            return Ok((read(&cert_path)?, key));
        }
    }
    let key = KeyPair::generate().map_err(|e| tls_err("CA key", e))?;
    let cert = ca_params()?
        .self_signed(&key)
        .map_err(|e| tls_err("CA certificate", e))?;
    let pem = cert.pem();
    if let Some(d) = dir {
        write_atomic(&d.join("ca-key.pem"), &key.serialize_pem())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(
                d.join("ca-key.pem"),
                std::fs::Permissions::from_mode(0o600),
            );
        }
        write_atomic(&d.join("ca.pem"), &pem)?;
    }
    Ok((pem, key))
}

/// The acceptor and the CA certificate (PEM) clients must trust; the server certificate names `names` (IP
/// addresses become IP subject alternative names, anything else DNS names).
pub fn acceptor(dir: Option<&Path>, names: &[String]) -> Result<(Acceptor, String), Error> {
    let (ca_pem, ca_key) = load_or_create_ca(dir)?;
    let issuer = Issuer::new(ca_params()?, ca_key);
    let leaf_key = KeyPair::generate().map_err(|e| tls_err("server key", e))?;
    let mut leaf = CertificateParams::new(names.to_vec())
        .map_err(|e| tls_err("server certificate names (--tls-name)", e))?;
    leaf.distinguished_name
        .push(DnType::CommonName, "trustprint local cloud");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf
        .signed_by(&leaf_key, &issuer)
        .map_err(|e| tls_err("server certificate", e))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("TLS versions", e))?
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], key)
        .map_err(|e| tls_err("server certificate", e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Acceptor(TlsAcceptor::from(Arc::new(config))), ca_pem))
}

/// Serve `app` over TLS until `rx` fires. Each connection runs on its own task; a failed handshake only
/// drops that connection.
pub async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: Acceptor,
    app: axum::Router,
    mut rx: tokio::sync::oneshot::Receiver<()>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = &mut rx => break,
            a = listener.accept() => a,
        };
        let Ok((tcp, _)) = accepted else { continue };
        let tls = acceptor.0.clone();
        let app = app.clone();
        conns.spawn(async move {
            let Ok(stream) = tls.accept(tcp).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
        });
    }
    conns.abort_all();
}
