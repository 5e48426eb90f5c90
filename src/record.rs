//! Stage 6, record: the stamped trust committed to the fleet git repository.
//!
//! Contract: [`record`] writes `trusts/<ODS>/values.yaml`, `trusts/<ODS>/rendered/...` and
//! `trusts/<ODS>/trustprint.lock` and makes one commit (git2), or none when nothing changed. The repository is
//! created when missing; a lock keeps two trustprints from writing it at once; a failure leaves it as it was.
//!
//! How each promise is kept:
//! - *one commit holding only this trust*: the commit's tree is HEAD's tree with `trusts/<ODS>` replaced, built
//!   from blobs, never from the index, so whatever else is staged in the fleet repository stays out of it;
//! - *no commit for identical inputs*: the new `trusts/<ODS>` tree id is compared with HEAD's before anything is
//!   written (the lock file holds no timestamps, so identical inputs give identical bytes);
//! - *a failure leaves it as it was*: the trust's folder is staged beside it and swapped in, and swapped back if
//!   the commit fails; a trust folder with uncommitted edits is refused rather than overwritten;
//! - *two stamps at once*: an exclusive lock on `.git/trustprint.lock` (`File::try_lock`); the second waits up to
//!   a timeout, saying who holds it, then fails with [`Error::FleetLocked`].

use crate::atomic::Swap;
use crate::hash::hash_bytes;
use crate::load::Loaded;
use crate::model::Rendered;
use git2::{Repository, Signature, StatusOptions};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::repo::FleetRepo;
pub use crate::repo::{Lock, LockedFile, LOCK_FILE, RENDERED_DIR, VALUES_FILE};

/// What can stop a record. The crate's `Error` words each the same way and gives it the same exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A git operation failed.
    #[error("git: {context}")]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },
    /// The fleet folder is not a git repository and not empty.
    #[error("output folder {}: {message}", path.display())]
    OutDir { path: PathBuf, message: String },
    /// Another trustprint holds the fleet repository's lock for longer than we may wait.
    #[error(
        "fleet repository {} is locked by another trustprint ({holder}); gave up after {waited_secs} s \
         (raise --lock-timeout, or remove {} if that process is gone)",
        fleet.display(), lock_file.display()
    )]
    FleetLocked {
        fleet: PathBuf,
        lock_file: PathBuf,
        holder: String,
        waited_secs: u64,
    },
    /// The trust's folder has changes not committed; recording would overwrite them.
    #[error(
        "fleet repository {}: {dir} has uncommitted changes ({}); commit or discard them first, trustprint \
         will not overwrite them",
        fleet.display(), files.join(", ")
    )]
    FleetDirty {
        fleet: PathBuf,
        dir: String,
        files: Vec<String>,
    },
    /// The fleet repository's layout: a lock that is not one, a path through a symbolic link.
    #[error(transparent)]
    Repo(#[from] crate::repo::Error),
    /// A bug in trustprint.
    #[error("internal error (a bug in trustprint, please report it): {message}")]
    Internal { message: String },
}

impl Error {
    fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<crate::atomic::Error> for Error {
    fn from(e: crate::atomic::Error) -> Self {
        match e {
            crate::atomic::Error::Io { path, source } => Error::Io { path, source },
            crate::atomic::Error::OutDir { path, message } => Error::OutDir { path, message },
        }
    }
}

/// Default wait for another trustprint's lock on the fleet repository.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// What recording did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecordOutcome {
    /// The new commit, or None when the inputs were identical to what was recorded.
    pub commit: Option<String>,
    /// The trust's folder, relative to the fleet repository (`trusts/RM3`).
    pub trust_dir: String,
    /// The fleet repository.
    pub fleet: PathBuf,
    /// Whether this record is the repository's first commit (the repository was created for this run).
    pub created: bool,
}

/// How to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// How long to wait for another trustprint holding the fleet repository's lock.
    pub lock_timeout: Duration,
    /// The apply or destroy to record in the lock; `None` keeps the one recorded before.
    pub deployment: Option<crate::deploy::DeploymentRecord>,
}

impl Default for RecordOptions {
    fn default() -> Self {
        RecordOptions {
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            deployment: None,
        }
    }
}

/// The files of a trust's folder (relative path → bytes) and its lock.
pub fn trust_files(loaded: &Loaded, rendered: &Rendered) -> (Vec<(String, Vec<u8>)>, Lock) {
    trust_files_with(loaded, rendered, None)
}

/// [`trust_files`] with an apply or destroy outcome in the lock.
pub fn trust_files_with(
    loaded: &Loaded,
    rendered: &Rendered,
    deployment: Option<crate::deploy::DeploymentRecord>,
) -> (Vec<(String, Vec<u8>)>, Lock) {
    let values_bytes = loaded.values.text.as_bytes().to_vec();
    let rendered_files = crate::render::files(rendered);
    let values = LockedFile {
        file: VALUES_FILE.into(),
        hash: hash_bytes(&values_bytes),
    };
    let hashes: BTreeMap<String, String> = rendered_files
        .iter()
        .map(|(name, bytes)| (name.clone(), hash_bytes(bytes)))
        .collect();
    let content_hash = content_hash_of(&values.hash, &hashes);
    let lock = Lock {
        trust: rendered.trust.clone(),
        blueprint: rendered.blueprint.clone(),
        trustprint_version: env!("CARGO_PKG_VERSION").into(),
        values,
        rendered: hashes,
        render_hash: rendered.hash.clone(),
        content_hash,
        deployment,
    };
    // A last line of defence: a template that leaks a secret through an output (Azure omits secure outputs,
    // but a plain `string` output of a secret parameter is returned) must not put it into git.
    let lock_text = scrub_secrets(&lock.to_text(), &known_secrets(rendered));
    // A fleet trust without values of its own has none to record: fleet.yaml holds them.
    let mut files = if loaded.values.file == crate::values::NO_FILE {
        Vec::new()
    } else {
        vec![(VALUES_FILE.to_string(), values_bytes)]
    };
    files.extend(
        rendered_files
            .into_iter()
            .map(|(name, bytes)| (format!("{RENDERED_DIR}/{name}"), bytes)),
    );
    files.push((LOCK_FILE.to_string(), lock_text.into_bytes()));
    (files, lock)
}

