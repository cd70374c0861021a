//! Dashboard: can this application be brought back right now? The newest set and its age
//! against the limit, its verification, the drill (designed in, filled by the drills release),
//! off-site state, the running lock holder, storage used, and alerts in words and symbols.

use super::format;
use super::theme::Theme;
use crate::app::action::Action;
use crate::app::state::AppState;
use crate::app::view::{Health, WalState};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use ratatui::Frame;

/// Columns before a row's text: " {label:<12}{mark} ".
const ROW_INDENT: usize = 15;

/// A labelled row, its text wrapped under itself (not under the label) to `width` columns.
fn row(label: &str, mark: (&str, Style), text: String, width: usize) -> Vec<Line<'static>> {
    format::wrap(&text, width.saturating_sub(ROW_INDENT))
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            if i == 0 {
                Line::from(vec![
                    Span::raw(format!(" {label:<12}")),
                    Span::styled(format!("{} ", mark.0), mark.1),
                    Span::raw(chunk),
                ])
            } else {
                Line::raw(format!("{:ROW_INDENT$}{chunk}", ""))
            }
        })
        .collect()
}

/// An alert (`✗ text` or `! text`), wrapped with its continuation lines under the text.
fn alert(text: &str, style: Style, width: usize) -> Vec<Line<'static>> {
    let mut chars = text.chars();
    let (mark, rest) = match (chars.next(), chars.as_str().strip_prefix(' ')) {
        (Some(mark), Some(rest)) => (mark.to_string(), rest),
        _ => (String::new(), text),
    };
    format::wrap(rest, width.saturating_sub(3))
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let lead = if i == 0 { mark.as_str() } else { " " };
            Line::from(Span::styled(format!(" {lead} {chunk}"), style))
        })
        .collect()
}

