//! Storage accounts' data plane as the local cloud presents it: the blob endpoint a storage account reports
//! (`primaryEndpoints.blob`) and its access keys (`listKeys`). The local cloud has no data plane of its own;
//! pointed at Azurite, Microsoft's storage emulator, its storage accounts become usable for real uploads
//! (`trustprint dataset load --target local`).

use sha2::{Digest, Sha256};

/// Environment variable naming an Azurite blob service (`http://127.0.0.1:10000`): when set, storage accounts
/// created in the local cloud report `<url>/<account>/` as their blob endpoint (Azurite's path-style URL for
/// that account). Read when an account is written, so set it before `apply`.
pub const BLOB_ENDPOINT_ENV: &str = "TRUSTPRINT_LOCAL_BLOB_ENDPOINT";

/// The blob endpoint a storage account named `account` reports: Azurite's when [`BLOB_ENDPOINT_ENV`] is set,
/// else Azure's public form (which nothing answers locally).
pub fn blob_endpoint(account: &str) -> String {
    match std::env::var(BLOB_ENDPOINT_ENV) {
        Ok(url) if !url.trim().is_empty() => {
            format!("{}/{account}/", url.trim().trim_end_matches('/'))
        }
        _ => format!("https://{account}.blob.core.windows.net/"),
    }
}

/// Access key `key_name` (`key1`, `key2`) of the storage account with this resource id: 64 bytes, base64, as
/// Azure's; derived from the id so every run and every process gives the same key (configure Azurite's
/// `AZURITE_ACCOUNTS` with it).
pub fn storage_account_key(id: &str, key_name: &str) -> String {
    use base64::Engine;
    let h = Sha256::digest(format!("{key_name}:{}", id.to_lowercase()).as_bytes());
    let mut bytes = h.to_vec();
    bytes.extend_from_slice(&Sha256::digest(h));
    base64::engine::general_purpose::STANDARD.encode(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_per_account_and_name() {
        let id =
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st1";
        assert_eq!(
            storage_account_key(id, "key1"),
            storage_account_key(&id.to_uppercase(), "key1")
        );
        assert_ne!(
            storage_account_key(id, "key1"),
            storage_account_key(id, "key2")
        );
        assert_eq!(storage_account_key(id, "key1").len(), 88);
    }
}
