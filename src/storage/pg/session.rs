//! `psql` as a query channel: a [`PsqlSession`] keeps one psql child open so one transaction
//! can stay open across queries (pg_dump's exported snapshot lives exactly as long as it), and
//! [`on_maintenance_db`] runs one statement on the server's maintenance database. Both start
//! psql through the child runner, so the job's cancellation reaches a session stuck on a lock.

use super::command::PgChild;
use super::conn::PgConn;
use super::tools::PgTools;
use super::PgError;
use std::io::{BufRead, BufReader, Write};

/// psql as lifeboat reads it: no psqlrc, quiet, unaligned, tuples only, never a password
/// prompt, tab-separated, stop at the first error.
const PSQL_ARGS: [&str; 9] = [
    "-X",
    "-q",
    "-A",
    "-t",
    "-w",
    "-F",
    "\t",
    "-v",
    "ON_ERROR_STOP=1",
];

/// Runs one statement in a short session on `server`'s maintenance database: CREATE and DROP
/// DATABASE cannot run inside the database they name.
pub fn on_maintenance_db(tools: &PgTools, server: &PgConn, sql: &str) -> Result<(), PgError> {
    let mut s = PsqlSession::open(tools, &server.maintenance())?;
    s.query(sql)?;
    let _ = s.close();
    Ok(())
}

/// A long-lived `psql` child used as a query channel.
pub struct PsqlSession {
    child: PgChild,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    target: String,
    sequence: u64,
}

impl PsqlSession {
    pub fn open(tools: &PgTools, conn: &PgConn) -> Result<Self, PgError> {
        let mut cmd = tools.command("psql");
        cmd.args(PSQL_ARGS)
            .conn(conn)
            .stdin(std::process::Stdio::piped());
        // A session outlives the call that opens it (a backup holds its snapshot session
        // while pg_dump runs): spawned from the spawner thread, it dies with lifeboat only.
        let mut child = cmd.spawn_detached()?;
        let stdout = child.stdout.take().ok_or_else(|| PgError::Spawn {
            program: "psql".into(),
            reason: "no stdout pipe".into(),
        })?;
        Ok(PsqlSession {
            child,
            lines: BufReader::new(stdout).lines(),
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
        let sent = self.child.stdin.as_mut().map(|stdin| {
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

    /// psql stopped answering: it ended, and says why (or the runner stopped it).
    fn failure(&mut self) -> PgError {
        match self.child.wait() {
            Err(stopped) => stopped,
            Ok(_) => PgError::Failed {
                program: "psql".into(),
                target: self.target.clone(),
                stderr: self
                    .child
                    .stderr_text()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            },
        }
    }

    pub fn close(mut self) -> Result<(), PgError> {
        if self.child.wait()?.success() {
            Ok(())
        } else {
            Err(self.failure())
        }
    }
}
