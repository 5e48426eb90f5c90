//! ARM's built-in functions as one registry. Each [`FunctionDef`] names a function (its canonical spelling),
//! its family, how many arguments it takes and of which types, and what runs it. The evaluator dispatches
//! through [`lookup`] (names match case-insensitively, as in ARM), and the documented list
//! (`docs/armexpr.md`, [`markdown_table`]) is rendered from the same table, so the two cannot drift apart.
//!
//! The shape follows PowerShell DSC's `dsc_lib/src/functions/` (Microsoft, MIT): a function's metadata
//! (family, min/max arity, accepted types per position and for the rest) is checked once, by the
//! dispatcher, before the function runs.

mod array;
mod cidr;
mod comparison;
mod date;
mod deployment;
mod lambda;
mod logical;
mod numeric;
mod object;
mod resource;
mod scope;
mod string;

use super::eval::{type_name, Evaluator};
use super::parse::Expr;
use super::Error;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::LazyLock;

pub use string::to_text;

/// The families of Microsoft's template function reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    Array,
    Cidr,
    Comparison,
    Date,
    Deployment,
    Lambda,
    Logical,
    Numeric,
    Object,
    Resource,
    Scope,
    String,
}

impl Family {
    /// The family's name as Microsoft's reference titles it.
    pub fn title(self) -> &'static str {
        match self {
            Family::Array => "array",
            Family::Cidr => "CIDR",
            Family::Comparison => "comparison",
            Family::Date => "date",
            Family::Deployment => "deployment",
            Family::Lambda => "lambda",
            Family::Logical => "logical",
            Family::Numeric => "numeric",
            Family::Object => "object",
            Family::Resource => "resource",
            Family::Scope => "scope",
            Family::String => "string",
        }
    }
}

/// A JSON type an argument may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Int,
    Bool,
    Array,
    Object,
    Null,
}

impl Kind {
    fn matches(self, v: &Value) -> bool {
        match self {
            Kind::String => v.is_string(),
            Kind::Int => v.is_i64() || v.is_u64(),
            Kind::Bool => v.is_boolean(),
            Kind::Array => v.is_array(),
            Kind::Object => v.is_object(),
            Kind::Null => v.is_null(),
        }
    }

    fn article(self) -> &'static str {
        match self {
            Kind::String => "a string",
            Kind::Int => "an integer",
            Kind::Bool => "a bool",
            Kind::Array => "an array",
            Kind::Object => "an object",
            Kind::Null => "null",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Int => "int",
            Kind::Bool => "bool",
            Kind::Array => "array",
            Kind::Object => "object",
            Kind::Null => "null",
        }
    }
}

/// Argument type lists used by the table. An empty list accepts any type.
pub(crate) mod kinds {
    use super::Kind;
    pub const ANY: &[Kind] = &[];
    pub const S: &[Kind] = &[Kind::String];
    pub const I: &[Kind] = &[Kind::Int];
    pub const B: &[Kind] = &[Kind::Bool];
    pub const A: &[Kind] = &[Kind::Array];
    pub const O: &[Kind] = &[Kind::Object];
    pub const SA: &[Kind] = &[Kind::String, Kind::Array];
    pub const SAO: &[Kind] = &[Kind::String, Kind::Array, Kind::Object];
    pub const AO: &[Kind] = &[Kind::Array, Kind::Object];
    pub const SI: &[Kind] = &[Kind::String, Kind::Int];
}

/// Evaluated arguments in, a value out. `name` is the function's name as the template wrote it.
pub(crate) type Eager = fn(&Evaluator<'_>, &str, Vec<Value>) -> Result<Value, Error>;
/// Unevaluated arguments in: for functions that evaluate only some of them (`if`, `and`, `or`) or bind
/// variables first (the lambda functions).
pub(crate) type Lazy = fn(&Evaluator<'_>, &str, &[Expr]) -> Result<Value, Error>;

/// How a function runs.
#[derive(Clone, Copy)]
pub(crate) enum Imp {
    Eager(Eager),
    Lazy(Lazy),
    /// A function ARM has that trustprint refuses, with why.
    Refused(&'static str),
}

/// One built-in function.
#[derive(Clone, Copy)]
pub struct FunctionDef {
    /// The canonical spelling (Microsoft's reference). `list*` stands for every `list...` action.
    pub name: &'static str,
    pub family: Family,
    /// Fewest arguments.
    pub min: usize,
    /// Most arguments; `usize::MAX` for any number.
    pub max: usize,
    /// Accepted types of the first arguments, by position (an empty list accepts any type).
    pub args: &'static [&'static [Kind]],
    /// Accepted types of the arguments after those in `args`.
    pub rest: &'static [Kind],
    /// One line for the documentation.
    pub summary: &'static str,
    pub(crate) imp: Imp,
}

impl std::fmt::Debug for FunctionDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionDef")
            .field("name", &self.name)
            .field("family", &self.family)
            .field("min", &self.min)
            .field("max", &self.max)
            .finish()
    }
}