pub fn render(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let block = Block::default().borders(Borders::ALL).title(Span::styled(
        " Can the application be brought back? ",
        theme.heading(),
    ));
    // Before the first full load, its preview: true as far as it goes, said to be partial.
    let (s, preview) = match (&state.snapshot, &state.preview) {
        (Some(snapshot), _) => (&snapshot.status, None),
        (None, Some(preview)) => (&preview.status, Some(preview)),
        (None, None) => {
            let text = match &state.load_error {
                Some(e) => format!("✗ {e}"),
                None => "Reading the repository and the journal…".into(),
            };
            frame.render_widget(
                Paragraph::new(text).wrap(Wrap { trim: true }).block(block),
                area,
            );
            return;
        }
    };
    let width = usize::from(area.width.saturating_sub(2));
    // An unreadable repository says nothing about sets, sizes or uploads: unknown, not "none".
    let unknown = s.health == Health::Unreachable;
    let unknown_row = |label: &str| {
        row(
            label,
            ("?", theme.warn()),
            "unknown: the repository cannot be read".into(),
            width,
        )
    };
    let ok = ("✓", theme.good());
    let bad = ("✗", theme.bad());
    let warn = ("!", theme.warn());
    let none = ("·", theme.dim());
    let mut lines = Vec::new();
    let verdict = match s.health {
        Health::Ok => Line::from(Span::styled(
            " ✓ YES: a complete, recent backup exists",
            theme.good(),
        )),
        Health::NoBackup => Line::from(Span::styled(
            " ✗ NO: there is no complete backup",
            theme.bad(),
        )),
        Health::Stale => Line::from(Span::styled(
            " ✗ AT RISK: the newest backup is older than the limit",
            theme.bad(),
        )),
        Health::LastRunFailed => Line::from(Span::styled(
            " ! AT RISK: the newest backup run failed",
            theme.warn(),
        )),
        Health::Unreachable => Line::from(Span::styled(
            " ✗ UNKNOWN: the repository cannot be read",
            theme.bad(),
        )),
        Health::DrillFailing => Line::from(Span::styled(
            " ✗ UNPROVEN: backups are current but the last restore drill failed",
            theme.bad(),
        )),
        Health::DrillOverdue => Line::from(Span::styled(
            " ! UNPROVEN: backups are current but a restore drill is overdue",
            theme.warn(),
        )),
        Health::WalArchivingFailing => Line::from(Span::styled(
            " ✗ AT RISK: the database's WAL archiving is failing",
            theme.bad(),
        )),
        Health::OffsiteLag => Line::from(Span::styled(
            " ! AT RISK: the newest backup is not off-site yet",
            theme.warn(),
        )),
        Health::VerificationStale => Line::from(Span::styled(
            " ! UNPROVEN: backups are current but none was verified lately",
            theme.warn(),
        )),
        Health::RestoreInterrupted => Line::from(Span::styled(
            " ✗ DAMAGED?: a restore was interrupted; its target may be partly restored",
            theme.bad(),
        )),
        Health::FutureSet => Line::from(Span::styled(
            " ✗ SUSPECT: a set is dated in the future (wrong clock or forged)",
            theme.bad(),
        )),
    };
    let verdict = match preview {
        // A clean preview is no YES: what the full load adds (the WAL archiver, every other
        // folder) may still find something.
        Some(_) if s.health == Health::Ok => Line::from(Span::styled(
            " … CHECKING: the newest backup is complete and recent",
            theme.accent(),
        )),
        _ => verdict,
    };
    // The headline is the screen's answer: wrapped under its mark on a narrow terminal, never cut.
    let style = verdict.spans.first().map(|sp| sp.style).unwrap_or_default();
    let text = verdict.to_string();
    // " ✓ " (space, mark, space) leads; the rest wraps under it.
    let lead: String = text.chars().take(3).collect();
    let body: String = text.chars().skip(3).collect();
    for (i, chunk) in format::wrap(&body, width.saturating_sub(3))
        .into_iter()
        .enumerate()
    {
        let lead = if i == 0 { lead.clone() } else { "   ".into() };
        lines.push(Line::from(Span::styled(format!("{lead}{chunk}"), style)));
    }
    if let Some(p) = preview {
        let note = match p.set_folders {
            Some(n) => {
                format!("preliminary: from the newest sets; still reading all {n} set folders")
            }
            None => "preliminary: from the newest sets; still listing the set folders".into(),
        };
        for (i, chunk) in format::wrap(&note, width.saturating_sub(3))
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 { "…" } else { " " };
            lines.push(Line::from(Span::styled(
                format!(" {lead} {chunk}"),
                theme.dim(),
            )));
        }
    }
    lines.push(Line::raw(""));
    let limit = format::age(std::time::Duration::from_secs(s.stale_after_seconds));
    match &s.newest_set {
        _ if unknown => lines.extend(unknown_row("Newest set")),
        Some(n) => {
            let age = (state.now - n.finished_at).num_seconds();
            let mark = if age > s.stale_after_seconds as i64 {
                bad
            } else {
                ok
            };
            lines.extend(row(
                "Newest set",
                mark,
                format!(
                    "{}  {} ago (limit {limit})  {}",
                    n.set_id,
                    format::age_secs(age),
                    format::bytes(n.stored_bytes)
                ),
                width,
            ));
        }
        None => lines.extend(row("Newest set", bad, "none".into(), width)),
    }
    match &s.newest_verification {
        _ if unknown => lines.extend(unknown_row("Verified")),
        Some(v) => {
            let mark = if v.ok { ok } else { bad };
            let level = format!("{:?}", v.level).to_lowercase();
            lines.extend(row(
                "Verified",
                mark,
                format!(
                    "{}  {} ago ({level}){}",
                    v.set_id,
                    format::age_secs((state.now - v.at).num_seconds()),
                    if v.ok { "" } else { "  DAMAGED" }
                ),
                width,
            ));
        }
        None => lines.extend(row(
            "Verified",
            warn,
            format!(
                "never: press {} on a set in History",
                state.keymap.key(Action::Verify)
            ),
            width,
        )),
    }
    let due = s.drill_due.map(|d| {
        if state.now > d {
            format!("OVERDUE since {}", d.format("%Y-%m-%d"))
        } else {
            format!("next due {}", d.format("%Y-%m-%d"))
        }
    });
    let overdue = s.drill_due.is_some_and(|d| state.now > d);
    match &s.newest_drill {
        _ if unknown => lines.extend(unknown_row("Last drill")),
        Some(d) => {
            let mark = if !d.passed {
                bad
            } else if overdue {
                warn
            } else {
                ok
            };
            let rto = d
                .rto_seconds
                .map(format::elapsed)
                .unwrap_or_else(|| "-".into());
            let rpo = d
                .rpo_seconds
                .map(format::elapsed)
                .unwrap_or_else(|| "-".into());
            lines.extend(row(
                "Last drill",
                mark,
                format!(
                    "{} {} ago: RTO {rto}, RPO {rpo}; {}",
                    if d.passed { "passed" } else { "FAILED" },
                    format::age_secs((state.now - d.at).num_seconds()),
                    due.unwrap_or_default()
                ),
                width,
            ));
        }
        None => lines.extend(row(
            "Last drill",
            if overdue { warn } else { none },
            format!(
                "never run; {}",
                due.unwrap_or_else(|| "due after the first backup".into())
            ),
            width,
        )),
    }
    // The last recovery onto a new host, one line, only once there has been one.
    if let Some(r) = state.snapshot.as_ref().and_then(|snap| {
        snap.drills
            .iter()
            .find(|r| r.kind == crate::app::view::RecordKind::Recovery)
    }) {
        let rto = r
            .rto_seconds
            .map(|x| format::age_secs(x.round() as i64))
            .unwrap_or_else(|| "-".into());
        lines.extend(row(
            "Recovered",
            if r.passed { ok } else { warn },
            format!(
                "{}{} {} ago from {}: RTO {rto}",
                if r.rehearsal { "rehearsal " } else { "" },
                r.drill_id,
                format::age_secs((state.now - r.started_at).num_seconds()),
                r.set_id
            ),
            width,
        ));
    }
    let offsite = if s.spooled_sets.is_empty() {
        (
            ok,
            if state.repository.starts_with("s3://") {
                "every set is uploaded".to_string()
            } else {
                "local repository (no off-site copy configured)".to_string()
            },
        )
    } else {
        (
            warn,
            format!(
                "{} set(s) only local, waiting for upload: {}",
                s.spooled_sets.len(),
                s.spooled_sets.join(", ")
            ),
        )
    };
    let offsite_mark = if !s.spooled_sets.is_empty() || !state.repository.starts_with("s3://") {
        warn
    } else {
        offsite.0
    };
    if unknown {
        lines.extend(unknown_row("Off-site"));
    } else {
        lines.extend(row("Off-site", offsite_mark, offsite.1, width));
    }
    match &s.last_run {
        Some(r) => {
            let mark = match r.status.as_str() {
                "completed" => ok,
                "running" => none,
                _ => bad,
            };
            let mut text = format!(
                "{} {} ago ({})",
                r.status.as_str(),
                format::age_secs((state.now - r.started_at).num_seconds()),
                r.initiator.as_str()
            );
            if let Some(e) = &r.error {
                text.push_str(&format!(": {e}"));
            }
            // One row: the whole error is in History's detail (and in the alerts when the
            // newest run failed), and repeating it here pushed the alerts off a small screen.
            let text = format::fit(&text, width.saturating_sub(ROW_INDENT));
            lines.extend(row("Last run", mark, text, width));
        }
        None => lines.extend(row(
            "Last run",
            none,
            "no run recorded on this host".into(),
            width,
        )),
    }
    match &s.lock_holder {
        Some(h) => lines.extend(row("Running", ("⟳", theme.accent()), format!("{h}"), width)),
        None => lines.extend(row(
            "Running",
            none,
            "nothing holds the repository lock".into(),
            width,
        )),
    }
    let storage = if unknown {
        format!("unknown  {}", state.repository)
    } else if let Some(p) = preview {
        match p.set_folders {
            Some(n) => format!("counting…  {n} set folders  {}", state.repository),
            None => format!("counting…  {}", state.repository),
        }
    } else {
        format!(
            "{}  {} complete, {} incomplete  {}",
            format::bytes(s.repository_bytes),
            s.complete_sets,
            s.incomplete_sets,
            state.repository
        )
    };
    if let Some(w) = s.wal.as_ref().filter(|w| w.state != WalState::Off) {
        let mark = match w.state {
            WalState::Ok => ok,
            WalState::Failing => bad,
            _ => warn,
        };
        lines.extend(row("WAL archive", mark, w.describe(), width));
    }
    lines.extend(row("Storage", none, storage, width));
    lines.push(Line::raw(""));
    let alerts: Vec<&String> = s.messages.iter().filter(|m| !m.starts_with('✓')).collect();
    if alerts.is_empty() {
        let none = if preview.is_some() {
            " No alerts so far."
        } else {
            " No alerts."
        };
        lines.push(Line::from(Span::styled(none, theme.dim())));
    } else {
        let heading = if preview.is_some() {
            " Alerts so far"
        } else {
            " Alerts"
        };
        lines.push(Line::from(Span::styled(heading, theme.heading())));
        for a in alerts {
            let style = if a.starts_with('✗') {
                theme.bad()
            } else {
                theme.warn()
            };
            lines.extend(alert(a, style, width));
        }
    }
    if let Some(e) = &state.load_error {
        lines.extend(alert(
            &format!("✗ last reload failed: {e}"),
            theme.bad(),
            width,
        ));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
