//! The local cloud: an embedded Azure Resource Manager that speaks ARM's real REST protocol.
//!
//! Contract: [`Server::start`] binds an address, serves ARM's REST protocol (subscriptions, resource groups,
//! generic resources, tags, deployments with validate / what-if / operations, an OAuth2 token endpoint) until
//! the returned [`RunningServer`] is shut down or dropped, and keeps its state in SQLite (in memory, or durable
//! in a state folder). The same server backs `trustprint cloud serve`, the integration tests and deployments
//! with `--target local`. What is and is not emulated: `docs/local-cloud.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), trustprint::cloud::Error> {
//! use trustprint::cloud::{Config, Server};
//! let server = Server::start(Config::default()).await?;
//! println!("ARM endpoint: {}", server.url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Layout: `http` (the handlers' toolkit; `http::router` is the front door and routes to the handlers of
//! subscriptions, groups, tags and generic resources; `http::resources` is the write path requests and
//! deployments share), `deploy` (`handlers` for deployments' HTTP API, `engine` runs them on
//! [`crate::armexpr`], `whatif`, `secrets`), `stacks` (deployment stacks, run on the engine), `deny` (their
//! deny assignments and the activity log of refused requests), `auth` (tokens), `rbac` (roles), `store`
//! (SQLite), `catalog` (regions and resource types), `policy` (Azure Policy: definitions, assignments,
//! exemptions, request effects and evaluation, on [`crate::policy`]), `policyinsights` (compliance states),
//! `realism` (latency, throttling, faults), `tls`
//! (local CA). ARM's wire shapes (error body, provisioning states) come from [`crate::protocol`], shared with
//! the client. Nothing here imports the tool's stages (run, deploy, fleet, cli, record, render, check, cost,
//! evidence).

// ArmError carries ARM's whole error shape (details, additionalInfo); it travels only on the cold error path
// of a request, so its size does not matter and boxing it would only obscure the handlers.
#![allow(clippy::result_large_err)]

mod auth;
mod blueprints;
pub mod catalog;
mod deny;
mod deploy;
mod errors;
mod http;
mod ids;
mod management_groups;
mod names;
mod policy;
mod policyinsights;
pub(crate) mod providers;
mod rbac;
mod realism;
mod sealed;
mod stacks;
mod storage;
mod store;
mod tls;

pub use auth::{Delegation, Identity, SubscriptionTenant};
pub use errors::ArmError;
pub use rbac::{object_id, Role, RoleAssignment};
pub use realism::{Bucket, ThrottleLimits};
pub use storage::{blob_endpoint, storage_account_key, BLOB_ENDPOINT_ENV};

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The default tenant id the local cloud issues tokens for.
pub const DEFAULT_TENANT: &str = "72f988bf-0000-4000-8000-00000000c10d";

/// How the local cloud runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind (`127.0.0.1:0` picks a free port).
    pub addr: SocketAddr,
    /// State folder (`state.db`, `ca.pem`); `None` keeps everything in memory.
    pub state_dir: Option<PathBuf>,
    /// Serve HTTPS with a locally generated CA written to `ca.pem` in the state folder.
    pub tls: bool,
    /// Host names and addresses the server certificate names besides `127.0.0.1`, `localhost` and a specific
    /// bound address (`--tls-name`): what clients on other machines connect to.
    pub tls_names: Vec<String>,
    /// Added to every request (plus up to 50 % seeded jitter).
    pub latency: Duration,
    /// How long long-running operations (deployment steps, group deletes, what-if) take.
    pub lro: Duration,
    /// Fraction of requests answered with an injected fault (500, 503 or a dropped connection).
    pub fault_rate: f64,
    /// Seed for latency jitter and faults.
    pub seed: u64,
    /// ARM's per-subscription token-bucket throttling on or off.
    pub throttle: bool,
    /// The token buckets' sizes and refill rates when throttling is on (default: ARM's figures).
    pub throttle_limits: ThrottleLimits,
    /// Client id the token endpoint accepts (`None`: any non-empty).
    pub client_id: Option<String>,
    /// Client secret the token endpoint accepts (`None`: any non-empty).
    pub client_secret: Option<String>,
    /// Tenant id of tokens issued to identities not in `identities`, and of every subscription not in
    /// `subscription_tenants`.
    pub tenant_id: String,
    /// Service principals the token endpoint knows, each registered in its own tenant (`--identity`). One
    /// of these gets tokens only from its tenant and only with its secret; once any is declared, other
    /// client ids are refused unless they are `client_id`.
    pub identities: Vec<Identity>,
    /// The tenant each of these subscriptions belongs to (`--subscription-tenant`). A request on one of
    /// them needs a token issued by that tenant or by a tenant it is delegated to; other subscriptions
    /// belong to `tenant_id` and accept a token from any tenant, as before tenants were emulated.
    pub subscription_tenants: Vec<SubscriptionTenant>,
    /// Azure Lighthouse delegations of subscriptions to managing tenants (`--delegation`).
    pub delegations: Vec<Delegation>,
    /// Role assignments (client id, role, scope). Empty: every identity is Owner of everything, as before
    /// RBAC was emulated. Non-empty: each request is checked against them (see `docs/local-cloud.md`).
    pub role_assignments: Vec<RoleAssignment>,
    /// Whether the deployment stack what-if (`deploymentStacksWhatIfResults`, 2025-07-01) is offered. False
    /// plays an Azure from before it: its routes answer 400 `InvalidResourceType`, as ARM does for a type it
    /// does not know.
    pub stack_what_if: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_dir: None,
            tls: false,
            tls_names: Vec::new(),
            latency: Duration::ZERO,
            lro: Duration::ZERO,
            fault_rate: 0.0,
            seed: 0,
            throttle: true,
            throttle_limits: ThrottleLimits::default(),
            client_id: None,
            client_secret: None,
            tenant_id: DEFAULT_TENANT.to_string(),
            identities: Vec::new(),
            subscription_tenants: Vec::new(),
            delegations: Vec::new(),
            role_assignments: Vec::new(),
            stack_what_if: true,
        }
    }
}

