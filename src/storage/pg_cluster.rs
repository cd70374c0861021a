//! Throwaway PostgreSQL clusters for the demo, restore drills and tests.
//!
//! Owns the whole life of one cluster: find the machine's server binaries, `initdb` into a
//! temporary directory, start the server, and stop it and delete the directory again when the
//! [`EphemeralCluster`] is dropped (also while a panic unwinds). Nothing here talks to a
//! pre-existing server. When running as root the server runs as the `postgres` OS user,
//! because PostgreSQL refuses to run as root.
//!
//! A drill's cluster holds restored production data, so it admits only lifeboat's own user:
//! no TCP at all (`listen_addresses=''`, and `pg_hba.conf` rejects host connections), and the
//! unix socket lives in the cluster's directory, mode 0700 and owned by the server's OS user
//! (lifeboat's own user, or `postgres` when lifeboat is root, which passes any mode). Trust
//! authentication on that socket is then safe, and needs no password anywhere. Tests whose
//! cluster stands in for a production server ask for loopback TCP ([`ClusterOptions`]).
//!
//! The postmaster is lifeboat's own child, in its own session (a terminal's Ctrl-C is for
//! lifeboat, which tears the cluster down itself), and gets SIGQUIT (immediate shutdown) from
//! the kernel if lifeboat dies. The directory is tagged (`orphans`), so the next lifeboat run
//! removes what a killed one left.
//!
//! SQL goes through the PostgreSQL adapter (`storage::pg`) like every other psql lifeboat
//! runs; the server binaries are found by its `bin_dir` search.

use std::ffi::{CString, OsStr};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::child;
use super::orphans;
use super::pg::conninfo::percent_encode;
use super::pg::{bin_dir, PgConn, PgError, PgTools};

use thiserror::Error;

/// With loopback TCP, a fresh port can be taken by someone else between our probe and the
/// server's bind.
const START_ATTEMPTS: u32 = 3;
/// An initdb'd empty cluster starts in well under a second; a contended machine is slower.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a shutdown may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Between looks at `postmaster.pid` or the server's exit.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// The port number of a socket-only cluster: only the socket's file name
/// (`.s.PGSQL.5432`), in a directory of its own, so it never collides.
const SOCKET_PORT: u16 = 5432;
/// Cluster directories are `<tmp>/lifeboat-pg-XXXXXX`.
pub(crate) const DIR_PREFIX: &str = "lifeboat-pg-";
/// The OS user the server runs as when we are root.
const SERVER_OS_USER: &str = "postgres";
/// How much of the server log an error message quotes.
const LOG_TAIL_LINES: usize = 20;

/// How to start an [`EphemeralCluster`].
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Directory holding `initdb`, `pg_ctl` and `postgres`; found automatically when `None`.
    pub bin_dir: Option<PathBuf>,
    /// Server settings passed as `-c key=value` (e.g. `archive_mode`, `archive_command`).
    pub extra_settings: Vec<(String, String)>,
    /// Also listen on a free 127.0.0.1 port, with trust authentication there too: any local
    /// user can then connect as the superuser. Only for tests whose cluster stands in for a
    /// production server reached over TCP; never for the drill's or the demo's cluster.
    pub loopback_tcp: bool,
}

