//! PostgreSQL through its own client programs (`psql`, `pg_dump`, `pg_restore`), so libpq's
//! conventions hold exactly: URLs, PG* variables, service files, pgpass, unix sockets, sslmode.
//! A password found in the configured URL is moved out of it into the child's `PGPASSWORD`, so
//! it never appears in any argv.

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

/// How to reach one database: a conninfo without its password, and the password apart.
#[derive(Clone, Default)]
pub struct PgConn {
    conninfo: Option<String>,
    password: Option<String>,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl PgConn {
    /// `None` means libpq's defaults and PG* variables alone.
    pub fn new(database_url: Option<&str>) -> Self {
        match database_url {
            None => PgConn::default(),
            Some(url) => {
                let (conninfo, password) = split_password(url);
                PgConn {
                    conninfo: Some(conninfo),
                    password,
                }
            }
        }
    }

    /// The same server, another database (a URL with its path replaced, or `dbname=` appended).
    pub fn with_database(&self, db: &str) -> PgConn {
        let conninfo = match &self.conninfo {
            Some(c) if c.contains("://") => {
                let (head, query) = match c.split_once('?') {
                    Some((h, q)) => (h, Some(q)),
                    None => (c.as_str(), None),
                };
                let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
                let base = match head[scheme_end..].find('/') {
                    Some(slash) => &head[..scheme_end + slash],
                    None => head,
                };
                match query {
                    Some(q) => format!("{base}/{db}?{q}"),
                    None => format!("{base}/{db}"),
                }
            }
            Some(c) => format!("{c} dbname='{}'", db.replace('\'', "\\'")),
            None => format!("dbname='{}'", db.replace('\'', "\\'")),
        };
        PgConn {
            conninfo: Some(conninfo),
            password: self.password.clone(),
        }
    }

    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// Safe to print: never holds the password.
    pub fn display(&self) -> String {
        self.conninfo
            .clone()
            .unwrap_or_else(|| "(PG* environment)".into())
    }

    /// Points a libpq program at this database: `--dbname` and, if needed, `PGPASSWORD`.
    pub fn apply(&self, cmd: &mut Command) {
        if let Some(conninfo) = &self.conninfo {
            cmd.arg(format!("--dbname={conninfo}"));
        }
        if let Some(password) = &self.password {
            cmd.env("PGPASSWORD", password);
        }
        cmd.env("PGAPPNAME", "lifeboat");
    }
}

/// Moves a password out of a libpq URL or key=value string.
fn split_password(url: &str) -> (String, Option<String>) {
    if let Some(scheme_end) = url.find("://").map(|i| i + 3) {
        let rest = &url[scheme_end..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@') {
            let userinfo = &authority[..at];
            if let Some((user, password)) = userinfo.split_once(':') {
                let stripped = format!(
                    "{}{}@{}{}",
                    &url[..scheme_end],
                    user,
                    &authority[at + 1..],
                    &rest[authority_end..]
                );
                return (stripped, Some(percent_decode(password)));
            }
        }
        return (url.to_string(), None);
    }
    let mut password = None;
    let kept: Vec<&str> = url
        .split_whitespace()
        .filter(|part| match part.strip_prefix("password=") {
            Some(value) => {
                password = Some(value.trim_matches('\'').to_string());
                false
            }
            None => true,
        })
        .collect();
    (kept.join(" "), password)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
    fn moves_the_password_out_of_urls() {
        let (url, pw) =
            split_password("postgresql://app:s%40cret@db.example:5432/app?sslmode=require");
        assert_eq!(url, "postgresql://app@db.example:5432/app?sslmode=require");
        assert_eq!(pw.as_deref(), Some("s@cret"));
        let (url, pw) = split_password("postgresql://app@localhost/app");
        assert_eq!(url, "postgresql://app@localhost/app");
        assert!(pw.is_none());
        let (url, pw) = split_password("host=localhost password=hunter2 dbname=app");
        assert_eq!(url, "host=localhost dbname=app");
        assert_eq!(pw.as_deref(), Some("hunter2"));
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
