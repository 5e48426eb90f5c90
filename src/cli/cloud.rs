//! `trustprint cloud serve|status|reset`: run the local cloud (an embedded Azure Resource Manager) and look
//! after its state folder. Parsed here into [`crate::cloud::Config`]; nothing clap-specific goes deeper.

use crate::cloud::{self, Config};
use crate::error::Error;
use clap::{Args, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `trustprint cloud --help` epilogue.
pub(super) const HELP: &str = "\
Examples:
  trustprint cloud serve --addr 127.0.0.1:4010 --state .trustprint/cloud
  trustprint cloud serve --tls --latency-ms 50 --lro-ms 2000 --fault-rate 0.1 --seed 7
  trustprint plan --values trust.yaml --cloud-url https://127.0.0.1:4010 --cloud-ca .trustprint/cloud/ca.pem
  trustprint cloud serve --role-assignment ci:Owner:/ --role-assignment auditor:Reader:/
  TENANT_A_SECRET=... trustprint cloud serve --identity TENANT_A:app-a:env:TENANT_A_SECRET \
      --subscription-tenant SUB:TENANT_A --delegation SUB:MANAGING_TENANT
  trustprint cloud status
  trustprint cloud reset

The same server runs in process for `plan`, `apply` and `stamp` with `--target local`,
the default when no Azure subscription is configured. See docs/local-cloud.md.";

/// The default state folder, relative to the working directory.
pub const DEFAULT_STATE: &str = ".trustprint/cloud";

/// `trustprint cloud ...`
#[derive(Debug, Args)]
pub struct CloudArgs {
    #[command(subcommand)]
    pub command: CloudCommand,
}

/// What to do with the local cloud.
#[derive(Debug, Subcommand)]
pub enum CloudCommand {
    /// Serve the local cloud until interrupted (Ctrl-C).
    #[command(
        after_help = "Examples:\n  trustprint cloud serve\n  trustprint cloud serve --addr 127.0.0.1:4010 --state .trustprint/cloud --tls\n  trustprint cloud serve --in-memory --latency-ms 50 --lro-ms 2000 --fault-rate 0.1 --seed 7"
    )]
    Serve(Box<ServeArgs>),
    /// Summarise a state folder: subscriptions, resource groups, resources, deployments.
    #[command(after_help = "Example:\n  trustprint cloud status --state .trustprint/cloud")]
    Status(StateArgs),
    /// Delete a state folder's database (the local CA is kept, so clients stay configured).
    #[command(after_help = "Example:\n  trustprint cloud reset --state .trustprint/cloud")]
    Reset(StateArgs),
}

/// `trustprint cloud serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4010", value_name = "ADDR")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub state: StateArgs,
    /// Keep all state in memory (nothing written; `--state` ignored).
    #[arg(long)]
    pub in_memory: bool,
    /// Serve HTTPS with a local CA written to `<state>/ca.pem` (clients trust it with `--cloud-ca`).
    #[arg(long)]
    pub tls: bool,
    /// A host name or address the TLS certificate also names, for clients on other machines (repeatable;
    /// the certificate always names 127.0.0.1, localhost and a specific `--addr`).
    #[arg(long = "tls-name", value_name = "NAME", requires = "tls")]
    pub tls_names: Vec<String>,
    /// Latency added to every request, in milliseconds (plus up to 50 % seeded jitter).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub latency_ms: u64,
    /// Duration of long-running operations (deployment steps, group deletes, what-if), in milliseconds.
    #[arg(long, default_value_t = 500, value_name = "N")]
    pub lro_ms: u64,
    /// Fraction of requests answered with an injected fault (500, 503 or a dropped connection), 0 to 1.
    #[arg(long, default_value_t = 0.0, value_name = "P", value_parser = parse_rate)]
    pub fault_rate: f64,
    /// Seed for latency jitter and faults: the same seed gives the same sequence.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub seed: u64,
    /// ARM's per-subscription token-bucket throttling, or none.
    #[arg(long, value_enum, default_value_t = ThrottleArg::Arm)]
    pub throttle: ThrottleArg,
    /// Client id the token endpoint accepts (default: any non-empty).
    #[arg(long, env = "TRUSTPRINT_CLOUD_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    /// Client secret the token endpoint accepts (default: any non-empty).
    #[arg(
        long,
        env = "TRUSTPRINT_CLOUD_CLIENT_SECRET",
        value_name = "SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<String>,
    /// Grant a role: `CLIENT_ID:ROLE:SCOPE` with ROLE Owner, Contributor or Reader and SCOPE `/`,
    /// `/subscriptions/<id>` or below. Repeatable. Without any, every identity is Owner of everything.
    #[arg(long = "role-assignment", value_name = "CLIENT_ID:ROLE:SCOPE")]
    pub role_assignments: Vec<cloud::RoleAssignment>,
    /// A service principal registered in a tenant: `TENANT_ID:CLIENT_ID:env:VAR`, its secret read from
    /// the environment variable VAR (never from the command line). Repeatable. Once any is given, the
    /// token endpoint issues tokens only to these (and to `--client-id`).
    #[arg(long = "identity", value_name = "TENANT_ID:CLIENT_ID:env:VAR")]
    pub identities: Vec<IdentityArg>,
    /// The tenant a subscription belongs to: `SUBSCRIPTION_ID:TENANT_ID`. Repeatable. Requests on it need a
    /// token from that tenant (or a delegated one); other subscriptions accept any tenant's tokens.
    #[arg(long = "subscription-tenant", value_name = "SUBSCRIPTION_ID:TENANT_ID")]
    pub subscription_tenants: Vec<cloud::SubscriptionTenant>,
    /// An Azure Lighthouse delegation: identities of MANAGING_TENANT_ID may act on the subscription.
    /// `SUBSCRIPTION_ID:MANAGING_TENANT_ID`. Repeatable.
    #[arg(long = "delegation", value_name = "SUBSCRIPTION_ID:MANAGING_TENANT_ID")]
    pub delegations: Vec<cloud::Delegation>,
}

