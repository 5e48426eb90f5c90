//! Logical functions (Microsoft's "Logical functions for ARM templates"). `if`, `and` and `or` evaluate only
//! the arguments they need, as ARM does.

use super::kinds::{ANY, B};
use super::Family::Logical as F;
use super::{def, FunctionDef, Imp, MANY};
use crate::armexpr::eval::{type_name, Evaluator};
use crate::armexpr::parse::Expr;
use crate::armexpr::Error;
use serde_json::Value;

#[rustfmt::skip]
pub(super) const DEFS: &[FunctionDef] = &[
    def(F, "and", (2, MANY), &[B], B, Imp::Lazy(and), "true when all are (stops at the first false)"),
    def(F, "bool", (1, 1), &[], ANY, Imp::Eager(bool), "a bool from `'true'`/`'false'` (any case), 0/1 or a bool"),
    def(F, "false", (0, 0), &[], ANY, Imp::Eager(false_), "false"),
    def(F, "if", (3, 3), &[B], ANY, Imp::Lazy(if_), "evaluates only the branch taken"),
    def(F, "not", (1, 1), &[B], ANY, Imp::Eager(not), "negation"),
    def(F, "or", (2, MANY), &[B], B, Imp::Lazy(or), "true when any is (stops at the first true)"),
    def(F, "true", (0, 0), &[], ANY, Imp::Eager(true_), "true"),
];

fn if_(ev: &Evaluator<'_>, _: &str, raw: &[Expr]) -> Result<Value, Error> {
    let cond = ev.eval(&raw[0])?;
    let Value::Bool(c) = cond else {
        return Err(Error::func(
            "if",
            format!("the condition must be a bool, not {}", type_name(&cond)),
        ));
    };
    ev.eval(if c { &raw[1] } else { &raw[2] })
}

fn short_circuit(ev: &Evaluator<'_>, f: &str, raw: &[Expr], stop: bool) -> Result<Value, Error> {
    for (i, a) in raw.iter().enumerate() {
        match ev.eval(a)? {
            Value::Bool(b) if b == stop => return Ok(Value::Bool(stop)),
            Value::Bool(_) => {}
            v => {
                return Err(Error::func(
                    f,
                    format!("argument {} must be a bool, not {}", i + 1, type_name(&v)),
                ))
            }
        }
    }
    Ok(Value::Bool(!stop))
}

fn and(ev: &Evaluator<'_>, _: &str, raw: &[Expr]) -> Result<Value, Error> {
    short_circuit(ev, "and", raw, false)
}

fn or(ev: &Evaluator<'_>, _: &str, raw: &[Expr]) -> Result<Value, Error> {
    short_circuit(ev, "or", raw, true)
}

fn bool(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    match &args[0] {
        Value::Bool(b) => Ok(Value::Bool(*b)),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(Value::Bool(false)),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(Value::Bool(true)),
        v => Err(Error::func("bool", format!("cannot convert {v} to a bool"))),
    }
}

fn false_(_: &Evaluator<'_>, _: &str, _: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::Bool(false))
}

fn true_(_: &Evaluator<'_>, _: &str, _: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::Bool(true))
}

fn not(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::Bool(!args[0].as_bool().unwrap_or_default()))
}
