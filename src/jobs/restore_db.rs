//! The database half of a restore: restore into a new database beside the target, then swap
//! names, so the live database either ends restored or stays exactly as it was.
//!
//! Data flows one way: [`inspect`] reads the server and the target (privileges, encoding and
//! locale, database-level settings, comments and grants, sessions), [`dump_roles`] reads the
//! owners and grantees out of the dump, [`RolePlan`] decides whether owners can be kept and
//! which roles are missing, then [`restore_fresh`] creates `<name>_lifeboat_new_<tag>`, runs
//! pg_restore into it (empty: no `--clean`), and [`swap_in`] renames the target to
//! `<name>_lifeboat_old_<tag>` and the new database to the target's name. A failure before the
//! swap drops the new database and leaves the target untouched. The old copy is dropped by
//! [`drop_old`] only after the post-restore steps and the health check pass.
//!
//! Why not the alternatives: `pg_restore --single-transaction` cannot run with `-j` (the
//! restore time of a real database grows several-fold) and holds every lock in one transaction
//! against the live application; ordering `--clean` drops by hand breaks on partitions whose
//! primary keys are inherited, foreign keys between partitioned tables, and objects the dump
//! does not know about.

use super::preflight::Check;
use super::restore::{DbPlan, RestorePlan, RestoreSpec};
use super::restore_roles::{create_roles, dump_roles, roles_in_list, DumpRoles, RolePlan};
use crate::storage::manifest::{Manifest, RoleFacts};
use crate::storage::pg::{self, quote_identifier, PgConn, PgTools, PsqlSession};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// PostgreSQL truncates identifiers beyond this many bytes (NAMEDATALEN - 1).
const MAX_NAME_BYTES: usize = 63;
/// How long the swap keeps terminating sessions that hold the target open before giving up.
const SWAP_PATIENCE: Duration = Duration::from_secs(15);
const SWAP_RETRY: Duration = Duration::from_millis(200);

/// `text` as an SQL string literal (standard_conforming_strings, on since 9.1).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// What the connecting role may do on the target's server.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ServerFacts {
    pub current_user: String,
    pub superuser: bool,
    pub createdb: bool,
    /// Every role on the server (left out of the printed plan: it can be long).
    #[serde(skip)]
    pub roles: BTreeSet<String>,
    /// The roles the connecting role is a member of (itself included): it may give objects to them.
    #[serde(skip)]
    pub member_of: BTreeSet<String>,
    /// Databases named like this target's swap databases: left by an interrupted restore, or
    /// an old copy nobody dropped.
    pub leftovers: Vec<String>,
}

impl ServerFacts {
    pub fn can_act_as(&self, role: &str) -> bool {
        self.superuser || self.member_of.contains(role)
    }
}

/// The existing target database, as the new one must reproduce it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TargetFacts {
    pub name: String,
    pub owner: String,
    pub tables: u64,
    pub bytes: u64,
    /// Other sessions connected to it now: the swap disconnects them.
    pub sessions: u64,
    pub allow_connections: bool,
    /// `ENCODING ... LC_COLLATE ... TABLESPACE ...` for CREATE DATABASE.
    pub create_options: String,
    /// Database-level settings, the comment and the grants, as statements on `{db}`: pg_dump
    /// leaves them out of a dump made without `--create`.
    pub carried: Vec<String>,
}

/// The database name placeholder in [`TargetFacts::carried`].
const DB: &str = "{db}";

pub(super) fn session(tools: &PgTools, server: &PgConn) -> Result<PsqlSession, String> {
    PsqlSession::open(tools, &server.maintenance()).map_err(|e| e.to_string())
}

pub(super) fn query(s: &mut PsqlSession, sql: &str) -> Result<Vec<Vec<String>>, String> {
    s.query(sql).map_err(|e| e.to_string())
}

fn flag(v: Option<&String>) -> bool {
    v.is_some_and(|v| v == "t")
}

