//! Real components for integration tests: an S3-compatible server (`s3s-fs`, or `moto` where
//! a test needs what s3s-fs lacks) on loopback, a throwaway `GNUPGHOME` with a generated key,
//! passphrase files and free ports.
//!
//! Each helper owns its process or directory and tears it down on drop, so a failing test
//! leaves nothing running. PostgreSQL clusters come from the library itself
//! (`lifeboat::storage::pg_cluster`), because the demo and restore drills use them too.
//! Helpers panic with a message saying how to fix the machine, since they only run in tests.
#![allow(dead_code)]

pub mod app;
pub mod fleet;
pub mod forge;
pub mod procs;

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// How long a freshly spawned `s3s-fs` may take to accept connections.
const S3_STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// The same for `moto_server`: a Python program importing a large package, on a busy CPU.
const MOTO_STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
/// Between connection attempts while waiting for `s3s-fs`.
const S3_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Timeout for each raw HTTP exchange with `s3s-fs`.
const S3_IO_TIMEOUT: Duration = Duration::from_secs(10);

pub const S3_ACCESS_KEY: &str = "lifeboat-test";
pub const S3_SECRET_KEY: &str = "lifeboat-test-secret-key";
pub const S3_REGION: &str = "us-east-1";
pub const S3_BUCKET: &str = "lifeboat-test";

/// A port nobody listens on right now (bind 127.0.0.1:0, read it, close the listener).
/// Output bytes as text (lossy), for messages and `contains` checks.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A command's exit code, stdout and stderr, for assertion messages.
pub fn describe(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind 127.0.0.1:0 to find a free port")
}

/// Which S3 implementation an [`S3Server`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Kind {
    /// `s3s-fs`: objects are files in a temporary directory.
    S3sFs,
    /// `moto_server` (PyPI `moto[server]`, in the venv `scripts/install-deps --tests` makes):
    /// in memory, and it implements ListMultipartUploads, which s3s-fs does not.
    Moto,
}

/// An `s3s-fs` (or `moto`) process serving a temporary directory, with one bucket already
/// created.
pub struct S3Server {
    kind: S3Kind,
    child: Option<Child>,
    port: u16,
    // `<base>/data` is what s3s-fs serves (its top-level directories are buckets);
    // `<base>/s3s-fs.log` collects its output so it stays out of the bucket listing.
    base: TempDir,
    bucket: String,
}

impl S3Server {
    /// Starts on a free port with bucket [`S3_BUCKET`].
    pub fn start() -> S3Server {
        S3Server::start_on_port(free_port())
    }

    /// Starts on `port` with an empty data directory and bucket [`S3_BUCKET`].
    pub fn start_on_port(port: u16) -> S3Server {
        S3Server::start_kind(S3Kind::S3sFs, port)
    }

    /// `moto_server` on a free port with bucket [`S3_BUCKET`] (its data lives in memory:
    /// [`S3Server::data_dir`] and [`S3Server::root_dir`] hold nothing).
    pub fn start_moto() -> S3Server {
        S3Server::start_kind(S3Kind::Moto, free_port())
    }

    pub fn kind(&self) -> S3Kind {
        self.kind
    }

