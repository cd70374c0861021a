//! Throwaway PostgreSQL clusters for the demo, restore drills and tests.
//!
//! Owns the whole life of one cluster: find the machine's server binaries, `initdb` into a
//! temporary directory, start the server on a free loopback port, and stop it and delete the
//! directory again when the [`EphemeralCluster`] is dropped (also while a panic unwinds).
//! Nothing here talks to a pre-existing server. When running as root the server runs as the
//! `postgres` OS user, because PostgreSQL refuses to run as root.

use std::ffi::{CString, OsStr};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use thiserror::Error;

/// Where Debian and Ubuntu install one directory of server binaries per major version.
const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";
/// A fresh port can be taken by someone else between our probe and the server's bind.
const START_ATTEMPTS: u32 = 3;
/// Passed to `pg_ctl -t`; an initdb'd empty cluster starts in well under a second.
const START_TIMEOUT_SECS: u32 = 60;
/// The OS user the server runs as when we are root.
const SERVER_OS_USER: &str = "postgres";
/// `psql` waits this long for a connection before giving up (PGCONNECT_TIMEOUT).
const CONNECT_TIMEOUT_SECS: &str = "10";
/// How much of the server log an error message quotes.
const LOG_TAIL_LINES: usize = 20;

/// How to start an [`EphemeralCluster`].
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Directory holding `initdb`, `pg_ctl` and `postgres`; found automatically when `None`.
    pub bin_dir: Option<PathBuf>,
    /// Server settings passed as `-c key=value` (e.g. `archive_mode`, `archive_command`).
    pub extra_settings: Vec<(String, String)>,
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
    run_as: Option<ServerUser>,
    running: bool,
}

/// The OS user the server runs as when we are root.
#[derive(Debug, Clone, Copy)]
struct ServerUser {
    uid: u32,
    gid: u32,
}

