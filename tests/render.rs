//! Integration tests: render, through the binary (`trustprint render`) with the `render-cases` blueprint.

use crate::harness::{snapshot_dir, values, walk, Test};

const INJECTION: &str =
    "GUY'S AND ST THOMAS' \"Trust\" {{x}} </script>\nsecond line \u{e9}\u{2603} \\ end";

fn render(name: &str, extra: &str) -> Test {
    Test::new()
        .write("values.yaml", &values(name, "RJ1", extra))
        .blueprint("render-cases")
        .args(["render", "--values", "values.yaml", "--out", "out"])
}

#[test]
fn writes_templates_parameters_and_manifest_in_dependency_order() {
    let out = render("A TRUST", "").stdout_has("written to out").run();
    assert_eq!(
        walk(&out.path("out")),
        [
            "governance.json",
            "governance.parameters.json",
            "render-manifest.json",
            "workload.json",
            "workload.parameters.json"
        ]
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&out.read("out/render-manifest.json")).unwrap();
    let names: Vec<&str> = manifest["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["governance", "workload"]);
    assert_eq!(
        manifest["deployments"][1]["resourceGroup"],
        "rg-rj1-uks-app"
    );
    assert_eq!(
        manifest["deployments"][1]["dependsOn"],
        serde_json::json!(["governance"])
    );
    assert_eq!(manifest["trust"]["odsCode"], "RJ1");
    let params: serde_json::Value =
        serde_json::from_str(&out.read("out/workload.parameters.json")).unwrap();
    assert_eq!(
        params,
        serde_json::json!({
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {"trustName": {"value": "A TRUST"}}
        })
    );
    insta::assert_snapshot!("governance_json", out.read("out/governance.json"));
    insta::assert_snapshot!("workload_json", out.read("out/workload.json"));
}

#[test]
fn injection_strings_round_trip_exactly() {
    let out = render(INJECTION, "").run();
    let gov: serde_json::Value = serde_json::from_str(&out.read("out/governance.json")).unwrap();
    assert_eq!(gov["outputs"]["trustName"]["value"], INJECTION);
    assert_eq!(gov["resources"][0]["tags"]["trust"], INJECTION);
    let params: serde_json::Value =
        serde_json::from_str(&out.read("out/workload.parameters.json")).unwrap();
    assert_eq!(params["parameters"]["trustName"]["value"], INJECTION);
}

#[test]
fn same_inputs_give_the_same_bytes_and_hashes() {
    let a = render("A TRUST", "").arg("--output").arg("json").run();
    let b = render("A TRUST", "").arg("--output").arg("json").run();
    assert_eq!(snapshot_dir(&a.path("out")), snapshot_dir(&b.path("out")));
    assert_eq!(a.json()["hash"], b.json()["hash"]);
    assert!(a.json()["hash"].as_str().unwrap().starts_with("sha256:"));
    let c = render("ANOTHER TRUST", "")
        .arg("--output")
        .arg("json")
        .run();
    assert_ne!(a.json()["hash"], c.json()["hash"]);
}

#[test]
fn a_failed_render_leaves_the_output_folder_as_it_was() {
    let first = render("A TRUST", "").run();
    let before = snapshot_dir(&first.path("out"));
    let dir = first.dir;
    let again = Test::in_dir(dir)
        .write("values.yaml", &values("A RENAMED TRUST", "RJ1", "case: undefined-variable\n"))
        .blueprint("render-cases")
        .args(["render", "--values", "values.yaml", "--out", "out"])
        .status(4)
        .stderr(
            "error: template undefined-variable.json.tera:6: Variable `trust.nmae` not found in context while \
             rendering 'undefined-variable.json.tera' (rendering for A RENAMED TRUST (RJ1))\n",
        )
        .run();
    assert_eq!(snapshot_dir(&again.path("out")), before);
    // Nothing staged is left beside it either.
    let siblings: Vec<String> = std::fs::read_dir(again.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(siblings.is_empty(), "{siblings:?}");
}

#[test]
fn invalid_json_names_template_position_and_trust() {
    render("A TRUST", "case: bad-json\n")
        .status(4)
        .stderr(&format!(
            "error: template bad-json.json.tera rendered invalid JSON at line 6, column 42 (rendering for A \
             TRUST (RJ1)): expected value\n  |     \"name\": {{ \"type\": \"string\", \"value\": A TRUST }}\n  | \
             {}^\n",
            " ".repeat(41)
        ))
        .run();
}

#[test]
fn refuses_to_replace_a_folder_that_is_not_render_output() {
    let out = render("A TRUST", "")
        .write("out/notes.txt", "keep me\n")
        .status(1)
        .stderr_has("refusing to replace it")
        .run();
    assert_eq!(out.read("out/notes.txt"), "keep me\n");
}