/// What went wrong starting, using or stopping an [`EphemeralCluster`].
#[derive(Debug, Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; searched {searched}. \
         Install the `postgresql` package (Debian/Ubuntu: `apt-get install postgresql`) \
         or point ClusterOptions::bin_dir at the directory holding initdb"
    )]
    ServerBinariesNotFound { searched: String },

    #[error(
        "{path} has no `initdb`; point ClusterOptions::bin_dir at PostgreSQL's bin directory \
         (e.g. /usr/lib/postgresql/15/bin) or leave it unset to search automatically"
    )]
    BinDirWithoutInitdb { path: PathBuf },

    #[error(
        "running as root, but there is no `{user}` OS user to run the server as \
         (PostgreSQL refuses to run as root); install the `postgresql` package, \
         which creates it, or run as a non-root user"
    )]
    NoServerUser { user: String },

    #[error("could not prepare the cluster directory {path}: {source}; check that the temporary directory is writable")]
    Directory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("could not find a free loopback port: {source}")]
    NoFreePort {
        #[source]
        source: std::io::Error,
    },

    #[error("could not run `{program}`: {source}; check that it is installed and executable")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },

    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed {
        command: String,
        status: String,
        stderr: String,
    },

    #[error(
        "the PostgreSQL server in {data_dir} did not start after {attempts} attempts: {reason}\n\
         last lines of {log}:\n{log_tail}"
    )]
    StartFailed {
        data_dir: PathBuf,
        attempts: u32,
        reason: String,
        log: PathBuf,
        log_tail: String,
    },

    #[error("the PostgreSQL server in {data_dir} did not stop: {reason}")]
    StopFailed { data_dir: PathBuf, reason: String },

    #[error("psql on database `{db}` failed running `{sql}`: {stderr}")]
    Psql {
        db: String,
        sql: String,
        stderr: String,
    },
}

/// A running throwaway cluster; stopped and deleted on drop.
#[derive(Debug)]
pub struct EphemeralCluster {
    // Dropped after `Drop::drop` has stopped the server, which deletes the directory.
    dir: Option<tempfile::TempDir>,
    bin_dir: PathBuf,
    data_dir: PathBuf,
    log_path: PathBuf,
    port: u16,
    tcp: bool,
    run_as: Option<ServerUser>,
    postmaster: Option<Child>,
}

/// The OS user the server runs as when we are root.
#[derive(Debug, Clone, Copy)]
struct ServerUser {
    uid: u32,
    gid: u32,
}

impl EphemeralCluster {
    /// Creates a cluster in a new temporary directory and starts it (socket only, unless
    /// [`ClusterOptions::loopback_tcp`]).
    pub fn start(opts: ClusterOptions) -> Result<EphemeralCluster, ClusterError> {
        let bin_dir = match opts.bin_dir {
            Some(dir) if dir.join("initdb").is_file() => dir,
            Some(dir) => return Err(ClusterError::BinDirWithoutInitdb { path: dir }),
            None => find_server_bin_dir()?,
        };
        let run_as = if running_as_root() {
            Some(lookup_user(SERVER_OS_USER)?)
        } else {
            None
        };

        let dir = make_cluster_dir(run_as)?;
        let root = dir.path().to_path_buf();
        let mut cluster = EphemeralCluster {
            data_dir: root.join("data"),
            log_path: root.join("log"),
            dir: Some(dir),
            bin_dir,
            port: SOCKET_PORT,
            tcp: opts.loopback_tcp,
            run_as,
            postmaster: None,
        };

        cluster.initdb()?;
        cluster.start_server(&opts.extra_settings)?;
        Ok(cluster)
    }

    /// The server's port: on 127.0.0.1 with [`ClusterOptions::loopback_tcp`], else only the
    /// number in the socket's name.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's unix socket (0700, the server user's).
    pub fn socket_dir(&self) -> &Path {
        self.data_dir.parent().unwrap_or(&self.data_dir)
    }