impl FunctionDef {
    /// Whether trustprint evaluates it (refused functions are listed, with why, but give an error).
    pub fn is_supported(&self) -> bool {
        !matches!(self.imp, Imp::Refused(_))
    }

    /// Why a refused function is refused.
    pub fn refusal(&self) -> Option<&'static str> {
        match self.imp {
            Imp::Refused(r) => Some(r),
            _ => None,
        }
    }

    /// The accepted types of argument `i` (0-based); empty means any.
    fn kinds_at(&self, i: usize) -> &'static [Kind] {
        self.args.get(i).copied().unwrap_or(self.rest)
    }

    /// `(string, int?)`-style signature for the documentation.
    pub fn signature(&self) -> String {
        let shown = if self.max == usize::MAX {
            self.args.len().max(self.min) + 1
        } else {
            self.max
        };
        let mut parts = Vec::new();
        for i in 0..shown {
            let kinds = self.kinds_at(i);
            let mut t = if kinds.is_empty() {
                "any".to_string()
            } else {
                kinds
                    .iter()
                    .map(|k| k.short())
                    .collect::<Vec<_>>()
                    .join("/")
            };
            if self.max == usize::MAX && i + 1 == shown {
                t.push_str("...");
            } else if i >= self.min {
                t.push('?');
            }
            parts.push(t);
        }
        format!("({})", parts.join(", "))
    }

    fn check(&self, name: &str, args: &[Value]) -> Result<(), Error> {
        check_arity(self.name_in_errors(name), args.len(), self.min, self.max)?;
        for (i, a) in args.iter().enumerate() {
            let kinds = self.kinds_at(i);
            if !kinds.is_empty() && !kinds.iter().any(|k| k.matches(a)) {
                let want = kinds
                    .iter()
                    .map(|k| k.article())
                    .collect::<Vec<_>>()
                    .join(" or ");
                return Err(Error::Signature {
                    function: self.name_in_errors(name).to_string(),
                    message: format!("argument {} must be {want}, not {}", i + 1, type_name(a)),
                });
            }
        }
        Ok(())
    }

    /// Errors name the function as Microsoft spells it, except the `list*` family (named as written).
    fn name_in_errors<'a>(&'a self, written: &'a str) -> &'a str {
        if self.name == LIST {
            written
        } else {
            self.name
        }
    }
}

const LIST: &str = "list*";

pub(crate) fn check_arity(f: &str, n: usize, min: usize, max: usize) -> Result<(), Error> {
    if n < min || n > max {
        let want = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(Error::Signature {
            function: f.to_string(),
            message: format!("takes {want} argument(s), got {n}"),
        });
    }
    Ok(())
}

/// Every built-in function, by family.
pub fn registry() -> &'static [FunctionDef] {
    static ALL: LazyLock<Vec<FunctionDef>> = LazyLock::new(|| {
        let mut all: Vec<FunctionDef> = [
            array::DEFS,
            cidr::DEFS,
            comparison::DEFS,
            date::DEFS,
            deployment::DEFS,
            lambda::DEFS,
            logical::DEFS,
            numeric::DEFS,
            object::DEFS,
            resource::DEFS,
            scope::DEFS,
            string::DEFS,
        ]
        .concat();
        all.sort_by_key(|d| (d.family, d.name.to_ascii_lowercase()));
        all
    });
    &ALL
}

/// The function named `name` (any case), or the `list*` entry for `list...` actions.
pub fn lookup(name: &str) -> Option<&'static FunctionDef> {
    static BY_NAME: LazyLock<HashMap<String, &'static FunctionDef>> = LazyLock::new(|| {
        registry()
            .iter()
            .map(|d| (d.name.to_ascii_lowercase(), d))
            .collect()
    });
    // Every call in a template comes through here: lower-case short names on the stack, not the heap.
    let mut buf = [0u8; 48];
    let heap;
    let lower: &str = match buf.get_mut(..name.len()) {
        Some(b) => {
            b.copy_from_slice(name.as_bytes());
            b.make_ascii_lowercase();
            // Lower-casing ASCII letters keeps UTF-8 valid.
            std::str::from_utf8(b).unwrap_or_default()
        }
        None => {
            heap = name.to_ascii_lowercase();
            &heap
        }
    };
    BY_NAME.get(lower).copied().or_else(|| {
        // `list` itself is an action too: Bicep's `config.list()` is `list(resourceId(...), version)`.
        lower
            .starts_with("list")
            .then(|| BY_NAME.get(LIST).copied())
            .flatten()
    })
}

