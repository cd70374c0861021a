//! A lasting local PostgreSQL cluster in a data directory the operator names
//! (`lifeboat recover --new-cluster DATADIR`): found by the dump's major version, created with
//! `initdb`, started with `pg_ctl` (which detaches the server, so it outlives lifeboat: it is
//! the recovered host's database now), and started again by a resumed recovery.
//!
//! Like the drill's throwaway clusters (`storage::pg_cluster`) it listens on no TCP port and
//! keeps its unix socket in the data directory itself, mode 0700 and owned by the server's OS
//! user (lifeboat's own, or `postgres` when lifeboat is root): trust authentication on that
//! socket then admits only that user and root, and no password is needed anywhere. An operator
//! who wants TCP edits `postgresql.conf` and `pg_hba.conf` afterwards, as for any new cluster.

use super::pg::bin_dir;
use super::pg::conninfo::percent_encode;
use super::pg_cluster::{server_ids, ClusterError};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A unix socket's path must fit `sockaddr_un.sun_path` (108 bytes, NUL included).
const SOCKET_PATH_MAX: usize = 107;
/// The socket's file name in the data directory.
const SOCKET_NAME: &str = ".s.PGSQL.5432";
/// The server log, in the data directory.
const LOG_NAME: &str = "lifeboat-server.log";

#[derive(Debug, thiserror::Error)]
pub enum LocalClusterError {
    #[error("PostgreSQL {major}'s server binaries are not installed ({root}/{major}/bin/initdb is missing); the dump came from PostgreSQL {major}: install the `postgresql-{major}` package (Debian/Ubuntu: `apt-get install postgresql-{major}`), or restore into an existing server with --target URL")]
    NoBinaries { major: u32, root: &'static str },
    #[error("--new-cluster {}: the directory exists and is not empty; name a new or empty directory (nothing was changed)", path.display())]
    NotEmpty { path: PathBuf },
    #[error("--new-cluster {}: the path is too long for the server's unix socket ({len} bytes, at most {SOCKET_PATH_MAX}); choose a shorter directory", path.display())]
    PathTooLong { path: PathBuf, len: usize },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("`{command}` failed ({status}): {output}")]
    Command {
        command: String,
        status: String,
        output: String,
    },
}

/// A cluster in `data_dir`, run by the binaries in `bin_dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCluster {
    pub data_dir: PathBuf,
    pub bin_dir: PathBuf,
}

/// `/usr/lib/postgresql/<major>/bin` when it holds initdb, else why not.
pub fn bin_dir_for(major: u32) -> Result<PathBuf, LocalClusterError> {
    bin_dir::debian_major(major, "initdb").ok_or(LocalClusterError::NoBinaries {
        major,
        root: bin_dir::DEBIAN_PG_ROOT,
    })
}

/// Whether `data_dir` already holds a cluster (`PG_VERSION`).
pub fn is_cluster(data_dir: &Path) -> bool {
    data_dir.join("PG_VERSION").is_file()
}

/// Refuses a data directory that cannot become a new cluster, before anything is made.
pub fn check_new(data_dir: &Path) -> Result<(), LocalClusterError> {
    let len = data_dir.join(SOCKET_NAME).as_os_str().len();
    if len > SOCKET_PATH_MAX {
        return Err(LocalClusterError::PathTooLong {
            path: data_dir.to_path_buf(),
            len,
        });
    }
    let occupied = std::fs::read_dir(data_dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        return Err(LocalClusterError::NotEmpty {
            path: data_dir.to_path_buf(),
        });
    }
    Ok(())
}

