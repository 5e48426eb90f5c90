//! String functions (Microsoft's "String functions for ARM templates").

use super::kinds::{ANY, I, S, SA};
use super::{all_strings, def, int_at, str_at, FunctionDef, Imp, MANY};
use super::{Family::String as F, Kind};
use crate::armexpr::eval::{type_name, Evaluator, MAX_VALUE_BYTES};
use crate::armexpr::ids;
use crate::armexpr::Error;
use base64::Engine as _;
use serde_json::Value;

#[rustfmt::skip]
pub(super) const DEFS: &[FunctionDef] = &[
    def(F, "base64", (1, 1), &[S], ANY, Imp::Eager(base64), "base64 of the UTF-8 text"),
    def(F, "base64ToJson", (1, 1), &[S], ANY, Imp::Eager(base64_to_json), "decodes base64 and parses JSON"),
    def(F, "base64ToString", (1, 1), &[S], ANY, Imp::Eager(base64_to_string), "decodes base64 to UTF-8 text"),
    def(F, "concat", (0, MANY), &[], ANY, Imp::Eager(concat), "joins strings (and ints, bools), or arrays"),
    def(F, "dataUri", (1, 1), &[], ANY, Imp::Eager(data_uri), "a base64 `data:` URI of the text"),
    def(F, "dataUriToString", (1, 1), &[S], ANY, Imp::Eager(data_uri_to_string), "the text of a base64 data URI"),
    def(F, "endsWith", (2, 2), &[S, S], ANY, Imp::Eager(ends_with), "case-insensitive"),
    def(F, "format", (1, MANY), &[S], ANY, Imp::Eager(format), ".NET composite formatting (`{0}`, `{0,5}`, `{0:D3}`, `{0:X}`, `{0:N}`)"),
    def(F, "guid", (1, MANY), &[S], S, Imp::Eager(guid), "Azure's deterministic v5 GUID"),
    def(F, "indexOf", (2, 2), &[SA], ANY, Imp::Eager(index_of), "case-insensitive in strings; exact in arrays"),
    def(F, "join", (2, 2), &[&[Kind::Array], S], ANY, Imp::Eager(join), "joins an array's items with a delimiter"),
    def(F, "lastIndexOf", (2, 2), &[SA], ANY, Imp::Eager(last_index_of), "case-insensitive in strings; exact in arrays"),
    def(F, "newGuid", (0, 0), &[], ANY, Imp::Eager(new_guid), "a random GUID, only in a parameter's defaultValue"),
    def(F, "padLeft", (2, 3), &[ANY, I, S], ANY, Imp::Eager(pad_left), "pads on the left to a length"),
    def(F, "replace", (3, 3), &[S, S, S], ANY, Imp::Eager(replace), "replaces every occurrence (case-sensitive)"),
    def(F, "split", (2, 2), &[S, SA], ANY, Imp::Eager(split), "splits on one or more delimiters"),
    def(F, "startsWith", (2, 2), &[S, S], ANY, Imp::Eager(starts_with), "case-insensitive"),
    def(F, "string", (1, 1), &[], ANY, Imp::Eager(string), "text as ARM writes it (`True`, compact JSON)"),
    def(F, "substring", (2, 3), &[S, I, I], ANY, Imp::Eager(substring), "characters from a start, for a length"),
    def(F, "toLower", (1, 1), &[S], ANY, Imp::Eager(to_lower), "lower case"),
    def(F, "toUpper", (1, 1), &[S], ANY, Imp::Eager(to_upper), "upper case"),
    def(F, "trim", (1, 1), &[S], ANY, Imp::Eager(trim), "removes leading and trailing white space"),
    def(F, "uniqueString", (1, MANY), &[S], S, Imp::Eager(unique_string), "Azure's 13-character hash"),
    def(F, "uri", (2, 2), &[S, S], ANY, Imp::Eager(uri), "joins a base URI and a relative one"),
    def(F, "uriComponent", (1, 1), &[S], ANY, Imp::Eager(uri_component), "percent-encodes as .NET `EscapeDataString`"),
    def(F, "uriComponentToString", (1, 1), &[S], ANY, Imp::Eager(uri_component_to_string), "percent-decodes"),
];

