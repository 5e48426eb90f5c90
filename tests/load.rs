//! Integration tests: load (blueprints and values through the library API).

use std::path::{Path, PathBuf};
use trustprint::blueprint::{self, SourceSpec};
use trustprint::values::{self, ValuesInput};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn minimal() -> blueprint::Blueprint {
    blueprint::open(&SourceSpec::Dir(fixtures().join("blueprints/minimal"))).expect("minimal opens")
}

#[test]
fn minimal_blueprint_and_values_load() {
    let bp = minimal();
    assert_eq!(bp.manifest.name, "minimal");
    let names: Vec<&str> = bp.templates.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        names,
        ["core/resource-groups.json.tera", "core/spoke.json.tera"]
    );
    let v = values::load(
        &bp.manifest,
        &ValuesInput {
            file: Some(fixtures().join("values/valid/minimal.yaml")),
            ..Default::default()
        },
    )
    .expect("valid values");
    println!(
        "{}",
        serde_json::to_string_pretty(&v.tree).unwrap_or_default()
    );
    assert_eq!(v.get("trust.ods_code"), Some(&serde_json::json!("RM3")));
}

#[test]
fn embedded_blueprint_opens() {
    let bp = blueprint::open(&SourceSpec::Embedded).expect("embedded opens");
    assert_eq!(bp.manifest.name, "exemplar-epr");
    assert_eq!(bp.source, "embedded:exemplar-epr");
    assert!(bp
        .templates
        .iter()
        .any(|(p, _)| p == &bp.manifest.deployments[0].template));
}

/// Open the minimal blueprint and load `file` (relative to the package root, as a user would name it).
fn load_file(file: &str) -> Result<values::Values, trustprint::Error> {
    values::load(
        &minimal().manifest,
        &ValuesInput {
            file: Some(PathBuf::from(file)),
            ..Default::default()
        },
    )
    .map_err(trustprint::Error::from)
}

/// The rendered diagnostics of a failed load (the exact text a user sees, without colour).
fn rendered(err: trustprint::Error) -> String {
    match err {
        trustprint::Error::Values { diagnostics, .. }
        | trustprint::Error::Manifest { diagnostics, .. } => {
            trustprint::diag::render(&diagnostics, false)
        }
        other => format!("{other}\n"),
    }
}