    /// A libpq URL for `db` as the `postgres` superuser (trust authentication): over loopback
    /// TCP when the cluster listens there, else through the private socket.
    pub fn url(&self, db: &str) -> String {
        // Any database name (quotes, spaces, `%`, non-ASCII) percent-encoded, as libpq reads it.
        let db = percent_encode(db, &[]);
        if self.tcp {
            return format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port);
        }
        format!(
            "postgresql://postgres@/{db}?host={}&port={}",
            percent_encode(&self.socket_dir().display().to_string(), b"/"),
            self.port
        )
    }

    /// The directory holding `initdb`, `pg_ctl`, `postgres` (and usually `psql`, `pg_dump`).
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The cluster's data directory (`PGDATA`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server log written by `pg_ctl -l`.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Runs one SQL string through `psql` (the adapter's child runner) and returns its
    /// unaligned, tuples-only output, trimmed.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, ClusterError> {
        let psql_error = |stderr: String| ClusterError::Psql {
            db: db.to_string(),
            sql: sql.to_string(),
            stderr,
        };
        let conn = PgConn::parse(&self.url(db)).map_err(|e| psql_error(e.to_string()))?;
        let out = self
            .client_tools()
            .command("psql")
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .conn(&conn)
            .output()
            .map_err(|e| match e {
                PgError::Spawn { program, reason } => ClusterError::Spawn {
                    program,
                    source: std::io::Error::other(reason),
                },
                other => psql_error(other.to_string()),
            })?;
        if !out.status.success() {
            return Err(psql_error(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Creates an empty database owned by `postgres`.
    pub fn create_database(&self, name: &str) -> Result<(), ClusterError> {
        self.psql(
            "postgres",
            &format!("CREATE DATABASE {}", super::pg::quote_identifier(name)),
        )
        .map(|_| ())
    }

    /// Stops the server (fast shutdown) and deletes its directory, reporting failures that
    /// `Drop` would have to swallow.
    pub fn stop(mut self) -> Result<(), ClusterError> {
        if let Some(postmaster) = self.postmaster.take() {
            // Fast shutdown (SIGINT): a clean stop, as `pg_ctl stop -m fast` would.
            shut_down(postmaster, libc::SIGINT).map_err(|reason| ClusterError::StopFailed {
                data_dir: self.data_dir.clone(),
                reason,
            })?;
        }
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            dir.close()
                .map_err(|source| ClusterError::Directory { path, source })?;
        }
        Ok(())
    }

    fn initdb(&self) -> Result<(), ClusterError> {
        let mut cmd = self.server_command("initdb");
        // Trust only where the socket's directory already keeps other users out; TCP is off
        // unless asked for, and host connections are then refused by pg_hba.conf too.
        let host_auth = if self.tcp {
            "--auth-host=trust"
        } else {
            "--auth-host=reject"
        };
        cmd.arg("-D").arg(&self.data_dir).args([
            "-U",
            "postgres",
            "--auth-local=trust",
            host_auth,
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        // This thread waits for initdb (see `storage::child`).
        child::tie_to_lifeboat(&mut cmd, libc::SIGKILL);
        check(&mut cmd)
    }

    fn start_server(&mut self, extra_settings: &[(String, String)]) -> Result<(), ClusterError> {
        let attempts = if self.tcp { START_ATTEMPTS } else { 1 };
        let mut last_reason = String::new();
        for _ in 0..attempts {
            if self.tcp {
                self.port = free_loopback_port()?;
            }
            match self.spawn_postmaster(extra_settings) {
                Ok(postmaster) => {
                    self.postmaster = Some(postmaster);
                    return Ok(());
                }
                Err(reason) => last_reason = reason,
            }
        }
        Err(ClusterError::StartFailed {
            data_dir: self.data_dir.clone(),
            attempts,
            reason: last_reason,
            log: self.log_path.clone(),
            log_tail: log_tail(&self.log_path),
        })
    }

    /// Starts the postmaster as lifeboat's child and waits until it accepts connections.
    fn spawn_postmaster(&self, extra_settings: &[(String, String)]) -> Result<Child, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.log_path)
            .map_err(|e| format!("{}: {e}", self.log_path.display()))?;
        let log_too = log
            .try_clone()
            .map_err(|e| format!("{}: {e}", self.log_path.display()))?;
        let mut cmd = self.server_command("postgres");
        cmd.arg("-D").arg(&self.data_dir);
        for (key, value) in self.server_settings(extra_settings) {
            cmd.arg("-c").arg(format!("{key}={value}"));
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_too));
        // SAFETY: setsid is async-signal-safe; a fresh child is never a group leader.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        child::tie_to_lifeboat(&mut cmd, libc::SIGQUIT);
        let mut postmaster =
            child::spawn(cmd).map_err(|e| format!("cannot run the postgres server: {e}"))?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match postmaster.try_wait() {
                Ok(Some(status)) => return Err(format!("the server exited ({status})")),
                Ok(None) => {}
                Err(e) => return Err(format!("cannot watch the server: {e}")),
            }
            if ready(&self.data_dir, postmaster.id()) {
                return Ok(postmaster);
            }
            if Instant::now() > deadline {
                let _ = shut_down(postmaster, libc::SIGKILL);
                return Err(format!(
                    "not accepting connections after {}",
                    super::units::age(START_TIMEOUT)
                ));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The server's `-c` settings: where it listens, then the caller's.
    fn server_settings(&self, extra_settings: &[(String, String)]) -> Vec<(String, String)> {
        let listen = if self.tcp { "127.0.0.1" } else { "" };
        let mut settings = vec![
            ("listen_addresses".to_string(), listen.to_string()),
            ("port".to_string(), self.port.to_string()),
            (
                "unix_socket_directories".to_string(),
                self.socket_dir().display().to_string(),
            ),
            ("fsync".to_string(), "off".to_string()),
        ];
        settings.extend(extra_settings.iter().cloned());
        settings
    }

    /// A server binary, run as the `postgres` user when we are root.
    fn server_command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        if let Some(user) = self.run_as {
            // std drops root's supplementary groups too when it switches the uid.
            cmd.uid(user.uid).gid(user.gid);
        }
        // The caller's working directory (e.g. /root) may be closed to the server user.
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir.path());
        }
        // The server outlives this call: a descriptor it inherited (a pipe another thread made
        // without close-on-exec, e.g. gpgme's) would stay open as long as the cluster runs.
        super::pg::inherit_only_stdio(&mut cmd);
        cmd
    }

    /// The client programs of the server's bin directory, else from PATH.
    fn client_tools(&self) -> PgTools {
        PgTools::in_dir(
            self.bin_dir
                .join("psql")
                .is_file()
                .then(|| self.bin_dir.clone()),
        )
    }

    /// The postmaster's PID while it runs.
    pub fn postmaster_pid(&self) -> Option<i32> {
        self.postmaster
            .as_ref()
            .and_then(|p| i32::try_from(p.id()).ok())
    }
}

