//! The new host's configuration, written at the end of a recovery so the next `lifeboat
//! backup` continues into the same repository: the restored database, the file roots and
//! secrets where they now are, the key tables, the repositories and the key source. Nothing
//! secret: S3 credentials stay in the AWS chain, the database password in PGPASSWORD or
//! pgpass, the passphrase in its file (only the file's path is written).

use super::{KeySource, RecoverSpec, RepoArgs, TargetChoice};
use crate::storage::manifest::Manifest;
use crate::storage::postgres::PgConn;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// A TOML basic string (JSON's string escapes are TOML's).
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

fn list(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|s| quoted(s)).collect();
    format!("[{}]", q.join(", "))
}

/// Where a root of the set is after the recovery.
pub(super) fn placed_root(spec: &RecoverSpec, root: &str) -> PathBuf {
    match &spec.files_prefix {
        Some(prefix) => prefix.join(root.trim_start_matches('/')),
        None => PathBuf::from(root),
    }
}

fn repository(out: &mut String, table: &str, r: &RepoArgs) {
    let _ = writeln!(out, "\n[{table}]\nurl = {}", quoted(&r.url));
    if let Some(e) = &r.endpoint {
        let _ = writeln!(out, "endpoint = {}", quoted(e));
    }
    if let Some(region) = &r.region {
        let _ = writeln!(out, "region = {}", quoted(region));
    }
    if let Some(p) = r.path_style {
        let _ = writeln!(out, "path_style = {p}");
    }
}

pub(super) fn render(spec: &RecoverSpec, manifest: &Manifest, target: &PgConn) -> String {
    let source = &manifest.source;
    let shown = |p: PathBuf| p.display().to_string();
    let files: Vec<String> = source
        .file_roots
        .iter()
        .map(|r| shown(placed_root(spec, r)))
        .collect();
    let secrets: Vec<String> = source
        .secret_files
        .iter()
        .map(|r| shown(placed_root(spec, r)))
        .collect();
    let key_tables: Vec<String> = source.key_tables.iter().map(|t| t.table.clone()).collect();
    let mut out = format!(
        "# Written by `lifeboat recover` from set {} of host {} ({}).\n\
         # Nothing secret is in here: S3 credentials come from the AWS environment, the database\n\
         # password from PGPASSWORD or ~/.pgpass, the passphrase from the file named below.\n\n\
         [source]\ndatabase_url = {}\nfiles = {}\nsecrets = {}\nkey_tables = {}\n",
        manifest.set_id,
        manifest.host,
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        quoted(&target.display()),
        list(&files),
        list(&secrets),
        list(&key_tables),
    );
    let bin: Option<&Path> = match (&spec.pg_bin_dir, &spec.target) {
        (Some(b), _) => Some(b),
        _ => None,
    };
    if let Some(b) = bin {
        let _ = writeln!(out, "pg_bin_dir = {}", quoted(&b.display().to_string()));
    } else if let TargetChoice::NewCluster(_) = &spec.target {
        if let Some(b) = super::target::dump_major(manifest)
            .and_then(|m| crate::storage::local_cluster::bin_dir_for(m).ok())
        {
            let _ = writeln!(out, "pg_bin_dir = {}", quoted(&b.display().to_string()));
        }
    }
    repository(&mut out, "repository", &spec.repository);
    if let Some(s) = &spec.secrets_repository {
        repository(&mut out, "secrets_repository", s);
    }
    let mode = manifest
        .components
        .first()
        .map(|c| c.encryption.mode.clone())
        .unwrap_or_else(|| "none".into());
    out.push_str("\n[encryption]\n");
    match (&spec.key, mode.as_str()) {
        (_, "none") => out.push_str("mode = \"none\"\n"),
        (KeySource::PassphraseFile(p), _) => {
            let _ = writeln!(
                out,
                "mode = \"passphrase\"\npassphrase_file = {}",
                quoted(&p.display().to_string())
            );
        }
        (KeySource::Keyring, _) => {
            let recipients: Vec<String> = manifest
                .components
                .iter()
                .flat_map(|c| c.encryption.recipients.iter().cloned())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let _ = writeln!(
                out,
                "mode = \"recipients\"\nrecipients = {}",
                list(&recipients)
            );
        }
    }
    if let Some(c) = manifest.components.first() {
        let _ = writeln!(
            out,
            "\n[backup]\ncompression = {}\nlevel = {}",
            quoted(&c.compression.codec),
            c.compression.level
        );
    }
    out
}
