//! The rough edges a new user meets first (issue #14, point 5), through the real binary: a local cloud
//! serving TLS with its own CA, no Azure credential at all, a fleet whose shared defaults are still empty,
//! and an address plan for every open trust in England.

use crate::harness::{head, Output, Test};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// The deploy-cases blueprint's values (its one secret in `TP_TEST_ADMIN_PASSWORD`).
const VALUES: &str = "trust:\n  name: ROYAL BERKSHIRE NHS FOUNDATION TRUST\n  ods_code: RHW\nadmin:\n  password: {env: TP_TEST_ADMIN_PASSWORD}\n";

/// A plan of the deploy-cases trust in `dir`.
fn plan(dir: tempfile::TempDir) -> Test {
    Test::in_dir(dir)
        .env("TP_TEST_ADMIN_PASSWORD", "correct-horse-battery-staple")
        .blueprint("deploy-cases")
        .args(["plan", "--values", "values.yaml"])
}

/// `trustprint cloud serve --tls` as a child process, its state (and CA) in `<dir>/cloud`; killed when
/// dropped. Keeps what it printed up to the "trust it" line.
struct TlsCloud {
    child: std::process::Child,
    url: String,
    printed: Vec<String>,
}

impl TlsCloud {
    fn start(dir: &Path) -> TlsCloud {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trustprint"))
            .args([
                "cloud",
                "serve",
                "--tls",
                "--addr",
                "127.0.0.1:0",
                "--state",
                "cloud",
                "--lro-ms",
                "0",
            ])
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            let done = line.starts_with("  trust it:");
            printed.push(line);
            if done {
                break;
            }
        }
        let url = printed
            .first()
            .and_then(|l| l.strip_prefix("trustprint local cloud listening on "))
            .unwrap_or_else(|| panic!("unexpected output: {printed:?}"))
            .to_string();
        // Keep draining what it prints so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        TlsCloud {
            child,
            url,
            printed,
        }
    }
}

impl Drop for TlsCloud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_tls_local_cloud_is_trusted_with_the_flag_cloud_serve_prints_and_refused_at_once_without_it() {
    let test = Test::new().write("values.yaml", VALUES);
    let cloud = TlsCloud::start(test.path());
    assert!(cloud.url.starts_with("https://127.0.0.1:"), "{}", cloud.url);
    let ca: PathBuf = std::fs::canonicalize(test.path().join("cloud/ca.pem")).unwrap();
    // `cloud serve` prints the exact flags, with the CA's absolute path.
    let flags = format!("--cloud-url {} --cloud-ca {}", cloud.url, ca.display());
    assert!(
        cloud.printed.contains(&format!("  trust it:      {flags}")),
        "{:?}",
        cloud.printed
    );

    // Without the CA: refused on the first attempt (never "still failing after N attempts"), saying what
    // to pass.
    let out = plan(test.into_dir())
        .args(["--cloud-url", &cloud.url])
        .status(4)
        .stderr_has(&format!(
            "the TLS certificate of {} could not be verified, so nothing was sent: if it is a local cloud \
             started with `trustprint cloud serve --tls`, trust the CA it wrote: pass --cloud-ca \
             <state>/ca.pem",
            cloud.url
        ))
        .stderr_has("certificate verify failed")
        .stderr_lacks("attempt(s)")
        .run();

    // The flags as printed.
    let out = plan(out.dir)
        .args(flags.split(' '))
        .stdout_has("Plan: 4 to create")
        .run();
    // The environment variable instead of the flag.
    let out = plan(out.dir)
        .args(["--cloud-url", &cloud.url])
        .env("TRUSTPRINT_CLOUD_CA", &ca.display().to_string())
        .stdout_has("Plan: 4 to create")
        .run();

    // Another CA (a second cloud's) is refused at once, naming the file given.
    let other = tempfile::tempdir().unwrap();
    drop(TlsCloud::start(other.path()));
    let wrong = other.path().join("cloud/ca.pem");
    let out = plan(out.dir)
        .args(["--cloud-url", &cloud.url, "--cloud-ca"])
        .arg(&wrong)
        .status(4)
        .stderr_has(&format!(
            "{} (--cloud-ca or TRUSTPRINT_CLOUD_CA) is not the CA that signed it",
            wrong.display()
        ))
        .stderr_lacks("attempt(s)")
        .run();
    // A file that is no certificate fails before anything is sent, naming the flag and the file.
    plan(out.dir)
        .args(["--cloud-url", &cloud.url, "--cloud-ca", "values.yaml"])
        .status(4)
        .stderr_has("--cloud-ca values.yaml: values.yaml holds no PEM certificate")
        .run();
}