/// Every `tests/fixtures/values/invalid/<case>.yaml` fails against the minimal blueprint with exactly the
/// diagnostics in `<case>.expected`. `TRUSTPRINT_BLESS=1` writes the `.expected` files that are missing (review
/// them before committing).
#[test]
fn invalid_values_fixtures() {
    let dir = fixtures().join("values/invalid");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "found only {} cases", cases.len());
    let bless = std::env::var_os("TRUSTPRINT_BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases {
        let name = case
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let rel = format!("tests/fixtures/values/invalid/{name}.yaml");
        let got = match load_file(&rel) {
            Ok(_) => "(loaded without error)\n".to_string(),
            Err(e) => rendered(e),
        };
        let expected_path = case.with_extension("expected");
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == got => {}
            Ok(expected) => {
                failures.push(format!("{name}:\n--- expected\n{expected}--- got\n{got}"))
            }
            Err(_) if bless => std::fs::write(&expected_path, &got).expect("write .expected"),
            Err(_) => failures.push(format!("{name}: no .expected file; got\n{got}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn load_with(input: ValuesInput) -> Result<values::Values, trustprint::Error> {
    values::load(&minimal().manifest, &input).map_err(trustprint::Error::from)
}

fn required_only() -> ValuesInput {
    ValuesInput {
        text: None,
        overrides: vec![
            "trust.name=Northern Care Alliance NHS Foundation Trust".into(),
            "trust.ods_code=rm3".into(),
        ],
        ..Default::default()
    }
}

#[test]
fn defaults_fill_the_rest_and_values_are_normalised() {
    let v = load_with(required_only()).expect("valid");
    assert_eq!(v.file, "<defaults>");
    assert_eq!(
        v.tree,
        serde_json::json!({
            "trust": {"name": "Northern Care Alliance NHS Foundation Trust", "ods_code": "RM3", "contact": null},
            "azure": {"location": "uksouth", "tenant_id": null},
            "network": {"address_space": "10.20.0.0/16", "dns_servers": []},
            "tier": "medium",
            "budget": {"monthly_gbp": 5000, "alert_ratio": 0.8},
            "backup": {"enabled": true},
            "cost_centre": null,
            "extra_tags": {}
        })
    );
    assert!(v.secrets.is_empty());
    assert_eq!(v.trust().ods_code, "RM3");
}

#[test]
fn valid_values_file_loads_with_secrets_as_references() {
    let v = load_file("tests/fixtures/values/valid/minimal.yaml").expect("valid");
    assert_eq!(
        v.get("trust.name"),
        Some(&serde_json::json!("Salford Royal \"Test\" Trust"))
    );
    assert_eq!(
        v.get("azure.tenant_id"),
        Some(&serde_json::json!("0b5e4a7c-3f2d-4d1e-9a8b-7c6d5e4f3a2b"))
    );
    assert_eq!(v.get("sql.admin_password"), None);
    assert_eq!(
        v.secrets.get("sql.admin_password"),
        Some(&values::SecretRef::Env("SQL_ADMIN_PASSWORD".into()))
    );
    assert!(v
        .text
        .starts_with("# Values for tests/fixtures/blueprints/minimal\n"));
}

#[test]
fn key_vault_secret_reference() {
    let mut input = required_only();
    input.overrides.push(
        "sql.admin_password={keyVault: /subscriptions/0b5e4a7c-3f2d-4d1e-9a8b-7c6d5e4f3a2b/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/kv-rm3-uks-sec, secretName: sql-admin}".into(),
    );
    let v = load_with(input).expect("valid");
    assert_eq!(
        v.secrets.get("sql.admin_password"),
        Some(&values::SecretRef::KeyVault {
            vault_id: "/subscriptions/0b5e4a7c-3f2d-4d1e-9a8b-7c6d5e4f3a2b/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/kv-rm3-uks-sec".into(),
            secret_name: "sql-admin".into(),
            secret_version: None,
        })
    );
}

#[test]
fn layers_defaults_base_file_set() {
    let input = ValuesInput {
        file: Some("tests/fixtures/values/valid/minimal.yaml".into()),
        base: Some((
            "fleet.yaml".into(),
            serde_json::json!({"tier": "small", "budget": {"alert_ratio": 0.5}, "backup": {"enabled": false}}),
        )),
        text: None,
        overrides: vec![
            "backup.enabled=true".into(),
            "budget.monthly_gbp=200".into(),
        ],
    };
    let v = load_with(input).expect("valid");
    // The file's `tier: large` beats the fleet's `small`; the fleet's ratio beats the manifest's 0.8.
    assert_eq!(v.get("tier"), Some(&serde_json::json!("large")));
    assert_eq!(v.get("budget.alert_ratio"), Some(&serde_json::json!(0.5)));
    // --set beats the file (12000) and the fleet (false), and its value is YAML (an integer, a boolean).
    assert_eq!(v.get("budget.monthly_gbp"), Some(&serde_json::json!(200)));
    assert_eq!(v.get("backup.enabled"), Some(&serde_json::json!(true)));
}

#[test]
fn bad_set_arguments_are_reported_against_set() {
    let mut input = required_only();
    input.overrides.extend([
        "tier".to_string(),
        "tire=large".to_string(),
        "budget.monthly_gbp=lots".to_string(),
        "sql.admin_password=hunter2".to_string(),
    ]);
    let text = rendered(load_with(input).expect_err("invalid"));
    assert_eq!(
        text,
        r#"error: not of the form key=value
  --> --set:1:1
  |
1 | <redacted>
  | ^^^^^^^^^^ expected `--set key=value`, such as `--set tier=large`

error: unknown key `tire`
  --> --set:1:1
  |
1 | tire=large
  | ^^^^ expected one of the top-level keys `trust`, `azure`, `network`, `tier`, `budget`, `backup`, `cost_centre`, `extra_tags`, `sql`
  |
  = help: did you mean `tier`?

error: budget.monthly_gbp: "lots" is not an integer
  --> --set:1:20
  |
1 | budget.monthly_gbp=lots
  |                    ^^^^ expected an integer from 100 to 1000000

error: sql.admin_password: a secret cannot be written in a values file
  --> --set:1:20
  |
1 | sql.admin_password=<redacted>
  |                    ^^^^^^^^^^ expected a reference: `{ env: NAME }` (read from the environment at apply time) or `{ keyVault: <vault resource id>, secretName: NAME }`

"#
    );
    assert!(!text.contains("hunter2"));
}

#[test]
fn secret_literals_are_never_echoed() {
    let err = load_file("tests/fixtures/values/invalid/secret_literal.yaml").expect_err("invalid");
    assert!(!format!("{err}").contains("Sup3rS3cret"));
    let trustprint::Error::Values { diagnostics, .. } = err else {
        panic!("expected a values error");
    };
    for d in &diagnostics {
        assert!(!d.to_string().contains("Sup3rS3cret"), "{d}");
        assert!(!d.source_line.contains("Sup3rS3cret"), "{d:?}");
    }
}

#[test]
fn oversized_file_is_refused_before_parsing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.yaml");
    let mut text = String::from("trust:\n  name: x\n");
    while text.len() <= 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&path, &text).expect("write");
    // A file just over the limit, and a (sparse) 8 GiB one, which must not be read into memory.
    let huge = dir.path().join("huge.yaml");
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(8 << 30))
        .expect("sparse file");
    for (p, name) in [(&path, "big.yaml"), (&huge, "huge.yaml")] {
        let err = load_with(ValuesInput {
            file: Some(p.clone()),
            ..Default::default()
        })
        .expect_err("too big");
        assert_eq!(
            rendered(err).replace(&p.display().to_string(), name),
            format!("error: the file is larger than the 1 MiB limit\n = in {name}\n = expected a file under 1 MiB (values files and manifests are a few kilobytes)\n\n")
        );
    }
}

