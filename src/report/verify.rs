//! `lifeboat verify`'s result: every set and object with its verdict, and one stderr line per
//! set that did not verify.

use crate::jobs::verify::{ObjectStatus, VerifyReport};
use std::fmt::Write;

pub fn text(report: &VerifyReport) -> String {
    let mut out = String::new();
    for set in &report.sets {
        let mark = if set.ok { "✓" } else { "✗" };
        let _ = writeln!(
            out,
            "{mark} set {} ({}): {}",
            set.set_id,
            set.level.as_str(),
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
pub fn failures(report: &VerifyReport) -> Vec<String> {
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