impl Drop for EphemeralCluster {
    fn drop(&mut self) {
        // Immediate shutdown (SIGQUIT): the data is thrown away anyway, so skip the shutdown
        // checkpoint. It waits until the postmaster is gone, so the caller can trust that
        // nothing is left behind.
        if let Some(postmaster) = self.postmaster.take() {
            let _ = shut_down(postmaster, libc::SIGQUIT);
        }
    }
}

/// Signals the postmaster and waits for it to exit, killing it if it takes too long.
fn shut_down(mut postmaster: Child, signal: libc::c_int) -> Result<(), String> {
    if let Ok(pid) = i32::try_from(postmaster.id()) {
        // SAFETY: kill(2) on our own child, not yet waited for, so its pid is still ours.
        unsafe {
            libc::kill(pid, signal);
        }
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        match postmaster.try_wait() {
            Ok(Some(_)) => return Ok(()),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL_INTERVAL),
            Ok(None) => {
                let _ = postmaster.kill();
                let _ = postmaster.wait();
                return Err(format!(
                    "still running {} after signal {signal}; killed",
                    super::units::age(STOP_TIMEOUT)
                ));
            }
            Err(e) => return Err(format!("cannot wait for the server: {e}")),
        }
    }
}

/// Whether the postmaster `pid` says in `postmaster.pid` that it accepts connections.
fn ready(data_dir: &Path, pid: u32) -> bool {
    let Ok(text) = std::fs::read_to_string(data_dir.join("postmaster.pid")) else {
        return false;
    };
    let lines: Vec<&str> = text.lines().collect();
    // Line 1 is the pid, line 8 the status (PostgreSQL 10 and later).
    lines.first().map(|l| l.trim()) == Some(pid.to_string().as_str())
        && lines.get(7).map(|l| l.trim()) == Some("ready")
}