/// How ARM turns a value into text (`string()`, `concat`, `format`): .NET's spelling of booleans, compact JSON
/// for arrays and objects, nothing for null.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(true) => "True".to_string(),
        Value::Bool(false) => "False".to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// The widest padding or alignment a template may ask for: keeps hostile templates from exhausting memory.
pub(crate) const MAX_TEXT: i64 = 131_072;

/// Refuse before building a string of `len` bytes that would pass the value bound.
fn fits(len: usize) -> Result<(), Error> {
    if len > MAX_VALUE_BYTES {
        return Err(Error::ValueTooLarge {
            limit: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

fn base64(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(str_at(&args, 0)),
    ))
}

fn decode_base64(f: &str, text: &str) -> Result<String, Error> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| Error::func(f, format!("not valid base64: {e}")))?;
    String::from_utf8(bytes).map_err(|_| Error::func(f, "the decoded bytes are not UTF-8"))
}

fn base64_to_string(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    decode_base64("base64ToString", str_at(&args, 0)).map(Value::String)
}

fn base64_to_json(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let text = decode_base64("base64ToJson", str_at(&args, 0))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::func("base64ToJson", format!("not valid JSON: {e}")))
}

fn concat(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    if args.is_empty() {
        return Ok(Value::String(String::new()));
    }
    if args.iter().all(|a| a.is_array() || a.is_null()) && args.iter().any(Value::is_array) {
        let mut out = Vec::new();
        for a in args {
            if let Value::Array(items) = a {
                out.extend(items);
            }
        }
        return Ok(Value::Array(out));
    }
    if let Some(a) = args.iter().find(|a| a.is_array() || a.is_object()) {
        return Err(Error::func(
            "concat",
            format!(
                "cannot mix {} with strings; give all arrays or all strings",
                type_name(a)
            ),
        ));
    }
    let texts: Vec<String> = args.iter().map(to_text).collect();
    fits(texts.iter().map(String::len).sum())?;
    Ok(Value::String(texts.concat()))
}

fn data_uri(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::String(format!(
        "data:text/plain;charset=utf8;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(to_text(&args[0]))
    )))
}

fn data_uri_to_string(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let (meta, data) = str_at(&args, 0)
        .strip_prefix("data:")
        .and_then(|r| r.split_once(','))
        .ok_or_else(|| Error::func("dataUriToString", "not a data URI"))?;
    if !meta.ends_with(";base64") {
        return Err(Error::func(
            "dataUriToString",
            "only base64 data URIs are supported",
        ));
    }
    decode_base64("dataUriToString", data).map(Value::String)
}

fn starts_with(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let s = str_at(&args, 0).to_lowercase();
    Ok(Value::Bool(s.starts_with(&str_at(&args, 1).to_lowercase())))
}

fn ends_with(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let s = str_at(&args, 0).to_lowercase();
    Ok(Value::Bool(s.ends_with(&str_at(&args, 1).to_lowercase())))
}

fn index_of(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    find(&args, false)
}

fn last_index_of(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    find(&args, true)
}

fn find(args: &[Value], last: bool) -> Result<Value, Error> {
    // Arrays: exact (case-sensitive) match of any value.
    if let Value::Array(items) = &args[0] {
        let found = if last {
            items.iter().rposition(|i| *i == args[1])
        } else {
            items.iter().position(|i| *i == args[1])
        };
        return Ok(Value::from(found.map_or(-1, |i| i as i64)));
    }
    let Value::String(t) = &args[1] else {
        return Err(Error::func(
            if last { "lastIndexOf" } else { "indexOf" },
            format!("argument 2 must be a string, not {}", type_name(&args[1])),
        ));
    };
    let s = str_at(args, 0).to_lowercase();
    let t = t.to_lowercase();
    let found = if last { s.rfind(&t) } else { s.find(&t) };
    Ok(Value::from(
        found.map_or(-1, |b| s[..b].chars().count() as i64),
    ))
}

fn join(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let items = args[0].as_array().map(Vec::as_slice).unwrap_or_default();
    if let Some(bad) = items.iter().find(|i| i.is_array() || i.is_object()) {
        return Err(Error::func(
            "join",
            format!("cannot join {} values", type_name(bad)),
        ));
    }
    let sep = str_at(&args, 1);
    let texts: Vec<String> = items.iter().map(to_text).collect();
    fits(texts.iter().map(String::len).sum::<usize>() + sep.len() * texts.len())?;
    Ok(Value::String(texts.join(sep)))
}