/// A lock's `content_hash`: one `sha256sum`-style line per file, the values file's, then the rendered files' in
/// name order.
fn content_hash_of(values_hash: &str, rendered: &BTreeMap<String, String>) -> String {
    let mut all = format!("{values_hash}  {VALUES_FILE}\n");
    for (name, hash) in rendered {
        all.push_str(&format!("{hash}  {RENDERED_DIR}/{name}\n"));
    }
    hash_bytes(all.as_bytes())
}

/// Whether a trust's values and rendering hash as `lock` records them (its `content_hash`), without serialising
/// the rendered templates again (a fleet plan asks this of every trust). The render manifest holds each
/// deployment's hash of its two files' bytes (`render::manifest_bytes`), and a template file is one JSON value,
/// so an unchanged manifest means unchanged files; what is left to compare is the values file, the manifest,
/// the list of files, and that the lock's own listing gives its `content_hash` (a lock edited by hand does not).
pub fn matches_lock(lock: &Lock, loaded: &Loaded, rendered: &Rendered) -> bool {
    let manifest = hash_bytes(&crate::render::manifest_bytes(rendered));
    let mut names: Vec<String> = rendered
        .deployments
        .iter()
        .flat_map(crate::render::deployment_files)
        .chain([crate::render::MANIFEST_FILE.to_string()])
        .collect();
    names.sort();
    lock.values.hash == hash_bytes(loaded.values.text.as_bytes())
        && lock.rendered.get(crate::render::MANIFEST_FILE) == Some(&manifest)
        && lock.rendered.keys().eq(names.iter())
        && lock.content_hash == content_hash_of(&lock.values.hash, &lock.rendered)
}

/// Secrets shorter than this are not scrubbed: replacing every `a` or `12` in a lock would corrupt it and hide
/// nothing (so short a secret is refused by Azure's password rules anyway).
const MIN_SCRUBBED_SECRET: usize = 8;

/// The secret values this run sends: the trust's `secret_env` variables as they are set now, longest first.
fn known_secrets(rendered: &Rendered) -> Vec<String> {
    let mut secrets: Vec<String> = rendered
        .deployments
        .iter()
        .flat_map(|d| d.secret_env.values())
        .filter_map(|variable| std::env::var(variable).ok())
        .filter(|v| v.chars().count() >= MIN_SCRUBBED_SECRET)
        .collect();
    secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    secrets.dedup();
    secrets
}

/// `text` with every secret replaced by `***`, whether written as is or escaped as in a JSON or YAML
/// double-quoted string.
fn scrub_secrets(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        let escaped = serde_json::to_string(secret).unwrap_or_default();
        let escaped = escaped.trim_matches('"');
        for form in [secret.as_str(), escaped] {
            if !form.is_empty() && out.contains(form) {
                out = out.replace(form, "***");
            }
        }
    }
    out
}

/// Commit a rendered trust to the fleet repository at `fleet`, waiting up to a minute for another trustprint.
pub fn record(fleet: &Path, loaded: &Loaded, rendered: &Rendered) -> Result<RecordOutcome, Error> {
    record_with(fleet, loaded, rendered, &RecordOptions::default())
}

/// [`record`] with options.
pub fn record_with(
    fleet: &Path,
    loaded: &Loaded,
    rendered: &Rendered,
    options: &RecordOptions,
) -> Result<RecordOutcome, Error> {
    let ods =
        crate::types::OdsCode::parse(&rendered.trust.ods_code).map_err(|e| Error::Internal {
            message: format!("the rendered trust's ODS code was not validated: {e}"),
        })?;
    let trust_rel = FleetRepo::trust_rel(ods.as_str());
    let fleet_repo = FleetRepo::new(fleet);
    fleet_repo.refuse_links(&trust_rel)?;
    let (repo, created) = open_or_init(fleet)?;
    let git_dir = repo.path().to_path_buf();
    let guard = FleetLock::acquire(
        fleet,
        &git_dir.join("trustprint.lock"),
        options.lock_timeout,
    )?;
    if let Some(note) = &guard.orphaned {
        clear_orphaned_git_locks(&git_dir, note);
    }

    // A record killed in the middle of swapping the trust's folder left it beside itself: put it back first.
    Swap::recover(&fleet.join(&trust_rel))?;
    // A stamp that deploys nothing (no change planned, or no target) keeps the last recorded outcome.
    let deployment = match options.deployment.clone() {
        Some(d) => Some(d),
        None => fleet_repo
            .read_lock(ods.as_str())?
            .and_then(|l| l.deployment),
    };
    let (mut files, _lock) = trust_files_with(loaded, rendered, deployment);
    files.extend(kept_files(&repo, &trust_rel).map_err(|source| Error::Git {
        context: format!("reading {trust_rel}'s committed evidence"),
        source,
    })?);
    refuse_dirty(&repo, fleet, &trust_rel, &files)?;

    let git = |context: String| move |source| Error::Git { context, source };
    let trust_tree =
        build_tree(&repo, &files).map_err(git(format!("writing {trust_rel} objects")))?;

    let (head, head_tree) = head_of(&repo)?;
    let recorded = head_tree
        .as_ref()
        .and_then(|t| t.get_path(Path::new(&trust_rel)).ok())
        .map(|e| e.id());
    let outcome = |commit| RecordOutcome {
        commit,
        trust_dir: trust_rel.clone(),
        fleet: fleet.to_path_buf(),
        created,
    };
    let trust_dir = fleet.join(&trust_rel);
    if recorded == Some(trust_tree) {
        tracing::info!(trust = %trust_rel, "unchanged since the last stamp: no commit");
        // A stamp killed after its commit leaves the folder or the index behind HEAD: bring them in line.
        if !clean(&repo, &trust_rel)? {
            follow_commit(&repo, &trust_dir, &trust_rel, &files)?;
        }
        return Ok(outcome(None));
    }

    let root = replace_subtree(
        &repo,
        head_tree.as_ref(),
        crate::repo::TRUSTS_DIR,
        ods.as_str(),
        trust_tree,
    )
    .map_err(git("building the commit's tree".into()))?;
    let tree = repo
        .find_tree(root)
        .map_err(git("reading the commit's tree".into()))?;

    // The commit is made from blobs alone: until it exists nothing in the work tree or the index has
    // changed, so a failure (or a kill) before it leaves the repository exactly as it was.
    let message = commit_message(rendered, head_tree.is_some() && recorded.is_some());
    let commit = commit_on_head(&repo, head.as_ref(), &tree, &message)
        .map_err(git(format!("committing {trust_rel}")))?;
    follow_commit(&repo, &trust_dir, &trust_rel, &files)?;

    tracing::info!(commit = %commit, trust = %trust_rel, "recorded");
    Ok(outcome(Some(commit.to_string())))
}