    fn name(&self) -> &'static str {
        match self.kind {
            S3Kind::S3sFs => "s3s-fs",
            S3Kind::Moto => "moto_server",
        }
    }

    fn start_kind(kind: S3Kind, port: u16) -> S3Server {
        let base = tempfile::Builder::new()
            .prefix("lifeboat-s3-")
            .tempdir()
            .expect("create a temporary directory for s3s-fs");
        std::fs::create_dir(base.path().join("data")).expect("create the s3s-fs data directory");
        let mut server = S3Server {
            kind,
            child: None,
            port,
            base,
            bucket: S3_BUCKET.to_string(),
        };
        server.spawn();
        let (status, body) = server.signed_request("PUT", &format!("/{}", server.bucket));
        assert_eq!(
            status,
            200,
            "creating bucket {} on {} failed: {body}",
            server.bucket,
            server.name()
        );
        server
    }

    /// `http://127.0.0.1:<port>`, for path-style S3 clients.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server process, while it runs (e.g. to read how much it wrote in /proc/<pid>/io).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The directory s3s-fs serves: the buckets, and beside them its multipart parts and
    /// metadata files.
    pub fn data_dir(&self) -> PathBuf {
        self.base.path().join("data")
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The bucket's directory on disk: object `k` is the file `root_dir().join(k)`, so tests
    /// can corrupt or delete objects behind the server's back.
    pub fn root_dir(&self) -> PathBuf {
        self.data_dir().join(&self.bucket)
    }

    /// Credentials and region for the S3 client under test.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".to_string(), S3_ACCESS_KEY.to_string()),
            (
                "AWS_SECRET_ACCESS_KEY".to_string(),
                S3_SECRET_KEY.to_string(),
            ),
            ("AWS_REGION".to_string(), S3_REGION.to_string()),
            // The manifest index of this server's repositories stays with it: a later test on
            // the same port and bucket must not start from this one's index.
            (
                "LIFEBOAT_CACHE_DIR".to_string(),
                self.base.path().join("cache").display().to_string(),
            ),
        ]
    }

    /// Kills the server but keeps its data, so [`S3Server::restart`] can bring the same
    /// endpoint back (endpoint-down tests).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port over the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Freezes the server (SIGSTOP): connections are still accepted by the kernel, but nothing
    /// answers. It runs again when the guard is dropped, a failing assertion included.
    pub fn pause(&self) -> PausedS3 {
        let pid = self.pid().expect("s3s-fs is running") as libc::pid_t;
        // SAFETY: signalling the s3s-fs child this test started.
        assert_eq!(
            unsafe { libc::kill(pid, libc::SIGSTOP) },
            0,
            "SIGSTOP s3s-fs"
        );
        PausedS3 { pid }
    }

    /// Sends one SigV4-signed request with an empty body; returns the status and the raw body.
    /// `path_and_query` is already URL-safe, e.g. `/bucket?list-type=2`.
    pub fn signed_request(&self, method: &str, path_and_query: &str) -> (u16, String) {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let host = format!("127.0.0.1:{}", self.port);
        let auth = sigv4_headers(method, &host, path, query, chrono::Utc::now());
        let mut request = format!("{method} {path_and_query} HTTP/1.1\r\nHost: {host}\r\n");
        for (name, value) in &auth {
            let _ = write!(request, "{name}: {value}\r\n");
        }
        request.push_str("Content-Length: 0\r\nConnection: close\r\n\r\n");

        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("connect to s3s-fs at {host}: {e}"));
        stream
            .set_read_timeout(Some(S3_IO_TIMEOUT))
            .expect("set read timeout");
        stream
            .write_all(request.as_bytes())
            .expect("send request to s3s-fs");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read response from s3s-fs");
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("malformed response from s3s-fs: {response:?}"));
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// The keys in the bucket, via a signed ListObjectsV2 (proves the bucket exists to S3).
    pub fn list_keys(&self) -> Vec<String> {
        let (status, body) = self.signed_request("GET", &format!("/{}?list-type=2", self.bucket));
        assert_eq!(status, 200, "listing bucket {} failed: {body}", self.bucket);
        body.split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split_once("</Key>").map(|(key, _)| key.to_string()))
            .collect()
    }

    /// The open multipart uploads in the bucket as (key, upload id), via a signed
    /// ListMultipartUploads (moto; s3s-fs answers NotImplemented, and this panics).
    pub fn open_uploads(&self) -> Vec<(String, String)> {
        let (status, body) = self.signed_request("GET", &format!("/{}?uploads", self.bucket));
        assert_eq!(status, 200, "listing open uploads failed: {body}");
        let tag = |chunk: &str, name: &str| {
            chunk
                .split_once(&format!("<{name}>"))
                .and_then(|(_, rest)| rest.split_once(&format!("</{name}>")))
                .map(|(value, _)| value.to_string())
                .unwrap_or_else(|| panic!("no <{name}> in an <Upload>: {body}"))
        };
        body.split("<Upload>")
            .skip(1)
            .map(|chunk| (tag(chunk, "Key"), tag(chunk, "UploadId")))
            .collect()
    }

    /// Starts a multipart upload of `key` (URL-safe) and leaves it open, as a killed writer
    /// would; returns its upload id.
    pub fn initiate_upload(&self, key: &str) -> String {
        let (status, body) =
            self.signed_request("POST", &format!("/{}/{key}?uploads", self.bucket));
        assert_eq!(status, 200, "CreateMultipartUpload of {key} failed: {body}");
        body.split_once("<UploadId>")
            .and_then(|(_, rest)| rest.split_once("</UploadId>"))
            .map(|(id, _)| id.to_string())
            .unwrap_or_else(|| panic!("no UploadId in {body}"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.base.path().join("s3s-fs.log")
    }

    fn spawn(&mut self) {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the s3s-fs log");
        let mut command = match self.kind {
            S3Kind::S3sFs => {
                let mut command = Command::new(s3s_fs_binary());
                command
                    .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
                    .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
                    .arg(self.data_dir());
                command
            }
            S3Kind::Moto => {
                let mut command = Command::new(moto_server_binary());
                command.args(["-H", "127.0.0.1", "-p", &self.port.to_string()]);
                command
            }
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the s3s-fs log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.name()));
        self.child = Some(child);
        self.wait_until_listening();
    }

    fn wait_until_listening(&mut self) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let startup = match self.kind {
            S3Kind::S3sFs => S3_STARTUP_TIMEOUT,
            S3Kind::Moto => MOTO_STARTUP_TIMEOUT,
        };
        let deadline = Instant::now() + startup;
        loop {
            if TcpStream::connect_timeout(&addr, S3_POLL_INTERVAL).is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    panic!(
                        "{} exited ({status}) before listening on {addr}:\n{}",
                        self.name(),
                        self.log()
                    );
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen on {addr} within {startup:?}:\n{}",
                self.name(),
                self.log()
            );
            std::thread::sleep(S3_POLL_INTERVAL);
        }
    }
}

