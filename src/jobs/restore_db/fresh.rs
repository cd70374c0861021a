//! Restoring into a new, empty database: created like the target, pg_restore into it, the
//! target's settings, comment and grants carried over; then, for the real restore, swapped in
//! by name ([`restore_and_swap`]), and for a drill, the same role decisions and pg_restore
//! options against its throwaway target ([`restore_for_drill`]).

use super::error::DbError;
use super::facts::inspect;
use super::swap::{database_exists, drop_database, swap_in};
use super::{session, DB};
use crate::jobs::restore::{pg_restore_into, DbPlan, TargetDb};
use crate::jobs::restore_roles::{create_roles, dump_roles, RolePlan};
use crate::storage::manifest::RoleFacts;
use crate::storage::pg::{self, quote_identifier, PgConn, PgTools};
use std::path::Path;

/// How pg_restore treats owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owners {
    Keep,
    /// `--no-owner`: objects belong to the connecting role.
    Drop,
}

impl Owners {
    pub fn of(plan: &RolePlan) -> Owners {
        if plan.owners_become.is_some() {
            Owners::Drop
        } else {
            Owners::Keep
        }
    }
}

/// Creates `new_name` like the target (or with the server's defaults), restores the dump into
/// it, and applies the target's database-level settings, comment and grants. On failure the
/// new database is dropped and the error says so; the target is never touched here.
pub fn restore_fresh(
    tools: &PgTools,
    server: &PgConn,
    db: &DbPlan,
    dump: &Path,
    jobs: u32,
) -> Result<(), DbError> {
    let (target, srv, new_name) = (db.existing.as_ref(), &db.server, db.new_name.as_str());
    let owners = Owners::of(&db.roles);
    let mut create = format!("CREATE DATABASE {}", quote_identifier(new_name));
    if let Some(t) = target {
        create.push(' ');
        create.push_str(&t.create_options);
        if srv.can_act_as(&t.owner) {
            create.push_str(&format!(" OWNER {}", quote_identifier(&t.owner)));
        }
    }
    // Not cancelled half-way: a CREATE the server finishes after psql was killed would leave
    // a database nobody knows to drop. A cancel stops the pg_restore that follows.
    pg::on_maintenance_db(&tools.uncancellable(), server, &create)?;
    let restored = pg_restore_into(
        tools,
        &server.with_database(new_name),
        dump,
        jobs,
        TargetDb::Empty,
        owners == Owners::Keep,
    )
    .and_then(|()| match target {
        Some(t) if !t.carried.is_empty() => carry(tools, server, new_name, &t.carried),
        _ => Ok(()),
    });
    if let Err(e) = restored {
        let source = Box::new(e);
        let new_name = new_name.to_string();
        return Err(match drop_database(tools, server, &new_name) {
            Ok(()) => DbError::NewDropped { source, new_name },
            Err(drop) => DbError::NewLeft {
                source,
                new_name,
                drop,
            },
        });
    }
    Ok(())
}

/// The target's database-level statements (`TargetFacts::carried`), applied to `new_name`.
fn carry(
    tools: &PgTools,
    server: &PgConn,
    new_name: &str,
    carried: &[String],
) -> Result<(), DbError> {
    let db = quote_identifier(new_name);
    let mut s = session(tools, server)?;
    for statement in carried {
        let sql = statement.replace(DB, &db);
        s.query(&sql)
            .map_err(|source| DbError::Statement { sql, source })?;
    }
    let _ = s.close();
    Ok(())
}

/// The real restore's database step: create the missing roles if asked, restore into the new
/// database, then swap it in. Any error leaves the target as it was (roles created stay).
pub fn restore_and_swap(
    tools: &PgTools,
    server: &PgConn,
    db: &DbPlan,
    dump: &Path,
    jobs: u32,
) -> Result<(), DbError> {
    create_roles(tools, server, &db.roles)?;
    for name in [&db.new_name, &db.old_name] {
        if database_exists(tools, server, name)? {
            return Err(DbError::NameTaken(name.clone()));
        }
    }
    restore_fresh(tools, server, db, dump, jobs)?;
    swap_in(
        tools,
        server,
        &db.target_name,
        db.existing.as_ref(),
        &db.new_name,
        &db.old_name,
    )
}

/// A drill's restore into its freshly created, empty database: the same role decisions and
/// pg_restore options as the real restore, so a set the real restore would refuse or fail on
/// fails the drill. `create_roles` only for the drill's own throwaway cluster. Returns the
/// role summary.
pub fn restore_for_drill(
    tools: &PgTools,
    conn: &PgConn,
    dump: &Path,
    scratch: &Path,
    recorded: &[RoleFacts],
    create_roles_too: bool,
    jobs: u32,
) -> Result<String, DbError> {
    let roles = dump_roles(tools, dump, scratch)?;
    let (server, _) = inspect(tools, conn, "")?;
    let plan = RolePlan::decide(&roles, &server, recorded, create_roles_too);
    if let Some(problem) = plan.problem() {
        return Err(DbError::WouldRefuse(problem));
    }
    create_roles(tools, conn, &plan)?;
    pg_restore_into(
        tools,
        conn,
        dump,
        jobs,
        TargetDb::Empty,
        Owners::of(&plan) == Owners::Keep,
    )?;
    Ok(plan.summary())
}