#[test]
fn missing_values_file_is_an_io_error_naming_it() {
    let err = load_file("tests/fixtures/values/no-such.yaml").expect_err("missing");
    assert!(matches!(err, trustprint::Error::Io { .. }));
    assert_eq!(
        err.to_string(),
        "tests/fixtures/values/no-such.yaml: No such file or directory (os error 2)"
    );
    assert_eq!(err.exit_code(), trustprint::ExitCode::Failure);
}

#[test]
fn values_errors_exit_with_invalid_input() {
    let err = load_file("tests/fixtures/values/invalid/enum.yaml").expect_err("invalid");
    assert_eq!(err.exit_code(), trustprint::ExitCode::InvalidInput);
    assert_eq!(
        err.to_string(),
        "tests/fixtures/values/invalid/enum.yaml: 1 problem(s) in values"
    );
}

#[test]
fn schema_describes_every_key() {
    let s = values::schema(&minimal().manifest);
    assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(s["required"], serde_json::json!(["trust"]));
    let trust = &s["properties"]["trust"];
    assert_eq!(trust["required"], serde_json::json!(["name", "ods_code"]));
    assert_eq!(trust["additionalProperties"], false);
    assert_eq!(trust["properties"]["name"]["minLength"], 3);
    assert_eq!(
        trust["properties"]["name"]["examples"],
        serde_json::json!(["Northern Care Alliance NHS Foundation Trust"])
    );
    assert_eq!(trust["properties"]["contact"]["format"], "email");
    assert_eq!(
        s["properties"]["azure"]["properties"]["tenant_id"]["format"],
        "uuid"
    );
    assert_eq!(
        s["properties"]["azure"]["properties"]["location"]["enum"],
        serde_json::json!(["uksouth", "ukwest"])
    );
    assert_eq!(
        s["properties"]["tier"]["enum"],
        serde_json::json!(["small", "medium", "large"])
    );
    assert_eq!(s["properties"]["tier"]["default"], "medium");
    assert_eq!(
        s["properties"]["budget"]["properties"]["monthly_gbp"]["type"],
        "integer"
    );
    assert_eq!(
        s["properties"]["budget"]["properties"]["monthly_gbp"]["minimum"],
        100.0
    );
    let cidr = &s["properties"]["network"]["properties"]["address_space"];
    assert_eq!(cidr["type"], "string");
    let re =
        regex::Regex::new(cidr["pattern"].as_str().unwrap_or_default()).expect("pattern compiles");
    assert!(
        re.is_match("10.20.0.0/16") && !re.is_match("10.20.0.0/33") && !re.is_match("10.20.0/16")
    );
    let dns = &s["properties"]["network"]["properties"]["dns_servers"];
    assert_eq!(dns["items"]["type"], "string");
    assert_eq!(dns["maxItems"], 4);
    let secret = &s["properties"]["sql"]["properties"]["admin_password"];
    assert_eq!(secret["oneOf"][0]["required"], serde_json::json!(["env"]));
    assert_eq!(
        secret["oneOf"][1]["required"],
        serde_json::json!(["keyVault", "secretName"])
    );
}

const GOOD_TEMPLATE: &str = "{ \"resources\": [] }\n";

