//! `TestApp`: one complete application for an integration test, built from real parts.
//!
//! A throwaway PostgreSQL cluster with the demo database `app`, a file-storage tree, secret
//! files, private data and state directories, a data repository (a local directory or a prefix
//! in an `s3s-fs` bucket), a separate local secrets repository, the encryption material
//! (a passphrase file or a generated gpg key) and a `config.toml` tying them together.
//! Everything belongs to the one `TestApp` (no global state, no fixed ports), so tests run in
//! parallel threads, and everything is torn down when it is dropped.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use lifeboat::storage::pg_cluster::{ClusterOptions, EphemeralCluster};
use rand::RngCore;
use tempfile::TempDir;

use super::{GpgHome, PassphraseFile, S3Kind, S3Server, S3_REGION};

/// The demo application's schema and data: a quoted "User" table, `documents`, `audit_log`
/// and `billing.invoices`.
pub const DEMO_SQL: &str = include_str!("../../assets/demo.sql");
/// The application database inside the cluster.
pub const APP_DB: &str = "app";
/// The prefix of the data repository inside the S3 bucket.
pub const S3_PREFIX: &str = "app";
/// Key tables configured for every `TestApp`, as written in `config.toml`.
pub const KEY_TABLES: [&str; 3] = ["\"User\"", "public.documents", "billing.invoices"];
/// Row counts `assets/demo.sql` creates in the key tables, in [`KEY_TABLES`] order.
pub const KEY_TABLE_ROWS: [u64; 3] = [2000, 6000, 3000];
/// Size of the random file in the file-storage tree.
pub const BIG_FILE_BYTES: usize = 2 * 1024 * 1024;

