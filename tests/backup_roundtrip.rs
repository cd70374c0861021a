//! A backup set restores without lifeboat: against a real PostgreSQL cluster, a real
//! S3-compatible server (s3s-fs) and real gpg, every set folder passes `sha256sum -c`, the dump
//! decrypts with plain `gpg`, decompresses with `zstd -d` and restores with `pg_restore` to the
//! same rows, the files archive extracts with `tar` to the same tree, the secrets live only in
//! the secrets repository, and the manifest tells the truth. A separate test proves that
//! neither the passphrase nor the database password is ever in an argv or a file lifeboat
//! writes (nor in the environment of a child but libpq's), and that everything lifeboat
//! writes is for its owner only.

mod common;

use common::text;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::app::{
    random_token, AppOptions, Enc, RepoKind, TestApp, KEY_TABLES, KEY_TABLE_ROWS, S3_PREFIX,
};
use common::procs::TreeWatch;
use common::GpgHome;
use serde_json::Value;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// Plain tools, as an operator restoring by hand would run them.

fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    hex::encode(Sha256::digest(bytes))
}

fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Runs `cmd` with `input` on its stdin (written from a thread, so big outputs cannot
/// deadlock) and returns its stdout; panics with stderr on failure.
fn pipe(what: &str, cmd: &mut Command, input: Vec<u8>) -> Vec<u8> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || {
        // A child that exits early closes the pipe; its exit status tells the story.
        let _ = stdin.write_all(&input);
    });
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait for {what}: {e}"));
    writer.join().expect("stdin writer thread");
    assert_success(what, &out);
    out.stdout
}

/// `gpg --decrypt` of one stored object: with the passphrase file in a fresh, empty
/// GNUPGHOME (passphrase mode), or with the test keyring (recipients mode).
fn gpg_decrypt(app: &TestApp, object: &Path) -> Vec<u8> {
    let out = match app.opts.encryption {
        Enc::Passphrase => {
            let fresh = GpgHome::empty();
            fresh
                .gpg()
                .args(["--pinentry-mode", "loopback", "--passphrase-file"])
                .arg(app.passphrase_file().expect("passphrase mode"))
                .arg("--decrypt")
                .arg(object)
                .output()
                .expect("run gpg --decrypt")
        }
        Enc::Recipients => app
            .gpg_home()
            .expect("recipients mode")
            .gpg()
            .arg("--decrypt")
            .arg(object)
            .output()
            .expect("run gpg --decrypt"),
        Enc::None => return std::fs::read(object).expect("read the unencrypted object"),
    };
    assert_success(&format!("gpg --decrypt {}", object.display()), &out);
    out.stdout
}

fn zstd_decompress(compressed: Vec<u8>) -> Vec<u8> {
    pipe(
        "zstd -d",
        Command::new("zstd").args(["-d", "-c", "-q"]),
        compressed,
    )
}

/// `pg_dump --data-only` as comparable lines: one INSERT per row, sorted, without comments,
/// SET lines and psql meta-commands (`\restrict` keys differ on every run).
fn data_lines(app: &TestApp, db: &str) -> Vec<String> {
    let out = Command::new(app.pg_program("pg_dump"))
        .args([
            "--data-only",
            "--column-inserts",
            "--rows-per-insert=1",
            "--no-password",
        ])
        .arg(format!("--dbname={}", app.cluster().url(db)))
        .stdin(Stdio::null())
        .output()
        .expect("run pg_dump");
    assert_success(&format!("pg_dump --data-only {db}"), &out);
    let mut lines: Vec<String> = text(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.starts_with("--") && !l.starts_with("SET ") && !l.starts_with('\\'))
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Every regular file under `root`, recursively.
fn all_files(root: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.expect("walk a test directory"))
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("lifeboat-restore-")
        .tempdir()
        .expect("create a scratch directory")
}

// ---------------------------------------------------------------------------------------------
// The checks, each on one set of one TestApp.

