//! Load and verify: a generated dataset in the trust's migration staging storage.
//!
//! Contract: [`load`] takes a [`LoadConfig`] (the trust's inputs, the target, the dataset folder) and returns a
//! [`LoadReport`]; [`verify`] takes the same inputs and returns a [`VerifyReport`] or
//! [`DatasetError::Mismatch`] listing every difference. Both find the staging account the same way: render the
//! trust, take the storage account of its `staging` deployment (`epr/staging.json.tera`), read it through
//! Azure Resource Manager (or the local cloud) for its blob endpoint. On Azure they authenticate with the
//! deploy credential's Entra ID token for storage (the account refuses shared keys); on the local cloud,
//! whose storage accounts point at Azurite, with the account key the local cloud hands out.
//!
//! Uploads use the Blob service's block API: each file is cut into blocks put in parallel, each with its
//! `Content-MD5` (the service rejects a block whose bytes do not match), then committed with Put Block List,
//! which records the whole file's MD5 and its record count in the blob's properties and metadata. Block ids
//! are derived from the file's SHA-256 and the block index, so a rerun after an interruption finds the blocks
//! it already put in the blob's uncommitted list and puts only the missing ones; a blob already committed
//! with the manifest's MD5 is skipped. Blocks left by a different dataset have other ids and are discarded
//! by the commit. The manifest is uploaded last, so a dataset is visible to `verify` only when complete.

use super::manifest::{FileEntry, Manifest, MANIFEST_FILE};
use super::DatasetError;
use crate::deploy::target::{self, TargetKind, TargetOptions};
use azure_storage::{CloudLocation, StorageCredentials};
use azure_storage_blobs::blob::{BlobBlockType, BlockList, BlockListType};
use azure_storage_blobs::container::operations::BlobItem;
use azure_storage_blobs::prelude::*;
use futures_util::{StreamExt, TryStreamExt};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where blobs go inside the staging container.
pub const BLOB_PREFIX: &str = "synthetic/";
/// Content type of the NDJSON blobs (FHIR bulk data).
const NDJSON_CONTENT_TYPE: &str = "application/fhir+ndjson";
/// The storage API version of the account read through ARM.
const STORAGE_API: &str = "2023-05-01";

/// Which staging storage to reach and how.
#[derive(Debug, Clone)]
pub struct StagingTarget {
    /// The trust (blueprint and values).
    pub inputs: crate::run::Inputs,
    /// Local cloud or Azure, as for `apply`.
    pub target: TargetOptions,
}

/// What to load.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub staging: StagingTarget,
    /// The generated dataset's folder (with `manifest.json`).
    pub from: PathBuf,
    /// Bytes per block (the last block of a file is shorter).
    pub block_size: usize,
    /// Blocks in flight at once.
    pub parallel: usize,
    /// Stop with an error after putting this many blocks: rehearses an interrupted upload (hidden option).
    pub stop_after_blocks: Option<u64>,
}

/// How one file was loaded.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileLoad {
    pub blob: String,
    pub bytes: u64,
    pub blocks: u64,
    /// Blocks put by this run.
    pub uploaded: u64,
    /// Blocks found already put by an earlier, interrupted run.
    pub resumed: u64,
    /// Already committed with the manifest's MD5: nothing to do.
    pub skipped: bool,
}

/// What `load` did.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadReport {
    pub account: String,
    pub container: String,
    pub endpoint: String,
    pub files: Vec<FileLoad>,
}

/// What `verify` found (all matching; differences are a [`DatasetError::Mismatch`]).
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub account: String,
    pub container: String,
    pub manifest: Manifest,
}

/// The staging account, found and authenticated.
struct Staging {
    account: String,
    container: String,
    endpoint: String,
    client: ContainerClient,
}

fn staging_err(message: impl Into<String>) -> DatasetError {
    DatasetError::Staging {
        message: message.into(),
    }
}

fn target_err(message: impl Into<String>) -> DatasetError {
    DatasetError::Target {
        message: message.into(),
    }
}