/// A paused [`S3Server`]; dropping it sends SIGCONT.
pub struct PausedS3 {
    pid: libc::pid_t,
}

impl Drop for PausedS3 {
    fn drop(&mut self) {
        // SAFETY: resuming the s3s-fs child that `pause` stopped.
        unsafe { libc::kill(self.pid, libc::SIGCONT) };
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `moto_server` from the test venv `scripts/install-deps --tests` makes, else PATH.
fn moto_server_binary() -> PathBuf {
    let venv = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/lifeboat-test-venv/bin/moto_server"));
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("moto_server"))
            .find(|candidate| candidate.is_file())
    });
    venv.filter(|candidate| candidate.is_file())
        .or(on_path)
        .unwrap_or_else(|| {
            panic!(
                "moto_server not found in ~/.cache/lifeboat-test-venv or PATH; run \
                 `scripts/install-deps --tests` (it pip-installs moto[server] into that venv)"
            )
        })
}

/// `s3s-fs` from ~/.cargo/bin, else PATH.
fn s3s_fs_binary() -> PathBuf {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .map(|cargo| cargo.join("bin").join("s3s-fs"));
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("s3s-fs"))
            .find(|candidate| candidate.is_file())
    });
    cargo_bin
        .filter(|candidate| candidate.is_file())
        .or(on_path)
        .unwrap_or_else(|| {
            panic!(
                "s3s-fs not found in ~/.cargo/bin or PATH; run the test setup script \
                 (it runs `cargo install s3s-fs@0.14.1 --features binary`)"
            )
        })
}

/// `x-amz-*` and `Authorization` headers for an empty-body request, signed with AWS SigV4
/// (header form, service `s3`). Path and query must need no further URL encoding.
fn sigv4_headers(
    method: &str,
    host: &str,
    path: &str,
    query: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<(String, String)> {
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let day = now.format("%Y%m%d").to_string();
    let payload_hash = hex::encode(Sha256::digest(b""));
    let mut query_pairs: Vec<String> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some(_) => pair.to_string(),
            None => format!("{pair}="),
        })
        .collect();
    query_pairs.sort();
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    let canonical_request = format!(
        "{method}\n{path}\n{}\nhost:{host}\nx-amz-content-sha256:{payload_hash}\n\
         x-amz-date:{amz_date}\n\n{signed_headers}\n{payload_hash}",
        query_pairs.join("&")
    );
    let scope = format!("{day}/{S3_REGION}/s3/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac_sha256(format!("AWS4{S3_SECRET_KEY}").as_bytes(), day.as_bytes());
    for part in [S3_REGION, "s3", "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    let signature = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    vec![
        ("x-amz-content-sha256".to_string(), payload_hash),
        ("x-amz-date".to_string(), amz_date),
        (
            "Authorization".to_string(),
            format!(
                "AWS4-HMAC-SHA256 Credential={S3_ACCESS_KEY}/{scope}, \
                 SignedHeaders={signed_headers}, Signature={signature}"
            ),
        ),
    ]
}