/// Reads the server's roles and privileges and, when it exists, the target database `name`.
pub fn inspect(
    tools: &PgTools,
    server: &PgConn,
    name: &str,
) -> Result<(ServerFacts, Option<TargetFacts>), String> {
    let mut s = session(tools, server)?;
    let me = query(
        &mut s,
        "SELECT current_user, rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user",
    )?;
    let me = me.first().cloned().unwrap_or_default();
    let mut facts = ServerFacts {
        current_user: me.first().cloned().unwrap_or_default(),
        superuser: flag(me.get(1)),
        createdb: flag(me.get(2)),
        ..Default::default()
    };
    for row in query(
        &mut s,
        "SELECT rolname, pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles",
    )? {
        if let Some(role) = row.first() {
            facts.roles.insert(role.clone());
            if flag(row.get(1)) {
                facts.member_of.insert(role.clone());
            }
        }
    }
    let lit = quote_literal(name);
    let like = name
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    facts.leftovers = query(
        &mut s,
        &format!(
            "SELECT datname FROM pg_database WHERE datname LIKE {} ORDER BY 1",
            quote_literal(&format!("{like}\\_lifeboat\\_%"))
        ),
    )?
    .into_iter()
    .filter_map(|r| r.into_iter().next())
    .collect();
    let rows = query(
        &mut s,
        &format!(
            "SELECT pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, \
             d.datctype, d.datallowconn, d.datconnlimit, t.spcname, \
             coalesce(to_jsonb(d)->>'datlocprovider', ''), \
             coalesce(to_jsonb(d)->>'daticulocale', to_jsonb(d)->>'datlocale', ''), \
             (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname \
              AND a.pid <> pg_backend_pid()), \
             coalesce(shobj_description(d.oid, 'pg_database'), ''), d.datacl IS NULL \
             FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace \
             WHERE d.datname = {lit}"
        ),
    )?;
    let Some(row) = rows.first() else {
        let _ = s.close();
        return Ok((facts, None));
    };
    let get = |i: usize| row.get(i).cloned().unwrap_or_default();
    let mut options = format!(
        "TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
        quote_literal(&get(1)),
        quote_literal(&get(2)),
        quote_literal(&get(3)),
    );
    // Naming even pg_default needs CREATE on it for a role that is not a superuser.
    if get(6) != "pg_default" {
        options.push_str(&format!(" TABLESPACE {}", quote_identifier(&get(6))));
    }
    if get(7) == "i" && !get(8).is_empty() {
        options.push_str(&format!(
            " LOCALE_PROVIDER icu ICU_LOCALE {}",
            quote_literal(&get(8))
        ));
    }
    if get(5) != "-1" && !get(5).is_empty() {
        options.push_str(&format!(
            " CONNECTION LIMIT {}",
            get(5).parse::<i64>().unwrap_or(-1)
        ));
    }
    let mut target = TargetFacts {
        name: name.to_string(),
        owner: get(0),
        sessions: get(9).parse().unwrap_or(0),
        allow_connections: get(4) == "t",
        create_options: options,
        ..Default::default()
    };
    if !get(10).is_empty() {
        target.carried.push(format!(
            "COMMENT ON DATABASE {DB} IS {}",
            quote_literal(&get(10))
        ));
    }
    if get(11) == "f" {
        target
            .carried
            .push(format!("REVOKE ALL ON DATABASE {DB} FROM PUBLIC"));
        for g in query(
            &mut s,
            &format!(
                "SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' \
                 ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.is_grantable \
                 FROM pg_database d, aclexplode(d.datacl) a \
                 WHERE d.datname = {lit} AND a.grantee <> d.datdba"
            ),
        )? {
            if let [privilege, grantee, grantable] = g.as_slice() {
                target.carried.push(format!(
                    "GRANT {privilege} ON DATABASE {DB} TO {grantee}{}",
                    if grantable == "t" {
                        " WITH GRANT OPTION"
                    } else {
                        ""
                    }
                ));
            }
        }
    }
    for g in query(
        &mut s,
        &format!(
            "SELECT coalesce(quote_ident(r.rolname), ''), unnest(c.setconfig) \
             FROM pg_db_role_setting c JOIN pg_database d ON d.oid = c.setdatabase \
             LEFT JOIN pg_roles r ON r.oid = c.setrole WHERE d.datname = {lit}"
        ),
    )? {
        if let [role, setting] = g.as_slice() {
            if let Some(set) = setting_sql(setting) {
                target.carried.push(if role.is_empty() {
                    format!("ALTER DATABASE {DB} {set}")
                } else {
                    format!("ALTER ROLE {role} IN DATABASE {DB} {set}")
                });
            }
        }
    }
    let _ = s.close();
    // Size and tables come from the target itself (it may refuse connections: then unknown).
    if let Ok(mut t) = PsqlSession::open(tools, &server.with_database(name)) {
        if let Ok(rows) = t.query(
            "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema') \
             AND n.nspname NOT LIKE 'pg_toast%'), pg_database_size(current_database())",
        ) {
            let row = rows.first().cloned().unwrap_or_default();
            target.tables = row.first().and_then(|v| v.parse().ok()).unwrap_or(0);
            target.bytes = row.get(1).and_then(|v| v.parse().ok()).unwrap_or(0);
        }
        let _ = t.close();
    }
    Ok((facts, Some(target)))
}

