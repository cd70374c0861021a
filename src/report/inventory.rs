//! `lifeboat list` and `lifeboat inventory`: complete sets with their age, size and last
//! verification; every object grouped by set, incomplete sets, strays and open multipart
//! uploads. Text, and the JSON documents of `--json`.

use super::format::{self, Align};
use crate::jobs::inventory::{Inventory, SetEntry};
use crate::jobs::open_uploads;
use crate::storage::journal::JournalView;
use crate::storage::repository::ObjectInfo;
use crate::storage::s3_uploads::UNSUPPORTED_NOTE;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::fmt::Write;

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
    let mut rows = Vec::new();
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
        let missing = if s.missing.is_empty() {
            String::new()
        } else {
            format!("  ✗ missing {}", s.missing.join(", "))
        };
        rows.push(vec![
            s.id.to_string(),
            format::age_secs((now - m.finished_at).num_seconds()),
            format::bytes(s.stored_bytes()),
            components.join("+"),
            m.encryption_summary(),
            format!("{verified}{missing}{}", list_marks(s, now)),
        ]);
    }
    if rows.is_empty() {
        return format!("(no complete sets in {})\n", inventory.repository);
    }
    format::table(LIST_HEADER, &rows)
}

/// `lifeboat list`'s columns.
pub const LIST_HEADER: &[(&str, Align)] = &[
    ("set", Align::Left),
    ("age", Align::Right),
    ("size", Align::Right),
    ("components", Align::Left),
    ("encryption", Align::Left),
    ("verified", Align::Left),
];

/// What sets a set apart from the ordinary backups, in words: a restore's safety backup, a
/// set dated in the future. Neither is ever `latest`.
fn list_marks(s: &SetEntry, now: DateTime<Utc>) -> String {
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
    let object = |o: &ObjectInfo| json!({ "path": o.path, "size": o.size, "modified": o.modified });
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
            let _ = writeln!(out, "{}", UNSUPPORTED_NOTE);
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
            json!(UNSUPPORTED_NOTE),
        ),
        open_uploads::Listed::Failed(e) => (Value::Null, json!(e)),
    };
    if let Some(object) = value.as_object_mut() {
        object.insert("open_multipart_uploads".into(), uploads);
        object.insert("open_multipart_uploads_note".into(), note);
    }
}
