//! Deterministic bytes and content hashes: what locks, render manifests and plan files record. One place, so
//! that every hash in the fleet record is computed the same way.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Deterministic bytes of a JSON document: pretty, two-space indent, a trailing newline.
pub fn to_bytes(value: &Value) -> Vec<u8> {
    // Serialising a serde_json::Value to memory cannot fail (all keys are strings).
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// `sha256:` over the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// `sha256:` of a file's bytes, as recorded in locks and manifests.
pub fn hash_bytes(bytes: &[u8]) -> String {
    sha256(&[bytes])
}
