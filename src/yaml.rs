//! YAML with positions: the one parser behind values files and blueprint manifests.
//!
//! serde_yaml drops positions, so diagnostics could not point at the offending line. This module builds a small
//! tree from yaml-rust2's event parser in which every node carries its line and column, and it refuses, with a
//! diagnostic each, the inputs that would otherwise crash, hang or silently mislead: files over [`MAX_BYTES`],
//! non-UTF-8 bytes, tabs in indentation, several documents, aliases (so alias bombs cannot expand), duplicate
//! keys (both positions named), non-scalar keys and nesting deeper than [`MAX_DEPTH`].

use crate::diag::Diagnostic;
use serde_json::Value;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The largest file accepted (1 MiB): values files and manifests are a few kilobytes.
pub const MAX_BYTES: usize = 1024 * 1024;
/// The deepest nesting accepted; real files nest a handful of levels.
pub const MAX_DEPTH: usize = 64;

pub use crate::diag::Span;

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub kind: Kind,
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A scalar: its text and whether it was quoted (quoted scalars are always strings).
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    /// Keys in file order, each with its own position.
    Map(Vec<(Key, Node)>),
}

/// A mapping key.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub text: String,
    pub span: Span,
}

/// One step of a path into a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

impl Node {
    /// The scalar's value under the YAML 1.2 core schema (`null`/`~`/empty, `true`/`false`, integers, floats;
    /// quoted scalars are strings), or the whole subtree as JSON.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            Kind::Scalar { text, quoted } => scalar_value(text, *quoted),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.text.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// A node without position built from JSON (values that came from a fleet file or the manifest's defaults).
    pub fn from_json(v: &Value) -> Node {
        let kind = match v {
            Value::Null => Kind::Scalar {
                text: "null".into(),
                quoted: false,
            },
            Value::Bool(b) => Kind::Scalar {
                text: b.to_string(),
                quoted: false,
            },
            Value::Number(n) => Kind::Scalar {
                text: n.to_string(),
                quoted: false,
            },
            Value::String(s) => Kind::Scalar {
                text: s.clone(),
                quoted: true,
            },
            Value::Array(a) => Kind::Seq(a.iter().map(Node::from_json).collect()),
            Value::Object(o) => Kind::Map(
                o.iter()
                    .map(|(k, v)| {
                        (
                            Key {
                                text: k.clone(),
                                span: Span::default(),
                            },
                            Node::from_json(v),
                        )
                    })
                    .collect(),
            ),
        };
        Node {
            span: Span::default(),
            kind,
        }
    }

    /// The value under a map key.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key and value under a map key.
    pub fn entry(&self, key: &str) -> Option<(&Key, &Node)> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.text == key)
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// The position of the deepest node along `path` that exists: the most precise place to point at. A final
    /// key segment that exists points at the value; use [`Node::key_span`] to point at the key itself.
    pub fn span_at(&self, path: &[Seg]) -> Span {
        let mut node = self;
        for seg in path {
            let next = match (seg, &node.kind) {
                (Seg::Key(k), Kind::Map(_)) => node.get(k),
                (Seg::Index(i), Kind::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node.span
    }

    /// The position of the key at the end of `path` (or of the deepest existing node before it).
    pub fn key_span(&self, path: &[Seg], key: &str) -> Span {
        let mut node = self;
        for seg in path {
            let next = match (seg, &node.kind) {
                (Seg::Key(k), Kind::Map(_)) => node.get(k),
                (Seg::Index(i), Kind::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return node.span,
            }
        }
        node.entry(key).map_or(node.span, |(k, _)| k.span)
    }

    /// A short name for the node's kind, for messages (`a map`, `a list`, `a string`, ...).
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Map(_) => "a map",
            Kind::Seq(_) => "a list",
            Kind::Scalar { .. } => match self.to_json() {
                Value::Null => "empty (null)",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                _ => "a string",
            },
        }
    }
}

/// Resolve a scalar under the YAML 1.2 core schema.
pub fn scalar_value(text: &str, quoted: bool) -> Value {
    if quoted {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(i) = parse_int(text) {
        return Value::from(i);
    }
    if is_float(text) {
        if let Ok(f) = text.parse::<f64>() {
            if let Some(n) = serde_json::Number::from_f64(f) {
                return Value::Number(n);
            }
        }
    }
    Value::String(text.to_string())
}

fn parse_int(text: &str) -> Option<i64> {
    let (neg, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i64>().ok()?
    } else {
        return None;
    };
    Some(if neg { -magnitude } else { magnitude })
}

fn is_float(text: &str) -> bool {
    // The core schema's float pattern: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((a, b)) => {
            (a.is_empty() && !b.is_empty() || !a.is_empty())
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exp_ok
}

/// Parse a YAML file's bytes into a tree. The top level must be a map (an empty file is an empty map).
/// Every problem found is returned as a diagnostic against `file`.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Node, Vec<Diagnostic>> {
    if bytes.len() > MAX_BYTES {
        return Err(vec![Diagnostic::at(
            file,
            "",
            Span::default(),
            "the file is larger than the 1 MiB limit",
        )
        .expected(
            "a file under 1 MiB (values files and manifests are a few kilobytes)",
        )]);
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let offset = e.valid_up_to();
            let before = String::from_utf8_lossy(&bytes[..offset]);
            let line = before.matches('\n').count() + 1;
            let line_start = bytes[..offset]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let column = String::from_utf8_lossy(&bytes[line_start..offset])
                .chars()
                .count()
                + 1;
            let line_end = bytes[offset..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |p| offset + p);
            let source_line = String::from_utf8_lossy(&bytes[line_start..line_end]).into_owned();
            return Err(vec![Diagnostic {
                file: file.to_string(),
                line,
                column,
                len: 1,
                key: None,
                message: format!("the file is not valid UTF-8 (invalid byte at offset {offset})"),
                expected: Some("UTF-8 text".into()),
                suggestion: None,
                source_line,
            }]);
        }
    };
    parse_str(file, text)
}