/// The git status of every file under the trust's folder (untracked ones too, ignored ones not).
fn trust_statuses<'r>(repo: &'r Repository, trust_rel: &str) -> Result<git2::Statuses<'r>, Error> {
    let mut opts = StatusOptions::new();
    opts.pathspec(format!("{trust_rel}/"))
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    repo.statuses(Some(&mut opts)).map_err(|source| Error::Git {
        context: format!("reading the status of {trust_rel}"),
        source,
    })
}

/// Whether the trust's folder has nothing staged, modified or untracked.
fn clean(repo: &Repository, trust_rel: &str) -> Result<bool, Error> {
    let statuses = trust_statuses(repo, trust_rel)?;
    Ok(statuses
        .iter()
        .all(|s| s.status().is_empty() || s.status().is_ignored()))
}

/// After the commit: the trust's folder (swapped in whole) and the index follow it, so `git status` is clean
/// for this trust. A kill part way leaves the commit made and the folder or index behind it, which the next
/// record of the trust brings in line ([`refuse_dirty`] knows such leftovers from edits).
fn follow_commit(
    repo: &Repository,
    trust_dir: &Path,
    trust_rel: &str,
    files: &[(String, Vec<u8>)],
) -> Result<(), Error> {
    let git = |context: String| move |source| Error::Git { context, source };
    Swap::stage(trust_dir, files)?.finish();
    let mut index = repo.index().map_err(git("reading the index".into()))?;
    index
        .remove_dir(Path::new(trust_rel), 0)
        .map_err(git(format!("unstaging old {trust_rel} from the index")))?;
    for (file, _) in files {
        let rel = PathBuf::from(trust_rel).join(file);
        index
            .add_path(&rel)
            .map_err(git(format!("adding {} to the index", rel.display())))?;
    }
    index.write().map_err(git("writing the index".into()))?;
    Ok(())
}

/// Commit files of the fleet repository (`fleet.yaml`, `trusts/RHW/values.yaml`: relative paths, `/`
/// separated) with `message`, creating the repository when missing, under the same lock as [`record`]. The
/// files are written atomically before the commit and put back as they were if the commit fails; a file with
/// uncommitted edits is refused, and when every file already holds its bytes in HEAD there is no commit
/// (`Ok(None)`).
pub fn record_files(
    fleet: &Path,
    files: &[(String, Vec<u8>)],
    message: &str,
    lock_timeout: Duration,
) -> Result<Option<String>, Error> {
    let fleet_repo = FleetRepo::new(fleet);
    for (name, _) in files {
        fleet_repo.refuse_links(name)?;
    }
    let (repo, _) = open_or_init(fleet)?;
    let git_dir = repo.path().to_path_buf();
    let guard = FleetLock::acquire(fleet, &git_dir.join("trustprint.lock"), lock_timeout)?;
    if let Some(note) = &guard.orphaned {
        clear_orphaned_git_locks(&git_dir, note);
    }
    let git = |context: String| move |source| Error::Git { context, source };

    let (head, head_tree) = head_of(&repo)?;
    let mut before: Vec<Option<Vec<u8>>> = Vec::new();
    let mut changed = false;
    for (name, bytes) in files {
        let path = fleet.join(name);
        let on_disk = match std::fs::read(&path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&path, e)),
        };
        let committed = match head_tree
            .as_ref()
            .and_then(|t| t.get_path(Path::new(name)).ok())
        {
            Some(entry) => Some(
                repo.find_blob(entry.id())
                    .map_err(git(format!("reading the committed {name}")))?
                    .content()
                    .to_vec(),
            ),
            None => None,
        };
        if on_disk.is_some() && on_disk != committed && on_disk.as_deref() != Some(bytes.as_slice())
        {
            return Err(Error::FleetDirty {
                fleet: fleet.to_path_buf(),
                dir: name.clone(),
                files: vec![name.clone()],
            });
        }
        changed |= committed.as_deref() != Some(bytes.as_slice());
        before.push(on_disk);
    }
    if !changed {
        return Ok(None);
    }

    let mut update = git2::build::TreeUpdateBuilder::new();
    for (name, bytes) in files {
        let blob = repo.blob(bytes).map_err(git(format!("writing {name}")))?;
        update.upsert(name.as_str(), blob, git2::FileMode::Blob);
    }
    let base = match &head_tree {
        Some(t) => t.clone(),
        None => {
            let empty = repo
                .treebuilder(None)
                .and_then(|b| b.write())
                .map_err(git("building the commit's tree".into()))?;
            repo.find_tree(empty)
                .map_err(git("building the commit's tree".into()))?
        }
    };
    let tree = update
        .create_updated(&repo, &base)
        .and_then(|oid| repo.find_tree(oid))
        .map_err(git("building the commit's tree".into()))?;

    let restore = |upto: usize| {
        for ((name, _), old) in files.iter().zip(&before).take(upto) {
            let path = fleet.join(name);
            let restored = match old {
                Some(old) => crate::atomic::write_atomic(&path, old).map_err(Error::from),
                None => std::fs::remove_file(&path).map_err(|e| Error::io(&path, e)),
            };
            if let Err(e) = restored {
                tracing::error!(error = %e, "could not restore {}", path.display());
            }
        }
    };
    for (i, (name, bytes)) in files.iter().enumerate() {
        if let Err(e) = crate::atomic::write_atomic(&fleet.join(name), bytes) {
            restore(i);
            return Err(e.into());
        }
    }
    let commit = match commit_on_head(&repo, head.as_ref(), &tree, message) {
        Ok(c) => c,
        Err(e) => {
            restore(files.len());
            return Err(git("committing".into())(e));
        }
    };
    let mut index = repo.index().map_err(git("reading the index".into()))?;
    for (name, _) in files {
        index
            .add_path(Path::new(name))
            .map_err(git(format!("adding {name} to the index")))?;
    }
    index.write().map_err(git("writing the index".into()))?;
    Ok(Some(commit.to_string()))
}

