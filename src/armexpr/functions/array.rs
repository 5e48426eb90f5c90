//! Array functions (Microsoft's "Array functions for ARM templates"); most also take strings or objects.

use super::kinds::{A, ANY, AO, I, SA, SAO};
use super::string::to_text;
use super::Family::Array as F;
use super::{def, int_at, FunctionDef, Imp, MANY};
use crate::armexpr::eval::{type_name, Evaluator};
use crate::armexpr::Error;
use serde_json::{Map, Value};

#[rustfmt::skip]
pub(super) const DEFS: &[FunctionDef] = &[
    def(F, "array", (1, 1), &[], ANY, Imp::Eager(array), "wraps a value in an array (an array stays as is)"),
    def(F, "contains", (2, 2), &[SAO], ANY, Imp::Eager(contains), "substring, array item, or object key (any case)"),
    def(F, "createArray", (0, MANY), &[], ANY, Imp::Eager(create_array), "an array of the arguments"),
    def(F, "empty", (1, 1), &[], ANY, Imp::Eager(empty), "true for null, `''`, `[]`, `{}`"),
    def(F, "first", (1, 1), &[SA], ANY, Imp::Eager(first), "first item or character"),
    def(F, "flatten", (1, 1), &[A], ANY, Imp::Eager(flatten), "an array of arrays made one array"),
    def(F, "indexFromEnd", (2, 2), &[A, I], ANY, Imp::Eager(index_from_end), "item counted from the end, from 1"),
    def(F, "intersection", (2, MANY), &[AO], AO, Imp::Eager(intersection), "items or properties common to all"),
    def(F, "last", (1, 1), &[SA], ANY, Imp::Eager(last), "last item or character"),
    def(F, "length", (1, 1), &[SAO], ANY, Imp::Eager(length), "characters, items or properties"),
    def(F, "range", (2, 2), &[I, I], ANY, Imp::Eager(range), "integers from a start, a count of them (up to 10000)"),
    def(F, "skip", (2, 2), &[SA, I], ANY, Imp::Eager(skip), "all but the first n"),
    def(F, "take", (2, 2), &[SA, I], ANY, Imp::Eager(take), "the first n"),
    def(F, "tryIndexFromEnd", (2, 2), &[A, I], ANY, Imp::Eager(try_index_from_end), "like indexFromEnd, null when out of range"),
    def(F, "union", (1, MANY), &[AO], AO, Imp::Eager(union), "arrays without duplicates, or objects merged deeply"),
];

fn array(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(match args.into_iter().next() {
        Some(Value::Array(a)) => Value::Array(a),
        Some(v) => Value::Array(vec![v]),
        None => Value::Array(Vec::new()),
    })
}

fn contains(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    match (&args[0], &args[1]) {
        (Value::String(s), v) if !v.is_array() && !v.is_object() => {
            Ok(Value::Bool(s.contains(&to_text(v))))
        }
        (Value::Array(items), v) => Ok(Value::Bool(items.contains(v))),
        (Value::Object(map), Value::String(k)) => Ok(Value::Bool(
            map.keys().any(|key| key.eq_ignore_ascii_case(k)),
        )),
        (c, v) => Err(Error::func(
            "contains",
            format!("cannot look for {} in {}", type_name(v), type_name(c)),
        )),
    }
}

fn create_array(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::Array(args))
}

pub(super) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn empty(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::Bool(is_empty(&args[0])))
}

fn first(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(match &args[0] {
        Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
        v => Value::String(
            v.as_str()
                .and_then(|s| s.chars().next())
                .map(String::from)
                .unwrap_or_default(),
        ),
    })
}

fn last(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(match &args[0] {
        Value::Array(a) => a.last().cloned().unwrap_or(Value::Null),
        v => Value::String(
            v.as_str()
                .and_then(|s| s.chars().last())
                .map(String::from)
                .unwrap_or_default(),
        ),
    })
}

