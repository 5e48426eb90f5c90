//! `trustprint dataset`: generation through the real binary (determinism, NHS numbers, the synthetic tag,
//! FHIR R4 shape), bad input, and load + verify against Azurite (the storage emulator `.ci/run` installs
//! into `.ci/node`), including a load interrupted part-way and resumed.

use crate::harness::{Output, Test};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TYPES: [&str; 5] = [
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "MedicationRequest",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn gen_cmd(t: Test, patients: &str, seed: &str, trust: &str, out: &str) -> Test {
    t.args([
        "dataset",
        "generate",
        "--patients",
        patients,
        "--seed",
        seed,
    ])
    .args(["--trust", trust, "--out", out])
}

fn generate(t: Test, patients: &str, seed: &str, trust: &str, out: &str) -> Output {
    gen_cmd(t, patients, seed, trust, out).run()
}

/// Every file of a dataset folder, by name.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn records(dir: &Path, resource_type: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join(format!("{resource_type}.ndjson")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{resource_type}: {e}: {l}")))
        .collect()
}

/// Modulus 11 as the NHS Data Dictionary defines it, written out again here rather than borrowed from the
/// generator.
fn nhs_number_is_valid(n: &str) -> bool {
    let d: Vec<u32> = n.chars().filter_map(|c| c.to_digit(10)).collect();
    if d.len() != 10 || n.len() != 10 {
        return false;
    }
    let sum: u32 = d[..9]
        .iter()
        .enumerate()
        .map(|(i, x)| x * (10 - i as u32))
        .sum();
    let check = 11 - sum % 11;
    let check = if check == 11 { 0 } else { check };
    check != 10 && check == d[9]
}

#[test]
fn the_same_seed_gives_identical_bytes_and_another_seed_does_not() {
    let a = generate(Test::new(), "700", "11", "RM3", "a");
    let b = generate(Test::in_dir(a.dir), "700", "11", "RM3", "b");
    // One thread instead of one per core: batches are generated in a different interleaving.
    let one = Test::in_dir(b.dir)
        .args(["dataset", "generate", "--patients", "700", "--seed", "11"])
        .args(["--trust", "RM3", "--out", "one", "--threads", "1"])
        .run();
    let c = generate(Test::in_dir(one.dir), "700", "12", "RM3", "c");
    let (fa, fb, f1, fc) = (
        files(&c.path("a")),
        files(&c.path("b")),
        files(&c.path("one")),
        files(&c.path("c")),
    );
    let mut names: Vec<_> = TYPES.iter().map(|t| format!("{t}.ndjson")).collect();
    names.push("manifest.json".into());
    names.sort();
    assert_eq!(fa.keys().cloned().collect::<Vec<_>>(), names);
    assert!(fa == fb, "two runs with seed 11 differ");
    assert!(fa == f1, "one thread and many differ");
    for t in TYPES {
        let f = format!("{t}.ndjson");
        assert_ne!(fa[&f], fc[&f], "{f} is the same for seeds 11 and 12");
    }
}

