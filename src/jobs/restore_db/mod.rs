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
//! - [`facts`]: what the server and the target are ([`ServerFacts`], [`TargetFacts`]);
//! - [`plan`]: the dry run's checks and steps for the database;
//! - [`fresh`]: the new database restored (and, for a drill, the throwaway one);
//! - [`swap`]: the names, the swap and its undo, the drops;
//! - [`error`]: why any of it failed ([`DbError`]).
//!
//! Why not the alternatives: `pg_restore --single-transaction` cannot run with `-j` (the
//! restore time of a real database grows several-fold) and holds every lock in one transaction
//! against the live application; ordering `--clean` drops by hand breaks on partitions whose
//! primary keys are inherited, foreign keys between partitioned tables, and objects the dump
//! does not know about.
//!
//! [`dump_roles`]: super::restore_roles::dump_roles
//! [`RolePlan`]: super::restore_roles::RolePlan

mod error;
mod facts;
mod fresh;
mod plan;
mod swap;

pub use error::DbError;
pub use facts::{inspect, ServerFacts, TargetFacts};
pub use fresh::{restore_and_swap, restore_for_drill, restore_fresh, Owners};
pub(super) use plan::{plan_database, steps};
pub use swap::{
    database_exists, drop_database, drop_old, swap_back_sql, swap_check, swap_in, swap_names,
    SwapRefused,
};

use crate::storage::pg::{PgConn, PgError, PgTools, PsqlSession};

/// `text` as an SQL string literal (standard_conforming_strings, on since 9.1).
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The database name placeholder in [`TargetFacts::carried`].
const DB: &str = "{db}";

/// A session on `server`'s maintenance database.
pub(super) fn session(tools: &PgTools, server: &PgConn) -> Result<PsqlSession, PgError> {
    PsqlSession::open(tools, &server.maintenance())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_shell_words_only_when_needed() {
        assert_eq!(
            shell_word("postgresql://u@h:5/app"),
            "postgresql://u@h:5/app"
        );
        assert_eq!(shell_word("dbname=it's x"), r"'dbname=it'\''s x'");
        assert_eq!(shell_word("a?b&c"), "'a?b&c'");
    }
}
