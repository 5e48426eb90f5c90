//! Lambda functions (Microsoft's "Lambda functions for ARM templates"): `lambda('x', body)` is an argument
//! of `filter`, `map`, `reduce`, `sort`, `toObject`, `groupBy` or `mapValues`, and the body reads its
//! variables with `lambdaVariables('x')`. Results are bounded like any value a function builds.

use super::kinds::{ANY, S};
use super::string::to_text;
use super::Family::Lambda as F;
use super::{def, str_at, FunctionDef, Imp, MANY};
use crate::armexpr::eval::{type_name, Budget, Evaluator};
use crate::armexpr::parse::Expr;
use crate::armexpr::Error;
use serde_json::{Map, Value};

#[rustfmt::skip]
pub(super) const DEFS: &[FunctionDef] = &[
    def(F, "filter", (2, 2), &[], ANY, Imp::Lazy(filter), "the items for which the lambda is true"),
    def(F, "groupBy", (2, 2), &[], ANY, Imp::Lazy(group_by), "an object of arrays, keyed by the lambda"),
    def(F, "lambda", (1, MANY), &[S], ANY, Imp::Lazy(lambda), "a lambda: variable names, then the body"),
    def(F, "lambdaVariables", (1, 1), &[S], ANY, Imp::Eager(lambda_variables), "a lambda variable's value"),
    def(F, "map", (2, 2), &[], ANY, Imp::Lazy(map), "each item (and its index) through the lambda"),
    def(F, "mapValues", (2, 2), &[], ANY, Imp::Lazy(map_values), "each property value through the lambda"),
    def(F, "reduce", (3, 3), &[], ANY, Imp::Lazy(reduce), "folds the items (current, next, index) from an initial value"),
    def(F, "sort", (2, 2), &[], ANY, Imp::Lazy(sort), "stable sort; the lambda says whether a comes before b"),
    def(F, "toObject", (2, 3), &[], ANY, Imp::Lazy(to_object), "an object keyed by one lambda, values by another (or the item)"),
];

/// A lambda argument: its variable names and its body.
struct Lambda<'e> {
    names: Vec<String>,
    body: &'e Expr,
}

fn as_lambda<'e>(
    f: &str,
    expr: &'e Expr,
    arity: std::ops::RangeInclusive<usize>,
) -> Result<Lambda<'e>, Error> {
    let not_lambda = || {
        Error::func(
            f,
            format!(
                "needs a lambda('name', ..., body) with {} to {} variable(s) as its last argument",
                arity.start(),
                arity.end()
            ),
        )
    };
    let Expr::Call { name, args, .. } = expr else {
        return Err(not_lambda());
    };
    if !name.eq_ignore_ascii_case("lambda") {
        return Err(not_lambda());
    }
    let Some((body, vars)) = args.split_last() else {
        return Err(not_lambda());
    };
    let names = vars
        .iter()
        .map(|v| match v {
            Expr::Str(s) => Ok(s.clone()),
            _ => Err(Error::func(
                f,
                "lambda variable names must be string literals",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !arity.contains(&names.len()) {
        return Err(not_lambda());
    }
    Ok(Lambda { names, body })
}

impl Lambda<'_> {
    fn call(&self, ev: &Evaluator<'_>, values: Vec<Value>) -> Result<Value, Error> {
        ev.with_lambda(&self.names, values, self.body)
    }
}

fn array_arg(ev: &Evaluator<'_>, f: &str, expr: &Expr) -> Result<Vec<Value>, Error> {
    match ev.eval(expr)? {
        Value::Array(items) => Ok(items),
        v => Err(Error::func(
            f,
            format!("argument 1 must be an array, not {}", type_name(&v)),
        )),
    }
}

fn lambda(_: &Evaluator<'_>, _: &str, _: &[Expr]) -> Result<Value, Error> {
    Err(Error::func(
        "lambda",
        "may only be an argument of filter, map, reduce, sort, toObject, groupBy or mapValues",
    ))
}

fn lambda_variables(ev: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    ev.lambda_variable(str_at(&args, 0))
}

fn filter(ev: &Evaluator<'_>, _: &str, raw: &[Expr]) -> Result<Value, Error> {
    let items = array_arg(ev, "filter", &raw[0])?;
    let l = as_lambda("filter", &raw[1], 1..=2)?;
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match l.call(ev, vec![item.clone(), Value::from(i)])? {
            Value::Bool(true) => out.push(item),
            Value::Bool(false) => {}
            v => {
                return Err(Error::func(
                    "filter",
                    format!("the lambda must give a bool, not {}", type_name(&v)),
                ))
            }
        }
    }
    Ok(Value::Array(out))
}

fn map(ev: &Evaluator<'_>, _: &str, raw: &[Expr]) -> Result<Value, Error> {
    let items = array_arg(ev, "map", &raw[0])?;
    let l = as_lambda("map", &raw[1], 1..=2)?;
    let mut budget = Budget::default();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let v = l.call(ev, vec![item, Value::from(i)])?;
        budget.add(&v)?;
        out.push(v);
    }
    Ok(Value::Array(out))
}

