//! Issue 14: no import cycle between the top-level modules of `src/`.
//!
//! The graph is read from the source, not from a tool: every `crate::<module>` path (and `crate::{a, b}`
//! group, and `super::<module>` in a file at the top of `src/`) in `src/**/*.rs` outside comments is an edge
//! from the file's top-level module to `<module>`; `crate::Error` and `crate::ExitCode` (re-exported by
//! `lib.rs`) are edges to `error`. The layer order the edges must follow is drawn in docs/architecture.md.
//!
//! [`KNOWN_BACK_EDGES`] lists the edges that still point up that order, each one a debt to pay (most are a
//! stage returning the crate's `Error` instead of its own). They are left out of the cycle search so that
//! CI catches any *new* cycle; an entry that no longer exists fails the test too, so the list only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Edges known to close a cycle, to be removed (see docs/architecture.md, "Layers").
const KNOWN_BACK_EDGES: &[(&str, &str)] = &[];

type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn top_modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            if p.is_dir() {
                Some(name)
            } else {
                name.strip_suffix(".rs").map(str::to_owned)
            }
        })
        .filter(|m| m != "main" && m != "lib")
        .collect()
}

/// The identifiers a path starting right after `crate::` names at its first segment (`a` in `crate::a::b`,
/// `a` and `b` in `crate::{a::x, b}`).
fn first_segments(rest: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 0usize;
        let mut names = Vec::new();
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    names.push(ident(group[start..i].trim_start()));
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    names.push(ident(group[start..i].trim_start()));
                    start = i + 1;
                }
                _ => {}
            }
        }
        names
    } else {
        vec![ident(rest)]
    }
}

fn graph(src: &Path) -> Graph {
    let tops = top_modules(src);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut g = Graph::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let from = first.strip_suffix(".rs").unwrap_or(&first).to_string();
        if !tops.contains(&from) {
            continue;
        }
        let at_top = rel.components().count() == 1;
        let text = std::fs::read_to_string(&file).unwrap();
        // Whole source: a `use crate::{...}` group may span lines. Comments are blanked first.
        let code: String = text
            .lines()
            .map(|l| match l.find("//") {
                Some(i) => &l[..i],
                None => l,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut refs: Vec<(usize, String)> = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            // `$crate::` in macros and identifiers ending in `crate` are not paths into this crate.
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            for name in first_segments(&code[at + "crate::".len()..]) {
                refs.push((at, name));
            }
        }
        if at_top {
            for (at, _) in code.match_indices("super::") {
                for name in first_segments(&code[at + "super::".len()..]) {
                    refs.push((at, name));
                }
            }
        }
        for (at, name) in refs {
            let to = match name.as_str() {
                "Error" | "ExitCode" => "error".to_string(),
                n => n.to_string(),
            };
            if to == from || !tops.contains(&to) {
                continue;
            }
            let line = code[..at].lines().count().max(1);
            g.entry(from.clone())
                .or_default()
                .entry(to)
                .or_default()
                .push(format!("src/{}:{line}", rel.display()));
        }
    }
    g
}

/// Strongly connected components of more than one module (Tarjan).
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        if let Some(next) = t.g.get(v) {
            for w in next.keys() {
                let w = w.as_str();
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let lw = t.low[w];
                    let lv = t.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if t.on.contains(w) {
                    let iw = t.index[w];
                    let lv = t.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut g = graph(&src);
    let mut stale = Vec::new();
    for (from, to) in KNOWN_BACK_EDGES {
        if g.get_mut(*from).and_then(|e| e.remove(*to)).is_none() {
            stale.push(format!("{from} -> {to}"));
        }
    }
    assert!(
        stale.is_empty(),
        "these KNOWN_BACK_EDGES of tests/layers.rs no longer exist; delete them from the list: {}",
        stale.join(", ")
    );
    let found = cycles(&g);
    let mut report = String::new();
    for scc in &found {
        report.push_str(&format!("cycle between {}:\n", scc.join(", ")));
        for from in scc {
            for (to, uses) in g.get(from).into_iter().flatten() {
                if scc.contains(to) {
                    report.push_str(&format!(
                        "  {from} -> {to} ({} use(s): {})\n",
                        uses.len(),
                        uses.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "import cycles between top-level modules of src/ (docs/architecture.md has the layer order):\n{report}"
    );
}

#[test]
fn the_scan_sees_groups_supers_and_the_crate_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("b")).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        "pub mod a; pub mod b; pub mod c; pub mod error;",
    )
    .unwrap();
    std::fs::write(
        src.join("a.rs"),
        "use crate::{b::x, c};\n// crate::error is only mentioned in a comment\nuse super::b;\n",
    )
    .unwrap();
    std::fs::write(src.join("b/mod.rs"), "fn f() -> crate::Error { todo!() }\n").unwrap();
    std::fs::write(src.join("c.rs"), "").unwrap();
    std::fs::write(src.join("error.rs"), "use crate::a;\n").unwrap();
    let g = graph(src);
    let targets = |m: &str| -> Vec<&str> {
        g.get(m)
            .map(|e| e.keys().map(String::as_str).collect())
            .unwrap_or_default()
    };
    assert_eq!(targets("a"), ["b", "c"]);
    assert_eq!(targets("b"), ["error"]);
    assert_eq!(g["a"]["b"], ["src/a.rs:1", "src/a.rs:3"]);
    assert_eq!(
        cycles(&g),
        [vec!["a".to_string(), "b".to_string(), "error".to_string()]]
    );
}
