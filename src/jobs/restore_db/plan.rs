//! The dry run's database part: the dump's roles, the server's privileges, the target's state
//! and the swap's preconditions as checks and problems of the plan ([`plan_database`]), and
//! the database steps the plan lists in the order the real restore takes them ([`steps`]).

use super::facts::inspect;
use super::fresh::Owners;
use super::swap::{swap_check, swap_names};
use crate::jobs::preflight::Check;
use crate::jobs::restore::{target_database_name, DbPlan, RestorePlan, RestoreSpec};
use crate::jobs::restore_roles::{roles_in_list, DumpRoles, RolePlan};
use crate::storage::manifest::{Manifest, RoleFacts};
use crate::storage::pg::{self, PgTools};
use crate::storage::units;
use std::fmt::Display;
use std::path::Path;

/// A check of the plan: passed with its detail, or failed with why.
fn push(checks: &mut Vec<Check>, name: &str, result: Result<String, impl Display>) {
    match result {
        Ok(detail) => passed(checks, name, detail),
        Err(why) => failed(checks, name, why),
    }
}

fn passed(checks: &mut Vec<Check>, name: &str, detail: String) {
    checks.push(Check::passed(name, detail));
}

fn failed(checks: &mut Vec<Check>, name: &str, why: impl Display) {
    checks.push(Check::failed(name, why));
}

/// The dry run's database part: the dump's roles, the server's privileges, the target's state
/// and the swap's preconditions, as checks and problems in `plan`.
pub(in crate::jobs) fn plan_database(
    spec: &RestoreSpec,
    manifest: &Manifest,
    tools: &PgTools,
    // The dump's table of contents, when it could be read (`restore::list_dump`).
    listing: Option<&str>,
    dump: &Path,
    // The run's scratch directory: the dump itself has no name there (`jobs::scratch`).
    scratch: &Path,
    plan: &mut RestorePlan,
) {
    let checks = &mut plan.checks;
    // An unreadable table of contents is already a problem of the plan.
    let roles = match listing.map(|list| roles_in_list(tools, list, dump, scratch)) {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            plan.problems.push(format!("db.dump: {e}"));
            DumpRoles::default()
        }
        None => DumpRoles::default(),
    };
    plan.toc.grantees = roles.grantees.clone();
    // A service file or the PG* environment may name the database: then the server says.
    let name = target_database_name(&spec.target).or_else(|| {
        let mut session = pg::PsqlSession::open(tools, &spec.target).ok()?;
        let name = session.query_one("SELECT current_database()").ok();
        let _ = session.close();
        name.filter(|n| !n.is_empty())
    });
    let Some(name) = name else {
        failed(
            checks,
            "target database",
            format!(
                "cannot tell the database's name from {} and cannot connect to ask: lifeboat \
                 restores into a new database and renames it, so the URL (or --target-url) must \
                 name the database",
                spec.target.display()
            ),
        );
        return;
    };
    let (server, existing) = match inspect(tools, &spec.target, &name) {
        Ok(found) => found,
        Err(e) => {
            failed(checks, "target database", e);
            return;
        }
    };
    match &existing {
        Some(t) => passed(
            checks,
            "target database",
            format!(
                "exists with {} tables ({}), owner {}: it is replaced whole by a new database \
                 restored beside it, and kept under another name until the restore has passed",
                t.tables,
                units::bytes(t.bytes),
                t.owner
            ),
        ),
        None => passed(
            checks,
            "target database",
            "does not exist yet: it will be created".into(),
        ),
    }
    let tag = chrono::Utc::now().format("%Y%m%d%H%M%S%3f").to_string();
    let (new_name, old_name) = swap_names(&name, &tag);
    push(
        checks,
        "database swap",
        swap_check(&server, existing.as_ref(), &new_name, &old_name),
    );
    let recorded = manifest.source.roles.clone().unwrap_or_default();
    let role_plan = RolePlan::decide(&roles, &server, &recorded, spec.create_roles);
    let mut missing: Vec<String> = role_plan
        .missing_owners
        .iter()
        .chain(&role_plan.missing_grantees)
        .cloned()
        .collect();
    missing.sort();
    plan.toc.missing_roles = missing;
    push(
        checks,
        "roles",
        match role_plan.problem() {
            Some(p) => Err(p),
            None => Ok(role_plan.summary()),
        },
    );
    plan.database = Some(DbPlan {
        target_name: name,
        new_name,
        old_name,
        server,
        existing,
        roles: role_plan,
    });
}

/// The plan's steps for the database, in the order `run` takes them.
pub(in crate::jobs) fn steps(
    db: &DbPlan,
    jobs: u32,
    dump_bytes: u64,
    tables: usize,
) -> Vec<String> {
    let mut steps = Vec::new();
    if !db.roles.create.is_empty() {
        steps.push(format!(
            "create the missing roles (no password): {}",
            db.roles
                .create
                .iter()
                .map(RoleFacts::create_sql)
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    match &db.existing {
        Some(t) => steps.push(format!(
            "create the database {} like {} (encoding, locale, tablespace{})",
            db.new_name,
            t.name,
            if db.server.can_act_as(&t.owner) {
                format!(", owner {}", t.owner)
            } else {
                format!("; owner {}, not {}", db.server.current_user, t.owner)
            }
        )),
        None => steps.push(format!("create the database {}", db.new_name)),
    }
    steps.push(format!(
        "pg_restore {}-j {jobs} into {} ({} dump, {tables} tables); {}; if it fails, {} is dropped and {} is not touched",
        if Owners::of(&db.roles) == Owners::Drop { "--no-owner " } else { "" },
        db.new_name,
        units::bytes(dump_bytes),
        db.roles.summary(),
        db.new_name,
        db.target_name,
    ));
    match &db.existing {
        Some(t) => {
            if !t.carried.is_empty() {
                steps.push(format!(
                    "carry {} database-level setting(s), comment and grants of {} over to {} (pg_dump leaves them out)",
                    t.carried.len(),
                    t.name,
                    db.new_name
                ));
            }
            steps.push(format!(
                "swap: refuse new connections to {name}, disconnect its {} other session(s), rename {name} to {}, rename {} to {name}",
                t.sessions,
                db.old_name,
                db.new_name,
                name = t.name
            ));
        }
        None => steps.push(format!("rename {} to {}", db.new_name, db.target_name)),
    }
    steps
}