/// Errors starting or running the local cloud.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address could not be bound.
    #[error("local cloud: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The state folder could not be created or written.
    #[error("local cloud: state folder {}: {source}", path.display())]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The state database could not be opened.
    #[error("local cloud: state database in {}: {source}", path.display())]
    Store {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// The state database was opened but recovering interrupted work failed.
    #[error("local cloud: recovering interrupted operations: {0}")]
    Recovery(Box<ArmError>),
    /// The local certificate authority or server certificate could not be made.
    #[error("local cloud: TLS setup: {0}")]
    Tls(String),
    /// Listening where other machines can reach it without a client secret and TLS would hand an Owner token
    /// to anyone on the network, over plain HTTP.
    #[error("local cloud: refusing to listen on {addr}, an address other machines can reach, without {missing}: anyone who can reach it could get an Owner token{}. Give --client-secret (or --identity) and --tls, or listen on 127.0.0.1", if *tls { "" } else { " and read every token in plain HTTP" })]
    Exposed {
        addr: SocketAddr,
        /// What is missing, in words (`--tls`, `--client-secret (or --identity)`, or both).
        missing: String,
        /// Whether TLS was asked for.
        tls: bool,
    },
    /// A private file of the state folder can be read by other users.
    #[error("local cloud: {} is readable by other users (mode {mode:04o}); it must be private: run `chmod 600 {}`", path.display(), path.display())]
    NotPrivate { path: PathBuf, mode: u32 },
    /// No async runtime could be started (CLI only).
    #[error("local cloud: cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

fn recovery(e: ArmError) -> Error {
    Error::Recovery(Box::new(e))
}

/// Shared state of a running server.
pub(crate) struct AppState {
    pub config: Config,
    pub store: store::Store,
    base_url: String,
    pub throttle: realism::Throttle,
    pub chaos: realism::Chaos,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    /// Token hash -> (expiry, who it was issued to).
    tokens: Mutex<HashMap<String, (i64, auth::Caller)>>,
    /// Tokens issued since the server started, by tenant.
    issued: Mutex<std::collections::BTreeMap<String, u64>>,
    /// Secure parameters (`securestring`, `secureObject`) of deployments in flight, by deployment key. They
    /// live only here, never in the state database: a restart fails those deployments (see `deploy::recover`).
    pub secure_parameters: Mutex<HashMap<String, Map<String, Value>>>,
    /// Seals Key Vault secret values before they are stored.
    pub sealer: sealed::Sealer,
    /// What the last policy evaluation of each subscription saw (lower-case id), for the next to reuse.
    pub policy_memo: Mutex<HashMap<String, policy::Memo>>,
    stopping: std::sync::atomic::AtomicBool,
}

/// A running server's mark in its state folder: a shared advisory lock on `serving.lock`, held for the
/// server's life and released by the OS however the process ends. Local clouds of several processes share one
/// state folder (stamps started at once each run an embedded one); only a server that finds no other alive
/// (it gets the lock exclusively) recovers interrupted work, so a newcomer never fails the deployments another
/// live server is running.
struct Presence {
    _file: std::fs::File,
}

impl Presence {
    /// Join the servers of `dir`; `true` when none other is alive, in which case `recover` runs first, while the
    /// lock is still exclusive (so no other server starts deploying meanwhile).
    fn join(
        dir: &std::path::Path,
        recover: impl FnOnce() -> Result<(), Error>,
    ) -> Result<Self, Error> {
        let path = dir.join("serving.lock");
        let io = |source| Error::StateDir {
            path: path.clone(),
            source,
        };
        let mut open = std::fs::OpenOptions::new();
        open.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let file = open.open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {
                let recovered = recover();
                file.unlock().map_err(io)?;
                recovered?;
            }
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        // Waits while a newcomer recovers under the exclusive lock.
        file.lock_shared().map_err(io)?;
        Ok(Presence { _file: file })
    }
}

impl AppState {
    /// `http(s)://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Spawn background work (deployments, deletes) that is aborted when the server stops.
    pub fn spawn(&self, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(fut).abort_handle();
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle);
    }

    /// True once the server is shutting down: the deployment engine stops between steps.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn abort_all(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }

    /// Count a token issued by `tenant`.
    pub fn count_issued(&self, tenant: &str) {
        *self
            .issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(tenant.to_owned())
            .or_default() += 1;
    }

    pub fn remember_token(&self, hash: String, expires: i64, caller: auth::Caller) {
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hash, (expires, caller));
    }

    /// Who a live token was issued to, if the token is known here and not expired.
    pub fn known_token(&self, hash: &str) -> Option<auth::Caller> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .filter(|(exp, _)| *exp > now)
            .map(|(_, client)| client.clone())
    }
}