impl EphemeralCluster {
    /// Creates a cluster in a new temporary directory and starts it on a free loopback port.
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
            port: 0,
            run_as,
            running: false,
        };

        cluster.initdb()?;
        cluster.start_server(&opts.extra_settings)?;
        Ok(cluster)
    }

    /// The loopback TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A libpq URL for `db` as the `postgres` superuser (trust authentication).
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
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

    /// Runs one SQL string through `psql` and returns its unaligned, tuples-only output, trimmed.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, ClusterError> {
        let url = self.url(db);
        let mut cmd = Command::new(self.client_program("psql"));
        cmd.args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &url,
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", CONNECT_TIMEOUT_SECS);
        let out = run(&mut cmd)?;
        if !out.status.success() {
            return Err(ClusterError::Psql {
                db: db.to_string(),
                sql: sql.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Creates an empty database owned by `postgres`.
    pub fn create_database(&self, name: &str) -> Result<(), ClusterError> {
        self.psql(
            "postgres",
            &format!(
                "CREATE DATABASE {}",
                super::postgres::quote_identifier(name)
            ),
        )
        .map(|_| ())
    }

    /// Stops the server (fast shutdown) and deletes its directory, reporting failures that
    /// `Drop` would have to swallow.
    pub fn stop(mut self) -> Result<(), ClusterError> {
        if self.running {
            self.pg_ctl_stop("fast")?;
            self.running = false;
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
        cmd.arg("-D").arg(&self.data_dir).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        check(&mut cmd)
    }

    fn start_server(&mut self, extra_settings: &[(String, String)]) -> Result<(), ClusterError> {
        let mut last_reason = String::new();
        for _ in 0..START_ATTEMPTS {
            self.port = free_loopback_port()?;
            let options = self.server_options(extra_settings);
            let mut cmd = self.server_command("pg_ctl");
            cmd.arg("-D")
                .arg(&self.data_dir)
                .arg("-o")
                .arg(options)
                .arg("-l")
                .arg(&self.log_path)
                .args(["-t", &START_TIMEOUT_SECS.to_string(), "-w", "start"]);
            match check(&mut cmd) {
                Ok(()) => {
                    self.running = true;
                    return Ok(());
                }
                Err(err) => {
                    last_reason = err.to_string();
                    // A server that came up late after pg_ctl gave up must not outlive us.
                    let _ = self.pg_ctl_stop("immediate");
                }
            }
        }
        Err(ClusterError::StartFailed {
            data_dir: self.data_dir.clone(),
            attempts: START_ATTEMPTS,
            reason: last_reason,
            log: self.log_path.clone(),
            log_tail: log_tail(&self.log_path),
        })
    }

    /// The `-o` string for `pg_ctl`, which hands it to `/bin/sh`, so every word is shell-quoted.
    fn server_options(&self, extra_settings: &[(String, String)]) -> String {
        let socket_dir = self
            .data_dir
            .parent()
            .unwrap_or(&self.data_dir)
            .display()
            .to_string();
        let mut settings = vec![
            ("listen_addresses".to_string(), "127.0.0.1".to_string()),
            ("port".to_string(), self.port.to_string()),
            ("unix_socket_directories".to_string(), socket_dir),
            ("fsync".to_string(), "off".to_string()),
        ];
        settings.extend(extra_settings.iter().cloned());
        let mut options = String::new();
        for (key, value) in &settings {
            let _ = write!(options, "-c {} ", shell_quote(&format!("{key}={value}")));
        }
        options.trim_end().to_string()
    }

    fn pg_ctl_stop(&self, mode: &str) -> Result<(), ClusterError> {
        let mut cmd = self.server_command("pg_ctl");
        cmd.arg("-D").arg(&self.data_dir).args([
            "-m",
            mode,
            "-t",
            &START_TIMEOUT_SECS.to_string(),
            "-w",
            "stop",
        ]);
        check(&mut cmd)
    }

    /// A server binary, run as the `postgres` user when we are root.
    fn server_command(&self, program: &str) -> Command {
        let program = self.bin_dir.join(program);
        let mut cmd = match self.run_as {
            Some(_) => {
                let mut cmd = Command::new(runuser_program());
                cmd.args(["-u", SERVER_OS_USER, "--"]).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        // The caller's working directory (e.g. /root) may be closed to the server user.
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir.path());
        }
        // The server outlives this call: a descriptor it inherited (a pipe another thread made
        // without close-on-exec, e.g. gpgme's) would stay open as long as the cluster runs.
        super::postgres::inherit_only_stdio(&mut cmd);
        cmd
    }

    /// A client program from the server's bin directory, else from PATH.
    fn client_program(&self, program: &str) -> PathBuf {
        let candidate = self.bin_dir.join(program);
        if candidate.is_file() {
            candidate
        } else {
            PathBuf::from(program)
        }
    }

    /// The postmaster's PID from `postmaster.pid`, if the server wrote one.
    fn postmaster_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }
}

impl Drop for EphemeralCluster {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        let pid = self.postmaster_pid();
        // Immediate mode: the data is thrown away anyway, so skip the shutdown checkpoint.
        let _ = self.pg_ctl_stop("immediate");
        // pg_ctl can fail (binaries gone, timeout); the server must still not outlive us.
        if let Some(pid) = pid.filter(|pid| process_alive(*pid)) {
            // SAFETY: kill(2) with a PID read from our own cluster's postmaster.pid.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        // Signals land asynchronously: wait (bounded) until the postmaster is really gone, so
        // the caller can reuse the port and trust that nothing is left behind.
        if let Some(pid) = pid {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while process_alive(pid) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        self.running = false;
    }
}

/// The newest `/usr/lib/postgresql/<major>/bin` with `initdb`, else `pg_config --bindir`,
/// else the directory on PATH holding `initdb`.
fn find_server_bin_dir() -> Result<PathBuf, ClusterError> {
    let mut searched = vec![format!("{DEBIAN_PG_ROOT}/<major>/bin")];
    if let Some(dir) = newest_debian_bin_dir(Path::new(DEBIAN_PG_ROOT)) {
        return Ok(dir);
    }

    searched.push("`pg_config --bindir`".to_string());
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && dir.join("initdb").is_file() {
            return Ok(dir);
        }
    }

    searched.push("PATH".to_string());
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(dir) = std::env::split_paths(&path).find(|dir| dir.join("initdb").is_file()) {
        return Ok(dir);
    }

    Err(ClusterError::ServerBinariesNotFound {
        searched: searched.join(", "),
    })
}

fn newest_debian_bin_dir(root: &Path) -> Option<PathBuf> {
    std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            // Majors compare numerically ("9.6" < "10"), not as strings.
            let version: Vec<u32> = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
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

/// A temporary directory the server user can own and traverse. Under root it lives in /tmp,
/// since root's own TMPDIR may sit inside a home the `postgres` user cannot enter.
fn make_cluster_dir(run_as: Option<ServerUser>) -> Result<tempfile::TempDir, ClusterError> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("lifeboat-pg-");
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
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(io_err)?;
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

fn runuser_program() -> PathBuf {
    ["/usr/sbin/runuser", "/sbin/runuser"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("runuser"))
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
fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name, which may contain spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(cluster
            .url("app")
            .ends_with(&format!(":{}/app", cluster.port())));

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

    #[test]
    fn debian_majors_compare_numerically() {
        let root = tempfile::tempdir().expect("tempdir");
        for major in ["9.6", "10", "15"] {
            let bin = root.path().join(major).join("bin");
            std::fs::create_dir_all(&bin).expect("mkdir");
            std::fs::write(bin.join("initdb"), "").expect("touch");
        }
        std::fs::create_dir_all(root.path().join("16/bin")).expect("mkdir without initdb");
        let found = newest_debian_bin_dir(root.path()).expect("found");
        assert_eq!(found, root.path().join("15/bin"));
    }
}
