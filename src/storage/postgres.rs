//! PostgreSQL through its own client programs (`psql`, `pg_dump`, `pg_restore`), so libpq's
//! conventions hold exactly: URLs, PG* variables, service files, pgpass, unix sockets, sslmode.
//! Connection strings are parsed once (`conninfo`); a password found in one, however it was
//! written, is moved into the child's `PGPASSWORD`, so it never appears in any argv.

use super::conninfo::{ConnInfo, ConnInfoError};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("cannot run {program}: {source} (install the PostgreSQL client: apt-get install postgresql-client, or set [source].pg_bin_dir)")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} failed on {target}: {stderr}")]
    Failed {
        program: String,
        target: String,
        stderr: String,
    },
    #[error("unexpected answer from PostgreSQL to `{query}`: {answer}")]
    Unexpected { query: String, answer: String },
    #[error("`{0}` is not a table name lifeboat accepts in [source].key_tables (use `table`, `schema.table` or quoted names such as '\"User\"')")]
    BadTableName(String),
}

/// How to reach one database: the parsed connection string without its password, and the
/// password apart (handed to children only as `PGPASSWORD`).
#[derive(Clone, Default)]
pub struct PgConn {
    /// `None`: libpq's defaults and the PG* environment alone.
    info: Option<ConnInfo>,
    password: Option<String>,
    /// Why the configured string could not be read. Such a connection never connects (see
    /// `apply`): falling back to the PG* environment could restore into another database.
    invalid: Option<ConnInfoError>,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl PgConn {
    /// `None` means libpq's defaults and PG* variables alone. A string libpq would refuse gives
    /// a connection that refuses to connect; use [`PgConn::parse`] to report it up front.
    pub fn new(database_url: Option<&str>) -> Self {
        match database_url.map(PgConn::parse) {
            None => PgConn::default(),
            Some(Ok(conn)) => conn,
            Some(Err(e)) => PgConn {
                invalid: Some(e),
                ..PgConn::default()
            },
        }
    }

    /// Reads a libpq URL or keyword/value string (see `conninfo`) and takes its password out,
    /// wherever it was written: URL userinfo, `?password=`, or `password=`.
    pub fn parse(database_url: &str) -> Result<Self, ConnInfoError> {
        let mut info = ConnInfo::parse(database_url)?;
        let password = info.remove("password");
        Ok(PgConn {
            info: Some(info),
            password,
            invalid: None,
        })
    }

    /// The same server, another database (`dbname` replaced, whatever form it was written in).
    pub fn with_database(&self, db: &str) -> PgConn {
        let mut info = self.info.clone().unwrap_or_else(ConnInfo::empty);
        info.set("dbname", db);
        PgConn {
            info: Some(info),
            password: self.password.clone(),
            invalid: self.invalid.clone(),
        }
    }

    /// The database named in the connection string, if it names one (libpq would otherwise
    /// use `PGDATABASE`, a service file's, or the user name).
    pub fn database(&self) -> Option<String> {
        self.info
            .as_ref()?
            .get("dbname")
            .filter(|d| !d.is_empty())
            .map(str::to_string)
    }

    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// Safe to print: never holds the password. A URL stays a URL.
    pub fn display(&self) -> String {
        if let Some(e) = &self.invalid {
            return format!("(unreadable connection string: {e})");
        }
        match self.info.as_ref().map(ConnInfo::display) {
            Some(shown) if !shown.is_empty() => shown,
            _ => "(PG* environment)".into(),
        }
    }

    /// Points a libpq program at this database: `--dbname` with a keyword/value conninfo that
    /// holds no password and, if needed, `PGPASSWORD`.
    pub fn apply(&self, cmd: &mut Command) {
        if self.invalid.is_some() {
            // libpq refuses an unknown keyword before it connects anywhere.
            cmd.arg("--dbname=lifeboat_unreadable_connection_string=''");
        } else if let Some(info) = self.info.as_ref().filter(|i| !i.is_empty()) {
            cmd.arg(format!("--dbname={}", info.to_keywords()));
        }
        if let Some(password) = &self.password {
            cmd.env("PGPASSWORD", password);
        }
        cmd.env("PGAPPNAME", "lifeboat");
    }
}

/// Keeps a child from inheriting any descriptor beyond stdin, stdout and stderr. Jobs run
/// several pipelines at once, and gpgme creates its pipes without close-on-exec: a pg_dump that
/// inherited the write end of another pipeline's gpg input would keep that gpg waiting for EOF.
pub fn inherit_only_stdio(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
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

/// Where the PostgreSQL client programs are.
#[derive(Debug, Clone, Default)]
pub struct PgTools {
    pub bin_dir: Option<PathBuf>,
}

impl PgTools {
    /// Prefers the configured directory, then Debian's per-major directory for `major`, then the
    /// newest Debian directory, then PATH.
    pub fn locate(configured: Option<&Path>, major: Option<u32>) -> PgTools {
        if let Some(dir) = configured {
            return PgTools {
                bin_dir: Some(dir.to_path_buf()),
            };
        }
        let debian = Path::new("/usr/lib/postgresql");
        if let Some(major) = major {
            let dir = debian.join(major.to_string()).join("bin");
            if dir.join("pg_dump").exists() {
                return PgTools { bin_dir: Some(dir) };
            }
        }
        let newest = std::fs::read_dir(debian).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|m| debian.join(m.to_string()).join("bin/pg_dump").exists())
                .max()
        });
        PgTools {
            bin_dir: newest.map(|m| debian.join(m.to_string()).join("bin")),
        }
    }

    pub fn program(&self, name: &str) -> PathBuf {
        match &self.bin_dir {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }

    /// The program `name`, killed by the kernel if lifeboat dies: spawn it from a thread that
    /// waits for it (`output()`, or spawn and wait in one function), see `storage::child`.
    pub fn command(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.program(name));
        cmd.stdin(Stdio::null());
        inherit_only_stdio(&mut cmd);
        super::child::tie_to_lifeboat(&mut cmd, libc::SIGKILL);
        cmd
    }

    /// `pg_dump (PostgreSQL) 15.18 (Debian ...)` -> `15.18`.
    pub fn version(&self, name: &str) -> Result<String, PgError> {
        let out = self
            .command(name)
            .arg("--version")
            .output()
            .map_err(|source| PgError::Spawn {
                program: self.program(name).display().to_string(),
                source,
            })?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .to_string())
    }
}

