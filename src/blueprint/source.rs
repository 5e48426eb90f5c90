//! Where a blueprint's files come from: a folder, a git repository at a ref (fetched into a cache), or the copy
//! embedded in the binary; and the path rules that keep templates inside that source.
//!
//! The source boundary is the git checkout's root for git sources; for a folder, the git work tree enclosing it
//! if there is one, else the blueprint folder itself; for the embedded copy, the embedded tree. Template roots
//! may point up (`../../templates`) but never out of the boundary, and no template may be a symlink out of it.

use super::manifest::{self, Parsed, TemplateIndex};
use super::Error;
use super::{Blueprint, SourceSpec};
use crate::diag::Diagnostic;
use crate::yaml::Seg;
use include_dir::{include_dir, Dir};
use std::path::{Component, Path, PathBuf};

static EMBEDDED_BLUEPRINT: Dir = include_dir!("$CARGO_MANIFEST_DIR/blueprints/exemplar-epr");
static EMBEDDED_TEMPLATES: Dir = include_dir!("$CARGO_MANIFEST_DIR/templates");
/// Where the embedded blueprint sits in the embedded tree (as in the repository).
const EMBEDDED_BP_DIR: &str = "blueprints/exemplar-epr";
const MANIFEST: &str = "blueprint.yaml";
/// Deeper template trees than this are refused (a symlink loop would otherwise recurse forever).
const MAX_TEMPLATE_DEPTH: usize = 16;

impl SourceSpec {
    /// Parse a `--blueprint` argument: `embedded`, a folder, or a git URL
    /// (`https://host/org/repo.git//sub/dir@ref`, `file:///path/repo.git//sub@tag`).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |message: String| Error::Blueprint {
            source_desc: s.to_string(),
            message,
        };
        let s_trim = s.trim();
        if s_trim.is_empty() {
            return Err(bad(
                "an empty --blueprint; give a folder or a git URL".into()
            ));
        }
        if s_trim == "embedded" || s_trim == "embedded:exemplar-epr" {
            return Ok(SourceSpec::Embedded);
        }
        let Some((scheme, rest)) = s_trim.split_once("://") else {
            return Ok(SourceSpec::Dir(PathBuf::from(s)));
        };
        if !["https", "http", "file", "ssh", "git"].contains(&scheme) {
            return Err(bad(format!(
                "unsupported URL scheme `{scheme}`; use https://, ssh:// or file://"
            )));
        }
        // `file:///abs/path`: the path starts with the third slash, so look for `//` after it.
        let search_from = usize::from(rest.starts_with('/'));
        let (repo, sub) = match rest[search_from..].find("//") {
            Some(i) => (&rest[..search_from + i], &rest[search_from + i + 2..]),
            None => (rest, ""),
        };
        // The ref follows the last `@` of the last path segment (an `@` in `user@host` is not a ref).
        let (repo, sub, reference) = if sub.is_empty() {
            let last_slash = repo.rfind('/').unwrap_or(0);
            match repo[last_slash..].rfind('@') {
                Some(i) => (
                    &repo[..last_slash + i],
                    "",
                    Some(&repo[last_slash + i + 1..]),
                ),
                None => (repo, "", None),
            }
        } else {
            match sub.rsplit_once('@') {
                Some((sub, r)) => (repo, sub, Some(r)),
                None => (repo, sub, None),
            }
        };
        if reference.is_some_and(str::is_empty) {
            return Err(bad(
                "an empty ref after `@`; give a tag, branch or commit".into()
            ));
        }
        let subdir = sub.trim_matches('/').to_string();
        if subdir.split('/').any(|c| c == "..") {
            return Err(bad(format!(
                "the folder `{subdir}` leaves the repository (`..`)"
            )));
        }
        if repo.is_empty() {
            return Err(bad("no repository in the URL".into()));
        }
        Ok(SourceSpec::Git {
            url: format!("{scheme}://{repo}"),
            subdir,
            reference: reference.map(str::to_string),
        })
    }
}

impl std::fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceSpec::Embedded => f.write_str("embedded:exemplar-epr"),
            SourceSpec::Dir(p) => write!(f, "{}", p.display()),
            SourceSpec::Git {
                url,
                subdir,
                reference,
            } => {
                f.write_str(url)?;
                if !subdir.is_empty() {
                    write!(f, "//{subdir}")?;
                }
                if let Some(r) = reference {
                    write!(f, "@{r}")?;
                }
                Ok(())
            }
        }
    }
}

