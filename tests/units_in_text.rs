//! Sizes and times in what lifeboat prints come from the one formatter (`storage::units`,
//! re-exported by `report::format`): no size in KiB or MiB worked out by hand, no "30.0 min"
//! beside "30m 0s", no humantime "1day 2h 3m 4s" for an age. Read from every source file
//! under `src/`, comments and test modules left out.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// Where a pattern is allowed, and why.
const ALLOWED: &[(&str, &str, &str)] = &[
    ("src/storage/units.rs", "", "the formatter itself"),
    // Configured durations are echoed in the config's own words ("7days", "30m"), which is
    // what humantime writes back; measured ages are not.
    (
        "src/jobs/status.rs",
        "humantime::format_duration(spec.",
        "[status]/[drill] settings",
    ),
    (
        "src/jobs/prune_plan.rs",
        "humantime::format_duration(policy.min_age",
        "[retention].min_age",
    ),
    (
        "src/jobs/prune_garbage.rs",
        "humantime::format_duration(grace)",
        "[retention].min_age",
    ),
    (
        "src/report/prune.rs",
        "humantime::format_duration(Duration::from_secs(plan.grace",
        "[retention].min_age",
    ),
    (
        "src/storage/retention.rs",
        "humantime::format_duration(*age)",
        "min_age, keep_safety",
    ),
    // The repository timeout in the setting's syntax (`timeout = "3s"`).
    (
        "src/storage/repository.rs",
        "within {}s",
        "[repository].timeout",
    ),
    (
        "src/storage/repository.rs",
        "(now \\\"{}s\\\")",
        "[repository].timeout",
    ),
    (
        "src/storage/s3_uploads.rs",
        "within {}s",
        "[repository].timeout",
    ),
];

const FORBIDDEN: &[&str] = &[
    "KiB",
    "MiB",
    "GiB",
    "TiB",
    ":.0} s",
    ":.1} s",
    ":.1}s",
    ":.2} s",
    ":.1} min",
    ":.1} h",
    "{} s\"",
    "{} s ",
    "{}s\"",
    "{}s ",
    "{}s;",
    "{}s)",
    "{}s,",
    "humantime::format_duration",
];

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

/// The code of a file without its `#[cfg(test)]` module at the end and without comment lines.
fn code_of(text: &str) -> Vec<(usize, &str)> {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(i, line)| (i + 1, line))
        .collect()
}

fn allowed(file: &str, line: &str) -> bool {
    ALLOWED
        .iter()
        .any(|(f, what, _)| *f == file && (what.is_empty() || line.contains(what)))
}

#[test]
fn sizes_and_times_in_text_come_from_the_one_formatter() {
    let mut files = Vec::new();
    source_files(Path::new("src"), &mut files);
    files.sort();
    let mut found = Vec::new();
    for path in &files {
        let file = path.to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(path).unwrap();
        for (n, line) in code_of(&text) {
            // A unit only matters inside a string: `1024 * 1024` as a buffer size is no text.
            if !line.contains('"') {
                continue;
            }
            for pattern in FORBIDDEN {
                if line.contains(pattern) && !allowed(&file, line) {
                    found.push(format!("{file}:{n}: `{pattern}` in {}", line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "use report::format / storage::units (bytes, age, elapsed) instead:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_what_it_forbids() {
    let code = "let a = 1;\n    format!(\"{} KiB\", n / 1024)\n// \"{:.1} min\"\n";
    let lines = code_of(code);
    assert_eq!(lines.len(), 2);
    assert!(lines[1].1.contains("KiB"));
    assert!(!allowed("src/jobs/verify.rs", lines[1].1));
    assert!(allowed("src/storage/units.rs", lines[1].1));
}
