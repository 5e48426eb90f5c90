//! Numeric functions (Microsoft's "Numeric functions for ARM templates").

use super::kinds::{ANY, I, SI};
use super::Family::Numeric as F;
use super::{checked, def, int_at, FunctionDef, Imp, Kind, MANY};
use crate::armexpr::eval::{type_name, Evaluator};
use crate::armexpr::Error;
use serde_json::Value;

#[rustfmt::skip]
pub(super) const DEFS: &[FunctionDef] = &[
    def(F, "add", (2, 2), &[I, I], ANY, Imp::Eager(add), "sum (overflow is an error)"),
    def(F, "copyIndex", (0, 2), &[SI, I], ANY, Imp::Eager(copy_index), "the copy loop's index, by loop name, plus an offset"),
    def(F, "div", (2, 2), &[I, I], ANY, Imp::Eager(div), "integer division (by zero is an error)"),
    def(F, "float", (1, 1), &[&[Kind::String, Kind::Int]], ANY, Imp::Eager(float), "a floating-point number"),
    def(F, "int", (1, 1), &[SI], ANY, Imp::Eager(int), "an integer from a string or integer"),
    def(F, "max", (1, MANY), &[], ANY, Imp::Eager(max), "largest of integers, or of one array of them"),
    def(F, "min", (1, MANY), &[], ANY, Imp::Eager(min), "smallest of integers, or of one array of them"),
    def(F, "mod", (2, 2), &[I, I], ANY, Imp::Eager(modulo), "remainder (by zero is an error)"),
    def(F, "mul", (2, 2), &[I, I], ANY, Imp::Eager(mul), "product (overflow is an error)"),
    def(F, "sub", (2, 2), &[I, I], ANY, Imp::Eager(sub), "difference (overflow is an error)"),
];

fn add(_: &Evaluator<'_>, _: &str, a: Vec<Value>) -> Result<Value, Error> {
    checked("add", int_at(&a, 0).checked_add(int_at(&a, 1)))
}
fn sub(_: &Evaluator<'_>, _: &str, a: Vec<Value>) -> Result<Value, Error> {
    checked("sub", int_at(&a, 0).checked_sub(int_at(&a, 1)))
}
fn mul(_: &Evaluator<'_>, _: &str, a: Vec<Value>) -> Result<Value, Error> {
    checked("mul", int_at(&a, 0).checked_mul(int_at(&a, 1)))
}
fn div(_: &Evaluator<'_>, _: &str, a: Vec<Value>) -> Result<Value, Error> {
    checked("div", int_at(&a, 0).checked_div(int_at(&a, 1)))
}
fn modulo(_: &Evaluator<'_>, _: &str, a: Vec<Value>) -> Result<Value, Error> {
    checked("mod", int_at(&a, 0).checked_rem(int_at(&a, 1)))
}

fn copy_index(ev: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let (loop_name, offset) = match args.as_slice() {
        [] => (None, 0),
        [Value::String(n)] => (Some(n.as_str()), 0),
        [Value::Number(_)] => (None, int_at(&args, 0)),
        [Value::String(n), _] => (Some(n.as_str()), int_at(&args, 1)),
        _ => {
            return Err(Error::func(
                "copyIndex",
                "takes an optional loop name and an optional offset",
            ))
        }
    };
    checked("copyIndex", ev.copy_index(loop_name)?.checked_add(offset))
}

fn float(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let f = match &args[0] {
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .ok_or_else(|| Error::func("float", format!("'{s}' is not a number")))?,
        v => v.as_f64().unwrap_or_default(),
    };
    Ok(serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number))
}

fn int(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    match &args[0] {
        Value::String(s) => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| Error::func("int", format!("'{s}' is not an integer"))),
        v => Ok(v.clone()),
    }
}

fn ints(f: &str, args: &[Value]) -> Result<Vec<i64>, Error> {
    let items: &[Value] = match args {
        [Value::Array(a)] => a,
        _ => args,
    };
    items
        .iter()
        .map(|v| {
            v.as_i64().ok_or_else(|| {
                Error::func(
                    f,
                    format!(
                        "takes integers, or one array of integers, not {}",
                        type_name(v)
                    ),
                )
            })
        })
        .collect()
}

fn min(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    ints("min", &args)?
        .into_iter()
        .min()
        .map(Value::from)
        .ok_or_else(|| Error::func("min", "the array is empty"))
}

fn max(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    ints("max", &args)?
        .into_iter()
        .max()
        .map(Value::from)
        .ok_or_else(|| Error::func("max", "the array is empty"))
}
