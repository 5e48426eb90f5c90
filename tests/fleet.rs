//! Fleet repositories through the real binary: init, import from the ODS list, add, list, show, and the
//! errors a shared digital team meets (overlapping ranges, a broken fleet.yaml, a malformed extract).

use crate::harness::{head, Output, Test};

const RHW: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/blueprints/exemplar-epr/examples/royal-berkshire-rhw.yaml"
);

/// A fleet of the North West's open trusts (Y62) from the bundled extract.
fn north_west() -> Output {
    let out = Test::new().args(["fleet", "init", "fleet"]).run();
    Test::in_dir(out.dir)
        .args([
            "fleet", "import", "--fleet", "fleet", "--ods", "bundled", "--region", "Y62",
        ])
        .stdout_has("30 added, 0 unchanged, 10 closed skipped")
        .run()
}

fn cidr(s: &str) -> (u32, u32) {
    let (addr, len) = s.split_once('/').unwrap();
    let ip: std::net::Ipv4Addr = addr.parse().unwrap();
    let len: u32 = len.parse().unwrap();
    let start = u32::from(ip);
    (start, start + ((1u64 << (32 - len)) - 1) as u32)
}

#[test]
fn import_gives_every_open_trust_its_own_range_and_again_changes_nothing() {
    let out = north_west();
    let fleet = out.path("fleet");
    let first = head(&fleet).expect("import committed");
    let out = Test::in_dir(out.dir)
        .args([
            "fleet", "import", "--fleet", "fleet", "--ods", "bundled", "--region", "Y62",
        ])
        .stdout_has("0 added, 30 unchanged")
        .stdout_has("nothing changed, no commit")
        .run();
    assert_eq!(head(&fleet).as_deref(), Some(first.as_str()));

    let out = Test::in_dir(out.dir)
        .args(["fleet", "list", "--fleet", "fleet", "--output", "json"])
        .run();
    let trusts = out.json()["trusts"].as_array().unwrap().clone();
    assert_eq!(trusts.len(), 30);
    assert!(trusts.iter().all(|t| t["region"] == "Y62"));
    let mut ranges: Vec<(u32, u32)> = trusts
        .iter()
        .map(|t| cidr(t["address_space"].as_str().unwrap()))
        .collect();
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        assert!(pair[0].1 < pair[1].0, "overlap: {pair:?}");
    }
    // Manchester University NHS FT, a teaching trust of the North West in Greater Manchester's ICB.
    let r0a = trusts.iter().find(|t| t["ods"] == "R0A").unwrap();
    assert_eq!(r0a["icb"], "QOP");
    assert_eq!(r0a["ring"], "broad");
}

#[test]
fn renamed_and_closed_trusts_are_reported() {
    let line = |code: &str, name: &str, closed: &str| {
        let mut f = vec![String::new(); 27];
        f[0] = code.into();
        f[1] = name.into();
        f[2] = "Y62".into();
        f[3] = "QOP".into();
        f[11] = closed.into();
        f[23] = "B".into();
        f.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(",")
            + "\r\n"
    };
    let before = line("RM3", "SALFORD ROYAL NHS FOUNDATION TRUST", "")
        + &line("RW6", "PENNINE ACUTE HOSPITALS NHS TRUST", "");
    let after = line("RM3", "NORTHERN CARE ALLIANCE NHS FOUNDATION TRUST", "")
        + &line("RW6", "PENNINE ACUTE HOSPITALS NHS TRUST", "20210331");
    let out = Test::new()
        .write("old.csv", &before)
        .write("new.csv", &after)
        .args(["fleet", "init", "fleet"])
        .run();
    let out = Test::in_dir(out.dir)
        .args(["fleet", "import", "--fleet", "fleet", "--ods", "old.csv"])
        .stdout_has("2 added")
        .run();
    let out = Test::in_dir(out.dir)
        .args(["fleet", "import", "--fleet", "fleet", "--ods", "new.csv"])
        .stdout_has("renamed: RM3: SALFORD ROYAL NHS FOUNDATION TRUST -> NORTHERN CARE ALLIANCE NHS FOUNDATION TRUST")
        .stdout_has("closed: RW6 PENNINE ACUTE HOSPITALS NHS TRUST on 20210331 (merged or dissolved)")
        .run();
    let yaml = out.read("fleet/fleet.yaml");
    assert!(yaml.contains("closed: '20210331'"), "{yaml}");
}

#[test]
fn an_overlapping_manual_range_is_refused_naming_both_and_nothing_is_written() {
    let out = north_west();
    let fleet = out.path("fleet");
    let before = head(&fleet);
    // R0A holds 10.64.0.0/17; a trust whose own values claim a range inside it is refused.
    let values = std::fs::read_to_string(RHW).unwrap().replace(
        "address_space: 10.31.0.0/16",
        "address_space: 10.64.64.0/18",
    );
    let out = Test::in_dir(out.dir)
        .write("rhw.yaml", &values)
        .args([
            "fleet", "add", "RHW", "--fleet", "fleet", "--values", "rhw.yaml",
        ])
        .status(4)
        .stderr_has("address space of trust RHW (10.64.64.0/18) overlaps trust R0A (10.64.0.0/17)")
        .run();
    assert_eq!(head(&fleet), before);
    assert!(!out.path("fleet/trusts/RHW").exists());
    assert!(!out.read("fleet/fleet.yaml").contains("RHW"));

    // Its own range is fine: added, committed with its values file in one commit.
    let out = Test::in_dir(out.dir)
        .args(["fleet", "add", "rhw", "--fleet", "fleet", "--values", RHW])
        .stdout_has(
            "added RHW ROYAL BERKSHIRE NHS FOUNDATION TRUST with address space 10.31.0.0/16",
        )
        .run();
    assert_ne!(head(&fleet), before);
    assert_eq!(
        out.read("fleet/trusts/RHW/values.yaml"),
        std::fs::read_to_string(RHW).unwrap()
    );
    let repo = git2::Repository::open(&fleet).unwrap();
    let statuses = repo.statuses(None).unwrap();
    assert!(statuses.is_empty(), "the add left uncommitted files");
    Test::in_dir(out.dir)
        .args(["fleet", "show", "RHW", "--fleet", "fleet"])
        .stdout_has("address space  10.31.0.0/16 (manual)")
        .stdout_has("values         trusts/RHW/values.yaml over the fleet defaults")
        .run();
}

#[test]
fn a_broken_fleet_file_and_a_broken_extract_are_named() {
    let out = Test::new()
        .write(
            "fleet/fleet.yaml",
            "blueprint: {source: embedded}\nrings: [{name: canary}]\ntrusts:\n  RM3: {name: A, rnig: canary}\n",
        )
        .args(["fleet", "list", "--fleet", "fleet"])
        .status(4)
        .stderr_has("fleet/fleet.yaml: trusts.RM3: unknown field `rnig`")
        .run();
    let out = Test::in_dir(out.dir)
        .write(
            "fleet/fleet.yaml",
            "blueprint: {source: embedded}\nrings: [{name: canary}]\ntrusts:\n  RM3: {name: A, ring: canry}\n",
        )
        .args(["fleet", "list", "--fleet", "fleet"])
        .status(4)
        .stderr_has("fleet.yaml: trusts.RM3.ring: no ring named \"canry\" in rings (canary)")
        .run();
    let out = Test::in_dir(out.dir)
        .write("fleet/fleet.yaml", "blueprint: {source: embedded}\n")
        .write("bad.csv", "\"RM3\",\"NORTHERN CARE ALLIANCE\"\r\n")
        .args(["fleet", "import", "--fleet", "fleet", "--ods", "bad.csv"])
        .status(4)
        .stderr_has("bad.csv:1: expected 27 columns (NHS Digital's etr extract), found 2")
        .run();
    Test::in_dir(out.dir)
        .args(["fleet", "show", "RXX", "--fleet", "fleet"])
        .status(4)
        .stderr_has("trust RXX is not in the fleet")
        .run();
    Test::new()
        .args(["fleet", "list", "--fleet", "nowhere"])
        .status(4)
        .stderr_has("nowhere: not a fleet repository (no fleet.yaml); create one with `trustprint fleet init nowhere`")
        .run();
}

