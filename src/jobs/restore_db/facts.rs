//! What the restore must know of the target's server and database before it touches either:
//! the connecting role's privileges and the server's roles ([`ServerFacts`]), and the existing
//! target as the new database must reproduce it ([`TargetFacts`]: encoding, locale,
//! tablespace, connection limit, and the settings, comment and grants pg_dump leaves out of a
//! dump made without `--create`). Read by [`inspect`] for the dry run, the real restore and
//! the drill alike.

use super::{quote_literal, session, DB};
use crate::storage::pg::{quote_identifier, PgConn, PgError, PgTools, PsqlSession};
use serde::Serialize;
use std::collections::BTreeSet;

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

fn flag(v: Option<&String>) -> bool {
    v.is_some_and(|v| v == "t")
}

/// Reads the server's roles and privileges and, when it exists, the target database `name`.
pub fn inspect(
    tools: &PgTools,
    server: &PgConn,
    name: &str,
) -> Result<(ServerFacts, Option<TargetFacts>), PgError> {
    let mut s = session(tools, server)?;
    let facts = server_facts(&mut s, name)?;
    let target = target_facts(&mut s, name)?;
    let _ = s.close();
    let Some(mut target) = target else {
        return Ok((facts, None));
    };
    measure(tools, server, &mut target);
    Ok((facts, Some(target)))
}

/// The connecting role, every role on the server, and the swap databases left beside `name`.
fn server_facts(s: &mut PsqlSession, name: &str) -> Result<ServerFacts, PgError> {
    let me = s.query(
        "SELECT current_user, rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user",
    )?;
    let me = me.first().cloned().unwrap_or_default();
    let mut facts = ServerFacts {
        current_user: me.first().cloned().unwrap_or_default(),
        superuser: flag(me.get(1)),
        createdb: flag(me.get(2)),
        ..Default::default()
    };
    for row in s.query("SELECT rolname, pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles")? {
        if let Some(role) = row.first() {
            facts.roles.insert(role.clone());
            if flag(row.get(1)) {
                facts.member_of.insert(role.clone());
            }
        }
    }
    let like = name
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    facts.leftovers = s
        .query(&format!(
            "SELECT datname FROM pg_database WHERE datname LIKE {} ORDER BY 1",
            quote_literal(&format!("{like}\\_lifeboat\\_%"))
        ))?
        .into_iter()
        .filter_map(|r| r.into_iter().next())
        .collect();
    Ok(facts)
}

/// The target database `name` as the new one must reproduce it; `None` when it does not exist.
fn target_facts(s: &mut PsqlSession, name: &str) -> Result<Option<TargetFacts>, PgError> {
    let lit = quote_literal(name);
    let rows = s.query(&format!(
        "SELECT pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, \
         d.datctype, d.datallowconn, d.datconnlimit, t.spcname, \
         coalesce(to_jsonb(d)->>'datlocprovider', ''), \
         coalesce(to_jsonb(d)->>'daticulocale', to_jsonb(d)->>'datlocale', ''), \
         (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname \
          AND a.pid <> pg_backend_pid()), \
         coalesce(shobj_description(d.oid, 'pg_database'), ''), d.datacl IS NULL \
         FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace \
         WHERE d.datname = {lit}"
    ))?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let get = |i: usize| row.get(i).cloned().unwrap_or_default();
    let mut target = TargetFacts {
        name: name.to_string(),
        owner: get(0),
        sessions: get(9).parse().unwrap_or(0),
        allow_connections: get(4) == "t",
        create_options: create_options(&get),
        ..Default::default()
    };
    if !get(10).is_empty() {
        target.carried.push(format!(
            "COMMENT ON DATABASE {DB} IS {}",
            quote_literal(&get(10))
        ));
    }
    // A NULL datacl is the default grants: nothing to carry.
    if get(11) == "f" {
        target
            .carried
            .push(format!("REVOKE ALL ON DATABASE {DB} FROM PUBLIC"));
        target.carried.extend(grants(s, &lit)?);
    }
    target.carried.extend(settings(s, &lit)?);
    Ok(Some(target))
}

/// `ENCODING ... LC_COLLATE ... TABLESPACE ...` for CREATE DATABASE, from the target's row.
fn create_options(get: &dyn Fn(usize) -> String) -> String {
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
    options
}

/// The target's grants other than its owner's, as GRANT statements on `{db}`.
fn grants(s: &mut PsqlSession, lit: &str) -> Result<Vec<String>, PgError> {
    let rows = s.query(&format!(
        "SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' \
         ELSE quote_ident(pg_get_userbyid(a.grantee)) END, a.is_grantable \
         FROM pg_database d, aclexplode(d.datacl) a \
         WHERE d.datname = {lit} AND a.grantee <> d.datdba"
    ))?;
    Ok(rows
        .iter()
        .filter_map(|g| match g.as_slice() {
            [privilege, grantee, grantable] => Some(format!(
                "GRANT {privilege} ON DATABASE {DB} TO {grantee}{}",
                if grantable == "t" {
                    " WITH GRANT OPTION"
                } else {
                    ""
                }
            )),
            _ => None,
        })
        .collect())
}

/// The target's database-level settings (for everyone, or for one role in it) on `{db}`.
fn settings(s: &mut PsqlSession, lit: &str) -> Result<Vec<String>, PgError> {
    let rows = s.query(&format!(
        "SELECT coalesce(quote_ident(r.rolname), ''), unnest(c.setconfig) \
         FROM pg_db_role_setting c JOIN pg_database d ON d.oid = c.setdatabase \
         LEFT JOIN pg_roles r ON r.oid = c.setrole WHERE d.datname = {lit}"
    ))?;
    Ok(rows
        .iter()
        .filter_map(|g| match g.as_slice() {
            [role, setting] => {
                let set = setting_sql(setting)?;
                Some(if role.is_empty() {
                    format!("ALTER DATABASE {DB} {set}")
                } else {
                    format!("ALTER ROLE {role} IN DATABASE {DB} {set}")
                })
            }
            _ => None,
        })
        .collect())
}

/// Size and tables come from the target itself (it may refuse connections: then unknown).
fn measure(tools: &PgTools, server: &PgConn, target: &mut TargetFacts) {
    let Ok(mut t) = PsqlSession::open(tools, &server.with_database(&target.name)) else {
        return;
    };
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
}