/// The cache for git sources: `$TRUSTPRINT_CACHE`, else `$XDG_CACHE_HOME/trustprint`, else
/// `~/.cache/trustprint`.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("TRUSTPRINT_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|p| p.join("trustprint")))
        .or_else(|| var("HOME").map(|p| p.join(".cache").join("trustprint")))
}

pub(super) fn open(source: &SourceSpec) -> Result<Blueprint, Error> {
    match source {
        SourceSpec::Embedded => open_embedded(),
        SourceSpec::Dir(dir) => {
            let desc = dir.display().to_string();
            let canon = dir.canonicalize().map_err(|e| Error::Blueprint {
                source_desc: desc.clone(),
                message: format!("cannot open the folder: {e}"),
            })?;
            let (boundary, repo) = enclosing_work_tree(&canon);
            let file = dir.join(MANIFEST).display().to_string();
            let bp_rel = rel_str(&canon, &boundary);
            // The blueprint folder's git status is asked on a thread of its own while the blueprint is read:
            // libgit2 reads the whole index first, much of the time to open a folder blueprint.
            let (bp, status) = std::thread::scope(|s| {
                let status = repo.map(|repo| {
                    s.spawn(|| {
                        let head = work_tree_head(&repo);
                        let dirty = head.is_some() && is_dirty(&repo, &bp_rel);
                        (repo, head, dirty)
                    })
                });
                let bp = open_fs(&desc, &file, &boundary, &canon, None);
                let status =
                    status.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
                (bp, status)
            });
            let mut bp = bp?;
            if let Some((repo, head, mut dirty)) = status {
                // Then the template roots (the index is read by now); a blueprint at the work tree's root has
                // had the whole tree asked already.
                if !dirty && !bp_rel.is_empty() {
                    dirty =
                        bp.manifest.template_roots.iter().any(|root| {
                            join_inside(&bp_rel, root).is_ok_and(|r| is_dirty(&repo, &r))
                        });
                }
                bp.commit = head.map(|h| if dirty { format!("{h}-dirty") } else { h });
            }
            Ok(bp)
        }
        SourceSpec::Git {
            url,
            subdir,
            reference,
        } => {
            let desc = source.to_string();
            let (checkout, commit) = super::git::fetch(&desc, url, reference.as_deref())?;
            let bp_dir = checkout.join(subdir);
            let canon = bp_dir.canonicalize().map_err(|_| Error::Blueprint {
                source_desc: desc.clone(),
                message: format!("the repository has no folder `{subdir}` at commit {commit}"),
            })?;
            if !canon.starts_with(&checkout) {
                return Err(Error::Blueprint {
                    source_desc: desc,
                    message: format!("the folder `{subdir}` is a symlink out of the repository"),
                });
            }
            let file = if subdir.is_empty() {
                MANIFEST.to_string()
            } else {
                format!("{subdir}/{MANIFEST}")
            };
            open_fs(&desc, &file, &checkout, &canon, Some(commit))
        }
    }
}

/// The boundary of a folder source: the enclosing git work tree (with the repository, to name the commit later),
/// or the folder itself outside git.
pub(super) fn enclosing_work_tree(dir: &Path) -> (PathBuf, Option<git2::Repository>) {
    let Ok(repo) = git2::Repository::discover(dir) else {
        return (dir.to_path_buf(), None);
    };
    match repo.workdir().and_then(|w| w.canonicalize().ok()) {
        Some(root) if dir.starts_with(&root) => (root, Some(repo)),
        _ => (dir.to_path_buf(), None),
    }
}

/// The HEAD commit of a folder blueprint's work tree. The recorded commit gets `-dirty` when the blueprint folder
/// or its template roots have uncommitted changes ([`is_dirty`]): it must not claim files it does not hold.
fn work_tree_head(repo: &git2::Repository) -> Option<String> {
    Some(repo.head().ok()?.peel_to_commit().ok()?.id().to_string())
}

