//! Which values are secret: parameters declared `securestring` or `secureObject`, the results of `list*`
//! actions (keys, connection strings), and anything an expression derives from them, traced through
//! variables. The evaluator uses it to keep such values out of error messages; [`secure_outputs`] lets
//! `blueprint lint` refuse outputs that would publish them (Azure never returns secure outputs, and a
//! deployment record keeps every output).

use super::eval::Scope;
use super::parse::{classify, Expr, Template};
use super::Error;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// What `expr` derives a secret from, in words (`secure parameter 'pw'`, `listKeys()`), or `None`.
pub(crate) fn source(scope: &Scope, expr: &Expr) -> Option<String> {
    let mut seen = HashSet::new();
    match expr {
        // A `list*` call's own errors (not allowed in variables, the cloud's answer) hold no key: only what
        // is done with its result can show one.
        Expr::Call { name, args, .. } if is_list(name) => {
            args.iter().find_map(|a| walk(scope, a, &mut seen))
        }
        _ => walk(scope, expr, &mut seen),
    }
}

fn is_list(name: &str) -> bool {
    name.len() > 4
        && name
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("list"))
}

fn walk(scope: &Scope, expr: &Expr, seen: &mut HashSet<String>) -> Option<String> {
    match expr {
        Expr::Str(_) | Expr::Int(_) | Expr::Bool(_) | Expr::Null => None,
        Expr::Property(base, _) => walk(scope, base, seen),
        Expr::Index(base, index) => walk(scope, base, seen).or_else(|| walk(scope, index, seen)),
        Expr::Call { name, args, .. } => {
            let lower = name.to_ascii_lowercase();
            if lower == "parameters" && scope.has_secure() {
                return match args.first() {
                    Some(Expr::Str(p)) if scope.is_secure(p) => {
                        Some(format!("secure parameter '{p}'"))
                    }
                    Some(Expr::Str(_)) => None,
                    // A parameter chosen at run time may be a secure one.
                    _ => Some(
                        "a parameter chosen at run time (the template has secure parameters)"
                            .into(),
                    ),
                };
            }
            if is_list(name) {
                return Some(format!("{name}()"));
            }
            // Variables can only carry a secret from a secure parameter (list* is not allowed in them).
            if lower == "variables" && scope.has_secure() {
                if let Some(Expr::Str(v)) = args.first() {
                    if let Some(found) = variable(scope, v, seen) {
                        return Some(found);
                    }
                }
            }
            args.iter().find_map(|a| walk(scope, a, seen))
        }
    }
}

/// How many variables deep tracing follows; a longer chain counts as derived from a secret (evaluation
/// itself stops far sooner, at [`super::MAX_EVAL_DEPTH`]).
const MAX_TRACE: usize = 256;

fn variable(scope: &Scope, name: &str, seen: &mut HashSet<String>) -> Option<String> {
    if seen.len() >= MAX_TRACE {
        return Some("a chain of variables too long to trace".into());
    }
    if !seen.insert(name.to_ascii_lowercase()) {
        return None;
    }
    let def = scope.variable_def(name)?;
    value(scope, &def, seen)
}

/// What a template value (every expression string in it) derives a secret from.
fn value(scope: &Scope, v: &Value, seen: &mut HashSet<String>) -> Option<String> {
    match v {
        Value::String(s) => match classify(s) {
            Template::Expression(inner) => {
                let expr = scope.parse_cached(inner).ok()?;
                walk(scope, &expr, seen)
            }
            Template::Literal(_) => None,
        },
        Value::Array(items) => items.iter().find_map(|i| value(scope, i, seen)),
        Value::Object(map) => map.values().find_map(|i| value(scope, i, seen)),
        _ => None,
    }
}

/// An output of a template whose value derives from a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecureOutput {
    /// The output's name.
    pub output: String,
    /// What it derives from (`secure parameter 'vmAdminPassword'`, `listKeys()`).
    pub source: String,
}