/// Write the fleet's fleet.yaml by hand, as a team member would, and commit it.
pub(crate) fn commit_fleet_file(out: &Output, text: &str, message: &str) {
    std::fs::write(out.path("fleet/fleet.yaml"), text).unwrap();
    let repo = git2::Repository::open(out.path("fleet")).unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(std::path::Path::new("fleet.yaml")).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    let sig = git2::Signature::now("test", "test@localhost").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &[&head])
        .unwrap();
}

/// Edit fleet.yaml as YAML and commit it by hand (a person editing the file).
fn edit_fleet_file(out: &Output, message: &str, edit: impl FnOnce(&mut serde_yaml::Value)) {
    let mut fleet: serde_yaml::Value = serde_yaml::from_str(&out.read("fleet/fleet.yaml")).unwrap();
    edit(&mut fleet);
    commit_fleet_file(out, &serde_yaml::to_string(&fleet).unwrap(), message);
}

/// `fleet add ODS --values` with `text` as the trust's own values (committed by trustprint).
fn add_own_values(out: Output, ods: &str, text: &str) -> Output {
    let file = format!("{}.yaml", ods.to_ascii_lowercase());
    Test::in_dir(out.dir)
        .write(&file, text)
        .args(["fleet", "add", ods, "--fleet", "fleet", "--values", &file])
        .run()
}

/// A fleet of the North West's 30 open trusts whose shared defaults (everything but each trust's identity and
/// address space) come from the Royal Berkshire example: deployable as imported.
pub(crate) fn deployable_north_west() -> Output {
    let out = north_west();
    let mut defaults: serde_yaml::Mapping =
        serde_yaml::from_str(&std::fs::read_to_string(RHW).unwrap()).unwrap();
    for key in ["trust", "network", "staging"] {
        defaults.remove(key);
    }
    defaults.insert(
        "network".into(),
        serde_yaml::from_str("{dns_servers: [10.131.0.4, 10.131.0.5]}").unwrap(),
    );
    edit_fleet_file(&out, "Shared defaults", |fleet| {
        fleet["defaults"] = defaults.into();
    });
    out
}

