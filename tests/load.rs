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
