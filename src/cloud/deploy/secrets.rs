//! Secure parameters: kept out of the state database while a deployment runs, and scrubbed from the bodies
//! resources are stored with.

use crate::cloud::AppState;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// Secure parameters with a literal value are removed from `request` (the stored copy) and returned, so that
/// no secret reaches the state database; Key Vault references stay (they hold no secret).
pub(crate) fn take_secure_parameters(request: &mut Value) -> Map<String, Value> {
    let secure: HashSet<String> = request["properties"]["template"]["parameters"]
        .as_object()
        .map(|declared| {
            declared
                .iter()
                .filter(|(_, d)| {
                    d["type"]
                        .as_str()
                        .is_some_and(|t| t.to_ascii_lowercase().starts_with("secure"))
                })
                .map(|(name, _)| name.to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let mut taken = Map::new();
    if let Some(params) = request["properties"]["parameters"].as_object_mut() {
        let names: Vec<String> = params
            .iter()
            .filter(|(n, v)| secure.contains(&n.to_ascii_lowercase()) && v.get("value").is_some())
            .map(|(n, _)| n.clone())
            .collect();
        for n in names {
            if let Some(v) = params.remove(&n) {
                taken.insert(n, v);
            }
        }
    }
    taken
}

/// Every secret string in secure parameters (their values, and the strings inside secure objects).
pub(super) fn secret_strings<'a>(
    parameters: impl IntoIterator<Item = &'a Map<String, Value>>,
) -> Vec<String> {
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) if !s.is_empty() => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(o) => o.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for params in parameters {
        params.values().for_each(|p| strings(&p["value"], &mut out));
    }
    out
}

/// Every secret string of the deployments in flight.
pub(super) fn secrets_in_flight(st: &AppState) -> Vec<String> {
    secret_strings(
        st.secure_parameters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values(),
    )
}

/// Resource providers never return write-only secrets (a VM's `adminPassword`, a SQL server's
/// `administratorLoginPassword`): drop every property whose value holds a secret before the body is stored.
pub(super) fn scrub_secrets(body: &Value, secrets: &[String]) -> Value {
    // Short strings (a secure object's `"true"`, `"1"`) would match half the body as substrings: those count
    // only when a property is exactly them.
    let holds = |s: &str| {
        secrets
            .iter()
            .any(|secret| s == secret || (secret.len() >= 8 && s.contains(secret.as_str())))
    };
    match body {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, v)| !v.as_str().is_some_and(holds))
                .map(|(k, v)| (k.clone(), scrub_secrets(v, secrets)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|v| !v.as_str().is_some_and(holds))
                .map(|v| scrub_secrets(v, secrets))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scrubbing_drops_properties_holding_a_secret_and_keeps_the_rest() {
        let body = json!({"properties": {"adminPassword": "Pa55-w0rd-long", "connection": "user=sa;pwd=Pa55-w0rd-long",
                                         "enabled": "1", "count": "10", "name": "vm1", "list": ["Pa55-w0rd-long", "x"]}});
        let secrets = vec!["Pa55-w0rd-long".to_string(), "1".to_string()];
        assert_eq!(
            scrub_secrets(&body, &secrets),
            json!({"properties": {"count": "10", "name": "vm1", "list": ["x"]}})
        );
    }
}
