//! The one child runner for `psql`, `pg_dump` and `pg_restore`. Every PostgreSQL child lifeboat
//! starts is a [`PgCommand`], so each of them gets the same treatment:
//!
//! - it inherits no descriptor beyond stdin, stdout and stderr, and the kernel kills it if
//!   lifeboat dies (`storage::child`);
//! - `PGCONNECT_TIMEOUT` is set (unless the operator's environment sets it), so an unreachable
//!   server is an error after seconds, not a hang;
//! - its stderr is read by the runner, bounded ([`STDERR_LIMIT`]), and becomes the error's text;
//! - a watcher thread polls it and, when the job's token fires or its timeout passes, kills it
//!   with SIGKILL, together with its process group: `pg_restore -j N` forks workers, and a
//!   worker left alone would keep streaming COPY data into the server;
//! - a stop is reported as [`PgError::Cancelled`] or [`PgError::TimedOut`], never as a failure
//!   of the program.
//!
//! Runs are blocking: call from a blocking thread, which must stay until the child is waited
//! for (`storage::child` explains why); a child that outlives its call (a psql session) is
//! started with [`PgCommand::spawn_detached`].

use super::conn::PgConn;
use super::PgError;
use std::ffi::OsStr;
use std::io::Read;
use std::ops::{Deref, DerefMut};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// libpq's `connect_timeout` for every child, unless `PGCONNECT_TIMEOUT` is set already.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a child's stderr is kept (the end of it: libpq and pg_restore say what went
/// wrong last).
pub const STDERR_LIMIT: usize = 64 * 1024;
/// How often the watcher looks at the child and the token: well inside the 2 s a cancelled
/// pg_restore has to stop in.
const WATCH_INTERVAL: Duration = Duration::from_millis(20);

/// A PostgreSQL client program about to run. Derefs to [`Command`] for what it does not wrap
/// (`PgConn::apply`, `current_dir`, ...); the chaining methods return `&mut PgCommand`, so
/// `output` and `spawn` are always the runner's.
pub struct PgCommand {
    cmd: Command,
    /// `pg_restore`, for messages.
    name: String,
    program: PathBuf,
    /// The database it works on, for messages (display form: no password).
    target: Option<String>,
    cancel: Option<CancellationToken>,
    timeout: Option<Duration>,
}

impl Deref for PgCommand {
    type Target = Command;
    fn deref(&self) -> &Command {
        &self.cmd
    }
}

impl DerefMut for PgCommand {
    fn deref_mut(&mut self) -> &mut Command {
        &mut self.cmd
    }
}