/// `name=value` from `pg_db_role_setting` as `SET name TO ...`; list settings such as
/// `search_path` keep their elements apart, as pg_dumpall writes them.
fn setting_sql(setting: &str) -> Option<String> {
    let (name, value) = setting.split_once('=')?;
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !ok {
        return None;
    }
    let list = matches!(
        name.to_ascii_lowercase().as_str(),
        "search_path"
            | "temp_tablespaces"
            | "session_preload_libraries"
            | "local_preload_libraries"
    );
    let value = if list {
        split_guc_list(value)
            .iter()
            .map(|e| quote_literal(e))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        quote_literal(value)
    };
    Some(format!("SET {name} TO {value}"))
}

/// Splits a list setting on commas outside double quotes, unquoting quoted elements.
fn split_guc_list(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur).trim().to_string()),
            c => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out.retain(|e| !e.is_empty());
    out
}

/// The names the swap uses for `target`, cut to PostgreSQL's 63 bytes.
pub fn swap_names(target: &str, tag: &str) -> (String, String) {
    let make = |kind: &str| {
        let suffix = format!("_lifeboat_{kind}_{tag}");
        let mut head = target.to_string();
        while head.len() + suffix.len() > MAX_NAME_BYTES {
            head.pop();
        }
        format!("{head}{suffix}")
    };
    (make("new"), make("old"))
}

/// The dry run's check of what the swap needs: CREATEDB, ownership of the target, free names.
pub fn swap_check(
    server: &ServerFacts,
    target: Option<&TargetFacts>,
    new_name: &str,
    old_name: &str,
) -> Result<String, String> {
    let me = &server.current_user;
    if !server.superuser && !server.createdb {
        return Err(format!(
            "role {me} lacks CREATEDB: lifeboat restores into a new database and swaps names; \
             grant it with `ALTER ROLE {} CREATEDB`, or connect as a role that has it",
            quote_identifier(me)
        ));
    }
    let leftovers = if server.leftovers.is_empty() {
        String::new()
    } else {
        format!(
            "; left by an earlier restore: {} (drop them once you no longer need them)",
            server.leftovers.join(", ")
        )
    };
    match target {
        Some(t) => {
            if !server.can_act_as(&t.owner) {
                return Err(format!(
                    "role {me} does not own the database {} (its owner is {}): renaming it needs \
                     ownership; connect as {} or a superuser, or `ALTER DATABASE {} OWNER TO {}`",
                    t.name,
                    t.owner,
                    t.owner,
                    quote_identifier(&t.name),
                    quote_identifier(me)
                ));
            }
            // A swap killed between refusing connections and renaming leaves exactly this.
            let refusing = if t.allow_connections {
                String::new()
            } else {
                format!(
                    "; {} refuses connections now (ALLOW_CONNECTIONS false; an interrupted swap \
                     leaves it so: `ALTER DATABASE {} ALLOW_CONNECTIONS true` lets the application back in)",
                    t.name,
                    quote_identifier(&t.name)
                )
            };
            Ok(format!(
                "restore into {new_name}, then rename {} to {old_name} and {new_name} to {}; \
                 {} other session(s) connected now are disconnected at the swap{leftovers}{refusing}",
                t.name, t.name, t.sessions
            ))
        }
        None => Ok(format!(
            "restore into {new_name}, then rename it to the target's name{leftovers}"
        )),
    }
}