/// Whether `path` (relative to the work tree; empty for the whole tree) has uncommitted changes, untracked
/// files included. One status per path: libgit2 narrows its walk of the work tree (and of HEAD's tree) to a
/// single pathspec's folder, but with several (the blueprint folder and `../../templates` share no prefix) it
/// walks the whole work tree and filters afterwards, which was a third of the time to check one trust.
fn is_dirty(repo: &git2::Repository, path: &str) -> bool {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true);
    if !path.is_empty() {
        opts.pathspec(path);
    }
    repo.statuses(Some(&mut opts))
        .map(|s| !s.is_empty())
        .unwrap_or(false)
}

/// `path` relative to `base`, with `/` separators (empty when they are the same).
pub(super) fn rel_str(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(Path::new(""))
        .to_string_lossy()
        .replace('\\', "/")
}

pub(super) fn read_error(desc: &str, message: String) -> Error {
    Error::Blueprint {
        source_desc: desc.to_string(),
        message,
    }
}

fn open_fs(
    desc: &str,
    file: &str,
    boundary: &Path,
    bp_dir: &Path,
    commit: Option<String>,
) -> Result<Blueprint, Error> {
    let manifest_path = bp_dir.join(MANIFEST);
    if !manifest_path.is_file() {
        return Err(read_error(
            desc,
            format!("no {MANIFEST} in {}", bp_dir.display()),
        ));
    }
    let bytes = crate::yaml::read_limited(&manifest_path)?;
    let Parsed { manifest, node } = manifest::parse(file, &bytes)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let bp_rel = rel_str(bp_dir, boundary);

    let mut diags = Vec::new();
    let mut index = TemplateIndex::default();
    let mut roots = Vec::new();
    for (i, root) in manifest.template_roots.iter().enumerate() {
        let span = node.span_at(&[Seg::Key("templateRoots"), Seg::Index(i)]);
        let at = |m: String| {
            Diagnostic::at(file, line_of(&text, span.line), span, m).expected(
                "a folder inside the blueprint's source, relative to the blueprint folder",
            )
        };
        let rel = match join_inside(&bp_rel, root) {
            Ok(r) => r,
            Err(m) => {
                diags.push(at(format!("template root `{root}` {m}")));
                continue;
            }
        };
        let dir = boundary.join(&rel);
        match dir.canonicalize() {
            Ok(c) if c.starts_with(boundary) && c.is_dir() => roots.push(c),
            Ok(c) if c.starts_with(boundary) => {
                diags.push(at(format!("template root `{root}` is not a folder")));
            }
            Ok(_) => diags.push(at(format!(
                "template root `{root}` is a symlink leading outside the blueprint's source"
            ))),
            Err(_) => diags.push(at(format!(
                "template root `{root}` does not exist ({})",
                dir.display()
            ))),
        }
    }
    // With a root missing, "template does not exist" would only repeat the root's error.
    index.incomplete = !diags.is_empty();
    let mut templates: Vec<(String, String)> = Vec::new();
    for root in &roots {
        let mut found = Vec::new();
        walk_fs(desc, &roots, root, "", 0, &mut found, &mut index)?;
        for (p, t) in found {
            if index.files.insert(p.clone()) {
                templates.push((p, t));
            }
        }
    }
    finish(
        desc, file, text, manifest, node, commit, templates, index, diags,
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    desc: &str,
    file: &str,
    text: String,
    manifest: super::Manifest,
    node: crate::yaml::Node,
    commit: Option<String>,
    mut templates: Vec<(String, String)>,
    index: TemplateIndex,
    mut diags: Vec<Diagnostic>,
) -> Result<Blueprint, Error> {
    diags.extend(manifest::validate(&manifest, &node, file, &text, &index));
    // Escaping symlinks that no deployment names are still refused: a template could include them.
    let roots_span = node
        .get("templateRoots")
        .map(|n| n.span)
        .unwrap_or_default();
    for esc in &index.escaping {
        if !manifest.deployments.iter().any(|d| &d.template == esc) {
            diags.push(
                Diagnostic::at(
                    file,
                    line_of(&text, roots_span.line),
                    roots_span,
                    format!("`{esc}` under the template roots is a symlink leading outside them"),
                )
                .expected("template files inside the template roots"),
            );
        }
    }
    if !diags.is_empty() {
        return Err(Error::Manifest {
            file: file.to_string(),
            diagnostics: diags,
        });
    }
    templates.sort();
    Ok(Blueprint {
        manifest,
        source: desc.to_string(),
        commit,
        templates,
        manifest_file: file.to_string(),
        manifest_text: text,
    })
}

fn line_of(text: &str, n: usize) -> &str {
    text.split('\n')
        .nth(n.wrapping_sub(1))
        .unwrap_or("")
        .trim_end_matches('\r')
}

/// Join `rel` onto `base` (both relative to the boundary) lexically; an error says why the result would leave
/// the boundary.
pub(super) fn join_inside(base: &str, rel: &str) -> Result<String, &'static str> {
    if Path::new(rel).is_absolute() || rel.starts_with('/') || rel.starts_with('\\') {
        return Err("is absolute");
    }
    let mut parts: Vec<String> = base
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(str::to_string)
        .collect();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err("leads outside the blueprint's source");
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err("is absolute"),
        }
    }
    Ok(parts.join("/"))
}