/// `sha256sum -c checksums.sha256` in the folder (for S3: the objects as s3s-fs stored them)
/// passes, and lists exactly the data objects.
fn check_checksums(app: &TestApp, set_dir: &Path, expect_objects: &[&str]) {
    let out = Command::new("sha256sum")
        .args(["-c", "--strict", "checksums.sha256"])
        .current_dir(set_dir)
        .stdin(Stdio::null())
        .output()
        .expect("run sha256sum");
    assert_success(&format!("sha256sum -c in {}", set_dir.display()), &out);
    let listed: BTreeSet<String> = std::fs::read_to_string(set_dir.join("checksums.sha256"))
        .expect("read checksums.sha256")
        .lines()
        .filter_map(|l| l.split_once("  ").map(|(_, name)| name.to_string()))
        .collect();
    let expected: BTreeSet<String> = expect_objects.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        listed,
        expected,
        "checksums.sha256 in {} ({:?})",
        set_dir.display(),
        app.opts
    );
}

/// The dump decrypts with gpg, decompresses with zstd and restores with pg_restore into a new
/// database whose data equals the source's, row for row.
fn check_database_restores(app: &TestApp, dump_object: &Path, plaintext_sha256: &str) {
    let compressed = gpg_decrypt(app, dump_object);
    assert_eq!(
        hex::encode(Sha256::digest(&compressed)),
        plaintext_sha256,
        "gpg --decrypt output differs from the manifest's plaintext_sha256"
    );
    let dump = zstd_decompress(compressed);
    assert!(dump.starts_with(b"PGDMP"), "not a pg_dump custom archive");

    let scratch = scratch();
    let dump_path = scratch.path().join("db.dump");
    std::fs::write(&dump_path, &dump).expect("write the decompressed dump");
    // pg_restore runs as root and reads the file itself; the server never sees the path.
    let target = format!("restored_{}", random_token(4));
    app.cluster()
        .create_database(&target)
        .expect("create the restore target database");
    let out = Command::new(app.pg_program("pg_restore"))
        .args(["--no-owner", "--exit-on-error", "--no-password"])
        .arg(format!("--dbname={}", app.cluster().url(&target)))
        .arg(&dump_path)
        .stdin(Stdio::null())
        .output()
        .expect("run pg_restore");
    assert_success("pg_restore --no-owner", &out);

    let source = data_lines(app, "app");
    let restored = data_lines(app, &target);
    let users = source
        .iter()
        .filter(|l| l.starts_with("INSERT INTO public.\"User\" "))
        .count();
    let invoices = source
        .iter()
        .filter(|l| l.starts_with("INSERT INTO billing.invoices "))
        .count();
    assert_eq!(users, 2000, "source \"User\" rows in the comparison");
    assert_eq!(
        invoices, 3000,
        "source billing.invoices rows in the comparison"
    );
    if source != restored {
        let only_source: Vec<_> = source.iter().filter(|l| !restored.contains(l)).collect();
        let only_restored: Vec<_> = restored.iter().filter(|l| !source.contains(l)).collect();
        panic!(
            "restored data differs from the source ({} vs {} lines)\nonly in source (first 5): {:#?}\nonly in restored (first 5): {:#?}",
            source.len(),
            restored.len(),
            &only_source[..only_source.len().min(5)],
            &only_restored[..only_restored.len().min(5)]
        );
    }
}

