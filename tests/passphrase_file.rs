//! The passphrase file and the README's by-hand commands agree (issue 12, point 6), with real
//! gpg, PostgreSQL and the built binary:
//!
//! - every variant lifeboat accepts (trailing and leading spaces, a tab, no final newline,
//!   later lines) is proven by `keys check`, which runs the by-hand `gpg --passphrase-file`
//!   command on an envelope lifeboat encrypted; one of them also through a real backup whose
//!   dump the plain command decrypts (and the trimmed passphrase does not: the spaces count);
//! - a CRLF file and an empty first line are refused by backup, `config check` and `keys
//!   check`, naming the file and the fix, and no set is made;
//! - a passphrase file others can read (0644) is refused by backup and `config check` with
//!   `chmod 600 FILE`; a missing one fails `config check` naming the key and the file.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::app::{AppOptions, TestApp};
use common::{decrypt_by_hand, describe, text};
use serde_json::Value;

fn sets(app: &TestApp) -> usize {
    std::fs::read_dir(app.repo_dir().join("sets"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn keys_check(app: &TestApp) -> (Option<i32>, Value) {
    let out = app.lifeboat(&["keys", "check", "--json"]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "keys check --json printed no JSON ({e}): {}",
            describe(&out)
        )
    });
    (out.status.code(), report)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["check"] == name))
        .unwrap_or_else(|| panic!("no `{name}` check: {report:#}"))
}

fn assert_refused(out: &Output, what: &str, needles: &[&str]) {
    assert_ne!(out.status.code(), Some(0), "{what}: {}", describe(out));
    let stderr = text(&out.stderr);
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{what}: no `{needle}` in {}",
            describe(out)
        );
    }
}

#[test]
fn what_lifeboat_accepts_opens_by_hand_and_what_gpg_would_read_differently_is_refused() {
    let app = TestApp::new(AppOptions {
        secrets: false,
        ..AppOptions::default()
    });
    let file = app
        .passphrase_file()
        .expect("passphrase mode")
        .to_path_buf();
    let shown = file.display().to_string();
    let pass = app.passphrase().expect("passphrase").to_string();

    for (variant, contents) in [
        ("spaces", format!("  {pass} \n")),
        ("tab", format!("{pass}\t\n")),
        ("no final newline", pass.clone()),
        (
            "later lines",
            format!("{pass}\nthe second line is not read\n"),
        ),
    ] {
        // Writing an existing file keeps its mode (0600).
        std::fs::write(&file, &contents).expect("write the passphrase file");
        let (code, report) = keys_check(&app);
        assert_eq!(code, Some(0), "{variant}: {report:#}");
        let by_hand = check(&report, "by-hand decryption");
        assert_eq!(by_hand["level"], "ok", "{variant}: {report:#}");
        let detail = by_hand["detail"].as_str().expect("detail");
        assert!(
            detail.contains(&format!(
                "gpg --batch --pinentry-mode loopback --passphrase-file {shown} --decrypt"
            )),
            "{variant}: {detail}"
        );
        assert!(
            !detail.contains(&pass),
            "{variant}: the passphrase is shown"
        );
    }
    let out = app.lifeboat(&["keys", "check"]);
    assert!(
        text(&out.stdout).contains("✓ by-hand decryption: `gpg --batch"),
        "{}",
        describe(&out)
    );

    // A real set, with the spaces and later lines: the plain command opens its dump.
    std::fs::write(&file, format!("  {pass} \nsecond\n")).expect("write");
    let id = app.backup();
    let dump = app.set_dir_local(&id).join("db.dump.zst.gpg");
    let out = decrypt_by_hand(&file, &dump);
    assert_eq!(out.status.code(), Some(0), "by hand: {}", describe(&out));
    assert!(
        out.stdout.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]),
        "a zstd stream"
    );
    let trimmed = app.root().join("trimmed-passphrase");
    std::fs::write(&trimmed, format!("{pass}\n")).expect("write");
    let out = decrypt_by_hand(&trimmed, &dump);
    assert_ne!(
        out.status.code(),
        Some(0),
        "the spaces are part of the passphrase"
    );

    // Read differently by gpg, or not at all: refused everywhere, naming the file and the fix.
    let made = sets(&app);
    for (variant, contents, needles) in [
        ("CRLF", format!("{pass}\r\n"), ["carriage return", "sed -i"]),
        (
            "empty first line",
            format!("\n{pass}\n"),
            ["first line", "put the passphrase there"],
        ),
    ] {
        std::fs::write(&file, &contents).expect("write");
        let mut expect = vec![shown.as_str()];
        expect.extend(needles);
        assert_refused(
            &app.lifeboat(&["backup"]),
            &format!("backup, {variant}"),
            &expect,
        );
        let out = app.lifeboat(&["config", "check"]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "config check, {variant}: {}",
            describe(&out)
        );
        assert_refused(&out, &format!("config check, {variant}"), &expect);
        let (code, report) = keys_check(&app);
        assert_eq!(code, Some(1), "keys check, {variant}: {report:#}");
        let failed = report.to_string();
        assert!(
            expect.iter().all(|n| failed.contains(n)),
            "{variant}: {report:#}"
        );
        assert!(
            !failed.contains(&pass),
            "{variant}: the passphrase is shown"
        );
    }
    assert_eq!(sets(&app), made, "no set was made with a refused file");

    // Others can read it: a backup refuses, and says how to fix it.
    std::fs::write(&file, format!("{pass}\n")).expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let fix = format!("chmod 600 {shown}");
    let out = app.lifeboat(&["backup"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "backup, 0644: {}",
        describe(&out)
    );
    assert_refused(&out, "backup, 0644", &[&fix, "mode 0644"]);
    let out = app.lifeboat(&["config", "check"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "config check, 0644: {}",
        describe(&out)
    );
    assert_refused(&out, "config check, 0644", &[&fix]);
    assert_eq!(sets(&app), made, "no set was made with a loose file");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = app.lifeboat(&["config", "check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "config check, fixed: {}",
        describe(&out)
    );

    // Missing: config check names the setting and the file.
    std::fs::remove_file(&file).expect("remove the passphrase file");
    let out = app.lifeboat(&["config", "check"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "config check, missing: {}",
        describe(&out)
    );
    assert_refused(
        &out,
        "config check, missing",
        &["[encryption].passphrase_file", &shown, "No such file"],
    );
    assert!(!Path::new(&file).exists());
}