/// HEAD's commit and tree, or none in a repository without commits.
fn head_of(repo: &Repository) -> Result<(Option<git2::Commit<'_>>, Option<git2::Tree<'_>>), Error> {
    let git = |context: &str| {
        let context = context.to_string();
        move |source| Error::Git { context, source }
    };
    let head = match repo.head() {
        Ok(h) => Some(h.peel_to_commit().map_err(git("reading HEAD's commit"))?),
        Err(e)
            if matches!(
                e.code(),
                git2::ErrorCode::UnbornBranch | git2::ErrorCode::NotFound
            ) =>
        {
            None
        }
        Err(e) => return Err(git("reading HEAD")(e)),
    };
    let tree = match &head {
        Some(c) => Some(c.tree().map_err(git("reading HEAD's tree"))?),
        None => None,
    };
    Ok((head, tree))
}

/// Commit `tree` on top of `head` (the repository's signature, else trustprint's own).
fn commit_on_head(
    repo: &Repository,
    head: Option<&git2::Commit>,
    tree: &git2::Tree,
    message: &str,
) -> Result<git2::Oid, git2::Error> {
    let signature = repo
        .signature()
        .or_else(|_| Signature::now("trustprint", "trustprint@localhost"))?;
    let parents: Vec<&git2::Commit> = head.into_iter().collect();
    repo.commit(
        Some("HEAD"),
        &signature,
        &signature,
        message,
        tree,
        &parents,
    )
}

/// Folders of a trust's folder that other commands commit there (`trustprint evidence --fleet`): a restamp
/// keeps what HEAD holds of them.
const KEPT_DIRS: &[&str] = &[crate::repo::EVIDENCE_DIR];

/// HEAD's files under the trust's [`KEPT_DIRS`], relative to the trust's folder.
fn kept_files(repo: &Repository, trust_rel: &str) -> Result<Vec<(String, Vec<u8>)>, git2::Error> {
    let Ok(head) = repo.head().and_then(|h| h.peel_to_tree()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for dir in KEPT_DIRS {
        let Ok(entry) = head.get_path(Path::new(&format!("{trust_rel}/{dir}"))) else {
            continue;
        };
        let tree = repo.find_tree(entry.id())?;
        let mut blobs = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |root, e| {
            if e.kind() == Some(git2::ObjectType::Blob) {
                blobs.push((
                    format!("{dir}/{root}{}", e.name().unwrap_or_default()),
                    e.id(),
                ));
            }
            git2::TreeWalkResult::Ok
        })?;
        for (name, id) in blobs {
            out.push((name, repo.find_blob(id)?.content().to_vec()));
        }
    }
    Ok(out)
}

fn commit_message(rendered: &Rendered, restamp: bool) -> String {
    let t = &rendered.trust;
    let b = &rendered.blueprint;
    let mut m = format!(
        "{} {} ({}) with {} {}\n\nTrust: {}\nODS code: {}\nBlueprint: {} {} from {}\n",
        if restamp { "Restamp" } else { "Stamp" },
        t.name,
        t.ods_code,
        b.name,
        b.version,
        t.name,
        t.ods_code,
        b.name,
        b.version,
        b.source
    );
    if let Some(c) = &b.commit {
        m.push_str(&format!("Blueprint commit: {c}\n"));
    }
    m.push_str(&format!(
        "Render hash: {}\ntrustprint {}\n",
        rendered.hash,
        env!("CARGO_PKG_VERSION")
    ));
    m
}

