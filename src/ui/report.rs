//! Plain-text and JSON renderings of job results for the headless commands. Meaning is carried
//! by words and symbols, never by colour alone.

use super::format;
use crate::jobs::backup::{BackupError, BackupOutcome};
use crate::jobs::inventory::Inventory;
use crate::jobs::open_uploads;
use crate::jobs::progress::Progress;
use crate::jobs::status::StatusReport;
use crate::jobs::verify::{ObjectStatus, VerifyReport};
use crate::storage::journal::JournalView;
use chrono::Utc;
use serde_json::{json, Value};
use std::fmt::Write;

pub fn progress_line(p: &Progress) -> String {
    let total = p.total.map(format::bytes).unwrap_or_else(|| "?".into());
    let eta = p
        .eta()
        .map(|d| format!(" ETA {}", format::age(d)))
        .unwrap_or_default();
    format!(
        "{:<10} {:>3.0}%  {} / {}  {}{}",
        p.phase,
        p.ratio() * 100.0,
        format::bytes(p.done),
        total,
        format::rate(p.throughput()),
        eta
    )
}

pub fn backup_text(outcome: &BackupOutcome) -> String {
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
                if c.repository == crate::storage::manifest::RepositoryRole::Secrets {
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

pub fn backup_json(result: &Result<BackupOutcome, BackupError>) -> Value {
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

pub fn verify_text(report: &VerifyReport) -> String {
    let mut out = String::new();
    for set in &report.sets {
        let mark = if set.ok { "✓" } else { "✗" };
        let _ = writeln!(
            out,
            "{mark} set {} ({:?}): {}",
            set.set_id,
            set.level,
            if set.ok {
                "all objects match"
            } else {
                "DAMAGED"
            }
        );
        for o in &set.objects {
            let word = match o.status {
                ObjectStatus::Ok => "ok",
                ObjectStatus::Missing => "MISSING",
                ObjectStatus::SizeMismatch => "SIZE DIFFERS",
                ObjectStatus::HashMismatch => "HASH DIFFERS",
                ObjectStatus::ChecksumsDisagree => "CHECKSUMS FILE DISAGREES",
                ObjectStatus::Unreadable => "UNREADABLE",
                ObjectStatus::DecryptFailed => "DECRYPTION FAILED",
                ObjectStatus::PlaintextMismatch => "PLAINTEXT DIFFERS",
                ObjectStatus::ContentUnreadable => "CONTENT UNREADABLE",
                ObjectStatus::Refused => "REFUSED",
                ObjectStatus::NotChecked => "not checked",
            };
            let _ = writeln!(
                out,
                "  {} {:<22} {:<24} {}",
                if o.status == ObjectStatus::Ok {
                    "✓"
                } else {
                    "✗"
                },
                o.object,
                word,
                o.detail.as_deref().unwrap_or("")
            );
        }
        for p in &set.problems {
            let _ = writeln!(out, "  ✗ {p}");
        }
        for n in &set.notes {
            let _ = writeln!(out, "  ! {n}");
        }
    }
    out
}

/// One line per set that did not verify, naming each problem: for stderr, so a failed verify
/// says why where a cron mail or a log collector looks, also when stdout is JSON.
pub fn verify_failures(report: &VerifyReport) -> Vec<String> {
    report
        .sets
        .iter()
        .filter(|s| !s.ok)
        .map(|s| {
            let problems: Vec<String> = s
                .problems
                .iter()
                .cloned()
                .chain(
                    s.objects
                        .iter()
                        .filter(|o| o.status != ObjectStatus::Ok)
                        .map(|o| match &o.detail {
                            Some(d) => format!("{}: {:?}: {d}", o.object, o.status),
                            None => format!("{}: {:?}", o.object, o.status),
                        }),
                )
                .collect();
            format!("set {} did not verify: {}", s.set_id, problems.join("; "))
        })
        .collect()
}

fn last_verification(journal: &JournalView, id: &str) -> Value {
    journal
        .latest_verification(id)
        .map(|v| json!({ "at": v.at, "level": v.level, "ok": v.ok }))
        .unwrap_or(Value::Null)
}

pub fn list_json(inventory: &Inventory, journal: &JournalView) -> Value {
    let now = Utc::now();
    let latest = inventory.latest(now).map(|s| s.id.as_str());
    let sets: Vec<Value> = inventory
        .complete()
        .filter_map(|s| {
            let m = s.manifest.as_ref()?;
            Some(json!({
                "set_id": s.id.to_string(),
                "finished_at": m.finished_at,
                "snapshot_time": m.snapshot_time,
                "age_seconds": (now - m.finished_at).num_seconds(),
                "stored_bytes": s.stored_bytes(),
                "components": m.components.iter().map(|c| c.kind.as_str()).collect::<Vec<_>>(),
                "encryption": m.encryption_summary(),
                "initiator": m.initiator.as_str(),
                "purpose": m.purpose.map(|p| p.as_str()),
                "dated_in_future": s.is_future(now),
                "latest": latest == Some(s.id.as_str()),
                "missing_objects": s.missing,
                "last_verification": last_verification(journal, s.id.as_str()),
            }))
        })
        .collect();
    json!({ "repository": inventory.repository, "sets": sets })
}

pub fn list_text(inventory: &Inventory, journal: &JournalView) -> String {
    let now = Utc::now();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<26} {:>9} {:>10}  {:<18} {:<10} verified",
        "set", "age", "size", "components", "encryption"
    );
    for s in inventory.complete() {
        let Some(m) = &s.manifest else { continue };
        let verified = match journal.latest_verification(s.id.as_str()) {
            Some(v) if v.ok => format!("✓ {} ago", format::age_secs((now - v.at).num_seconds())),
            Some(v) => format!(
                "✗ FAILED {} ago",
                format::age_secs((now - v.at).num_seconds())
            ),
            None => "never".into(),
        };
        let components: Vec<&str> = m.components.iter().map(|c| c.kind.as_str()).collect();
        let _ = writeln!(
            out,
            "{:<26} {:>9} {:>10}  {:<18} {:<10} {}{}{}",
            s.id,
            format::age_secs((now - m.finished_at).num_seconds()),
            format::bytes(s.stored_bytes()),
            components.join("+"),
            m.encryption_summary(),
            verified,
            if s.missing.is_empty() {
                String::new()
            } else {
                format!("  ✗ missing {}", s.missing.join(", "))
            },
            list_marks(s, now)
        );
    }
    if inventory.complete().next().is_none() {
        let _ = writeln!(out, "(no complete sets in {})", inventory.repository);
    }
    out
}

/// What sets a set apart from the ordinary backups, in words: a restore's safety backup, a
/// set dated in the future. Neither is ever `latest`.
fn list_marks(s: &crate::jobs::inventory::SetEntry, now: chrono::DateTime<Utc>) -> String {
    let mut out = String::new();
    if s.is_safety() {
        out.push_str("  [safety backup: never latest]");
    }
    if s.is_future(now) {
        let _ = write!(
            out,
            "  ✗ FUTURE: dated {} (a wrong clock or a forged set; never latest)",
            s.dated().format("%Y-%m-%d %H:%M UTC")
        );
    }
    out
}

pub fn inventory_json(inventory: &Inventory) -> Value {
    let object = |o: &crate::storage::repository::ObjectInfo| json!({ "path": o.path, "size": o.size, "modified": o.modified });
    json!({
        "repository": inventory.repository,
        "total_bytes": inventory.total_bytes(),
        "sets": inventory.sets.iter().map(|s| json!({
            "set_id": s.id.to_string(),
            "complete": s.is_complete(),
            "manifest_error": s.manifest_error,
            "missing_objects": s.missing,
            "stored_bytes": s.stored_bytes(),
            "objects": s.objects.iter().map(object).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "strays": inventory.strays.iter().map(object).collect::<Vec<_>>(),
        "drills": inventory.drills.iter().map(object).collect::<Vec<_>>(),
        "pins": inventory.pins.iter().map(object).collect::<Vec<_>>(),
    })
}

pub fn inventory_text(inventory: &Inventory) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  ({} in all)",
        inventory.repository,
        format::bytes(inventory.total_bytes())
    );
    for s in &inventory.sets {
        let state = match (&s.manifest, &s.manifest_error) {
            (Some(_), _) if s.missing.is_empty() => "complete".to_string(),
            (Some(_), _) => format!("✗ complete but missing {}", s.missing.join(", ")),
            (None, Some(e)) => format!("✗ INCOMPLETE: {e}"),
            (None, None) => "✗ INCOMPLETE: no manifest.json".to_string(),
        };
        let _ = writeln!(
            out,
            "{}  {}  {}",
            s.id,
            format::bytes(s.stored_bytes()),
            state
        );
        for o in &s.objects {
            let name = o.path.rsplit('/').next().unwrap_or(&o.path);
            let modified = o
                .modified
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:<24} {:>10}  {}",
                name,
                format::bytes(o.size),
                modified
            );
        }
    }
    for o in &inventory.drills {
        let _ = writeln!(out, "drill record {}  {}", o.path, format::bytes(o.size));
    }
    for o in &inventory.pins {
        let _ = writeln!(out, "pin {}  {}", o.path, format::bytes(o.size));
    }
    for o in &inventory.strays {
        let _ = writeln!(out, "! stray object {}  {}", o.path, format::bytes(o.size));
    }
    out
}

