//! One `gpg` process over two descriptors: the bulk data path of encryption and decryption.
//!
//! gpgme relays every byte between its caller and gpg itself, and gpgme 1.18 formats each
//! relayed buffer as a debug trace line before finding that tracing is off: about 1 s of CPU
//! per GiB in and out, on the thread that should be waiting (measured with `perf` during a
//! drill). Here gpg reads and writes the caller's pipes directly, as `gpg --decrypt | zstd -d`
//! does by hand. gpgme keeps everything else (finding gpg, resolving keys).
//!
//! The passphrase goes through a pipe gpg reads with `--passphrase-fd` (never argv or env);
//! gpg's status lines (`--status-fd`) tell a missing key from a wrong passphrase.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// What to ask gpg for.
pub(crate) enum Operation<'a> {
    Symmetric,
    Recipients(&'a [String]),
    Decrypt,
}

/// How one gpg run ended, when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// gpg's own messages (stderr), joined on one line; or why gpg could not run.
    pub message: String,
    /// `NO_SECKEY`: no secret key for any recipient the object was encrypted to.
    pub no_secret_key: bool,
    /// `BAD_PASSPHRASE` or `DECRYPTION_FAILED`: with a passphrase, most likely the wrong one.
    pub decryption_failed: bool,
}

impl Failure {
    fn plain(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            no_secret_key: false,
            decryption_failed: false,
        }
    }
}

/// A pipe to or from gpg. A 1 MiB buffer instead of 64 KiB lets each side run longer before it
/// waits for the other. Where the kernel refuses (a user over `pipe-user-pages-soft`), the
/// default buffer still works.
pub fn data_pipe() -> std::io::Result<(std::io::PipeReader, std::io::PipeWriter)> {
    let (r, w) = std::io::pipe()?;
    // SAFETY: fcntl on a descriptor this function owns; F_SETPIPE_SZ only resizes its buffer.
    unsafe {
        libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
    Ok((r, w))
}

static PROGRAM: OnceLock<PathBuf> = OnceLock::new();

/// Learns where gpg is as gpgme would run it (its engine information, from gpgconf), else
/// `gpg` on PATH. Called once, from `gpgme_ready`, while gpgme is being initialised.
pub(crate) fn resolve_program(gpgme: &gpgme::Gpgme) {
    PROGRAM.get_or_init(|| {
        gpgme
            .engine_info()
            .ok()
            .and_then(|engines| {
                engines
                    .iter()
                    .find(|e| e.protocol() == gpgme::Protocol::OpenPgp)
                    .and_then(|e| e.path().ok().map(PathBuf::from))
            })
            .unwrap_or_else(|| PathBuf::from("gpg"))
    });
}

fn gpg_program() -> &'static Path {
    super::gpg::gpgme_ready();
    PROGRAM.get().map_or(Path::new("gpg"), PathBuf::as_path)
}

/// Runs gpg with `input` as its stdin and `output` as its stdout until it exits.
/// `home`: a private GNUPGHOME (else gpg uses the environment's); `passphrase`: loopback.
pub(crate) fn run(
    operation: Operation<'_>,
    home: Option<&Path>,
    passphrase: Option<&str>,
    input: BorrowedFd<'_>,
    output: BorrowedFd<'_>,
) -> Result<(), Failure> {
    let io = |what: &str, e: std::io::Error| Failure::plain(format!("{what}: {e}"));
    let mut cmd = Command::new(gpg_program());
    cmd.args([
        "--batch",
        "--no-tty",
        "--quiet",
        "--exit-on-status-write-error",
    ])
    .args(["--status-fd", "2"]);
    if let Some(home) = home {
        cmd.arg("--homedir").arg(home);
    }
    // The passphrase is written whole before gpg starts: a pipe holds 64 KiB, a line is less.
    let passphrase_pipe = match passphrase {
        Some(p) => {
            let (r, mut w) = std::io::pipe().map_err(|e| io("cannot make a pipe", e))?;
            w.write_all(p.as_bytes())
                .and_then(|_| w.write_all(b"\n"))
                .map_err(|e| io("cannot hand gpg the passphrase", e))?;
            drop(w);
            cmd.args(["--pinentry-mode", "loopback", "--passphrase-fd"])
                .arg(r.as_raw_fd().to_string());
            Some(OwnedFd::from(r))
        }
        None => None,
    };
    match operation {
        // Compression is off: the stream is compressed already. The private home's gpg.conf
        // pins the cipher (AES256) and the key derivation.
        Operation::Symmetric => {
            cmd.args(["--compress-algo", "none", "--symmetric"]);
        }
        Operation::Recipients(fingerprints) => {
            cmd.args(["--compress-algo", "none", "--trust-model", "always"]);
            for f in fingerprints {
                cmd.arg("--recipient").arg(f);
            }
            cmd.arg("--encrypt");
        }
        Operation::Decrypt => {
            cmd.arg("--decrypt");
        }
    }
    let dup = |fd: BorrowedFd<'_>| fd.try_clone_to_owned().map_err(|e| io("cannot dup", e));
    cmd.stdin(Stdio::from(dup(input)?))
        .stdout(Stdio::from(dup(output)?))
        .stderr(Stdio::piped());
    super::postgres::inherit_only_stdio(&mut cmd);
    if let Some(fd) = &passphrase_pipe {
        let keep = fd.as_raw_fd();
        // SAFETY: fcntl is async-signal-safe and changes only the child's descriptor flags.
        // This runs after inherit_only_stdio's closure marked everything above 2 close-on-exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(keep, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    // This thread waits for gpg below, so gpg may be tied to it (see `storage::child`).
    super::child::tie_to_lifeboat(&mut cmd, libc::SIGKILL);
    let spawned = cmd.spawn();
    // The parent's copies of gpg's stdin, stdout and passphrase end close here, so the other
    // end of each pipe sees EOF when gpg exits, not when this function returns.
    drop(cmd);
    drop(passphrase_pipe);
    let mut child =
        spawned.map_err(|e| io(&format!("cannot run {}", gpg_program().display()), e))?;
    let mut said = Vec::new();
    if let Some(stderr) = child.stderr.as_mut() {
        // gpg's messages are short; a runaway stream is cut, but still drained.
        let _ = stderr.by_ref().take(64 * 1024).read_to_end(&mut said);
        let _ = std::io::copy(stderr, &mut std::io::sink());
    }
    let status = child.wait().map_err(|e| io("cannot wait for gpg", e))?;
    let text = String::from_utf8_lossy(&said);
    let statuses: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("[GNUPG:] "))
        .collect();
    let has = |keyword: &str| {
        statuses
            .iter()
            .any(|s| s.split_whitespace().next() == Some(keyword))
    };
    let decrypting = matches!(operation, Operation::Decrypt);
    if status.success() && (!decrypting || has("DECRYPTION_OKAY")) {
        return Ok(());
    }
    let messages: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("[GNUPG:] ") && !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = if status.success() {
        // gpg --decrypt also passes through data that was never encrypted.
        "gpg found no encrypted data in it (not an encrypted object)".to_string()
    } else if messages.is_empty() {
        format!("gpg ended without a message ({status})")
    } else {
        messages.join("; ")
    };
    Err(Failure {
        message,
        no_secret_key: decrypting && has("NO_SECKEY") && !has("DECRYPTION_OKAY"),
        decryption_failed: has("BAD_PASSPHRASE") || has("DECRYPTION_FAILED"),
    })
}