/// The outputs of `template` whose value derives from a secure parameter or a `list*` action, traced through
/// variables (static: nothing is evaluated). A template that is not an object has none.
pub fn secure_outputs(template: &Value) -> Result<Vec<SecureOutput>, Error> {
    let Some(t) = template.as_object() else {
        return Ok(Vec::new());
    };
    let empty = Map::new();
    let variables = t
        .get("variables")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let declared = t
        .get("parameters")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut scope = Scope::new(&Map::new(), variables)?;
    for (name, def) in declared {
        let secure = def.get("type").and_then(Value::as_str).is_some_and(|t| {
            t.eq_ignore_ascii_case("securestring") || t.eq_ignore_ascii_case("secureobject")
        });
        if secure {
            scope.mark_secure(name);
        }
    }
    let mut found = Vec::new();
    for (name, def) in t
        .get("outputs")
        .and_then(Value::as_object)
        .unwrap_or(&empty)
    {
        let mut seen = HashSet::new();
        let derived = def
            .get("value")
            .and_then(|v| value(&scope, v, &mut seen))
            .or_else(|| {
                def.get("copy")
                    .and_then(|c| c.get("input"))
                    .and_then(|v| value(&scope, v, &mut seen))
            });
        if let Some(source) = derived {
            found.push(SecureOutput {
                output: name.clone(),
                source,
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::super::{DeploymentScope, Error, Mode, Plan, Unresolved};
    use super::*;
    use serde_json::json;

    const PASSWORD: &str = "Sup3r-S3cret!";

    fn template(outputs: Value) -> Value {
        json!({
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
            "contentVersion": "1.0.0.0",
            "parameters": {
                "vmAdminPassword": {"type": "securestring"},
                "settings": {"type": "secureObject", "defaultValue": {"key": "0bject-Secret"}},
                "prefix": {"type": "string", "defaultValue": "app"}
            },
            "variables": {
                "connection": "[concat('Server=db;Password=', parameters('vmAdminPassword'))]",
                "label": "[concat(parameters('prefix'), '-web')]"
            },
            "resources": [],
            "outputs": outputs
        })
    }

    fn outputs_error(outputs: Value) -> Error {
        let params: Map<String, Value> =
            serde_json::from_value(json!({"vmAdminPassword": PASSWORD})).unwrap();
        let scope = DeploymentScope::resource_group("sub", "ten", "rg", "uksouth", "dep");
        let plan = Plan::new(&template(outputs), &params, &scope, Mode::Strict).unwrap();
        plan.outputs(&Unresolved).unwrap_err()
    }

    // Issue #18 row 2: `[int(parameters('vmAdminPassword'))]` quoted the password in its error.
    #[test]
    fn errors_never_quote_a_secure_value() {
        let e = outputs_error(
            json!({"n": {"type": "int", "value": "[int(parameters('vmAdminPassword'))]"}}),
        );
        assert_eq!(
            e.to_string(),
            "outputs.n.value: int(): invalid argument (the value derives from secure parameter \
             'vmAdminPassword' and is not shown)"
        );
        let e =
            outputs_error(json!({"n": {"type": "int", "value": "[int(variables('connection'))]"}}));
        assert!(!e.to_string().contains(PASSWORD), "{e}");
        assert!(
            e.to_string().contains("secure parameter 'vmAdminPassword'"),
            "{e}"
        );
        let e = outputs_error(
            json!({"n": {"type": "string", "value": "[substring(parameters('settings').key, 0, 99)]"}}),
        );
        assert!(!e.to_string().contains("0bject-Secret"), "{e}");
        // An error that reaches a secret some other way still has it scrubbed.
        let e = outputs_error(
            json!({"n": {"type": "string", "value": "[json(concat('{', parameters('vmAdminPassword')))]"}}),
        );
        assert!(!e.to_string().contains(PASSWORD), "{e}");
        // Errors about ordinary values keep their detail.
        let e = outputs_error(json!({"n": {"type": "int", "value": "[int(variables('label'))]"}}));
        assert_eq!(
            e.to_string(),
            "outputs.n.value: int(): 'app-web' is not an integer"
        );
    }

    // Issue #18 row 1: an output of a secure parameter passed `blueprint lint`.
    #[test]
    fn outputs_derived_from_secrets_are_found() {
        let t = template(json!({
            "password": {"type": "securestring", "value": "[parameters('vmAdminPassword')]"},
            "connection": {"type": "string", "value": "[variables('connection')]"},
            "key": {"type": "string", "value": "[listKeys(resourceId('Microsoft.Storage/storageAccounts', 'st'), '2023-01-01').keys[0].value]"},
            "nested": {"type": "object", "value": {"inner": "[parameters('settings')]"}},
            "label": {"type": "string", "value": "[variables('label')]"},
            "literal": {"type": "string", "value": "vmAdminPassword"}
        }));
        let found = secure_outputs(&t).unwrap();
        let names: Vec<(&str, &str)> = found
            .iter()
            .map(|f| (f.output.as_str(), f.source.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("password", "secure parameter 'vmAdminPassword'"),
                ("connection", "secure parameter 'vmAdminPassword'"),
                ("key", "listKeys()"),
                ("nested", "secure parameter 'settings'"),
            ]
        );
    }
}
