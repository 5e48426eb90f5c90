//! Integration tests: render, through the binary (`trustprint render`) with the `render-cases` blueprint.

use crate::harness::{snapshot_dir, values, walk, Test};

const INJECTION: &str =
    "GUY'S AND ST THOMAS' \"Trust\" {{x}} </script> second line \u{e9}\u{2603} \\ end";

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

/// A second `render --out out` in the folder of an earlier run.
fn rerender(dir: tempfile::TempDir) -> Test {
    Test::in_dir(dir)
        .write("values.yaml", &values("A TRUST", "RJ1", ""))
        .blueprint("render-cases")
        .args(["render", "--values", "values.yaml", "--out", "out"])
}

/// Issue 18, row 8: a folder holding someone's files beside a `render-manifest.json` is not an earlier render
/// output. `render --out` refuses it, naming the first file the manifest does not list, and deletes nothing.
#[test]
fn a_folder_with_files_the_manifest_does_not_list_is_refused_whole() {
    let first = render("A TRUST", "").run();
    let out = rerender(first.dir)
        .write("out/thesis.docx", "four years of work\n")
        .write("out/sub/data.csv", "a,b\n1,2\n")
        .status(1)
        .stderr(
            "error: output folder out: it holds sub/data.csv, which render-manifest.json does not list, so it \
             is not exactly an earlier render output; refusing to replace it (move the file away, or render \
             into a new folder)\n",
        )
        .run();
    assert_eq!(out.read("out/thesis.docx"), "four years of work\n");
    assert_eq!(out.read("out/sub/data.csv"), "a,b\n1,2\n");
}

/// Issue 18, row 8: a forged `render-manifest.json` alone does not make a folder replaceable.
#[test]
fn a_forged_manifest_does_not_make_a_folder_replaceable() {
    let out = render("A TRUST", "")
        .write("out/render-manifest.json", "{\"deployments\": []}\n")
        .write("out/thesis.docx", "four years of work\n")
        .status(1)
        .stderr_has("it holds thesis.docx, which render-manifest.json does not list")
        .run();
    assert_eq!(out.read("out/thesis.docx"), "four years of work\n");
}

/// Issue 18, row 8: a rendered file edited by hand is refused too (its hash is not the manifest's).
#[test]
fn an_edited_rendered_file_is_refused() {
    let first = render("A TRUST", "").run();
    let edited = rerender(first.dir)
        .write("out/governance.json", "{\"edited\": true}\n")
        .status(1)
        .stderr_has(
            "governance.json or governance.parameters.json has changed since it was rendered (its hash is not \
             the one in render-manifest.json)",
        )
        .run();
    assert_eq!(edited.read("out/governance.json"), "{\"edited\": true}\n");
}

/// Issue 18, row 13: a trust name holding a line break or a terminal escape sequence is refused where it is
/// read, naming the key, and nothing raw reaches the terminal.
#[test]
fn a_name_with_control_characters_is_refused_and_shown_escaped() {
    for (name, shown) in [
        ("A TRUST\nerror: fake", "\\n"),
        ("A TRUST \u{1b}[31mRED\u{7}", "\\u001b"),
    ] {
        let out = render(name, "")
            .status(4)
            .stderr_has("trust.name: ")
            .stderr_has("holds the control character U+")
            .stderr_has(shown)
            .run();
        assert!(!out.path("out").exists());
        assert!(
            !out.stderr.contains('\u{1b}') && !out.stderr.contains('\u{7}'),
            "{}",
            out.stderr
        );
    }
}

/// Issue 18, row 14: a huge value is refused without printing it whole: the message and the line shown are
/// cut. (The exemplar's trust names are at most 120 characters.)
#[test]
fn a_huge_name_is_refused_in_a_short_message() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/blueprints/exemplar-epr/examples/royal-berkshire-rhw.yaml"
    ))
    .unwrap();
    let name_line = example
        .lines()
        .find(|l| l.trim_start().starts_with("name:"))
        .unwrap();
    let huge = example.replacen(name_line, &format!("  name: {}", "A".repeat(921_600)), 1);
    let out = Test::new()
        .write("values.yaml", &huge)
        .args(["check", "--values", "values.yaml"])
        .status(4)
        .stderr_has("trust.name: ")
        .stderr_has("characters long")
        .run();
    assert!(
        out.stderr.len() < 4_000,
        "{} bytes on stderr",
        out.stderr.len()
    );
}
