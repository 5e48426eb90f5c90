//! Comparison functions (Microsoft's "Comparison functions for ARM templates").

use super::kinds::ANY;
use super::Family::Comparison as F;
use super::{def, FunctionDef, Imp, MANY};
use crate::armexpr::eval::{type_name, Evaluator};
use crate::armexpr::Error;
use serde_json::Value;
use std::cmp::Ordering;

#[rustfmt::skip]
pub(super) const DEFS: &[FunctionDef] = &[
    def(F, "coalesce", (1, MANY), &[], ANY, Imp::Eager(coalesce), "the first argument that is not null"),
    def(F, "equals", (2, 2), &[], ANY, Imp::Eager(equals), "deep equality"),
    def(F, "greater", (2, 2), &[], ANY, Imp::Eager(greater), "two ints or two strings (ordinal)"),
    def(F, "greaterOrEquals", (2, 2), &[], ANY, Imp::Eager(greater_or_equals), "two ints or two strings (ordinal)"),
    def(F, "less", (2, 2), &[], ANY, Imp::Eager(less), "two ints or two strings (ordinal)"),
    def(F, "lessOrEquals", (2, 2), &[], ANY, Imp::Eager(less_or_equals), "two ints or two strings (ordinal)"),
];

fn coalesce(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(args
        .into_iter()
        .find(|a| !a.is_null())
        .unwrap_or(Value::Null))
}

fn equals(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::Bool(args[0] == args[1]))
}

fn order(f: &str, args: &[Value]) -> Result<Ordering, Error> {
    match (&args[0], &args[1]) {
        (Value::Number(a), Value::Number(b)) => Ok(a.as_i64().cmp(&b.as_i64())),
        (Value::String(a), Value::String(b)) => Ok(a.cmp(b)),
        (a, b) => Err(Error::func(
            f,
            format!(
                "can compare two ints or two strings, not {} and {}",
                type_name(a),
                type_name(b)
            ),
        )),
    }
}

fn less(_: &Evaluator<'_>, _: &str, a: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::Bool(order("less", &a)? == Ordering::Less))
}
fn less_or_equals(_: &Evaluator<'_>, _: &str, a: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::Bool(order("lessOrEquals", &a)? != Ordering::Greater))
}
fn greater(_: &Evaluator<'_>, _: &str, a: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::Bool(order("greater", &a)? == Ordering::Greater))
}
fn greater_or_equals(_: &Evaluator<'_>, _: &str, a: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::Bool(order("greaterOrEquals", &a)? != Ordering::Less))
}