/// `--identity TENANT_ID:CLIENT_ID:env:VAR`: the name of the variable, not the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityArg {
    pub tenant_id: String,
    pub client_id: String,
    pub secret_env: String,
}

impl std::str::FromStr for IdentityArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.splitn(4, ':').collect();
        match parts.as_slice() {
            [tenant, client, "env", var]
                if !tenant.is_empty() && !client.is_empty() && !var.is_empty() =>
            {
                Ok(IdentityArg {
                    tenant_id: (*tenant).to_string(),
                    client_id: (*client).to_string(),
                    secret_env: (*var).to_string(),
                })
            }
            _ => Err(format!(
                "'{s}' is not an identity: expected TENANT_ID:CLIENT_ID:env:VAR, the secret in the \
                 environment variable VAR"
            )),
        }
    }
}

/// The state folder option.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// State folder (`state.db`, `ca.pem`).
    #[arg(long = "state", default_value = DEFAULT_STATE, value_name = "DIR")]
    pub dir: PathBuf,
}

/// `--throttle`
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ThrottleArg {
    /// ARM's published bucket sizes and refill rates.
    Arm,
    /// No throttling.
    Off,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "'{s}' is not a fault rate: expected a number from 0 to 1"
        )),
    }
}

impl ServeArgs {
    /// The library configuration these flags describe, identities' secrets read from the environment.
    pub fn config(&self) -> Result<Config, Error> {
        self.config_with(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// As [`ServeArgs::config`], reading variables through `var`.
    fn config_with(&self, var: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let identities = self
            .identities
            .iter()
            .map(|i| {
                let secret = var(&i.secret_env).ok_or_else(|| Error::Usage {
                    message: format!(
                        "--identity {}:{}:env:{}: the environment variable {} is not set or empty; it \
                         must hold the client secret of {}",
                        i.tenant_id, i.client_id, i.secret_env, i.secret_env, i.client_id
                    ),
                })?;
                Ok(cloud::Identity {
                    tenant_id: i.tenant_id.clone(),
                    client_id: i.client_id.clone(),
                    client_secret: crate::arm::Secret::new(secret),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Config {
            addr: self.addr,
            state_dir: (!self.in_memory).then(|| self.state.dir.clone()),
            tls: self.tls,
            tls_names: self.tls_names.clone(),
            latency: Duration::from_millis(self.latency_ms),
            lro: Duration::from_millis(self.lro_ms),
            fault_rate: self.fault_rate,
            seed: self.seed,
            throttle: self.throttle == ThrottleArg::Arm,
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            role_assignments: self.role_assignments.clone(),
            identities,
            subscription_tenants: self.subscription_tenants.clone(),
            delegations: self.delegations.clone(),
            ..Config::default()
        })
    }
}

/// What `cloud serve --tls` prints about its CA: the exact flag that makes trustprint trust it (with the CA's
/// absolute path, so it works from any folder), the environment variable, and what the Azure CLI and the
/// Python SDK read.
fn trust_lines(url: &str, state_dir: Option<&std::path::Path>) -> Vec<String> {
    let Some(dir) = state_dir else {
        return vec![
            "  CA:            in memory only: serve with --state DIR to get a ca.pem that clients can trust"
                .to_owned(),
        ];
    };
    let ca = dir.join("ca.pem");
    let ca = std::path::absolute(&ca).unwrap_or(ca);
    let ca = ca.display();
    vec![
        format!("  CA:            {ca}"),
        format!("  trust it:      --cloud-url {url} --cloud-ca {ca}"),
        format!("                 (or export TRUSTPRINT_CLOUD_CA={ca}; Azure CLI and Python SDK: export REQUESTS_CA_BUNDLE={ca})"),
    ]
}

/// Run a `cloud` subcommand. `serve` blocks until Ctrl-C.
pub fn run(args: &CloudArgs) -> Result<(), Error> {
    match &args.command {
        CloudCommand::Serve(serve) => {
            let config = serve.config()?;
            let rt = tokio::runtime::Runtime::new().map_err(cloud::Error::Runtime)?;
            rt.block_on(async move {
                let server = cloud::Server::start(config.clone()).await?;
                println!("trustprint local cloud listening on {}", server.url());
                println!("  tenant:        {}", server.tenant_id());
                println!(
                    "  token:         POST {}/{}/oauth2/v2.0/token",
                    server.url(),
                    server.tenant_id()
                );
                for i in &config.identities {
                    println!("  identity:      {} in tenant {}", i.client_id, i.tenant_id);
                }
                for t in &config.subscription_tenants {
                    println!(
                        "  subscription:  {} in tenant {}",
                        t.subscription_id, t.tenant_id
                    );
                }
                for d in &config.delegations {
                    println!(
                        "  delegation:    {} to tenant {} (Lighthouse)",
                        d.subscription_id, d.managing_tenant_id
                    );
                }
                for a in &config.role_assignments {
                    println!(
                        "  role:          {} is {} at {}",
                        a.client_id, a.role, a.scope
                    );
                }
                match &config.state_dir {
                    Some(d) => println!("  state:         {}", d.display()),
                    None => println!("  state:         in memory"),
                }
                if config.tls {
                    println!(
                        "  certificate:   names {}",
                        cloud::certificate_names(&config).join(", ")
                    );
                    if config.addr.ip().is_unspecified() && config.tls_names.is_empty() {
                        println!(
                            "  note:          listening on every interface, but the certificate names only \
                             loopback; give --tls-name HOST for each name clients on other machines use"
                        );
                    }
                    for line in trust_lines(server.url(), config.state_dir.as_deref()) {
                        println!("{line}");
                    }
                }
                println!("Press Ctrl-C to stop.");
                let _ = tokio::signal::ctrl_c().await;
                server.shutdown().await;
                Ok::<(), cloud::Error>(())
            })?;
            Ok(())
        }
        CloudCommand::Status(state) => {
            if !state.dir.join("state.db").exists() {
                println!("no local cloud state in {}", state.dir.display());
                return Ok(());
            }
            let s = cloud::status(&state.dir)?;
            println!(
                "{}: {} subscription(s), {} resource group(s), {} resource(s), {} deployment(s)",
                state.dir.display(),
                s.subscriptions,
                s.resource_groups,
                s.resources,
                s.deployments
            );
            Ok(())
        }
        CloudCommand::Reset(state) => {
            cloud::reset(&state.dir)?;
            println!("reset the local cloud state in {}", state.dir.display());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(subcommand)]
        cmd: Top,
    }
    #[derive(Debug, Subcommand)]
    enum Top {
        Cloud(CloudArgs),
    }

    fn parse(args: &[&str]) -> Result<CloudCommand, clap::Error> {
        let mut v = vec!["trustprint", "cloud"];
        v.extend_from_slice(args);
        Wrapper::try_parse_from(v).map(|w| match w.cmd {
            Top::Cloud(c) => c.command,
        })
    }

    #[test]
    fn serve_flags_become_a_config() {
        let CloudCommand::Serve(s) = parse(&[
            "serve",
            "--addr",
            "127.0.0.1:5000",
            "--state",
            "/tmp/x",
            "--tls",
            "--latency-ms",
            "20",
            "--lro-ms",
            "0",
            "--fault-rate",
            "0.1",
            "--seed",
            "7",
            "--throttle",
            "off",
            "--role-assignment",
            "ci-reader:Reader:/subscriptions/s1",
            "--role-assignment",
            "ci-owner:owner:/",
        ])
        .unwrap() else {
            panic!("not serve")
        };
        let c = s.config().unwrap();
        assert_eq!(c.addr.port(), 5000);
        assert_eq!(c.state_dir, Some(PathBuf::from("/tmp/x")));
        assert!(c.tls && !c.throttle);
        assert_eq!(
            c.role_assignments,
            vec![
                cloud::RoleAssignment {
                    client_id: "ci-reader".into(),
                    role: cloud::Role::Reader,
                    scope: "/subscriptions/s1".into()
                },
                cloud::RoleAssignment {
                    client_id: "ci-owner".into(),
                    role: cloud::Role::Owner,
                    scope: "/".into()
                },
            ]
        );
        assert_eq!(
            (c.latency, c.lro, c.fault_rate, c.seed),
            (Duration::from_millis(20), Duration::ZERO, 0.1, 7)
        );
    }

    #[test]
    fn serve_tls_prints_the_flag_that_trusts_its_ca() {
        let lines = trust_lines(
            "https://127.0.0.1:4010",
            Some(std::path::Path::new("/srv/cloud")),
        );
        assert_eq!(
            lines[1],
            "  trust it:      --cloud-url https://127.0.0.1:4010 --cloud-ca /srv/cloud/ca.pem"
        );
        assert!(
            lines[2].contains("TRUSTPRINT_CLOUD_CA=/srv/cloud/ca.pem"),
            "{lines:?}"
        );
        assert!(trust_lines("https://127.0.0.1:4010", None)[0].contains("in memory only"));
    }

    #[test]
    fn defaults_and_bad_fault_rates() {
        let CloudCommand::Serve(s) = parse(&["serve"]).unwrap() else {
            panic!("not serve")
        };
        let c = s.config().unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:4010");
        assert_eq!(c.state_dir, Some(PathBuf::from(DEFAULT_STATE)));
        assert!(c.throttle);
        let e = parse(&["serve", "--fault-rate", "2"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("'2' is not a fault rate: expected a number from 0 to 1"),
            "{e}"
        );
        assert!(matches!(
            parse(&["status", "--state", "d"]).unwrap(),
            CloudCommand::Status(_)
        ));
    }

    #[test]
    fn tenants_identities_and_delegations_become_a_config() {
        let sub = "5d2f7a3c-8b1e-4c6d-9f0a-2b3c4d5e6f7a";
        let CloudCommand::Serve(s) = parse(&[
            "serve",
            "--identity",
            "tenant-a:app-a:env:SECRET_A",
            "--subscription-tenant",
            &format!("{sub}:tenant-a"),
            "--delegation",
            &format!("{}:tenant-m", sub.to_uppercase()),
        ])
        .unwrap() else {
            panic!("not serve")
        };
        let c = s
            .config_with(|k| (k == "SECRET_A").then(|| "s3cr3t-a".to_string()))
            .unwrap();
        assert_eq!(
            c.identities,
            vec![cloud::Identity {
                tenant_id: "tenant-a".into(),
                client_id: "app-a".into(),
                client_secret: crate::arm::Secret::new("s3cr3t-a"),
            }]
        );
        assert!(!format!("{c:?}").contains("s3cr3t-a"));
        assert_eq!(c.subscription_tenants[0].tenant_id, "tenant-a");
        assert_eq!(c.delegations[0].subscription_id, sub);
        assert_eq!(c.delegations[0].managing_tenant_id, "tenant-m");

        let e = s.config_with(|_| None).unwrap_err().to_string();
        assert!(
            e.contains("--identity tenant-a:app-a:env:SECRET_A: the environment variable SECRET_A is not set or empty"),
            "{e}"
        );
        let e = parse(&["serve", "--identity", "tenant-a:app-a:s3cr3t"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected TENANT_ID:CLIENT_ID:env:VAR"), "{e}");
        let e = parse(&["serve", "--subscription-tenant", "not-a-guid:t"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the subscription id 'not-a-guid' is not a GUID"),
            "{e}"
        );
    }
}