/// Whether a database of this name exists.
pub fn database_exists(tools: &PgTools, server: &PgConn, name: &str) -> Result<bool, String> {
    let mut s = session(tools, server)?;
    let n = s
        .query_one(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = {}",
            quote_literal(name)
        ))
        .map_err(|e| e.to_string())?;
    let _ = s.close();
    Ok(n != "0")
}

/// Drops a database, disconnecting whoever is in it. Clean-up: it runs to its end also when
/// the job was cancelled (that is when a half-restored database must go).
pub fn drop_database(tools: &PgTools, server: &PgConn, name: &str) -> Result<(), String> {
    pg::on_maintenance_db(
        &tools.uncancellable(),
        server,
        &format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_identifier(name)
        ),
    )
}

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
) -> Result<(), String> {
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
    let restored = super::restore::pg_restore_into(
        tools,
        &server.with_database(new_name),
        dump,
        jobs,
        super::restore::TargetDb::Empty,
        owners == Owners::Keep,
    )
    .and_then(|()| match target {
        Some(t) if !t.carried.is_empty() => {
            let db = quote_identifier(new_name);
            let mut s = session(tools, server)?;
            for statement in &t.carried {
                let sql = statement.replace(DB, &db);
                query(&mut s, &sql).map_err(|e| format!("{sql}: {e}"))?;
            }
            let _ = s.close();
            Ok(())
        }
        _ => Ok(()),
    });
    if let Err(e) = restored {
        let dropped = match drop_database(tools, server, new_name) {
            Ok(()) => format!("the new database {new_name} was dropped"),
            Err(d) => {
                format!("the new database {new_name} could not be dropped ({d}): drop it by hand")
            }
        };
        return Err(format!("{e} ({dropped})"));
    }
    Ok(())
}