/// Read every file under `dir` as (path relative to the root, text). Symlinks count only where they really lead,
/// and only when that is inside one of the (canonical) template `roots`.
fn walk_fs(
    desc: &str,
    roots: &[PathBuf],
    dir: &Path,
    rel: &str,
    depth: usize,
    out: &mut Vec<(String, String)>,
    index: &mut TemplateIndex,
) -> Result<(), Error> {
    if depth > MAX_TEMPLATE_DEPTH {
        return Err(read_error(
            desc,
            format!(
                "template folders nest deeper than {MAX_TEMPLATE_DEPTH} levels at {}",
                dir.display()
            ),
        ));
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let Ok(target) = path.canonicalize() else {
            continue;
        };
        if !roots.iter().any(|r| target.starts_with(r)) {
            index.escaping.insert(child_rel);
            continue;
        }
        if target.is_dir() {
            walk_fs(desc, roots, &target, &child_rel, depth + 1, out, index)?;
        } else if target.is_file() {
            let bytes = std::fs::read(&target).map_err(|e| Error::io(&path, e))?;
            let text = String::from_utf8(bytes).map_err(|e| {
                read_error(
                    desc,
                    format!(
                        "template {} is not UTF-8 (invalid byte at offset {})",
                        path.display(),
                        e.utf8_error().valid_up_to()
                    ),
                )
            })?;
            out.push((child_rel, text));
        }
    }
    Ok(())
}

fn open_embedded() -> Result<Blueprint, Error> {
    let mut all: Vec<(String, &[u8])> = Vec::new();
    embedded_files(&EMBEDDED_BLUEPRINT, EMBEDDED_BP_DIR, &mut all);
    embedded_files(&EMBEDDED_TEMPLATES, "templates", &mut all);
    open_files("embedded:exemplar-epr", EMBEDDED_BP_DIR, &all, None)
}

/// Open a blueprint from files in memory, by path relative to the source boundary (the embedded copy, or an
/// earlier release rebuilt from a patch): `bp_dir` holds blueprint.yaml; template roots resolve from it.
pub(super) fn open_files(
    desc: &str,
    bp_dir: &str,
    all: &[(String, &[u8])],
    commit: Option<String>,
) -> Result<Blueprint, Error> {
    let file = format!("{bp_dir}/{MANIFEST}");
    let bytes = all
        .iter()
        .find(|(p, _)| *p == file)
        .map(|(_, b)| *b)
        .ok_or_else(|| read_error(desc, format!("no {file}")))?;
    let Parsed { manifest, node } = manifest::parse(&file, bytes)?;
    let text = String::from_utf8_lossy(bytes).into_owned();

    let mut diags = Vec::new();
    let mut index = TemplateIndex::default();
    let mut templates = Vec::new();
    for (i, root) in manifest.template_roots.iter().enumerate() {
        let span = node.span_at(&[Seg::Key("templateRoots"), Seg::Index(i)]);
        let at = |m: String| {
            Diagnostic::at(&file, line_of(&text, span.line), span, m).expected(
                "a folder inside the blueprint's source, relative to the blueprint folder",
            )
        };
        let rel = match join_inside(bp_dir, root) {
            Ok(r) => r,
            Err(m) => {
                diags.push(at(format!("template root `{root}` {m}")));
                continue;
            }
        };
        let prefix = format!("{rel}/");
        let mut any = false;
        for (path, contents) in all {
            if let Some(under) = path.strip_prefix(&prefix) {
                any = true;
                if under.split('/').any(|c| c.starts_with('.')) {
                    continue;
                }
                let text = std::str::from_utf8(contents)
                    .map_err(|_| read_error(desc, format!("template {path} is not UTF-8")))?;
                if index.files.insert(under.to_string()) {
                    templates.push((under.to_string(), text.to_string()));
                }
            }
        }
        if !any {
            diags.push(at(format!(
                "template root `{root}` does not exist in {desc}"
            )));
        }
    }
    index.incomplete = !diags.is_empty();
    finish(
        desc, &file, text, manifest, node, commit, templates, index, diags,
    )
}

