//! Diagnostics about a file: `file:line:col`, the offending line with a caret, what was expected and a
//! suggestion. [`render`] is the one place they become terminal text (codespan-reporting); colour only when the
//! caller asks (the CLI decides from the terminal and `NO_COLOR`). `Display` is the plain one-line form.

use codespan_reporting::diagnostic::{Diagnostic as Report, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor};
use serde::Serialize;
use std::fmt;

/// A position in a file: 1-based line and column (in characters), and how many characters the item spans.
/// Line 0 means "no position" (values that came from somewhere other than a file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub line: usize,
    pub column: usize,
    pub len: usize,
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line and column of the offending text (0 when the problem has no position, e.g. a missing file).
    pub line: usize,
    pub column: usize,
    /// How many characters the caret underlines (at least 1).
    pub len: usize,
    /// The dotted key concerned, when there is one (`network.address_space`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What is wrong (`"10.0.0.0/33" is not an IPv4 prefix`).
    pub message: String,
    /// What was expected (`an IPv4 prefix such as 10.20.0.0/16 with a length from 16 to 22`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// A likely fix (`did you mean `address_space`?`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// The offending line's text.
    pub source_line: String,
}

/// How serious a diagnostic is when rendered: loading fails on errors; `blueprint lint` also reports warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Diagnostic {
    /// A diagnostic at `span` of `file`, whose line reads `source_line`.
    pub fn at(file: &str, source_line: &str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            line: span.line,
            column: span.column,
            len: span.len.max(1),
            key: None,
            message: message.into(),
            expected: None,
            suggestion: None,
            source_line: source_line.to_string(),
        }
    }

    /// Set what was expected.
    #[must_use]
    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    /// Set the likely fix.
    #[must_use]
    pub fn suggest(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestion = Some(suggestion.into());
        self
    }

    /// Set the dotted key concerned.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    fn headline(&self) -> String {
        match &self.key {
            Some(k) => format!("{k}: {}", self.message),
            None => self.message.clone(),
        }
    }

    fn location(&self) -> String {
        if self.line == 0 {
            self.file.clone()
        } else {
            format!("{}:{}:{}", self.file, self.line, self.column)
        }
    }
}

/// `values.yaml:3:13: trust.ods_code: "RX1X" is not an ODS code; expected ...; did you mean ...?`
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location(), self.headline())?;
        if let Some(e) = &self.expected {
            write!(f, "; expected {e}")?;
        }
        if let Some(s) = &self.suggestion {
            write!(f, "; {s}")?;
        }
        Ok(())
    }
}

/// Render errors for a terminal: each with its location, the line, a caret under the offending text, what was
/// expected and the suggestion. Plain text unless `color`.
pub fn render(diags: &[Diagnostic], color: bool) -> String {
    render_as(diags, Severity::Error, color)
}

/// Render diagnostics of one severity (see [`render`]).
pub fn render_as(diags: &[Diagnostic], severity: Severity, color: bool) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&render_one(d, severity, color));
    }
    out
}

/// How many characters of the offending line are shown either side of the offending text, when it is cut.
const CONTEXT: usize = 60;

/// Lines up to this many characters are shown whole (a file's ordinary long lines keep their columns); longer
/// ones are cut around the offending text.
const LONG_LINE: usize = 400;

/// The offending line as shown under a diagnostic, and the caret's 1-based column in it: control characters
/// drawn as their Unicode pictures (`␛` for ESC, so nothing reaches the terminal raw), and a long line cut to
/// the offending text and [`CONTEXT`] characters either side, marked `…` where cut (a 900,000-character value
/// is not printed whole).
fn shown_line(line: &str, column: usize, len: usize) -> (String, usize) {
    let picture = |c: char| match c {
        // A tab is shown as a tab: the YAML reader reports tabs in indentation with their real column.
        '\t' => '\t',
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
        '\u{7f}' => '\u{2421}',
        c if c.is_control() => '\u{fffd}',
        c => c,
    };
    let chars: Vec<char> = line.chars().map(picture).collect();
    let at = column.saturating_sub(1).min(chars.len());
    if chars.len() <= LONG_LINE {
        return (chars.into_iter().collect(), column);
    }
    let from = at.saturating_sub(CONTEXT);
    let to = (at + len.clamp(1, CONTEXT) + CONTEXT).min(chars.len());
    let mut shown = String::new();
    let mut column = at - from + 1;
    if from > 0 {
        shown.push('…');
        column += 1;
    }
    shown.extend(&chars[from..to]);
    if to < chars.len() {
        shown.push('…');
    }
    (shown, column)
}

