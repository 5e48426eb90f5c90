//! Object functions (Microsoft's "Object functions for ARM templates").

use super::kinds::{A, ANY, O, S};
use super::Family::Object as F;
use super::{def, str_at, FunctionDef, Imp, MANY};
use crate::armexpr::eval::{type_name, Evaluator};
use crate::armexpr::Error;
use serde_json::{Map, Value};

#[rustfmt::skip]
pub(super) const DEFS: &[FunctionDef] = &[
    def(F, "createObject", (0, MANY), &[], ANY, Imp::Eager(create_object), "an object from key/value pairs"),
    def(F, "items", (1, 1), &[O], ANY, Imp::Eager(items), "`[{key, value}]`, sorted by key"),
    def(F, "json", (1, 1), &[S], ANY, Imp::Eager(json), "parses JSON text"),
    def(F, "null", (0, 0), &[], ANY, Imp::Eager(null), "null"),
    def(F, "objectKeys", (1, 1), &[O], ANY, Imp::Eager(object_keys), "the keys, in order"),
    def(F, "shallowMerge", (1, 1), &[A], ANY, Imp::Eager(shallow_merge), "objects merged, top level only"),
    def(F, "tryGet", (2, MANY), &[], ANY, Imp::Eager(try_get), "a property or index path, null when missing"),
];

fn create_object(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    if !args.len().is_multiple_of(2) {
        return Err(Error::func(
            "createObject",
            "takes key/value pairs (an even number of arguments)",
        ));
    }
    let mut map = Map::new();
    let mut it = args.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        let Value::String(k) = k else {
            return Err(Error::func(
                "createObject",
                format!("keys must be strings, not {}", type_name(&k)),
            ));
        };
        map.insert(k, v);
    }
    Ok(Value::Object(map))
}

fn items(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let Some(Value::Object(map)) = args.into_iter().next() else {
        return Ok(Value::Array(Vec::new()));
    };
    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
    entries.sort_by_key(|(k, _)| k.to_ascii_lowercase());
    Ok(Value::Array(
        entries
            .into_iter()
            .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
            .collect(),
    ))
}

fn json(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    serde_json::from_str(str_at(&args, 0))
        .map_err(|e| Error::func("json", format!("not valid JSON: {e}")))
}

fn null(_: &Evaluator<'_>, _: &str, _: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::Null)
}

fn object_keys(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let keys = args[0]
        .as_object()
        .map(|m| m.keys().cloned().map(Value::String).collect())
        .unwrap_or_default();
    Ok(Value::Array(keys))
}

fn shallow_merge(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let mut out = Map::new();
    for item in args.into_iter().next().into_iter().flat_map(|a| match a {
        Value::Array(items) => items,
        _ => Vec::new(),
    }) {
        let Value::Object(o) = item else {
            return Err(Error::func(
                "shallowMerge",
                format!("every element must be an object, not {}", type_name(&item)),
            ));
        };
        out.extend(o);
    }
    Ok(Value::Object(out))
}

fn try_get(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let mut cur = args[0].clone();
    for key in &args[1..] {
        let next = match (&cur, key) {
            (Value::Object(map), Value::String(k)) => map
                .get(k)
                .or_else(|| {
                    map.iter()
                        .find(|(mk, _)| mk.eq_ignore_ascii_case(k))
                        .map(|(_, v)| v)
                })
                .cloned(),
            (Value::Array(items), Value::Number(n)) => n
                .as_i64()
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| items.get(i))
                .cloned(),
            (Value::Null, _) => None,
            (c, k) => {
                return Err(Error::func(
                    "tryGet",
                    format!("cannot look up {} in {}", type_name(k), type_name(c)),
                ))
            }
        };
        match next {
            Some(v) => cur = v,
            None => return Ok(Value::Null),
        }
    }
    Ok(cur)
}