pub fn major_of(version: &str) -> Option<u32> {
    version.split(['.', ' ']).next()?.parse().ok()
}

/// Checks a configured key-table name and returns it as safe SQL: identifiers or quoted
/// identifiers, optionally schema-qualified.
pub fn table_sql(name: &str) -> Result<String, PgError> {
    let bad = || PgError::BadTableName(name.to_string());
    let mut parts = Vec::new();
    let mut rest = name.trim();
    loop {
        let (part, after) = if let Some(inner) = rest.strip_prefix('"') {
            let end = inner.find('"').ok_or_else(bad)?;
            let ident = &inner[..end];
            if ident.is_empty() {
                return Err(bad());
            }
            (format!("\"{ident}\""), &inner[end + 1..])
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            let ident = &rest[..end];
            let ok = !ident.is_empty()
                && ident
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
                && !ident.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(bad());
            }
            (ident.to_string(), &rest[end..])
        };
        parts.push(part);
        if after.is_empty() {
            break;
        }
        rest = after.strip_prefix('.').ok_or_else(bad)?;
    }
    if parts.len() > 2 {
        return Err(bad());
    }
    Ok(parts.join("."))
}

/// A long-lived `psql` child used as a query channel: one transaction can stay open across
/// queries (pg_dump's exported snapshot lives exactly as long as it).
pub struct PsqlSession {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    stderr: std::thread::JoinHandle<String>,
    target: String,
    sequence: u64,
}