/// Render the trust, find its staging account, read its endpoint and build an authenticated client.
async fn connect(staging: &StagingTarget) -> Result<Staging, crate::Error> {
    let (loaded, rendered) = crate::run::render_loaded(&staging.inputs)?;
    let deployment = rendered
        .deployments
        .iter()
        .find(|d| d.name == "staging")
        .ok_or_else(|| {
            staging_err(format!(
                "the blueprint renders no `staging` deployment for {} ({}): set `staging.enabled: true` in \
                 the values and apply",
                rendered.trust.name, rendered.trust.ods_code
            ))
        })?;
    let account = deployment.template["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["type"] == "Microsoft.Storage/storageAccounts")
        .and_then(|r| r["name"].as_str())
        .ok_or_else(|| staging_err("the `staging` deployment has no storage account"))?
        .to_owned();
    let container = deployment.template["outputs"]["stagingContainer"]["value"]
        .as_str()
        .ok_or_else(|| staging_err("the `staging` deployment has no `stagingContainer` output"))?
        .to_owned();
    let group = deployment
        .resource_group
        .clone()
        .ok_or_else(|| staging_err("the `staging` deployment is not at resource group scope"))?;
    let conn = target::connect(&staging.target, &loaded.values, &rendered.trust.ods_code).await?;
    let id = format!(
        "/subscriptions/{}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/{account}",
        conn.target.subscription_id
    );
    let resource = conn
        .client
        .get_resource(&id, STORAGE_API)
        .await
        .map_err(|e| target_err(format!("reading storage account {account}: {e}")))?
        .ok_or_else(|| {
            target_err(format!(
                "storage account {account} does not exist in subscription {} ({} target): apply the trust \
                 first",
                conn.target.subscription_id,
                conn.target.kind.as_str()
            ))
        })?;
    let endpoint = resource
        .pointer("/properties/primaryEndpoints/blob")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| {
            staging_err(format!(
                "storage account {account} reports no blob endpoint"
            ))
        })?
        .trim_end_matches('/')
        .to_owned();
    let credentials = match conn.target.kind {
        // The local cloud's accounts live in Azurite, which accepts the key the local cloud hands out.
        TargetKind::Local => StorageCredentials::access_key(
            account.clone(),
            crate::cloud::storage_account_key(&id, "key1"),
        ),
        // The same identity as deploy, with a token for Azure Storage (the account refuses shared keys).
        TargetKind::Azure => {
            let credential = crate::arm::Credential::from_env()
                .map_err(|e| target_err(format!("credential for Azure Storage: {e}")))?;
            let tokens = crate::arm::auth::TokenCache::new(
                credential,
                azure_core::new_http_client(),
                crate::arm::RetryOptions::default(),
            )
            .map_err(|e| target_err(format!("credential for Azure Storage: {e}")))?;
            StorageCredentials::token_credential(Arc::new(tokens))
        }
    };
    let location = CloudLocation::Custom {
        account: account.clone(),
        uri: endpoint.clone(),
    };
    let client = ClientBuilder::with_location(location, credentials).container_client(&container);
    Ok(Staging {
        account,
        container,
        endpoint,
        client,
    })
}

fn status_of(e: &azure_core::Error) -> Option<u16> {
    e.as_http_error().map(|h| u16::from(h.status()))
}

impl Staging {
    fn storage_err(&self, blob: &str) -> impl Fn(azure_core::Error) -> DatasetError + '_ {
        let blob = blob.to_owned();
        move |e| DatasetError::Storage {
            account: self.account.clone(),
            blob: blob.clone(),
            message: describe(&e),
        }
    }
}

/// An SDK error in one line: the HTTP status and the service's error code when there is one.
fn describe(e: &azure_core::Error) -> String {
    match e.as_http_error() {
        Some(h) => format!(
            "HTTP {} {}",
            u16::from(h.status()),
            h.error_code().unwrap_or("")
        )
        .trim_end()
        .to_owned(),
        None => e.to_string(),
    }
}

fn md5_bytes(b64: &str) -> Option<[u8; 16]> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .and_then(|v| v.try_into().ok())
}

/// The id of block `index` of a file with this SHA-256: same length for every block, as the service requires.
fn block_id(sha256: &str, index: u64) -> Vec<u8> {
    format!("{}-{index:08}", &sha256[..16.min(sha256.len())]).into_bytes()
}