#[test]
fn with_a_subscription_and_no_credential_every_credential_tried_is_listed_and_the_local_target_offered(
) {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/blueprints/exemplar-epr/examples/royal-berkshire-rhw.yaml"
    ))
    .unwrap()
    .replace(
        "azure:\n  location: uksouth\n",
        "azure:\n  location: uksouth\n  subscription_id: 3f2c9a71-5b0e-4c8d-9a6f-1e2d3c4b5a69\n",
    );
    assert!(example.contains("subscription_id"));
    let mut test = Test::new()
        .write("rhw.yaml", &example)
        .args(["stamp", "--values", "rhw.yaml", "--fleet", "fleet"]);
    for secret in [
        "VM_ADMIN",
        "AD_JOIN",
        "SQL_ADMIN",
        "SQL_CLUSTER",
        "SQL_SERVICE",
    ] {
        test = test.env(&format!("TP_RHW_{secret}_PASSWORD"), "Xx1-example-secret-9");
    }
    let mut cmd = test.command();
    // No credential of any kind in the environment.
    for (k, _) in std::env::vars() {
        if k.starts_with("AZURE_") || k == "IDENTITY_ENDPOINT" || k == "MSI_ENDPOINT" {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    for line in [
        "no Azure credential could get a token; tried, in order:\n",
        "\n  - workload identity (federated token): AZURE_FEDERATED_TOKEN_FILE is not set",
        "\n  - service principal (client secret): AZURE_CLIENT_SECRET is not set",
        "\n  - managed identity: neither IDENTITY_ENDPOINT nor MSI_ENDPOINT is set",
        "\n  - Azure CLI: ",
        "or rehearse without Azure: --target local deploys to the local cloud",
    ] {
        assert!(stderr.contains(line), "{line:?} not in:\n{stderr}");
    }
    // Nothing was recorded for a stamp that reached no cloud.
    assert!(!test
        .path()
        .join("fleet/trusts/RHW/trustprint.lock")
        .exists());
}

/// `fleet init` and `fleet import` of the North West's 30 open trusts, the fleet in `fleet/`.
fn north_west() -> Output {
    let out = Test::new()
        .args(["fleet", "init", "fleet"])
        .stdout_has("fleet.yaml lists the 15 shared value(s) every trust needs as comments under `defaults:`")
        .run();
    Test::in_dir(out.dir)
        .args([
            "fleet", "import", "--fleet", "fleet", "--ods", "bundled", "--region", "Y62",
        ])
        .stdout_has("30 added")
        .stdout_has(
            "next: fill in the 15 shared value(s) every trust needs under `defaults:` in fleet/fleet.yaml \
             (listed there as comments: access.admin_group_object_id, access.epr_supplier_group_object_id, \
             contacts.it_email,",
        )
        .stdout_has("then `trustprint fleet plan --fleet fleet`")
        .run()
}

#[test]
fn a_fleet_without_its_shared_defaults_fails_once_naming_them_before_any_trust_starts() {
    let out = north_west();
    let text = out.read("fleet/fleet.yaml");
    // `fleet init` wrote the commented block; the import kept it.
    assert!(
        text.contains(
            "# defaults:\n#   access:\n#     admin_group_object_id:   # uuid, e.g. \
             \"0b6f3c2e-7d41-4a5e-9c18-2f7e4d6a1b93\": Object id of the trust's own Entra ID group of Azure \
             administrators; made Owner of the subscription\n"
        ),
        "{text}"
    );
    assert!(text.contains("#   sql:\n"), "{text}");
    let out = Test::in_dir(out.dir)
        .args([
            "fleet", "import", "--fleet", "fleet", "--ods", "bundled", "--region", "Y62",
            "--output", "json",
        ])
        .run();
    let missing = out.json()["missing_defaults"].clone();
    assert_eq!(missing.as_array().map(Vec::len), Some(15), "{missing}");
    assert_eq!(missing[0], "access.admin_group_object_id");
    let before = head(&out.path("fleet"));

    let out = Test::in_dir(out.dir)
        .args(["fleet", "apply", "--fleet", "fleet"])
        .status(4)
        .stderr_has(
            "fleet.yaml: defaults: 15 required value(s) are missing for all 30 selected trust(s): neither \
             `defaults:` in fleet/fleet.yaml nor any trust's own trusts/<ODS>/values.yaml gives them:\n  \
             - access.admin_group_object_id: uuid",
        )
        .stderr_has("No trust was started.")
        .run();
    // Once, not once per trust; and no trust ran.
    assert_eq!(
        out.stderr.matches("contacts.it_email").count(),
        1,
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("FAILED"), "{}", out.stdout);
    assert!(!out.path("fleet/trusts").exists());
    assert_eq!(head(&out.path("fleet")), before);
}

/// Commit fleet.yaml edited as YAML (a person editing the file).
fn edit_fleet_file(out: &Output, edit: impl FnOnce(&mut serde_yaml::Value)) {
    let mut fleet: serde_yaml::Value = serde_yaml::from_str(&out.read("fleet/fleet.yaml")).unwrap();
    edit(&mut fleet);
    std::fs::write(
        out.path("fleet/fleet.yaml"),
        serde_yaml::to_string(&fleet).unwrap(),
    )
    .unwrap();
    let repo = git2::Repository::open(out.path("fleet")).unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new("fleet.yaml")).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let parent = repo.head().unwrap().peel_to_commit().unwrap();
    let sig = git2::Signature::now("test", "test@localhost").unwrap();
    repo.commit(
        Some("HEAD"),
        &sig,
        &sig,
        "Edit the pools",
        &tree,
        &[&parent],
    )
    .unwrap();
}

