//! The layering that docs/ARCHITECTURE.md draws, checked against the code: which top-level module
//! imports which, read from every `crate::` path under `src/`. The graph printed in the
//! architecture notes is generated here, so the picture and the code cannot drift apart.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const TOP: &[&str] = &["storage", "jobs", "report", "app", "ui"];

/// A `use` or path reference from one source file to a module of this crate.
#[derive(Debug, Clone)]
struct Reference {
    file: String,
    /// `["jobs", "status"]` for `crate::jobs::status::Verdict`.
    path: Vec<String>,
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments (doc links are not imports) and without its
/// `#[cfg(test)]` module at the end, where tests may reach across layers to build fixtures.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                ""
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Every `crate::a::b` path in `code`, with `crate::{a::x, b::{y, z}}` groups expanded one level.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `foo_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (depth == 1 && c == ',') {
                    let path = path_of(&item);
                    if !path.is_empty() {
                        out.push(path);
                    }
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                } else {
                    item.push(c);
                }
            }
        } else {
            let path = path_of(rest);
            if !path.is_empty() {
                out.push(path);
            }
        }
    }
    out
}

fn path_of(s: &str) -> Vec<String> {
    let mut path = Vec::new();
    let mut rest = s.trim_start();
    loop {
        let id = ident_at(rest);
        if id.is_empty() {
            break;
        }
        path.push(id.to_string());
        rest = &rest[id.len()..];
        match rest.strip_prefix("::") {
            Some(r) if !r.starts_with('{') && !r.starts_with('*') => rest = r,
            _ => break,
        }
    }
    path
}

fn references() -> Vec<Reference> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        for path in crate_paths(&code) {
            out.push(Reference {
                file: rel.clone(),
                path,
            });
        }
    }
    out
}

fn top_of(file: &str) -> &str {
    file.split('/')
        .next()
        .unwrap_or(file)
        .trim_end_matches(".rs")
}

/// The module-level graph: each top-level module and the top-level modules it imports.
fn graph(refs: &[Reference]) -> BTreeMap<String, BTreeSet<String>> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for top in TOP {
        g.entry(top.to_string()).or_default();
    }
    for r in refs {
        let from = top_of(&r.file);
        if !TOP.contains(&from) {
            continue; // lib.rs, main.rs
        }
        let to = &r.path[0];
        if TOP.contains(&to.as_str()) && to != from {
            g.entry(from.to_string()).or_default().insert(to.clone());
        }
    }
    g
}

fn rendered(g: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut out = String::from("```text\n");
    for top in TOP {
        let deps = &g[*top];
        let list = if deps.is_empty() {
            "(nothing of ours)".to_string()
        } else {
            TOP.iter()
                .filter(|t| deps.contains(**t))
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!("{top:<8} imports {list}\n"));
    }
    out.push_str("```\n");
    out
}

fn violations(refs: &[Reference], rule: impl Fn(&Reference) -> bool) -> Vec<String> {
    refs.iter()
        .filter(|r| rule(r))
        .map(|r| format!("{} -> crate::{}", r.file, r.path.join("::")))
        .collect()
}

#[test]
fn storage_imports_nothing_of_ours() {
    let bad = violations(&references(), |r| {
        top_of(&r.file) == "storage" && r.path[0] != "storage"
    });
    assert!(
        bad.is_empty(),
        "storage must stay the leaf:\n{}",
        bad.join("\n")
    );
}

#[test]
fn jobs_import_only_storage() {
    let bad = violations(&references(), |r| {
        top_of(&r.file) == "jobs" && !["jobs", "storage"].contains(&r.path[0].as_str())
    });
    assert!(
        bad.is_empty(),
        "jobs may import only storage:\n{}",
        bad.join("\n")
    );
}

#[test]
fn report_imports_only_jobs_and_storage() {
    let bad = violations(&references(), |r| {
        top_of(&r.file) == "report" && !["report", "jobs", "storage"].contains(&r.path[0].as_str())
    });
    assert!(
        bad.is_empty(),
        "report renders jobs' results only:\n{}",
        bad.join("\n")
    );
}

#[test]
fn ui_imports_only_app_view_state_and_report() {
    let bad = violations(&references(), |r| {
        top_of(&r.file) == "ui"
            && match r.path[0].as_str() {
                "ui" | "report" => false,
                "app" => !APP_VIEW_MODULES.contains(&r.path.get(1).map_or("", |s| s.as_str())),
                _ => true,
            }
    });
    assert!(
        bad.is_empty(),
        "ui draws app's view state (app::{{{}}}) and report's text, nothing else:\n{}",
        APP_VIEW_MODULES.join(", "),
        bad.join("\n")
    );
}

/// The parts of `app` that ui may read: the state it draws, the views derived from it (the
/// inventory as tree rows), and the keymap its hints come from.
const APP_VIEW_MODULES: &[&str] = &["state", "keymap", "action", "view", "inventory_tree"];

#[test]
fn app_does_not_import_ui() {
    let bad = violations(&references(), |r| {
        top_of(&r.file) == "app" && r.path[0] == "ui"
    });
    assert!(
        bad.is_empty(),
        "app decides and ui draws; the binary hands `ui::render` to the console loop (`app::runtime::Draw`):\n{}",
        bad.join("\n")
    );
}

#[test]
fn no_cycle_between_top_level_modules() {
    let g = graph(&references());
    fn reaches(
        g: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        to: &str,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        g[from]
            .iter()
            .any(|next| next == to || (seen.insert(next.clone()) && reaches(g, next, to, seen)))
    }
    for top in TOP {
        assert!(
            !reaches(&g, top, top, &mut BTreeSet::new()),
            "{top} reaches itself through other top-level modules:\n{}",
            rendered(&g)
        );
    }
}

#[test]
fn no_cli_command_imports_another() {
    let commands: BTreeSet<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/app/cli"))
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string()
            })
            // `args` (the clap definitions) and `codes` (results to exit codes) are shared, not commands.
            .filter(|name| !["mod", "common", "args", "codes"].contains(&name.as_str()))
            .collect();
    let mut bad = Vec::new();
    for name in &commands {
        let file = format!("{}/src/app/cli/{name}.rs", env!("CARGO_MANIFEST_DIR"));
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        for other in commands.iter().filter(|o| *o != name) {
            if code.contains(&format!("super::{other}::"))
                || code.contains(&format!("cli::{other}::"))
            {
                bad.push(format!("app/cli/{name}.rs imports app/cli/{other}.rs"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "shared CLI code lives in cli/mod.rs, common.rs, args.rs or codes.rs:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_architecture_notes_show_the_import_graph_as_the_code_has_it() {
    let g = rendered(&graph(&references()));
    let notes =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/ARCHITECTURE.md"))
            .unwrap();
    assert!(
        notes.contains(&g),
        "docs/ARCHITECTURE.md's import graph is out of date; replace it with:\n{g}"
    );
}

#[test]
fn the_reference_reader_expands_groups() {
    let code = "use crate::{jobs::status::{self, Verdict}, storage::manifest};\nlet x = crate::report::formats::size(1);";
    let paths = crate_paths(code);
    let tops: Vec<&str> = paths.iter().map(|p| p[0].as_str()).collect();
    assert_eq!(tops, ["jobs", "storage", "report"]);
    assert_eq!(paths[0], ["jobs", "status"]);
}