/// Refuse to listen on a non-loopback address without a client secret (or registered identities) and TLS.
fn check_exposure(config: &Config) -> Result<(), Error> {
    if config.addr.ip().is_loopback() {
        return Ok(());
    }
    let secret = config.client_secret.is_some() || !config.identities.is_empty();
    let missing = match (secret, config.tls) {
        (true, true) => return Ok(()),
        (false, true) => "--client-secret (or --identity)",
        (true, false) => "--tls",
        (false, false) => "--client-secret (or --identity) and --tls",
    };
    Err(Error::Exposed {
        addr: config.addr,
        missing: missing.to_string(),
        tls: config.tls,
    })
}

/// The names the server certificate holds: loopback's, the bound address when it is a specific one, and every
/// `--tls-name`, without repeats.
pub fn certificate_names(config: &Config) -> Vec<String> {
    let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let ip = config.addr.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        names.push(ip.to_string());
    }
    for n in &config.tls_names {
        if !names.iter().any(|m| m.eq_ignore_ascii_case(n)) {
            names.push(n.clone());
        }
    }
    names
}

/// The files of a state folder that hold state (the CA's key is checked, not changed: see [`tls`]).
const STATE_FILES: [&str; 5] = [
    "state.db",
    "state.db-wal",
    "state.db-shm",
    "ca.pem",
    "serving.lock",
];
// `state.key` is checked like the CA key: created 0600, refused when others can read it.

/// Create the state folder if needed and make it private whatever the umask: the folder 0700, its state
/// files 0600. `state.db` is created 0600 before SQLite opens it, and SQLite gives its `-wal` and `-shm`
/// files the database's mode.
fn private_state_dir(dir: &std::path::Path) -> Result<(), Error> {
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| Error::StateDir { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
        let db = dir.join("state.db");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&db)
            .map_err(io(&db))?;
        for f in STATE_FILES {
            let p = dir.join(f);
            if p.exists() {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                    .map_err(io(&p))?;
            }
        }
    }
    Ok(())
}

