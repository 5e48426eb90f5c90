//! Blueprint versions: a blueprint opened at a given release.
//!
//! Contract: [`open_version`] returns the blueprint at `version` or an error naming the source, the version
//! asked for and the versions it does hold:
//! - a git source without a ref is read at the tag `v<version>` (else `<version>`); with a ref, at that ref;
//! - a folder or the embedded copy holds its current version in full and earlier releases as patches,
//!   `releases/<version>.patch` beside `blueprint.yaml`: the `git diff` that turns the current files back into
//!   that release (paths relative to the source's root, as `git diff v1.1.0 v1.0.0` writes them). The patch
//!   is applied in memory with libgit2, never to the files on disk;
//! - whatever the route, the manifest found must say `version: <version>`.

use super::Error;
use super::{source, Blueprint, SourceSpec};
use semver::Version;

/// The folder, beside blueprint.yaml, that holds earlier releases as patches.
pub const RELEASES_DIR: &str = "releases";

fn err(desc: &str, message: String) -> Error {
    source::read_error(desc, message)
}

/// Open `source` at `version`.
pub fn open_version(spec: &SourceSpec, version: &Version) -> Result<Blueprint, Error> {
    let bp = match spec {
        SourceSpec::Git {
            url,
            subdir,
            reference: None,
        } => {
            let at = |r: String| SourceSpec::Git {
                url: url.clone(),
                subdir: subdir.clone(),
                reference: Some(r),
            };
            match super::open(&at(format!("v{version}"))) {
                Ok(bp) => bp,
                Err(first) => super::open(&at(version.to_string())).map_err(|_| first)?,
            }
        }
        SourceSpec::Git { .. } => super::open(spec)?,
        SourceSpec::Embedded | SourceSpec::Dir(_) => {
            let current = super::open(spec)?;
            if current.manifest.version == *version {
                return Ok(current);
            }
            let (bp_dir, patch, releases) = match spec {
                SourceSpec::Dir(dir) => {
                    let canon = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
                    let (boundary, _) = source::enclosing_work_tree(&canon);
                    let releases = dir.join(RELEASES_DIR);
                    let patch = std::fs::read(releases.join(format!("{version}.patch"))).ok();
                    let listed = std::fs::read_dir(&releases)
                        .map(|rd| {
                            rd.filter_map(Result::ok)
                                .filter_map(|e| {
                                    e.file_name()
                                        .to_str()?
                                        .strip_suffix(".patch")
                                        .map(str::to_string)
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    (source::rel_str(&canon, &boundary), patch, listed)
                }
                _ => (
                    source::EMBEDDED_DIR.to_string(),
                    source::embedded_release(&version.to_string()).map(<[u8]>::to_vec),
                    source::embedded_releases(),
                ),
            };
            let Some(patch) = patch else {
                let mut held: Vec<String> = releases;
                held.push(current.manifest.version.to_string());
                held.sort_by(|a, b| match (Version::parse(a), Version::parse(b)) {
                    (Ok(a), Ok(b)) => a.cmp(&b),
                    _ => a.cmp(b),
                });
                return Err(err(
                    &current.source,
                    format!(
                        "{} has no version {version}: it holds {} (earlier releases are patches in {RELEASES_DIR}/)",
                        current.manifest.name,
                        held.join(", ")
                    ),
                ));
            };
            let desc = format!("{}@{version}", current.source);
            let files = current_files(&current, &bp_dir)?;
            let patched = apply_patch(&desc, &files, &patch)?;
            let refs: Vec<(String, &[u8])> = patched
                .iter()
                .map(|(p, b)| (p.clone(), b.as_slice()))
                .collect();
            source::open_files(&desc, &bp_dir, &refs, current.commit.clone())?
        }
    };
    if bp.manifest.version != *version {
        return Err(err(
            &bp.source,
            format!(
                "asked for version {version}, but its blueprint.yaml says version {}",
                bp.manifest.version
            ),
        ));
    }
    Ok(bp)
}

/// The current version's files by path relative to the source root: blueprint.yaml and the templates.
fn current_files(bp: &Blueprint, bp_dir: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let [root] = bp.manifest.template_roots.as_slice() else {
        return Err(err(
            &bp.source,
            "release patches need a blueprint with exactly one template root".into(),
        ));
    };
    let root = source::join_inside(bp_dir, root)
        .map_err(|m| err(&bp.source, format!("template root `{root}` {m}")))?;
    let mut files = vec![(
        format!("{bp_dir}/blueprint.yaml"),
        bp.manifest_text.as_bytes().to_vec(),
    )];
    files.extend(
        bp.templates
            .iter()
            .map(|(p, t)| (format!("{root}/{p}"), t.as_bytes().to_vec())),
    );
    Ok(files)
}

/// Apply a `git diff` to files held in memory (a repository whose objects live only in memory).
pub(super) fn apply_patch(
    desc: &str,
    files: &[(String, Vec<u8>)],
    patch: &[u8],
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let git = |what: &str| {
        let context = format!("{desc}: {what}");
        move |source| Error::Git { context, source }
    };
    let odb = git2::Odb::new().map_err(git("creating an object store in memory"))?;
    odb.add_new_mempack_backend(1)
        .map_err(git("creating an object store in memory"))?;
    let repo = git2::Repository::from_odb(odb).map_err(git("creating a repository in memory"))?;
    let mut update = git2::build::TreeUpdateBuilder::new();
    for (path, bytes) in files {
        let blob = repo.blob(bytes).map_err(git("storing a file in memory"))?;
        update.upsert(path, blob, git2::FileMode::Blob);
    }
    let empty = repo
        .treebuilder(None)
        .and_then(|b| b.write())
        .and_then(|id| repo.find_tree(id))
        .map_err(git("building a tree in memory"))?;
    let tree = update
        .create_updated(&repo, &empty)
        .and_then(|id| repo.find_tree(id))
        .map_err(git("building a tree in memory"))?;
    let diff = git2::Diff::from_buffer(patch).map_err(git("reading the release patch"))?;
    let index = repo.apply_to_tree(&tree, &diff, None).map_err(git(
        "applying the release patch (was a file it changes edited since?)",
    ))?;
    index
        .iter()
        .map(|entry| {
            let path = String::from_utf8_lossy(&entry.path).into_owned();
            let blob = repo
                .find_blob(entry.id)
                .map_err(git("reading a patched file"))?;
            Ok((path, blob.content().to_vec()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn a_patch_edits_adds_and_deletes_files_in_memory() {
        let patch = "diff --git a/bp/a.txt b/bp/a.txt\n\
                     --- a/bp/a.txt\n+++ b/bp/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+deux\n\
                     diff --git a/t/new.txt b/t/new.txt\nnew file mode 100644\n--- /dev/null\n+++ b/t/new.txt\n@@ -0,0 +1 @@\n+fresh\n\
                     diff --git a/t/old.txt b/t/old.txt\ndeleted file mode 100644\n--- a/t/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-stale\n";
        let out = apply_patch(
            "test",
            &files(&[("bp/a.txt", "one\ntwo\n"), ("t/old.txt", "stale\n")]),
            patch.as_bytes(),
        )
        .unwrap();
        assert_eq!(
            out,
            files(&[("bp/a.txt", "one\ndeux\n"), ("t/new.txt", "fresh\n")])
        );
    }

    #[test]
    fn a_patch_that_no_longer_applies_is_refused_naming_the_source() {
        let patch =
            "diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-two\n+deux\n";
        let e = apply_patch(
            "embedded:x@1.0.0",
            &files(&[("a.txt", "three\n")]),
            patch.as_bytes(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("embedded:x@1.0.0"), "{e}");
        assert!(e.contains("applying the release patch"), "{e}");
    }

    #[test]
    fn the_embedded_exemplar_opens_at_each_shipped_release() {
        let current = super::super::open(&SourceSpec::Embedded).unwrap();
        let releases = source::embedded_releases();
        assert!(releases.contains(&"1.0.0".to_string()), "{releases:?}");
        for r in releases {
            let v = Version::parse(&r).unwrap();
            let bp = open_version(&SourceSpec::Embedded, &v).unwrap();
            assert_eq!(bp.manifest.version, v);
            assert_eq!(bp.source, format!("embedded:exemplar-epr@{r}"));
            assert_ne!(
                bp.templates, current.templates,
                "release {r} differs from the current"
            );
        }
        let old = open_version(&SourceSpec::Embedded, &Version::new(1, 0, 0)).unwrap();
        assert!(old.manifest.parameters.contains_key("patching.recur_every"));
        assert!(!old
            .manifest
            .parameters
            .contains_key("patching.wave1.recur_every"));
        assert!(old.manifest.migrations.is_empty());
    }

    #[test]
    fn a_version_the_source_does_not_hold_is_refused_listing_those_it_does() {
        let e = open_version(&SourceSpec::Embedded, &Version::new(0, 9, 0))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("exemplar-epr has no version 0.9.0: it holds 1.0.0, 1.1.0"),
            "{e}"
        );
    }
}
