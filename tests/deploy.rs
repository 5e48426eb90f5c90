//! plan, apply, destroy and the deploying stamp, through the real binary against the local cloud: the one
//! embedded in the binary (state under `.trustprint/cloud` in the test's folder), or one started here when
//! the test needs to configure it (credentials, injected faults).

use crate::harness::Test;
use std::path::Path;

const BLUEPRINT: &str = "deploy-cases";
const SECRET: &str = "correct-horse-battery-staple";

fn values() -> String {
    "trust:\n  name: ROYAL BERKSHIRE NHS FOUNDATION TRUST\n  ods_code: RHW\nadmin:\n  password: {env: TP_TEST_ADMIN_PASSWORD}\n"
        .to_string()
}

/// A run of the binary on the deploy-cases blueprint with its secret in the environment.
fn cmd(dir: Option<tempfile::TempDir>, args: &[&str]) -> Test {
    let t = match dir {
        Some(d) => Test::in_dir(d),
        None => Test::new().write("values.yaml", &values()),
    };
    t.env("TP_TEST_ADMIN_PASSWORD", SECRET)
        .blueprint(BLUEPRINT)
        .args(args.iter().copied())
}

fn stamp() -> crate::harness::Output {
    cmd(
        None,
        &["stamp", "--values", "values.yaml", "--fleet", "fleet"],
    )
    .stdout_has("Plan: 4 to create, 0 to modify, 0 to delete, 0 unchanged")
    .stdout_has("Apply complete: 3 deployment(s), 4 resource(s) deployed")
    .stdout_has("recorded trusts/RHW in fleet as commit ")
    .run()
}

fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    crate::harness::walk(dir)
        .into_iter()
        .filter(|f| {
            std::fs::read(dir.join(f))
                .map(|b| String::from_utf8_lossy(&b).contains(needle))
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn stamp_deploys_records_the_outcome_and_a_second_plan_has_no_change() {
    let out = stamp();
    let lock = out.read("fleet/trusts/RHW/trustprint.lock");
    assert!(
        lock.contains("deployment:\n  action: apply\n  succeeded: true\n"),
        "{lock}"
    );
    for d in ["governance", "data", "network"] {
        assert!(
            lock.contains(&format!("- name: {d}\n    deploymentName: trustprint-{d}-")),
            "{lock}"
        );
    }
    assert!(lock.contains("correlationId: "), "{lock}");
    assert!(lock.contains("keyVaultName: kv-rhw-uks-data"), "{lock}");
    assert!(
        lock.contains("/resourcegroups/rg-rhw-uks-network/providers/microsoft.network/virtualnetworks/vnet-rhw-uks-hub"),
        "{lock}"
    );
    // The secret went to ARM in the request and nowhere else trustprint writes.
    assert_eq!(
        files_containing(&out.path("fleet"), SECRET),
        Vec::<String>::new()
    );
    assert!(!out.stdout.contains(SECRET) && !out.stderr.contains(SECRET));

    let out = cmd(
        Some(out.dir),
        &["plan", "--values", "values.yaml", "--detailed-exitcode"],
    )
    .stdout_has("Plan: 0 to create, 0 to modify, 0 to delete, 4 unchanged")
    .stdout_has("  = Microsoft.KeyVault/vaults/kv-rhw-uks-data [NoChange]")
    .status(0)
    .run();

    // Nothing to change: no apply, no commit, and the recorded outcome is kept.
    let out = cmd(
        Some(out.dir),
        &["stamp", "--values", "values.yaml", "--fleet", "fleet"],
    )
    .stdout_has("No changes: local subscription ")
    .stdout_has("trusts/RHW in fleet is unchanged: no commit")
    .run();
    assert_eq!(out.read("fleet/trusts/RHW/trustprint.lock"), lock);
}

#[test]
fn a_changed_value_plans_exactly_that_modify() {
    let out = stamp();
    cmd(
        Some(out.dir),
        &["plan", "--values", "values.yaml", "--set", "keyvault.sku=premium", "--detailed-exitcode"],
    )
    .stdout_has("  ~ Microsoft.KeyVault/vaults/kv-rhw-uks-data [Modify]\n    ~ properties.sku.name: \"standard\" => \"premium\"\n")
    .stdout_has("Plan: 0 to create, 1 to modify, 0 to delete, 3 unchanged")
    .status(2)
    .run();
}

#[test]
fn first_plan_creates_everything_without_creating_the_groups() {
    let out = cmd(
        None,
        &[
            "plan",
            "--values",
            "values.yaml",
            "--detailed-exitcode",
            "--out",
            "plan.json",
        ],
    )
    .stdout_has("data (resource group rg-rhw-uks-data, to be created) as trustprint-data-")
    .stdout_has("  + Microsoft.Storage/storageAccounts/strhwuksdata [Create]")
    .stdout_has("Plan: 4 to create, 0 to modify, 0 to delete, 0 unchanged")
    .stdout_has("Saved the plan to plan.json")
    .status(2)
    .run();
    let plan: serde_json::Value = serde_json::from_str(&out.read("plan.json")).unwrap();
    assert_eq!(plan["summary"]["create"], 4);
    assert!(!out.read("plan.json").contains(SECRET));
    // The plan created nothing: a second plan still creates everything.
    cmd(Some(out.dir), &["plan", "--values", "values.yaml"])
        .stdout_has("Plan: 4 to create, 0 to modify, 0 to delete, 0 unchanged")
        .run();
}

#[test]
fn apply_of_a_saved_plan_refuses_changed_inputs() {
    let out = cmd(
        None,
        &["plan", "--values", "values.yaml", "--out", "plan.json"],
    )
    .run();
    let out = cmd(
        Some(out.dir),
        &[
            "apply",
            "--values",
            "values.yaml",
            "--set",
            "keyvault.sku=premium",
            "--plan",
            "plan.json",
            "--yes",
        ],
    )
    .stderr_has("error: plan file plan.json is stale: the values hash was sha256:")
    .stderr_has("; run plan again\n")
    .status(1)
    .run();
    // Unchanged inputs: the saved plan is applied.
    cmd(
        Some(out.dir),
        &[
            "apply",
            "--values",
            "values.yaml",
            "--plan",
            "plan.json",
            "--yes",
        ],
    )
    .stdout_has("Apply complete: 3 deployment(s), 4 resource(s) deployed")
    .run();
}

#[test]
fn a_plan_deleting_a_vault_is_refused_without_allow_data_loss() {
    let out = stamp();
    let out = cmd(
        Some(out.dir),
        &["plan", "--values", "values.yaml", "--out", "plan.json"],
    )
    .run();
    // A Complete-mode deployment would plan this; the exemplar's deployments are incremental, so the plan
    // file is given the delete by hand (its inputs still match, so only the data-loss guard stands).
    let mut plan: serde_json::Value = serde_json::from_str(&out.read("plan.json")).unwrap();
    let data = plan["deployments"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|d| d["name"] == "data")
        .unwrap();
    let vault = data["changes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["resourceId"].as_str().unwrap().contains("/vaults/"))
        .unwrap();
    vault["changeType"] = "Delete".into();
    let id = vault["resourceId"].as_str().unwrap().to_string();
    std::fs::write(out.path("plan.json"), serde_json::to_vec(&plan).unwrap()).unwrap();
    let out = cmd(Some(out.dir), &["apply", "--values", "values.yaml", "--plan", "plan.json", "--yes"])
        .stderr(&format!(
            "error: the plan deletes 1 data-bearing resource(s); refusing without --allow-data-loss:\n  - {id} (Microsoft.KeyVault/vaults)\n"
        ))
        .status(4)
        .run();
    cmd(
        Some(out.dir),
        &[
            "apply",
            "--values",
            "values.yaml",
            "--plan",
            "plan.json",
            "--yes",
            "--allow-data-loss",
        ],
    )
    .stdout_has("Apply complete")
    .run();
}

#[test]
fn apply_needs_yes_when_nobody_can_type_it() {
    let out = cmd(None, &["apply", "--values", "values.yaml"])
        .stderr_has("error: apply changes local subscription ")
        .stderr_has(": confirm by typing 'yes' at a terminal, or pass --yes\n")
        .status(4)
        .run();
    // Nothing was deployed.
    cmd(Some(out.dir), &["plan", "--values", "values.yaml"])
        .stdout_has("Plan: 4 to create")
        .run();
}

#[test]
fn an_unset_secret_gets_a_throwaway_value_on_the_local_cloud_with_a_warning() {
    Test::new()
        .write("values.yaml", &values())
        .blueprint(BLUEPRINT)
        .args(["stamp", "--values", "values.yaml", "--fleet", "fleet", "--yes"])
        .stderr_has(
            "TP_TEST_ADMIN_PASSWORD is not set: deployment 'data' parameter adminPassword gets a random \
             throwaway value on the local cloud (Azure would refuse)",
        )
        .stderr_lacks("Tp-")
        .stdout_has("Apply complete: 3 deployment(s), 4 resource(s) deployed")
        .run();
}

#[test]
fn destroy_deletes_the_groups_in_reverse_order_and_records_it() {
    let out = stamp();
    let out = cmd(Some(out.dir), &["destroy", "--values", "values.yaml", "--fleet", "fleet", "--yes"])
        .stdout_has("  - resource group rg-rhw-uks-network\n  - resource group rg-rhw-uks-data\n")
        .stdout_has("Destroy complete: 2 resource group(s), 0 subscription-level resource(s), 1 deployment record(s) removed")
        .run();
    let lock = out.read("fleet/trusts/RHW/trustprint.lock");
    assert!(lock.contains("deployment:\n  action: destroy\n"), "{lock}");
    cmd(Some(out.dir), &["plan", "--values", "values.yaml"])
        .stdout_has("Plan: 4 to create, 0 to modify, 0 to delete, 0 unchanged")
        .run();
}

/// A local cloud started by the test, and the runtime it runs on.
pub(crate) fn start_cloud(
    config: trustprint::cloud::Config,
) -> (tokio::runtime::Runtime, trustprint::cloud::RunningServer) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(trustprint::cloud::Server::start(config))
        .unwrap();
    (rt, server)
}

/// A local cloud started by the test, kept running while `f` runs the binary against it.
fn with_cloud(config: trustprint::cloud::Config, f: impl FnOnce(&str)) {
    let (rt, server) = start_cloud(config);
    f(server.url());
    rt.block_on(server.shutdown());
}

#[test]
fn bad_credentials_are_refused_with_entra_ids_code() {
    let config = trustprint::cloud::Config {
        client_id: Some("trustprint-ci".into()),
        client_secret: Some("the-right-one".into()),
        ..Default::default()
    };
    with_cloud(config, |url| {
        let out = cmd(
            None,
            &["plan", "--values", "values.yaml", "--cloud-url", url],
        )
        .env("AZURE_CLIENT_ID", "trustprint-ci")
        .env("AZURE_CLIENT_SECRET", "a-wrong-one")
        .stderr_has("invalid_client")
        .stderr_has("AADSTS7000215: Invalid client secret provided")
        .status(1)
        .run();
        assert!(!out.stderr.contains("a-wrong-one"), "{}", out.stderr);
        cmd(
            Some(out.dir),
            &["plan", "--values", "values.yaml", "--cloud-url", url],
        )
        .env("AZURE_CLIENT_ID", "trustprint-ci")
        .env("AZURE_CLIENT_SECRET", "the-right-one")
        .stdout_has("Plan: 4 to create")
        .run();
    });
}

#[test]
fn injected_server_errors_still_converge() {
    let config = trustprint::cloud::Config {
        fault_rate: 0.2,
        seed: 7,
        ..Default::default()
    };
    with_cloud(config, |url| {
        let out = cmd(
            None,
            &[
                "stamp",
                "--values",
                "values.yaml",
                "--fleet",
                "fleet",
                "--cloud-url",
                url,
            ],
        )
        .stdout_has("Apply complete: 3 deployment(s), 4 resource(s) deployed")
        .run();
        cmd(
            Some(out.dir),
            &[
                "plan",
                "--values",
                "values.yaml",
                "--cloud-url",
                url,
                "--detailed-exitcode",
            ],
        )
        .stdout_has("Plan: 0 to create, 0 to modify, 0 to delete, 4 unchanged")
        .status(0)
        .run();
    });
}

#[test]
fn a_failed_deployment_names_the_resource_and_is_recorded_as_failed() {
    let out = cmd(
        None,
        &["stamp", "--values", "values.yaml", "--fleet", "fleet", "--set", "case=broken"],
    )
    .stdout_has("  ✓ network: Succeeded (deployed)")
    .stdout_has("  ✗ broken: Failed (refused by ARM)")
    .stdout_has("/resourceGroups/rg-rhw-uks-data/providers/Microsoft.Nowhere/widgets/widget-rhw (Microsoft.Nowhere/widgets): InvalidResourceNamespace: The resource namespace 'Microsoft.Nowhere' is invalid.\n")
    .stdout_has("recorded trusts/RHW in fleet as commit ")
    .stderr("error: 1 of 4 deployment(s) failed: broken (Failed)\n")
    .status(1)
    .run();
    let lock = out.read("fleet/trusts/RHW/trustprint.lock");
    assert!(
        lock.contains("deployment:\n  action: apply\n  succeeded: false\n"),
        "{lock}"
    );
    assert!(lock.contains("code: InvalidResourceNamespace"), "{lock}");
}

/// An example trust's secret environment variables (`TP_<ODS>_VM_ADMIN_PASSWORD`, ...), set.
pub(crate) fn with_example_secrets(mut t: Test, ods: &str) -> Test {
    for secret in [
        "VM_ADMIN",
        "AD_JOIN",
        "SQL_ADMIN",
        "SQL_CLUSTER",
        "SQL_SERVICE",
    ] {
        t = t.env(
            &format!("TP_{ods}_{secret}_PASSWORD"),
            "Xx1-example-secret-9",
        );
    }
    t
}

/// All four of the exemplar's example trusts, stamped whole into the embedded local cloud (one state
/// folder and one fleet for all), each replanned with no change. north-london-g6v2s takes its AD join
/// password by Key Vault reference from a bootstrap vault outside the trust: the local target seeds that
/// vault and secret (a throwaway value) with a warning, once.
#[test]
fn example_trusts_stamp_whole_and_replan_with_no_change() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("blueprints/exemplar-epr/examples");
    let mut dir = None;
    for (file, ods, deployments) in [
        ("royal-berkshire-rhw.yaml", "RHW", 6),
        ("leeds-community-ry6.yaml", "RY6", 7),
        ("northern-care-alliance-rm3.yaml", "RM3", 7),
        ("north-london-g6v2s.yaml", "G6V2S", 7),
    ] {
        let values = examples.join(file);
        let values = values.to_str().unwrap();
        let t = with_example_secrets(
            match dir.take() {
                Some(d) => Test::in_dir(d),
                None => Test::new(),
            },
            ods,
        );
        // rm3's values name a subscription, which means Azure unless told otherwise.
        let out = t
            .args([
                "stamp", "--target", "local", "--values", values, "--fleet", "fleet",
            ])
            .stdout_has(&format!("Apply complete: {deployments} deployment(s), "))
            .stdout_has(&format!("recorded trusts/{ods} in fleet as commit "))
            .run();
        let seed_warning = "Key Vault secret ad-join-password in /subscriptions/6d1e5f3a-8c2b-4a9d-b7e0-1f3a5c7e9b2d/\
             resourceGroups/rg-g6v2s-ukw-bootstrap/providers/Microsoft.KeyVault/vaults/kv-g6v2s-ukw-boot is not in the \
             local cloud: deployment 'epr' parameter domainJoinPassword gets a random throwaway value seeded there (on \
             Azure the vault must exist and hold the secret)";
        assert_eq!(
            out.stderr.contains(seed_warning),
            ods == "G6V2S",
            "{ods}: {}",
            out.stderr
        );
        let t = with_example_secrets(Test::in_dir(out.dir), ods);
        let out = t
            .args([
                "plan",
                "--target",
                "local",
                "--values",
                values,
                "--detailed-exitcode",
            ])
            .stdout_has("Plan: 0 to create, 0 to modify, 0 to delete, ")
            .status(0)
            .run();
        assert!(
            !crate::harness::walk(&out.path("fleet"))
                .iter()
                .any(|f| std::fs::read_to_string(out.path("fleet").join(f))
                    .is_ok_and(|t| t.contains("Xx1-example-secret-9"))),
            "a secret reached the fleet repository"
        );
        dir = Some(out.dir);
    }
}

/// `kill -9` while a deployment runs, then a rerun: it attaches to the deployment still running under the
/// same name instead of starting another, and converges.
#[test]
fn a_rerun_after_kill_attaches_to_the_running_deployment_and_converges() {
    let config = trustprint::cloud::Config {
        lro: std::time::Duration::from_secs(4),
        ..Default::default()
    };
    let (rt, server) = start_cloud(config);
    let url = server.url().to_string();
    // A saved plan: the rerun applies the same deployments (same names) as the killed apply.
    let plan = cmd(
        None,
        &[
            "plan",
            "--values",
            "values.yaml",
            "--cloud-url",
            &url,
            "--output",
            "json",
            "--out",
            "plan.json",
        ],
    )
    .run();
    let governance = plan.json()["deployments"][0]["deploymentName"]
        .as_str()
        .unwrap()
        .to_string();
    let client = local_client(&url);
    let scope = trustprint::arm::DeploymentScope::Subscription {
        subscription_id: trustprint::deploy::target::local_subscription("RHW"),
    };

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trustprint"))
        .current_dir(plan.dir.path())
        .env("TP_TEST_ADMIN_PASSWORD", SECRET)
        .env("NO_COLOR", "1")
        .arg("--blueprint")
        .arg(crate::harness::fixture_blueprint(BLUEPRINT))
        .args([
            "apply",
            "--values",
            "values.yaml",
            "--plan",
            "plan.json",
            "--yes",
            "--cloud-url",
            &url,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(plan.dir.path().join("apply.err")).unwrap())
        .spawn()
        .unwrap();
    // Kill as soon as ARM has the first deployment, while it is still running.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let state = rt.block_on(client.get_deployment(&scope, &governance));
        if let Ok(d) = state {
            assert!(
                !d.provisioning_state.is_terminal(),
                "killed too late: {d:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the apply never started deploying: {}",
            std::fs::read_to_string(plan.dir.path().join("apply.err")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let out = Test::in_dir(plan.dir)
        .env("TP_TEST_ADMIN_PASSWORD", SECRET)
        .blueprint(BLUEPRINT)
        .args([
            "apply",
            "--values",
            "values.yaml",
            "--plan",
            "plan.json",
            "--yes",
            "--fleet",
            "fleet",
            "--cloud-url",
            &url,
        ])
        .stdout_has("  ✓ governance: Succeeded (resumed)")
        .stdout_has("Apply complete: 3 deployment(s), 4 resource(s) deployed")
        .run();
    let lock = out.read("fleet/trusts/RHW/trustprint.lock");
    assert_eq!(lock.matches("- name: governance\n").count(), 1, "{lock}");
    rt.block_on(server.shutdown());
}

/// With role assignments configured, an identity holding only Reader on the trust's subscription cannot
/// stamp: ARM's 403 names the identity, the action and the scope, the exit code is 1 and nothing is
/// recorded as a success. An Owner stamps the same trust.
#[test]
fn a_reader_only_identity_is_refused_with_arms_authorization_failed() {
    let sub = trustprint::deploy::target::local_subscription("RHW");
    let config = trustprint::cloud::Config {
        role_assignments: vec![
            format!("ci-reader:Reader:/subscriptions/{sub}")
                .parse()
                .unwrap(),
            "ci-owner:Owner:/".parse().unwrap(),
        ],
        ..Default::default()
    };
    with_cloud(config, |url| {
        let out = cmd(
            None,
            &["stamp", "--values", "values.yaml", "--fleet", "fleet", "--cloud-url", url],
        )
        .env("AZURE_CLIENT_ID", "ci-reader")
        .stderr_has(&format!(
            "forbidden (HTTP 403): AuthorizationFailed: The client 'ci-reader' with object id \
             '5555b410-fdf3-5e73-8151-94952bfb94f0' does not have authorization to perform action \
             'Microsoft.Resources/deployments/whatIf/action' over scope \
             '/subscriptions/{sub}/providers/Microsoft.Resources/deployments/trustprint-governance-"
        ))
        .stderr_has(
            "' or the scope is invalid. If access was recently granted, please refresh your credentials.",
        )
        .status(1)
        .run();
        let lock = out.path("fleet/trusts/RHW/trustprint.lock");
        assert!(
            std::fs::read_to_string(&lock).map_or(true, |l| !l.contains("succeeded: true")),
            "a refused stamp was recorded as a success"
        );
        assert!(!out.stdout.contains("Apply complete"), "{}", out.stdout);
        cmd(
            Some(out.dir),
            &[
                "stamp",
                "--values",
                "values.yaml",
                "--fleet",
                "fleet",
                "--cloud-url",
                url,
            ],
        )
        .env("AZURE_CLIENT_ID", "ci-owner")
        .stdout_has("Apply complete: 3 deployment(s), 4 resource(s) deployed")
        .run();
    });
}

/// GET `path` on the local cloud as a service principal, waiting out 429s as ARM asks.
async fn arm_get(url: &str, tenant: &str, path: &str) -> serde_json::Value {
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{url}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "test"),
            ("client_secret", "test"),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    loop {
        let r = http
            .get(format!("{url}{path}?api-version=2021-04-01"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            let secs: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
            continue;
        }
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        return r.json().await.unwrap();
    }
}

/// A subscription whose token buckets hold a handful of requests: the stamp is answered 429 (with
/// `Retry-After`) many times, waits as told, and converges: each deployment exists once and succeeded,
/// and a rerun plans no change.
#[test]
fn bursts_of_429_converge_with_nothing_duplicated() {
    use trustprint::cloud::{Bucket, ThrottleLimits};
    let tiny = |size: f64, refill_per_sec: f64| Bucket {
        size,
        refill_per_sec,
    };
    let config = trustprint::cloud::Config {
        throttle: true,
        throttle_limits: ThrottleLimits {
            reads: tiny(2.0, 2.0),
            writes: tiny(1.0, 1.0),
            deletes: tiny(1.0, 1.0),
        },
        ..Default::default()
    };
    let (rt, server) = start_cloud(config);
    let url = server.url().to_string();
    let out = cmd(
        None,
        &[
            "stamp",
            "--values",
            "values.yaml",
            "--fleet",
            "fleet",
            "--cloud-url",
            &url,
        ],
    )
    .stdout_has("Apply complete: 3 deployment(s), 4 resource(s) deployed")
    .run();
    let throttled = server.throttled_requests();
    assert!(
        throttled >= 10,
        "only {throttled} request(s) were throttled"
    );

    let sub = trustprint::deploy::target::local_subscription("RHW");
    let mut names = Vec::new();
    for scope in [
        format!("/subscriptions/{sub}"),
        format!("/subscriptions/{sub}/resourcegroups/rg-rhw-uks-data"),
        format!("/subscriptions/{sub}/resourcegroups/rg-rhw-uks-network"),
    ] {
        let list = rt.block_on(arm_get(
            &url,
            server.tenant_id(),
            &format!("{scope}/providers/Microsoft.Resources/deployments"),
        ));
        for d in list["value"].as_array().unwrap() {
            assert_eq!(d["properties"]["provisioningState"], "Succeeded", "{d}");
            names.push(d["name"].as_str().unwrap().to_string());
        }
    }
    names.sort();
    let prefixes: Vec<&str> = names
        .iter()
        .map(|n| n.rsplit_once('-').unwrap().0)
        .collect();
    assert_eq!(
        prefixes,
        [
            "trustprint-data",
            "trustprint-governance",
            "trustprint-network"
        ],
        "{names:?}"
    );
    cmd(
        Some(out.dir),
        &[
            "plan",
            "--values",
            "values.yaml",
            "--cloud-url",
            &url,
            "--detailed-exitcode",
        ],
    )
    .stdout_has("Plan: 0 to create, 0 to modify, 0 to delete, 4 unchanged")
    .status(0)
    .run();
    rt.block_on(server.shutdown());
}

/// A client of the local cloud at `url`, as any service principal.
pub(crate) fn local_client(url: &str) -> trustprint::arm::ArmClient {
    trustprint::arm::ArmClient::new(
        url,
        trustprint::arm::Credential::ServicePrincipal {
            tenant_id: trustprint::cloud::DEFAULT_TENANT.to_string(),
            client_id: "test".into(),
            client_secret: trustprint::arm::Secret::new("test"),
            authority_host: url::Url::parse(url).unwrap(),
        },
        Default::default(),
    )
    .unwrap()
}

/// `apply --plan` what-ifs again first: a resource changed out of band since the plan was made makes the
/// plan stale, naming the deployment and the resource; with the change undone the plan applies.
#[test]
fn apply_of_a_saved_plan_refuses_a_target_changed_since() {
    with_cloud(trustprint::cloud::Config::default(), |url| {
        let out = cmd(
            None,
            &[
                "stamp",
                "--values",
                "values.yaml",
                "--fleet",
                "fleet",
                "--cloud-url",
                url,
            ],
        )
        .run();
        let out = cmd(
            Some(out.dir),
            &[
                "plan",
                "--values",
                "values.yaml",
                "--set",
                "keyvault.sku=premium",
                "--out",
                "plan.json",
                "--cloud-url",
                url,
            ],
        )
        .stdout_has("Plan: 0 to create, 1 to modify, 0 to delete, 3 unchanged")
        .run();

        let rt = tokio::runtime::Runtime::new().unwrap();
        let client = local_client(url);
        let sub = trustprint::deploy::target::local_subscription("RHW");
        let vnet = format!(
            "/subscriptions/{sub}/resourceGroups/rg-rhw-uks-network/providers/Microsoft.Network/virtualNetworks/vnet-rhw-uks-hub"
        );
        let original = rt
            .block_on(client.get_resource(&vnet, "2023-09-01"))
            .unwrap()
            .unwrap();
        let mut changed = original.clone();
        changed["properties"]["addressSpace"]["addressPrefixes"] =
            serde_json::json!(["10.99.0.0/16"]);
        rt.block_on(client.put_resource(&vnet, "2023-09-01", &changed))
            .unwrap();

        let apply = [
            "apply",
            "--values",
            "values.yaml",
            "--set",
            "keyvault.sku=premium",
            "--plan",
            "plan.json",
            "--yes",
            "--cloud-url",
            url,
        ];
        let out = cmd(Some(out.dir), &apply)
            .stderr(
                "error: plan file plan.json is stale: the target changed since the plan was made:\n  \
                 - network: Microsoft.Network/virtualNetworks/vnet-rhw-uks-hub: planned NoChange, now Modify \
                 (properties.addressSpace.addressPrefixes[0]: \"10.99.0.0/16\" => \"10.20.0.0/16\")\nrun plan again\n",
            )
            .status(1)
            .run();
        // Nothing was applied: the vault is still standard.
        let vault = format!(
            "/subscriptions/{sub}/resourceGroups/rg-rhw-uks-data/providers/Microsoft.KeyVault/vaults/kv-rhw-uks-data"
        );
        let v = rt
            .block_on(client.get_resource(&vault, "2023-07-01"))
            .unwrap()
            .unwrap();
        assert_eq!(v["properties"]["sku"]["name"], "standard", "{v}");

        rt.block_on(client.put_resource(&vnet, "2023-09-01", &original))
            .unwrap();
        cmd(Some(out.dir), &apply)
            .stdout_has("Apply complete: ")
            .run();
        let v = rt
            .block_on(client.get_resource(&vault, "2023-07-01"))
            .unwrap()
            .unwrap();
        assert_eq!(v["properties"]["sku"]["name"], "premium", "{v}");
    });
}

/// A hand edit in the trust's folder of the fleet stops a stamp before anything is deployed, not after.
#[test]
fn an_uncommitted_edit_in_the_fleet_stops_the_stamp_before_it_deploys() {
    let out = stamp();
    let edited = out.path("fleet/trusts/RHW/rendered/data.json");
    std::fs::write(&edited, "{\"edited\": \"by hand\"}\n").unwrap();
    let out = cmd(
        Some(out.dir),
        &["stamp", "--values", "values.yaml", "--set", "keyvault.sku=premium", "--fleet", "fleet"],
    )
    .status(1)
    .stderr_has("trusts/RHW has uncommitted changes (trusts/RHW/rendered/data.json); commit or discard them first")
    .run();
    assert!(!out.stdout.contains("Apply complete"), "{}", out.stdout);
    // The change is still to make: nothing was deployed.
    cmd(
        Some(out.dir),
        &[
            "plan",
            "--values",
            "values.yaml",
            "--set",
            "keyvault.sku=premium",
            "--detailed-exitcode",
        ],
    )
    .status(2)
    .stdout_has("Plan: 0 to create, 1 to modify, 0 to delete, 3 unchanged")
    .run();
}

/// Issue 14: every command that would deploy goes through the guardrails. `apply` refuses a trust with
/// violations (exit 3, the report on stdout) before it connects to any target or records anything.
#[test]
fn apply_refuses_guardrail_violations_before_touching_the_target() {
    let out = cmd(
        None,
        &[
            "apply",
            "--values",
            "values.yaml",
            "--set",
            "azure.location=westeurope",
            "--fleet",
            "fleet",
            "--yes",
        ],
    )
    .status(3)
    .stdout_has("TP-LOC-001")
    .stderr_has("guardrail violation(s)")
    .run();
    assert!(!out.path("fleet").exists(), "nothing recorded");
    assert!(
        !out.path(".trustprint/cloud").exists(),
        "the embedded cloud was never started"
    );
}

/// Issue 14: the deploying `stamp` refuses violations the same way, before planning.
#[test]
fn a_deploying_stamp_refuses_guardrail_violations_before_planning() {
    let out = cmd(
        None,
        &[
            "stamp",
            "--values",
            "values.yaml",
            "--set",
            "azure.location=westeurope",
            "--fleet",
            "fleet",
        ],
    )
    .status(3)
    .stdout_has("TP-LOC-001")
    .stderr_has("guardrail violation(s)")
    .run();
    assert!(!out.path("fleet").exists(), "nothing recorded");
    assert!(!out.path(".trustprint/cloud").exists(), "nothing deployed");
}

/// Issue 14: `plan` and `destroy` deploy nothing, so violations do not stop them (a trust that breaks the
/// guardrails can still be inspected and torn down); they go through the same composer.
#[test]
fn plan_and_destroy_are_not_stopped_by_violations() {
    let out = cmd(
        None,
        &[
            "plan",
            "--values",
            "values.yaml",
            "--set",
            "azure.location=westeurope",
        ],
    )
    .stdout_has("to create")
    .run();
    cmd(
        Some(out.dir),
        &[
            "destroy",
            "--values",
            "values.yaml",
            "--set",
            "azure.location=westeurope",
            "--yes",
        ],
    )
    .run();
}

/// Issue 18, row 12: `--set` overrides are written into the recorded values, so the record reproduces what was
/// deployed: a plan from the recorded values file shows no change.
#[test]
fn set_overrides_are_recorded_so_a_plan_from_the_record_has_no_change() {
    let out = cmd(
        None,
        &[
            "stamp",
            "--values",
            "values.yaml",
            "--fleet",
            "fleet",
            "--set",
            "keyvault.sku=premium",
        ],
    )
    .stdout_has("recorded trusts/RHW in fleet as commit ")
    .run();
    let recorded = out.read("fleet/trusts/RHW/values.yaml");
    assert!(recorded.contains("sku: premium"), "{recorded}");
    cmd(
        Some(out.dir),
        &[
            "plan",
            "--values",
            "fleet/trusts/RHW/values.yaml",
            "--detailed-exitcode",
        ],
    )
    .stdout_has("Plan: 0 to create, 0 to modify, 0 to delete, 4 unchanged")
    .status(0)
    .run();
}

/// Issue 18, row 11: stamps of one trust started at once from one working folder, into one new fleet folder,
/// share its embedded cloud's state and its fleet repository. Each waits for the state's write lock (and its
/// sealing key) and for the trust's turn (plan, apply and record) instead of failing, so none meets another's
/// deployment still running, and every one of them records the trust without a failed outcome.
#[test]
fn stamps_at_once_from_one_folder_take_turns_at_the_local_clouds_state() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("values.yaml"), values()).unwrap();
    let blueprint = crate::harness::fixture_blueprint(BLUEPRINT);
    for round in 0..3 {
        let fleet = format!("fleet-{round}");
        let children: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|_| {
                std::process::Command::new(env!("CARGO_BIN_EXE_trustprint"))
                    .current_dir(dir.path())
                    .env("NO_COLOR", "1")
                    .env("GIT_CONFIG_NOSYSTEM", "1")
                    .env("TP_TEST_ADMIN_PASSWORD", SECRET)
                    .arg("--blueprint")
                    .arg(&blueprint)
                    .args(["stamp", "--values", "values.yaml", "--fleet", &fleet])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (child, f) in children.into_iter().zip(["a", "b", "c"]) {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && !stderr.contains("database is locked"),
                "round {round}, stamp {f}: {}\n{stdout}\n{stderr}",
                out.status
            );
            assert!(
                !stdout.contains("DeploymentActive") && !stderr.contains("DeploymentActive"),
                "round {round}, stamp {f} met another's deployment running:\n{stdout}\n{stderr}"
            );
        }
        // A stamp that finds the estate already deployed by another plans no change and deploys nothing; none
        // records a failure, and each record is a commit of its own.
        let lock = std::fs::read_to_string(
            dir.path()
                .join(format!("{fleet}/trusts/RHW/trustprint.lock")),
        )
        .unwrap();
        assert!(
            lock.contains("ods_code: RHW") && !lock.contains("succeeded: false"),
            "{lock}"
        );
        let repo = git2::Repository::open(dir.path().join(&fleet)).unwrap();
        let mut walk = repo.revwalk().unwrap();
        walk.push_head().unwrap();
        assert!(walk.count() >= 1, "round {round}: no commit in {fleet}");
    }
}
