//! The README documents the console's keys; they are generated from the keymap, and this test
//! keeps the two from drifting.

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
