//! Checks of a whole blueprint that need the stages above it (values, render): `blueprint lint`'s refusal of template outputs that publish a secret (issue #18, row 1). Azure never returns
//! `securestring` or `secureObject` outputs, and trustprint records every output in the trust's lock, so an
//! output derived from a secure parameter (or a `list*` action's keys) would put the secret in git.
//!
//! Templates are Tera, so the blueprint is rendered once with its parameters' examples (defaults where there
//! is no example), and each rendered ARM template's outputs are traced by [`crate::armexpr::secure_outputs`].

use crate::blueprint::{Blueprint, ParamType};
use serde_json::{Map, Value};

/// One output that derives from a secret, in words naming the deployment, template, output and source.
pub fn secret_outputs(bp: &Blueprint) -> Result<Vec<String>, crate::Error> {
    let values = example_values(bp)?;
    let rendered = crate::render::Renderer::new(bp)?.render(&values)?;
    let mut found = Vec::new();
    for d in &rendered.deployments {
        let outputs =
            crate::armexpr::secure_outputs(&d.template).map_err(|source| crate::Error::Expand {
                deployment: d.name.clone(),
                source,
            })?;
        for o in outputs {
            found.push(format!(
                "deployment '{}' ({}): output '{}' derives from {}",
                d.name, d.template_path, o.output, o.source
            ));
        }
    }
    Ok(found)
}

/// Values made of every parameter's example (or default), secrets named by environment variable: what the
/// docs show a trust would give.
fn example_values(bp: &Blueprint) -> Result<crate::values::Values, crate::Error> {
    let mut tree = Map::new();
    for (key, p) in &bp.manifest.parameters {
        if p.ty == ParamType::Secret {
            // Secrets are named, never given: an environment variable that is only read at apply time.
            let env = format!(
                "TRUSTPRINT_LINT_{}",
                key.replace('.', "_").to_ascii_uppercase()
            );
            insert_dotted(&mut tree, key, serde_json::json!({ "env": env }));
            continue;
        }
        let Some(v) = p.example.as_ref().or(p.default.as_ref()) else {
            continue;
        };
        insert_dotted(&mut tree, key, v.clone());
    }
    let text =
        serde_yaml::to_string(&Value::Object(tree)).map_err(|e| crate::Error::Blueprint {
            source_desc: bp.source.clone(),
            message: format!("cannot write the parameters' examples as values: {e}"),
        })?;
    Ok(crate::values::load(
        &bp.manifest,
        &crate::values::ValuesInput {
            file: Some(std::path::PathBuf::from("<parameter examples>")),
            text: Some(text),
            ..Default::default()
        },
    )?)
}

fn insert_dotted(tree: &mut Map<String, Value>, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            tree.insert(key.to_string(), value);
        }
        Some((head, rest)) => {
            let child = tree
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            if let Value::Object(m) = child {
                insert_dotted(m, rest, value);
            }
        }
    }
}