fn new_guid(ev: &Evaluator<'_>, _: &str, _: Vec<Value>) -> Result<Value, Error> {
    // ARM allows newGuid() only in a parameter's default value, the same place as utcNow(): the context
    // offers the deployment time exactly there.
    if ev.ctx.utc_now().is_none() {
        return Err(Error::func(
            "newGuid",
            "may only be used in a parameter's defaultValue",
        ));
    }
    Ok(Value::String(uuid::Uuid::new_v4().to_string()))
}

fn pad_left(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let s = to_text(&args[0]);
    let width = int_at(&args, 1);
    let pad = match args.get(2) {
        None => ' ',
        Some(_) => {
            let mut cs = str_at(&args, 2).chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => c,
                _ => {
                    return Err(Error::func(
                        "padLeft",
                        "the padding must be exactly one character",
                    ))
                }
            }
        }
    };
    if !(0..=MAX_TEXT).contains(&width) {
        return Err(Error::func(
            "padLeft",
            format!("the length must be 0 to {MAX_TEXT}, got {width}"),
        ));
    }
    let have = s.chars().count() as i64;
    let need = usize::try_from((width - have).max(0)).unwrap_or(0);
    Ok(Value::String(format!(
        "{}{s}",
        pad.to_string().repeat(need)
    )))
}

fn replace(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let (s, old, new) = (str_at(&args, 0), str_at(&args, 1), str_at(&args, 2));
    if old.is_empty() {
        return Err(Error::func(
            "replace",
            "the string to replace must not be empty",
        ));
    }
    if new.len() > old.len() {
        let hits = s.matches(old).count();
        fits(s.len() + hits.saturating_mul(new.len() - old.len()))?;
    }
    Ok(Value::String(s.replace(old, new)))
}

fn split(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let s = str_at(&args, 0);
    let seps: Vec<&str> = match &args[1] {
        Value::String(d) => vec![d.as_str()],
        Value::Array(ds) => ds
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()
            .ok_or_else(|| Error::func("split", "delimiters must be strings"))?,
        _ => Vec::new(),
    };
    if seps.iter().any(|s| s.is_empty()) {
        return Err(Error::func("split", "a delimiter must not be empty"));
    }
    let mut parts = vec![s.to_string()];
    for sep in &seps {
        parts = parts
            .iter()
            .flat_map(|p| p.split(sep).map(str::to_string).collect::<Vec<_>>())
            .collect();
    }
    Ok(Value::Array(parts.into_iter().map(Value::String).collect()))
}

fn string(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::String(to_text(&args[0])))
}

fn substring(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let s = str_at(&args, 0);
    let len_chars = s.chars().count() as i64;
    let start = int_at(&args, 1);
    let len = if args.len() == 3 {
        int_at(&args, 2)
    } else {
        len_chars - start
    };
    if start < 0 || len < 0 || start > len_chars || start.saturating_add(len) > len_chars {
        return Err(Error::func(
            "substring",
            format!(
                "start {start} and length {len} must lie within the string '{s}' (length {len_chars})"
            ),
        ));
    }
    Ok(Value::String(
        s.chars().skip(start as usize).take(len as usize).collect(),
    ))
}

fn to_lower(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::String(str_at(&args, 0).to_lowercase()))
}

fn to_upper(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::String(str_at(&args, 0).to_uppercase()))
}

fn trim(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::String(str_at(&args, 0).trim().to_string()))
}

fn guid(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::String(ids::guid(&all_strings(&args))))
}

fn unique_string(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::String(ids::unique_string(&all_strings(&args))))
}

fn uri(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    let (base, rel) = (str_at(&args, 0), str_at(&args, 1));
    let base = url::Url::parse(base)
        .map_err(|e| Error::func("uri", format!("'{base}' is not an absolute URI: {e}")))?;
    base.join(rel)
        .map(|u| Value::String(u.to_string()))
        .map_err(|e| Error::func("uri", format!("cannot join '{rel}': {e}")))
}

