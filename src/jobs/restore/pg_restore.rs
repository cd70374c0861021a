//! pg_restore into a target database, creating it first when asked.

use super::TargetDb;
use crate::jobs::restore_db::DbError;
use crate::storage::postgres::{self, PgConn, PgTools};
use std::path::Path;

/// pg_restore into `target`. An empty database is restored into without `--clean`: its
/// statements would fail there (a view dumped as a placeholder plus a rule, e.g. one that
/// selects columns through a GROUP BY on the primary key, is "cleaned" with a
/// `CREATE OR REPLACE VIEW` that needs the view's schema to exist already).
pub fn pg_restore_into(
    tools: &PgTools,
    target: &PgConn,
    dump: &Path,
    jobs: u32,
    into: TargetDb,
    keep_owners: bool,
) -> Result<(), DbError> {
    if into == TargetDb::Create {
        let name = target_database_name(target).ok_or(DbError::NoDatabaseName)?;
        postgres::on_maintenance_db(
            tools,
            target,
            &format!("CREATE DATABASE {}", postgres::quote_identifier(&name)),
        )?;
    }
    let mut cmd = tools.command("pg_restore");
    if into == TargetDb::Existing {
        cmd.args(["--clean", "--if-exists"]);
    }
    if !keep_owners {
        cmd.arg("--no-owner");
    }
    cmd.args(["--exit-on-error", "--no-password"])
        .arg(format!("--jobs={jobs}"));
    target.apply(&mut cmd);
    cmd.arg(dump);
    let out = cmd.output()?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Err(if said.is_empty() {
        DbError::PgRestoreSilent(out.status)
    } else {
        DbError::PgRestore(said)
    })
}

/// The database name in a libpq URL or conninfo (see [`PgConn::database`]).
pub fn target_database_name(conn: &PgConn) -> Option<String> {
    conn.database()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_database_name() {
        assert_eq!(
            target_database_name(&PgConn::new(Some(
                "postgresql://u@h:5/app_x?sslmode=disable"
            )))
            .as_deref(),
            Some("app_x")
        );
        assert_eq!(
            target_database_name(&PgConn::new(Some("host=h dbname=app"))).as_deref(),
            Some("app")
        );
        assert_eq!(
            target_database_name(&PgConn::new(Some("postgresql://u@h:5"))),
            None
        );
    }
}
