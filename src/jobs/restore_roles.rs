//! The dump's roles on the target server: which roles own objects or receive grants in the
//! dump (read from `pg_restore --list` and the SQL of its ACL entries), which of them the server
//! lacks, whether owners can be kept, and the `CREATE ROLE` statements of `--create-roles`.
//! `restore_db` asks [`RolePlan::decide`] and carries the answer into the plan, the real
//! restore and the drill alike.

use super::restore_db::{session, DbError, ServerFacts};
use crate::storage::manifest::RoleFacts;
use crate::storage::pg::{quote_identifier, PgConn, PgTools};
use serde::Serialize;
use std::path::Path;

/// The roles the dump names: owners of its objects and grantees (and grantors) of its ACLs.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct DumpRoles {
    pub owners: Vec<String>,
    pub grantees: Vec<String>,
}

/// Reads owners from `pg_restore --list` and grantees from the SQL of the dump's ACL entries
/// (`pg_restore -L <only the ACL entries> -f -`): the list shows only an ACL's owner.
pub fn dump_roles(tools: &PgTools, dump: &Path, scratch: &Path) -> Result<DumpRoles, DbError> {
    let list = super::restore::list_dump(tools, dump)?;
    roles_in_list(tools, &list, dump, scratch)
}

/// [`dump_roles`] for a table of contents already read (`restore::list_dump`).
pub fn roles_in_list(
    tools: &PgTools,
    list: &str,
    dump: &Path,
    scratch: &Path,
) -> Result<DumpRoles, DbError> {
    let mut roles = DumpRoles::default();
    let mut acl_lines = String::new();
    for line in list.lines() {
        let Some((_, entry)) = line.split_once("; ") else {
            continue;
        };
        if line.starts_with(';') {
            continue;
        }
        let words: Vec<&str> = entry.split_whitespace().skip(2).collect();
        let acl = words.first() == Some(&"ACL")
            || (words.first() == Some(&"DEFAULT") && words.get(1) == Some(&"ACL"));
        if acl {
            acl_lines.push_str(line);
            acl_lines.push('\n');
            continue;
        }
        let skip = [
            "TABLE DATA",
            "SEQUENCE SET",
            "COMMENT",
            "EXTENSION",
            "BLOB DATA",
        ];
        let kind = words.join(" ");
        if words.len() >= 4 && !skip.iter().any(|k| kind.starts_with(k)) {
            if let Some(owner) = words.last() {
                if *owner != "-" {
                    push_unique(&mut roles.owners, owner);
                }
            }
        }
    }
    if !acl_lines.is_empty() {
        let list_file = scratch.join("acl.list");
        std::fs::write(&list_file, acl_lines).map_err(|source| DbError::Scratch {
            path: list_file.clone(),
            source,
        })?;
        let out = tools
            .command("pg_restore")
            .arg("-L")
            .arg(&list_file)
            .args(["-f", "-"])
            .arg(dump)
            .output()?;
        let _ = std::fs::remove_file(&list_file);
        if !out.status.success() {
            return Err(DbError::AclEntries(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        for role in acl_roles(&String::from_utf8_lossy(&out.stdout)) {
            push_unique(&mut roles.grantees, &role);
        }
    }
    Ok(roles)
}

fn push_unique(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|r| r == name) {
        list.push(name.to_string());
    }
}

/// The roles named in GRANT, REVOKE and `SET SESSION AUTHORIZATION` statements (pg_dump writes
/// one grantee per statement); PUBLIC is not a role.
pub fn acl_roles(sql: &str) -> Vec<String> {
    let mut roles = Vec::new();
    for line in sql.lines().map(str::trim) {
        let statement = line.trim_end_matches(';');
        let tail = if let Some(rest) = statement.strip_prefix("SET SESSION AUTHORIZATION ") {
            Some(rest)
        } else if statement.starts_with("GRANT ") || statement.contains(" GRANT ") {
            statement.rsplit_once(" TO ").map(|(_, r)| r)
        } else if statement.starts_with("REVOKE ") || statement.contains(" REVOKE ") {
            statement.rsplit_once(" FROM ").map(|(_, r)| r)
        } else {
            None
        };
        let Some(tail) = tail else { continue };
        let tail = tail.trim_end_matches(" WITH GRANT OPTION").trim();
        if let Some(name) = parse_identifier(tail) {
            if name != "PUBLIC" || tail.starts_with('"') {
                push_unique(&mut roles, &name);
            }
        }
    }
    roles
}

/// An identifier as pg_dump writes it: bare, or double-quoted with `""` inside.
fn parse_identifier(text: &str) -> Option<String> {
    if let Some(inner) = text.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    out.push('"');
                } else {
                    return Some(out);
                }
            } else {
                out.push(c);
            }
        }
        return None;
    }
    let word = text.split_whitespace().next()?;
    let quoted = word.strip_prefix('\'').and_then(|w| w.strip_suffix('\''));
    Some(quoted.unwrap_or(word).to_string())
}