/// The uid the server runs as when lifeboat is root (whose clusters' directories it owns).
pub(crate) fn server_uid_under_root() -> Option<u32> {
    running_as_root()
        .then(|| lookup_user(SERVER_OS_USER).ok().map(|u| u.uid))
        .flatten()
}

/// The uid and gid the server must run as: `postgres`'s when lifeboat is root (PostgreSQL
/// refuses root), `None` (lifeboat's own) otherwise. Also for `storage::local_cluster`.
pub(crate) fn server_ids() -> Result<Option<(u32, u32)>, ClusterError> {
    if !running_as_root() {
        return Ok(None);
    }
    lookup_user(SERVER_OS_USER).map(|u| Some((u.uid, u.gid)))
}

/// The newest `/usr/lib/postgresql/<major>/bin` with `initdb`, else `pg_config --bindir`,
/// else the directory on PATH holding `initdb` (the search itself is `pg::bin_dir`'s).
fn find_server_bin_dir() -> Result<PathBuf, ClusterError> {
    bin_dir::newest_debian("initdb")
        .or_else(|| bin_dir::pg_config("initdb"))
        .or_else(|| bin_dir::on_path("initdb"))
        .ok_or_else(|| ClusterError::ServerBinariesNotFound {
            searched: format!(
                "{}/<major>/bin, `pg_config --bindir`, PATH",
                bin_dir::DEBIAN_PG_ROOT
            ),
        })
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn lookup_user(name: &str) -> Result<ServerUser, ClusterError> {
    let missing = || ClusterError::NoServerUser {
        user: name.to_string(),
    };
    let c_name = CString::new(name).map_err(|_| missing())?;
    // getpwnam_r, not getpwnam: tests start clusters from several threads at once.
    // SAFETY: passwd is plain old data; all-zero is a valid value that getpwnam_r overwrites.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to a live local of the advertised size.
    let rc = unsafe {
        libc::getpwnam_r(
            c_name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return Err(missing());
    }
    Ok(ServerUser {
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
    })
}

/// A temporary directory only the server user can enter (it holds the socket), tagged as
/// this process's. Under root it lives in /tmp, since root's own TMPDIR may sit inside a home
/// the `postgres` user cannot enter.
fn make_cluster_dir(run_as: Option<ServerUser>) -> Result<tempfile::TempDir, ClusterError> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(DIR_PREFIX);
    let dir = match run_as {
        Some(_) => builder.tempdir_in("/tmp"),
        None => builder.tempdir(),
    };
    let dir = dir.map_err(|source| ClusterError::Directory {
        path: std::env::temp_dir(),
        source,
    })?;
    let path = dir.path().to_path_buf();
    let io_err = |source| ClusterError::Directory {
        path: path.clone(),
        source,
    };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).map_err(io_err)?;
    orphans::tag(&path).map_err(io_err)?;
    if let Some(user) = run_as {
        std::os::unix::fs::chown(&path, Some(user.uid), Some(user.gid)).map_err(io_err)?;
    }
    Ok(dir)
}

/// Binds 127.0.0.1:0 and returns the port the kernel picked; the listener is closed at once.
fn free_loopback_port() -> Result<u16, ClusterError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| ClusterError::NoFreePort { source })
}

fn run(cmd: &mut Command) -> Result<Output, ClusterError> {
    cmd.output().map_err(|source| ClusterError::Spawn {
        program: cmd.get_program().to_string_lossy().into_owned(),
        source,
    })
}

