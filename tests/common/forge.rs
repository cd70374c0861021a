//! Forging sets for the tests that feed lifeboat hostile or damaged input: copy a real set
//! under a new id, swap its files object for crafted bytes with a consistent manifest and
//! checksums, encrypt as anyone could with plain `gpg --symmetric`, and make its manifest claim
//! other roots.

use super::app::TestApp;
use super::GpgHome;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::process::{Command, Stdio};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn run_ok(what: &str, cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A set's folder copied to a new set id (both repositories), its manifests renamed to it.
pub fn copy_set(app: &TestApp, set: &str, new_id: &str) {
    for root in [app.data_repo_root(), app.secrets_repo_dir()] {
        let from = root.join("sets").join(set);
        if !from.exists() {
            continue;
        }
        let to = root.join("sets").join(new_id);
        std::fs::create_dir_all(&to).expect("create the new set folder");
        for entry in std::fs::read_dir(&from).expect("list the set folder") {
            let entry = entry.expect("a set object");
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy a set object");
        }
        let manifest_path = to.join("manifest.json");
        let mut manifest: Value =
            serde_json::from_slice(&std::fs::read(&manifest_path).expect("read manifest.json"))
                .expect("manifest.json is JSON");
        manifest["set_id"] = Value::from(new_id);
        std::fs::write(
            &manifest_path,
            serde_json::to_vec_pretty(&manifest).expect("render manifest.json"),
        )
        .expect("write manifest.json");
    }
}

/// Replaces the `files` object of a (copied) set with `stored` bytes whose decryption is
/// `plaintext` (the compressed tar of `source_bytes` bytes), keeping the manifest and
/// checksums.sha256 consistent with it.
pub fn replace_files_object(
    app: &TestApp,
    id: &str,
    stored: &[u8],
    plaintext: &[u8],
    source_bytes: u64,
) {
    replace_object(app, id, "files", stored, plaintext, source_bytes);
}

/// Replaces the `db` object of a (copied) set with `dump` (a pg_dump custom archive),
/// compressed with zstd and encrypted with the app's passphrase as lifeboat stores it.
pub fn replace_db_object(app: &TestApp, id: &str, dump: &[u8]) {
    let compressed = zstd::encode_all(dump, 3).expect("zstd-compress the forged dump");
    let stored = gpg_symmetric(app, &compressed);
    replace_object(app, id, "db", &stored, &compressed, dump.len() as u64);
}

/// Replaces the `kind` object of a (copied) set with `stored` bytes whose decryption is
/// `plaintext` (the compressed stream of `source_bytes` bytes), keeping the manifest and
/// checksums.sha256 consistent with it.
pub fn replace_object(
    app: &TestApp,
    id: &str,
    kind: &str,
    stored: &[u8],
    plaintext: &[u8],
    source_bytes: u64,
) {
    let dir = app.set_dir_local(id);
    let manifest_path = dir.join("manifest.json");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).expect("read manifest.json"))
            .expect("manifest.json is JSON");
    let component = manifest["components"]
        .as_array_mut()
        .expect("components")
        .iter_mut()
        .find(|c| c["kind"] == kind)
        .unwrap_or_else(|| panic!("a {kind} component"));
    let object = component["object"]
        .as_str()
        .expect("object name")
        .to_string();
    component["stored_bytes"] = Value::from(stored.len() as u64);
    component["stored_sha256"] = Value::from(sha256_hex(stored));
    component["plaintext_bytes"] = Value::from(plaintext.len() as u64);
    component["plaintext_sha256"] = Value::from(sha256_hex(plaintext));
    component["source_bytes"] = Value::from(source_bytes);
    std::fs::write(dir.join(&object), stored).expect("write the forged object");
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).expect("render manifest.json"),
    )
    .expect("write manifest.json");
    let checksums_path = dir.join("checksums.sha256");
    let checksums = std::fs::read_to_string(&checksums_path).expect("read checksums.sha256");
    let rewritten: String = checksums
        .lines()
        .map(|line| match line.split_once("  ") {
            Some((_, name)) if name == object => format!("{}  {name}\n", sha256_hex(stored)),
            _ => format!("{line}\n"),
        })
        .collect();
    assert_ne!(rewritten, checksums, "checksums.sha256 lists {object}");
    std::fs::write(&checksums_path, rewritten).expect("write checksums.sha256");
}

/// `gpg --symmetric` with the app's passphrase file, in a fresh GNUPGHOME, as anyone could.
pub fn gpg_symmetric(app: &TestApp, plaintext: &[u8]) -> Vec<u8> {
    let home = GpgHome::empty();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (input, output) = (dir.path().join("in"), dir.path().join("out.gpg"));
    std::fs::write(&input, plaintext).expect("write the plaintext");
    run_ok(
        "gpg --symmetric",
        home.gpg()
            .args(["--pinentry-mode", "loopback", "--passphrase-file"])
            .arg(app.passphrase_file().expect("passphrase mode"))
            .args(["--symmetric", "--cipher-algo", "AES256", "-o"])
            .arg(&output)
            .arg(&input),
    );
    std::fs::read(&output).expect("read the ciphertext")
}

/// Replaces the `files` object of a (copied) set with `tar`, compressed with zstd and
/// encrypted with the app's passphrase as anyone holding it could, manifest and checksums
/// kept consistent: the forged set passes as authentic.
pub fn forge_files_tar(app: &TestApp, id: &str, tar: &[u8]) {
    let compressed = zstd::encode_all(tar, 3).expect("zstd");
    let stored = gpg_symmetric(app, &compressed);
    replace_files_object(app, id, &stored, &compressed, tar.len() as u64);
}

/// Rewrites the roots a (copied) set's manifest claims: `source.file_roots`, and
/// `source.secret_files` when `secrets` is given. The manifest is not hashed by anything, so
/// whoever can write the bucket can do this.
pub fn set_manifest_roots(app: &TestApp, id: &str, files: &[&str], secrets: Option<&[&str]>) {
    let manifest_path = app.set_dir_local(id).join("manifest.json");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).expect("read manifest.json"))
            .expect("manifest.json is JSON");
    manifest["source"]["file_roots"] = Value::from(files.to_vec());
    if let Some(secrets) = secrets {
        manifest["source"]["secret_files"] = Value::from(secrets.to_vec());
    }
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).expect("render manifest.json"),
    )
    .expect("write manifest.json");
}