fn render_one(d: &Diagnostic, severity: Severity, color: bool) -> String {
    let report = match severity {
        Severity::Error => Report::error(),
        Severity::Warning => Report::warning(),
    }
    .with_message(d.headline());
    let mut notes = Vec::new();
    // codespan numbers lines by counting them, so the one line we keep is placed at its real line number.
    let (source, report) = if d.line == 0 {
        notes.push(format!("in {}", d.file));
        if let Some(e) = &d.expected {
            notes.push(format!("expected {e}"));
        }
        (String::new(), report)
    } else {
        let mut source = "\n".repeat(d.line - 1);
        let (shown, column) = shown_line(&d.source_line, d.column, d.len);
        let start = source.len()
            + shown
                .char_indices()
                .nth(column.saturating_sub(1))
                .map_or(shown.len(), |(i, _)| i);
        source.push_str(&shown);
        let end = source.len();
        source.push('\n');
        let caret_end = source[start..end]
            .char_indices()
            .nth(d.len.max(1))
            .map_or(end, |(i, _)| start + i);
        let label = Label::primary((), start..caret_end.max(start));
        let label = match &d.expected {
            Some(e) => label.with_message(format!("expected {e}")),
            None => label,
        };
        (source, report.with_labels(vec![label]))
    };
    if d.line != 0 && d.source_line.chars().count() > LONG_LINE {
        notes.push(format!(
            "line {} is {} characters long: shown cut around column {}",
            d.line,
            d.source_line.chars().count(),
            d.column
        ));
    }
    if let Some(s) = &d.suggestion {
        notes.push(format!("help: {s}"));
    }
    let report = report.with_notes(notes);
    let file = SimpleFile::new(d.file.as_str(), source);
    // ASCII art (`-->`, `|`) reads the same in every terminal, log and CI page, and is what rustc users know.
    let config = term::Config {
        chars: term::Chars::ascii(),
        ..term::Config::default()
    };
    let mut buf = if color {
        termcolor::Buffer::ansi()
    } else {
        termcolor::Buffer::no_color()
    };
    if term::emit(&mut buf, &config, &file, &report).is_err() {
        // Only a position outside the line can fail; the one-line form still says everything.
        return format!("{d}\n");
    }
    String::from_utf8_lossy(buf.as_slice()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Diagnostic {
        Diagnostic::at(
            "values.yaml",
            "  ods_code: RX1X",
            Span {
                line: 3,
                column: 13,
                len: 4,
            },
            "\"RX1X\" is not an ODS code",
        )
        .key("trust.ods_code")
        .expected("a 3-character ODS code")
        .suggest("did you mean `RX1`?")
    }

    #[test]
    fn renders_line_caret_expected_and_help() {
        assert_eq!(
            render(&[sample()], false),
            "error: trust.ods_code: \"RX1X\" is not an ODS code\n  --> values.yaml:3:13\n  |\n3 |   ods_code: RX1X\n  |             ^^^^ expected a 3-character ODS code\n  |\n  = help: did you mean `RX1`?\n\n"
        );
    }

    #[test]
    fn display_is_one_plain_line() {
        assert_eq!(
            sample().to_string(),
            "values.yaml:3:13: trust.ods_code: \"RX1X\" is not an ODS code; expected a 3-character ODS code; did you mean `RX1`?"
        );
    }

    #[test]
    fn colour_only_when_asked() {
        assert!(!render(&[sample()], false).contains('\u{1b}'));
        assert!(render(&[sample()], true).contains('\u{1b}'));
    }
}