/// Runs `cmd` and turns a non-zero exit into an error carrying its stderr.
fn check(cmd: &mut Command) -> Result<(), ClusterError> {
    let out = run(cmd)?;
    if out.status.success() {
        return Ok(());
    }
    let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if stderr.is_empty() {
        stderr = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    Err(ClusterError::CommandFailed {
        command: describe(cmd),
        status: out.status.to_string(),
        stderr,
    })
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// True while `pid` exists and is not a zombie (a reaped-late zombie holds no resources).
pub(crate) fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name, which may contain spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// PIDs of processes whose command line mentions `needle`.
    fn processes_mentioning(needle: &str) -> Vec<i32> {
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) && process_alive(pid) {
                pids.push(pid);
            }
        }
        pids
    }

    #[test]
    fn cluster_runs_sql_and_leaves_nothing_behind() {
        let cluster = EphemeralCluster::start(ClusterOptions::default()).expect("start cluster");
        let data_dir = cluster.data_dir().to_path_buf();
        let pid = cluster.postmaster_pid().expect("postmaster.pid");
        assert!(process_alive(pid));

        cluster.create_database("app").expect("create database");
        cluster
            .psql(
                "app",
                "CREATE TABLE t (id int primary key, name text); \
                 INSERT INTO t VALUES (1, 'one'), (2, 'two');",
            )
            .expect("create table");
        let rows = cluster
            .psql("app", "SELECT id, name FROM t ORDER BY id")
            .expect("query");
        assert_eq!(rows, "1|one\n2|two");
        let socket_dir = cluster.socket_dir().display().to_string();
        assert_eq!(
            cluster.url("app"),
            format!("postgresql://postgres@/app?host={socket_dir}&port=5432")
        );

        drop(cluster);
        assert!(!data_dir.exists(), "{} still exists", data_dir.display());
        assert!(!process_alive(pid), "postmaster {pid} still running");
        let left = processes_mentioning(&data_dir.display().to_string());
        assert!(
            left.is_empty(),
            "processes still using the cluster: {left:?}"
        );
    }

    #[test]
    fn explicit_stop_reports_and_cleans_up() {
        let cluster = EphemeralCluster::start(ClusterOptions {
            extra_settings: vec![("lifeboat.test".into(), "it's quoted".into())],
            ..ClusterOptions::default()
        })
        .expect("start cluster");
        let root = cluster.data_dir().parent().expect("parent").to_path_buf();
        let pid = cluster.postmaster_pid().expect("postmaster.pid");
        // A value with a quote and a space survives pg_ctl's trip through /bin/sh.
        let value = cluster
            .psql("postgres", "SELECT current_setting('lifeboat.test')")
            .expect("query");
        assert_eq!(value, "it's quoted");
        cluster.stop().expect("stop");
        assert!(!root.exists());
        assert!(!process_alive(pid));
    }

    #[test]
    fn a_panicking_test_still_stops_its_server() {
        let (tx, rx) = std::sync::mpsc::channel();
        let outcome = std::panic::catch_unwind(move || {
            let cluster = EphemeralCluster::start(ClusterOptions::default()).expect("start");
            let pid = cluster.postmaster_pid().expect("postmaster.pid");
            tx.send((pid, cluster.data_dir().to_path_buf()))
                .expect("send");
            panic!("deliberate panic with a running cluster");
        });
        assert!(outcome.is_err());
        let (pid, data_dir) = rx.recv().expect("cluster details");
        assert!(!process_alive(pid), "postmaster {pid} survived the panic");
        assert!(!data_dir.exists());
    }

    /// Who may connect: the socket's directory is 0700 and the server user's, nothing listens
    /// on TCP, and `pg_hba.conf` would refuse TCP anyway; with `loopback_tcp` (tests' stand-in
    /// production servers) the port answers.
    #[test]
    fn only_the_private_socket_admits_anyone_unless_tcp_is_asked_for() {
        let cluster = EphemeralCluster::start(ClusterOptions::default()).expect("start cluster");
        let meta = std::fs::metadata(cluster.socket_dir()).expect("socket dir");
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);
        let server_uid = if running_as_root() {
            lookup_user(SERVER_OS_USER).expect("postgres user").uid
        } else {
            // SAFETY: geteuid has no preconditions.
            unsafe { libc::geteuid() }
        };
        assert_eq!(meta.uid(), server_uid);
        let data = std::fs::metadata(cluster.data_dir()).expect("data dir");
        assert_eq!(data.permissions().mode() & 0o777, 0o700);
        assert!(cluster.socket_dir().join(".s.PGSQL.5432").exists());
        assert_eq!(
            cluster
                .psql("postgres", "SHOW listen_addresses")
                .expect("query"),
            ""
        );
        let hba = std::fs::read_to_string(cluster.data_dir().join("pg_hba.conf")).expect("hba");
        assert!(
            hba.lines()
                .filter(|l| l.starts_with("host"))
                .all(|l| l.trim_end().ends_with("reject")),
            "{hba}"
        );
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", cluster.port())).is_err()
                || cluster.port() == SOCKET_PORT,
            "a socket-only cluster has no TCP port of its own"
        );

        let tcp = EphemeralCluster::start(ClusterOptions {
            loopback_tcp: true,
            ..ClusterOptions::default()
        })
        .expect("start a TCP cluster");
        assert!(tcp
            .url("app")
            .starts_with("postgresql://postgres@127.0.0.1:"));
        std::net::TcpStream::connect(("127.0.0.1", tcp.port())).expect("TCP answers");
        assert_eq!(tcp.psql("postgres", "SELECT 1").expect("query"), "1");
    }

    /// A cluster whose tag names a dead process is swept: its running server stopped, its
    /// directory removed; a live one is left alone.
    #[test]
    fn an_abandoned_cluster_is_stopped_and_removed_and_a_live_one_kept() {
        let live = EphemeralCluster::start(ClusterOptions::default()).expect("start live");
        let abandoned = EphemeralCluster::start(ClusterOptions::default()).expect("start");
        let root = abandoned.socket_dir().to_path_buf();
        let pid = abandoned.postmaster_pid().expect("pid");
        let tag = root.join(orphans::OWNER_FILE);
        std::fs::remove_file(&tag).expect("untag");
        std::fs::write(&tag, orphans::owner_record(0x3fff_fff0)).expect("retag");

        let removed = orphans::sweep_clusters();
        let ours: Vec<&orphans::Removed> = removed.iter().filter(|r| r.path == root).collect();
        assert_eq!(ours.len(), 1, "{removed:?}");
        assert_eq!(ours[0].owner_pid, 0x3fff_fff0);
        assert!(
            ours[0].detail.contains(&format!("pid {pid}")),
            "{}",
            ours[0]
        );
        assert!(!root.exists());
        assert!(!removed.iter().any(|r| r.path == live.socket_dir()));
        assert!(live.socket_dir().exists());
        drop(abandoned);
        assert!(!process_alive(pid));
    }

    #[test]
    fn sql_errors_carry_stderr() {
        let cluster = EphemeralCluster::start(ClusterOptions::default()).expect("start cluster");
        let err = cluster
            .psql("postgres", "SELECT * FROM no_such_table")
            .expect_err("must fail");
        assert!(err.to_string().contains("no_such_table"), "{err}");
    }

    #[test]
    fn bin_dir_without_initdb_is_rejected() {
        let err = EphemeralCluster::start(ClusterOptions {
            bin_dir: Some(PathBuf::from("/nonexistent")),
            ..ClusterOptions::default()
        })
        .expect_err("must fail");
        assert!(matches!(err, ClusterError::BinDirWithoutInitdb { .. }));
    }
}