/// A blueprint folder in a temporary directory: `<tmp>/bp/blueprint.yaml` and `<tmp>/bp/templates/...`.
fn temp_blueprint(manifest: &str, templates: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let bp = dir.path().join("bp");
    std::fs::create_dir_all(bp.join("templates")).expect("mkdir");
    std::fs::write(bp.join("blueprint.yaml"), manifest).expect("write manifest");
    for t in templates {
        let path = bp.join("templates").join(t);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, GOOD_TEMPLATE).expect("write template");
    }
    dir
}

/// Open a temp blueprint and return its rendered diagnostics with the temp path replaced by `<tmp>`.
fn open_err(dir: &tempfile::TempDir) -> String {
    let err =
        blueprint::open(&SourceSpec::Dir(dir.path().join("bp"))).expect_err("invalid blueprint");
    rendered(err.into()).replace(&dir.path().display().to_string(), "<tmp>")
}

const HEAD: &str = "apiVersion: trustprint/v1
name: t
version: 1.0.0
description: test
exemplar: {trust: Northern Care Alliance NHS Foundation Trust, odsCode: RM3}
";

#[test]
fn manifest_dependency_cycle_is_named() {
    let dir = temp_blueprint(
        &format!(
            "{HEAD}parameters: {{}}
deployments:
  - {{name: a, scope: subscription, template: a.json.tera, dependsOn: [c]}}
  - {{name: b, scope: subscription, template: a.json.tera, dependsOn: [a]}}
  - {{name: c, scope: subscription, template: a.json.tera, dependsOn: [b]}}
"
        ),
        &["a.json.tera"],
    );
    assert_eq!(
        open_err(&dir),
        "error: deployments depend on each other in a cycle: a -> c -> b -> a
  --> <tmp>/bp/blueprint.yaml:8:70
  |
8 |   - {name: a, scope: subscription, template: a.json.tera, dependsOn: [c]}
  |                                                                      ^ expected dependencies without cycles

"
    );
}

#[test]
fn manifest_template_paths_stay_inside() {
    let dir = temp_blueprint(
        &format!(
            "{HEAD}parameters: {{}}
deployments:
  - name: up
    scope: subscription
    template: ../x.json.tera
  - name: absolute
    scope: subscription
    template: /etc/passwd
  - name: missing
    scope: subscription
    template: core/spok.json.tera
"
        ),
        &["core/spoke.json.tera"],
    );
    assert_eq!(
        open_err(&dir),
        "error: template path `../x.json.tera` leaves the template roots (`..`)
   --> <tmp>/bp/blueprint.yaml:10:15
   |
10 |     template: ../x.json.tera
   |               ^^^^^^^^^^^^^^ expected a relative path under a template root, without `..`

error: template path `/etc/passwd` is absolute
   --> <tmp>/bp/blueprint.yaml:13:15
   |
13 |     template: /etc/passwd
   |               ^^^^^^^^^^^ expected a relative path under a template root, without `..`

error: template `core/spok.json.tera` does not exist under the template roots
   --> <tmp>/bp/blueprint.yaml:16:15
   |
16 |     template: core/spok.json.tera
   |               ^^^^^^^^^^^^^^^^^^^ expected a file under `templates`
   |
   = help: did you mean `core/spoke.json.tera`?

"
    );
}

#[cfg(unix)]
#[test]
fn manifest_template_symlink_out_of_the_source_is_refused() {
    let dir = temp_blueprint(
        &format!(
            "{HEAD}parameters: {{}}
deployments:
  - name: evil
    scope: subscription
    template: evil.json.tera
"
        ),
        &[],
    );
    let outside = dir.path().join("outside.json.tera");
    std::fs::write(&outside, GOOD_TEMPLATE).expect("write");
    std::os::unix::fs::symlink(&outside, dir.path().join("bp/templates/evil.json.tera"))
        .expect("symlink");
    // Inside the blueprint folder but outside the template roots: refused too, though no deployment names it.
    std::os::unix::fs::symlink(
        dir.path().join("bp/blueprint.yaml"),
        dir.path().join("bp/templates/manifest.json.tera"),
    )
    .expect("symlink");
    assert_eq!(
        open_err(&dir),
        "error: template `evil.json.tera` is a symlink leading outside the template roots
   --> <tmp>/bp/blueprint.yaml:10:15
   |
10 |     template: evil.json.tera
   |               ^^^^^^^^^^^^^^ expected a template file inside the template roots

error: `manifest.json.tera` under the template roots is a symlink leading outside them
 = in <tmp>/bp/blueprint.yaml
 = expected template files inside the template roots

"
    );
}

