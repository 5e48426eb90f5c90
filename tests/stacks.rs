//! Trusts deployed as Deployment Stacks (issue 17, points 2 to 4): an upgrade that drops resources deletes or
//! detaches them as each stack's `actionOnUnmanage` says, after a plan that said so; the platform's deny
//! settings refuse a trust administrator's delete of the backup vault while the EPR stays the trust's to
//! run; `fleet drift` reports both the change made outside the stacks and the refused requests.

use crate::harness::{fixture_blueprint, Output, Test};
use trustprint::arm::{ArmClient, DeploymentScope};

/// An ARM client of the local cloud acting as `client_id` (any client id gets a token there).
pub(crate) fn local_client_as(url: &str, client_id: &str) -> ArmClient {
    ArmClient::new(
        url,
        trustprint::arm::Credential::ServicePrincipal {
            tenant_id: trustprint::cloud::DEFAULT_TENANT.to_string(),
            client_id: client_id.into(),
            client_secret: trustprint::arm::Secret::new("s3cret"),
            authority_host: url::Url::parse(url).unwrap(),
        },
        Default::default(),
    )
    .unwrap()
}

fn lock(out: &Output, ods: &str) -> serde_yaml::Value {
    serde_yaml::from_str(&out.read(&format!("fleet/trusts/{ods}/trustprint.lock"))).unwrap()
}

/// The recorded outcome of deployment `name` in a trust's lock.
fn recorded(lock: &serde_yaml::Value, name: &str) -> serde_yaml::Value {
    lock["deployment"]["deployments"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("deployment {name} in the lock"))
        .clone()
}

