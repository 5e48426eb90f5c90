//! Git sources: fetch a repository into the cache and check a ref out.
//!
//! Layout under the cache (see [`super::cache_dir`]): `git/<sha256(url)[..16]>/repo.git` is a bare mirror of the
//! repository's branches and tags; `git/<..>/checkouts/<commit>` is the tree at one commit. A commit's tree never
//! changes, so a checkout is written once, into a temporary folder renamed into place: a reader sees either no
//! checkout or a whole one, never half of one.

use super::Error;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn blueprint_err(desc: &str, message: String) -> Error {
    Error::Blueprint {
        source_desc: desc.to_string(),
        message,
    }
}

fn git_err(context: String) -> impl FnOnce(git2::Error) -> Error {
    move |source| Error::Git { context, source }
}

/// Fetch `url` into the cache and check out `reference` (a tag, branch or commit; the remote's HEAD when
/// `None`). Returns the checkout's canonical path and the commit id.
pub(super) fn fetch(
    desc: &str,
    url: &str,
    reference: Option<&str>,
) -> Result<(PathBuf, String), Error> {
    let cache = super::cache_dir().ok_or_else(|| {
        blueprint_err(
            desc,
            "no cache folder: set TRUSTPRINT_CACHE (or XDG_CACHE_HOME or HOME)".into(),
        )
    })?;
    let key = hex::encode(&Sha256::digest(url.as_bytes())[..8]);
    let base = cache.join("git").join(key);
    std::fs::create_dir_all(&base).map_err(|e| Error::io(&base, e))?;
    let _lock = FetchLock::acquire(desc, &base)?;
    let repo = open_or_init(&base)?;

    // A full commit id already in the cache cannot have changed: no need for the network.
    let cached = reference
        .filter(|r| r.len() == 40 && r.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|r| git2::Oid::from_str(r).ok())
        .and_then(|oid| repo.find_commit(oid).ok())
        .map(|c| c.id());
    let commit = match cached {
        Some(id) => id,
        None => {
            let mut remote = repo
                .remote_anonymous(url)
                .map_err(git_err(format!("cannot use the repository URL {url}")))?;
            remote
                .fetch(
                    &[
                        "+refs/heads/*:refs/heads/*",
                        "+refs/tags/*:refs/tags/*",
                        "+HEAD:refs/trustprint/HEAD",
                    ],
                    Some(git2::FetchOptions::new().download_tags(git2::AutotagOption::All)),
                    None,
                )
                .map_err(git_err(format!("fetching {url}")))?;
            resolve(&repo, desc, url, reference)?
        }
    };

    let checkouts = base.join("checkouts");
    std::fs::create_dir_all(&checkouts).map_err(|e| Error::io(&checkouts, e))?;
    let dest = checkouts.join(commit.to_string());
    if !dest.is_dir() {
        let tmp = tempfile::Builder::new()
            .prefix(".checkout-")
            .tempdir_in(&checkouts)
            .map_err(|e| Error::io(&checkouts, e))?;
        let tree = repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .map_err(git_err(format!("reading commit {commit} of {url}")))?;
        write_tree(&repo, &tree, tmp.path())?;
        let tmp_path = tmp.keep();
        if let Err(e) = std::fs::rename(&tmp_path, &dest) {
            // Another trustprint wrote the same commit first: theirs is identical, keep it.
            let _ = std::fs::remove_dir_all(&tmp_path);
            if !dest.is_dir() {
                return Err(Error::io(&dest, e));
            }
        }
    }
    let dest = dest.canonicalize().map_err(|e| Error::io(&dest, e))?;
    Ok((dest, commit.to_string()))
}

/// One fetch at a time per cached repository: libgit2 refuses a ref update while another process holds the
/// ref's lock file, and two stamps of a fleet often fetch the same blueprint at once. The lock is a file created
/// exclusively and removed on drop; one left by a crashed process is taken over once it is older than
/// [`STALE_LOCK`].
struct FetchLock(PathBuf);

const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);
const STALE_LOCK: std::time::Duration = std::time::Duration::from_secs(600);