#[test]
fn the_default_address_plan_holds_every_open_trust_in_england() {
    let out = Test::new().args(["fleet", "init", "fleet"]).run();
    let out = Test::in_dir(out.dir)
        .args(["fleet", "import", "--fleet", "fleet", "--ods", "bundled"])
        .stdout_has("199 added")
        .stdout_has("199 address space(s) allocated")
        .run();
    let out = Test::in_dir(out.dir)
        .args(["fleet", "list", "--fleet", "fleet", "--output", "json"])
        .run();
    let trusts = out.json()["trusts"].as_array().unwrap().clone();
    assert_eq!(trusts.len(), 199);
    // Each at its tier's size: the default tier, medium, is a /17.
    assert!(trusts
        .iter()
        .all(|t| t["address_space"].as_str().unwrap().ends_with("/17")));
}

#[test]
fn an_import_that_does_not_fit_says_how_much_it_needs_and_proposes_the_pool_to_add() {
    let out = Test::new().args(["fleet", "init", "fleet"]).run();
    // Room for 16 medium trusts (/17) where the North West has 30.
    edit_fleet_file(&out, |f| {
        f["addressing"]["pools"] = serde_yaml::from_str("[10.64.0.0/13]").unwrap();
    });
    let before = head(&out.path("fleet"));
    let out = Test::in_dir(out.dir)
        .args([
            "fleet", "import", "--fleet", "fleet", "--ods", "bundled", "--region", "Y62",
        ])
        .status(4)
        .stderr_has(
            "fleet.yaml: addressing.pools: no room in the address pools (10.64.0.0/13) for 14 trust(s) at \
             their tiers' sizes (",
        )
        .stderr_has(
            "they need 14 x /17, 458,752 addresses in all; add a pool that holds them to the end of \
             addressing.pools in fleet.yaml, such as 10.72.0.0/13 (free and large enough: 524,288 \
             addresses), then run again",
        )
        .run();
    assert_eq!(head(&out.path("fleet")), before, "nothing committed");
    // The proposed pool added, the import fits.
    edit_fleet_file(&out, |f| {
        f["addressing"]["pools"] = serde_yaml::from_str("[10.64.0.0/13, 10.72.0.0/13]").unwrap();
    });
    Test::in_dir(out.dir)
        .args([
            "fleet", "import", "--fleet", "fleet", "--ods", "bundled", "--region", "Y62",
        ])
        .stdout_has("30 added")
        .stdout_has("30 address space(s) allocated")
        .run();
}
