//! The layer rules of `ARCHITECTURE.md`, checked on the source: every module imports only
//! the layers below it, and the files of `web/` import each other without cycles.
//!
//! It reads `src/` as text: `crate::x` paths (also in `use crate::{x, y}` lists) and
//! `super::x` paths, resolved against the file's own module. Comments are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// What each top-level module may import (besides itself). Anything not listed is refused.
const MAY_IMPORT: &[(&str, &[&str])] = &[
    // Leaves: nothing of the crate.
    ("audit", &[]),
    ("entropy", &[]),
    ("cookies", &[]),
    ("links", &[]),
    ("revocations", &[]),
    ("fetch", &[]),
    ("metrics", &[]),
    // The scheduler stands alone, but for the audit log a shared store keeps, the operating
    // system's random bytes and the Prometheus text writer.
    ("scheduler", &["audit", "entropy", "metrics", "revocations"]),
    // The seam: the trait a dashboard talks to, over the scheduler's data.
    ("seam", &["scheduler"]),
    // Failure alerts to a webhook: runs, posted with the shared HTTP client.
    ("webhook", &["fetch", "scheduler"]),
    // Login sits beside the web layer, below it.
    (
        "auth",
        &[
            "audit",
            "cookies",
            "entropy",
            "fetch",
            "links",
            "revocations",
            "scheduler",
            "seam",
        ],
    ),
    // What the dashboard hides and whom it narrows: the host's hooks, over users and runs.
    ("policy", &["auth", "scheduler"]),
    // Pages: what the seam answers, drawn with links.
    (
        "views",
        &["audit", "auth", "links", "policy", "scheduler", "seam"],
    ),
    // The pipeline: everything below it.
    (
        "web",
        &[
            "audit",
            "auth",
            "cookies",
            "entropy",
            "links",
            "metrics",
            "policy",
            "revocations",
            "scheduler",
            "seam",
            "views",
        ],
    ),
    // Property tests of the parsers strangers reach (test-only): they may look at anything.
    (
        "properties",
        &[
            "audit",
            "auth",
            "cookies",
            "entropy",
            "links",
            "policy",
            "revocations",
            "scheduler",
            "seam",
            "views",
            "web",
        ],
    ),
    // Framework adapters: the top.
    ("adapters", &["links", "web"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        // src/bin holds programs of their own (crates that use the library), not modules.
        if path.is_dir() && path != src().join("bin") {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file: `src/web/gate.rs` is `[web, gate]`, `src/web/mod.rs` is
/// `[web]`, `src/lib.rs` is `[]`.
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
        parts.pop();
    }
    parts
}

/// The text without `//` comments (good enough: no string in `src/` holds `//` followed by
/// a path that matters here).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> Option<&str> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

/// Every module path this file names: `crate::a::b…` as `[a, b]`, `super::x` resolved from
/// the file's module.
fn references(module: &[String], text: &str) -> Vec<Vec<String>> {
    let text = code(text);
    let mut out = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        // Not part of a longer name such as `other_crate::`.
        if text[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            continue;
        }
        let rest = &text[i + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let list = &list[..list.find('}').unwrap_or(list.len())];
            for item in list.split(',') {
                if let Some(id) = ident_at(item.trim()) {
                    out.push(vec![id.to_string()]);
                }
            }
        } else if let Some(a) = ident_at(rest) {
            let mut path = vec![a.to_string()];
            if let Some(b) = rest[a.len()..].strip_prefix("::").and_then(ident_at) {
                path.push(b.to_string());
            }
            out.push(path);
        }
    }
    for (i, _) in text.match_indices("super::") {
        if text[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        {
            continue;
        }
        let mut base: Vec<String> = module.to_vec();
        let mut rest = &text[i..];
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        let items: Vec<&str> = match rest.strip_prefix('{') {
            Some(list) => list[..list.find('}').unwrap_or(list.len())]
                .split(',')
                .filter_map(|s| ident_at(s.trim()))
                .collect(),
            None => ident_at(rest).into_iter().collect(),
        };
        for id in items {
            let mut p = base.clone();
            p.push(id.to_string());
            out.push(p);
        }
    }
    out
}

struct Tree {
    files: Vec<(Vec<String>, String)>,
    modules: BTreeSet<Vec<String>>,
}

fn tree() -> Tree {
    let mut paths = Vec::new();
    rust_files(&src(), &mut paths);
    let files: Vec<(Vec<String>, String)> = paths
        .iter()
        .map(|p| (module_of(p), fs::read_to_string(p).expect("read")))
        .collect();
    let modules = files.iter().map(|(m, _)| m.clone()).collect();
    Tree { files, modules }
}

#[test]
fn layers_only_look_down() {
    let rules: BTreeMap<&str, &[&str]> = MAY_IMPORT.iter().copied().collect();
    let t = tree();
    let tops: BTreeSet<&str> = t
        .modules
        .iter()
        .filter_map(|m| m.first().map(String::as_str))
        .collect();
    for top in &tops {
        assert!(
            rules.contains_key(top),
            "module `{top}` has no layer rule: add it to MAY_IMPORT and ARCHITECTURE.md"
        );
    }
    let mut wrong = Vec::new();
    for (module, text) in &t.files {
        let Some(top) = module.first() else { continue };
        let allowed = rules[top.as_str()];
        for r in references(module, text) {
            let Some(target) = r.first() else { continue };
            if target == top || !tops.contains(target.as_str()) {
                continue;
            }
            if !allowed.contains(&target.as_str()) {
                wrong.push(format!("{} imports {}", module.join("::"), r.join("::")));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports that go up or sideways:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn web_files_import_each_other_without_cycles() {
    let t = tree();
    let web: Vec<&(Vec<String>, String)> = t
        .files
        .iter()
        .filter(|(m, _)| m.len() == 2 && m[0] == "web")
        .collect();
    let names: BTreeSet<&str> = web.iter().map(|(m, _)| m[1].as_str()).collect();
    let mut edges: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &web {
        // A file's own tests may reach anywhere; the cycle rule is for what ships.
        let shipped = match text.find("#[cfg(test)]\nmod tests") {
            Some(i) => &text[..i],
            None => text.as_str(),
        };
        let deps = edges.entry(module[1].as_str()).or_default();
        for r in references(module, shipped) {
            if r.len() >= 2 && r[0] == "web" && names.contains(r[1].as_str()) && r[1] != module[1] {
                deps.insert(r[1].clone());
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit<'a>(
        n: &'a str,
        edges: &'a BTreeMap<&'a str, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let from = stack.iter().position(|s| *s == n).unwrap_or(0);
                let mut cycle: Vec<String> = stack[from..].iter().map(|s| s.to_string()).collect();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n, 1);
        stack.push(n);
        for d in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(d.as_str(), edges, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n, 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if let Some(cycle) = visit(n, &edges, &mut state, &mut Vec::new()) {
            panic!(
                "web files import each other in a cycle: {}",
                cycle.join(" → ")
            );
        }
    }
    assert!(
        edges.len() > 10,
        "the web files were found ({})",
        edges.len()
    );
}

#[test]
fn the_checker_sees_imports() {
    let m = vec!["web".to_string(), "gate".to_string()];
    let refs = references(
        &m,
        "use super::{context, routes::Found};\nuse crate::{views, links::Urls};\n// crate::web\nlet x = crate::auth::Role::Viewer;",
    );
    let flat: Vec<String> = refs.iter().map(|r| r.join("::")).collect();
    for want in [
        "web::context",
        "web::routes",
        "views",
        "links",
        "auth::Role",
    ] {
        assert!(flat.contains(&want.to_string()), "{want} in {flat:?}");
    }
    assert!(!flat.contains(&"web".to_string()), "comments are skipped");
}