fn locks(out: &Output) -> Vec<(String, serde_yaml::Value)> {
    let mut v: Vec<(String, serde_yaml::Value)> = std::fs::read_dir(out.path("fleet/trusts"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let text = std::fs::read_to_string(e.path().join("trustprint.lock")).ok()?;
                    Some((
                        e.file_name().to_string_lossy().into_owned(),
                        serde_yaml::from_str(&text).unwrap(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn a_fleet_applies_across_subscriptions_and_an_unchanged_fleet_plans_without_arm() {
    let out = deployable_north_west();
    let out = Test::in_dir(out.dir)
        .args([
            "fleet",
            "apply",
            "--fleet",
            "fleet",
            "--concurrency",
            "4",
            "--output",
            "json",
        ])
        .run();
    let report = out.json();
    assert_eq!(report["rollup"]["changed"], 30, "{report}");
    assert_eq!(report["rollup"]["failed"], 0);
    // Trusts of the run take turns recording without waiting on the repository's lock held by their own run.
    assert!(
        !out.stderr.contains("waiting for the fleet repository"),
        "{}",
        out.stderr
    );
    let locks = locks(&out);
    assert_eq!(locks.len(), 30);
    let mut subscriptions = std::collections::BTreeSet::new();
    for (ods, lock) in &locks {
        let apply = &lock["deployment"];
        assert_eq!(apply["action"], "apply", "{ods}");
        assert_eq!(apply["succeeded"], true, "{ods}");
        subscriptions.insert(
            apply["target"]["subscriptionId"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        // Its values came from fleet.yaml alone: no values file of its own was written.
        assert!(
            !out.path(&format!("fleet/trusts/{ods}/values.yaml"))
                .exists(),
            "{ods}"
        );
    }
    assert_eq!(subscriptions.len(), 30, "one subscription per trust");
    // One commit per trust on top of the import and the defaults.
    let repo = git2::Repository::open(out.path("fleet")).unwrap();
    let mut walk = repo.revwalk().unwrap();
    walk.push_head().unwrap();
    assert_eq!(walk.count(), 3 + 30);

    // Nothing changed: every trust skipped by content hash (no cloud is even needed: none runs now).
    let out = Test::in_dir(out.dir)
        .args(["fleet", "plan", "--fleet", "fleet", "--detailed-exitcode", "--cloud-url", "http://127.0.0.1:9"])
        .stdout_has("30 trust(s): 30 no change (30 skipped by content hash), 0 to change, 0 failed, 0 with data loss")
        .run();
    // --refresh asks ARM, which agrees.
    Test::in_dir(out.dir)
        .args([
            "fleet",
            "plan",
            "--fleet",
            "fleet",
            "--refresh",
            "--trust",
            "R0A,RBT",
            "--detailed-exitcode",
        ])
        .stdout_has("2 trust(s): 2 no change (0 skipped by content hash), 0 to change, 0 failed")
        .run();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Issue 14: `fleet apply` stops a trust with guardrail violations through the same composer as `apply` and
/// `stamp`: it is reported failed and nothing of it is deployed or recorded.
#[test]
fn fleet_apply_refuses_a_trust_with_guardrail_violations() {
    let out = deployable_north_west();
    // The exemplar (and the templates beside it), but letting a trust choose any region: its guardrails
    // still allow only the UK ones.
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let bp = out.path("blueprints/exemplar-epr");
    copy_dir(&repo.join("blueprints/exemplar-epr"), &bp);
    copy_dir(&repo.join("templates"), &bp.join("templates"));
    let manifest = std::fs::read_to_string(bp.join("blueprint.yaml"))
        .unwrap()
        .replace("    choices: [uksouth, ukwest]\n", "")
        .replace(
            r#"templateRoots: ["../../templates"]"#,
            r#"templateRoots: ["templates"]"#,
        );
    std::fs::write(bp.join("blueprint.yaml"), manifest).unwrap();
    edit_fleet_file(&out, "The fleet's own blueprint", |fleet| {
        fleet["blueprint"] = serde_yaml::from_str(&format!("{{source: {:?}}}", bp)).unwrap();
    });
    let out = Test::in_dir(out.dir)
        .write(
            "fleet/trusts/RBT/values.yaml",
            "azure:\n  location: westeurope\n",
        )
        .args(["fleet", "apply", "--fleet", "fleet", "--trust", "RBT"])
        .status(1)
        .stdout_has("RBT    FAILED: ")
        .stdout_has("guardrail violation(s); `trustprint check` on the trust lists them")
        .run();
    assert!(!out.path("fleet/trusts/RBT/trustprint.lock").exists());
}

#[test]
fn a_failed_trust_is_isolated_and_resume_finishes_the_run() {
    let out = deployable_north_west();
    // RBT's own values are broken: it fails, the 29 others apply.
    let out = Test::in_dir(out.dir)
        .write("fleet/trusts/RBT/values.yaml", "tier: enormous\n")
        .args([
            "fleet",
            "apply",
            "--fleet",
            "fleet",
            "--region",
            "Y62",
            "--concurrency",
            "3",
        ])
        .status(1)
        .stdout_has("RBT    FAILED: fleet/trusts/RBT/values.yaml: 1 problem(s) in values: fleet/trusts/RBT/values.yaml line 1: tier: \"enormous\" is not one of the choices")
        .stdout_has("30 trust(s): 0 no change (0 skipped by content hash), 29 applied, 1 failed")
        .run();
    assert_eq!(locks(&out).len(), 29);
    assert!(!out.path("fleet/trusts/RBT/trustprint.lock").exists());

    // Mended, --resume applies only what the run had not finished.
    let out = Test::in_dir(out.dir)
        .write("fleet/trusts/RBT/values.yaml", "tier: medium\n")
        .args(["fleet", "apply", "--fleet", "fleet", "--resume"])
        .stdout_has("RBT    applied: ")
        .stdout_has("1 trust(s): 0 no change (0 skipped by content hash), 1 applied, 0 failed")
        .run();
    assert_eq!(locks(&out).len(), 30);
    // The run is finished: nothing left to resume.
    Test::in_dir(out.dir)
        .args(["fleet", "apply", "--fleet", "fleet", "--resume"])
        .status(4)
        .stderr_has("--resume: no interrupted fleet apply to resume in fleet")
        .run();
}

#[test]
fn an_interrupted_fleet_apply_resumes_with_nothing_duplicated() {
    let out = deployable_north_west();
    let child = Test::in_dir(out.dir).args([
        "fleet",
        "apply",
        "--fleet",
        "fleet",
        "--concurrency",
        "1",
        "--icb",
        "QOP",
    ]);
    let dir = child.path().to_path_buf();
    let mut process = child.command().spawn().unwrap();
    // Kill it once a few trusts are recorded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let done = std::fs::read_dir(dir.join("fleet/trusts"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().join("trustprint.lock").exists())
                    .count()
            })
            .unwrap_or(0);
        if done >= 3 || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    process.kill().unwrap();
    process.wait().unwrap();
    let out = Test::in_dir(child.into_dir())
        .args(["fleet", "apply", "--fleet", "fleet", "--resume"])
        .stdout_has("0 failed")
        .run();
    let locks = locks(&out);
    assert_eq!(locks.len(), 10, "every QOP trust recorded");
    for (ods, lock) in &locks {
        assert_eq!(lock["deployment"]["succeeded"], true, "{ods}");
    }
    // No trust was recorded twice: one stamp commit each.
    let repo = git2::Repository::open(out.path("fleet")).unwrap();
    let mut walk = repo.revwalk().unwrap();
    walk.push_head().unwrap();
    let stamps = walk
        .flatten()
        .filter(|id| {
            repo.find_commit(*id)
                .ok()
                .and_then(|c| c.message().map(|m| m.starts_with("Stamp ")))
                .unwrap_or(false)
        })
        .count();
    assert_eq!(stamps, 10);
}

#[test]
fn a_trusts_own_subscription_is_used_on_a_running_local_cloud() {
    let out = deployable_north_west();
    let path = out.path("fleet/fleet.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "  RBT:\n",
        "  RBT:\n    target:\n      tenant_id: 0b5e4a7c-3f2d-4d1e-9a8b-1c2d3e4f5a6b\n      \
         subscription_id: 5d2f7a3c-8b1e-4c6d-9f0a-2b3c4d5e6f7a\n",
    );
    commit_fleet_file(&out, &text, "RBT's target");

    let (rt, server) = crate::deploy::start_cloud(trustprint::cloud::Config::default());
    let out = Test::in_dir(out.dir)
        .args([
            "fleet",
            "apply",
            "--fleet",
            "fleet",
            "--trust",
            "RBT",
            "--cloud-url",
            server.url(),
        ])
        .stdout_has("RBT    applied: ")
        .run();
    rt.block_on(server.shutdown());
    let lock: serde_yaml::Value =
        serde_yaml::from_str(&out.read("fleet/trusts/RBT/trustprint.lock")).unwrap();
    assert_eq!(lock["deployment"]["target"]["kind"], "local");
    assert_eq!(
        lock["deployment"]["target"]["subscriptionId"],
        "5d2f7a3c-8b1e-4c6d-9f0a-2b3c4d5e6f7a"
    );
}

#[test]
fn drift_lists_what_was_changed_outside_trustprint() {
    let out = deployable_north_west();
    let (rt, server) = crate::deploy::start_cloud(trustprint::cloud::Config::default());
    let url = server.url().to_string();
    let out = Test::in_dir(out.dir)
        .args([
            "fleet",
            "apply",
            "--fleet",
            "fleet",
            "--trust",
            "RBT,RBV",
            "--cloud-url",
            &url,
        ])
        .stdout_has("2 applied, 0 failed")
        .run();
    let out = Test::in_dir(out.dir)
        .args(["fleet", "drift", "--fleet", "fleet", "--trust", "RBT,RBV", "--cloud-url", &url])
        .stdout_has("2 trust(s): 0 drifted, 2 as applied, 0 with inputs changed since their last apply, 0 failed")
        .run();

    // Someone widens RBT's hub address space in the portal.
    let lock = out.read("fleet/trusts/RBT/trustprint.lock");
    let hub = lock
        .lines()
        .find_map(|l| l.trim().strip_prefix("hubVnetId: "))
        .expect("the hub's id among the outputs")
        .to_string();
    // (A member of the trust's own admin group: the connectivity stack's deny settings exclude it.)
    let client = crate::stacks::local_client_as(&url, crate::stacks::ADMIN_GROUP);
    let mut vnet = rt
        .block_on(client.get_resource(&hub, "2023-09-01"))
        .unwrap()
        .unwrap();
    vnet["properties"]["addressSpace"]["addressPrefixes"] = serde_json::json!(["10.99.0.0/16"]);
    rt.block_on(client.put_resource(&hub, "2023-09-01", &vnet))
        .unwrap();

    let out = Test::in_dir(out.dir)
        .write("fleet/trusts/RBV/values.yaml", "tier: large\n")
        .args(["fleet", "drift", "--fleet", "fleet", "--region", "Y62", "--trust", "RBT,RBV,R0A", "--cloud-url", &url])
        .status(2)
        .stdout_has("RBT    DRIFTED: 1 resource(s)")
        .stdout_has(&format!("Modify {hub}"))
        .stdout_has("RBV    inputs changed since its last apply")
        .stdout_has("R0A    inputs changed since its last apply (or never applied)")
        .stdout_has("3 trust(s): 1 drifted, 0 as applied, 2 with inputs changed since their last apply, 0 failed")
        .run();
    drop(out);
    rt.block_on(server.shutdown());
}

#[test]
fn ci_pipelines_plan_on_pull_requests_and_apply_ring_by_ring() {
    let out = north_west();
    let path = out.path("fleet/fleet.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "rings:\n- name: canary\n- name: early\n",
        "rings:\n- name: canary\n  trusts: [RBT]\n- name: early\n  trusts: [RBV, R0A]\n",
    );
    assert!(text.contains("trusts: [RBT]"), "{text}");
    commit_fleet_file(&out, &text, "Rings");

    let out = Test::in_dir(out.dir)
        .args(["fleet", "ci", "github", "--fleet", "fleet", "--concurrency", "8"])
        .stdout_has("wrote .github/workflows/trustprint-fleet.yml: plan on pull requests, then apply ring by ring (canary: 1 trust(s), early: 2 trust(s), broad: 27 trust(s)); committed ")
        .run();
    let wf: serde_yaml::Value =
        serde_yaml::from_str(&out.read("fleet/.github/workflows/trustprint-fleet.yml")).unwrap();
    assert_eq!(wf["permissions"]["id-token"], "write");
    let jobs = wf["jobs"].as_mapping().unwrap();
    let names: Vec<&str> = jobs.keys().filter_map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        ["plan", "apply-canary", "apply-early", "apply-broad"]
    );
    assert_eq!(
        wf["jobs"]["plan"]["strategy"]["matrix"]["trust"]
            .as_sequence()
            .unwrap()
            .len(),
        30
    );
    assert_eq!(
        wf["jobs"]["apply-canary"]["strategy"]["matrix"]["trust"],
        serde_yaml::to_value(["RBT"]).unwrap()
    );
    assert_eq!(
        wf["jobs"]["apply-early"]["strategy"]["matrix"]["trust"],
        serde_yaml::to_value(["R0A", "RBV"]).unwrap()
    );
    assert_eq!(
        wf["jobs"]["apply-early"]["needs"],
        serde_yaml::to_value(["apply-canary"]).unwrap()
    );
    assert_eq!(
        wf["jobs"]["apply-broad"]["needs"],
        serde_yaml::to_value(["apply-early"]).unwrap()
    );
    assert_eq!(wf["jobs"]["apply-broad"]["strategy"]["max-parallel"], 8);
    let steps = serde_yaml::to_string(&wf["jobs"]["apply-broad"]["steps"]).unwrap();
    assert!(
        steps.contains(
            "trustprint fleet apply --fleet . --target azure --trust ${{ matrix.trust }} --yes"
        ),
        "{steps}"
    );
    assert!(
        steps.contains("audience=api://AzureADTokenExchange"),
        "{steps}"
    );
    assert!(steps.contains("git pull --rebase"), "{steps}");
    // Committed, and the working tree is clean.
    let repo = git2::Repository::open(out.path("fleet")).unwrap();
    assert!(repo.statuses(None).unwrap().is_empty());

    let out = Test::in_dir(out.dir)
        .args(["fleet", "ci", "azure-devops", "--fleet", "fleet"])
        .run();
    let pipeline: serde_yaml::Value =
        serde_yaml::from_str(&out.read("fleet/azure-pipelines.yml")).unwrap();
    let stages = pipeline["stages"].as_sequence().unwrap();
    let ids: Vec<&str> = stages.iter().filter_map(|s| s["stage"].as_str()).collect();
    assert_eq!(ids, ["plan", "apply_canary", "apply_early", "apply_broad"]);
    assert_eq!(
        stages[2]["dependsOn"],
        serde_yaml::to_value(["apply_canary"]).unwrap()
    );
    assert_eq!(
        stages[3]["dependsOn"],
        serde_yaml::to_value(["apply_early"]).unwrap()
    );
    assert_eq!(
        stages[1]["jobs"][0]["strategy"]["matrix"]["RBT"]["trust"],
        "RBT"
    );
    assert_eq!(
        stages[1]["jobs"][0]["steps"][1]["inputs"]["addSpnToEnvironment"],
        true
    );
}

/// The page as headless Chromium leaves it once its script has run.
fn chromium_dom(page: &std::path::Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| {
            panic!("chromium is not installed ({e}): run .ci/run, which installs Debian's chromium")
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn fleet_plan_with_a_policy_that_denies_fails_those_trusts_like_guardrail_violations() {
    let out = deployable_north_west();
    let deny = r#"{"name": "deny-uk-south", "properties": {"displayName": "Nothing in UK South",
        "mode": "Indexed", "policyRule": {"if": {"field": "location", "equals": "uksouth"},
        "then": {"effect": "deny"}}}}"#;
    Test::in_dir(out.dir)
        .write("deny.json", deny)
        .args([
            "fleet",
            "plan",
            "--fleet",
            "fleet",
            "--trust",
            "RBT",
            "--policy",
            "deny.json",
        ])
        .status(1)
        .stdout_has("Azure Policy Nothing in UK South would deny")
        .run();
}

#[test]
fn the_html_report_renders_in_chromium_with_the_fleets_data() {
    let out = deployable_north_west();
    let out = Test::in_dir(out.dir)
        .args(["fleet", "apply", "--fleet", "fleet", "--trust", "RBT,RBV"])
        .run();
    let out = Test::in_dir(out.dir)
        .args(["fleet", "drift", "--fleet", "fleet", "--trust", "RBT"])
        .run();
    let out = Test::in_dir(out.dir)
        .args(["fleet", "report", "--fleet", "fleet", "--html", "report"])
        .stdout_has("wrote report/index.html (30 trust(s))")
        .run();
    let html = out.read("report/index.html");
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains(" src="),
        "external assets"
    );

    // Both UK initiatives per trust and per group, before deployment (issue 15 point 5).
    for initiative in [
        "3937f550-eedd-4639-9c5e-294358be442e",
        "6d220abf-cf6f-4b17-8f7e-0644c4cc84b4",
    ] {
        let at = html
            .find(&format!(
                "<table class=\"policy\" data-initiative=\"{initiative}\">"
            ))
            .unwrap_or_else(|| panic!("no table for {initiative}"));
        let table = &html[at..at + html[at..].find("</table>").unwrap()];
        assert_eq!(table.matches("<tr><td>").count(), 30, "{table}");
        assert!(
            table.contains("<td data-state=\"non-compliant\">N</td>"),
            "{table}"
        );
    }
    let dom = chromium_dom(&out.path("report/index.html"));
    // The page's script ran: it counts the rows.
    assert!(
        dom.contains("<p id=\"summary\">30 trust(s), 0 with a failed last apply</p>"),
        "{dom}"
    );
    assert_eq!(dom.matches("<tr data-result=").count(), 30);
    let row = |ods: &str| {
        let start = dom
            .find(&format!("<td>{ods}</td>"))
            .unwrap_or_else(|| panic!("{ods} row"));
        dom[start..start + dom[start..].find("</tr>").unwrap()].to_string()
    };
    let rbt = row("RBT");
    assert!(
        rbt.contains("<td>1.1.0</td>") && rbt.contains("<td>succeeded</td>"),
        "{rbt}"
    );
    assert!(
        rbt.contains("<td>none</td>") && rbt.contains("<td>pass ("),
        "{rbt}"
    );
    assert!(rbt.contains("<td>Y62 North West</td>"), "{rbt}");
    let rbv = row("RBV");
    assert!(
        rbv.contains("<td>succeeded</td>") && rbv.contains("<td>not checked</td>"),
        "{rbv}"
    );
    let r0a = row("R0A");
    assert!(
        r0a.contains("<td>not stamped</td>") && r0a.contains("<td>never</td>"),
        "{r0a}"
    );
    assert!(r0a.contains("<td>10.64.0.0/17</td>"), "{r0a}");
    // Both charts, with their data: 2 trusts at 1.1.0 and 28 not stamped; 30 in the North West.
    assert!(
        dom.contains("aria-label=\"Blueprint version adoption\""),
        "{dom}"
    );
    assert!(
        dom.contains("aria-label=\"Trusts by NHS England region\""),
        "{dom}"
    );
    assert!(
        dom.contains(">1.1.0</text>") && dom.contains(">not stamped</text>"),
        "{dom}"
    );
    assert!(dom.contains(">Y62 North West</text>"), "{dom}");
}

/// The North West fleet pinned at exemplar-epr 1.0.0, rings canary (R0A, RBL), early (RBN, RBQ) and broad, and
/// 1.0.0's `patching.recur_every` in the shared defaults; RBL and RXV with patching values of their own.
fn pinned_north_west() -> Output {
    let out = deployable_north_west();
    edit_fleet_file(&out, "Pin 1.0.0, rings", |fleet| {
        fleet["blueprint"] = serde_yaml::from_str("{source: embedded, version: 1.0.0}").unwrap();
        fleet["rings"] = serde_yaml::from_str(
            "[{name: canary, trusts: [R0A, RBL]}, {name: early, trusts: [RBN, RBQ]}, {name: broad}]",
        )
        .unwrap();
        fleet["defaults"]["patching"] =
            serde_yaml::from_str("{recur_every: 1Month Second Tuesday Offset2}").unwrap();
    });
    let out = add_own_values(
        out,
        "RBL",
        "patching:\n  recur_every: 1Month Last Sunday Offset6\n",
    );
    add_own_values(
        out,
        "RXV",
        "# RXV: patches mid-week, after the clinics close\npatching:\n  recur_every: 1Month Third Wednesday\n  start_time: \"21:00\"\n",
    )
}

/// The North West fleet pinned at exemplar-epr 1.0.0 with rings, all 30 trusts applied at 1.0.0. The shared
/// defaults set 1.0.0's `patching.recur_every`; RBL (canary) patches on the last Sunday, Offset6, which
/// 1.1.0's second wave cannot follow; RXV (broad) has its own patching values and a comment.
fn north_west_at_1_0_0() -> Output {
    let out = Test::in_dir(pinned_north_west().dir)
        .args(["fleet", "apply", "--fleet", "fleet", "--concurrency", "6"])
        .stdout_has("30 trust(s): 0 no change (0 skipped by content hash), 30 applied, 0 failed")
        .run();
    for (ods, lock) in locks(&out) {
        assert_eq!(lock["blueprint"]["version"], "1.0.0", "{ods}");
    }
    out
}

#[test]
fn fleet_cost_estimates_every_trust_at_its_own_version_on_the_shared_defaults() {
    let out = pinned_north_west();
    // RXV has moved to 1.1.0 ahead of the others (its values as `fleet upgrade` migrated them).
    edit_fleet_file(&out, "RXV on 1.1.0", |fleet| {
        fleet["trusts"]["RXV"]["version"] = "1.1.0".into();
    });
    let out = add_own_values(
        out,
        "RXV",
        "patching:\n  wave1:\n    recur_every: 1Month Third Wednesday\n",
    );
    let out = Test::in_dir(out.dir)
        .args(["fleet", "cost", "--fleet", "fleet", "--output", "json"])
        .run();
    let rollup = out.json();
    assert_eq!(rollup["failed"], 0, "{rollup}");
    // Imported trusts without values of their own are estimated from fleet.yaml too.
    assert_eq!(rollup["trusts"].as_array().unwrap().len(), 30);
    assert_eq!(rollup["byRegion"]["Y62"]["trusts"], 30);
}

fn versions(out: &Output) -> std::collections::BTreeMap<String, String> {
    locks(out)
        .into_iter()
        .map(|(ods, lock)| {
            (
                ods,
                lock["blueprint"]["version"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn an_upgrade_dry_run_plans_every_trust_at_the_new_version_and_writes_nothing() {
    let out = north_west_at_1_0_0();
    let before = head(&out.path("fleet"));
    let out = Test::in_dir(out.dir)
        .args([
            "fleet",
            "upgrade",
            "--fleet",
            "fleet",
            "--to",
            "1.1.0",
            "--dry-run",
            "--concurrency",
            "6",
            "--output",
            "json",
        ])
        .status(1)
        .run();
    let report = out.json();
    assert_eq!(report["dryRun"], true);
    assert_eq!(report["rollup"]["failed"], 1, "{report}");
    assert_eq!(report["rollup"]["changed"], 29);
    assert_eq!(report["rollup"]["withDataLoss"], 0);
    let row = |ods: &str| {
        report["trusts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["ods"] == ods)
            .unwrap()
            .clone()
    };
    // RXV: its own values migrate; the plan adds wave 2's maintenance configuration and moves half the VMs.
    let rxv = row("RXV");
    assert_eq!(rxv["version"], "1.1.0");
    assert_eq!(rxv["status"], "changes");
    assert_eq!(rxv["create"], 1, "{rxv}");
    assert_eq!(rxv["delete"], 0, "{rxv}");
    assert_eq!(
        rxv["migrated"],
        serde_json::json!([
            "renamed patching.recur_every to patching.wave1.recur_every",
            "added patching.wave2.delay_days: 1"
        ])
    );
    // A trust on the shared defaults alone migrates nothing of its own.
    assert!(row("RBN")["migrated"].is_null());
    // RBL's migrated values are invalid at 1.1.0, and the report says why and what migrating did.
    let rbl = row("RBL");
    assert_eq!(rbl["status"], "failed");
    assert!(
        rbl["error"].as_str().unwrap().contains(
            "patching.wave2.delay_days (1) after patching.wave1.recur_every (`1Month Last Sunday Offset6`) needs Offset7"
        ),
        "{rbl}"
    );
    assert_eq!(
        rbl["migrated"][0],
        "renamed patching.recur_every to patching.wave1.recur_every"
    );
    // Nothing written, committed or deployed.
    assert_eq!(head(&out.path("fleet")), before);
    assert!(out
        .read("fleet/trusts/RXV/values.yaml")
        .contains("  recur_every: 1Month Third Wednesday"));
    assert!(versions(&out).values().all(|v| v == "1.0.0"));
    let repo = git2::Repository::open(out.path("fleet")).unwrap();
    assert!(repo.statuses(None).unwrap().is_empty());
    // A version the blueprint does not ship is named with those it does.
    Test::in_dir(out.dir)
        .args([
            "fleet",
            "upgrade",
            "--fleet",
            "fleet",
            "--to",
            "9.9.9",
            "--dry-run",
        ])
        .status(4)
        .stderr_has("exemplar-epr has no version 9.9.9: it holds 1.0.0, 1.1.0")
        .run();
}

#[test]
fn a_rollout_halted_by_its_canary_ring_touches_no_later_ring_and_finishes_once_mended() {
    let out = north_west_at_1_0_0();
    let out = Test::in_dir(out.dir)
        .args([
            "fleet",
            "rollout",
            "--fleet",
            "fleet",
            "--to",
            "1.1.0",
            "--max-failures",
            "0",
            "--concurrency",
            "6",
        ])
        .status(1)
        .stdout_has(
            "ring canary: 2 trust(s): 0 no change (0 skipped by content hash), 1 applied, 1 failed",
        )
        .stdout_has("  RBL    failed: ")
        .stdout_has(
            "Halted at ring canary: more than 0 trust(s) failed; later rings were not touched",
        )
        .run();
    let v = versions(&out);
    assert_eq!(v["R0A"], "1.1.0");
    assert!(
        v.iter()
            .filter(|(ods, _)| !["R0A", "RBL"].contains(&ods.as_str()))
            .all(|(_, v)| v == "1.0.0"),
        "{v:?}"
    );
    let fleet: serde_yaml::Value = serde_yaml::from_str(&out.read("fleet/fleet.yaml")).unwrap();
    assert_eq!(fleet["blueprint"]["version"], "1.0.0");
    assert_eq!(fleet["trusts"]["R0A"]["version"], "1.1.0");
    assert_eq!(fleet["trusts"]["RBL"]["version"], "1.1.0");
    assert!(fleet["trusts"]["RBN"]["version"].is_null());
    // The record, committed.
    let record = |out: &Output, n: usize| -> Vec<serde_json::Value> {
        let mut files: Vec<_> = std::fs::read_dir(out.path("fleet/rollouts"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        assert_eq!(files.len(), n, "{files:?}");
        files
            .iter()
            .map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
            .collect()
    };
    let halted = &record(&out, 1)[0];
    assert_eq!(halted["result"], "halted");
    assert_eq!(halted["haltedAt"], "canary");
    assert_eq!(halted["from"], "1.0.0");
    assert_eq!(halted["rings"].as_array().unwrap().len(), 1);
    {
        let repo = git2::Repository::open(out.path("fleet")).unwrap();
        let last = repo.head().unwrap().peel_to_commit().unwrap();
        assert_eq!(
            last.summary(),
            Some("Rollout of 1.1.0: halted at ring canary")
        );
        assert!(repo.statuses(None).unwrap().is_empty());
    }

    // RBL moves wave 1 two days earlier; the rollout goes through every ring.
    let out = add_own_values(
        out,
        "RBL",
        "patching:\n  wave1:\n    recur_every: 1Month Last Sunday Offset4\n",
    );
    let out = Test::in_dir(out.dir)
        .args(["fleet", "rollout", "--fleet", "fleet", "--to", "1.1.0", "--concurrency", "6"])
        .stdout_has("ring canary: 2 trust(s): 1 no change (1 skipped by content hash), 1 applied, 0 failed")
        .stdout_has("ring early: 2 trust(s): 0 no change (0 skipped by content hash), 2 applied, 0 failed")
        .stdout_has("ring broad: 26 trust(s): 0 no change (0 skipped by content hash), 26 applied, 0 failed")
        .stdout_has("Finished: every ring upgraded")
        .run();
    assert!(versions(&out).values().all(|v| v == "1.1.0"));
    // 1.1.0 is now the fleet's default: no trust pins a version, and the shared defaults were migrated.
    let fleet: serde_yaml::Value = serde_yaml::from_str(&out.read("fleet/fleet.yaml")).unwrap();
    assert_eq!(fleet["blueprint"]["version"], "1.1.0");
    for (ods, t) in fleet["trusts"].as_mapping().unwrap() {
        assert!(t["version"].is_null(), "{ods:?}");
    }
    assert_eq!(
        fleet["defaults"]["patching"],
        serde_yaml::from_str::<serde_yaml::Value>(
            "{wave1: {recur_every: 1Month Second Tuesday Offset2}, wave2: {delay_days: 1}}"
        )
        .unwrap()
    );
    // RXV's own file was migrated, its comment kept; at 1.1.0 wave 2 patches a day after wave 1.
    assert_eq!(
        out.read("fleet/trusts/RXV/values.yaml"),
        "# RXV: patches mid-week, after the clinics close\npatching:\n  start_time: 21:00\n  wave1:\n    recur_every: 1Month Third Wednesday\n  wave2:\n    delay_days: 1\n"
    );
    let ops = out.read("fleet/trusts/RXV/rendered/operations.json");
    assert!(
        ops.contains("\"recurEvery\": \"1Month Third Wednesday Offset1\""),
        "wave 2 a day after wave 1"
    );
    let finished = &record(&out, 2)[1];
    assert_eq!(finished["result"], "finished");
    assert_eq!(finished["rings"].as_array().unwrap().len(), 3);
    // The fleet is steady: a plan skips every trust, and going back is refused before anything changes.
    let out = Test::in_dir(out.dir)
        .args([
            "fleet",
            "plan",
            "--fleet",
            "fleet",
            "--cloud-url",
            "http://127.0.0.1:9",
        ])
        .stdout_has("30 trust(s): 30 no change (30 skipped by content hash)")
        .run();
    Test::in_dir(out.dir)
        .args([
            "fleet", "upgrade", "--fleet", "fleet", "--to", "1.0.0", "--trust", "RXV",
        ])
        .status(4)
        .stderr_has("--to 1.0.0: RXV runs 1.1.0; fleet upgrade only goes forwards")
        .run();
}

/// Tenants of the multi-tenant tests: A and B hold trusts' subscriptions with a service principal each, C's
/// subscriptions are delegated (Azure Lighthouse) to the managing tenant M.
const TENANT_A: &str = "aaaaaaaa-1111-4111-8111-111111111111";
const TENANT_B: &str = "bbbbbbbb-2222-4222-8222-222222222222";
const TENANT_C: &str = "cccccccc-3333-4333-8333-333333333333";
const TENANT_M: &str = "dddddddd-4444-4444-8444-444444444444";
const SECRET_A: &str = "sp-a-secret-Zq81x";
const SECRET_B: &str = "sp-b-secret-Kw27v";
const SECRET_M: &str = "fleet-ops-secret-Jm53c";

/// A subscription of its own for the `n`th trust, in the tenant whose id starts like `tenant`'s.
fn subscription_of(tenant: &str, n: usize) -> String {
    format!("{}-0000-4000-8000-{n:012}", &tenant[..8])
}

/// Gives each `(ods, tenant, subscription, credential)` its `target` in fleet.yaml, committed.
fn set_targets(out: &Output, targets: &[(String, &str, String, &str)]) {
    edit_fleet_file(out, "Trusts' targets", |fleet| {
        for (ods, tenant, subscription, credential) in targets {
            fleet["trusts"][ods.as_str()]["target"] = serde_yaml::from_str(&format!(
                "{{tenant_id: {tenant}, subscription_id: {subscription}, credential: {credential}}}"
            ))
            .unwrap();
        }
    });
}

/// The first `n` trusts of the fleet, in code order.
fn first_trusts(out: &Output, n: usize) -> Vec<String> {
    let fleet: serde_yaml::Value = serde_yaml::from_str(&out.read("fleet/fleet.yaml")).unwrap();
    fleet["trusts"]
        .as_mapping()
        .unwrap()
        .keys()
        .take(n)
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

/// The local cloud of the multi-tenant tests: a service principal in A, one in B, the fleet's own identity
/// in M; each subscription in its tenant; C's delegated to M.
fn three_tenant_cloud(subscriptions: &[(&str, String)]) -> trustprint::cloud::Config {
    let identity = |tenant: &str, client: &str, secret: &str| trustprint::cloud::Identity {
        tenant_id: tenant.into(),
        client_id: client.into(),
        client_secret: trustprint::arm::Secret::new(secret),
    };
    trustprint::cloud::Config {
        identities: vec![
            identity(TENANT_A, "sp-tenant-a", SECRET_A),
            identity(TENANT_B, "sp-tenant-b", SECRET_B),
            identity(TENANT_M, "fleet-ops", SECRET_M),
        ],
        subscription_tenants: subscriptions
            .iter()
            .map(|(tenant, sub)| format!("{sub}:{tenant}").parse().unwrap())
            .collect(),
        delegations: subscriptions
            .iter()
            .filter(|(tenant, _)| *tenant == TENANT_C)
            .map(|(_, sub)| format!("{sub}:{TENANT_M}").parse().unwrap())
            .collect(),
        ..Default::default()
    }
}

/// The credentials the fleet run gets from its environment: service principals A and B in the variables
/// fleet.yaml names, the fleet's own identity (for Lighthouse) in the usual AZURE_* ones.
fn with_credentials(test: Test) -> Test {
    test.env("TENANT_A_CLIENT_ID", "sp-tenant-a")
        .env("TENANT_A_CLIENT_SECRET", SECRET_A)
        .env("TENANT_B_CLIENT_ID", "sp-tenant-b")
        .env("TENANT_B_CLIENT_SECRET", SECRET_B)
        .env("AZURE_CLIENT_ID", "fleet-ops")
        .env("AZURE_CLIENT_SECRET", SECRET_M)
}

const SP_A: &str = "{service_principal: {client_id_env: TENANT_A_CLIENT_ID, client_secret_env: TENANT_A_CLIENT_SECRET}}";
const SP_B: &str = "{service_principal: {client_id_env: TENANT_B_CLIENT_ID, client_secret_env: TENANT_B_CLIENT_SECRET}}";
const LIGHTHOUSE_M: &str =
    "{lighthouse: {managing_tenant_id: dddddddd-4444-4444-8444-444444444444}}";

/// `secret` is in no output, no file of the test's folder and no blob or message of the fleet's history.
fn assert_nowhere(out: &Output, secret: &str) {
    assert!(!out.stdout.contains(secret), "stdout has the secret");
    assert!(!out.stderr.contains(secret), "stderr has the secret");
    for file in crate::harness::walk(out.dir.path()) {
        let bytes = std::fs::read(out.dir.path().join(&file)).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "{file} has the secret"
        );
    }
    let repo = git2::Repository::open(out.path("fleet")).unwrap();
    let mut walk = repo.revwalk().unwrap();
    walk.push_head().unwrap();
    for id in walk.flatten() {
        let commit = repo.find_commit(id).unwrap();
        assert!(!commit.message().unwrap_or_default().contains(secret));
        commit
            .tree()
            .unwrap()
            .walk(git2::TreeWalkMode::PreOrder, |_, entry| {
                if let Ok(blob) = entry.to_object(&repo).and_then(|o| o.peel_to_blob()) {
                    assert!(
                        !String::from_utf8_lossy(blob.content()).contains(secret),
                        "{} in commit {id} has the secret",
                        entry.name().unwrap_or_default()
                    );
                }
                git2::TreeWalkResult::Ok
            })
            .unwrap();
    }
}

#[test]
fn one_fleet_apply_spans_three_tenants_each_trust_acting_as_its_own_identity() {
    let out = deployable_north_west();
    let trusts = first_trusts(&out, 6);
    // Two trusts per tenant: A and B through their own service principals, C through Lighthouse from M.
    let plan: Vec<(String, &str, String, &str)> = trusts
        .iter()
        .enumerate()
        .map(|(n, ods)| {
            let (tenant, credential) = match n / 2 {
                0 => (TENANT_A, SP_A),
                1 => (TENANT_B, SP_B),
                _ => (TENANT_C, LIGHTHOUSE_M),
            };
            (ods.clone(), tenant, subscription_of(tenant, n), credential)
        })
        .collect();
    set_targets(&out, &plan);
    let subscriptions: Vec<(&str, String)> =
        plan.iter().map(|(_, t, s, _)| (*t, s.clone())).collect();
    let (rt, server) = crate::deploy::start_cloud(three_tenant_cloud(&subscriptions));

    let out = with_credentials(Test::in_dir(out.dir))
        .args([
            "fleet",
            "apply",
            "--fleet",
            "fleet",
            "--concurrency",
            "3",
            "--cloud-url",
            server.url(),
            "--trust",
        ])
        .arg(trusts.join(","))
        .stdout_has("6 trust(s): 0 no change (0 skipped by content hash), 6 applied, 0 failed")
        .run();
    // One token per identity for the whole run, each from its own tenant: A's and B's service principals,
    // and the fleet's identity in M for both of C's trusts. None from C itself: it never issued one.
    let issued: Vec<(String, u64)> = server.tokens_issued().into_iter().collect();
    rt.block_on(server.shutdown());
    assert_eq!(
        issued,
        vec![
            (TENANT_A.to_string(), 1),
            (TENANT_B.to_string(), 1),
            (TENANT_M.to_string(), 1)
        ]
    );
    for (ods, _, subscription, _) in &plan {
        let lock: serde_yaml::Value =
            serde_yaml::from_str(&out.read(&format!("fleet/trusts/{ods}/trustprint.lock")))
                .unwrap();
        assert_eq!(lock["deployment"]["succeeded"], true, "{ods}");
        assert_eq!(
            lock["deployment"]["target"]["subscriptionId"],
            subscription.as_str(),
            "{ods}"
        );
    }
    for secret in [SECRET_A, SECRET_B, SECRET_M] {
        assert_nowhere(&out, secret);
    }
}

#[test]
fn a_trust_with_an_unset_variable_or_the_wrong_tenant_fails_alone() {
    let out = deployable_north_west();
    let trusts = first_trusts(&out, 3);
    let (ok, unset, wrong) = (&trusts[0], &trusts[1], &trusts[2]);
    let sub_ok = subscription_of(TENANT_A, 0);
    let sub_unset = subscription_of(TENANT_B, 1);
    let sub_wrong = subscription_of(TENANT_A, 2);
    set_targets(
        &out,
        &[
            (ok.clone(), TENANT_A, sub_ok.clone(), SP_A),
            (unset.clone(), TENANT_B, sub_unset.clone(), SP_B),
            // fleet.yaml says tenant B, but the subscription belongs to A.
            (wrong.clone(), TENANT_B, sub_wrong.clone(), "{service_principal: {client_id_env: TENANT_B_CLIENT_ID, client_secret_env: TENANT_B_OTHER_SECRET}}"),
        ],
    );
    let (rt, server) = crate::deploy::start_cloud(three_tenant_cloud(&[
        (TENANT_A, sub_ok),
        (TENANT_B, sub_unset),
        (TENANT_A, sub_wrong.clone()),
    ]));
    let out = with_credentials(Test::in_dir(out.dir))
        .env("TENANT_B_CLIENT_SECRET", "")
        .env("TENANT_B_OTHER_SECRET", SECRET_B)
        .args(["fleet", "apply", "--fleet", "fleet", "--cloud-url", server.url(), "--trust"])
        .arg(trusts.join(","))
        .status(1)
        .stdout_has(&format!("{ok:<6} applied: "))
        .stdout_has(&format!(
            "{unset:<6} FAILED: trust {unset}: fleet.yaml trusts.{unset}.target.credential.service_principal.client_secret_env: \
             the environment variable TENANT_B_CLIENT_SECRET is not set or is empty; it must hold the client secret of the \
             service principal trustprint acts as in tenant {TENANT_B}\n"
        ))
        .stdout_has(&format!(
            "{wrong:<6} FAILED: trust {wrong}: reading subscription {sub_wrong} as service principal sp-tenant-b \
             of tenant {TENANT_B} (fleet.yaml trusts.{wrong}.target): GET "
        ))
        .stdout_has(&format!(
            "(HTTP 401 InvalidAuthenticationTokenTenant): The access token is from the wrong issuer \
             'https://sts.windows.net/{TENANT_B}/'. It must match the tenant 'https://sts.windows.net/{TENANT_A}/' \
             associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{TENANT_A}' \
             to get the token."
        ))
        .stdout_has("3 trust(s): 0 no change (0 skipped by content hash), 1 applied, 2 failed")
        .run();
    rt.block_on(server.shutdown());
    assert!(out
        .path(&format!("fleet/trusts/{ok}/trustprint.lock"))
        .exists());
    assert!(!out
        .path(&format!("fleet/trusts/{unset}/trustprint.lock"))
        .exists());
    for secret in [SECRET_A, SECRET_B, SECRET_M] {
        assert_nowhere(&out, secret);
    }
}

/// `cloud serve` started with the tenants' flags, its secrets in its environment; killed when dropped.
struct ServedCloud {
    child: std::process::Child,
    url: String,
}

impl ServedCloud {
    fn start(args: &[String], env: &[(&str, &str)]) -> ServedCloud {
        use std::io::BufRead;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_trustprint"));
        cmd.args([
            "cloud",
            "serve",
            "--in-memory",
            "--addr",
            "127.0.0.1:0",
            "--lro-ms",
            "0",
        ])
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let url = first
            .strip_prefix("trustprint local cloud listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_string();
        // Keep draining what it prints so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        ServedCloud { child, url }
    }
}

impl Drop for ServedCloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn cloud_serve_takes_tenants_identities_and_delegations_from_its_flags() {
    let out = deployable_north_west();
    let trusts = first_trusts(&out, 2);
    let sub_a = subscription_of(TENANT_A, 0);
    let sub_c = subscription_of(TENANT_C, 1);
    set_targets(
        &out,
        &[
            (trusts[0].clone(), TENANT_A, sub_a.clone(), SP_A),
            (trusts[1].clone(), TENANT_C, sub_c.clone(), LIGHTHOUSE_M),
        ],
    );
    let cloud = ServedCloud::start(
        &[
            "--identity".into(),
            format!("{TENANT_A}:sp-tenant-a:env:SERVE_SECRET_A"),
            "--identity".into(),
            format!("{TENANT_M}:fleet-ops:env:SERVE_SECRET_M"),
            "--subscription-tenant".into(),
            format!("{sub_a}:{TENANT_A}"),
            "--subscription-tenant".into(),
            format!("{sub_c}:{TENANT_C}"),
            "--delegation".into(),
            format!("{sub_c}:{TENANT_M}"),
        ],
        &[("SERVE_SECRET_A", SECRET_A), ("SERVE_SECRET_M", SECRET_M)],
    );
    let out = with_credentials(Test::in_dir(out.dir))
        .args([
            "fleet",
            "apply",
            "--fleet",
            "fleet",
            "--cloud-url",
            &cloud.url,
            "--trust",
        ])
        .arg(trusts.join(","))
        .stdout_has("2 trust(s): 0 no change (0 skipped by content hash), 2 applied, 0 failed")
        .run();
    // Without the delegation, M's token is refused on C's subscription.
    let refused = ServedCloud::start(
        &[
            "--identity".into(),
            format!("{TENANT_M}:fleet-ops:env:SERVE_SECRET_M"),
            "--subscription-tenant".into(),
            format!("{sub_c}:{TENANT_C}"),
        ],
        &[("SERVE_SECRET_M", SECRET_M)],
    );
    with_credentials(Test::in_dir(out.dir))
        .args(["fleet", "plan", "--fleet", "fleet", "--cloud-url", &refused.url, "--refresh", "--trust", &trusts[1]])
        .status(1)
        .stdout_has(&format!(
            "as service principal fleet-ops of tenant {TENANT_M} (fleet.yaml trusts.{}.target)",
            trusts[1]
        ))
        .stdout_has(&format!(
            "InvalidAuthenticationTokenTenant): The access token is from the wrong issuer 'https://sts.windows.net/{TENANT_M}/'. \
             It must match the tenant 'https://sts.windows.net/{TENANT_C}/' associated with this subscription."
        ))
        .run();
}

/// Issue 15 point 5 for the fleet: `fleet report --target local` shows, for each applied trust, each group's
/// state after deployment as the local cloud's PolicyInsights reports it; a trust never applied says so.
#[test]
fn the_report_with_a_target_shows_each_applied_trusts_groups_after_deployment() {
    let out = deployable_north_west();
    let out = Test::in_dir(out.dir)
        .args(["fleet", "apply", "--fleet", "fleet", "--trust", "RBT"])
        .run();
    let out = Test::in_dir(out.dir)
        .args([
            "fleet", "report", "--fleet", "fleet", "--html", "report", "--target", "local",
            "--output", "json",
        ])
        .run();
    let json = out.json();
    let row = |ods: &str| {
        json["report"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["ods"] == ods)
            .unwrap_or_else(|| panic!("no row {ods}"))
            .clone()
    };
    let policy = |row: &serde_json::Value, initiative: &str| {
        row["policy"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["initiative"] == initiative)
            .unwrap()["after_deployment"]
            .clone()
    };
    let uk = "3937f550-eedd-4639-9c5e-294358be442e";
    let rbt = policy(&row("RBT"), uk);
    assert_eq!(rbt["status"], "evaluated", "{rbt}");
    let sub = trustprint::deploy::target::local_subscription("RBT");
    let cloud =
        crate::evidence::local_cloud_group_policies(&out.path(".trustprint/cloud"), &sub, uk);
    let groups = rbt["groups"].as_object().unwrap();
    assert_eq!(groups.len(), 23);
    for (name, state) in groups {
        let counts = cloud.get(name);
        let n = |s: &str| counts.and_then(|c| c.get(s)).copied().unwrap_or(0);
        let expected = if n("NonCompliant") > 0 {
            "non-compliant"
        } else if n("Compliant") + n("Protected") + n("Exempt") > 0 {
            "compliant"
        } else if n("Unknown") > 0 {
            "not-evaluable"
        } else {
            "not-applicable"
        };
        assert_eq!(state, expected, "{name}: {counts:?}");
    }
    assert!(groups.values().any(|s| s == "non-compliant"), "{rbt}");
    assert_eq!(
        policy(&row("RBT"), "6d220abf-cf6f-4b17-8f7e-0644c4cc84b4")["status"],
        "not-evaluated"
    );
    let rbv = policy(&row("RBV"), uk);
    assert_eq!(rbv["status"], "not-deployed", "{rbv}");
    let html = out.read("report/index.html");
    assert!(
        html.contains(
            "<tr class=\"after\" data-ods=\"RBT\" data-status=\"evaluated\"><td>RBT after</td>"
        ),
        "{html}"
    );
    assert!(html.contains("<tr class=\"after\" data-ods=\"RBV\" data-status=\"not-deployed\">"));
}