/// `name` quoted as an SQL identifier.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Runs one statement in a short session on `server`'s `postgres` database: CREATE and DROP
/// DATABASE cannot run inside the database they name.
pub fn on_maintenance_db(tools: &PgTools, server: &PgConn, sql: &str) -> Result<(), String> {
    let mut s =
        PsqlSession::open(tools, &server.with_database("postgres")).map_err(|e| e.to_string())?;
    s.query(sql).map_err(|e| e.to_string())?;
    let _ = s.close();
    Ok(())
}

impl PsqlSession {
    pub fn open(tools: &PgTools, conn: &PgConn) -> Result<Self, PgError> {
        let program = tools.program("psql");
        let mut cmd = Command::new(&program);
        inherit_only_stdio(&mut cmd);
        cmd.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-w",
            "-F",
            "\t",
            "-v",
            "ON_ERROR_STOP=1",
        ]);
        conn.apply(&mut cmd);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // A session outlives the call that opens it (a backup holds its snapshot session
        // while pg_dump runs): spawned from the spawner thread, it dies with lifeboat only.
        super::child::tie_to_lifeboat(&mut cmd, libc::SIGKILL);
        let mut child = super::child::spawn(cmd).map_err(|source| PgError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
        let spawn_err = |what: &str| PgError::Spawn {
            program: program.display().to_string(),
            source: std::io::Error::other(format!("no {what} pipe")),
        };
        let stdin = child.stdin.take().ok_or_else(|| spawn_err("stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| spawn_err("stdout"))?;
        let mut stderr_pipe = child.stderr.take().ok_or_else(|| spawn_err("stderr"))?;
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            text
        });
        Ok(PsqlSession {
            child,
            stdin: Some(stdin),
            lines: BufReader::new(stdout).lines(),
            stderr,
            target: conn.display(),
            sequence: 0,
        })
    }

    /// The psql process's id (to kill a session stuck waiting, from another thread).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs one statement; returns its rows, each split on tabs.
    pub fn query(&mut self, sql: &str) -> Result<Vec<Vec<String>>, PgError> {
        self.sequence += 1;
        let marker = format!("__lifeboat_end_{}__", self.sequence);
        let sent = self.stdin.as_mut().map(|stdin| {
            stdin
                .write_all(format!("{sql};\n\\echo {marker}\n").as_bytes())
                .and_then(|_| stdin.flush())
        });
        if !matches!(sent, Some(Ok(()))) {
            return Err(self.failure());
        }
        let mut rows = Vec::new();
        loop {
            match self.lines.next() {
                Some(Ok(line)) if line == marker => return Ok(rows),
                Some(Ok(line)) => rows.push(line.split('\t').map(str::to_string).collect()),
                _ => return Err(self.failure()),
            }
        }
    }

    pub fn query_one(&mut self, sql: &str) -> Result<String, PgError> {
        let rows = self.query(sql)?;
        match rows.as_slice() {
            [row] if row.len() == 1 => Ok(row[0].clone()),
            _ => Err(PgError::Unexpected {
                query: sql.to_string(),
                answer: format!("{rows:?}"),
            }),
        }
    }

    fn failure(&mut self) -> PgError {
        self.stdin.take();
        let _ = self.child.wait();
        let handle = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
        let stderr = handle.join().unwrap_or_default();
        PgError::Failed {
            program: "psql".into(),
            target: self.target.clone(),
            stderr: stderr.split_whitespace().collect::<Vec<_>>().join(" "),
        }
    }

    pub fn close(mut self) -> Result<(), PgError> {
        self.stdin.take();
        let status = self.child.wait().map_err(|source| PgError::Spawn {
            program: "psql".into(),
            source,
        })?;
        if status.success() {
            Ok(())
        } else {
            Err(self.failure())
        }
    }
}