/// The files archive decrypts, decompresses and extracts with plain tar to the same tree:
/// same bytes, the symlink as a symlink to the same target, the empty directory present.
fn check_files_archive(app: &TestApp, files_object: &Path) {
    let tar = zstd_decompress(gpg_decrypt(app, files_object));
    let scratch = scratch();
    pipe(
        "tar -xf",
        Command::new("tar")
            .arg("-xf")
            .arg("-")
            .arg("-C")
            .arg(scratch.path()),
        tar,
    );
    let source_root = app.files_dir();
    let restored_root = scratch
        .path()
        .join(source_root.strip_prefix("/").expect("absolute files root"));
    assert!(
        restored_root.is_dir(),
        "the archive has no {} (paths are stored as absolute minus the leading /)",
        restored_root.display()
    );

    let tree = |root: &Path| -> BTreeSet<PathBuf> {
        walkdir::WalkDir::new(root)
            .follow_links(false)
            .into_iter()
            .map(|e| e.expect("walk a files tree"))
            .map(|e| {
                e.path()
                    .strip_prefix(root)
                    .expect("below root")
                    .to_path_buf()
            })
            .collect()
    };
    let source_entries = tree(&source_root);
    assert_eq!(
        source_entries,
        tree(&restored_root),
        "the extracted tree has other entries than the source"
    );
    let mut seen = (0, 0, 0); // files, dirs, links
    for rel in &source_entries {
        let src = source_root.join(rel);
        let dst = restored_root.join(rel);
        let src_meta = std::fs::symlink_metadata(&src).expect("stat source entry");
        let dst_meta = std::fs::symlink_metadata(&dst).expect("stat extracted entry");
        if src_meta.file_type().is_symlink() {
            seen.2 += 1;
            assert!(
                dst_meta.file_type().is_symlink(),
                "{} is not a symlink",
                dst.display()
            );
            assert_eq!(
                std::fs::read_link(&src).expect("read source link"),
                std::fs::read_link(&dst).expect("read extracted link"),
                "symlink target of {}",
                rel.display()
            );
        } else if src_meta.is_dir() {
            seen.1 += 1;
            assert!(dst_meta.is_dir(), "{} is not a directory", dst.display());
        } else {
            seen.0 += 1;
            assert!(dst_meta.is_file(), "{} is not a file", dst.display());
            assert!(
                std::fs::read(&src).expect("read source file")
                    == std::fs::read(&dst).expect("read extracted file"),
                "{} differs after extraction",
                rel.display()
            );
            assert_eq!(
                src_meta.permissions().mode() & 0o7777,
                dst_meta.permissions().mode() & 0o7777,
                "mode of {}",
                rel.display()
            );
        }
    }
    assert!(seen.0 >= 6 && seen.1 >= 5 && seen.2 == 1, "{seen:?}");
    let empty = restored_root.join("empty");
    assert!(
        empty.is_dir()
            && std::fs::read_dir(&empty)
                .expect("read empty")
                .next()
                .is_none(),
        "the empty directory did not come back empty"
    );
    let blob = restored_root.join("uploads/blob.bin");
    assert_eq!(
        std::fs::metadata(&blob).expect("stat blob").len(),
        common::app::BIG_FILE_BYTES as u64
    );
}

/// `secrets.tar.gpg` is in the secrets repository only, decrypts with plain gpg, and holds the
/// secret files with their modes and bytes.
fn check_secrets(app: &TestApp, id: &str) {
    // Never under the data repository, in any set or anywhere else.
    for file in all_files(&app.data_repo_root()) {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(
            !name.starts_with("secrets"),
            "a secrets object is in the data repository: {}",
            file.display()
        );
    }
    if let Some(s3) = app.s3() {
        let keys = s3.list_keys();
        assert!(
            keys.iter().all(|k| !k.contains("secrets")),
            "a secrets object was uploaded to S3: {keys:?}"
        );
        assert!(
            keys.iter()
                .any(|k| k.starts_with(&format!("{S3_PREFIX}/sets/{id}/"))),
            "the set is not in the bucket: {keys:?}"
        );
    }
    let secrets_dir = app.secrets_set_dir(id);
    let object = secrets_dir.join("secrets.tar.gpg");
    assert!(object.is_file(), "{} missing", object.display());
    check_checksums(app, &secrets_dir, &["secrets.tar.gpg"]);

    let tar_bytes = gpg_decrypt(app, &object);
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    let mut found = Vec::new();
    for entry in archive.entries().expect("read the secrets tar") {
        let mut entry = entry.expect("a secrets tar entry");
        let path = entry.path().expect("entry path").to_path_buf();
        let mode = entry.header().mode().expect("entry mode") & 0o7777;
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read entry");
        found.push((path, mode, bytes));
    }
    for (source, mode) in [(app.cert_path(), 0o640), (app.env_file_path(), 0o600)] {
        let name = source.strip_prefix("/").expect("absolute secret path");
        let (_, stored_mode, bytes) = found
            .iter()
            .find(|(p, _, _)| p == name)
            .unwrap_or_else(|| panic!("{} is not in secrets.tar: {:?}", name.display(), found));
        assert_eq!(*stored_mode, mode, "mode of {}", name.display());
        assert!(
            *bytes == std::fs::read(&source).expect("read the source secret"),
            "{} differs",
            name.display()
        );
    }
    assert_eq!(found.len(), 2, "secrets.tar holds more than the two files");
}