/// Environment variables that could point the child at something other than this app.
pub const SCRUBBED_ENV: &[&str] = &[
    "LIFEBOAT_CONFIG",
    "LIFEBOAT_LOG",
    "LIFEBOAT_DATA_DIR",
    "LIFEBOAT_STATE_DIR",
    "LIFEBOAT_HOSTNAME",
    "LIFEBOAT_LOCK_LEASE_SECS",
    "GNUPGHOME",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RepoKind {
    #[default]
    Local,
    S3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enc {
    #[default]
    Passphrase,
    Recipients,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppOptions {
    pub repo: RepoKind,
    pub encryption: Enc,
    /// Configure `[source].secrets` (and so the secrets repository).
    pub secrets: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            repo: RepoKind::Local,
            encryption: Enc::Passphrase,
            secrets: true,
        }
    }
}

pub struct TestApp {
    pub opts: AppOptions,
    // Field order is drop order: the cluster and servers go before their directories.
    cluster: EphemeralCluster,
    s3: Option<S3Server>,
    gpg: Option<GpgHome>,
    passphrase: Option<(String, TempDir, PathBuf)>,
    database_url: String,
    dir: TempDir,
}

/// `bytes` as a TOML basic string (JSON string escapes are valid TOML).
fn toml_str(text: &str) -> String {
    serde_json::to_string(text).expect("a string renders as JSON")
}

fn toml_path(path: &Path) -> String {
    toml_str(path.to_str().expect("test paths are UTF-8"))
}

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A random lowercase hex token of `bytes` random bytes (passphrases, passwords, names).
pub fn random_token(bytes: usize) -> String {
    hex::encode(random_bytes(bytes))
}

fn write_file(path: &Path, contents: &[u8], mode: u32) {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    file.write_all(contents)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    // The umask may have taken bits away; the mode is part of what tests compare.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn mkdir(path: &Path) {
    std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
}

impl TestApp {
    pub fn new(opts: AppOptions) -> TestApp {
        TestApp::with_cluster(opts, ClusterOptions::default())
    }

    /// Like [`TestApp::new`], with server settings of its own (e.g. WAL archiving). The
    /// cluster stands in for the production server, so it listens on loopback TCP too.
    pub fn with_cluster(opts: AppOptions, cluster_opts: ClusterOptions) -> TestApp {
        TestApp::build(opts, cluster_opts, S3Kind::S3sFs)
    }

    /// Like [`TestApp::new`] with [`RepoKind::S3`], on `moto_server` rather than s3s-fs (it
    /// lists open multipart uploads).
    pub fn on_moto(opts: AppOptions) -> TestApp {
        assert_eq!(opts.repo, RepoKind::S3, "moto serves S3 repositories");
        TestApp::build(opts, ClusterOptions::default(), S3Kind::Moto)
    }

    fn build(opts: AppOptions, cluster_opts: ClusterOptions, s3_kind: S3Kind) -> TestApp {
        let cluster = EphemeralCluster::start(ClusterOptions {
            loopback_tcp: true,
            ..cluster_opts
        })
        .unwrap_or_else(|e| panic!("start a throwaway PostgreSQL cluster: {e}"));
        cluster
            .create_database(APP_DB)
            .unwrap_or_else(|e| panic!("create database {APP_DB}: {e}"));
        cluster
            .psql(APP_DB, DEMO_SQL)
            .unwrap_or_else(|e| panic!("load assets/demo.sql: {e}"));

        let dir = tempfile::Builder::new()
            .prefix("lifeboat-app-")
            .tempdir()
            .expect("create the TestApp directory");
        let root = dir.path();
        Self::make_files_tree(&root.join("files"));
        mkdir(&root.join("secrets"));
        write_file(
            &root.join("secrets/cert.p12"),
            &random_bytes(3 * 1024 + 17),
            0o640,
        );
        write_file(
            &root.join("secrets/.env"),
            format!(
                "APP_SECRET_KEY={}\nSMTP_PASSWORD={}\n",
                random_token(32),
                random_token(16)
            )
            .as_bytes(),
            0o600,
        );
        for sub in ["data", "state", "secrets-repo"] {
            mkdir(&root.join(sub));
        }

        let s3 = match opts.repo {
            RepoKind::Local => {
                mkdir(&root.join("repo"));
                None
            }
            RepoKind::S3 => Some(match s3_kind {
                S3Kind::S3sFs => S3Server::start(),
                S3Kind::Moto => S3Server::start_moto(),
            }),
        };
        let gpg = (opts.encryption == Enc::Recipients).then(GpgHome::new);
        let passphrase = (opts.encryption == Enc::Passphrase).then(|| {
            let pass = format!("lb-pass-{}", random_token(16));
            let (guard, path) = PassphraseFile::new(&pass);
            (pass, guard, path)
        });

        let app = TestApp {
            opts,
            database_url: cluster.url(APP_DB),
            cluster,
            s3,
            gpg,
            passphrase,
            dir,
        };
        app.write_config();
        app
    }

    /// Nested directories, an empty directory, small text files, a 2 MiB random file, a name
    /// with spaces and a relative symlink inside the tree.
    fn make_files_tree(files: &Path) {
        mkdir(&files.join("uploads/2024/01"));
        mkdir(&files.join("uploads/2024/02/deep/deeper"));
        mkdir(&files.join("empty"));
        write_file(&files.join("README.txt"), b"file storage root\n", 0o644);
        write_file(
            &files.join("uploads/2024/01/contract-1.txt"),
            b"This agreement is made between the parties.\n",
            0o644,
        );
        write_file(
            &files.join("uploads/2024/02/deep/deeper/note.md"),
            b"# deep\n\nnested note\n",
            0o600,
        );
        write_file(&files.join("uploads/2024/02/zero-bytes"), b"", 0o644);
        write_file(
            &files.join("uploads/2024/02/signed contract (final).pdf"),
            b"%PDF-1.4 not really a pdf\n",
            0o644,
        );
        write_file(
            &files.join("uploads/blob.bin"),
            &random_bytes(BIG_FILE_BYTES),
            0o644,
        );
        std::os::unix::fs::symlink("2024/01/contract-1.txt", files.join("uploads/latest"))
            .expect("create the symlink in the files tree");
    }

    /// The `config.toml` this app runs with, from its current settings.
    pub fn config_text(&self) -> String {
        let mut text = String::new();
        let key_tables: Vec<String> = KEY_TABLES.iter().map(|t| toml_str(t)).collect();
        text.push_str("[source]\n");
        text.push_str(&format!(
            "database_url = {}\n",
            toml_str(&self.database_url)
        ));
        text.push_str(&format!("files = [{}]\n", toml_path(&self.files_dir())));
        if self.opts.secrets {
            text.push_str(&format!(
                "secrets = [{}, {}]\n",
                toml_path(&self.cert_path()),
                toml_path(&self.env_file_path())
            ));
        }
        text.push_str(&format!("key_tables = [{}]\n", key_tables.join(", ")));
        text.push_str(&format!(
            "pg_bin_dir = {}\n",
            toml_path(self.cluster.bin_dir())
        ));

        text.push_str("\n[repository]\n");
        match &self.s3 {
            None => text.push_str(&format!(
                "url = {}\n",
                toml_str(&format!("file://{}", self.repo_dir().display()))
            )),
            Some(s3) => {
                text.push_str(&format!(
                    "url = {}\n",
                    toml_str(&format!("s3://{}/{S3_PREFIX}", s3.bucket()))
                ));
                text.push_str(&format!("endpoint = {}\n", toml_str(&s3.endpoint())));
                text.push_str(&format!("region = {}\n", toml_str(S3_REGION)));
                text.push_str("timeout = \"30s\"\n");
            }
        }
        if self.opts.secrets {
            text.push_str("\n[secrets_repository]\n");
            text.push_str(&format!(
                "url = {}\n",
                toml_str(&format!("file://{}", self.secrets_repo_dir().display()))
            ));
        }

        text.push_str("\n[encryption]\n");
        match self.opts.encryption {
            Enc::None => text.push_str("mode = \"none\"\n"),
            Enc::Passphrase => {
                text.push_str("mode = \"passphrase\"\n");
                text.push_str(&format!(
                    "passphrase_file = {}\n",
                    toml_path(self.passphrase_file().expect("passphrase mode"))
                ));
            }
            Enc::Recipients => {
                text.push_str("mode = \"recipients\"\n");
                text.push_str(&format!(
                    "recipients = [{}]\n",
                    toml_str(self.gpg_home().expect("recipients mode").fingerprint())
                ));
            }
        }

        text.push_str("\n[backup]\ncompression = \"zstd\"\nlevel = 3\ntimeout = \"5m\"\n");
        text
    }

    /// (Re)writes `config.toml` from the current settings.
    pub fn write_config(&self) {
        self.write_raw_config(&self.config_text());
    }

    /// Replaces `config.toml` with `text` (tests of bad or unusual configurations).
    pub fn write_raw_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("write config.toml");
    }

    /// Points `[source].database_url` somewhere else and rewrites the config.
    pub fn set_database_url(&mut self, url: &str) {
        self.database_url = url.to_string();
        self.write_config();
    }

    /// The environment the `lifeboat` child gets on top of the inherited one (after
    /// [`SCRUBBED_ENV`] is removed).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "LIFEBOAT_DATA_DIR".to_string(),
                self.data_dir().display().to_string(),
            ),
            (
                "LIFEBOAT_STATE_DIR".to_string(),
                self.state_dir().display().to_string(),
            ),
            ("NO_COLOR".to_string(), "1".to_string()),
        ];
        if let Some(s3) = &self.s3 {
            env.extend(s3.env());
            env.push(("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string()));
        }
        if let Some(gpg) = &self.gpg {
            env.push(("GNUPGHOME".to_string(), gpg.path().display().to_string()));
        }
        env
    }

    /// `lifeboat --config <config.toml> <args>` with this app's environment and no stdin.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_with_config(&self.config_path(), args)
    }

    /// As [`TestApp::command`], with another configuration file (a second repository, say)
    /// and this app's environment (the same journal and data directory).
    pub fn command_with_config(&self, config: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        cmd.arg("--config").arg(config).args(args);
        for name in SCRUBBED_ENV {
            cmd.env_remove(name);
        }
        cmd.envs(self.env()).stdin(Stdio::null());
        cmd
    }

    /// Runs lifeboat to completion.
    pub fn lifeboat(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("run lifeboat {args:?}: {e}"))
    }

    /// Runs lifeboat with `--json` appended; returns the exit code and the parsed stdout.
    pub fn lifeboat_json(&self, args: &[&str]) -> (i32, serde_json::Value) {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.lifeboat(&all);
        let code = out.status.code().unwrap_or(-1);
        let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "lifeboat {all:?} (exit {code}) printed no JSON ({e}):\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (code, value)
    }

    /// Starts lifeboat in the background, stdout and stderr piped (kill and concurrency tests).
    pub fn spawn_lifeboat(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn lifeboat {args:?}: {e}"))
    }

    /// Takes a backup (`backup --json`), asserts it succeeded, returns the set id.
    pub fn backup(&self) -> String {
        let out = self.lifeboat(&["backup", "--json"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "lifeboat backup failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        let value: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("backup --json printed no JSON ({e}): {stdout}"));
        assert_eq!(value["ok"], true, "{value:#}");
        value["set_id"]
            .as_str()
            .unwrap_or_else(|| panic!("backup --json has no set_id: {value:#}"))
            .to_string()
    }

    /// Adds `count` incompressible files of `each` bytes under `<files>/bulk`, so a backup
    /// takes a while and its objects have some size (random bytes from the kernel: neither
    /// compression nor the test's RNG slow it down). Returns the folder.
    pub fn add_bulk_files(&self, count: usize, each: u64) -> PathBuf {
        let dir = self.files_dir().join("bulk");
        mkdir(&dir);
        let mut random = std::fs::File::open("/dev/urandom").expect("open /dev/urandom");
        for i in 0..count {
            let path = dir.join(format!("blob-{i:02}.bin"));
            let mut file = std::fs::File::create(&path)
                .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
            let copied = std::io::copy(&mut std::io::Read::take(&mut random, each), &mut file)
                .unwrap_or_else(|e| panic!("fill {}: {e}", path.display()));
            assert_eq!(copied, each, "{} is short", path.display());
        }
        dir
    }

    /// The rows of the application database, one INSERT per row, sorted: equal dumps mean
    /// equal data.
    pub fn data_dump(&self) -> Vec<String> {
        self.data_dump_of(&self.url())
    }

    /// The rows of the database at `url`, one INSERT per row, sorted.
    pub fn data_dump_of(&self, url: &str) -> Vec<String> {
        let out = Command::new(self.pg_program("pg_dump"))
            .args([
                "--no-password",
                "--data-only",
                "--column-inserts",
                "--rows-per-insert=1",
                "-d",
            ])
            .arg(url)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run pg_dump --data-only: {e}"));
        assert!(
            out.status.success(),
            "pg_dump --data-only failed: {}",
            super::describe(&out)
        );
        // Comments, session settings and the random `\restrict` key of newer pg_dump
        // releases differ between two dumps of the same data.
        let unstable = |line: &str| {
            line.is_empty()
                || line.starts_with("--")
                || line.starts_with("SET ")
                || line.starts_with("\\restrict")
                || line.starts_with("\\unrestrict")
        };
        let mut lines: Vec<String> = super::text(&out.stdout)
            .lines()
            .filter(|l| !unstable(l))
            .map(str::to_string)
            .collect();
        lines.sort();
        assert!(lines.len() > 30_000, "the dump holds the demo rows");
        lines
    }

    /// The set's folder on disk: in the local repository, or the objects s3s-fs stored.
    pub fn set_dir_local(&self, id: &str) -> PathBuf {
        self.data_repo_root().join("sets").join(id)
    }

    /// The set's folder in the secrets repository.
    pub fn secrets_set_dir(&self, id: &str) -> PathBuf {
        self.secrets_repo_dir().join("sets").join(id)
    }

    /// Where the data repository's objects are on disk (the local directory, or the prefix's
    /// directory inside the s3s-fs bucket).
    pub fn data_repo_root(&self) -> PathBuf {
        match &self.s3 {
            None => self.repo_dir(),
            Some(s3) => s3.root_dir().join(S3_PREFIX),
        }
    }

    /// Runs SQL on the application database; returns psql's unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_db(APP_DB, sql)
    }

    pub fn psql_db(&self, db: &str, sql: &str) -> String {
        self.cluster
            .psql(db, sql)
            .unwrap_or_else(|e| panic!("psql on {db}: {e}"))
    }

    /// The application database's URL as the cluster serves it (no password).
    pub fn url(&self) -> String {
        self.cluster.url(APP_DB)
    }

    /// The URL currently written into `config.toml`.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    pub fn cluster(&self) -> &EphemeralCluster {
        &self.cluster
    }

    /// `bin_dir/<program>` when it exists there, else the bare name (PATH).
    pub fn pg_program(&self, program: &str) -> PathBuf {
        let candidate = self.cluster.bin_dir().join(program);
        if candidate.is_file() {
            candidate
        } else {
            PathBuf::from(program)
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.root().join("config.toml")
    }

    /// The file-storage root configured in `[source].files`.
    pub fn files_dir(&self) -> PathBuf {
        self.root().join("files")
    }

    pub fn secrets_dir(&self) -> PathBuf {
        self.root().join("secrets")
    }

    pub fn cert_path(&self) -> PathBuf {
        self.secrets_dir().join("cert.p12")
    }

    pub fn env_file_path(&self) -> PathBuf {
        self.secrets_dir().join(".env")
    }

    /// LIFEBOAT_DATA_DIR.
    pub fn data_dir(&self) -> PathBuf {
        self.root().join("data")
    }

    /// LIFEBOAT_STATE_DIR.
    pub fn state_dir(&self) -> PathBuf {
        self.root().join("state")
    }

    pub fn journal_path(&self) -> PathBuf {
        self.data_dir().join("journal.jsonl")
    }

    pub fn log_path(&self) -> PathBuf {
        self.state_dir().join("logs").join("lifeboat.log")
    }

    /// The local data repository's directory (only used with [`RepoKind::Local`]).
    pub fn repo_dir(&self) -> PathBuf {
        self.root().join("repo")
    }

    pub fn secrets_repo_dir(&self) -> PathBuf {
        self.root().join("secrets-repo")
    }

    pub fn s3(&self) -> Option<&S3Server> {
        self.s3.as_ref()
    }

    pub fn s3_mut(&mut self) -> Option<&mut S3Server> {
        self.s3.as_mut()
    }

    pub fn gpg_home(&self) -> Option<&GpgHome> {
        self.gpg.as_ref()
    }

    pub fn passphrase(&self) -> Option<&str> {
        self.passphrase.as_ref().map(|(p, _, _)| p.as_str())
    }

    pub fn passphrase_file(&self) -> Option<&Path> {
        self.passphrase.as_ref().map(|(_, _, f)| f.as_path())
    }
}