impl FetchLock {
    fn acquire(desc: &str, base: &Path) -> Result<Self, Error> {
        let path = base.join("fetch.lock");
        let start = std::time::Instant::now();
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(FetchLock(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > STALE_LOCK);
                    if stale {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if start.elapsed() > LOCK_WAIT {
                        return Err(blueprint_err(
                            desc,
                            format!(
                                "another trustprint has been fetching into {} for over {} seconds; if none is running, delete {}",
                                base.display(),
                                LOCK_WAIT.as_secs(),
                                path.display()
                            ),
                        ));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
    }
}

impl Drop for FetchLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn open_or_init(base: &Path) -> Result<git2::Repository, Error> {
    let path = base.join("repo.git");
    if let Ok(r) = git2::Repository::open_bare(&path) {
        return Ok(r);
    }
    // Initialise beside it and rename, so a half-made repository is never left at `repo.git`.
    let tmp = tempfile::Builder::new()
        .prefix(".repo-")
        .tempdir_in(base)
        .map_err(|e| Error::io(base, e))?;
    git2::Repository::init_bare(tmp.path()).map_err(git_err(format!(
        "creating the cache repository in {}",
        base.display()
    )))?;
    let tmp_path = tmp.keep();
    if std::fs::rename(&tmp_path, &path).is_err() {
        let _ = std::fs::remove_dir_all(&tmp_path);
    }
    git2::Repository::open_bare(&path).map_err(git_err(format!(
        "opening the cache repository {}",
        path.display()
    )))
}

fn resolve(
    repo: &git2::Repository,
    desc: &str,
    url: &str,
    reference: Option<&str>,
) -> Result<git2::Oid, Error> {
    let Some(r) = reference else {
        return repo
            .find_reference("refs/trustprint/HEAD")
            .and_then(|h| h.peel_to_commit())
            .map(|c| c.id())
            .map_err(git_err(format!(
                "{url} has no HEAD commit; give a ref with @"
            )));
    };
    for name in [format!("refs/tags/{r}"), format!("refs/heads/{r}")] {
        if let Ok(found) = repo.find_reference(&name) {
            return found
                .peel_to_commit()
                .map(|c| c.id())
                .map_err(git_err(format!("{name} of {url} is not a commit")));
        }
    }
    if r.len() >= 4 && r.bytes().all(|b| b.is_ascii_hexdigit()) {
        if let Ok(c) = repo.revparse_single(r).and_then(|o| o.peel_to_commit()) {
            return Ok(c.id());
        }
    }
    let mut tags: Vec<String> = repo
        .tag_names(None)
        .map(|t| t.iter().flatten().map(str::to_string).collect())
        .unwrap_or_default();
    tags.sort();
    let known = if tags.is_empty() {
        "it has no tags".to_string()
    } else {
        let shown: Vec<&str> = tags.iter().rev().take(10).map(String::as_str).collect();
        format!("its tags include {}", shown.join(", "))
    };
    Err(blueprint_err(
        desc,
        format!("unknown ref `{r}`: no tag, branch or commit of that name in {url} ({known})"),
    ))
}

/// Write a git tree's files under `dir` (symlinks as symlinks, so the path rules can judge them).
fn write_tree(repo: &git2::Repository, tree: &git2::Tree, dir: &Path) -> Result<(), Error> {
    for entry in tree.iter() {
        let Some(name) = entry.name() else { continue };
        if name == ".." || name == "." || name.contains('/') {
            continue;
        }
        let path = dir.join(name);
        match entry.kind() {
            Some(git2::ObjectType::Tree) => {
                std::fs::create_dir(&path).map_err(|e| Error::io(&path, e))?;
                let sub = repo
                    .find_tree(entry.id())
                    .map_err(git_err(format!("reading tree {name}")))?;
                write_tree(repo, &sub, &path)?;
            }
            Some(git2::ObjectType::Blob) => {
                let blob = repo
                    .find_blob(entry.id())
                    .map_err(git_err(format!("reading {name}")))?;
                if entry.filemode() == 0o120000 {
                    write_symlink(blob.content(), &path)?;
                } else {
                    std::fs::write(&path, blob.content()).map_err(|e| Error::io(&path, e))?;
                }
            }
            // Submodules are not part of a blueprint.
            _ => {}
        }
    }
    Ok(())
}

#[cfg(unix)]
fn write_symlink(target: &[u8], path: &Path) -> Result<(), Error> {
    use std::os::unix::ffi::OsStrExt;
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), path)
        .map_err(|e| Error::io(path, e))
}

#[cfg(not(unix))]
fn write_symlink(target: &[u8], path: &Path) -> Result<(), Error> {
    // Without symlinks, keep git's own representation: a file holding the target path.
    std::fs::write(path, target).map_err(|e| Error::io(path, e))
}