/// Open the fleet repository, or create it when the folder is missing or empty. Stamps started at once into a
/// new folder race to create it: one creates it and the others, finding only a `.git` being written, wait for it
/// to open (up to ten seconds) instead of failing. `bool`: the repository has no commit yet (it was created for
/// this record or by this run's turn).
fn open_or_init(fleet: &Path) -> Result<(Repository, bool), Error> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match try_open_or_init(fleet) {
            Ok(repo) => {
                let unborn = repo.head().is_err();
                return Ok((repo, unborn));
            }
            Err(_) if Instant::now() < deadline && holds_only_git(fleet) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether the folder holds a `.git` and nothing else: a repository another process is creating.
fn holds_only_git(fleet: &Path) -> bool {
    std::fs::read_dir(fleet).is_ok_and(|entries| {
        let names: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.len() == 1 && names[0] == ".git"
    })
}

fn try_open_or_init(fleet: &Path) -> Result<Repository, Error> {
    let git = |context: &str| {
        let context = format!("{context} {}", fleet.display());
        move |source| Error::Git { context, source }
    };
    if fleet.join(".git").exists() {
        return Repository::open(fleet).map_err(git("opening fleet repository"));
    }
    match std::fs::read_dir(fleet) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::OutDir {
                    path: fleet.to_path_buf(),
                    message: "it is not a git repository and not empty; give an existing fleet repository \
                              or a new folder"
                        .into(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(fleet).map_err(|e| Error::io(fleet, e))?;
        }
        Err(e) => return Err(Error::io(fleet, e)),
    }
    let repo = Repository::init(fleet).map_err(git("creating fleet repository"))?;
    tracing::info!(fleet = %fleet.display(), "created fleet repository");
    Ok(repo)
}

/// Refuse to record over uncommitted edits (staged, modified, deleted or new files) in the trust's folder.
fn refuse_dirty(
    repo: &Repository,
    fleet: &Path,
    trust_rel: &str,
    files: &[(String, Vec<u8>)],
) -> Result<(), Error> {
    let statuses = trust_statuses(repo, trust_rel)?;
    // An uncommitted file is not an edit to protect when it already holds what recording writes there (a
    // stamp killed between writing the folder and committing, or a trust's values file not yet committed);
    // the lock is trustprint's own.
    // Nor is a file that still holds what the commit before HEAD had there: a record killed after its commit
    // and before its folder followed (what it holds is in the history either way).
    let before_head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .and_then(|c| c.parent(0))
        .and_then(|p| p.tree())
        .ok();
    let as_before_head = |path: &str| {
        let Some(tree) = &before_head else {
            return false;
        };
        let on_disk = std::fs::read(fleet.join(path)).ok();
        let committed = tree
            .get_path(Path::new(path))
            .ok()
            .and_then(|e| repo.find_blob(e.id()).ok())
            .map(|b| b.content().to_vec());
        on_disk == committed
    };
    let ours = |path: &str| {
        let Some(rel) = path.strip_prefix(&format!("{trust_rel}/")) else {
            return false;
        };
        rel == LOCK_FILE
            || as_before_head(path)
            || files.iter().any(|(name, bytes)| {
                name == rel && std::fs::read(fleet.join(path)).is_ok_and(|b| &b == bytes)
            })
    };
    let files: Vec<String> = statuses
        .iter()
        .filter(|s| !s.status().is_empty() && !s.status().is_ignored())
        .filter_map(|s| s.path().map(str::to_string))
        .filter(|p| !ours(p))
        .collect();
    if files.is_empty() {
        Ok(())
    } else {
        Err(Error::FleetDirty {
            fleet: fleet.to_path_buf(),
            dir: trust_rel.to_string(),
            files,
        })
    }
}

/// Fail before anything is deployed when recording the trust would be refused for uncommitted edits in its
/// folder of the fleet repository (a repository that does not exist yet has none).
pub fn check_recordable(fleet: &Path, loaded: &Loaded, rendered: &Rendered) -> Result<(), Error> {
    let Ok(repo) = Repository::open(fleet) else {
        return Ok(());
    };
    let (files, _) = trust_files(loaded, rendered);
    refuse_dirty(
        &repo,
        fleet,
        &FleetRepo::trust_rel(&rendered.trust.ods_code),
        &files,
    )
}

/// Write the blobs and trees of a folder's files; returns the folder's tree id.
fn build_tree(repo: &Repository, files: &[(String, Vec<u8>)]) -> Result<git2::Oid, git2::Error> {
    // Group by first path segment so nested folders (`rendered/`) become subtrees.
    let mut here: Vec<(&str, &[u8])> = Vec::new();
    let mut sub: BTreeMap<&str, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    for (path, bytes) in files {
        match path.split_once('/') {
            Some((dir, rest)) => sub
                .entry(dir)
                .or_default()
                .push((rest.to_string(), bytes.clone())),
            None => here.push((path.as_str(), bytes.as_slice())),
        }
    }
    let mut tb = repo.treebuilder(None)?;
    for (name, bytes) in here {
        let blob = repo.blob(bytes)?;
        tb.insert(name, blob, 0o100644)?;
    }
    for (dir, entries) in sub {
        let oid = build_tree(repo, &entries)?;
        tb.insert(dir, oid, 0o040000)?;
    }
    tb.write()
}

/// `root` with `dir/name` replaced by the tree `subtree`.
fn replace_subtree(
    repo: &Repository,
    root: Option<&git2::Tree>,
    dir: &str,
    name: &str,
    subtree: git2::Oid,
) -> Result<git2::Oid, git2::Error> {
    let existing_dir = match root.and_then(|r| r.get_name(dir)) {
        Some(entry) => Some(repo.find_tree(entry.id())?),
        None => None,
    };
    let mut dir_builder = repo.treebuilder(existing_dir.as_ref())?;
    dir_builder.insert(name, subtree, 0o040000)?;
    let dir_oid = dir_builder.write()?;
    let mut root_builder = repo.treebuilder(root)?;
    root_builder.insert(dir, dir_oid, 0o040000)?;
    root_builder.write()
}

/// One trust's turn in the fleet repository: an exclusive lock the composer holds across the trust's whole
/// plan, apply and record, so two stamps of the same trust take turns from start to end (trusts of one fleet
/// run, each with its own lock, still run at once). The commit itself is under the repository's lock as well.
#[derive(Debug)]
pub struct TrustTurn {
    _lock: FleetLock,
}

/// Wait (up to `timeout`) for the trust's turn in the fleet repository at `fleet`, creating the repository when
/// the folder is missing or empty (so the first stamps of a new fleet take turns too, and a folder that cannot
/// hold the record is refused before anything is deployed). `None` when `create` is false and there is no
/// repository yet (a destroy creates none).
pub fn trust_turn(
    fleet: &Path,
    ods: &str,
    timeout: Duration,
    create: bool,
) -> Result<Option<TrustTurn>, Error> {
    let repo = match Repository::open(fleet) {
        Ok(repo) => repo,
        Err(_) if create => {
            FleetRepo::new(fleet).refuse_links(&FleetRepo::trust_rel(ods))?;
            open_or_init(fleet)?.0
        }
        Err(_) => return Ok(None),
    };
    let path = repo.path().join(format!("trustprint-{ods}.lock"));
    Ok(Some(TrustTurn {
        _lock: FleetLock::acquire(fleet, &path, timeout)?,
    }))
}

/// An exclusive lock on the fleet repository, held while recording; released (and its holder note cleared)
/// on drop. The lock is the OS's advisory file lock, so a crashed holder never leaves it stuck.
#[derive(Debug)]
struct FleetLock {
    file: File,
    /// The previous holder's note when it did not clear it: it died holding the lock (killed).
    orphaned: Option<String>,
}

impl FleetLock {
    fn acquire(fleet: &Path, path: &Path, timeout: Duration) -> Result<FleetLock, Error> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let start = Instant::now();
        let mut announced = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = holder_note(&mut file);
                    if start.elapsed() >= timeout {
                        return Err(Error::FleetLocked {
                            fleet: fleet.to_path_buf(),
                            lock_file: path.to_path_buf(),
                            holder,
                            waited_secs: timeout.as_secs(),
                        });
                    }
                    if !announced {
                        tracing::warn!(
                            "waiting for the fleet repository {} (locked by {holder}); giving up after {} s",
                            fleet.display(),
                            timeout.as_secs()
                        );
                        announced = true;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(path, e)),
            }
        }
        // Every holder clears its note on release: one still there is a holder that died holding the lock.
        let orphaned = match holder_note(&mut file) {
            n if n == "another process" => None,
            n => Some(n),
        };
        let note = format!(
            "trustprint {} pid {} since {}\n",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()
        );
        // The note is only for the message another process shows; failing to write it is not fatal.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(note.as_bytes()))
            .and_then(|()| file.flush());
        Ok(FleetLock { file, orphaned })
    }
}