/// What the restore does about the dump's roles on this server.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RolePlan {
    /// Owners and grantees the server lacks, sorted.
    pub missing_owners: Vec<String>,
    pub missing_grantees: Vec<String>,
    /// Created before pg_restore (`--create-roles`).
    pub create: Vec<RoleFacts>,
    /// `None`: owners are kept. `Some(role)`: every object ends up owned by `role`.
    pub owners_become: Option<String>,
    /// Why owners are not kept, when they are not.
    pub owner_reason: Option<String>,
}

impl RolePlan {
    /// `recorded`: the roles' attributes from the set's manifest, when it has them.
    pub fn decide(
        dump: &DumpRoles,
        server: &ServerFacts,
        recorded: &[RoleFacts],
        create_roles: bool,
    ) -> RolePlan {
        let lacks = |r: &&String| !server.roles.contains(*r);
        let mut plan = RolePlan {
            missing_owners: dump.owners.iter().filter(lacks).cloned().collect(),
            missing_grantees: dump
                .grantees
                .iter()
                .filter(lacks)
                .filter(|g| !dump.owners.contains(g))
                .cloned()
                .collect(),
            ..Default::default()
        };
        plan.missing_owners.sort();
        plan.missing_grantees.sort();
        if create_roles {
            plan.create = plan
                .missing_owners
                .iter()
                .chain(&plan.missing_grantees)
                .map(|name| {
                    recorded
                        .iter()
                        .find(|r| &r.name == name)
                        .cloned()
                        .unwrap_or_else(|| RoleFacts::nologin(name))
                })
                .collect();
        }
        let cannot_give: Vec<&String> = dump
            .owners
            .iter()
            .filter(|o| !server.can_act_as(o))
            .collect();
        if !plan.missing_owners.is_empty() && !create_roles {
            plan.owners_become = Some(server.current_user.clone());
            plan.owner_reason = Some(format!(
                "the server lacks the owner role(s) {} (--create-roles creates them)",
                plan.missing_owners.join(", ")
            ));
        } else if !cannot_give.is_empty() {
            plan.owners_become = Some(server.current_user.clone());
            plan.owner_reason = Some(format!(
                "{} is neither a superuser nor a member of {}, so it cannot give objects to them",
                server.current_user,
                cannot_give
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        plan
    }

    /// Grants to roles the server lacks make pg_restore stop: refuse before touching anything.
    pub fn problem(&self) -> Option<String> {
        (!self.missing_grantees.is_empty() && self.create.is_empty()).then(|| {
            format!(
                "the dump grants privileges to role(s) the target server lacks: {}; rerun with \
                 --create-roles to create them (NOLOGIN unless the set recorded LOGIN, no \
                 password), or create them yourself",
                self.missing_grantees.join(", ")
            )
        })
    }

    /// One line for the plan and the outcome; loud when ownership changes.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.create.is_empty() {
            parts.push(format!(
                "create role(s) {}",
                self.create
                    .iter()
                    .map(RoleFacts::create_sql)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        match (&self.owners_become, &self.owner_reason) {
            (Some(to), Some(why)) => parts.push(format!(
                "OWNERSHIP CHANGES: every object is restored owned by {to}, not by its owner in the dump, because {why}"
            )),
            _ => parts.push("owners kept as in the dump".into()),
        }
        parts.join("; ")
    }
}

impl RoleFacts {
    pub fn nologin(name: &str) -> RoleFacts {
        RoleFacts {
            name: name.to_string(),
            inherit: true,
            connection_limit: -1,
            ..Default::default()
        }
    }

    /// `CREATE ROLE` with the recorded attributes and no password. SUPERUSER is never given:
    /// an operator grants that by hand.
    pub fn create_sql(&self) -> String {
        let mut sql = format!(
            "CREATE ROLE {} WITH {}",
            quote_identifier(&self.name),
            if self.login { "LOGIN" } else { "NOLOGIN" }
        );
        for (on, word) in [
            (self.createdb, "CREATEDB"),
            (self.createrole, "CREATEROLE"),
            (self.replication, "REPLICATION"),
            (self.bypassrls, "BYPASSRLS"),
        ] {
            if on {
                sql.push(' ');
                sql.push_str(word);
            }
        }
        if !self.inherit {
            sql.push_str(" NOINHERIT");
        }
        if self.connection_limit >= 0 {
            sql.push_str(&format!(" CONNECTION LIMIT {}", self.connection_limit));
        }
        sql
    }
}

/// Creates the roles of `plan.create` on the server.
pub fn create_roles(tools: &PgTools, server: &PgConn, plan: &RolePlan) -> Result<(), DbError> {
    if plan.create.is_empty() {
        return Ok(());
    }
    let mut s = session(tools, server)?;
    for role in &plan.create {
        let sql = role.create_sql();
        s.query(&sql)
            .map_err(|source| DbError::Statement { sql, source })?;
    }
    let _ = s.close();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_grantees_grantors_and_skips_public() {
        let sql = "GRANT SELECT ON TABLE public.documents TO reader;\n\
                   REVOKE ALL ON SCHEMA public FROM PUBLIC;\n\
                   GRANT ALL ON SCHEMA billing TO \"Weird \"\"Role\";\n\
                   ALTER DEFAULT PRIVILEGES FOR ROLE app IN SCHEMA public GRANT SELECT ON TABLES TO auditor;\n\
                   SET SESSION AUTHORIZATION grantor;\n\
                   GRANT UPDATE ON TABLE x TO writer WITH GRANT OPTION;\n\
                   REVOKE ALL ON TABLE y FROM app;\n";
        assert_eq!(
            acl_roles(sql),
            vec![
                "reader",
                "Weird \"Role",
                "auditor",
                "grantor",
                "writer",
                "app"
            ]
        );
    }

    fn server(user: &str, superuser: bool, roles: &[&str], member_of: &[&str]) -> ServerFacts {
        ServerFacts {
            current_user: user.into(),
            superuser,
            createdb: true,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            member_of: member_of.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn keeps_owners_only_when_it_can() {
        let dump = DumpRoles {
            owners: vec!["app".into(), "ghost".into()],
            grantees: vec!["reader".into(), "app".into()],
        };
        let su = server("postgres", true, &["postgres", "app"], &[]);
        let plan = RolePlan::decide(&dump, &su, &[], false);
        assert_eq!(plan.missing_owners, vec!["ghost"]);
        assert_eq!(plan.missing_grantees, vec!["reader"]);
        assert_eq!(plan.owners_become.as_deref(), Some("postgres"));
        assert!(plan.problem().is_some_and(|p| p.contains("reader")));
        assert!(plan.summary().contains("OWNERSHIP CHANGES"));

        let recorded = vec![RoleFacts {
            login: true,
            ..RoleFacts::nologin("reader")
        }];
        let plan = RolePlan::decide(&dump, &su, &recorded, true);
        assert_eq!(plan.owners_become, None);
        assert_eq!(plan.problem(), None);
        let sql: Vec<String> = plan.create.iter().map(RoleFacts::create_sql).collect();
        assert_eq!(
            sql,
            vec![
                "CREATE ROLE \"ghost\" WITH NOLOGIN",
                "CREATE ROLE \"reader\" WITH LOGIN"
            ]
        );

        let all_there = DumpRoles {
            owners: vec!["app".into()],
            grantees: vec![],
        };
        let plain = server("deploy", false, &["deploy", "app"], &["deploy"]);
        let plan = RolePlan::decide(&all_there, &plain, &[], false);
        assert!(plan
            .owner_reason
            .as_deref()
            .is_some_and(|r| r.contains("cannot give objects")));
        let member = server("deploy", false, &["deploy", "app"], &["deploy", "app"]);
        assert_eq!(
            RolePlan::decide(&all_there, &member, &[], false).owners_become,
            None
        );
    }
}