#[test]
fn manifest_template_root_outside_the_source_is_refused() {
    let dir = temp_blueprint(
        &format!(
            "{HEAD}templateRoots: [templates, ../../shared]
parameters: {{}}
deployments: []
"
        ),
        &[],
    );
    assert_eq!(
        open_err(&dir),
        "error: template root `../../shared` leads outside the blueprint's source
  --> <tmp>/bp/blueprint.yaml:6:28
  |
6 | templateRoots: [templates, ../../shared]
  |                            ^^^^^^^^^^^^ expected a folder inside the blueprint's source, relative to the blueprint folder

"
    );
}

#[test]
fn manifest_semantic_problems_are_reported_at_once() {
    let dir = temp_blueprint(
        "apiVersion: trustprint/v2
name: t
version: 1.0.0
description: test
exemplar: {trust: Northern Care Alliance NHS Foundation Trust, odsCode: RM3}
parameters:
  net:
    type: string
    description: a group and a value at once
  net.cidr:
    type: cidr
    description: an address space
    default: 10.0.0.1/16
  size:
    type: enum
    description: no choices
  admin_password:
    type: secret
    description: a secret with a default
    default: hunter2
deployments:
  - name: a
    scope: resourceGroup
    template: a.json.tera
  - name: a
    scope: subscription
    resourceGroup: rg-x
    template: a.json.tera
    dependsOn: [b]
    parameters:
      password: admin_pasword
waivers:
  - rule: TP-NET-001
    resource: '*'
    justification: ' '
",
        &["a.json.tera"],
    );
    assert_eq!(
        open_err(&dir),
        r#"error: apiVersion `trustprint/v2` is not supported
  --> <tmp>/bp/blueprint.yaml:1:13
  |
1 | apiVersion: trustprint/v2
  |             ^^^^^^^^^^^^^ expected `trustprint/v1`

error: parameter `net` is also the parent of `net.cidr`
  --> <tmp>/bp/blueprint.yaml:7:3
  |
7 |   net:
  |   ^^^ expected a key that is either a value or a group of keys, not both

error: net.cidr (default): "10.0.0.1/16" has host bits set (the network address is 10.0.0.0/16)
   --> <tmp>/bp/blueprint.yaml:13:14
   |
13 |     default: 10.0.0.1/16
   |              ^^^^^^^^^^^ expected an IPv4 prefix such as 10.20.0.0/16

error: enum parameter `size` has no choices
   --> <tmp>/bp/blueprint.yaml:15:5
   |
15 |     type: enum
   |     ^^^^ expected `choices: [...]` with at least one value

error: secret parameter `admin_password` has a default
   --> <tmp>/bp/blueprint.yaml:20:14
   |
20 |     default: <redacted>
   |              ^^^^^^^^^^ expected no default: a secret is supplied at apply time by `{ env }` or `{ keyVault, secretName }`

error: deployment `a` has resourceGroup scope but no resourceGroup
   --> <tmp>/bp/blueprint.yaml:22:5
   |
22 |   - name: a
   |     ^^^^ expected `resourceGroup: <name template>` for a resourceGroup-scope deployment

error: deployment name `a` is used twice
   --> <tmp>/bp/blueprint.yaml:25:11
   |
25 |   - name: a
   |           ^ expected unique names; deployment 1 is already called `a`

error: deployment `a` has subscription scope and a resourceGroup
   --> <tmp>/bp/blueprint.yaml:27:20
   |
27 |     resourceGroup: rg-x
   |                    ^^^^ expected no resourceGroup for a subscription-scope deployment

error: deployment `a` depends on `b`, which does not exist
   --> <tmp>/bp/blueprint.yaml:29:17
   |
29 |     dependsOn: [b]
   |                 ^ expected one of the deployments `a`

error: deployment `a` maps `password` to `admin_pasword`, which is not a parameter
   --> <tmp>/bp/blueprint.yaml:31:17
   |
31 |       password: admin_pasword
   |                 ^^^^^^^^^^^^^ expected a parameter key declared under `parameters`
   |
   = help: did you mean `admin_password`?

error: the waiver of TP-NET-001 for `*` has no justification
   --> <tmp>/bp/blueprint.yaml:35:20
   |
35 |     justification: ' '
   |                    ^^^ expected a written justification: every check output shows it

"#
    );
}