pub fn status_text(report: &StatusReport) -> String {
    let mut out = String::new();
    for m in &report.messages {
        let _ = writeln!(out, "{m}");
    }
    let _ = writeln!(
        out,
        "repository   {} ({} complete sets, {})",
        report.repository,
        report.complete_sets,
        format::bytes(report.repository_bytes)
    );
    match &report.newest_set {
        Some(n) => {
            let _ = writeln!(
                out,
                "newest set   {} ({} ago, {})",
                n.set_id,
                format::age_secs(n.age_seconds),
                format::bytes(n.stored_bytes)
            );
        }
        None => {
            let _ = writeln!(out, "newest set   none");
        }
    }
    match &report.newest_verification {
        Some(v) => {
            let _ = writeln!(
                out,
                "verified     {} {} at {} ({:?})",
                if v.ok { "✓" } else { "✗" },
                v.set_id,
                v.at.format("%Y-%m-%d %H:%M UTC"),
                v.level
            );
        }
        None => {
            let _ = writeln!(out, "verified     never");
        }
    }
    if let Some(r) = &report.last_run {
        let _ = writeln!(
            out,
            "last run     {} {} ({})",
            r.status.as_str(),
            r.started_at.format("%Y-%m-%d %H:%M UTC"),
            r.initiator.as_str()
        );
    }
    if let Some(h) = &report.lock_holder {
        let _ = writeln!(out, "running      {h}");
    }
    out
}