impl Drop for PsqlSession {
    fn drop(&mut self) {
        self.stdin.take();
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_the_password_out_however_it_is_written() {
        for (text, shown, password) in [
            (
                "postgresql://app:s%40cret@db.example:5432/app?sslmode=require",
                "postgresql://app@db.example:5432/app?sslmode=require",
                "s@cret",
            ),
            (
                "postgresql://app@db/app?password=a%20b%27c",
                "postgresql://app@db/app",
                "a b'c",
            ),
            (
                r"host=localhost password = 'x \\ y\'z' dbname=app",
                "host=localhost dbname=app",
                r"x \ y'z",
            ),
        ] {
            let conn = PgConn::new(Some(text));
            assert_eq!(conn.display(), shown, "{text}");
            assert_eq!(conn.password.as_deref(), Some(password), "{text}");
            let mut cmd = Command::new("true");
            conn.apply(&mut cmd);
            let argv: Vec<String> = cmd
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            assert!(!argv.iter().any(|a| a.contains(password)), "{argv:?}");
            let env: Vec<_> = cmd.get_envs().collect();
            assert!(env.contains(&(
                std::ffi::OsStr::new("PGPASSWORD"),
                Some(std::ffi::OsStr::new(password))
            )));
        }
        let conn = PgConn::new(Some("postgresql://app@localhost/app"));
        assert!(!conn.has_password());
    }

    #[test]
    fn an_unreadable_string_never_connects_and_is_not_quoted() {
        let conn = PgConn::new(Some("host=h password='hunter2"));
        assert!(
            conn.display().contains("unterminated"),
            "{}",
            conn.display()
        );
        assert!(!conn.display().contains("hunter2"));
        let mut cmd = Command::new("true");
        conn.apply(&mut cmd);
        let argv: Vec<_> = cmd.get_args().collect();
        assert_eq!(argv, ["--dbname=lifeboat_unreadable_connection_string=''"]);
        assert!(PgConn::parse("host=h password='hunter2").is_err());
    }

    #[test]
    fn swaps_the_database() {
        let conn = PgConn::new(Some("postgresql://u:p@h:5/app?sslmode=disable"));
        assert_eq!(
            conn.with_database("app_drill").display(),
            "postgresql://u@h:5/app_drill?sslmode=disable"
        );
        assert_eq!(
            PgConn::new(Some("postgresql://h"))
                .with_database("x")
                .display(),
            "postgresql://h/x"
        );
        assert!(conn.with_database("x").has_password());
        let keywords = PgConn::new(Some("host=h dbname = 'app' password=p"));
        let other = keywords.with_database("it's café");
        assert_eq!(other.display(), "host=h dbname='it\\'s café'");
        assert_eq!(other.database().as_deref(), Some("it's café"));
        assert_eq!(PgConn::default().with_database("x").display(), "dbname=x");
    }

    #[test]
    fn finds_the_database_name() {
        for (text, db) in [
            ("postgresql://u@h:5/app_x?sslmode=disable", Some("app_x")),
            (
                "postgresql://u@h:5/caf%C3%A9%27s?dbname=other",
                Some("other"),
            ),
            ("host=h dbname = 'a b'", Some("a b")),
            ("postgresql://u@h:5", None),
            ("postgresql://u@h:5/", None),
            ("service=app", None),
        ] {
            assert_eq!(PgConn::new(Some(text)).database().as_deref(), db, "{text}");
        }
    }

    #[test]
    fn accepts_only_table_names() {
        assert_eq!(table_sql("\"User\"").unwrap(), "\"User\"");
        assert_eq!(table_sql("public.documents").unwrap(), "public.documents");
        assert_eq!(
            table_sql("billing.\"Invoice Lines\"").unwrap(),
            "billing.\"Invoice Lines\""
        );
        for bad in ["", "a;drop table x", "a.b.c", "\"x", "1abc", "a b"] {
            assert!(table_sql(bad).is_err(), "{bad}");
        }
    }
}
