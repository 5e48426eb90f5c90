//! The expression grammar: what sits between `[` and `]` in an ARM template string.
//!
//! ```text
//! expr    := primary postfix*
//! primary := string | integer | call | 'true' | 'false' | 'null'
//! call    := ident ('.' ident)? '(' (expr (',' expr)*)? ')'
//! postfix := '.' ident | '[' expr ']'
//! string  := "'" ( [^'] | "''" )* "'"
//! integer := '-'? [0-9]+
//! ```
//! Nesting is bounded by [`MAX_DEPTH`] so hostile input cannot overflow the stack.

use super::Error;

/// How deeply calls, indexes and property accesses may nest in one expression.
pub const MAX_DEPTH: usize = 64;

/// A parsed ARM expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A string literal (`'text'`).
    Str(String),
    /// An integer literal.
    Int(i64),
    /// `true` or `false` written bare.
    Bool(bool),
    /// `null` written bare.
    Null,
    /// A function call; `name` is `ns.member` for user-defined functions.
    Call {
        name: String,
        args: Vec<Expr>,
        /// Character offset of the name within the whole template string (including the `[`).
        position: usize,
    },
    /// `.name` after an expression.
    Property(Box<Expr>, String),
    /// `[index]` after an expression.
    Index(Box<Expr>, Box<Expr>),
}

/// What a template string is: plain text, or an expression to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub enum Template<'a> {
    /// Not an expression (or a `[[`-escaped one): use as is.
    Literal(std::borrow::Cow<'a, str>),
    /// The text between the brackets.
    Expression(&'a str),
}

/// Classify a JSON string as ARM does: `[...]` is an expression, `[[...` is a literal starting with `[`.
pub fn classify(s: &str) -> Template<'_> {
    if s.starts_with("[[") {
        return Template::Literal(std::borrow::Cow::Owned(s[1..].to_string()));
    }
    if s.len() >= 2 && s.starts_with('[') && s.ends_with(']') {
        return Template::Expression(&s[1..s.len() - 1]);
    }
    Template::Literal(std::borrow::Cow::Borrowed(s))
}