pub fn restore_plan_text(plan: &crate::jobs::restore::RestorePlan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Restore plan for set {} (snapshot {}) into {}",
        plan.set_id,
        plan.snapshot_time.format("%Y-%m-%d %H:%M:%S UTC"),
        plan.target
    );
    let t = &plan.toc;
    let _ = writeln!(
        out,
        "  dump: {} ({} entries: {} tables, {} indexes, {} sequences; schemas {}; extensions {}; owners {}; grantees {}{})",
        format::bytes(plan.dump_bytes),
        t.entries,
        t.tables,
        t.indexes,
        t.sequences,
        if t.schemas.is_empty() { "-".to_string() } else { t.schemas.join(", ") },
        if t.extensions.is_empty() { "-".to_string() } else { t.extensions.join(", ") },
        if t.owners.is_empty() { "-".to_string() } else { t.owners.join(", ") },
        if t.grantees.is_empty() { "-".to_string() } else { t.grantees.join(", ") },
        if t.missing_roles.is_empty() { String::new() } else { format!("; roles missing on the target: {} (see the roles check)", t.missing_roles.join(", ")) }
    );
    for (label, listing) in [("files", &plan.files), ("secrets", &plan.secrets)] {
        if let Some(l) = listing {
            let _ = writeln!(
                out,
                "  {label}: {} entries, {} files, {}; {} existing paths would be overwritten",
                l.entries,
                l.files,
                format::bytes(l.bytes),
                l.existing.len()
            );
            for p in l.existing.iter().take(5) {
                let _ = writeln!(out, "    overwrites {p}");
            }
            if l.parents_skipped > 0 {
                let _ = writeln!(
                    out,
                    "    {} entries above the roots left as they are on disk",
                    l.parents_skipped
                );
            }
        }
    }
    let _ = writeln!(out, "Checks:");
    for c in &plan.checks {
        let _ = writeln!(
            out,
            "  {} {:<28} {}",
            if c.ok { "✓" } else { "✗" },
            c.name,
            c.detail
        );
    }
    let _ = writeln!(out, "Steps:");
    for (i, s) in plan.steps.iter().enumerate() {
        let projected = s
            .projected_seconds
            .map(|p| {
                format!(
                    "  (~{})",
                    format::age(std::time::Duration::from_secs_f64(p))
                )
            })
            .unwrap_or_default();
        let _ = writeln!(out, "  {}. {}{projected}", i + 1, s.step);
    }
    if plan.problems.is_empty() {
        let _ = writeln!(out, "✓ the plan can succeed");
    } else {
        for p in &plan.problems {
            let _ = writeln!(out, "✗ {p}");
        }
    }
    out
}