#[test]
fn manifest_shape_errors_have_positions() {
    let dir = temp_blueprint(
        &format!(
            "{HEAD}parameters:
  tier:
    type: enum
    descripton: typo
deployments: []
"
        ),
        &[],
    );
    assert_eq!(
        open_err(&dir),
        "error: parameters.tier: unknown field `descripton`, expected one of `type`, `description`, `default`, `required`, `example`, `pattern`, `min`, `max`, `choices`, `minPrefix`, `maxPrefix`, `items`
  --> <tmp>/bp/blueprint.yaml:9:5
  |
9 |     descripton: typo
  |     ^ expected a manifest as described in docs/blueprint-authoring.md

"
    );
}

#[test]
fn lint_warns_about_unused_parameters() {
    let dir = temp_blueprint(
        &format!(
            "{HEAD}parameters:
  trust.name: {{type: string, description: n, required: true, example: x}}
  spare: {{type: string, description: not used anywhere, default: x}}
deployments:
  - {{name: a, scope: subscription, template: a.json.tera}}
"
        ),
        &["a.json.tera", "old/b.json.tera"],
    );
    let bp = blueprint::open(&SourceSpec::Dir(dir.path().join("bp"))).expect("valid");
    let warnings = blueprint::lint(&bp);
    let text = trustprint::diag::render_as(&warnings, trustprint::diag::Severity::Warning, false)
        .replace(&dir.path().display().to_string(), "<tmp>");
    assert_eq!(
        text,
        "warning: parameter `spare` is not used
  --> <tmp>/bp/blueprint.yaml:8:3
  |
8 |   spare: {type: string, description: not used anywhere, default: x}
  |   ^^^^^ expected a reference from a template, a deployment's fields or its `parameters`
  |
  = help: remove it, or use it in a template

warning: template `old/b.json.tera` is not used
 = in <tmp>/bp/blueprint.yaml
 = expected a template named by a deployment, or included by one
 = help: remove it, or name it in a deployment's `template`

"
    );
    assert!(blueprint::lint(&minimal()).is_empty());
}

/// Copy the minimal blueprint into `dest` with its version set to `version`.
fn write_minimal(dest: &Path, version: &str) {
    let src = fixtures().join("blueprints/minimal");
    std::fs::create_dir_all(dest.join("templates/core")).expect("mkdir");
    let manifest = std::fs::read_to_string(src.join("blueprint.yaml"))
        .expect("read")
        .replace("version: 1.0.0", &format!("version: {version}"));
    std::fs::write(dest.join("blueprint.yaml"), manifest).expect("write");
    for t in ["core/resource-groups.json.tera", "core/spoke.json.tera"] {
        std::fs::copy(
            src.join("templates").join(t),
            dest.join("templates").join(t),
        )
        .expect("copy");
    }
}

/// Commit everything in the work tree; returns the commit id.
fn commit_all(repo: &git2::Repository, message: &str) -> git2::Oid {
    let mut index = repo.index().expect("index");
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .expect("add");
    index.write().expect("write index");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("tree");
    let sig = git2::Signature::now("Test", "test@example.nhs.uk").expect("signature");
    let parents: Vec<git2::Commit> = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .into_iter()
        .collect();
    let parents: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .expect("commit")
}

