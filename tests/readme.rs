//! The README documents the console's keys and the exit codes; both are generated from the
//! code (the keymap, the exit-code table), and these tests keep each pair from drifting.

#[test]
fn the_readme_lists_the_keys_exactly_as_the_keymap_defines_them() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .arg("keys")
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(&table),
        "README.md's key table is out of date: paste the output of `lifeboat keys` into it"
    );
}

/// The README's exit-code table is `exit_code::markdown_table()`: a code added, renumbered or
/// reworded in the one table in code fails here until the README says the same.
#[test]
fn the_readme_lists_the_exit_codes_exactly_as_the_code_defines_them() {
    let table = lifeboat::jobs::exit_code::markdown_table();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("### Exit codes\n\n")
        .nth(1)
        .expect("README.md has an `### Exit codes` section");
    assert!(
        section.starts_with(&table),
        "README.md's exit-code table differs from src/jobs/exit_code.rs: paste \
         `lifeboat::jobs::exit_code::markdown_table()` under `### Exit codes`\n\
         expected:\n{table}"
    );
}

/// The targets of the Markdown links `[text](target)` in `text`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find(')') {
            targets.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    targets
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, punctuation other than `-` and `_`
/// dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every relative link of the README and of docs/*.md names a file in this repository, and
/// every `#anchor` a heading of the file it points into: a fresh clone has no `../shared`.
#[test]
fn the_readme_and_docs_links_resolve_inside_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut documents = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            documents.push(path);
        }
    }
    let mut checked = 0;
    for doc in &documents {
        let text = std::fs::read_to_string(doc).unwrap();
        for target in link_targets(&text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let file = if file.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(file)
            };
            let resolved = file
                .canonicalize()
                .unwrap_or_else(|_| panic!("{}: link `{target}` names no file", doc.display()));
            assert!(
                resolved.starts_with(root.canonicalize().unwrap()),
                "{}: link `{target}` leaves the repository",
                doc.display()
            );
            if let Some(fragment) = fragment {
                let target_text = std::fs::read_to_string(&resolved).unwrap();
                let anchors: Vec<String> = target_text
                    .lines()
                    .filter(|l| l.starts_with('#'))
                    .map(|l| anchor(l.trim_start_matches('#')))
                    .collect();
                assert!(
                    anchors.iter().any(|a| a == fragment),
                    "{}: link `{target}`: no such heading in {}",
                    doc.display(),
                    resolved.display()
                );
            }
            checked += 1;
        }
    }
    // The README alone links to assets/, docs/ and its own sections; a parser that found
    // nothing would pass vacuously.
    assert!(checked >= 10, "only {checked} links found");
}
