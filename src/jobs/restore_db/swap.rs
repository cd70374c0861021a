//! The swap that puts a restored database in the target's place by name: the names it uses,
//! the dry run's check of what it needs, the swap itself with its undo, and the drops of the
//! new database (on failure) and of the old copy (once the restore passed).

use super::error::DbError;
use super::facts::{ServerFacts, TargetFacts};
use super::{quote_literal, session};
use crate::storage::pg::{self, quote_identifier, PgConn, PgError, PgTools};
use std::time::{Duration, Instant};

/// PostgreSQL truncates identifiers beyond this many bytes (NAMEDATALEN - 1).
const MAX_NAME_BYTES: usize = 63;
/// How long the swap keeps terminating sessions that hold the target open before giving up.
const SWAP_PATIENCE: Duration = Duration::from_secs(15);
const SWAP_RETRY: Duration = Duration::from_millis(200);

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

/// Why the swap could not be done by the connecting role: the dry run's failed check.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SwapRefused {
    #[error("role {role} lacks CREATEDB: lifeboat restores into a new database and swaps names; grant it with `ALTER ROLE {} CREATEDB`, or connect as a role that has it", quote_identifier(role))]
    NoCreatedb { role: String },
    #[error("role {role} does not own the database {database} (its owner is {owner}): renaming it needs ownership; connect as {owner} or a superuser, or `ALTER DATABASE {} OWNER TO {}`", quote_identifier(database), quote_identifier(role))]
    NotOwner {
        role: String,
        database: String,
        owner: String,
    },
}

/// The dry run's check of what the swap needs: CREATEDB, ownership of the target, free names.
pub fn swap_check(
    server: &ServerFacts,
    target: Option<&TargetFacts>,
    new_name: &str,
    old_name: &str,
) -> Result<String, SwapRefused> {
    let me = &server.current_user;
    if !server.superuser && !server.createdb {
        return Err(SwapRefused::NoCreatedb { role: me.clone() });
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
                return Err(SwapRefused::NotOwner {
                    role: me.clone(),
                    database: t.name.clone(),
                    owner: t.owner.clone(),
                });
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
pub fn database_exists(tools: &PgTools, server: &PgConn, name: &str) -> Result<bool, PgError> {
    let mut s = session(tools, server)?;
    let n = s.query_one(&format!(
        "SELECT count(*) FROM pg_database WHERE datname = {}",
        quote_literal(name)
    ))?;
    let _ = s.close();
    Ok(n != "0")
}

/// Drops a database, disconnecting whoever is in it. Clean-up: it runs to its end also when
/// the job was cancelled (that is when a half-restored database must go).
pub fn drop_database(tools: &PgTools, server: &PgConn, name: &str) -> Result<(), PgError> {
    pg::on_maintenance_db(
        &tools.uncancellable(),
        server,
        &format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_identifier(name)
        ),
    )
}

/// Drops the old copy once the restore has passed its checks.
pub fn drop_old(tools: &PgTools, server: &PgConn, old_name: &str) -> Result<(), PgError> {
    drop_database(tools, server, old_name)
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
) -> Result<(), DbError> {
    let tools = &tools.uncancellable();
    let (t, n, o) = (
        quote_identifier(target),
        quote_identifier(new_name),
        quote_identifier(old_name),
    );
    let rename = |from: &str, to: &str, source: PgError| DbError::Rename {
        from: from.to_string(),
        to: to.to_string(),
        source,
    };
    let Some(existing) = existing else {
        let renamed =
            pg::on_maintenance_db(tools, server, &format!("ALTER DATABASE {n} RENAME TO {t}"));
        if let Err(e) = renamed {
            let _ = drop_database(tools, server, new_name);
            return Err(rename(new_name, target, e));
        }
        return Ok(());
    };
    let allow = if existing.allow_connections {
        "true"
    } else {
        "false"
    };
    let give_back = |why: DbError| {
        let _ = pg::on_maintenance_db(
            tools,
            server,
            &format!("ALTER DATABASE {t} ALLOW_CONNECTIONS {allow}"),
        );
        let _ = drop_database(tools, server, new_name);
        DbError::SwapUndone {
            source: Box::new(why),
            target: target.to_string(),
            new_name: new_name.to_string(),
        }
    };
    pg::on_maintenance_db(
        tools,
        server,
        &format!("ALTER DATABASE {t} ALLOW_CONNECTIONS false"),
    )
    .map_err(|source| {
        give_back(DbError::StopConnections {
            target: target.to_string(),
            source,
        })
    })?;
    let deadline = Instant::now() + SWAP_PATIENCE;
    loop {
        let attempt = session(tools, server).and_then(|mut s| {
            s.query(&format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = {} AND pid <> pg_backend_pid()",
                quote_literal(target)
            ))?;
            s.query(&format!("ALTER DATABASE {t} RENAME TO {o}"))?;
            let _ = s.close();
            Ok(())
        });
        match attempt {
            Ok(()) => break,
            // Terminated backends take a moment to go; a rename meanwhile is refused.
            Err(e)
                if e.to_string().contains("being accessed by other users")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(SWAP_RETRY)
            }
            Err(e) => return Err(give_back(rename(target, old_name, e))),
        }
    }
    let swapped =
        pg::on_maintenance_db(tools, server, &format!("ALTER DATABASE {n} RENAME TO {t}"));
    if let Err(e) = swapped {
        let _ = pg::on_maintenance_db(tools, server, &format!("ALTER DATABASE {o} RENAME TO {t}"));
        return Err(give_back(rename(new_name, target, e)));
    }
    // The old copy takes connections again, so it can be inspected or renamed back.
    let _ = pg::on_maintenance_db(
        tools,
        server,
        &format!("ALTER DATABASE {o} ALLOW_CONNECTIONS {allow}"),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let err = swap_check(&s, None, "n", "o").unwrap_err().to_string();
        assert_eq!(
            err,
            "role deploy lacks CREATEDB: lifeboat restores into a new database and swaps names; \
             grant it with `ALTER ROLE \"deploy\" CREATEDB`, or connect as a role that has it"
        );
        s.createdb = true;
        let t = TargetFacts {
            name: "My app".into(),
            owner: "app".into(),
            ..Default::default()
        };
        let err = swap_check(&s, Some(&t), "n", "o").unwrap_err().to_string();
        assert_eq!(
            err,
            "role deploy does not own the database My app (its owner is app): renaming it needs \
             ownership; connect as app or a superuser, or `ALTER DATABASE \"My app\" OWNER TO \"deploy\"`"
        );
    }
}