/// `inventory`'s lines about open multipart uploads: one per upload, or one saying the server
/// cannot list them or the listing failed; nothing when there are none.
pub fn open_uploads_text(listed: &open_uploads::Listed) -> String {
    let mut out = String::new();
    match listed {
        open_uploads::Listed::NotApplicable => {}
        open_uploads::Listed::Open(open) => {
            for upload in open {
                let _ = writeln!(
                    out,
                    "open multipart upload {}: not an object yet; the server keeps its parts until it is aborted",
                    open_uploads::describe(upload)
                );
            }
        }
        open_uploads::Listed::Unsupported => {
            let _ = writeln!(out, "{}", crate::storage::s3_uploads::UNSUPPORTED_NOTE);
        }
        open_uploads::Listed::Failed(e) => {
            let _ = writeln!(out, "open multipart uploads not listed: {e}");
        }
    }
    out
}

/// `inventory --json`'s `open_multipart_uploads` (null when not listed) and
/// `open_multipart_uploads_note` (why not).
pub fn add_open_uploads_json(value: &mut Value, listed: &open_uploads::Listed) {
    let (uploads, note) = match listed {
        open_uploads::Listed::NotApplicable => (Value::Null, Value::Null),
        open_uploads::Listed::Open(open) => (
            json!(open
                .iter()
                .map(|u| json!({ "path": u.path, "upload_id": u.upload_id, "initiated": u.initiated }))
                .collect::<Vec<_>>()),
            Value::Null,
        ),
        open_uploads::Listed::Unsupported => (
            Value::Null,
            json!(crate::storage::s3_uploads::UNSUPPORTED_NOTE),
        ),
        open_uploads::Listed::Failed(e) => (Value::Null, json!(e)),
    };
    if let Some(object) = value.as_object_mut() {
        object.insert("open_multipart_uploads".into(), uploads);
        object.insert("open_multipart_uploads_note".into(), note);
    }
}