#[test]
fn git_source_at_a_tag_branch_and_commit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    // Only git sources read the cache variable, and only this test opens git sources.
    std::env::set_var("TRUSTPRINT_CACHE", &cache);
    let repo_dir = tmp.path().join("blueprints-repo");
    let repo = git2::Repository::init(&repo_dir).expect("init");
    write_minimal(&repo_dir.join("bp/minimal"), "1.0.0");
    let v1 = commit_all(&repo, "minimal 1.0.0");
    let v1_obj = repo.find_object(v1, None).expect("object");
    let sig = git2::Signature::now("Test", "test@example.nhs.uk").expect("signature");
    repo.tag("v1.0.0", &v1_obj, &sig, "release 1.0.0", false)
        .expect("tag");
    write_minimal(&repo_dir.join("bp/minimal"), "1.1.0");
    let v2 = commit_all(&repo, "minimal 1.1.0");
    let branch = repo
        .head()
        .ok()
        .and_then(|h| h.shorthand().map(str::to_string))
        .expect("branch");

    let url = format!("file://{}", repo_dir.display());
    let spec = SourceSpec::parse(&format!("{url}//bp/minimal@v1.0.0")).expect("spec");
    let bp = blueprint::open(&spec).expect("opens at the tag");
    assert_eq!(bp.manifest.version.to_string(), "1.0.0");
    assert_eq!(bp.commit, Some(v1.to_string()));
    assert_eq!(bp.source, format!("{url}//bp/minimal@v1.0.0"));
    assert_eq!(bp.manifest_file, "bp/minimal/blueprint.yaml");
    assert_eq!(bp.templates.len(), 2);
    assert_eq!(bp.reference().commit, Some(v1.to_string()));

    // Opened again (from the cache's checkout), the same.
    let again = blueprint::open(&spec).expect("opens again");
    assert_eq!(again.commit, bp.commit);

    let on_branch =
        blueprint::open(&SourceSpec::parse(&format!("{url}//bp/minimal@{branch}")).expect("spec"))
            .expect("opens at the branch");
    assert_eq!(on_branch.manifest.version.to_string(), "1.1.0");
    assert_eq!(on_branch.commit, Some(v2.to_string()));

    let by_commit =
        blueprint::open(&SourceSpec::parse(&format!("{url}//bp/minimal@{v1}")).expect("spec"))
            .expect("opens at a commit");
    assert_eq!(by_commit.manifest.version.to_string(), "1.0.0");

    // The checkouts are complete folders named by commit; no temporary folders are left behind.
    let checkouts: Vec<String> = std::fs::read_dir(
        std::fs::read_dir(cache.join("git"))
            .expect("cache")
            .filter_map(Result::ok)
            .next()
            .expect("one repository")
            .path()
            .join("checkouts"),
    )
    .expect("checkouts")
    .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
    .collect();
    let mut expected = vec![v1.to_string(), v2.to_string()];
    expected.sort();
    let mut got = checkouts;
    got.sort();
    assert_eq!(got, expected);

    // Several at once (a fleet stamping in parallel) wait for each other's fetch instead of failing.
    let spec = SourceSpec::parse(&format!("{url}//bp/minimal@{branch}")).expect("spec");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let spec = spec.clone();
            std::thread::spawn(move || blueprint::open(&spec).map(|b| b.commit))
        })
        .collect();
    for h in handles {
        assert_eq!(
            h.join().expect("thread").expect("opens"),
            Some(v2.to_string())
        );
    }

    let err =
        blueprint::open(&SourceSpec::parse(&format!("{url}//bp/minimal@v9.9.9")).expect("spec"))
            .expect_err("unknown tag");
    assert_eq!(
        err.to_string(),
        format!(
            "blueprint {url}//bp/minimal@v9.9.9: unknown ref `v9.9.9`: no tag, branch or commit of that name in {url} (its tags include v1.0.0)"
        )
    );
    assert_eq!(
        trustprint::Error::from(err).exit_code(),
        trustprint::ExitCode::InvalidInput
    );

    let err =
        blueprint::open(&SourceSpec::parse(&format!("{url}//bp/nothing@v1.0.0")).expect("spec"))
            .expect_err("no such folder");
    assert_eq!(
        err.to_string(),
        format!("blueprint {url}//bp/nothing@v1.0.0: the repository has no folder `bp/nothing` at commit {v1}")
    );

    // Versions of a git source without a ref are its tags (a fleet's `blueprint.version`).
    let base = SourceSpec::parse(&format!("{url}//bp/minimal")).expect("spec");
    let at = |major, minor| blueprint::open_version(&base, &semver::Version::new(1, major, minor));
    let v1_0 = at(0, 0).expect("1.0.0 is the tag v1.0.0");
    assert_eq!(v1_0.commit, Some(v1.to_string()));
    assert_eq!(v1_0.manifest.version.to_string(), "1.0.0");
    // 1.1.0 is on the branch but was never tagged: the error names the tag it looked for.
    let err = at(1, 0).expect_err("no tag v1.1.0");
    assert!(err.to_string().contains("unknown ref `v1.1.0`"), "{err}");
    // A ref whose manifest says another version is refused.
    let on_branch = SourceSpec::parse(&format!("{url}//bp/minimal@{branch}")).expect("spec");
    let err = blueprint::open_version(&on_branch, &semver::Version::new(1, 0, 0))
        .expect_err("the branch holds 1.1.0");
    assert_eq!(
        err.to_string(),
        format!("blueprint {url}//bp/minimal@{branch}: asked for version 1.0.0, but its blueprint.yaml says version 1.1.0")
    );
}