/// Read a file for [`parse`], but no more than one byte past [`MAX_BYTES`]: enough for [`parse`] to report a
/// file as too large without loading a huge one into memory.
pub fn read_limited(path: &std::path::Path) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let err = |source| ReadError {
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::File::open(path).map_err(err)?;
    let mut bytes = Vec::new();
    f.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(err)?;
    Ok(bytes)
}

/// A file [`read_limited`] could not read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct ReadError {
    pub path: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Parse YAML text (see [`parse`]).
pub fn parse_str(file: &str, text: &str) -> Result<Node, Vec<Diagnostic>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(d) = tab_indent(file, text) {
        return Err(vec![d]);
    }
    let mut builder = Builder {
        file,
        text,
        lines: text.split('\n').collect(),
        parser: Parser::new_from_str(text),
        problems: Vec::new(),
    };
    match builder.document(true) {
        Ok(node) if builder.problems.is_empty() => Ok(node),
        Ok(_) => Err(builder.problems),
        Err(d) => {
            builder.problems.push(*d);
            Err(builder.problems)
        }
    }
}

/// Parse one YAML value (any kind: a scalar, a flow list or map), as typed after `--set key=`. Positions are
/// on line 1, shifted right by `column_offset` characters so they point into the whole argument.
pub fn parse_value(file: &str, text: &str, column_offset: usize) -> Result<Node, Vec<Diagnostic>> {
    let mut builder = Builder {
        file,
        text,
        lines: text.split('\n').collect(),
        parser: Parser::new_from_str(text),
        problems: Vec::new(),
    };
    let result = match builder.document(false) {
        Ok(node) if builder.problems.is_empty() => Ok(node),
        Ok(_) => Err(builder.problems),
        Err(d) => {
            builder.problems.push(*d);
            Err(builder.problems)
        }
    };
    match result {
        Ok(mut node) => {
            shift(&mut node, column_offset);
            Ok(node)
        }
        Err(mut diags) => {
            for d in &mut diags {
                d.column += column_offset;
            }
            Err(diags)
        }
    }
}

fn shift(node: &mut Node, by: usize) {
    node.span.column += by;
    match &mut node.kind {
        Kind::Scalar { .. } => {}
        Kind::Seq(items) => items.iter_mut().for_each(|n| shift(n, by)),
        Kind::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            k.span.column += by;
            shift(v, by);
        }),
    }
}

/// YAML forbids tabs in indentation and the parser's own message is cryptic; say it plainly.
fn tab_indent(file: &str, text: &str) -> Option<Diagnostic> {
    for (i, line) in text.split('\n').enumerate() {
        let indent: String = line
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        if let Some(pos) = indent.find('\t') {
            return Some(
                Diagnostic::at(
                    file,
                    line,
                    Span {
                        line: i + 1,
                        column: indent[..pos].chars().count() + 1,
                        len: 1,
                    },
                    "a tab character in the indentation",
                )
                .expected("spaces: YAML does not allow tabs for indentation"),
            );
        }
    }
    None
}