/// The embedded copy's release patch for `version`, if it ships one.
pub(super) fn embedded_release(version: &str) -> Option<&'static [u8]> {
    EMBEDDED_BLUEPRINT
        .get_file(format!("{}/{version}.patch", super::release::RELEASES_DIR))
        .map(include_dir::File::contents)
}

/// The versions the embedded copy ships release patches for.
pub(super) fn embedded_releases() -> Vec<String> {
    EMBEDDED_BLUEPRINT
        .get_dir(super::release::RELEASES_DIR)
        .map(|d| {
            d.files()
                .filter_map(|f| {
                    f.path()
                        .file_name()?
                        .to_str()?
                        .strip_suffix(".patch")
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Where the embedded blueprint sits in its tree, for release patches.
pub(super) const EMBEDDED_DIR: &str = EMBEDDED_BP_DIR;

fn embedded_files<'a>(dir: &'a Dir<'a>, prefix: &str, out: &mut Vec<(String, &'a [u8])>) {
    for f in dir.files() {
        out.push((
            format!("{prefix}/{}", f.path().to_string_lossy().replace('\\', "/")),
            f.contents(),
        ));
    }
    for d in dir.dirs() {
        embedded_files(d, prefix, out);
    }
}

/// Warnings about an opened (valid) blueprint: what `blueprint lint` adds to the checks [`super::open`] makes.
/// Each is cheap and likely a mistake: parameters no template or deployment uses, parameters without an
/// example (the values schema and docs show them), deployments nothing depends on that also depend on nothing
/// are fine and not reported.
pub fn lint(bp: &Blueprint) -> Vec<Diagnostic> {
    let Ok(node) = crate::yaml::parse(&bp.manifest_file, bp.manifest_text.as_bytes()) else {
        return Vec::new();
    };
    let text = &bp.manifest_text;
    let file = &bp.manifest_file;
    let m = &bp.manifest;
    let mut used_in = String::new();
    for (_, t) in &bp.templates {
        used_in.push_str(t);
        used_in.push('\n');
    }
    for d in &m.deployments {
        for s in [&d.resource_group, &d.location, &d.when]
            .into_iter()
            .flatten()
        {
            used_in.push_str(s);
            used_in.push('\n');
        }
    }
    // Names the stages read themselves: render (names, tags), plan and apply (subscription, tenant).
    const BUILT_IN: &[&str] = &[
        "trust.name",
        "trust.ods_code",
        "azure.location",
        "azure.subscription_id",
        "azure.tenant_id",
        "cost_centre",
        "data_classification",
        "tags",
    ];
    let mut out = Vec::new();
    for (key, p) in &m.parameters {
        let span = node.key_span(&[Seg::Key("parameters")], key);
        let mapped = m
            .deployments
            .iter()
            .any(|d| d.parameters.values().any(|v| v == key));
        let pattern = format!(r"(^|[^\w.]){}($|[^\w])", regex::escape(key));
        let referenced = regex::Regex::new(&pattern).is_ok_and(|re| re.is_match(&used_in));
        if !mapped && !referenced && !BUILT_IN.contains(&key.as_str()) {
            out.push(
                Diagnostic::at(
                    file,
                    line_of(text, span.line),
                    span,
                    format!("parameter `{key}` is not used"),
                )
                .expected("a reference from a template, a deployment's fields or its `parameters`")
                .suggest("remove it, or use it in a template"),
            );
        }
        if p.example.is_none() && p.default.is_none() && p.ty != super::ParamType::Secret {
            out.push(
                Diagnostic::at(
                    file,
                    line_of(text, span.line),
                    span,
                    format!("parameter `{key}` has neither a default nor an example"),
                )
                .expected("an `example:` so the values schema and docs can show one"),
            );
        }
    }
    // Templates no deployment renders and no template includes are likely leftovers.
    // Point at `templateRoots` when the manifest has it; otherwise at the file as a whole.
    let roots_span = node
        .get("templateRoots")
        .map(|n| n.span)
        .unwrap_or_default();
    for (path, _) in &bp.templates {
        let deployed = m.deployments.iter().any(|d| &d.template == path);
        let included = bp
            .templates
            .iter()
            .any(|(other, t)| other != path && t.contains(path.as_str()));
        if !deployed && !included && path.ends_with(".tera") {
            out.push(
                Diagnostic::at(
                    file,
                    line_of(text, roots_span.line),
                    roots_span,
                    format!("template `{path}` is not used"),
                )
                .expected("a template named by a deployment, or included by one")
                .suggest("remove it, or name it in a deployment's `template`"),
            );
        }
    }
    // api-versions Microsoft's published catalogue does not list for the resource's type.
    for (path, template) in &bp.templates {
        for u in crate::cloud::catalog::unlisted_versions(template) {
            let span = crate::yaml::Span {
                line: u.line,
                column: u.column,
                len: u.api_version.chars().count(),
            };
            let d = Diagnostic::at(
                path,
                line_of(template, u.line),
                span,
                format!(
                    "apiVersion `{}` of `{}` is not in Microsoft's published catalogue",
                    u.api_version, u.resource_type
                ),
            );
            out.push(match u.refusal {
                Some(arm) => d.expected(format!("a version Azure accepts; ARM answers: {arm}")),
                None => d.expected(format!(
                    "a listed version (newest: {}); older unlisted ones usually still deploy",
                    crate::cloud::catalog::find_type(&u.resource_type).map_or("", |t| t.newest())
                )),
            });
        }
    }
    out.sort_by_key(|d| (d.line == 0, d.line, d.column));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(url: &str, subdir: &str, r: Option<&str>) -> SourceSpec {
        SourceSpec::Git {
            url: url.into(),
            subdir: subdir.into(),
            reference: r.map(str::to_string),
        }
    }

    #[test]
    fn parses_sources() {
        assert_eq!(
            SourceSpec::parse("https://host/org/repo.git//blueprints/exemplar-epr@v1.2.0").ok(),
            Some(git(
                "https://host/org/repo.git",
                "blueprints/exemplar-epr",
                Some("v1.2.0")
            ))
        );
        assert_eq!(
            SourceSpec::parse("file:///tmp/x/repo.git//bp@main").ok(),
            Some(git("file:///tmp/x/repo.git", "bp", Some("main")))
        );
        assert_eq!(
            SourceSpec::parse("https://user@host/org/repo.git").ok(),
            Some(git("https://user@host/org/repo.git", "", None))
        );
        assert_eq!(
            SourceSpec::parse("https://host/org/repo.git@abc123").ok(),
            Some(git("https://host/org/repo.git", "", Some("abc123")))
        );
        assert_eq!(
            SourceSpec::parse("embedded").ok(),
            Some(SourceSpec::Embedded)
        );
        assert_eq!(
            SourceSpec::parse("blueprints/x").ok(),
            Some(SourceSpec::Dir("blueprints/x".into()))
        );
        assert!(SourceSpec::parse("ftp://x/y").is_err());
        assert!(SourceSpec::parse("https://h/r.git//a/../..@v1").is_err());
        assert!(SourceSpec::parse("https://h/r.git//a@").is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "https://host/org/repo.git//bp/x@v1.2.0",
            "file:///tmp/r.git",
            "embedded:exemplar-epr",
        ] {
            let spec = SourceSpec::parse(s).expect("valid");
            assert_eq!(spec.to_string(), s);
        }
    }

    #[test]
    fn join_stays_inside() {
        assert_eq!(
            join_inside("blueprints/epr", "../../templates"),
            Ok("templates".into())
        );
        assert_eq!(
            join_inside("blueprints/epr", "templates"),
            Ok("blueprints/epr/templates".into())
        );
        assert_eq!(
            join_inside("blueprints/epr", "../../../x"),
            Err("leads outside the blueprint's source")
        );
        assert_eq!(join_inside("", "/etc"), Err("is absolute"));
    }
}
