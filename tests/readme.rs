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
