//! `lifeboat recover` for people: the plan (the old host, the target, where files and secrets
//! go, the checks, the steps), where a resumed recovery stopped and what the re-checks found,
//! and the finished runbook with its times.

use super::format;
use crate::jobs::recover::{RecoveryPlan, Resumption, Runbook, StepState};
use std::fmt::Write;

fn mark(ok: bool) -> &'static str {
    if ok {
        "✓"
    } else {
        "✗"
    }
}

pub fn plan_text(p: &RecoveryPlan) -> String {
    let mut out = String::new();
    let h = &p.old_host;
    let _ = writeln!(out, "Recovery plan");
    let _ = writeln!(out, "  set        {} ({})", p.set_id, p.why);
    for s in &p.skipped {
        let _ = writeln!(out, "  passed over {}: {}", s.set, s.problem);
    }
    let _ = writeln!(
        out,
        "  old host   {} — database `{}` ({} tables, {}), PostgreSQL {}, dumped by {}, snapshot {}",
        h.host,
        h.database,
        h.table_count,
        format::bytes(h.database_size_bytes),
        h.server_version,
        h.pg_dump_version,
        h.snapshot_time.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if !h.key_tables.is_empty() {
        let tables: Vec<String> = h
            .key_tables
            .iter()
            .map(|t| format!("{} ({} rows)", t.table, t.rows))
            .collect();
        let _ = writeln!(out, "  key tables {}", tables.join(", "));
    }
    let _ = writeln!(
        out,
        "  target     {}: {}",
        p.target,
        p.target_state.describe()
    );
    if let Some(f) = &p.files_to {
        let _ = writeln!(out, "  files      {f}");
    }
    if let Some(s) = &p.secrets_to {
        let _ = writeln!(out, "  secrets    {s}");
    }
    let _ = writeln!(
        out,
        "  config     {} (nothing secret in it)",
        p.config_out.display()
    );
    let _ = writeln!(out, "Checks");
    for c in &p.checks {
        let _ = writeln!(out, "  {} {}: {}", mark(c.ok), c.name, c.detail);
    }
    let _ = writeln!(out, "Steps: {}", p.steps.join(", "));
    out
}

pub fn resumption_text(r: &Resumption) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Recovery {} of set {} into {} stopped at `{}` ({})",
        r.book.id,
        r.book.set_id,
        r.book.target_url,
        r.stopped_at,
        r.path.display()
    );
    for line in &r.rechecked {
        let _ = writeln!(out, "  re-check: {line}");
    }
    if let Some(h) = &r.target_holds {
        let _ = writeln!(out, "  ! {h}");
    }
    out
}

pub fn runbook_text(b: &Runbook) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Recovery {} of set {}", b.id, b.set_id);
    for s in &b.steps {
        let state = match s.state {
            StepState::Done => "✓",
            StepState::Failed => "✗",
            StepState::Running => "…",
            StepState::Pending => "·",
        };
        let secs = s.seconds.map(format::elapsed).unwrap_or_default();
        let _ = writeln!(out, "  {state} {:<20} {:>9}  {}", s.name, secs, s.detail);
    }
    if let Some(r) = &b.record {
        let rto = r
            .rto_seconds
            .map(format::elapsed)
            .unwrap_or_else(|| "not reached".into());
        let _ = writeln!(
            out,
            "RTO {rto} (start to health green); RPO {}{}",
            format::elapsed(r.rpo_seconds()),
            if r.rpo_data_seconds.is_some() {
                " from the newest restored data"
            } else {
                " from the set's snapshot"
            }
        );
    }
    if !b.manual.is_empty() {
        let _ = writeln!(out, "Still to do by hand:");
        for m in &b.manual {
            let _ = writeln!(out, "  [ ] {}", m.step);
        }
    }
    if let Some(c) = &b.config_written {
        let _ = writeln!(
            out,
            "This host's configuration: {} (`lifeboat config check`, then `lifeboat backup`)",
            c.display()
        );
    }
    out
}