impl PgCommand {
    pub(super) fn new(program: PathBuf, name: &str, cancel: Option<CancellationToken>) -> Self {
        let mut cmd = Command::new(&program);
        cmd.stdin(Stdio::null());
        inherit_only_stdio(&mut cmd);
        // Its own process group, so a kill reaches pg_restore's workers too. A terminal's
        // Ctrl-C then reaches lifeboat alone, which cancels the job and kills the group.
        cmd.process_group(0);
        if std::env::var_os("PGCONNECT_TIMEOUT").is_none() {
            cmd.env("PGCONNECT_TIMEOUT", CONNECT_TIMEOUT.as_secs().to_string());
        }
        PgCommand {
            cmd,
            name: name.to_string(),
            program,
            target: None,
            cancel,
            timeout: None,
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.cmd.stdin(cfg);
        self
    }

    /// Accepted for symmetry with [`Command`]; the runner pipes stdout itself.
    pub fn stdout(&mut self, _cfg: impl Into<Stdio>) -> &mut Self {
        self
    }

    /// Accepted for symmetry with [`Command`]; the runner always reads stderr itself.
    pub fn stderr(&mut self, _cfg: impl Into<Stdio>) -> &mut Self {
        self
    }

    /// Points the program at `conn` (`--dbname`, `PGPASSWORD`) and names it in errors.
    pub fn conn(&mut self, conn: &PgConn) -> &mut Self {
        conn.apply(&mut self.cmd);
        self.target = Some(conn.display());
        self
    }

    /// Overrides [`CONNECT_TIMEOUT`] (and an inherited `PGCONNECT_TIMEOUT`).
    pub fn connect_timeout(&mut self, timeout: Duration) -> &mut Self {
        let secs = timeout.as_secs().max(1);
        self.cmd.env("PGCONNECT_TIMEOUT", secs.to_string());
        self
    }

    /// Kills the program if it runs longer than `limit` ([`PgError::TimedOut`]).
    pub fn timeout(&mut self, limit: Duration) -> &mut Self {
        self.timeout = Some(limit);
        self
    }

    /// Starts the program; this thread must wait for it (see the module's docs).
    pub fn spawn(&mut self) -> Result<PgChild, PgError> {
        self.start(false)
    }

    /// Starts a program that outlives the calling thread (a psql session): forked by the
    /// long-lived spawner thread of `storage::child`, so it dies with lifeboat and not before.
    pub fn spawn_detached(&mut self) -> Result<PgChild, PgError> {
        self.start(true)
    }

    /// Runs the program to its end and returns what it printed, like [`Command::output`]:
    /// a non-zero exit is in `status` (stderr bounded), a cancel or timeout is an error.
    pub fn output(&mut self) -> Result<Output, PgError> {
        let mut child = self.spawn()?;
        // Nothing will be written: a program reading stdin sees its end, as with std's output().
        child.stdin.take();
        let mut stdout = Vec::new();
        if let Some(mut pipe) = child.stdout.take() {
            // A read error ends the output early; the exit status says why.
            let _ = pipe.read_to_end(&mut stdout);
        }
        let status = child.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr: child.stderr_text().into_bytes(),
        })
    }

    /// Runs the program to its end; a non-zero exit is [`PgError::Failed`] with its stderr.
    pub fn run(&mut self) -> Result<Vec<u8>, PgError> {
        let out = self.output()?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        Err(failed(
            &self.name,
            self.target.as_deref(),
            out.status,
            &String::from_utf8_lossy(&out.stderr),
        ))
    }

    fn start(&mut self, detached: bool) -> Result<PgChild, PgError> {
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        if !detached {
            super::super::child::tie_to_lifeboat(&mut self.cmd, libc::SIGKILL);
        }
        let spawned = if detached {
            let mut cmd = std::mem::replace(&mut self.cmd, Command::new(&self.program));
            super::super::child::tie_to_lifeboat(&mut cmd, libc::SIGKILL);
            super::super::child::spawn(cmd)
        } else {
            self.cmd.spawn()
        };
        let mut child = spawned.map_err(|e| PgError::Spawn {
            program: self.program.display().to_string(),
            reason: e.to_string(),
        })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child
            .stderr
            .take()
            .map(|pipe| std::thread::spawn(move || read_bounded(pipe, STDERR_LIMIT)));
        let pid = child.id();
        let child = Arc::new(Mutex::new(child));
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let watcher = {
            let (child, cancel) = (child.clone(), self.cancel.clone());
            std::thread::spawn(move || watch(&child, cancel.as_ref(), deadline))
        };
        Ok(PgChild {
            stdin,
            stdout,
            name: self.name.clone(),
            target: self.target.clone(),
            timeout: self.timeout,
            pid,
            child,
            watcher: Some(watcher),
            stderr,
            stderr_text: None,
            ended: None,
        })
    }
}

/// Why the watcher stopped a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Cancelled,
    TimedOut,
}

/// What the watcher saw: the exit status, and whether it caused the exit.
type Watched = Result<(ExitStatus, Option<Stop>), String>;

/// Polls the child until it exits; kills its process group once when `cancel` fires or the
/// deadline passes. The child is only signalled while the lock is held and `try_wait` has just
/// said it runs, so its pid (and group id) cannot belong to anyone else yet.
fn watch(
    child: &Mutex<Child>,
    cancel: Option<&CancellationToken>,
    deadline: Option<Instant>,
) -> Watched {
    let mut stop = None;
    loop {
        {
            let mut c = child.lock().unwrap_or_else(PoisonError::into_inner);
            match c.try_wait() {
                Ok(Some(status)) => return Ok((status, stop)),
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
            if stop.is_none() {
                if cancel.is_some_and(CancellationToken::is_cancelled) {
                    stop = Some(Stop::Cancelled);
                } else if deadline.is_some_and(|d| Instant::now() >= d) {
                    stop = Some(Stop::TimedOut);
                }
                if stop.is_some() {
                    kill_group(&mut c);
                }
            }
        }
        std::thread::sleep(WATCH_INTERVAL);
    }
}

/// SIGKILL to the child's process group (it leads one: `process_group(0)`), and to the child
/// itself in case it could not start one.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) on the group our own unreaped child leads.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
}