/// Like .NET `Uri.EscapeDataString`: everything but unreserved characters is percent-encoded.
const URI_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn uri_component(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    Ok(Value::String(
        percent_encoding::utf8_percent_encode(str_at(&args, 0), URI_COMPONENT).to_string(),
    ))
}

fn uri_component_to_string(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    percent_encoding::percent_decode_str(str_at(&args, 0))
        .decode_utf8()
        .map(|s| Value::String(s.into_owned()))
        .map_err(|_| Error::func("uriComponentToString", "the decoded bytes are not UTF-8"))
}

fn format(_: &Evaluator<'_>, _: &str, args: Vec<Value>) -> Result<Value, Error> {
    format_net(str_at(&args, 0), &args[1..]).map(Value::String)
}

/// .NET composite formatting: `{0}`, `{1:D3}`, `{0,5}`, `{{` and `}}`.
fn format_net(fmt: &str, args: &[Value]) -> Result<String, Error> {
    let mut out = String::with_capacity(fmt.len());
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut spec = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(ch) => spec.push(ch),
                        None => {
                            return Err(Error::func(
                                "format",
                                format!("unclosed '{{' in format string '{fmt}'"),
                            ))
                        }
                    }
                }
                let (head, fmt_spec) = match spec.split_once(':') {
                    Some((h, s)) => (h, Some(s)),
                    None => (spec.as_str(), None),
                };
                let (index, align) = match head.split_once(',') {
                    Some((i, a)) => (i.trim(), Some(a.trim())),
                    None => (head.trim(), None),
                };
                let index: usize = index.parse().map_err(|_| {
                    Error::func("format", format!("bad placeholder '{{{spec}}}' in '{fmt}'"))
                })?;
                let arg = args.get(index).ok_or_else(|| {
                    Error::func(
                        "format",
                        format!(
                            "placeholder {{{index}}} but only {} argument(s) given",
                            args.len()
                        ),
                    )
                })?;
                let text = match fmt_spec {
                    None => to_text(arg),
                    Some(s) => format_spec(arg, s)?,
                };
                match align.map(str::parse::<i64>) {
                    None => out.push_str(&text),
                    Some(Ok(w)) if w.unsigned_abs() > MAX_TEXT as u64 => {
                        return Err(Error::func(
                            "format",
                            format!("alignment {w} is wider than {MAX_TEXT}"),
                        ));
                    }
                    Some(Ok(w)) => {
                        let width = w.unsigned_abs() as usize;
                        if w >= 0 {
                            out.push_str(&format!("{text:>width$}"));
                        } else {
                            out.push_str(&format!("{text:<width$}"));
                        }
                    }
                    Some(Err(_)) => {
                        return Err(Error::func(
                            "format",
                            format!("bad alignment in '{{{spec}}}'"),
                        ));
                    }
                }
                fits(out.len())?;
            }
            '}' => {
                return Err(Error::func(
                    "format",
                    format!("unmatched '}}' in format string '{fmt}'"),
                ))
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

fn format_spec(arg: &Value, spec: &str) -> Result<String, Error> {
    let unsupported = || {
        Error::func(
            "format",
            format!("format specifier '{spec}' is not supported for {arg}"),
        )
    };
    let n = arg.as_i64().ok_or_else(unsupported)?;
    let split = spec.chars().next().map_or(0, char::len_utf8);
    let (kind, digits) = spec.split_at(split);
    let width: usize = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| unsupported())?
    };
    if width > 64 {
        return Err(unsupported());
    }
    match kind {
        "D" | "d" => {
            let s = format!("{:0width$}", n.unsigned_abs());
            Ok(if n < 0 { format!("-{s}") } else { s })
        }
        "X" => Ok(format!("{n:0width$X}")),
        "x" => Ok(format!("{n:0width$x}")),
        "N" | "n" if width == 0 => {
            let digits = n.unsigned_abs().to_string();
            let mut grouped = String::new();
            for (i, ch) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i) % 3 == 0 {
                    grouped.push(',');
                }
                grouped.push(ch);
            }
            Ok(if n < 0 {
                format!("-{grouped}")
            } else {
                grouped
            })
        }
        _ => Err(unsupported()),
    }
}
