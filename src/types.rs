//! Newtypes parsed and validated once: once a value of one of these types exists, it is valid.
//! (Owned by the load stage; implementations filled in there.)

use serde::{Deserialize, Serialize};
use std::fmt;

/// An NHS ODS organisation code for a trust: 3 characters starting R or T (`RM3`, `TAF`), or the 5-character
/// form that alternates letter and digit (`G6V2S`). Stored upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OdsCode(String);

impl OdsCode {
    /// What a valid code looks like, for error messages.
    pub const EXPECTED: &'static str =
        "a 3-character ODS code starting R or T (RM3) or a 5-character code alternating letter and digit (G6V2S)";

    pub fn parse(s: &str) -> Result<Self, String> {
        let up = s.trim().to_ascii_uppercase();
        let b = up.as_bytes();
        let classic = b.len() == 3
            && (b[0] == b'R' || b[0] == b'T')
            && b[1..].iter().all(u8::is_ascii_alphanumeric);
        let new_form = b.len() == 5
            && b.iter().enumerate().all(|(i, c)| {
                if i % 2 == 0 {
                    c.is_ascii_uppercase()
                } else {
                    c.is_ascii_digit()
                }
            });
        if s.trim() == s && (classic || new_form) {
            Ok(OdsCode(up))
        } else {
            Err(format!("{s:?} is not {}", Self::EXPECTED))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Lower case, for resource names (`kv-rm3-uks-...`).
    pub fn lower(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl TryFrom<String> for OdsCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}
impl From<OdsCode> for String {
    fn from(c: OdsCode) -> String {
        c.0
    }
}
impl fmt::Display for OdsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