/// Upload the dataset in `config.from`; see the module docs.
pub fn load(config: &LoadConfig) -> Result<LoadReport, crate::Error> {
    let manifest = Manifest::read(&config.from)?;
    if config.block_size == 0 || config.parallel == 0 {
        return Err(DatasetError::Invalid {
            what: "--block-size-kib / --parallel".into(),
            message: "must be at least 1".into(),
        }
        .into());
    }
    let rt = crate::deploy::runtime()?;
    rt.block_on(async {
        let staging = connect(&config.staging).await?;
        ensure_container(&staging).await?;
        let manifest_bytes = std::fs::read(config.from.join(MANIFEST_FILE))
            .map_err(|e| DatasetError::io(config.from.join(MANIFEST_FILE), e))?;
        let name = format!("{BLOB_PREFIX}{MANIFEST_FILE}");
        // Another dataset's manifest goes first: until this load completes, storage holds no complete
        // dataset, and verify says so instead of comparing new files with the old manifest.
        match download(&staging, &name).await {
            Ok(old) if old != manifest_bytes => {
                staging
                    .client
                    .blob_client(&name)
                    .delete()
                    .await
                    .map_err(staging.storage_err(&name))?;
            }
            Ok(_) => {}
            Err(DatasetError::Storage { message, .. }) if message.starts_with("HTTP 404") => {}
            Err(e) => return Err(e.into()),
        }
        let put = Arc::new(AtomicU64::new(0));
        let mut files = Vec::new();
        for entry in &manifest.files {
            files.push(load_file(&staging, config, entry, &put).await?);
        }
        let md5: [u8; 16] = Md5::digest(&manifest_bytes).into();
        staging
            .client
            .blob_client(&name)
            .put_block_blob(manifest_bytes)
            .content_type("application/json")
            .hash(Hash::MD5(md5))
            .await
            .map_err(staging.storage_err(&name))?;
        Ok(LoadReport {
            account: staging.account.clone(),
            container: staging.container.clone(),
            endpoint: staging.endpoint.clone(),
            files,
        })
    })
}

/// Create the container when the account lacks it (Azurite starts empty; on Azure the blueprint made it).
async fn ensure_container(staging: &Staging) -> Result<(), DatasetError> {
    match staging.client.create().await {
        Ok(_) => Ok(()),
        Err(e) if status_of(&e) == Some(409) => Ok(()),
        Err(e) => Err(staging.storage_err("(container)")(e)),
    }
}

/// Whole-file MD5 and SHA-256, checked against the manifest before anything is uploaded.
fn check_local(path: &std::path::Path, entry: &FileEntry) -> Result<(), DatasetError> {
    let mut file = std::fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let (mut md5, mut sha) = (Md5::new(), Sha256::new());
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(|e| DatasetError::io(path, e))?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        sha.update(&buf[..n]);
        total += n as u64;
    }
    use base64::Engine;
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5.finalize());
    if total != entry.bytes || md5 != entry.md5 || hex::encode(sha.finalize()) != entry.sha256 {
        return Err(DatasetError::Manifest {
            origin: path.display().to_string(),
            message: format!(
                "the file differs from its manifest entry ({} bytes, MD5 {md5}; the manifest says {} bytes, \
                 MD5 {}): regenerate the dataset",
                total, entry.bytes, entry.md5
            ),
        });
    }
    Ok(())
}

