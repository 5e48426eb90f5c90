//! Printing results and errors: the one place the CLI turns them into text or JSON.

use super::Global;
use crate::error::Error;
use crate::model::Rendered;
use serde_json::{json, Value};
use std::io::Write;

/// Print a command's result: `value` as JSON with `--output json`, else the text `text()` builds.
pub(super) fn emit(
    global: &Global,
    value: &Value,
    text: impl FnOnce() -> String,
) -> Result<(), Error> {
    let bytes = if global.json {
        crate::hash::to_bytes(value)
    } else {
        text().into_bytes()
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(&bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // A closed pipe (`trustprint ... | head`) is the reader's choice, not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::io("<stdout>", e)),
    }
}

/// A rendering as JSON: trust, blueprint, hash and each deployment without its template bodies.
pub(super) fn rendered_json(rendered: &Rendered) -> Value {
    let deployments: Vec<Value> = rendered
        .deployments
        .iter()
        .map(|d| {
            json!({
                "name": d.name,
                "scope": crate::render::scope_name(d.scope),
                "resourceGroup": d.resource_group,
                "location": d.location,
                "template": d.template_path,
                "dependsOn": d.depends_on,
                "secretEnv": d.secret_env,
                "hash": d.hash,
            })
        })
        .collect();
    json!({
        "trust": {"name": rendered.trust.name, "odsCode": rendered.trust.ods_code},
        "blueprint": rendered.blueprint,
        "hash": rendered.hash,
        "deployments": deployments,
    })
}

/// A rendering as text: one line per deployment in dependency order.
pub(super) fn rendered_text(rendered: &Rendered) -> String {
    let mut s = format!(
        "{} ({}) with {} {}: {} deployment(s)\n",
        rendered.trust.name,
        rendered.trust.ods_code,
        rendered.blueprint.name,
        rendered.blueprint.version,
        rendered.deployments.len()
    );
    for (i, d) in rendered.deployments.iter().enumerate() {
        let place = match &d.resource_group {
            Some(rg) => format!("resource group {rg}"),
            None => "subscription".into(),
        };
        s.push_str(&format!(
            "  {}. {} ({place}, {}) {}\n",
            i + 1,
            d.name,
            d.location,
            d.hash
        ));
    }
    s.push_str(&format!("hash {}\n", rendered.hash));
    s
}

/// The error's causes, outermost first, each once (Tera, git2 and io errors often repeat their cause).
fn causes(error: &Error) -> Vec<String> {
    let top = error.to_string();
    let mut seen: Vec<String> = Vec::new();
    let mut cur = std::error::Error::source(error);
    while let Some(e) = cur {
        let msg = e.to_string();
        if !msg.is_empty() && !top.contains(&msg) && !seen.iter().any(|s| s.contains(&msg)) {
            seen.push(msg);
        }
        cur = e.source();
    }
    seen
}

fn kind(error: &Error) -> &'static str {
    match error {
        Error::Io { .. } => "io",
        Error::Values { .. } => "values",
        Error::Manifest { .. } => "manifest",
        Error::Blueprint { .. } => "blueprint",
        Error::Git { .. } => "git",
        Error::Render(crate::render::Error::Template { .. }) => "template",
        Error::Render(crate::render::Error::RenderedJson { .. }) => "rendered-json",
        Error::Render(_) => "render",
        Error::OutDir { .. } => "out-dir",
        Error::Record(crate::record::Error::FleetLocked { .. }) => "fleet-locked",
        Error::Record(crate::record::Error::FleetDirty { .. }) => "fleet-dirty",
        Error::Record(_) => "record",
        Error::Violations { .. } => "violations",
        Error::Policy(_) => "policy",
        Error::PolicyDenied { .. } => "policy-denied",
        Error::Usage { .. } => "usage",
        Error::Internal { .. } => "internal",
        Error::Expand { .. } => "expand",
        Error::Repo(_) => "fleet-repo",
        Error::Feature(e) => e.0.kind(),
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

/// Print an error once: diagnostics first, then `error: ...` and its causes. With `--output json`, one JSON
/// document on stderr. (A guardrail report is a result: the commands print it on stdout before failing.)
pub(super) fn print_error(error: &Error, global: &Global) {
    let causes = causes(error);
    if global.json {
        let mut body = json!({
            "kind": kind(error),
            "message": error.to_string(),
            "causes": causes,
            "exitCode": error.exit_code() as u8,
        });
        match error {
            Error::Values { diagnostics, .. } | Error::Manifest { diagnostics, .. } => {
                body["diagnostics"] = json!(diagnostics);
            }
            Error::Violations { report } => {
                body["violations"] = json!(report.violations().count());
            }
            _ => {}
        }
        let _ = std::io::stderr().write_all(&crate::hash::to_bytes(&json!({ "error": body })));
        return;
    }
    let mut text = String::new();
    match error {
        Error::Values { diagnostics, .. } | Error::Manifest { diagnostics, .. } => {
            text.push_str(&crate::diag::render(diagnostics, global.color_err));
        }
        _ => {}
    }
    let label = if global.color_err {
        "\x1b[1;31merror\x1b[0m"
    } else {
        "error"
    };
    text.push_str(&format!("{label}: {error}\n"));
    for c in causes {
        text.push_str(&format!("  caused by: {c}\n"));
    }
    let _ = std::io::stderr().write_all(text.as_bytes());
}
