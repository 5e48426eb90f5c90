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
}

/// The rendered diagnostics of a failed load (the exact text a user sees, without colour).
fn rendered(err: trustprint::Error) -> String {
    match err {
        trustprint::Error::Values { diagnostics, .. } | trustprint::Error::Manifest { diagnostics, .. } => {
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
        let name = case.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let rel = format!("tests/fixtures/values/invalid/{name}.yaml");
        let got = match load_file(&rel) {
            Ok(_) => format!("(loaded without error)\n"),
            Err(e) => rendered(e),
        };
        let expected_path = case.with_extension("expected");
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == got => {}
            Ok(expected) => failures.push(format!("{name}:\n--- expected\n{expected}--- got\n{got}")),
            Err(_) if bless => std::fs::write(&expected_path, &got).expect("write .expected"),
            Err(_) => failures.push(format!("{name}: no .expected file; got\n{got}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