/// The names trustprint evaluates, lower case: what the documentation lists as supported.
pub fn supported() -> Vec<String> {
    registry()
        .iter()
        .filter(|d| d.is_supported())
        .map(|d| d.name.to_ascii_lowercase())
        .collect()
}

/// The function table of `docs/armexpr.md`, rendered from the registry (a test keeps the two equal).
pub fn markdown_table() -> String {
    let mut out =
        String::from("| family | function | arguments | status |\n| --- | --- | --- | --- |\n");
    for d in registry() {
        let status = match d.refusal() {
            None => d.summary.to_string(),
            Some(why) => format!("refused: {why}"),
        };
        out.push_str(&format!(
            "| {} | `{}` | `{}` | {} |\n",
            d.family.title(),
            d.name,
            d.signature(),
            status
        ));
    }
    out
}

impl Evaluator<'_> {
    /// Call a function by name with unevaluated arguments; the result comes with its size (as
    /// [`super::eval::Budget`] counts it), measured once here.
    pub(crate) fn call(&self, name: &str, raw: &[Expr]) -> Result<(Value, usize), Error> {
        if name.contains('.') {
            let args = self.args(raw)?;
            let value = self.user_function(name, &args)?;
            let size = super::eval::size_of(&value);
            return Ok((value, size));
        }
        let Some(def) = lookup(name) else {
            return Err(unknown(name));
        };
        let value = match def.imp {
            Imp::Refused(reason) => {
                return Err(Error::UnknownFunction {
                    name: name.to_string(),
                    reason: reason.to_string(),
                })
            }
            Imp::Lazy(f) => {
                check_arity(def.name_in_errors(name), raw.len(), def.min, def.max)?;
                f(self, name, raw)?
            }
            Imp::Eager(f) => {
                let args = self.args(raw)?;
                def.check(name, &args)?;
                f(self, name, args)?
            }
        };
        self.bounded(value)
    }
}

fn unknown(name: &str) -> Error {
    let lower = name.to_ascii_lowercase();
    let suggestion = registry()
        .iter()
        .filter(|d| d.is_supported() && d.name != LIST)
        .map(|d| {
            (
                strsim::levenshtein(&d.name.to_ascii_lowercase(), &lower),
                d.name,
            )
        })
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, s)| format!("; did you mean '{s}'?"))
        .unwrap_or_default();
    Error::UnknownFunction {
        name: name.to_string(),
        reason: format!("not an ARM template function{suggestion}"),
    }
}

// ---- helpers the families share (arguments are already checked against the table) ----

pub(crate) fn str_at(args: &[Value], i: usize) -> &str {
    args.get(i).and_then(Value::as_str).unwrap_or_default()
}

pub(crate) fn int_at(args: &[Value], i: usize) -> i64 {
    args.get(i).and_then(Value::as_i64).unwrap_or_default()
}

pub(crate) fn all_strings(args: &[Value]) -> Vec<&str> {
    args.iter().filter_map(Value::as_str).collect()
}

pub(crate) fn checked(f: &str, r: Option<i64>) -> Result<Value, Error> {
    r.map(Value::from)
        .ok_or_else(|| Error::func(f, "integer overflow or division by zero"))
}

pub(crate) fn func_err(f: &str, e: Error) -> Error {
    match e {
        Error::Template { message } => Error::func(f, message),
        e => e,
    }
}

#[cfg(test)]
mod tests;

/// A table entry (keeps the family tables one line of metadata per function).
pub(crate) const fn def(
    family: Family,
    name: &'static str,
    arity: (usize, usize),
    args: &'static [&'static [Kind]],
    rest: &'static [Kind],
    imp: Imp,
    summary: &'static str,
) -> FunctionDef {
    FunctionDef {
        name,
        family,
        min: arity.0,
        max: arity.1,
        args,
        rest,
        summary,
        imp,
    }
}

/// Any number of arguments.
pub(crate) const MANY: usize = usize::MAX;