/// HMAC-SHA256 (RFC 2104) over `sha2`, which is already a dependency; saves pulling in a
/// second `digest` generation through the `hmac` crate for one test helper.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK_BYTES: usize = 64;
    let mut block = [0u8; BLOCK_BYTES];
    if key.len() > BLOCK_BYTES {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|k| k ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// A throwaway `GNUPGHOME`, optionally with one passphrase-less key; its agent is killed and
/// the directory removed on drop.
pub struct GpgHome {
    dir: TempDir,
    fingerprint: String,
}

impl GpgHome {
    pub const USER_ID: &'static str = "Lifeboat Test <test@lifeboat.invalid>";
    pub const EMAIL: &'static str = "test@lifeboat.invalid";

    /// A home with a generated key that can sign and encrypt (ed25519 + cv25519 subkey).
    pub fn new() -> GpgHome {
        let mut home = GpgHome::empty();
        home.gpg_ok(&[
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            Self::USER_ID,
            "future-default",
            "default",
            "never",
        ]);
        home.fingerprint = home
            .colons(&["--list-keys", Self::EMAIL])
            .lines()
            .skip_while(|line| !line.starts_with("pub:"))
            .find_map(|line| line.strip_prefix("fpr:"))
            .and_then(|rest| rest.split(':').find(|field| !field.is_empty()))
            .map(str::to_string)
            .expect("fingerprint of the generated key");
        if !home.has_encryption_subkey() {
            // Older gpg builds made "default" a sign-only primary; add the subkey by hand.
            let fpr = home.fingerprint.clone();
            home.gpg_ok(&[
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--quick-add-key",
                &fpr,
                "cv25519",
                "encr",
                "never",
            ]);
            assert!(
                home.has_encryption_subkey(),
                "gpg generated no encryption subkey"
            );
        }
        home
    }

    /// A home with no keys at all (decryption there must fail).
    pub fn empty() -> GpgHome {
        // Short path under /tmp: the agent's socket path must fit in sun_path (108 bytes).
        let dir = tempfile::Builder::new()
            .prefix("lg")
            .tempdir_in("/tmp")
            .expect("create a temporary GNUPGHOME");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod 0700 the temporary GNUPGHOME");
        GpgHome {
            dir,
            fingerprint: String::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The primary key's fingerprint; empty for [`GpgHome::empty`].
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn email(&self) -> &str {
        Self::EMAIL
    }

    /// `gpg --homedir <this> --batch`, ready for more arguments.
    pub fn gpg(&self) -> Command {
        let mut cmd = Command::new("gpg");
        cmd.arg("--homedir")
            .arg(self.path())
            .args(["--batch", "--no-tty"])
            .stdin(Stdio::null());
        cmd
    }

    fn gpg_ok(&self, args: &[&str]) -> String {
        let out = self
            .gpg()
            .args(args)
            .output()
            .expect("run gpg (install the `gnupg` package)");
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn colons(&self, args: &[&str]) -> String {
        let mut all = vec!["--with-colons", "--fingerprint"];
        all.extend_from_slice(args);
        self.gpg_ok(&all)
    }

    fn has_encryption_subkey(&self) -> bool {
        self.colons(&["--list-keys", Self::EMAIL])
            .lines()
            .filter(|line| line.starts_with("sub:"))
            // Field 12 holds the key's capabilities; lowercase `e` means "can encrypt".
            .any(|line| {
                line.split(':')
                    .nth(11)
                    .is_some_and(|caps| caps.contains('e'))
            })
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        // The agent outlives gpg; left running it would hold the directory's sockets.
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.path())
            .args(["--kill", "all"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A passphrase written to a file only its owner can read (symmetric encryption input).
pub struct PassphraseFile;

impl PassphraseFile {
    /// Returns the directory guard (keep it alive) and the file's path.
    #[allow(clippy::new_ret_no_self)] // a tuple keeps the guard and the path in plain sight
    pub fn new(passphrase: &str) -> (TempDir, PathBuf) {
        let dir = tempfile::Builder::new()
            .prefix("lifeboat-pass-")
            .tempdir()
            .expect("create a temporary directory for the passphrase file");
        let path = dir.path().join("passphrase");
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .expect("create the passphrase file");
        file.write_all(passphrase.as_bytes())
            .expect("write the passphrase file");
        (dir, path)
    }
}

/// The README's by-hand decryption, `gpg --batch --pinentry-mode loopback --passphrase-file
/// FILE --decrypt OBJECT`, in a fresh, empty GNUPGHOME (a rebuilt host): its output.
pub fn decrypt_by_hand(passphrase_file: &Path, object: &Path) -> std::process::Output {
    let fresh = GpgHome::empty();
    fresh
        .gpg()
        .args(["--pinentry-mode", "loopback", "--passphrase-file"])
        .arg(passphrase_file)
        .arg("--decrypt")
        .arg(object)
        .output()
        .expect("run gpg --decrypt (install the `gnupg` package)")
}

/// Validates a `status --json` document against docs/status.schema.json.
pub fn assert_status_schema(doc: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/status.schema.json"))
            .expect("docs/status.schema.json parses");
    let validator = jsonschema::validator_for(&schema).expect("the schema is a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}