fn strings(v: &serde_yaml::Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

const TRUSTS: usize = 20;

fn ods(i: usize) -> String {
    format!("T{i:02}")
}

/// A fleet of `n` trusts on the `stacks` test blueprint at 1.0.0, committed.
fn stacked_fleet(n: usize) -> Output {
    let out = Test::new().args(["fleet", "init", "fleet"]).run();
    let trusts: String = (1..=n)
        .map(|i| format!("  {}:\n    name: TRUST {i:02}\n", ods(i)))
        .collect();
    let text = format!(
        "blueprint:\n  source: {}\n  version: 1.0.0\naddressing:\n  pools: [10.64.0.0/10]\ntrusts:\n{trusts}",
        fixture_blueprint("stacks").display()
    );
    crate::fleet::commit_fleet_file(&out, &text, &format!("{n} trusts on stacks 1.0.0"));
    out
}

#[test]
fn an_upgrade_dropping_resources_deletes_or_detaches_them_as_each_stack_says_and_the_plan_said_so()
{
    let (rt, server) = crate::deploy::start_cloud(trustprint::cloud::Config::default());
    let url = server.url().to_string();
    let fleet = |out: Output, args: &[&str]| {
        let mut all = vec!["fleet"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[
            "--fleet",
            "fleet",
            "--cloud-url",
            &url,
            "--concurrency",
            "8",
        ]);
        Test::in_dir(out.dir).args(all)
    };
    let out = fleet(stacked_fleet(TRUSTS), &["apply"])
        .stdout_has("20 trust(s): 0 no change (0 skipped by content hash), 20 applied, 0 failed")
        .run();
    // Every stack's id is in its trust's lock.
    let first = lock(&out, "T01");
    let sub = trustprint::deploy::target::local_subscription("T01");
    for name in ["network", "data"] {
        assert_eq!(
            recorded(&first, name)["stackId"],
            format!("/subscriptions/{sub}/resourceGroups/rg-t01-{name}/providers/Microsoft.Resources/deploymentStacks/trustprint-{name}").as_str()
        );
    }

    // The plan: `network` deletes its route table and its flow log account (data: --allow-data-loss needed),
    // `data` detaches its archive account.
    let out = fleet(
        out,
        &["upgrade", "--to", "1.1.0", "--dry-run", "--output", "json"],
    )
    .run();
    let report = out.json();
    assert_eq!(report["rollup"]["changed"], TRUSTS, "{report}");
    for row in report["trusts"].as_array().unwrap() {
        let ods = row["ods"].as_str().unwrap().to_ascii_lowercase();
        let sub = trustprint::deploy::target::local_subscription(&ods);
        assert_eq!(row["delete"], 2, "{row}");
        assert_eq!(row["detach"], 1, "{row}");
        assert_eq!(
            row["data_loss"],
            serde_json::json!([format!(
                "/subscriptions/{sub}/resourceGroups/rg-{ods}-network/providers/Microsoft.Storage/storageAccounts/st{ods}flowlogs (Microsoft.Storage/storageAccounts)"
            )]),
            "{row}"
        );
    }
    // The plan is the stack what-if's answer: trustprint asked Azure's stack what-if (2025-07-01), whose
    // results stay at each stack's group, and they say the same.
    let client = crate::deploy::local_client(&url);
    for (group, change, resource) in [
        ("network", "delete", "routeTables/rt-t01-legacy"),
        ("network", "delete", "storageAccounts/stt01flowlogs"),
        ("data", "detach", "storageAccounts/stt01archive"),
    ] {
        let sub = trustprint::deploy::target::local_subscription("t01");
        let results = rt
            .block_on(client.get_resource(
                &format!("/subscriptions/{sub}/resourceGroups/rg-t01-{group}/providers/Microsoft.Resources/deploymentStacksWhatIfResults"),
                "2025-07-01",
            ))
            .unwrap()
            .unwrap();
        let results = results["value"].as_array().unwrap();
        assert_eq!(results.len(), 1, "{results:?}");
        let said = results[0]["properties"]["changes"]["resourceChanges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["changeType"] == change && c["id"].as_str().unwrap().ends_with(resource));
        assert!(
            said,
            "the stack what-if of {group} says {change} {resource}: {results:?}"
        );
    }
    // A data-bearing deletion is refused without --allow-data-loss.
    let out = fleet(out, &["upgrade", "--to", "1.1.0", "--trust", "T01"])
        .status(1)
        .stdout_has("T01    FAILED: the plan deletes 1 data-bearing resource(s); refusing without --allow-data-loss")
        .run();
    let out = fleet(out, &["upgrade", "--to", "1.1.0", "--allow-data-loss"])
        .stdout_has("T20    applied: 0 created, 2 modified, 2 deleted, 1 detached; recorded ")
        .stdout_has("20 trust(s): 0 no change (0 skipped by content hash), 20 applied, 0 failed")
        .run();

    // In the cloud: the deleted are gone, the detached is there and no longer the stack's.
    for i in 1..=TRUSTS {
        let ods = ods(i).to_ascii_lowercase();
        let sub = trustprint::deploy::target::local_subscription(&ods);
        let client = crate::deploy::local_client(&url);
        let rg = |g: &str| format!("/subscriptions/{sub}/resourceGroups/rg-{ods}-{g}");
        let exists =
            |id: &str, api: &str| rt.block_on(client.get_resource(id, api)).unwrap().is_some();
        let route_table = format!(
            "{}/providers/Microsoft.Network/routeTables/rt-{ods}-legacy",
            rg("network")
        );
        let flow_logs = format!(
            "{}/providers/Microsoft.Storage/storageAccounts/st{ods}flowlogs",
            rg("network")
        );
        let archive = format!(
            "{}/providers/Microsoft.Storage/storageAccounts/st{ods}archive",
            rg("data")
        );
        assert!(!exists(&route_table, "2023-09-01"), "{route_table}");
        assert!(!exists(&flow_logs, "2023-01-01"), "{flow_logs}");
        assert!(exists(&archive, "2023-01-01"), "{archive}");
        let scope = DeploymentScope::ResourceGroup {
            subscription_id: sub.clone(),
            resource_group: format!("rg-{ods}-data"),
        };
        let stack = rt
            .block_on(client.get_stack(&scope, "trustprint-data"))
            .unwrap()
            .unwrap();
        assert!(stack
            .resources
            .iter()
            .all(|r| !r.id.eq_ignore_ascii_case(&archive)));
        assert!(stack
            .detached_resources
            .iter()
            .any(|r| r.id.eq_ignore_ascii_case(&archive)));
        // The lock records what each stack did.
        let l = lock(&out, &ods.to_ascii_uppercase());
        assert_eq!(l["blueprint"]["version"], "1.1.0");
        let mut deleted = strings(&recorded(&l, "network")["deleted"]);
        deleted.sort();
        let mut expected = [route_table.clone(), flow_logs.clone()];
        expected.sort();
        assert_eq!(
            deleted
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect::<Vec<_>>(),
            expected
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            strings(&recorded(&l, "data")["detached"])
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect::<Vec<_>>(),
            vec![archive.to_ascii_lowercase()]
        );
    }
    // Applied as planned: nothing left to change.
    let out = fleet(out, &["plan", "--refresh"])
        .stdout_has("20 trust(s): 20 no change")
        .run();
    drop(out);
    rt.block_on(server.shutdown());
}

/// `stamp` of the Royal Berkshire trust on the `stacks` blueprint into `fleet`, against the cloud at `url`.
fn stamp_rhw(t: Test, url: &str) -> Test {
    t.write(
        "values.yaml",
        "trust:\n  name: ROYAL BERKSHIRE NHS FOUNDATION TRUST\n  ods_code: RHW\n",
    )
    .blueprint("stacks")
    .args([
        "stamp",
        "--values",
        "values.yaml",
        "--fleet",
        "fleet",
        "--yes",
    ])
    .args(["--cloud-url", url])
}

/// Against an Azure from before the stack what-if (its api-version unknown), plan falls back to the deployment
/// what-if and the stacks' resources, says so, and predicts the same deletes and detaches.
#[test]
fn without_the_stack_what_if_plan_falls_back_says_so_and_predicts_the_same() {
    let (rt, server) = crate::deploy::start_cloud(trustprint::cloud::Config {
        stack_what_if: false,
        ..trustprint::cloud::Config::default()
    });
    let url = server.url().to_string();
    let fleet = |out: Output, args: &[&str]| {
        let mut all = vec!["fleet"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--fleet", "fleet", "--cloud-url", &url]);
        Test::in_dir(out.dir).args(all)
    };
    let out = fleet(stacked_fleet(2), &["apply"])
        .stdout_has("2 trust(s): 0 no change (0 skipped by content hash), 2 applied, 0 failed")
        .run();
    let out = fleet(
        out,
        &["upgrade", "--to", "1.1.0", "--dry-run", "--output", "json"],
    )
    .run();
    let report = out.json();
    for row in report["trusts"].as_array().unwrap() {
        assert_eq!(row["delete"], 2, "{row}");
        assert_eq!(row["detach"], 1, "{row}");
        assert_eq!(row["data_loss"].as_array().unwrap().len(), 1, "{row}");
    }
    // A single trust's plan says where its answer came from.
    let out = stamp_rhw(Test::in_dir(out.dir), &url).run();
    Test::in_dir(out.dir)
        .blueprint("stacks")
        .args(["plan", "--values", "values.yaml", "--cloud-url", &url])
        .stdout_has("network (resource group rg-rhw-network) as stack trustprint-network, deny settings denyWriteAndDelete\n  note: the target has no stack what-if (deploymentStacksWhatIfResults 2025-07-01); predicted from the deployment what-if and the stack's resources\n")
        .run();
    rt.block_on(server.shutdown());
}

/// The Royal Berkshire example's `access.admin_group_object_id`, which the North West fleet's defaults share:
/// on the local cloud, a client of this id acts as a member of the trust's own admin group.
pub(crate) const ADMIN_GROUP: &str = "4f8e2a61-93c7-4d0b-a5e8-7b1c6d2f9e04";

#[test]
fn a_trust_administrators_delete_of_the_backup_vault_is_refused_the_epr_stays_theirs_to_run_and_drift_says_so(
) {
    let out = crate::fleet::deployable_north_west();
    let (rt, server) = crate::deploy::start_cloud(trustprint::cloud::Config::default());
    let url = server.url().to_string();
    let out = Test::in_dir(out.dir)
        .args([
            "fleet",
            "apply",
            "--fleet",
            "fleet",
            "--trust",
            "RBT",
            "--cloud-url",
            &url,
        ])
        .stdout_has("1 applied, 0 failed")
        .run();
    let l = lock(&out, "RBT");
    for name in [
        "governance",
        "operations",
        "connectivity",
        "security",
        "epr",
        "resilience",
    ] {
        let id = recorded(&l, name)["stackId"].as_str().unwrap().to_string();
        assert!(
            id.ends_with(&format!(
                "/providers/Microsoft.Resources/deploymentStacks/trustprint-{name}"
            )),
            "{id}"
        );
    }
    let of_type = |deployment: &str, t: &str| -> Vec<String> {
        strings(&recorded(&l, deployment)["resourceIds"])
            .into_iter()
            .filter(|id| trustprint::deploy::plan::resource_type(id).eq_ignore_ascii_case(t))
            .collect()
    };
    let vault = of_type("resilience", "Microsoft.RecoveryServices/vaults")
        .into_iter()
        .find(|id| id.contains("bkp") || id.contains("backup"))
        .expect("the backup vault among the resilience stack's resources");
    let records = of_type("epr", "Microsoft.Storage/storageAccounts")
        .into_iter()
        .next()
        .expect("a storage account among the EPR stack's resources");

    // A trust administrator: a principal of the trust's tenant, neither its admin group nor trustprint.
    let admin = local_client_as(&url, "rbt-it-admin");
    let refused = rt
        .block_on(admin.delete_resource(&vault, "2024-04-01"))
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Some("DenyAssignmentAuthorizationFailed"),
        "{refused}"
    );
    assert!(rt
        .block_on(admin.get_resource(&vault, "2024-04-01"))
        .unwrap()
        .is_some());

    // The EPR is the trust's to operate: its data resources take the administrator's changes (denyDelete
    // lets writes through), but are not theirs to delete.
    let mut account = rt
        .block_on(admin.get_resource(&records, "2023-05-01"))
        .unwrap()
        .unwrap();
    account["tags"]["owner"] = serde_json::json!("epr-service-team");
    rt.block_on(admin.put_resource(&records, "2023-05-01", &account))
        .unwrap();
    let refused = rt
        .block_on(admin.delete_resource(&records, "2023-05-01"))
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Some("DenyAssignmentAuthorizationFailed"),
        "{refused}"
    );
    // A member of the trust's own admin group is excluded: the trust keeps control of its estate.
    let group = local_client_as(&url, ADMIN_GROUP);
    account["tags"]["owner"] = serde_json::json!("epr-service-desk");
    rt.block_on(group.put_resource(&records, "2023-05-01", &account))
        .unwrap();

    let caller = trustprint::cloud::object_id("rbt-it-admin");
    let out = Test::in_dir(out.dir)
        .args(["fleet", "drift", "--fleet", "fleet", "--trust", "RBT", "--cloud-url", &url])
        .status(2)
        .stdout_has("RBT    DRIFTED: 1 resource(s); 2 request(s) refused by its stacks' deny settings")
        .stdout_has(&format!("Modify {records}"))
        .stdout_has(&format!(" {caller} Microsoft.RecoveryServices/vaults/delete {vault} (DenyAssignmentAuthorizationFailed)"))
        .stdout_has(&format!(" {caller} Microsoft.Storage/storageAccounts/delete {records} (DenyAssignmentAuthorizationFailed)"))
        .stdout_has("1 trust(s): 1 drifted, 0 as applied")
        .run();
    drop(out);
    rt.block_on(server.shutdown());
}

#[test]
fn destroy_deletes_each_stack_with_its_declared_action_and_keeps_what_it_detaches() {
    let (rt, server) = crate::deploy::start_cloud(trustprint::cloud::Config::default());
    let url = server.url().to_string();
    let run = |t: Test, args: &[&str]| {
        t.blueprint("stacks")
            .args(args.iter().copied())
            .args(["--cloud-url", &url])
    };
    let out = stamp_rhw(Test::new(), &url)
        .stdout_has("Apply complete: 2 deployment(s), 2 resource(s) deployed")
        .run();
    let sub = trustprint::deploy::target::local_subscription("RHW");
    let stack = |g: &str| {
        format!("/subscriptions/{sub}/resourceGroups/rg-rhw-{g}/providers/Microsoft.Resources/deploymentStacks/trustprint-{g}")
    };
    let records = format!(
        "/subscriptions/{sub}/resourceGroups/rg-rhw-data/providers/Microsoft.Storage/storageAccounts/strhwrecords"
    );
    let out = run(
        Test::in_dir(out.dir),
        &["destroy", "--values", "values.yaml", "--fleet", "fleet", "--yes"],
    )
    .stdout_has("  - resource group rg-rhw-network\n")
    .stdout_has(&format!("  - stack {}\n  - stack {}\n", stack("data"), stack("network")))
    .stdout_has(&format!("  / kept (detached by its stack): {records}\n"))
    .stdout_has("Destroy complete: 1 resource group(s), 0 subscription-level resource(s), 0 deployment record(s) removed; 2 stack(s) deleted, 1 resource(s) kept as their stacks detach them")
    .run();
    let client = crate::deploy::local_client(&url);
    let network = format!("/subscriptions/{sub}/resourceGroups/rg-rhw-network");
    assert!(rt
        .block_on(client.get_resource(&network, "2021-04-01"))
        .unwrap()
        .is_none());
    assert!(rt
        .block_on(client.get_resource(&records, "2023-01-01"))
        .unwrap()
        .is_some());
    // Detached, it is no longer protected: its stack and deny assignment went with the destroy.
    let scope = DeploymentScope::ResourceGroup {
        subscription_id: sub.clone(),
        resource_group: "rg-rhw-data".into(),
    };
    assert!(rt
        .block_on(client.get_stack(&scope, "trustprint-data"))
        .unwrap()
        .is_none());
    rt.block_on(local_client_as(&url, "someone-else").delete_resource(&records, "2023-01-01"))
        .unwrap();
    let lock = out.read("fleet/trusts/RHW/trustprint.lock");
    assert!(lock.contains("deployment:\n  action: destroy\n"), "{lock}");
    assert!(
        lock.contains(&format!("  detached:\n  - {records}\n")),
        "{lock}"
    );
    rt.block_on(server.shutdown());
}

/// The `stacks` blueprint's default `access.admin_group_object_id`: on the local cloud, a client of this id
/// acts as a member of the trust's admin group, which its stacks exclude from their deny settings.
const STACKS_ADMIN_GROUP: &str = "0b6f3c2e-7d41-4a5e-9c18-2f7e4d6a1b93";

/// A stack another deployment changed since trustprint last updated it is out of sync: Azure refuses to delete
/// it with its resources, trustprint says what to check and which flag bypasses the check, and sends
/// `bypassStackOutOfSyncError` only when given `--bypass-stack-out-of-sync`.
#[test]
fn an_out_of_sync_stack_stops_destroy_with_advice_until_the_user_bypasses_it() {
    let (rt, server) = crate::deploy::start_cloud(trustprint::cloud::Config::default());
    let url = server.url().to_string();
    let out = stamp_rhw(Test::new(), &url).run();
    let sub = trustprint::deploy::target::local_subscription("RHW");
    // A member of the trust's admin group (excluded from the deny settings) redeploys the network security
    // group by hand, outside the stack.
    let scope = DeploymentScope::ResourceGroup {
        subscription_id: sub.clone(),
        resource_group: "rg-rhw-network".into(),
    };
    let nsg = serde_json::json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [{"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": "2023-09-01",
            "name": "nsg-rhw-app", "location": "uksouth", "properties": {"securityRules": []}}]
    });
    let by_hand = || {
        let d = rt
            .block_on(local_client_as(&url, STACKS_ADMIN_GROUP).create_deployment(
                &scope,
                "by-hand",
                &trustprint::arm::DeploymentRequest {
                    location: None,
                    tags: Default::default(),
                    mode: trustprint::arm::DeploymentMode::Incremental,
                    template: nsg.clone(),
                    parameters: Default::default(),
                },
            ))
            .unwrap();
        assert_eq!(
            d.provisioning_state,
            trustprint::arm::ProvisioningState::Succeeded,
            "{:?}",
            d.error
        );
    };
    by_hand();
    // The plan puts the stack's tags back; Azure refuses the update, and trustprint says why and what to do.
    let apply = |dir| {
        Test::in_dir(dir).blueprint("stacks").args([
            "apply",
            "--values",
            "values.yaml",
            "--yes",
            "--cloud-url",
            &url,
        ])
    };
    let out = apply(out.dir)
        .status(1)
        .stderr_has("deployment 'network': Azure refused to apply stack trustprint-network: its list of managed resources may be out of sync")
        .stderr_has("run the apply again with --bypass-stack-out-of-sync")
        .run();
    let out = apply(out.dir)
        .args(["--bypass-stack-out-of-sync"])
        .stdout_has("Apply complete:")
        .run();
    // In sync again after that update; changed by hand once more, it stops destroy.
    by_hand();
    let destroy = |dir| {
        Test::in_dir(dir).blueprint("stacks").args([
            "destroy",
            "--values",
            "values.yaml",
            "--yes",
            "--cloud-url",
            &url,
        ])
    };
    let out = destroy(out.dir)
        .status(1)
        .stderr_has("deployment 'network': Azure refused to destroy stack trustprint-network: its list of managed resources may be out of sync")
        .stderr_has("run the destroy again with --bypass-stack-out-of-sync")
        .run();
    let client = crate::deploy::local_client(&url);
    assert!(rt
        .block_on(client.get_stack(&scope, "trustprint-network"))
        .unwrap()
        .is_some());
    destroy(out.dir)
        .args(["--bypass-stack-out-of-sync"])
        .stdout_has("Destroy complete:")
        .run();
    assert!(rt
        .block_on(client.get_stack(&scope, "trustprint-network"))
        .unwrap()
        .is_none());
    rt.block_on(server.shutdown());
}