/// Refuse a private file (the CA's key) that other users can read, naming the `chmod` that fixes it.
pub(crate) fn check_private(path: &std::path::Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|source| Error::StateDir {
            path: path.to_path_buf(),
            source,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::NotPrivate {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    Ok(())
}

/// Starts the local cloud.
pub struct Server;

impl Server {
    /// Bind, open (or create) the state, recover interrupted work, and serve in the background.
    ///
    /// Recovery, only when no other server of the same state folder is alive ([`Presence`]): deployments found
    /// Accepted or Running (the server stopped or was killed mid-deployment) are marked Failed with code
    /// `DeploymentInterrupted`; each resource they had written is complete, because
    /// every resource write is one transaction. Interrupted resource group deletes are completed.
    pub async fn start(config: Config) -> Result<RunningServer, Error> {
        check_exposure(&config)?;
        if let Some(dir) = &config.state_dir {
            private_state_dir(dir)?;
        }
        let store =
            store::Store::open(config.state_dir.as_deref()).map_err(|source| Error::Store {
                path: config
                    .state_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(":memory:")),
                source,
            })?;
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.addr,
            source,
        })?;
        let scheme = if config.tls { "https" } else { "http" };
        let base_url = format!("{scheme}://{addr}");
        let state = Arc::new(AppState {
            throttle: realism::Throttle::new(config.throttle_limits),
            chaos: realism::Chaos::new(config.seed, config.latency, config.fault_rate),
            store,
            base_url: base_url.clone(),
            tasks: Mutex::new(Vec::new()),
            tokens: Mutex::new(HashMap::new()),
            issued: Mutex::new(std::collections::BTreeMap::new()),
            secure_parameters: Mutex::new(HashMap::new()),
            sealer: sealed::Sealer::open_or_create(config.state_dir.as_deref())?,
            policy_memo: Mutex::new(HashMap::new()),
            stopping: std::sync::atomic::AtomicBool::new(false),
            config,
        });
        state
            .store
            .tx(|tx| {
                tx.execute_batch(stacks::SCHEMA)?;
                tx.execute_batch(stacks::WHATIF_SCHEMA)?;
                tx.execute_batch(deny::SCHEMA)?;
                Ok(())
            })
            .map_err(recovery)?;
        let recover = || -> Result<(), Error> {
            deploy::recover(&state).map_err(recovery)?;
            stacks::recover(&state).map_err(recovery)?;
            for (sub, rg) in state.store.rgs_being_deleted().map_err(recovery)? {
                state.store.delete_rg_cascade(&sub, &rg).map_err(recovery)?;
            }
            for op in state.store.running_operations().map_err(recovery)? {
                if op.kind == "rg-delete" {
                    http::finish_operation(&state, &op.id, "Succeeded", 200, None)
                        .map_err(recovery)?;
                }
            }
            Ok(())
        };
        let presence = match state.config.state_dir.as_deref() {
            Some(dir) => Some(Presence::join(dir, recover)?),
            // Memory holds nothing interrupted.
            None => None,
        };
        let app = axum::Router::new()
            .fallback(http::dispatch)
            .with_state(Arc::clone(&state));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let ca_pem = if state.config.tls {
            let (acceptor, ca_pem) = tls::acceptor(
                state.config.state_dir.as_deref(),
                &certificate_names(&state.config),
            )?;
            let task = tokio::spawn(tls::serve(listener, acceptor, app, rx));
            return Ok(RunningServer {
                url: base_url,
                addr,
                shutdown: Some(tx),
                task: Some(task),
                state,
                ca_pem: Some(ca_pem),
                _presence: presence,
            });
        } else {
            None
        };
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(RunningServer {
            url: base_url,
            addr,
            shutdown: Some(tx),
            task: Some(task),
            state,
            ca_pem,
            _presence: presence,
        })
    }
}

/// A running local cloud. Dropping it stops the server and its background work.
pub struct RunningServer {
    url: String,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    state: Arc<AppState>,
    ca_pem: Option<String>,
    /// This server's shared lock on `serving.lock` in the state folder, held while it runs (see [`Presence`]).
    _presence: Option<Presence>,
}

impl RunningServer {
    /// The ARM endpoint, e.g. `http://127.0.0.1:4010` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The tenant the token endpoint issues tokens for.
    pub fn tenant_id(&self) -> &str {
        &self.state.config.tenant_id
    }

    /// How many access tokens each tenant has issued since the server started.
    pub fn tokens_issued(&self) -> std::collections::BTreeMap<String, u64> {
        self.state
            .issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many requests this server has answered 429 (throttled) since it started.
    pub fn throttled_requests(&self) -> u64 {
        self.state.throttle.throttled()
    }

    /// The local CA certificate (PEM) clients must trust, when serving TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Stop serving and wait (at most five seconds) for the server to finish.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }

    fn stop(&mut self) {
        self.state.abort_all();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            // Graceful shutdown waits for idle keep-alive connections; a dropped server must not linger.
            task.abort();
        }
    }
}

/// What `trustprint cloud status` reports about a state folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSummary {
    pub subscriptions: i64,
    pub resource_groups: i64,
    pub resources: i64,
    pub deployments: i64,
}

/// Summarise a state folder without starting a server.
pub fn status(state_dir: &std::path::Path) -> Result<StateSummary, Error> {
    let store = store::Store::open(Some(state_dir)).map_err(|source| Error::Store {
        path: state_dir.to_path_buf(),
        source,
    })?;
    let (subscriptions, resource_groups, resources, deployments) =
        store.counts().map_err(recovery)?;
    Ok(StateSummary {
        subscriptions,
        resource_groups,
        resources,
        deployments,
    })
}

/// Delete a state folder's database (and its WAL files), leaving the CA in place.
pub fn reset(state_dir: &std::path::Path) -> Result<(), Error> {
    for f in ["state.db", "state.db-wal", "state.db-shm"] {
        let p = state_dir.join(f);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::StateDir { path: p, source }),
        }
    }
    Ok(())
}