/// The manifest: format 1, exact key-table counts, and stored hashes and sizes that match the
/// objects on disk. Returns it.
fn check_manifest(app: &TestApp, id: &str) -> Value {
    let set_dir = app.set_dir_local(id);
    let manifest = read_json(&set_dir.join("manifest.json"));
    assert_eq!(manifest["format"], 1, "{manifest:#}");
    assert_eq!(manifest["set_id"], id);
    assert_eq!(manifest["source"]["database"], "app");
    let tables = manifest["source"]["key_tables"]
        .as_array()
        .expect("key_tables");
    assert_eq!(tables.len(), KEY_TABLES.len(), "{tables:?}");
    for ((table, expected), recorded) in KEY_TABLES.iter().zip(KEY_TABLE_ROWS).zip(tables) {
        let counted: u64 = app
            .psql(&format!("SELECT count(*) FROM {table}"))
            .parse()
            .expect("a count");
        assert_eq!(counted, expected, "rows in {table} (assets/demo.sql)");
        assert_eq!(recorded["table"], *table);
        assert_eq!(recorded["rows"], counted, "manifest rows of {table}");
    }

    let components = manifest["components"].as_array().expect("components");
    let kinds: Vec<&str> = components
        .iter()
        .map(|c| c["kind"].as_str().expect("kind"))
        .collect();
    let mut expected_kinds = vec!["db", "files"];
    if app.opts.secrets {
        expected_kinds.push("secrets");
    }
    assert_eq!(kinds, expected_kinds);
    let mode = match app.opts.encryption {
        Enc::Passphrase => "passphrase",
        Enc::Recipients => "recipients",
        Enc::None => "none",
    };
    for c in components {
        let object = c["object"].as_str().expect("object");
        let path = match c["repository"].as_str() {
            Some("data") => set_dir.join(object),
            Some("secrets") => app.secrets_set_dir(id).join(object),
            other => panic!("unknown repository role {other:?}"),
        };
        let size = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .len();
        assert_eq!(c["stored_bytes"], size, "stored_bytes of {object}");
        assert_eq!(
            c["stored_sha256"],
            sha256_file(&path),
            "stored_sha256 of {object}"
        );
        assert_eq!(c["encryption"]["mode"], mode, "{object}");
        let recipients = c["encryption"]["recipients"]
            .as_array()
            .expect("recipients");
        match app.opts.encryption {
            Enc::Recipients => {
                let fpr = app.gpg_home().expect("recipients").fingerprint();
                assert!(
                    recipients.iter().any(|r| r.as_str() == Some(fpr)),
                    "{object}: recipients {recipients:?} lack {fpr}"
                );
            }
            _ => assert!(recipients.is_empty(), "{object}: {recipients:?}"),
        }
        if let Some(pass) = app.passphrase() {
            assert!(!c.to_string().contains(pass), "passphrase in the manifest");
        }
    }
    let compression = |kind: &str| {
        components
            .iter()
            .find(|c| c["kind"] == kind)
            .map(|c| c["compression"]["codec"].clone())
    };
    assert_eq!(compression("db"), Some(Value::from("zstd")));
    assert_eq!(compression("files"), Some(Value::from("zstd")));

    let out = app.lifeboat(&["verify", id, "--decrypt"]);
    assert_success("lifeboat verify --decrypt", &out);
    manifest
}