/// Parse the inside of an `[...]` string. `source` is only used in error messages (the whole template string).
pub fn parse(inner: &str) -> Result<Expr, Error> {
    let mut p = Parser {
        src: inner,
        chars: inner.char_indices().collect(),
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    let expr = p.expr()?;
    p.skip_ws();
    if p.pos < p.chars.len() {
        return Err(p.error("unexpected text after the expression"));
    }
    Ok(expr)
}

struct Parser<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> Error {
        Error::Parse {
            expression: format!("[{}]", self.src),
            // 1-based column in the template string, counting the opening `[`.
            position: self.pos + 2,
            message: message.to_string(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(c) if c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(&format!("nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, Error> {
        self.enter()?;
        let mut e = self.primary()?;
        loop {
            self.skip_ws();
            if self.eat('.') {
                self.skip_ws();
                let name = self
                    .ident()
                    .ok_or_else(|| self.error("expected a property name after '.'"))?;
                e = Expr::Property(Box::new(e), name);
            } else if self.eat('[') {
                self.enter()?;
                self.skip_ws();
                let index = self.expr()?;
                self.skip_ws();
                if !self.eat(']') {
                    return Err(self.error("expected ']' to close the index"));
                }
                self.depth -= 1;
                e = Expr::Index(Box::new(e), Box::new(index));
            } else {
                break;
            }
        }
        self.depth -= 1;
        Ok(e)
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.pos;
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() || c == '_' => self.pos += 1,
            _ => return None,
        }
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        Some(
            self.chars[start..self.pos]
                .iter()
                .map(|&(_, c)| c)
                .collect(),
        )
    }

    fn primary(&mut self) -> Result<Expr, Error> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.error("expected an expression")),
            Some('\'') => self.string(),
            Some(c) if c == '-' || c.is_ascii_digit() => self.integer(),
            Some(c) if c.is_ascii_alphabetic() || c == '_' => self.call(),
            Some(c) => Err(self.error(&format!("unexpected character '{c}'"))),
        }
    }

    fn string(&mut self) -> Result<Expr, Error> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    self.pos = open;
                    return Err(self.error("unterminated string literal"));
                }
                Some('\'') => {
                    self.pos += 1;
                    if self.eat('\'') {
                        out.push('\'');
                    } else {
                        return Ok(Expr::Str(out));
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn integer(&mut self) -> Result<Expr, Error> {
        let start = self.pos;
        self.eat('-');
        let digits_start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == digits_start {
            return Err(self.error("expected digits"));
        }
        if matches!(self.peek(), Some('.')) {
            return Err(self.error("decimal numbers are not supported by ARM expressions"));
        }
        let text: String = self.chars[start..self.pos]
            .iter()
            .map(|&(_, c)| c)
            .collect();
        text.parse::<i64>().map(Expr::Int).map_err(|_| {
            self.pos = start;
            self.error(&format!("integer {text} is out of range"))
        })
    }

    fn call(&mut self) -> Result<Expr, Error> {
        let position = self.pos + 2;
        let mut name = self
            .ident()
            .ok_or_else(|| self.error("expected a function name"))?;
        self.skip_ws();
        // `ns.member(` is a user-defined function; a `.` anywhere else is property access.
        if self.peek() == Some('.') {
            let save = self.pos;
            self.pos += 1;
            self.skip_ws();
            if let Some(member) = self.ident() {
                self.skip_ws();
                if self.peek() == Some('(') {
                    name = format!("{name}.{member}");
                } else {
                    self.pos = save;
                }
            } else {
                self.pos = save;
            }
        }
        self.skip_ws();
        if !self.eat('(') {
            return match name.to_ascii_lowercase().as_str() {
                "true" => Ok(Expr::Bool(true)),
                "false" => Ok(Expr::Bool(false)),
                "null" => Ok(Expr::Null),
                _ => Err(self.error(&format!("expected '(' after function name '{name}'"))),
            };
        }
        let mut args = Vec::new();
        self.skip_ws();
        if !self.eat(')') {
            loop {
                args.push(self.expr()?);
                self.skip_ws();
                if self.eat(',') {
                    continue;
                }
                if self.eat(')') {
                    break;
                }
                return Err(
                    self.error(&format!("expected ',' or ')' in the arguments of '{name}'"))
                );
            }
        }
        Ok(Expr::Call {
            name,
            args,
            position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: Vec<Expr>, position: usize) -> Expr {
        Expr::Call {
            name: name.into(),
            args,
            position,
        }
    }

    #[test]
    fn classifies_expressions_and_escapes() {
        assert_eq!(classify("[x()]"), Template::Expression("x()"));
        assert_eq!(classify("[[x()]"), Template::Literal("[x()]".into()));
        assert_eq!(classify("plain"), Template::Literal("plain".into()));
        assert_eq!(
            classify("[not closed"),
            Template::Literal("[not closed".into())
        );
    }

    #[test]
    fn parses_calls_literals_and_postfix() {
        let e = parse("parameters('it''s')[0].name['x']").unwrap();
        let base = call("parameters", vec![Expr::Str("it's".into())], 2);
        let e2 = Expr::Index(
            Box::new(Expr::Property(
                Box::new(Expr::Index(Box::new(base), Box::new(Expr::Int(0)))),
                "name".into(),
            )),
            Box::new(Expr::Str("x".into())),
        );
        assert_eq!(e, e2);
        assert_eq!(
            parse(" add( -3 , 4 ) ").unwrap(),
            call("add", vec![Expr::Int(-3), Expr::Int(4)], 3)
        );
        assert_eq!(parse("true").unwrap(), Expr::Bool(true));
        assert_eq!(parse("null").unwrap(), Expr::Null);
        assert_eq!(
            parse("ns.f(1)").unwrap(),
            call("ns.f", vec![Expr::Int(1)], 2)
        );
        assert_eq!(
            parse("resourceGroup().location").unwrap(),
            Expr::Property(
                Box::new(call("resourceGroup", vec![], 2)),
                "location".into()
            )
        );
    }

    #[test]
    fn reports_position_and_expression() {
        let err = parse("concat('a',)").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid expression \"[concat('a',)]\" at position 13: unexpected character ')'"
        );
        let err = parse("concat('a").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid expression \"[concat('a]\" at position 9: unterminated string literal"
        );
        assert!(parse("foo").is_err());
        assert!(parse("1.5").is_err());
        assert!(parse("99999999999999999999").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}1{}", "f(".repeat(10_000), ")".repeat(10_000));
        let err = parse(&deep).unwrap_err();
        assert!(
            err.to_string().contains("nested more than 64 levels deep"),
            "{err}"
        );
        let deep_index = format!("x(){}", "[0".repeat(10_000));
        assert!(parse(&deep_index).is_err());
    }
}
