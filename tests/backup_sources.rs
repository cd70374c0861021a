//! What a backup does with sources that are not plain trees (issue 12, point 5), against real
//! PostgreSQL, gpg and the built binary:
//!
//! - a Let's Encrypt layout (`live/…/privkey.pem -> ../../archive/…/privkey1.pem`) configured as
//!   secrets, and a files root that is itself a symlink (`files -> mnt/data/files`), come back
//!   from `lifeboat restore` on a "new host" (link targets and links deleted): the key is a
//!   regular file with its content and mode at the configured path, the files root a directory
//!   with the tree, links inside it still links; the manifest records what each link was;
//! - a /proc path among the roots, a FIFO and a socket in the tree, and a file that grows after
//!   the backup listed it and before it read it, each give a warning (stderr, the JSON
//!   `warnings`, the log), and the backup still completes. The growth is made deterministic
//!   with a write lease: lifeboat's `open` blocks on it until the test has appended and let go.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::app::{random_bytes, random_token, AppOptions, TestApp};
use common::describe;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How long lifeboat may take to reach the leased file (a debug build on a busy machine).
const LEASE_WAIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(10);

fn toml_list(paths: &[&Path]) -> String {
    let items: Vec<String> = paths
        .iter()
        .map(|p| serde_json::to_string(&p.display().to_string()).expect("a path as JSON"))
        .collect();
    format!("[{}]", items.join(", "))
}

/// Replaces the `files = […]` or `secrets = […]` line of the app's configuration.
fn with_roots(app: &TestApp, key: &str, roots: &[&Path]) -> String {
    let text = app.config_text();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no `{key} =` line in {text}"))
        .to_string();
    text.replace(&line, &format!("{key} = {}", toml_list(roots)))
}

fn write_mode(path: &Path, bytes: &[u8], mode: u32) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Every entry under `root`: relative path, and its content or link target ("dir" for dirs).
fn tree(root: &Path) -> Vec<(PathBuf, String)> {
    let mut all = Vec::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry.expect("walk the tree");
        let rel = entry
            .path()
            .strip_prefix(root)
            .expect("below root")
            .to_path_buf();
        let what = if entry.file_type().is_symlink() {
            format!(
                "link {}",
                std::fs::read_link(entry.path())
                    .expect("readlink")
                    .display()
            )
        } else if entry.file_type().is_dir() {
            "dir".to_string()
        } else {
            let bytes = std::fs::read(entry.path()).expect("read a file");
            format!("file {}", hex::encode(Sha256::digest(&bytes)))
        };
        all.push((rel, what));
    }
    all
}

