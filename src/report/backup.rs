//! `lifeboat backup`'s result: the set written, its objects and key-table row counts, as text
//! or as the JSON document of `--json`.

use super::format;
use crate::jobs::backup::{BackupError, BackupOutcome};
use crate::storage::manifest::RepositoryRole;
use serde_json::{json, Value};
use std::fmt::Write;

pub fn text(outcome: &BackupOutcome) -> String {
    let mut out = String::new();
    for id in &outcome.resumed {
        let _ = writeln!(out, "uploaded spooled set {id}");
    }
    if let (Some(id), Some(m)) = (&outcome.set_id, &outcome.manifest) {
        let _ = writeln!(
            out,
            "✓ set {id} complete ({})",
            format::bytes(m.components.iter().map(|c| c.stored_bytes).sum())
        );
        for c in &m.components {
            let _ = writeln!(
                out,
                "  {:<20} {:>10}  sha256 {}  {}",
                c.object,
                format::bytes(c.stored_bytes),
                format::short_hash(&c.stored_sha256),
                if c.repository == RepositoryRole::Secrets {
                    "(secrets repository)"
                } else {
                    ""
                }
            );
        }
        for t in &m.source.key_tables {
            let _ = writeln!(out, "  rows {:<24} {}", t.table, t.rows);
        }
    }
    for w in &outcome.warnings {
        let _ = writeln!(out, "! {w}");
    }
    out
}

pub fn json(result: &Result<BackupOutcome, BackupError>) -> Value {
    match result {
        Ok(o) => json!({
            "ok": true,
            "set_id": o.set_id.as_ref().map(|s| s.to_string()),
            "checksums_sha256": o.checksums_sha256,
            "resumed": o.resumed.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "warnings": o.warnings,
            "manifest": o.manifest,
        }),
        Err(e) => {
            let (set_id, spool) = match e {
                BackupError::Spooled { set_id, spool, .. } => {
                    (Some(set_id.to_string()), Some(spool.display().to_string()))
                }
                _ => (None, None),
            };
            json!({ "ok": false, "error": e.to_string(), "set_id": set_id, "spooled_at": spool })
        }
    }
}