struct Builder<'a> {
    file: &'a str,
    text: &'a str,
    lines: Vec<&'a str>,
    parser: Parser<std::str::Chars<'a>>,
    problems: Vec<Diagnostic>,
}

impl<'a> Builder<'a> {
    fn line(&self, n: usize) -> &'a str {
        self.lines
            .get(n.wrapping_sub(1))
            .copied()
            .unwrap_or("")
            .trim_end_matches('\r')
    }

    fn diag(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(self.file, self.line(span.line), span, message)
    }

    fn next(&mut self) -> Result<(Event, Marker), Box<Diagnostic>> {
        self.parser.next_token().map_err(|e| {
            let m = e.marker();
            let span = Span {
                line: m.line(),
                column: m.col() + 1,
                len: 1,
            };
            Box::new(
                self.diag(span, format!("invalid YAML: {}", e.info()))
                    .expected("well-formed YAML"),
            )
        })
    }

    fn document(&mut self, require_map: bool) -> Result<Node, Box<Diagnostic>> {
        let mut root: Option<Node> = None;
        loop {
            let (event, mark) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart => {
                    if root.is_some() {
                        let span = self.span(mark, 3);
                        return Err(Box::new(
                            self.diag(span, "a second YAML document (`---`)")
                                .expected("exactly one YAML document in the file"),
                        ));
                    }
                    root = Some(self.node(0)?);
                }
                other => {
                    return Err(Box::new(self.diag(
                        self.span(mark, 1),
                        format!("unexpected YAML event {other:?}"),
                    )))
                }
            }
        }
        if !require_map {
            return Ok(root.unwrap_or(Node {
                span: Span {
                    line: 1,
                    column: 1,
                    len: 1,
                },
                kind: Kind::Scalar {
                    text: String::new(),
                    quoted: false,
                },
            }));
        }
        let root = root.unwrap_or(Node {
            span: Span {
                line: 1,
                column: 1,
                len: 1,
            },
            kind: Kind::Map(Vec::new()),
        });
        match &root.kind {
            Kind::Map(_) => Ok(root),
            Kind::Scalar { text, .. } if text.is_empty() => Ok(Node {
                span: root.span,
                kind: Kind::Map(Vec::new()),
            }),
            _ => Err(Box::new(
                self.diag(root.span, format!("the top level is {}", root.describe()))
                    .expected("a map of keys to values (`trust:` ...)"),
            )),
        }
    }

    fn span(&self, mark: Marker, len: usize) -> Span {
        Span {
            line: mark.line(),
            column: mark.col() + 1,
            len: len.max(1),
        }
    }

    fn scalar_span(&self, mark: Marker, text: &str, style: TScalarStyle) -> Span {
        let quotes = matches!(
            style,
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
        );
        let len = if matches!(style, TScalarStyle::Literal | TScalarStyle::Folded)
            || text.contains('\n')
        {
            1
        } else {
            text.chars().count() + if quotes { 2 } else { 0 }
        };
        // Keep the caret on the line it starts on.
        let rest = self
            .line(mark.line())
            .chars()
            .count()
            .saturating_sub(mark.col());
        self.span(mark, len.min(rest.max(1)))
    }

    /// Build the node whose first event comes next.
    fn node(&mut self, depth: usize) -> Result<Node, Box<Diagnostic>> {
        let (event, mark) = self.next()?;
        self.node_from(event, mark, depth)
    }

    fn node_from(
        &mut self,
        event: Event,
        mark: Marker,
        depth: usize,
    ) -> Result<Node, Box<Diagnostic>> {
        if depth > MAX_DEPTH {
            return Err(Box::new(
                self.diag(self.span(mark, 1), "the YAML nests too deeply")
                    .expected(format!("at most {MAX_DEPTH} levels of nesting")),
            ));
        }
        match event {
            Event::Scalar(text, style, _, tag) => {
                let span = self.scalar_span(mark, &text, style);
                // `!!str 123` is text, as quoting would make it.
                let tagged_str = tag.is_some_and(|t| t.suffix == "str");
                Ok(Node {
                    span,
                    kind: Kind::Scalar {
                        text,
                        quoted: style != TScalarStyle::Plain || tagged_str,
                    },
                })
            }
            Event::Alias(_) => {
                let name_len = self
                    .text
                    .chars()
                    .skip(mark.index())
                    .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}'))
                    .count();
                Err(Box::new(self
                    .diag(self.span(mark, name_len), "a YAML alias (`*name`)")
                    .expected("the value written out: aliases are not accepted, so a file cannot expand without bound")))
            }
            Event::SequenceStart(..) => {
                let span = self.span(mark, 1);
                let mut items = Vec::new();
                loop {
                    let (ev, m) = self.next()?;
                    if ev == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node_from(ev, m, depth + 1)?);
                }
                Ok(Node {
                    span,
                    kind: Kind::Seq(items),
                })
            }
            Event::MappingStart(..) => {
                let mut entries: Vec<(Key, Node)> = Vec::new();
                let mut span = None;
                loop {
                    let (ev, m) = self.next()?;
                    if ev == Event::MappingEnd {
                        break;
                    }
                    let key_node = self.node_from(ev, m, depth + 1)?;
                    // The parser marks a block map's start after its first key; the first key is where it begins.
                    span.get_or_insert(key_node.span);
                    let value = self.node(depth + 1)?;
                    let Kind::Scalar { text, .. } = &key_node.kind else {
                        self.problems.push(
                            self.diag(
                                key_node.span,
                                format!("a key that is {}", key_node.describe()),
                            )
                            .expected("a plain text key"),
                        );
                        continue;
                    };
                    if let Some((first, _)) = entries.iter().find(|(k, _)| &k.text == text) {
                        let d = self
                            .diag(key_node.span, format!("duplicate key `{text}`"))
                            .expected(format!(
                                "each key once; `{text}` is first given at line {}, column {}",
                                first.span.line, first.span.column
                            ));
                        self.problems.push(d);
                        continue;
                    }
                    entries.push((
                        Key {
                            text: text.clone(),
                            span: key_node.span,
                        },
                        value,
                    ));
                }
                Ok(Node {
                    span: span.unwrap_or(self.span(mark, 1)),
                    kind: Kind::Map(entries),
                })
            }
            other => Err(Box::new(self.diag(
                self.span(mark, 1),
                format!("unexpected YAML event {other:?}"),
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(s: &str) -> Node {
        parse("t.yaml", s.as_bytes()).expect("valid YAML")
    }

    fn parse_err(s: &[u8]) -> Vec<Diagnostic> {
        parse("t.yaml", s).expect_err("invalid")
    }

    #[test]
    fn positions_are_one_based_characters() {
        let n = parse_ok("a:\n  bé: 'x'\n  c: [1, 2]\n");
        let b = n.get("a").and_then(|a| a.get("bé")).expect("a.bé");
        assert_eq!(
            b.span,
            Span {
                line: 2,
                column: 7,
                len: 3
            }
        );
        let c = n.key_span(&[Seg::Key("a")], "c");
        assert_eq!(
            c,
            Span {
                line: 3,
                column: 3,
                len: 1
            }
        );
    }

    #[test]
    fn core_schema_scalars() {
        let n = parse_ok(
            "a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: 0x1f\ng: 1e3\nh: yes\ni: -7\nj: !!str 12\n",
        );
        assert_eq!(
            n.to_json(),
            serde_json::json!({"a": 1, "b": "1", "c": true, "d": null, "e": 1.5, "f": 31, "g": 1000.0, "h": "yes", "i": -7, "j": "12"})
        );
    }

    #[test]
    fn duplicate_keys_name_both_positions() {
        let d = parse_err(b"a: 1\nb: 2\na: 3\n");
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].line, d[0].column), (3, 1));
        assert_eq!(d[0].message, "duplicate key `a`");
        assert_eq!(
            d[0].expected.as_deref(),
            Some("each key once; `a` is first given at line 1, column 1")
        );
    }

    #[test]
    fn aliases_are_refused_without_expanding() {
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b]\n";
        let d = parse_err(bomb.as_bytes());
        assert_eq!(d[0].message, "a YAML alias (`*name`)");
        assert_eq!((d[0].line, d[0].column, d[0].len), (2, 8, 2));
    }

    #[test]
    fn empty_file_is_an_empty_map() {
        assert_eq!(parse_ok("").kind, Kind::Map(Vec::new()));
        assert_eq!(parse_ok("# nothing\n").kind, Kind::Map(Vec::new()));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        let d = parse_err(format!("a: {deep}\n").as_bytes());
        assert_eq!(d[0].message, "the YAML nests too deeply");
    }

    #[test]
    fn floats_and_ints_resolve() {
        assert!(
            is_float("1.5")
                && is_float(".5")
                && is_float("1e3")
                && is_float("-2.")
                && !is_float("1.2.3")
        );
        assert_eq!(parse_int("+12"), Some(12));
        assert_eq!(parse_int("12a"), None);
    }
}