impl LocalCluster {
    /// Creates the cluster when `data_dir` holds none yet, and starts it when it is not running.
    pub fn ensure(data_dir: &Path, bin_dir: &Path) -> Result<LocalCluster, LocalClusterError> {
        let cluster = LocalCluster {
            data_dir: data_dir.to_path_buf(),
            bin_dir: bin_dir.to_path_buf(),
        };
        if !is_cluster(data_dir) {
            check_new(data_dir)?;
            cluster.initdb()?;
        }
        if !cluster.running() {
            cluster.pg_ctl(&["start", "-w", "-t", "120", "-l"], Some(LOG_NAME))?;
        }
        Ok(cluster)
    }

    /// A libpq URL for `db` as the `postgres` superuser, through the socket.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://postgres@/{}?host={}",
            percent_encode(db, &[]),
            percent_encode(&self.data_dir.display().to_string(), b"/")
        )
    }

    /// `pg_ctl status`: 0 while the server runs.
    pub fn running(&self) -> bool {
        self.server_command("pg_ctl")
            .map(|mut c| {
                c.arg("status").arg("-D").arg(&self.data_dir);
                c.stdout(Stdio::null()).stderr(Stdio::null());
                c.status().is_ok_and(|s| s.success())
            })
            .unwrap_or(false)
    }

    /// Stops the server (fast shutdown); the data stays.
    pub fn stop(&self) -> Result<(), LocalClusterError> {
        self.pg_ctl(&["stop", "-m", "fast", "-w"], None)
    }

    fn initdb(&self) -> Result<(), LocalClusterError> {
        let io = |source| LocalClusterError::Io {
            path: self.data_dir.clone(),
            source,
        };
        std::fs::create_dir_all(&self.data_dir).map_err(io)?;
        std::fs::set_permissions(&self.data_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io)?;
        if let Some((uid, gid)) = server_ids()? {
            std::os::unix::fs::chown(&self.data_dir, Some(uid), Some(gid)).map_err(io)?;
        }
        let mut cmd = self.server_command("initdb")?;
        cmd.arg("-D").arg(&self.data_dir).args([
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=reject",
            "--encoding=UTF8",
            "--locale=C",
        ]);
        run(cmd)?;
        // Appended last, so these win over the defaults initdb wrote.
        let settings = format!(
            "\n# lifeboat recover: no TCP; the socket lives in this 0700 directory\nlisten_addresses = ''\nunix_socket_directories = '{}'\n",
            self.data_dir.display().to_string().replace('\'', "''")
        );
        let conf = self.data_dir.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).map_err(io)?;
        text.push_str(&settings);
        std::fs::write(&conf, text).map_err(io)
    }

    fn pg_ctl(&self, args: &[&str], log: Option<&str>) -> Result<(), LocalClusterError> {
        let mut cmd = self.server_command("pg_ctl")?;
        cmd.args(args);
        if let Some(log) = log {
            cmd.arg(self.data_dir.join(log));
        }
        cmd.arg("-D").arg(&self.data_dir);
        run(cmd)
    }

    /// A server binary, as the `postgres` OS user when lifeboat is root.
    fn server_command(&self, program: &str) -> Result<Command, LocalClusterError> {
        let mut cmd = Command::new(self.bin_dir.join(program));
        if let Some((uid, gid)) = server_ids()? {
            cmd.uid(uid).gid(gid);
        }
        // The caller's working directory (e.g. /root) may be closed to the server user.
        cmd.current_dir(&self.data_dir);
        cmd.stdin(Stdio::null());
        super::pg::inherit_only_stdio(&mut cmd);
        Ok(cmd)
    }
}

fn run(mut cmd: Command) -> Result<(), LocalClusterError> {
    let command = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    // pg_ctl's server keeps the log file, not our pipes: output() returns once pg_ctl exits.
    let out = cmd.output().map_err(|e| LocalClusterError::Command {
        command: command.clone(),
        status: "not started".into(),
        output: e.to_string(),
    })?;
    if out.status.success() {
        return Ok(());
    }
    let mut output = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if output.is_empty() {
        output = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    Err(LocalClusterError::Command {
        command,
        status: out.status.to_string(),
        output,
    })
}