async fn load_file(
    staging: &Staging,
    config: &LoadConfig,
    entry: &FileEntry,
    put: &Arc<AtomicU64>,
) -> Result<FileLoad, DatasetError> {
    let name = format!("{BLOB_PREFIX}{}", entry.file);
    let blob = staging.client.blob_client(&name);
    let err = staging.storage_err(&name);
    let block_size = config.block_size as u64;
    let blocks = entry.bytes.div_ceil(block_size).max(1);
    let mut report = FileLoad {
        blob: name.clone(),
        bytes: entry.bytes,
        blocks,
        uploaded: 0,
        resumed: 0,
        skipped: false,
    };
    let expected_md5 = md5_bytes(&entry.md5).ok_or_else(|| DatasetError::Manifest {
        origin: config.from.join(MANIFEST_FILE).display().to_string(),
        message: format!(
            "{}: md5 {:?} is not base64 of 16 bytes",
            entry.file, entry.md5
        ),
    })?;
    match blob.get_properties().await {
        Ok(p) => {
            let same = p.blob.properties.content_length == entry.bytes
                && p.blob
                    .properties
                    .content_md5
                    .as_ref()
                    .is_some_and(|m| m.as_slice() == &expected_md5);
            if same {
                report.skipped = true;
                return Ok(report);
            }
        }
        Err(e) if status_of(&e) == Some(404) => {}
        Err(e) => return Err(err(e)),
    }
    let path = config.from.join(&entry.file);
    check_local(&path, entry)?;

    // Blocks an interrupted run already put: id -> size.
    let uncommitted: HashMap<Vec<u8>, u64> = match blob
        .get_block_list()
        .block_list_type(BlockListType::Uncommitted)
        .await
    {
        Ok(list) => list
            .block_with_size_list
            .blocks
            .into_iter()
            .filter_map(|b| match b.block_list_type {
                BlobBlockType::Uncommitted(id) => Some((id.bytes().to_vec(), b.size_in_bytes)),
                _ => None,
            })
            .collect(),
        Err(e) if status_of(&e) == Some(404) => HashMap::new(),
        Err(e) => return Err(err(e)),
    };
    let file = Arc::new(std::fs::File::open(&path).map_err(|e| DatasetError::io(&path, e))?);
    let mut todo = Vec::new();
    for index in 0..blocks {
        let offset = index * block_size;
        let len = block_size.min(entry.bytes - offset);
        let id = block_id(&entry.sha256, index);
        if uncommitted.get(&id) == Some(&len) {
            report.resumed += 1;
        } else {
            todo.push((id, offset, len));
        }
    }
    report.uploaded = todo.len() as u64;
    futures_util::stream::iter(todo.into_iter().map(|(id, offset, len)| {
        let (file, blob, path, put) = (file.clone(), blob.clone(), path.clone(), put.clone());
        let err = &err;
        async move {
            if let Some(limit) = config.stop_after_blocks {
                if put.fetch_add(1, Ordering::SeqCst) >= limit {
                    return Err(DatasetError::Storage {
                        account: staging.account.clone(),
                        blob: blob.blob_name().to_owned(),
                        message: format!("stopped after {limit} block(s) (--stop-after-blocks)"),
                    });
                }
            }
            let mut data = vec![0u8; usize::try_from(len).unwrap_or(0)];
            file.read_exact_at(&mut data, offset)
                .map_err(|e| DatasetError::io(&path, e))?;
            let md5: [u8; 16] = Md5::digest(&data).into();
            blob.put_block(id, data)
                .hash(Hash::MD5(md5))
                .await
                .map_err(err)?;
            Ok::<(), DatasetError>(())
        }
    }))
    .buffer_unordered(config.parallel)
    .try_collect::<Vec<()>>()
    .await?;

    let list = BlockList {
        blocks: (0..blocks)
            .map(|i| BlobBlockType::new_uncommitted(block_id(&entry.sha256, i)))
            .collect(),
    };
    let mut metadata = azure_core::request_options::Metadata::new();
    metadata.insert("resourcetype", entry.resource_type.clone());
    metadata.insert("count", entry.count.to_string());
    metadata.insert("sha256", entry.sha256.clone());
    blob.put_block_list(list)
        .content_type(NDJSON_CONTENT_TYPE)
        .content_md5(expected_md5)
        .metadata(metadata)
        .await
        .map_err(err)?;
    Ok(report)
}

/// Check that staging holds the dataset its manifest describes; see the module docs.
pub fn verify(
    staging: &StagingTarget,
    local: Option<&std::path::Path>,
) -> Result<VerifyReport, crate::Error> {
    let local = local.map(Manifest::read).transpose()?;
    let rt = crate::deploy::runtime()?;
    rt.block_on(async {
        let staging = connect(staging).await?;
        let name = format!("{BLOB_PREFIX}{MANIFEST_FILE}");
        let bytes = match download(&staging, &name).await {
            Ok(b) => b,
            Err(DatasetError::Storage { message, .. }) if message.starts_with("HTTP 404") => {
                return Err(DatasetError::Mismatch {
                    problems: vec![format!(
                        "{name}: not in container {} of {}: no dataset has been loaded (or its load did \
                         not finish)",
                        staging.container, staging.account
                    )],
                }
                .into())
            }
            Err(e) => return Err(e.into()),
        };
        let manifest = Manifest::parse(&bytes, &format!("{}/{name}", staging.account))?;
        let mut problems = Vec::new();
        if let Some(local) = &local {
            if local != &manifest {
                problems.push(format!(
                    "{name}: differs from the local manifest (seed {} / {} patients in storage, seed {} / {} \
                     patients locally)",
                    manifest.seed, manifest.patients, local.seed, local.patients
                ));
            }
        }
        let listed = list_blobs(&staging).await?;
        for entry in &manifest.files {
            check_blob(&staging, entry, &listed, &mut problems).await?;
        }
        if problems.is_empty() {
            Ok(VerifyReport {
                account: staging.account.clone(),
                container: staging.container.clone(),
                manifest,
            })
        } else {
            Err(DatasetError::Mismatch { problems }.into())
        }
    })
}