#[test]
fn records_are_tagged_synthetic_with_test_nhs_numbers_in_the_trusts_district() {
    let out = gen_cmd(Test::new(), "400", "3", "RY6", "ds")
        .stdout_has("400 fictional patient(s) of LEEDS COMMUNITY HEALTHCARE NHS TRUST (RY6, community trust, LS11) with seed 3 in ds")
        .run();
    let dir = out.path("ds");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["patients"], 400);
    assert_eq!(manifest["seed"], 3);
    for (i, t) in TYPES.iter().enumerate() {
        let recs = records(&dir, t);
        let entry = &manifest["files"][i];
        assert_eq!(entry["resourceType"], *t);
        assert_eq!(
            entry["count"],
            recs.len() as u64,
            "{t} count in the manifest"
        );
        let bytes = std::fs::read(dir.join(format!("{t}.ndjson"))).unwrap();
        use sha2::Digest;
        assert_eq!(entry["sha256"], hex::encode(sha2::Sha256::digest(&bytes)));
        assert!(!recs.is_empty(), "no {t}");
        for r in &recs {
            assert_eq!(r["resourceType"], *t);
            let tags = r["meta"]["tag"].as_array().unwrap();
            assert!(
                tags.iter().any(|g| g["system"]
                    == "http://terminology.hl7.org/CodeSystem/v3-ActReason"
                    && g["code"] == "HTEST"),
                "{t} {} has no synthetic tag",
                r["id"]
            );
        }
    }
    let patients = records(&dir, "Patient");
    assert_eq!(patients.len(), 400);
    let mut numbers = std::collections::HashSet::new();
    for p in &patients {
        let id = &p["identifier"][0];
        assert_eq!(id["system"], "https://fhir.nhs.uk/Id/nhs-number");
        let n = id["value"].as_str().unwrap();
        assert!(n.starts_with("999") && nhs_number_is_valid(n), "{n}");
        numbers.insert(n.to_owned());
        assert!(p["address"][0]["postalCode"]
            .as_str()
            .unwrap()
            .starts_with("LS11 "));
        assert_eq!(p["managingOrganization"]["identifier"]["value"], "RY6");
        assert!(p["generalPractitioner"][0]["identifier"]["value"].is_string());
    }
    assert_eq!(numbers.len(), 400, "every patient has their own NHS number");
    // A community trust: home visits, no emergency department.
    let classes: Vec<String> = records(&dir, "Encounter")
        .iter()
        .map(|e| e["class"]["code"].as_str().unwrap().to_owned())
        .collect();
    assert!(classes.iter().any(|c| c == "HH"));
    assert!(!classes.iter().any(|c| c == "EMER"));
}

#[test]
fn the_kind_read_from_the_name_can_be_overridden() {
    // North London NHS Foundation Trust is a mental health trust whose name does not say so.
    gen_cmd(Test::new(), "3", "1", "G6V2S", "ds")
        .stdout_has("(G6V2S, acute trust, NW1)")
        .run();
    gen_cmd(Test::new(), "3", "1", "G6V2S", "ds")
        .args(["--kind", "community"])
        .stdout_has("(G6V2S, community trust, NW1)")
        .run();
}

#[test]
fn every_resource_type_has_the_fhir_r4_required_fields_and_datatypes() {
    let schema: Value = serde_json::from_slice(
        &std::fs::read(root().join("tests/fixtures/fhir/r4-required.schema.json")).unwrap(),
    )
    .unwrap();
    let out = generate(Test::new(), "150", "9", "RM3", "ds");
    for t in TYPES {
        let mut s = schema.clone();
        s["$ref"] = Value::String(format!("#/$defs/{t}"));
        let validator = jsonschema::validator_for(&s).unwrap();
        for r in records(&out.path("ds"), t) {
            let errors: Vec<String> = validator
                .iter_errors(&r)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{t} {}:\n{}", r["id"], errors.join("\n"));
        }
        // The schema is not vacuous: the record without a required element fails.
        let required = s["$defs"][t]["required"].as_array().unwrap().clone();
        let mut broken = records(&out.path("ds"), t).remove(0);
        let last = required.last().unwrap().as_str().unwrap();
        broken.as_object_mut().unwrap().remove(last);
        assert!(!validator.is_valid(&broken), "{t} without {last} passes");
    }
}

#[test]
fn bad_input_is_refused_with_what_was_expected() {
    Test::new()
        .args([
            "dataset",
            "generate",
            "--patients",
            "10",
            "--trust",
            "RZZ",
            "--out",
            "ds",
        ])
        .status(4)
        .stderr("error: trust RZZ: no trust has this code in the ODS extract (data/nhs/etr.csv)\n")
        .run();
    Test::new()
        .args(["dataset", "generate", "--patients", "0", "--out", "ds"])
        .status(4)
        .stderr("error: --patients: must be at least 1\n")
        .run();
    let t = Test::new().write("taken", "a file, not a folder");
    let out = t
        .args([
            "dataset",
            "generate",
            "--patients",
            "5",
            "--out",
            "taken/ds",
        ])
        .status(1)
        .stderr_has("error: output folder taken/ds: cannot be created: ")
        .run();
    assert!(!out.path("taken/ds").exists());
    Test::new()
        .write("taken", "a file")
        .args(["dataset", "generate", "--patients", "5", "--out", "taken"])
        .status(1)
        .stderr("error: output folder taken: exists and is not a folder\n")
        .run();
}

// ---- load and verify against Azurite ----