#[test]
fn a_migration_must_move_values_into_parameters_of_its_version() {
    let dir = temp_blueprint(
        &format!(
            "{HEAD}parameters:
  patching.wave1:
    type: string
    description: The first window.
    default: a
deployments:
  - name: core
    scope: subscription
    template: core/main.json.tera
migrations:
  - from: '<1.0.0'
    rename:
      patching.window: patching.wave1
      patching.wave1: patching.wave9
    add:
      patching.wave2: b
    remove: [patching.wave1]
"
        ),
        &["core/main.json.tera"],
    );
    let err = open_err(&dir);
    for expected in [
        "renames patching.wave1, which is still a parameter",
        "renames patching.wave1 to patching.wave9, which is not a parameter",
        "adds patching.wave2, which is not a parameter",
        "removes patching.wave1, which is still a parameter",
    ] {
        assert!(err.contains(expected), "{expected}\n{err}");
    }
    assert!(!err.contains("renames patching.window"), "{err}");
}

#[test]
fn folder_source_in_a_git_work_tree_records_its_commit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = git2::Repository::init(tmp.path()).expect("init");
    write_minimal(&tmp.path().join("bp"), "1.0.0");
    let head = commit_all(&repo, "minimal");
    let spec = SourceSpec::Dir(tmp.path().join("bp"));
    assert_eq!(
        blueprint::open(&spec).expect("opens").commit,
        Some(head.to_string())
    );
    std::fs::write(
        tmp.path().join("bp/templates/core/new.json.tera"),
        GOOD_TEMPLATE,
    )
    .expect("write");
    assert_eq!(
        blueprint::open(&spec).expect("opens").commit,
        Some(format!("{head}-dirty"))
    );
    // Outside git, no commit.
    let plain = temp_blueprint(&format!("{HEAD}parameters: {{}}\ndeployments: []\n"), &[]);
    assert_eq!(
        blueprint::open(&SourceSpec::Dir(plain.path().join("bp")))
            .expect("opens")
            .commit,
        None
    );
}

#[test]
fn missing_blueprint_folder_is_a_clear_error() {
    let err = blueprint::open(&SourceSpec::Dir("tests/fixtures/blueprints/no-such".into()))
        .expect_err("missing");
    assert_eq!(
        err.to_string(),
        "blueprint tests/fixtures/blueprints/no-such: cannot open the folder: No such file or directory (os error 2)"
    );
}

#[test]
fn shared_template_root_changes_mark_the_commit_dirty() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = git2::Repository::init(tmp.path()).expect("init");
    let bp = tmp.path().join("blueprints/shared");
    std::fs::create_dir_all(&bp).expect("mkdir");
    std::fs::create_dir_all(tmp.path().join("templates")).expect("mkdir");
    std::fs::write(
        bp.join("blueprint.yaml"),
        format!("{HEAD}templateRoots: [../../templates]\nparameters: {{}}\ndeployments:\n  - {{name: a, scope: subscription, template: a.json.tera}}\n"),
    )
    .expect("write");
    std::fs::write(tmp.path().join("templates/a.json.tera"), GOOD_TEMPLATE).expect("write");
    std::fs::write(tmp.path().join("README.md"), "unrelated\n").expect("write");
    let head = commit_all(&repo, "shared");
    let spec = SourceSpec::Dir(bp);
    let opened = blueprint::open(&spec).expect("opens");
    assert_eq!(
        opened.templates,
        vec![("a.json.tera".to_string(), GOOD_TEMPLATE.to_string())]
    );
    assert_eq!(opened.commit, Some(head.to_string()));
    // A change outside the blueprint and its roots does not make it dirty; one in a root does.
    std::fs::write(tmp.path().join("README.md"), "changed\n").expect("write");
    assert_eq!(
        blueprint::open(&spec).expect("opens").commit,
        Some(head.to_string())
    );
    std::fs::write(
        tmp.path().join("templates/a.json.tera"),
        "{ \"resources\": [ ] }\n",
    )
    .expect("write");
    assert_eq!(
        blueprint::open(&spec).expect("opens").commit,
        Some(format!("{head}-dirty"))
    );
}

#[test]
fn fleet_defaults_are_checked_and_named() {
    let mut input = required_only();
    input.base = Some((
        "fleet.yaml".into(),
        serde_json::json!({"tier": "huge", "network": {"adress_space": "10.0.0.0/16"}}),
    ));
    assert_eq!(
        rendered(load_with(input).expect_err("invalid")),
        "error: tier: \"huge\" is not one of the choices
 = in fleet.yaml
 = expected one of `small`, `medium`, `large`

error: unknown key `network.adress_space`
 = in fleet.yaml
 = expected one of the keys of `network`: `address_space`, `dns_servers`
 = help: did you mean `address_space`?

"
    );
}
