//! Azure Resource Manager's wire protocol, defined once for both sides: the ARM client ([`crate::arm`]) reads
//! these shapes from Azure or the local cloud, and the local cloud ([`crate::cloud`]) writes them. ARM's error
//! body is `{"error": {"code", "message", "target"?, "details"?: [..], "additionalInfo"?: [..]}}`; a
//! provisioning state is one of a few well-known words, matched case-insensitively.
//!
//! This module depends on nothing else in the crate (only serde), so either side can be split out of it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// One node of ARM's error tree (`{"error": {...}}` bodies, a failed deployment's `properties.error`, a
/// deployment operation's `statusMessage.error`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// ARM's code, e.g. `InvalidTemplate`, `ResourceDeploymentFailure`, `AuthorizationFailed`.
    #[serde(default)]
    pub code: String,
    /// ARM's human-readable message.
    #[serde(default)]
    pub message: String,
    /// What the error is about (a resource id, a template path), when ARM says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Inner errors (for `DeploymentFailed`: one `ResourceDeploymentFailure` per failed resource).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
    /// `additionalInfo` entries (`TemplateViolation`, `PolicyViolation`, ...), kept as ARM sent them.
    #[serde(
        default,
        rename = "additionalInfo",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub additional_info: Vec<AdditionalInfo>,
}

/// An `additionalInfo` entry of an ARM error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdditionalInfo {
    /// The kind of information, e.g. `TemplateViolation` or `PolicyViolation`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The information itself, free-form.
    #[serde(default)]
    pub info: serde_json::Value,
}

impl ErrorDetail {
    /// Parses an ARM error body: `{"error": {...}}`, or a bare `{code, message}` as some providers send.
    /// Returns `None` when the body is not an ARM error at all.
    pub fn from_body(body: &[u8]) -> Option<ErrorDetail> {
        #[derive(Deserialize)]
        struct Envelope {
            error: Option<ErrorDetail>,
        }
        if let Ok(Envelope { error: Some(e) }) = serde_json::from_slice::<Envelope>(body) {
            return Some(e);
        }
        match serde_json::from_slice::<ErrorDetail>(body) {
            Ok(e) if !e.code.is_empty() => Some(e),
            _ => None,
        }
    }

    /// The leaves of the tree: the errors that say what actually went wrong, in order.
    pub fn root_causes(&self) -> Vec<&ErrorDetail> {
        if self.details.is_empty() {
            return vec![self];
        }
        self.details
            .iter()
            .flat_map(ErrorDetail::root_causes)
            .collect()
    }

    /// Writes the tree indented, one error per line, for humans.
    fn write_tree(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        for d in &self.details {
            write!(
                f,
                "\n{:indent$}- {}: {}",
                "",
                d.code,
                d.message,
                indent = depth * 2
            )?;
            if let Some(t) = &d.target {
                write!(f, " (target {t})")?;
            }
            d.write_tree(f, depth + 1)?;
        }
        Ok(())
    }
}

impl fmt::Display for ErrorDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(t) = &self.target {
            write!(f, " (target {t})")?;
        }
        self.write_tree(f, 1)
    }
}

/// An error response body as ARM sends it: `{"error": {...}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error tree.
    pub error: ErrorDetail,
}

/// Declares an enum of ARM words that is lenient: matched case-insensitively, with an `Other(String)` arm for
/// words this version does not know (a newer api-version, another provider).
macro_rules! lenient_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version of trustprint does not know, kept as ARM wrote it.
            Other(String),
        }

        impl $name {
            /// The value as ARM writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => stringify!($variant),)+
                    $name::Other(s) => s,
                }
            }

            /// Parses case-insensitively; unknown values become `Other`.
            pub fn parse(s: &str) -> Self {
                $(if s.eq_ignore_ascii_case(stringify!($variant)) {
                    return $name::$variant;
                })+
                $name::Other(s.to_owned())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok($name::parse(&s))
            }
        }
    };
}

pub(crate) use lenient_enum;

lenient_enum! {
    /// `provisioningState` of a resource, a deployment or an operation status.
    ProvisioningState {
        /// Accepted, not started.
        Accepted,
        /// In progress.
        Running,
        /// In progress (resource providers).
        Creating,
        /// In progress (resource providers).
        Updating,
        /// In progress (resource groups, deployments being deleted).
        Deleting,
        /// Deployment queued behind another.
        Waiting,
        /// Done, well.
        Succeeded,
        /// Done, badly.
        Failed,
        /// Cancelled by a caller.
        Canceled,
        /// The deployment is ready (an intermediate state).
        Ready,
    }
}

impl ProvisioningState {
    /// Succeeded, Failed and Canceled end an operation; everything else (including unknown states) means
    /// keep polling.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            ProvisioningState::Succeeded | ProvisioningState::Failed | ProvisioningState::Canceled
        )
    }
}