fn reduce(ev: &Evaluator<'_>, _: &str, raw: &[Expr]) -> Result<Value, Error> {
    let items = array_arg(ev, "reduce", &raw[0])?;
    let mut acc = ev.eval(&raw[1])?;
    let l = as_lambda("reduce", &raw[2], 2..=3)?;
    for (i, item) in items.into_iter().enumerate() {
        acc = l.call(ev, vec![acc, item, Value::from(i)])?;
        Budget::default().add(&acc)?;
    }
    Ok(acc)
}

/// A stable merge sort with a fallible "comes before" test (a template's lambda may fail or be
/// inconsistent; neither may panic or loop).
fn sort(ev: &Evaluator<'_>, _: &str, raw: &[Expr]) -> Result<Value, Error> {
    let items = array_arg(ev, "sort", &raw[0])?;
    let l = as_lambda("sort", &raw[1], 2..=2)?;
    let before = |a: &Value, b: &Value| -> Result<bool, Error> {
        match l.call(ev, vec![a.clone(), b.clone()])? {
            Value::Bool(x) => Ok(x),
            v => Err(Error::func(
                "sort",
                format!("the lambda must give a bool, not {}", type_name(&v)),
            )),
        }
    };
    merge_sort(items, &before).map(Value::Array)
}

fn merge_sort(
    mut items: Vec<Value>,
    before: &dyn Fn(&Value, &Value) -> Result<bool, Error>,
) -> Result<Vec<Value>, Error> {
    if items.len() <= 1 {
        return Ok(items);
    }
    let right = items.split_off(items.len() / 2);
    let left = merge_sort(items, before)?;
    let right = merge_sort(right, before)?;
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
    loop {
        match (l.peek(), r.peek()) {
            (Some(a), Some(b)) => {
                // Take from the right only when it strictly comes first: equal items keep their order.
                if before(b, a)? {
                    out.extend(r.next());
                } else {
                    out.extend(l.next());
                }
            }
            (Some(_), None) => out.extend(l.by_ref()),
            (None, Some(_)) => out.extend(r.by_ref()),
            (None, None) => break,
        }
    }
    Ok(out)
}

fn key_text(f: &str, v: &Value) -> Result<String, Error> {
    match v {
        Value::Array(_) | Value::Object(_) => Err(Error::func(
            f,
            format!("the key lambda must give a string, not {}", type_name(v)),
        )),
        v => Ok(to_text(v)),
    }
}

fn to_object(ev: &Evaluator<'_>, _: &str, raw: &[Expr]) -> Result<Value, Error> {
    let items = array_arg(ev, "toObject", &raw[0])?;
    let key = as_lambda("toObject", &raw[1], 1..=1)?;
    let value = raw
        .get(2)
        .map(|r| as_lambda("toObject", r, 1..=1))
        .transpose()?;
    let mut budget = Budget::default();
    let mut out = Map::new();
    for item in items {
        let k = key_text("toObject", &key.call(ev, vec![item.clone()])?)?;
        let v = match &value {
            Some(l) => l.call(ev, vec![item])?,
            None => item,
        };
        budget.add(&v)?;
        out.insert(k, v);
    }
    Ok(Value::Object(out))
}

fn group_by(ev: &Evaluator<'_>, _: &str, raw: &[Expr]) -> Result<Value, Error> {
    let items = array_arg(ev, "groupBy", &raw[0])?;
    let key = as_lambda("groupBy", &raw[1], 1..=1)?;
    let mut out = Map::new();
    for item in items {
        let k = key_text("groupBy", &key.call(ev, vec![item.clone()])?)?;
        if let Value::Array(group) = out.entry(k).or_insert_with(|| Value::Array(Vec::new())) {
            group.push(item);
        }
    }
    Ok(Value::Object(out))
}

fn map_values(ev: &Evaluator<'_>, _: &str, raw: &[Expr]) -> Result<Value, Error> {
    let Value::Object(map) = ev.eval(&raw[0])? else {
        return Err(Error::func("mapValues", "argument 1 must be an object"));
    };
    let l = as_lambda("mapValues", &raw[1], 1..=1)?;
    let mut budget = Budget::default();
    let mut out = Map::new();
    for (k, v) in map {
        let v = l.call(ev, vec![v])?;
        budget.add(&v)?;
        out.insert(k, v);
    }
    Ok(Value::Object(out))
}