#[test]
fn symlinked_secrets_and_files_root_come_back_from_lifeboat_restore_on_a_new_host() {
    let app = TestApp::new(AppOptions::default());
    let le = app.root().join("letsencrypt");
    let archive = le.join("archive/example.com");
    let live = le.join("live/example.com");
    std::fs::create_dir_all(&archive).expect("mkdir archive");
    std::fs::create_dir_all(&live).expect("mkdir live");
    let key = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        random_token(600)
    );
    let chain = random_bytes(3000);
    write_mode(&archive.join("privkey1.pem"), key.as_bytes(), 0o600);
    write_mode(&archive.join("fullchain1.pem"), &chain, 0o644);
    let privkey = live.join("privkey.pem");
    let fullchain = live.join("fullchain.pem");
    std::os::unix::fs::symlink("../../archive/example.com/privkey1.pem", &privkey)
        .expect("symlink privkey");
    std::os::unix::fs::symlink("../../archive/example.com/fullchain1.pem", &fullchain)
        .expect("symlink fullchain");

    // The files root becomes a symlink to where the tree really is.
    let files = app.files_dir();
    let real = app.root().join("mnt/data/files");
    std::fs::create_dir_all(real.parent().expect("parent")).expect("mkdir mnt/data");
    std::fs::rename(&files, &real).expect("move the files tree");
    std::os::unix::fs::symlink(&real, &files).expect("symlink the files root");
    let expected_tree = tree(&real);
    assert!(
        expected_tree
            .iter()
            .any(|(p, w)| p == Path::new("uploads/latest") && w.starts_with("link ")),
        "the tree has a link inside: {expected_tree:?}"
    );

    let env = app.env_file_path();
    let config = with_roots(&app, "secrets", &[&privkey, &fullchain, &env]);
    app.write_raw_config(&config);
    let id = app.backup();

    let manifest: Value = serde_json::from_slice(
        &std::fs::read(app.set_dir_local(&id).join("manifest.json")).expect("read manifest"),
    )
    .expect("manifest JSON");
    let links = manifest["source"]["followed_links"]
        .as_array()
        .unwrap_or_else(|| panic!("no followed_links: {manifest:#}"));
    let recorded = |path: &Path| {
        links
            .iter()
            .find(|l| l["path"] == path.display().to_string())
            .unwrap_or_else(|| panic!("{} not recorded: {links:?}", path.display()))
            .clone()
    };
    assert_eq!(
        recorded(&privkey)["link"],
        "../../archive/example.com/privkey1.pem"
    );
    assert_eq!(
        recorded(&privkey)["target"],
        archive.join("privkey1.pem").display().to_string()
    );
    assert_eq!(recorded(&files)["link"], real.display().to_string());
    assert_eq!(links.len(), 3, "{links:?}");

    // The plan says what becomes of each link.
    let out = app.lifeboat(&[
        "restore",
        &id,
        "--dry-run",
        "--target-url",
        &app.cluster().url("restored"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let plan = common::text(&out.stdout);
    for path in [&privkey, &fullchain, &files] {
        let said = format!("{} was a symlink to", path.display());
        assert!(
            plan.contains(&said),
            "the plan does not say `{said}`: {plan}"
        );
    }

    // A new host: neither the links nor what they pointed to exist.
    std::fs::remove_dir_all(&le).expect("remove letsencrypt");
    std::fs::remove_file(&files).expect("remove the files root link");
    std::fs::remove_dir_all(app.root().join("mnt")).expect("remove the real tree");

    let out = app.lifeboat(&[
        "restore",
        &id,
        "--target-url",
        &app.cluster().url("restored"),
        "--no-safety-backup",
        "--yes",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    for (path, content, mode) in [
        (&privkey, key.as_bytes(), 0o600),
        (&fullchain, &chain[..], 0o644),
    ] {
        let meta = std::fs::symlink_metadata(path)
            .unwrap_or_else(|e| panic!("{} was not restored: {e}", path.display()));
        assert!(meta.is_file(), "{} is not a regular file", path.display());
        assert_eq!(meta.mode() & 0o7777, mode, "mode of {}", path.display());
        assert!(
            std::fs::read(path).expect("read restored") == content,
            "{} holds other bytes",
            path.display()
        );
    }
    let meta = std::fs::symlink_metadata(&files).expect("the files root was restored");
    assert!(meta.is_dir(), "the files root comes back as a directory");
    assert_eq!(tree(&files), expected_tree, "the files tree");
}

/// Holds a write lease on a file: another process's `open` of it blocks until it is released.
struct Lease {
    file: std::fs::File,
    inode: u64,
}

impl Lease {
    fn take(path: &Path) -> Lease {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .expect("open the file to lease");
        let fd = file.as_raw_fd();
        // SAFETY: fcntl on a descriptor this test owns. F_SETOWN 0: no SIGIO to the test when
        // the lease is broken; the test watches /proc/locks instead.
        unsafe {
            assert_eq!(
                libc::fcntl(fd, libc::F_SETLEASE, libc::F_WRLCK),
                0,
                "{}",
                std::io::Error::last_os_error()
            );
            libc::fcntl(fd, libc::F_SETOWN, 0);
        }
        let inode = file.metadata().expect("fstat").ino();
        Lease { file, inode }
    }

    /// Whether another process is waiting to open the file (the kernel is breaking the lease).
    fn broken(&self) -> bool {
        let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
        let inode = format!(":{} ", self.inode);
        locks
            .lines()
            .any(|l| l.contains("LEASE") && l.contains("BREAKING") && l.contains(&inode))
    }

    /// Appends through the leased descriptor, then lets the waiting `open` through.
    fn append_and_release(mut self, bytes: &[u8]) {
        self.file
            .write_all(bytes)
            .expect("append to the leased file");
        // SAFETY: as in `take`.
        unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_SETLEASE, libc::F_UNLCK) };
    }
}

#[test]
fn proc_roots_fifos_sockets_and_a_file_growing_during_backup_are_warnings() {
    let app = TestApp::new(AppOptions {
        secrets: false,
        ..AppOptions::default()
    });
    let files = app.files_dir();
    let growing = files.join("growing.log");
    write_mode(&growing, b"first line\n", 0o644);
    let fifo = files.join("pipe");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    let _socket = std::os::unix::net::UnixListener::bind(files.join("sock")).expect("bind");
    let proc_path = Path::new("/proc/uptime");
    app.write_raw_config(&with_roots(&app, "files", &[&files, proc_path]));

    let lease = Lease::take(&growing);
    let mut child = app.spawn_lifeboat(&["backup", "--json"]);
    let deadline = Instant::now() + LEASE_WAIT;
    while !lease.broken() {
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().expect("output");
            panic!(
                "lifeboat ended ({status}) before it opened {}: {}",
                growing.display(),
                describe(&out)
            );
        }
        assert!(
            Instant::now() < deadline,
            "lifeboat did not open {} within {LEASE_WAIT:?}",
            growing.display()
        );
        std::thread::sleep(POLL);
    }
    // Listed (its size read) and now being opened: it grows in between.
    lease.append_and_release(b"second line, written after the listing\n");
    let out = child.wait_with_output().expect("wait for lifeboat backup");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("backup --json");
    let warnings: Vec<String> = report["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| w.as_str().expect("a warning").to_string())
        .collect();
    let stderr = common::text(&out.stderr);
    let log = std::fs::read_to_string(app.log_path()).expect("read the log");
    for (what, needles) in [
        ("the /proc root", ["/proc/uptime", "procfs"]),
        (
            "the growing file",
            ["growing.log", "file changed as we read it"],
        ),
        ("the FIFO", ["pipe", "FIFO"]),
        ("the socket", ["sock", "socket"]),
    ] {
        let says = |line: &str| needles.iter().all(|n| line.contains(n));
        assert!(
            warnings.iter().any(|w| says(w)),
            "no warning about {what}: {warnings:#?}"
        );
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("warning: ") && says(l)),
            "{what} is not warned about on stderr: {stderr}"
        );
        assert!(log.lines().any(says), "{what} is not in the log");
    }
    assert_eq!(warnings.len(), 4, "{warnings:#?}");
}
