//! Diagnostics about a file: `file:line:col`, the offending line with a caret, what was expected and a
//! suggestion. One place renders them (with colour unless `NO_COLOR` is set or the stream is not a terminal).

use serde::Serialize;

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line and column of the offending text.
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
