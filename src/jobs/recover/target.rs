//! The recovery's target database: a URL the operator gives, or a new local cluster in a data
//! directory they name (`storage::local_cluster`) of the dump's major version. Described,
//! inspected (absent, empty, or holding tables: then replacing it needs the typed
//! confirmation), created, and emptied again when the operator confirms a redo.

use super::{RecoverError, RecoverSpec, TargetChoice};
use crate::jobs::restore_db;
use crate::storage::local_cluster::{self, LocalCluster};
use crate::storage::manifest::Manifest;
use crate::storage::postgres::{self, PgConn, PgTools};
use serde::Serialize;
use std::path::PathBuf;

/// What the target is now.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum TargetState {
    /// A new cluster will be created in this directory.
    NewCluster { data_dir: PathBuf },
    /// The server answers; the database does not exist and will be created.
    Absent,
    /// It exists and holds no tables.
    Empty,
    /// It exists and holds data: replacing it needs the typed confirmation.
    Holds { tables: u64, bytes: u64 },
}

impl TargetState {
    pub fn holds_data(&self) -> bool {
        matches!(self, TargetState::Holds { .. })
    }

    pub fn describe(&self) -> String {
        match self {
            TargetState::NewCluster { data_dir } => {
                format!("a new cluster will be created in {}", data_dir.display())
            }
            TargetState::Absent => "the database does not exist yet; it will be created".into(),
            TargetState::Empty => "the database exists and holds no tables".into(),
            TargetState::Holds { tables, bytes } => {
                format!(
                    "{tables} tables, {} of data",
                    crate::storage::units::bytes(*bytes)
                )
            }
        }
    }
}

/// The PostgreSQL major version the dump came from.
pub(super) fn dump_major(manifest: &Manifest) -> Option<u32> {
    postgres::major_of(&manifest.source.server_version)
        .or_else(|| postgres::major_of(&manifest.source.pg_dump_version))
}

/// The target's connection and the client tools to use on it.
pub(super) fn resolve(
    spec: &RecoverSpec,
    manifest: &Manifest,
) -> Result<(PgConn, PgTools), RecoverError> {
    let database = &manifest.source.database;
    match &spec.target {
        TargetChoice::Url(url) => {
            let conn =
                PgConn::parse(url).map_err(|e| RecoverError::Usage(format!("--target: {e}")))?;
            if conn.has_password() {
                return Err(RecoverError::Usage(
                    "--target: the URL holds a password; give it through PGPASSWORD or ~/.pgpass instead, never on the command line".into(),
                ));
            }
            let conn = match conn.database() {
                Some(_) => conn,
                None => conn.with_database(database),
            };
            let tools = PgTools::locate(spec.pg_bin_dir.as_deref(), dump_major(manifest));
            Ok((conn, tools))
        }
        TargetChoice::NewCluster(dir) => {
            if !dir.is_absolute() {
                return Err(RecoverError::Usage(format!(
                    "--new-cluster {}: give an absolute path",
                    dir.display()
                )));
            }
            let major = dump_major(manifest).ok_or_else(|| {
                RecoverError::Usage(format!(
                    "the set's manifest names no PostgreSQL version (`{}`), so no cluster of the right version can be made; use --target URL",
                    manifest.source.server_version
                ))
            })?;
            let bin = match &spec.pg_bin_dir {
                Some(b) => b.clone(),
                None => local_cluster::bin_dir_for(major)
                    .map_err(|e| RecoverError::PlanFailed(vec![e.to_string()]))?,
            };
            let cluster = LocalCluster {
                data_dir: dir.clone(),
                bin_dir: bin.clone(),
            };
            let conn = PgConn::parse(&cluster.url(database))
                .map_err(|e| RecoverError::Usage(format!("--new-cluster: {e}")))?;
            Ok((conn, PgTools::in_dir(Some(bin))))
        }
    }
}

/// What the target holds now.
pub(super) fn inspect(
    spec: &RecoverSpec,
    tools: &PgTools,
    conn: &PgConn,
) -> Result<TargetState, String> {
    if let TargetChoice::NewCluster(dir) = &spec.target {
        if !local_cluster::is_cluster(dir) {
            local_cluster::check_new(dir).map_err(|e| e.to_string())?;
            return Ok(TargetState::NewCluster {
                data_dir: dir.clone(),
            });
        }
    }
    let name = conn.database().unwrap_or_default();
    let (_, facts) =
        restore_db::inspect(tools, conn, &name).map_err(|e| format!("{}: {e}", conn.display()))?;
    Ok(match facts {
        None => TargetState::Absent,
        Some(f) if f.tables == 0 => TargetState::Empty,
        Some(f) => TargetState::Holds {
            tables: f.tables,
            bytes: f.bytes,
        },
    })
}

/// Starts (or creates) the cluster, and creates the database when it does not exist.
pub(super) fn create(spec: &RecoverSpec, tools: &PgTools, conn: &PgConn) -> Result<String, String> {
    let mut said = Vec::new();
    if let TargetChoice::NewCluster(dir) = &spec.target {
        let bin = tools
            .program("initdb")
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(PathBuf::from)
            .ok_or("no server binaries for the new cluster")?;
        let existed = local_cluster::is_cluster(dir);
        LocalCluster::ensure(dir, &bin).map_err(|e| e.to_string())?;
        said.push(if existed {
            format!("cluster in {} running", dir.display())
        } else {
            format!("cluster created in {} and started", dir.display())
        });
    }
    let name = conn.database().unwrap_or_default();
    let exists = restore_db::database_exists(tools, conn, &name).map_err(|e| e.to_string())?;
    if !exists {
        postgres::on_maintenance_db(
            tools,
            conn,
            &format!("CREATE DATABASE {}", postgres::quote_identifier(&name)),
        )
        .map_err(|e| e.to_string())?;
        said.push(format!("database {name} created"));
    } else {
        said.push(format!("database {name} exists"));
    }
    Ok(said.join("; "))
}

/// Drops the database and creates it again, empty (after the operator confirmed).
pub(super) fn recreate(tools: &PgTools, conn: &PgConn) -> Result<(), String> {
    let name = conn.database().unwrap_or_default();
    restore_db::drop_database(tools, conn, &name).map_err(|e| e.to_string())?;
    postgres::on_maintenance_db(
        tools,
        conn,
        &format!("CREATE DATABASE {}", postgres::quote_identifier(&name)),
    )
    .map_err(|e| e.to_string())
}