/// Puts `new_name` in the target's place. With an existing target: refuse new connections to
/// it, disconnect its sessions, rename it to `old_name`, rename the new one to the target's
/// name. If any step fails, the target gets its name and connections back and the new
/// database is dropped: the target is as it was. A swap that began is not cancelled: stopped
/// half-way, it would leave the target renamed or refusing connections.
pub fn swap_in(
    tools: &PgTools,
    server: &PgConn,
    target: &str,
    existing: Option<&TargetFacts>,
    new_name: &str,
    old_name: &str,
) -> Result<(), String> {
    let tools = &tools.uncancellable();
    let (t, n, o) = (
        quote_identifier(target),
        quote_identifier(new_name),
        quote_identifier(old_name),
    );
    let Some(existing) = existing else {
        let renamed =
            pg::on_maintenance_db(tools, server, &format!("ALTER DATABASE {n} RENAME TO {t}"));
        if let Err(e) = renamed {
            let _ = drop_database(tools, server, new_name);
            return Err(format!("renaming {new_name} to {target} failed: {e}"));
        }
        return Ok(());
    };
    let allow = if existing.allow_connections {
        "true"
    } else {
        "false"
    };
    let give_back = |why: String| {
        let _ = pg::on_maintenance_db(
            tools,
            server,
            &format!("ALTER DATABASE {t} ALLOW_CONNECTIONS {allow}"),
        );
        let _ = drop_database(tools, server, new_name);
        format!("{why}; the database {target} was left as it was and {new_name} was dropped")
    };
    pg::on_maintenance_db(
        tools,
        server,
        &format!("ALTER DATABASE {t} ALLOW_CONNECTIONS false"),
    )
    .map_err(|e| give_back(format!("cannot stop new connections to {target}: {e}")))?;
    let deadline = Instant::now() + SWAP_PATIENCE;
    loop {
        let attempt = session(tools, server).and_then(|mut s| {
            query(
                &mut s,
                &format!(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = {} AND pid <> pg_backend_pid()",
                    quote_literal(target)
                ),
            )?;
            query(&mut s, &format!("ALTER DATABASE {t} RENAME TO {o}"))?;
            let _ = s.close();
            Ok(())
        });
        match attempt {
            Ok(()) => break,
            // Terminated backends take a moment to go; a rename meanwhile is refused.
            Err(e) if e.contains("being accessed by other users") && Instant::now() < deadline => {
                std::thread::sleep(SWAP_RETRY)
            }
            Err(e) => {
                return Err(give_back(format!(
                    "renaming {target} to {old_name} failed: {e}"
                )))
            }
        }
    }
    let swapped =
        pg::on_maintenance_db(tools, server, &format!("ALTER DATABASE {n} RENAME TO {t}"));
    if let Err(e) = swapped {
        let _ = pg::on_maintenance_db(tools, server, &format!("ALTER DATABASE {o} RENAME TO {t}"));
        return Err(give_back(format!(
            "renaming {new_name} to {target} failed: {e}"
        )));
    }
    // The old copy takes connections again, so it can be inspected or renamed back.
    let _ = pg::on_maintenance_db(
        tools,
        server,
        &format!("ALTER DATABASE {o} ALLOW_CONNECTIONS {allow}"),
    );
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
) -> Result<(), String> {
    create_roles(tools, server, &db.roles)?;
    for name in [&db.new_name, &db.old_name] {
        if database_exists(tools, server, name)? {
            return Err(format!(
                "a database named {name} already exists (left by an earlier restore?); drop or rename it, then run the restore again"
            ));
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
) -> Result<String, String> {
    let roles = dump_roles(tools, dump, scratch)?;
    let (server, _) = inspect(tools, conn, "")?;
    let plan = RolePlan::decide(&roles, &server, recorded, create_roles_too);
    if let Some(problem) = plan.problem() {
        return Err(format!("the real restore would refuse this set: {problem}"));
    }
    create_roles(tools, conn, &plan)?;
    super::restore::pg_restore_into(
        tools,
        conn,
        dump,
        jobs,
        super::restore::TargetDb::Empty,
        Owners::of(&plan) == Owners::Keep,
    )?;
    Ok(plan.summary())
}

/// `text` as one shell word, quoted only when it needs to be.
pub fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The SQL that puts the old copy back, for the messages after the swap.
pub fn swap_back_sql(target: &str, old_name: &str) -> String {
    format!(
        "ALTER DATABASE {t} RENAME TO {f}; ALTER DATABASE {o} RENAME TO {t}",
        t = quote_identifier(target),
        f = quote_identifier(&format!("{target}_lifeboat_failed")),
        o = quote_identifier(old_name)
    )
}

/// Drops the old copy once the restore has passed its checks.
pub fn drop_old(tools: &PgTools, server: &PgConn, old_name: &str) -> Result<(), String> {
    drop_database(tools, server, old_name)
}

/// The dry run's database part: the dump's roles, the server's privileges, the target's state
/// and the swap's preconditions, as checks and problems in `plan`.
pub(super) fn plan_database(
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
    let push = |checks: &mut Vec<Check>, name: &str, r: Result<String, String>| {
        let (ok, detail) = match r {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        checks.push(Check {
            name: name.into(),
            ok,
            detail,
        });
    };
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
    let name = super::restore::target_database_name(&spec.target).or_else(|| {
        let mut session = pg::PsqlSession::open(tools, &spec.target).ok()?;
        let name = session.query_one("SELECT current_database()").ok();
        let _ = session.close();
        name.filter(|n| !n.is_empty())
    });
    let Some(name) = name else {
        push(
            checks,
            "target database",
            Err(format!(
                "cannot tell the database's name from {} and cannot connect to ask: lifeboat \
                 restores into a new database and renames it, so the URL (or --target-url) must \
                 name the database",
                spec.target.display()
            )),
        );
        return;
    };
    let (server, existing) = match inspect(tools, &spec.target, &name) {
        Ok(found) => found,
        Err(e) => {
            push(checks, "target database", Err(e));
            return;
        }
    };
    match &existing {
        Some(t) => push(
            checks,
            "target database",
            Ok(format!(
                "exists with {} tables ({} MiB), owner {}: it is replaced whole by a new database \
                 restored beside it, and kept under another name until the restore has passed",
                t.tables,
                t.bytes / (1024 * 1024),
                t.owner
            )),
        ),
        None => push(
            checks,
            "target database",
            Ok("does not exist yet: it will be created".into()),
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
pub(super) fn steps(db: &DbPlan, jobs: u32, dump_bytes: u64, tables: usize) -> Vec<String> {
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
        "pg_restore {}-j {jobs} into {} ({} KiB dump, {tables} tables); {}; if it fails, {} is dropped and {} is not touched",
        if Owners::of(&db.roles) == Owners::Drop { "--no-owner " } else { "" },
        db.new_name,
        dump_bytes / 1024,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_list_settings_element_by_element() {
        assert_eq!(
            setting_sql("search_path=\"$user\", public, \"My Schema\"").as_deref(),
            Some("SET search_path TO '$user', 'public', 'My Schema'")
        );
        assert_eq!(
            setting_sql("work_mem=64MB").as_deref(),
            Some("SET work_mem TO '64MB'")
        );
        assert_eq!(
            setting_sql("app.note=it's").as_deref(),
            Some("SET app.note TO 'it''s'")
        );
        assert_eq!(setting_sql("bad name;=x"), None);
    }

    #[test]
    fn quotes_shell_words_only_when_needed() {
        assert_eq!(
            shell_word("postgresql://u@h:5/app"),
            "postgresql://u@h:5/app"
        );
        assert_eq!(shell_word("dbname=it's x"), r"'dbname=it'\''s x'");
        assert_eq!(shell_word("a?b&c"), "'a?b&c'");
    }

    #[test]
    fn swap_names_fit_in_63_bytes() {
        let (new, old) = swap_names(&"x".repeat(80), "20261204T150000");
        assert!(new.len() <= 63 && old.len() <= 63, "{new} {old}");
        assert!(new.ends_with("_lifeboat_new_20261204T150000"));
        let (new, old) = swap_names("app", "t1");
        assert_eq!(
            (new.as_str(), old.as_str()),
            ("app_lifeboat_new_t1", "app_lifeboat_old_t1")
        );
    }

    #[test]
    fn swap_check_names_the_missing_privilege() {
        let mut s = ServerFacts {
            current_user: "deploy".into(),
            roles: ["deploy", "app"].iter().map(|r| r.to_string()).collect(),
            member_of: ["deploy".to_string()].into(),
            ..Default::default()
        };
        s.createdb = false;
        let err = swap_check(&s, None, "n", "o").unwrap_err();
        assert!(err.contains("CREATEDB"), "{err}");
        s.createdb = true;
        let t = TargetFacts {
            name: "app".into(),
            owner: "app".into(),
            ..Default::default()
        };
        let err = swap_check(&s, Some(&t), "n", "o").unwrap_err();
        assert!(err.contains("does not own the database app"), "{err}");
    }
}