fn flatten(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let mut out = Vec::new();
    for item in args
        .into_iter()
        .next()
        .and_then(into_array)
        .unwrap_or_default()
    {
        let Value::Array(inner) = item else {
            return Err(Error::func(
                "flatten",
                format!("every element must be an array, not {}", type_name(&item)),
            ));
        };
        out.extend(inner);
    }
    Ok(Value::Array(out))
}

fn into_array(v: Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(a) => Some(a),
        _ => None,
    }
}

fn from_end(args: &[Value]) -> Option<Value> {
    let items = args[0].as_array()?;
    let i = usize::try_from(int_at(args, 1)).ok()?;
    (i >= 1 && i <= items.len()).then(|| items[items.len() - i].clone())
}

fn index_from_end(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    from_end(&args).ok_or_else(|| {
        Error::func(
            "indexFromEnd",
            format!(
                "index {} must be 1 to {} (the array's length)",
                int_at(&args, 1),
                args[0].as_array().map_or(0, Vec::len)
            ),
        )
    })
}

fn try_index_from_end(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(from_end(&args).unwrap_or(Value::Null))
}

fn intersection(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    if args.iter().all(Value::is_object) {
        let first = args[0].as_object().cloned().unwrap_or_default();
        let out: Map<String, Value> = first
            .into_iter()
            .filter(|(k, v)| args[1..].iter().all(|o| o.get(k) == Some(v)))
            .collect();
        Ok(Value::Object(out))
    } else if args.iter().all(Value::is_array) {
        let mut out: Vec<Value> = Vec::new();
        for item in args[0].as_array().into_iter().flatten() {
            if args[1..]
                .iter()
                .all(|a| a.as_array().is_some_and(|a| a.contains(item)))
                && !out.contains(item)
            {
                out.push(item.clone());
            }
        }
        Ok(Value::Array(out))
    } else {
        Err(Error::func(
            "intersection",
            "takes all arrays or all objects",
        ))
    }
}

fn length(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::from(match &args[0] {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => 0,
    }))
}

/// The most items `range()` builds.
const MAX_RANGE: i64 = 10_000;

fn range(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let (start, count) = (int_at(&args, 0), int_at(&args, 1));
    if !(0..=MAX_RANGE).contains(&count) || start.checked_add(count).is_none() {
        return Err(Error::func(
            "range",
            format!("count must be 0 to {MAX_RANGE} and start+count fit an integer; got start {start}, count {count}"),
        ));
    }
    Ok(Value::Array(
        (start..start + count).map(Value::from).collect(),
    ))
}

fn take(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    slice(args, true)
}

fn skip(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    slice(args, false)
}

fn slice(args: Vec<Value>, take: bool) -> Result<Value, Error> {
    let n = usize::try_from(int_at(&args, 1).max(0)).unwrap_or(0);
    Ok(match args.into_iter().next() {
        Some(Value::Array(a)) => Value::Array(if take {
            a.into_iter().take(n).collect()
        } else {
            a.into_iter().skip(n).collect()
        }),
        Some(Value::String(s)) => Value::String(if take {
            s.chars().take(n).collect()
        } else {
            s.chars().skip(n).collect()
        }),
        _ => Value::Null,
    })
}

/// Deep union of objects (later wins; nested objects merge), as ARM's `union` does.
fn merge_objects(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge_objects(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

fn union(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    if args.iter().all(Value::is_object) {
        let mut out = Map::new();
        for a in args {
            if let Value::Object(o) = a {
                merge_objects(&mut out, o);
            }
        }
        Ok(Value::Object(out))
    } else if args.iter().all(Value::is_array) {
        let mut out: Vec<Value> = Vec::new();
        for item in args.into_iter().filter_map(into_array).flatten() {
            if !out.contains(&item) {
                out.push(item);
            }
        }
        Ok(Value::Array(out))
    } else {
        Err(Error::func("union", "takes all arrays or all objects"))
    }
}