/// `list`, `inventory` and `status` see the set.
fn check_listing(app: &TestApp, id: &str) {
    let (code, list) = app.lifeboat_json(&["list"]);
    assert_eq!(code, 0, "{list:#}");
    let sets = list["sets"].as_array().expect("list sets");
    let set = sets
        .iter()
        .find(|s| s["set_id"] == id)
        .unwrap_or_else(|| panic!("list --json lacks {id}: {list:#}"));
    let components: Vec<&str> = set["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        components.contains(&"db") && components.contains(&"files"),
        "{set:#}"
    );
    assert_eq!(set["missing_objects"].as_array().map(Vec::len), Some(0));

    let (code, inventory) = app.lifeboat_json(&["inventory"]);
    assert_eq!(code, 0, "{inventory:#}");
    let set = inventory["sets"]
        .as_array()
        .expect("inventory sets")
        .iter()
        .find(|s| s["set_id"] == id)
        .unwrap_or_else(|| panic!("inventory --json lacks {id}: {inventory:#}"));
    assert_eq!(set["complete"], true, "{set:#}");
    let names: BTreeSet<String> = set["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|o| o["path"].as_str())
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
        .collect();
    let expected: BTreeSet<String> = [
        "checksums.sha256",
        "db.dump.zst.gpg",
        "files.tar.zst.gpg",
        "manifest.json",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(names, expected, "{set:#}");
    assert_eq!(
        inventory["strays"].as_array().map(Vec::len),
        Some(0),
        "{inventory:#}"
    );

    let out = app.lifeboat(&["status"]);
    assert_success("lifeboat status", &out);
    let (code, status) = app.lifeboat_json(&["status"]);
    assert_eq!(code, 0, "{status:#}");
    assert_eq!(status["health"], "ok", "{status:#}");
    assert_eq!(status["newest_set"]["set_id"], id, "{status:#}");
}

fn roundtrip(repo: RepoKind, encryption: Enc) {
    let app = TestApp::new(AppOptions {
        repo,
        encryption,
        secrets: true,
    });
    let id = app.backup();
    let set_dir = app.set_dir_local(&id);
    assert!(set_dir.is_dir(), "{} missing", set_dir.display());

    check_checksums(&app, &set_dir, &["db.dump.zst.gpg", "files.tar.zst.gpg"]);
    let manifest = check_manifest(&app, &id);
    let plaintext_sha = |kind: &str| -> String {
        manifest["components"]
            .as_array()
            .expect("components")
            .iter()
            .find(|c| c["kind"] == kind)
            .and_then(|c| c["plaintext_sha256"].as_str())
            .expect("plaintext_sha256")
            .to_string()
    };
    check_database_restores(&app, &set_dir.join("db.dump.zst.gpg"), &plaintext_sha("db"));
    check_files_archive(&app, &set_dir.join("files.tar.zst.gpg"));
    check_secrets(&app, &id);
    check_listing(&app, &id);
}

#[test]
fn local_passphrase_set_restores_with_plain_tools() {
    roundtrip(RepoKind::Local, Enc::Passphrase);
}

#[test]
fn local_recipients_set_restores_with_plain_tools() {
    roundtrip(RepoKind::Local, Enc::Recipients);
}

#[test]
fn s3_passphrase_set_restores_with_plain_tools() {
    roundtrip(RepoKind::S3, Enc::Passphrase);
}

#[test]
fn s3_recipients_set_restores_with_plain_tools() {
    roundtrip(RepoKind::S3, Enc::Recipients);
}

// ---------------------------------------------------------------------------------------------
// No secret in argv, logs or files; everything written is for the owner only.

fn assert_no_secret(what: &str, haystack: &[u8], secrets: &[String]) {
    for secret in secrets {
        let needle = secret.as_bytes();
        assert!(
            !haystack.windows(needle.len()).any(|w| w == needle),
            "a secret ({}…) appears in {what}",
            &secret[..6]
        );
    }
}

#[test]
fn no_secret_in_argv_logs_or_files_and_everything_is_owner_only() {
    let mut app = TestApp::new(AppOptions::default());
    let password = format!("pw-{}", random_token(16));
    let url = app
        .url()
        .replacen("postgres@", &format!("postgres:{password}@"), 1);
    assert!(url.contains(&password), "{url}");
    app.set_database_url(&url);
    let passphrase = app.passphrase().expect("passphrase mode").to_string();
    let secrets = vec![passphrase.clone(), password.clone()];

    let child = app.spawn_lifeboat(&["backup", "--json"]);
    // Every argv on the machine, and the environment of lifeboat and its children but the
    // libpq programs (tests/secrets.rs does this through a restore and a drill too).
    let watch = TreeWatch::start(
        child.id(),
        secrets.clone(),
        &["psql", "pg_dump", "pg_restore"],
        Vec::new(),
    );
    let out = child.wait_with_output().expect("wait for lifeboat backup");
    let samples = watch.finish();
    assert_success("lifeboat backup", &out);

    assert!(
        samples.leaks.is_empty(),
        "a secret appeared in a process's argv or environment: {:#?}",
        samples.leaks
    );
    // The watch must have seen lifeboat's children, or it proved nothing.
    assert!(samples.sweeps > 10, "only {} sweeps", samples.sweeps);
    assert!(
        samples.saw("lifeboat") && (samples.saw("psql") || samples.saw("pg_dump")),
        "the watch never saw lifeboat's psql or pg_dump: {}",
        samples.summary()
    );
    // The password was moved out of the URL, not dropped: the backup connected and dumped.
    let report: Value = serde_json::from_slice(&out.stdout).expect("backup --json");
    let id = report["set_id"].as_str().expect("set_id").to_string();

    // Nowhere in what lifeboat printed or wrote.
    assert_no_secret("backup stdout", &out.stdout, &secrets);
    assert_no_secret("backup stderr", &out.stderr, &secrets);
    for args in [
        vec!["list"],
        vec!["inventory", "--json"],
        vec!["status", "--json"],
        vec!["verify", "--decrypt"],
    ] {
        let out = app.lifeboat(&args);
        assert_success(&format!("lifeboat {args:?}"), &out);
        assert_no_secret(
            &format!("`lifeboat {args:?}` stdout"),
            &out.stdout,
            &secrets,
        );
        assert_no_secret(
            &format!("`lifeboat {args:?}` stderr"),
            &out.stderr,
            &secrets,
        );
    }
    let journal = std::fs::read(app.journal_path()).expect("journal.jsonl exists");
    assert_no_secret("data/journal.jsonl", &journal, &secrets);
    let log = std::fs::read(app.log_path()).expect("state/logs/lifeboat.log exists");
    assert!(!log.is_empty(), "the log is empty");
    assert_no_secret("state/logs/lifeboat.log", &log, &secrets);
    let manifest = std::fs::read(app.set_dir_local(&id).join("manifest.json")).expect("manifest");
    assert_no_secret("manifest.json", &manifest, &secrets);
    for root in [
        app.repo_dir(),
        app.secrets_repo_dir(),
        app.data_dir(),
        app.state_dir(),
    ] {
        for file in all_files(&root) {
            let bytes = std::fs::read(&file).expect("read a file lifeboat wrote");
            assert_no_secret(&file.display().to_string(), &bytes, &secrets);
        }
    }

    // Owner-only: files 0600, directories without group or other bits.
    let mut checked = 0;
    for root in [app.repo_dir(), app.secrets_repo_dir()] {
        for entry in walkdir::WalkDir::new(&root).min_depth(1) {
            let entry = entry.expect("walk a repository");
            let mode = entry.metadata().expect("stat").permissions().mode() & 0o7777;
            if entry.file_type().is_file() {
                checked += 1;
                assert_eq!(
                    mode,
                    0o600,
                    "{} is {mode:o}, not 0600",
                    entry.path().display()
                );
            } else if entry.file_type().is_dir() {
                assert_eq!(
                    mode & 0o077,
                    0,
                    "directory {} is {mode:o}",
                    entry.path().display()
                );
            }
        }
    }
    // db, files, checksums, manifest + secrets, checksums, manifest.
    assert!(checked >= 7, "only {checked} repository files checked");
    for file in [app.journal_path(), app.log_path()] {
        let mode = std::fs::metadata(&file).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", file.display());
    }
}
