//! The database side of a backup: the snapshot session that fixes the set's moment and counts
//! the key tables, the roles, and pg_dump inside that snapshot.

use super::BackupError;
use crate::storage::manifest::{RoleFacts, SourceFacts, TableCount};
use crate::storage::postgres::{self, PgConn, PgError, PgTools, PsqlSession};
use chrono::{DateTime, Utc};

/// The open snapshot: its session (held until pg_dump is done), the exported id pg_dump
/// joins, its time (the set's RPO reference) and what it saw of the source.
pub(super) struct Snapshot {
    pub(super) session: PsqlSession,
    pub(super) id: String,
    pub(super) time: DateTime<Utc>,
    pub(super) facts: SourceFacts,
}

pub(super) fn open_snapshot(
    mut session: PsqlSession,
    key_tables: &[String],
) -> Result<Snapshot, BackupError> {
    session.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
    let rows = session.query(
        "SELECT pg_export_snapshot(), \
         to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), \
         current_database(), current_setting('server_version'), \
         pg_database_size(current_database()), \
         (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema') \
          AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%')",
    )?;
    let row = match rows.as_slice() {
        [row] if row.len() == 6 => row.clone(),
        _ => {
            return Err(PgError::Unexpected {
                query: "snapshot facts".into(),
                answer: format!("{rows:?}"),
            }
            .into())
        }
    };
    let time = DateTime::parse_from_rfc3339(&row[1])
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| PgError::Unexpected {
            query: "statement_timestamp()".into(),
            answer: format!("{}: {e}", row[1]),
        })?;
    let mut facts = SourceFacts {
        database: row[2].clone(),
        server_version: row[3].clone(),
        database_size_bytes: row[4].parse().unwrap_or(0),
        table_count: row[5].parse().unwrap_or(0),
        ..Default::default()
    };
    // Before the key tables: counting them in an empty database would hide the real problem.
    if facts.table_count == 0 {
        return Err(BackupError::NoTables {
            database: facts.database,
        });
    }
    for table in key_tables {
        let sql = postgres::table_sql(table)?;
        let rows = session.query_one(&format!("SELECT count(*) FROM {sql}"))?;
        facts.key_tables.push(TableCount {
            table: table.clone(),
            rows: rows.parse().unwrap_or(0),
        });
    }
    facts.roles = Some(dump_roles(&mut session)?);
    Ok(Snapshot {
        session,
        id: row[0].clone(),
        time,
        facts,
    })
}

/// The roles that own objects in this database or receive grants in it (pg_shdepend records
/// both; the bootstrap superuser is pinned and so not in it, hence the owners of schemas and
/// relations too), with their attributes. Never passwords: only pg_roles is read. Runs in the
/// snapshot's transaction, so it describes the same moment as the dump.
fn dump_roles(session: &mut PsqlSession) -> Result<Vec<RoleFacts>, PgError> {
    let rows = session.query(
        "SELECT r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreatedb, r.rolcreaterole, \
         r.rolinherit, r.rolreplication, r.rolbypassrls, r.rolconnlimit FROM pg_roles r \
         WHERE r.rolname NOT LIKE 'pg\\_%' AND r.oid IN ( \
           SELECT s.refobjid FROM pg_shdepend s WHERE s.refclassid = 'pg_authid'::regclass \
             AND s.deptype IN ('o', 'a') \
             AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           UNION SELECT n.nspowner FROM pg_namespace n \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg\\_%' \
           UNION SELECT c.relowner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg\\_%') \
         ORDER BY 1",
    )?;
    let t = |v: Option<&String>| v.is_some_and(|v| v == "t");
    Ok(rows
        .iter()
        .filter(|r| r.len() == 9)
        .map(|r| RoleFacts {
            name: r[0].clone(),
            login: t(r.get(1)),
            superuser: t(r.get(2)),
            createdb: t(r.get(3)),
            createrole: t(r.get(4)),
            inherit: t(r.get(5)),
            replication: t(r.get(6)),
            bypassrls: t(r.get(7)),
            connection_limit: r[8].parse().unwrap_or(-1),
        })
        .collect())
}

/// pg_dump into `out`; the child is killed when `stop` is raised.
pub(super) fn dump_database(
    tools: &PgTools,
    conn: &PgConn,
    snapshot: &str,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let mut cmd = tools.command("pg_dump");
    cmd.args(["--format=custom", "--compress=0", "--no-password"])
        .arg(format!("--snapshot={snapshot}"))
        .conn(conn);
    let mut child = cmd.spawn()?;
    let copied = match child.stdout.take() {
        Some(mut stdout) => std::io::copy(&mut stdout, out).map(|_| ()),
        None => Err(std::io::Error::other("pg_dump has no stdout")),
    };
    if copied.is_err() {
        child.kill();
    }
    let finished = child.finish();
    copied?;
    Ok(finished?)
}