/// Every blob under the prefix with its size.
async fn list_blobs(staging: &Staging) -> Result<HashMap<String, u64>, DatasetError> {
    let mut out = HashMap::new();
    let mut pages = staging
        .client
        .list_blobs()
        .prefix(BLOB_PREFIX)
        .include_metadata(true)
        .into_stream();
    while let Some(page) = pages.next().await {
        let page = page.map_err(staging.storage_err(BLOB_PREFIX))?;
        for item in page.blobs.items {
            if let BlobItem::Blob(b) = item {
                out.insert(b.name, b.properties.content_length);
            }
        }
    }
    Ok(out)
}

async fn download(staging: &Staging, name: &str) -> Result<Vec<u8>, DatasetError> {
    let mut out = Vec::new();
    let mut stream = staging.client.blob_client(name).get().into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(staging.storage_err(name))?;
        let data = chunk
            .data
            .collect()
            .await
            .map_err(staging.storage_err(name))?;
        out.extend_from_slice(&data);
    }
    Ok(out)
}

/// Compare one blob with its manifest entry: size, stored MD5, record count in metadata, and the content
/// itself (downloaded and re-hashed, lines counted), so a blob that was replaced or truncated is caught.
async fn check_blob(
    staging: &Staging,
    entry: &FileEntry,
    listed: &HashMap<String, u64>,
    problems: &mut Vec<String>,
) -> Result<(), DatasetError> {
    let name = format!("{BLOB_PREFIX}{}", entry.file);
    let Some(size) = listed.get(&name) else {
        problems.push(format!(
            "{name}: missing ({} {} record(s) expected)",
            entry.count, entry.resource_type
        ));
        return Ok(());
    };
    if *size != entry.bytes {
        problems.push(format!(
            "{name}: {size} bytes in storage, {} in the manifest",
            entry.bytes
        ));
    }
    let blob = staging.client.blob_client(&name);
    let props = blob
        .get_properties()
        .await
        .map_err(staging.storage_err(&name))?;
    let stored_md5 = props.blob.properties.content_md5.as_ref().map(|m| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(m.as_slice())
    });
    if stored_md5.as_deref() != Some(entry.md5.as_str()) {
        problems.push(format!(
            "{name}: Content-MD5 {} in storage, {} in the manifest",
            stored_md5.as_deref().unwrap_or("(none)"),
            entry.md5
        ));
    }
    let (mut md5, mut sha, mut lines) = (Md5::new(), Sha256::new(), 0u64);
    let mut stream = blob.get().into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(staging.storage_err(&name))?;
        let data = chunk
            .data
            .collect()
            .await
            .map_err(staging.storage_err(&name))?;
        md5.update(&data);
        sha.update(&data);
        lines += data.iter().filter(|b| **b == b'\n').count() as u64;
    }
    if lines != entry.count {
        problems.push(format!(
            "{name}: {lines} {} record(s) in storage, {} in the manifest",
            entry.resource_type, entry.count
        ));
    }
    let sha = hex::encode(sha.finalize());
    if sha != entry.sha256 {
        problems.push(format!(
            "{name}: SHA-256 of the content {sha}, {} in the manifest",
            entry.sha256
        ));
    }
    use base64::Engine;
    let content_md5 = base64::engine::general_purpose::STANDARD.encode(md5.finalize());
    if content_md5 != entry.md5 && stored_md5.as_deref() == Some(entry.md5.as_str()) {
        problems.push(format!(
            "{name}: MD5 of the content {content_md5} differs from its stored Content-MD5 {}",
            entry.md5
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ids_have_one_length_and_name_the_file() {
        let sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let a = block_id(sha, 0);
        let b = block_id(sha, 12_345);
        assert_eq!(a.len(), b.len());
        assert_eq!(a, b"0123456789abcdef-00000000");
        assert_ne!(block_id("ffffffffffffffff", 0), a);
    }

    #[test]
    fn md5_from_the_manifest_form() {
        assert_eq!(
            md5_bytes("nrpm1/Cz+A9jP1HGGl90rw==").map(|b| b.len()),
            Some(16)
        );
        assert_eq!(md5_bytes("not base64"), None);
        assert_eq!(md5_bytes("AAAA"), None);
    }
}