/// The exemplar's Royal Berkshire example (deployable to the local cloud); the tests turn staging storage on
/// with `--set`.
const STAGING_ON: &str = "staging.enabled=true";

fn rhw_values() -> PathBuf {
    root().join("blueprints/exemplar-epr/examples/royal-berkshire-rhw.yaml")
}

/// Azurite's blob service on a free port, stopped when dropped.
struct Azurite {
    child: Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Azurite {
    /// Start Azurite on `port` knowing `accounts` (`name:key;...`, Azurite's AZURITE_ACCOUNTS).
    fn start(port: u16, accounts: &str) -> Azurite {
        let bin = root().join(".ci/node/node_modules/.bin/azurite-blob");
        assert!(
            bin.exists(),
            "Azurite is not installed at {}: run .ci/run, which installs the pinned version into .ci/node",
            bin.display()
        );
        let data = tempfile::tempdir().unwrap();
        let child = Command::new(&bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(data.path())
            .args(["--silent", "--skipApiVersionCheck"])
            .env("AZURITE_ACCOUNTS", accounts)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let azurite = Azurite {
            child,
            port,
            _data: data,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Azurite did not listen on {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        azurite
    }
}

/// Apply the Royal Berkshire example to the embedded local cloud with its storage accounts pointing at an
/// Azurite on a free port, then start that Azurite with the staging account's key as the local cloud
/// hands it out. Returns the test folder (with the local cloud's state) and Azurite.
fn deployed_with_azurite() -> (tempfile::TempDir, Azurite) {
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = Test::new()
        .env(trustprint::cloud::BLOB_ENDPOINT_ENV, &endpoint)
        .arg("apply")
        .arg("--values")
        .arg(rhw_values())
        .args(["--set", STAGING_ON, "--target", "local", "--yes"])
        .stdout_has("✓ staging: Succeeded")
        .run();
    let sub = trustprint::deploy::target::local_subscription("RHW");
    let id = format!(
        "/subscriptions/{sub}/resourceGroups/rg-rhw-uks-staging/providers/Microsoft.Storage/storageAccounts/strhwuksstaging"
    );
    let key = trustprint::cloud::storage_account_key(&id, "key1");
    let azurite = Azurite::start(port, &format!("strhwuksstaging:{key}"));
    (out.dir, azurite)
}

fn dataset_cmd(dir: tempfile::TempDir, args: &[&str]) -> Test {
    Test::in_dir(dir)
        .arg("dataset")
        .arg(args[0])
        .arg("--values")
        .arg(rhw_values())
        .args(["--set", STAGING_ON, "--target", "local"])
        .args(args[1..].iter().copied())
}

#[test]
fn a_loaded_dataset_verifies_in_azurite_and_a_reload_skips_every_file() {
    let (dir, azurite) = deployed_with_azurite();
    let out = dataset_cmd(dir, &["verify"])
        .status(1)
        .stderr(
            "error: staging storage does not match the dataset manifest:\n  - synthetic/manifest.json: not in \
             container fhir-staging of strhwuksstaging: no dataset has been loaded (or its load did not finish)\n",
        )
        .run();
    let out = generate(Test::in_dir(out.dir), "250", "4", "RHW", "ds");
    let out = dataset_cmd(
        out.dir,
        &["load", "--from", "ds", "--block-size-kib", "128"],
    )
    .stdout_has(&format!(
        "loaded ds into strhwuksstaging/fhir-staging (http://127.0.0.1:{}/strhwuksstaging)",
        azurite.port
    ))
    .stdout_has("uploaded, 0 resumed")
    .run();
    let out = dataset_cmd(out.dir, &["verify", "--from", "ds"])
        .stdout_has("strhwuksstaging/fhir-staging holds the dataset of 250 patient(s) (seed 4, RHW): every count and checksum matches")
        .run();
    let report = dataset_cmd(out.dir, &["load", "--from", "ds", "--output", "json"]).run();
    let json = report.json();
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 5);
    assert!(files.iter().all(|f| f["skipped"] == true), "{json}");
    // A different dataset's manifest does not verify against what storage holds.
    let other = generate(Test::in_dir(report.dir), "250", "5", "RHW", "other");
    dataset_cmd(other.dir, &["verify", "--from", "other"])
        .status(1)
        .stderr_has("  - synthetic/manifest.json: differs from the local manifest (seed 4 / 250 patients in storage, seed 5 / 250 patients locally)")
        .run();
    drop(azurite);
}

#[test]
fn an_interrupted_load_resumes_from_its_uncommitted_blocks() {
    let (dir, azurite) = deployed_with_azurite();
    let out = generate(Test::in_dir(dir), "300", "8", "RHW", "ds");
    // 64 KiB blocks, one at a time: stop three blocks into the third file (Condition), so the first two are
    // committed and the third has three uncommitted blocks.
    let manifest: Value = serde_json::from_str(&out.read("ds/manifest.json")).unwrap();
    let blocks = |i: usize| {
        manifest["files"][i]["bytes"]
            .as_u64()
            .unwrap()
            .div_ceil(64 * 1024)
    };
    let stop = blocks(0) + blocks(1) + 3;
    let out = dataset_cmd(
        out.dir,
        &[
            "load",
            "--from",
            "ds",
            "--block-size-kib",
            "64",
            "--parallel",
            "1",
            "--stop-after-blocks",
            &stop.to_string(),
        ],
    )
    .status(1)
    .stderr_has("(--stop-after-blocks)")
    .run();
    let out = dataset_cmd(out.dir, &["verify"])
        .status(1)
        .stderr_has("no dataset has been loaded (or its load did not finish)")
        .run();
    let resumed = dataset_cmd(
        out.dir,
        &[
            "load",
            "--from",
            "ds",
            "--block-size-kib",
            "64",
            "--output",
            "json",
        ],
    )
    .run();
    let json = resumed.json();
    let files = json["files"].as_array().unwrap();
    let skipped = files.iter().filter(|f| f["skipped"] == true).count();
    let reused: u64 = files.iter().map(|f| f["resumed"].as_u64().unwrap()).sum();
    let uploaded: u64 = files.iter().map(|f| f["uploaded"].as_u64().unwrap()).sum();
    let committed_blocks: u64 = files
        .iter()
        .filter(|f| f["skipped"] == true)
        .map(|f| f["blocks"].as_u64().unwrap())
        .sum();
    assert_eq!(
        skipped, 2,
        "files committed before the stop are skipped: {json}"
    );
    assert_eq!(
        files[2]["resumed"], 3,
        "the third file's uncommitted blocks are reused: {json}"
    );
    assert_eq!(
        committed_blocks + reused,
        stop,
        "every block put before the stop is used: {json}"
    );
    assert!(uploaded > 0, "{json}");
    dataset_cmd(resumed.dir, &["verify", "--from", "ds"])
        .stdout_has("every count and checksum matches")
        .run();
    drop(azurite);
}

#[test]
fn load_needs_the_staging_storage_turned_on() {
    let out = generate(Test::new(), "5", "1", "RHW", "ds");
    Test::in_dir(out.dir)
        .args(["dataset", "load", "--values"])
        .arg(rhw_values())
        .args(["--target", "local", "--from", "ds"])
        .status(4)
        .stderr_has("error: staging storage: the blueprint renders no `staging` deployment for ROYAL BERKSHIRE NHS FOUNDATION TRUST (RHW): set `staging.enabled: true` in the values and apply")
        .run();
}

#[test]
fn load_before_apply_says_to_apply_first() {
    let out = generate(Test::new(), "5", "1", "RHW", "ds");
    let sub = trustprint::deploy::target::local_subscription("RHW");
    dataset_cmd(out.dir, &["load", "--from", "ds"])
        .status(1)
        .stderr(&format!(
            "error: staging storage: storage account strhwuksstaging does not exist in subscription {sub} \
             (local target): apply the trust first\n"
        ))
        .run();
}

#[test]
fn a_dataset_changed_since_generation_is_not_loaded() {
    let (dir, _azurite) = deployed_with_azurite();
    let out = generate(Test::in_dir(dir), "20", "1", "RHW", "ds");
    let path = out.path("ds/Condition.ndjson");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"resourceType\":\"Condition\"}\n");
    std::fs::write(&path, text).unwrap();
    dataset_cmd(out.dir, &["load", "--from", "ds"])
        .status(4)
        .stderr_has(
            "error: manifest ds/Condition.ndjson: the file differs from its manifest entry (",
        )
        .stderr_has("): regenerate the dataset\n")
        .run();
}
