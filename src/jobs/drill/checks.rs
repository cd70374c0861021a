//! The drill's checks on the restored database: key-table row counts, the operator's SQL
//! checks, the freshness query (the data's RPO) and the health command.

use super::SqlCheck;
use crate::jobs::drill_record::CheckResult;
use crate::jobs::restore;
use crate::storage::manifest::Manifest;
use crate::storage::postgres::{self, PgConn, PgError, PgTools, PsqlSession};
use chrono::{DateTime, Utc};

fn query_one(tools: &PgTools, conn: &PgConn, sql: &str) -> Result<String, PgError> {
    let mut s = PsqlSession::open(tools, conn)?;
    let rows = s.query(sql)?;
    let _ = s.close();
    Ok(rows.first().map(|r| r.join("|")).unwrap_or_default())
}

fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    DateTime::parse_from_rfc3339(t)
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .map(|d| d.with_timezone(&Utc))
        .ok()
}

pub fn run_checks(
    tools: &PgTools,
    conn: &PgConn,
    manifest: &Manifest,
    spec: &DrillChecks,
) -> (Vec<CheckResult>, Option<DateTime<Utc>>) {
    let mut results = Vec::new();
    for t in &manifest.source.key_tables {
        let actual = postgres::table_sql(&t.table)
            .and_then(|sql| query_one(tools, conn, &format!("SELECT count(*) FROM {sql}")));
        let (ok, actual) = match actual {
            Ok(v) => (v == t.rows.to_string(), v),
            Err(e) => (false, e.to_string()),
        };
        results.push(CheckResult {
            name: format!("rows in {}", t.table),
            kind: "row count".into(),
            ok,
            expected: t.rows.to_string(),
            actual,
        });
    }
    for c in &spec.checks {
        let (ok, actual) = match query_one(tools, conn, &c.sql) {
            Ok(v) => (v.trim() == c.expect.trim(), v),
            Err(e) => (false, e.to_string()),
        };
        results.push(CheckResult {
            name: c.name.clone(),
            kind: "sql".into(),
            ok,
            expected: c.expect.clone(),
            actual,
        });
    }
    let mut newest = None;
    if let Some(q) = &spec.freshness_query {
        // Normalised to UTC text so any timestamp column type parses.
        let wrapped = format!(
            "SELECT to_char((({}) ) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
            q.trim().trim_end_matches(';')
        );
        let (ok, actual) = match query_one(tools, conn, &wrapped) {
            Ok(v) => match parse_timestamp(&v) {
                Some(t) => {
                    newest = Some(t);
                    (true, v)
                }
                None => (
                    false,
                    format!("not a timestamp: `{v}` (the query must return one timestamp)"),
                ),
            },
            Err(e) => (false, e.to_string()),
        };
        results.push(CheckResult {
            name: "freshness".into(),
            kind: "freshness".into(),
            ok,
            expected: "the newest restored timestamp".into(),
            actual,
        });
    }
    if let Some(cmd) = &spec.health_command {
        let env = vec![("LIFEBOAT_DRILL_DATABASE_URL".to_string(), conn.display())];
        let (ok, actual) = match restore::run_hook(cmd, &env) {
            Ok(out) => (true, if out.is_empty() { "exit 0".into() } else { out }),
            Err(failure) => (false, failure.to_string()),
        };
        results.push(CheckResult {
            name: cmd.clone(),
            kind: "health".into(),
            ok,
            expected: "exit 0".into(),
            actual,
        });
    }
    (results, newest)
}

/// The parts of the spec the checks need, movable to a blocking thread.
#[derive(Debug, Clone)]
pub struct DrillChecks {
    pub checks: Vec<SqlCheck>,
    pub freshness_query: Option<String>,
    pub health_command: Option<String>,
}
