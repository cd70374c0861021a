//! The dump's table of contents: `pg_restore --list` and its summary for the plan.

use super::TocSummary;
use crate::jobs::restore_db::DbError;
use crate::storage::postgres::PgTools;
use std::path::Path;

/// The dump's table of contents as `pg_restore --list` prints it (read once per plan: the
/// summary and the roles both come from it).
pub fn list_dump(tools: &PgTools, dump: &Path) -> Result<String, DbError> {
    let out = tools
        .command("pg_restore")
        .arg("--list")
        .arg(dump)
        .output()?;
    if !out.status.success() {
        return Err(DbError::List(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Summarises `pg_restore --list` output.
pub fn parse_toc(text: &str) -> TocSummary {
    let mut toc = TocSummary::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(";") {
            let rest = rest.trim();
            if let Some(v) = rest.strip_prefix("Dumped by pg_dump version:") {
                toc.dumped_by = v.trim().to_string();
            } else if let Some(v) = rest.strip_prefix("Dumped from database version:") {
                toc.dumped_from = v.trim().to_string();
            }
            continue;
        }
        let Some((_, entry)) = line.split_once("; ") else {
            continue;
        };
        // "<tableoid> <oid> <TYPE...> <schema> <name> <owner>"
        let words: Vec<&str> = entry.split_whitespace().skip(2).collect();
        if words.is_empty() {
            continue;
        }
        toc.entries += 1;
        let kind = |k: &str| words.join(" ").starts_with(k);
        if kind("TABLE DATA") || kind("SEQUENCE SET") || kind("SEQUENCE OWNED BY") {
        } else if kind("TABLE ") {
            toc.tables += 1;
        } else if kind("INDEX ") {
            toc.indexes += 1;
        } else if kind("SEQUENCE ") {
            toc.sequences += 1;
        } else if kind("SCHEMA ") {
            if let Some(name) = words.get(2) {
                toc.schemas.push(name.to_string());
            }
        } else if kind("EXTENSION ") {
            if let Some(name) = words.get(2) {
                toc.extensions.push(name.to_string());
            }
        }
        if let Some(owner) = words.last() {
            if words.len() >= 4
                && *owner != "-"
                && !toc.owners.iter().any(|o| o == owner)
                && !kind("TABLE DATA")
                && !kind("SEQUENCE SET")
                && !kind("COMMENT")
                && !kind("EXTENSION")
            {
                toc.owners.push(owner.to_string());
            }
        }
    }
    toc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_a_table_of_contents() {
        let text = ";\n; Archive created at 2026-11-22 00:24:32 UTC\n;     Dumped from database version: 15.18 (Debian)\n;     Dumped by pg_dump version: 15.18 (Debian)\n;\n\
5; 2615 16400 SCHEMA - billing app\n\
215; 1259 16390 TABLE public User app\n\
216; 1259 16391 TABLE billing invoices app\n\
217; 1259 16392 SEQUENCE public User_id_seq app\n\
3360; 0 0 SEQUENCE OWNED BY public User_id_seq app\n\
3400; 0 16390 TABLE DATA public User app\n\
3250; 1259 16410 INDEX public documents_owner app\n\
2; 3079 16384 EXTENSION - pgcrypto \n";
        let toc = parse_toc(text);
        assert_eq!(toc.tables, 2);
        assert_eq!(toc.indexes, 1);
        assert_eq!(toc.sequences, 1);
        assert_eq!(toc.schemas, vec!["billing"]);
        assert_eq!(toc.extensions, vec!["pgcrypto"]);
        assert_eq!(toc.owners, vec!["app"]);
        assert!(toc.dumped_by.starts_with("15.18"));
        assert_eq!(toc.entries, 8);
    }
}