/// The tail of `pipe`'s text, at most `limit` bytes, read to the end so the child never
/// blocks on a full pipe.
fn read_bounded(mut pipe: impl Read, limit: usize) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    let mut dropped = false;
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > limit {
                    let cut = kept.len() - limit;
                    kept.drain(..cut);
                    dropped = true;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&kept).into_owned();
    if dropped {
        format!("… {}", text.trim_start_matches('\u{fffd}'))
    } else {
        text
    }
}

/// The wording of a program that ran and failed: its stderr on one line, or how it ended when
/// it said nothing (a program killed by a signal prints nothing).
fn failed(name: &str, target: Option<&str>, status: ExitStatus, stderr: &str) -> PgError {
    let said = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    let stderr = if !said.is_empty() {
        said
    } else if let Some(signal) = status.signal() {
        format!("killed by signal {signal}, without a message")
    } else {
        format!("ended without a message ({status})")
    };
    PgError::Failed {
        program: name.to_string(),
        target: target.unwrap_or("(PG* environment)").to_string(),
        stderr,
    }
}

/// A running PostgreSQL program. `stdin` and `stdout` are the caller's to take; stderr is the
/// runner's ([`PgChild::stderr_text`]). Dropped before it was waited for, it is killed.
pub struct PgChild {
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
    name: String,
    target: Option<String>,
    timeout: Option<Duration>,
    pid: u32,
    child: Arc<Mutex<Child>>,
    watcher: Option<JoinHandle<Watched>>,
    stderr: Option<JoinHandle<String>>,
    stderr_text: Option<String>,
    ended: Option<Result<ExitStatus, PgError>>,
}

impl PgChild {
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Kills the program and its process group now (it is then waited for as usual).
    pub fn kill(&self) {
        let mut c = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        if let Ok(None) = c.try_wait() {
            kill_group(&mut c);
        }
    }

    /// Waits for the program's end. Its exit status, or why the runner stopped it.
    pub fn wait(&mut self) -> Result<ExitStatus, PgError> {
        if let Some(ended) = &self.ended {
            return ended.clone();
        }
        // Whoever waits has finished writing: an open stdin would keep a reader waiting.
        self.stdin.take();
        let watched = match self.watcher.take() {
            Some(w) => w
                .join()
                .unwrap_or_else(|_| Err("the watcher thread panicked".into())),
            None => Err("already waited for".into()),
        };
        let ended = match watched {
            Ok((status, None)) => Ok(status),
            Ok((_, Some(Stop::Cancelled))) => Err(PgError::Cancelled {
                program: self.name.clone(),
            }),
            Ok((_, Some(Stop::TimedOut))) => Err(PgError::TimedOut {
                program: self.name.clone(),
                after: self.timeout.unwrap_or_default(),
            }),
            Err(reason) => Err(PgError::Spawn {
                program: self.name.clone(),
                reason,
            }),
        };
        self.ended = Some(ended.clone());
        ended
    }

    /// Waits, and turns a non-zero exit into [`PgError::Failed`] with the program's stderr.
    pub fn finish(&mut self) -> Result<(), PgError> {
        let status = self.wait()?;
        if status.success() {
            return Ok(());
        }
        let stderr = self.stderr_text();
        Err(failed(&self.name, self.target.as_deref(), status, &stderr))
    }

    /// What the program wrote to stderr (the last [`STDERR_LIMIT`] bytes); complete once it
    /// has ended.
    pub fn stderr_text(&mut self) -> String {
        if let Some(handle) = self.stderr.take() {
            self.stderr_text = Some(handle.join().unwrap_or_default());
        }
        self.stderr_text.clone().unwrap_or_default()
    }
}

impl Drop for PgChild {
    fn drop(&mut self) {
        if self.watcher.is_some() {
            self.kill();
            let _ = self.wait();
        }
    }
}