/// Git's own lock files a trustprint killed while holding the repository's lock may have left (`index.lock`,
/// `HEAD.lock`, a branch's `.lock`): with them there, every later commit fails. Removed only when the
/// previous holder of the repository's lock died holding it (its note is still there), and only those
/// written since it took the lock, so a lock of someone's own git command is left alone.
fn clear_orphaned_git_locks(git_dir: &Path, holder_note: &str) {
    let since = holder_note
        .rsplit(" since ")
        .next()
        .and_then(|t| {
            time::OffsetDateTime::parse(t.trim(), &time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map(|t| std::time::SystemTime::from(t) - Duration::from_secs(1));
    let Some(since) = since else {
        return;
    };
    let mut candidates = vec![git_dir.join("index.lock"), git_dir.join("HEAD.lock")];
    if let Ok(entries) = std::fs::read_dir(git_dir.join("refs/heads")) {
        candidates.extend(
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "lock")),
        );
    }
    for path in candidates {
        let fresh = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|m| m >= since);
        if fresh && std::fs::remove_file(&path).is_ok() {
            tracing::warn!(
                "removed {} left by a trustprint that was killed while recording ({})",
                path.display(),
                holder_note.trim()
            );
        }
    }
}

fn holder_note(file: &mut File) -> String {
    let mut s = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut s));
    let s = s.trim();
    if s.is_empty() {
        "another process".into()
    } else {
        s.to_string()
    }
}