/// Keeps a child from inheriting any descriptor beyond stdin, stdout and stderr. Jobs run
/// several pipelines at once, and gpgme creates its pipes without close-on-exec: a pg_dump that
/// inherited the write end of another pipeline's gpg input would keep that gpg waiting for EOF.
pub fn inherit_only_stdio(cmd: &mut Command) {
    // SAFETY: close_range is async-signal-safe and touches only the child's descriptor table.
    unsafe {
        cmd.pre_exec(|| {
            const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
            let rc = libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                CLOSE_RANGE_CLOEXEC,
            );
            if rc != 0 {
                // Kernels before 5.11: mark what we can, one by one.
                for fd in 3..1024 {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, cancel: Option<CancellationToken>) -> PgCommand {
        let mut cmd = PgCommand::new(PathBuf::from("sh"), "sh", cancel);
        cmd.arg("-c").arg(script);
        cmd
    }

    fn gone(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
            })
            .unwrap_or(true)
    }

    #[test]
    fn output_keeps_stdout_and_the_tail_of_stderr() {
        let out = sh("echo out; echo err >&2; exit 3", None)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
        let err = sh("echo 'FATAL:  no such   database' >&2; exit 2", None)
            .run()
            .expect_err("fails");
        assert_eq!(
            err.to_string(),
            "sh failed on (PG* environment): FATAL: no such database"
        );
        // A chatty program never blocks on a full pipe, and only the end is kept.
        let out = sh(
            "head -c 300000 /dev/zero | tr '\\0' x >&2; echo end >&2",
            None,
        )
        .output()
        .expect("runs");
        assert!(out.stderr.len() <= STDERR_LIMIT + 8, "{}", out.stderr.len());
        assert!(String::from_utf8_lossy(&out.stderr).ends_with("xend\n"));
    }

    /// A cancelled run stops at once, its whole process group with it (a grandchild that
    /// ignores SIGTERM and holds stdout too), and says it was cancelled.
    #[test]
    fn cancellation_kills_the_process_group_within_moments() {
        let token = CancellationToken::new();
        let mut child = sh("sleep 60 & echo $!; wait", Some(token.clone()))
            .spawn()
            .expect("spawn");
        let mut line = String::new();
        let mut stdout = child.stdout.take().expect("stdout");
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).expect("read") == 1 && byte[0] != b'\n' {
            line.push(byte[0] as char);
        }
        let grandchild: u32 = line.trim().parse().expect("pid");
        let started = Instant::now();
        token.cancel();
        let err = child.wait().expect_err("cancelled");
        assert!(err.is_cancelled(), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let deadline = Instant::now() + Duration::from_secs(2);
        while !gone(grandchild) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            gone(grandchild),
            "the worker {grandchild} outlived the cancel"
        );
        assert_eq!(err.to_string(), "sh was stopped before it finished");
    }

    #[test]
    fn a_timeout_stops_the_run_and_a_token_cancelled_before_start_stops_it_at_once() {
        let err = sh("sleep 30", None)
            .timeout(Duration::from_millis(200))
            .output()
            .expect_err("timed out");
        assert!(matches!(err, PgError::TimedOut { .. }), "{err}");
        let token = CancellationToken::new();
        token.cancel();
        let started = Instant::now();
        let err = sh("sleep 30", Some(token)).output().expect_err("cancelled");
        assert!(err.is_cancelled());
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn connect_timeout_is_always_set_and_a_missing_program_is_named() {
        let out = sh("echo $PGCONNECT_TIMEOUT", None).output().expect("runs");
        let expected = std::env::var("PGCONNECT_TIMEOUT")
            .unwrap_or_else(|_| CONNECT_TIMEOUT.as_secs().to_string());
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);
        let out = sh("echo $PGCONNECT_TIMEOUT", None)
            .connect_timeout(Duration::from_secs(5))
            .output()
            .expect("runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5");
        let err = PgCommand::new(PathBuf::from("/nonexistent/psql"), "psql", None)
            .output()
            .expect_err("no such program");
        assert!(err.to_string().contains("/nonexistent/psql"), "{err}");
        assert!(err.to_string().contains("postgresql-client"), "{err}");
    }
}