impl Drop for FleetLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git_repo_with_file(dir: &Path) -> Repository {
        let repo = Repository::init(dir).unwrap();
        std::fs::write(dir.join("README.md"), "fleet\n").unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("README.md")).unwrap();
        index.write().unwrap();
        let tree_id = index.write_tree().unwrap();
        {
            let tree = repo.find_tree(tree_id).unwrap();
            let sig = Signature::now("t", "t@example.nhs.uk").unwrap();
            repo.commit(Some("HEAD"), &sig, &sig, "init", &tree, &[])
                .unwrap();
        }
        repo
    }

    #[test]
    fn a_secret_leaked_into_the_lock_is_scrubbed_in_every_written_form() {
        let secret = "Pa\"ss\\word-12345".to_string();
        let lock = format!(
            "outputs:\n  plain: {secret}\n  quoted: \"{}\"\n  short: abc\n",
            serde_json::to_string(&secret).unwrap().trim_matches('"')
        );
        let scrubbed = scrub_secrets(&lock, &[secret.clone(), "abc".into()]);
        assert!(!scrubbed.contains(&secret), "{scrubbed}");
        assert!(!scrubbed.contains("Pa\\\"ss"), "{scrubbed}");
        assert_eq!(scrubbed.matches("***").count(), 3, "{scrubbed}");
    }

    #[test]
    fn the_lock_never_holds_the_value_of_a_secret_variable() {
        let mut loaded = crate::render::tests::standard("Scrub Trust");
        loaded.values.text = "trust:\n  name: Scrub Trust\n".into();
        let mut rendered = crate::render::render(&loaded).unwrap();
        let variable = "TP_RECORD_TEST_SCRUB_SECRET";
        let secret = "s3cret-value-that-leaked";
        std::env::set_var(variable, secret);
        rendered.deployments[0]
            .secret_env
            .insert("adminPassword".into(), variable.into());
        // The trust's name carries the secret, as an output would: it must not reach the lock.
        rendered.trust.name = format!("leaked {secret}");
        let (files, _) = trust_files_with(&loaded, &rendered, None);
        let lock = files.iter().find(|(name, _)| name == LOCK_FILE).unwrap();
        let text = String::from_utf8(lock.1.clone()).unwrap();
        assert!(!text.contains(secret), "{text}");
        assert!(text.contains("leaked ***"), "{text}");
    }

    #[test]
    fn matches_lock_agrees_with_the_content_hash_without_serialising_the_templates_again() {
        let mut loaded = crate::render::tests::standard("Match Trust");
        loaded.values.text = "trust:\n  name: Match Trust\n".into();
        let rendered = crate::render::render(&loaded).unwrap();
        let (_, lock) = trust_files(&loaded, &rendered);
        // The full comparison the shortcut stands for: every file serialised and hashed again.
        let full = |loaded: &Loaded, rendered: &Rendered, lock: &Lock| {
            trust_files(loaded, rendered).1.content_hash == lock.content_hash
        };
        // A deployment's hash follows its files, as rendering computes it.
        let rehash = |d: &mut crate::model::RenderedDeployment| {
            let bytes = |v| crate::hash::to_bytes(v);
            d.hash = crate::hash::sha256(&[&bytes(&d.template), &bytes(&d.parameters)]);
        };
        let rerender = |rendered: &mut Rendered| {
            let joined: String = rendered
                .deployments
                .iter()
                .map(|d| format!("{}\n", d.hash))
                .collect();
            rendered.hash = crate::hash::sha256(&[joined.as_bytes()]);
        };
        assert!(matches_lock(&lock, &loaded, &rendered));
        assert!(full(&loaded, &rendered, &lock));

        let same = || Loaded {
            blueprint: loaded.blueprint.clone(),
            values: loaded.values.clone(),
        };
        let mut changes: Vec<(&str, Loaded, Rendered)> = Vec::new();
        let mut values = same();
        values.values.text.push_str("# edited\n");
        changes.push(("the values file", values, rendered.clone()));
        let mut template = rendered.clone();
        template.deployments[0].template["contentVersion"] = "2.0.0.0".into();
        rehash(&mut template.deployments[0]);
        rerender(&mut template);
        changes.push(("a template", same(), template));
        let mut parameters = rendered.clone();
        parameters.deployments[0].parameters["parameters"]["extra"] =
            serde_json::json!({"value": 1});
        rehash(&mut parameters.deployments[0]);
        rerender(&mut parameters);
        changes.push(("a parameters file", same(), parameters));
        let mut place = rendered.clone();
        place.deployments[0].location = "ukwest".into();
        changes.push(("a deployment's location (the manifest only)", same(), place));
        let mut fewer = rendered.clone();
        fewer.deployments.pop();
        rerender(&mut fewer);
        changes.push(("one deployment fewer", same(), fewer));
        for (what, loaded, rendered) in &changes {
            assert!(
                !full(loaded, rendered, &lock),
                "{what}: the full hash sees it"
            );
            assert!(
                !matches_lock(&lock, loaded, rendered),
                "{what}: so must the shortcut"
            );
        }

        // A lock edited by hand is not trusted: a file's hash changed, or a file added, without its content hash.
        let mut tampered = lock.clone();
        let first = tampered.rendered.keys().next().unwrap().clone();
        tampered.rendered.insert(first, "sha256:00".into());
        assert!(!matches_lock(&tampered, &loaded, &rendered));
        let mut extra = lock.clone();
        extra
            .rendered
            .insert("extra.json".into(), "sha256:00".into());
        extra.content_hash = content_hash_of(&extra.values.hash, &extra.rendered);
        assert!(!matches_lock(&extra, &loaded, &rendered));
    }

    fn head_id(repo: &Repository) -> String {
        repo.head().unwrap().target().unwrap().to_string()
    }

    fn stamp(fleet: &Path, name: &str) -> Result<RecordOutcome, Error> {
        let mut loaded = crate::render::tests::standard(name);
        loaded.values.text = format!("trust:\n  name: {name}\n");
        let rendered = crate::render::render(&loaded).unwrap();
        record(fleet, &loaded, &rendered)
    }

    #[test]
    fn creates_the_repository_commits_once_and_not_again() {
        let tmp = tempfile::tempdir().unwrap();
        let fleet = tmp.path().join("fleet");
        let first = stamp(&fleet, "A TRUST").unwrap();
        assert!(first.created);
        let repo = Repository::open(&fleet).unwrap();
        let commit = repo.head().unwrap().peel_to_commit().unwrap();
        assert_eq!(Some(commit.id().to_string()), first.commit);
        assert_eq!(
            commit.summary(),
            Some("Stamp A TRUST (RM3) with test-bp 1.2.3")
        );
        let tree = commit.tree().unwrap();
        for f in [
            "trusts/RM3/values.yaml",
            "trusts/RM3/trustprint.lock",
            "trusts/RM3/rendered/base.json",
            "trusts/RM3/rendered/workload.parameters.json",
            "trusts/RM3/rendered/render-manifest.json",
        ] {
            assert!(tree.get_path(Path::new(f)).is_ok(), "{f} committed");
            assert!(fleet.join(f).is_file(), "{f} in the work tree");
        }
        let lock = std::fs::read_to_string(fleet.join("trusts/RM3/trustprint.lock")).unwrap();
        assert!(lock.contains("render_hash: sha256:"), "{lock}");
        assert!(repo.statuses(None).unwrap().is_empty(), "work tree clean");

        let again = stamp(&fleet, "A TRUST").unwrap();
        assert_eq!(again.commit, None);
        assert_eq!(head_id(&repo), commit.id().to_string());

        let changed = stamp(&fleet, "A RENAMED TRUST").unwrap();
        let new = repo.head().unwrap().peel_to_commit().unwrap();
        assert_eq!(Some(new.id().to_string()), changed.commit);
        assert_eq!(new.parent_id(0).unwrap(), commit.id());
        assert_eq!(
            new.summary(),
            Some("Restamp A RENAMED TRUST (RM3) with test-bp 1.2.3")
        );
        assert!(repo.statuses(None).unwrap().is_empty(), "work tree clean");
    }

    #[test]
    fn commits_only_the_trust_even_with_other_changes_staged() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = git_repo_with_file(tmp.path());
        std::fs::write(tmp.path().join("other.txt"), "someone else's work\n").unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("other.txt")).unwrap();
        index.write().unwrap();
        stamp(tmp.path(), "A TRUST").unwrap();
        let tree = repo.head().unwrap().peel_to_tree().unwrap();
        assert!(tree.get_name("other.txt").is_none());
        assert!(tree.get_name("README.md").is_some());
        // Still staged for its owner to commit.
        let index = repo.index().unwrap();
        assert!(index.get_path(Path::new("other.txt"), 0).is_some());
    }

    #[test]
    fn an_uncommitted_file_holding_what_record_writes_is_not_an_edit() {
        let tmp = tempfile::tempdir().unwrap();
        let fleet = tmp.path();
        stamp(fleet, "A TRUST").unwrap();
        // The trust's next values file, written by hand and not committed yet: the stamp records it.
        std::fs::write(
            fleet.join("trusts/RM3/values.yaml"),
            "trust:\n  name: A RENAMED TRUST\n",
        )
        .unwrap();
        let out = stamp(fleet, "A RENAMED TRUST").unwrap();
        assert!(out.commit.is_some());
        let repo = Repository::open(fleet).unwrap();
        assert!(repo.statuses(None).unwrap().is_empty());
    }

    #[test]
    fn refuses_uncommitted_edits_in_the_trust_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let fleet = tmp.path();
        stamp(fleet, "A TRUST").unwrap();
        let repo = Repository::open(fleet).unwrap();
        let before = head_id(&repo);
        std::fs::write(fleet.join("trusts/RM3/values.yaml"), "edited by hand\n").unwrap();
        let err = stamp(fleet, "A RENAMED TRUST").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "fleet repository {}: trusts/RM3 has uncommitted changes (trusts/RM3/values.yaml); commit or \
                 discard them first, trustprint will not overwrite them",
                fleet.display()
            )
        );
        assert_eq!(head_id(&repo), before);
        assert_eq!(
            std::fs::read_to_string(fleet.join("trusts/RM3/values.yaml")).unwrap(),
            "edited by hand\n"
        );
    }

    #[test]
    fn a_rerun_finishes_a_stamp_killed_before_its_commit() {
        let tmp = tempfile::tempdir().unwrap();
        let fleet = tmp.path();
        stamp(fleet, "A TRUST").unwrap();
        // What a stamp killed after swapping the folder in, before committing, leaves behind.
        let mut loaded = crate::render::tests::standard("A RENAMED TRUST");
        loaded.values.text = "trust:\n  name: A RENAMED TRUST\n".into();
        let rendered = crate::render::render(&loaded).unwrap();
        let (files, _) = trust_files(&loaded, &rendered);
        Swap::stage(&fleet.join("trusts/RM3"), &files)
            .unwrap()
            .finish();

        let outcome = stamp(fleet, "A RENAMED TRUST").unwrap();
        assert!(outcome.commit.is_some());
        let repo = Repository::open(fleet).unwrap();
        assert!(repo.statuses(None).unwrap().is_empty(), "work tree clean");
    }

    #[test]
    fn a_non_git_folder_with_files_is_not_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
        let err = stamp(tmp.path(), "A TRUST").unwrap_err();
        assert!(
            err.to_string().ends_with(
                "it is not a git repository and not empty; give an existing fleet repository or a new folder"
            ),
            "{err}"
        );
        assert!(!tmp.path().join(".git").exists());
    }

    #[test]
    fn a_failed_commit_restores_the_trust_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let fleet = tmp.path();
        stamp(fleet, "A TRUST").unwrap();
        let repo = Repository::open(fleet).unwrap();
        let before = head_id(&repo);
        let values_before = std::fs::read(fleet.join("trusts/RM3/values.yaml")).unwrap();
        // Another git holding the branch's ref lock makes the commit fail.
        let branch = repo.head().unwrap().name().unwrap().to_string();
        let ref_lock = repo.path().join(format!("{branch}.lock"));
        std::fs::write(&ref_lock, "").unwrap();
        let err = stamp(fleet, "A RENAMED TRUST").unwrap_err();
        assert!(
            err.to_string().starts_with("git: committing trusts/RM3"),
            "{err}"
        );
        std::fs::remove_file(&ref_lock).unwrap();
        assert_eq!(head_id(&repo), before);
        assert_eq!(
            std::fs::read(fleet.join("trusts/RM3/values.yaml")).unwrap(),
            values_before
        );
        assert!(
            repo.statuses(None).unwrap().is_empty(),
            "work tree as it was"
        );
        let leftovers: Vec<_> = std::fs::read_dir(fleet.join("trusts"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["RM3"]);
    }

    #[test]
    fn second_lock_waits_then_fails_naming_the_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("trustprint.lock");
        let held = FleetLock::acquire(tmp.path(), &path, Duration::from_secs(1)).unwrap();
        let err = FleetLock::acquire(tmp.path(), &path, Duration::from_millis(200))
            .expect_err("second lock must fail");
        let text = err.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        assert!(text.contains("raise --lock-timeout"), "{text}");
        drop(held);
        FleetLock::acquire(tmp.path(), &path, Duration::from_millis(200)).expect("free again");
    }

    #[test]
    fn replace_subtree_keeps_the_rest_of_the_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = git_repo_with_file(tmp.path());
        let head = repo.head().unwrap().peel_to_tree().unwrap();
        let sub = build_tree(
            &repo,
            &[
                ("a.txt".into(), b"a".to_vec()),
                ("rendered/b.json".into(), b"{}".to_vec()),
            ],
        )
        .unwrap();
        let root = replace_subtree(&repo, Some(&head), "trusts", "RM3", sub).unwrap();
        let root = repo.find_tree(root).unwrap();
        assert!(root.get_name("README.md").is_some());
        assert!(root.get_path(Path::new("trusts/RM3/a.txt")).is_ok());
        assert!(root
            .get_path(Path::new("trusts/RM3/rendered/b.json"))
            .is_ok());
    }
}
