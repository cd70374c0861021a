//! Retention: why each set is kept (its reasons) or that it expires, a calendar of sets by day
//! with their fate, what a prune would free, and the simulator (how many sets would exist after
//! N days if backups continue on their schedule, or stop today).

use super::format;
use super::theme::Theme;
use crate::app::action::Action;
use crate::app::state::AppState;
use chrono::{Datelike, Duration, NaiveDate};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;
use std::collections::BTreeMap;

pub fn render(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let r = &state.retention;
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(" Retention ", theme.heading()));
    if let Err(e) = &r.policy {
        // The error says what is wrong (no table, or a table that keeps nothing); this only
        // points at a working example, so the two never contradict each other.
        let text = format!(" ✗ Prune is refused: {e}.\n\n The keys: keep_last, hourly, daily, weekly, monthly, yearly, timezone, min_age; `lifeboat config example` shows a [retention] table with each.");
        frame.render_widget(
            Paragraph::new(text).wrap(Wrap { trim: false }).block(block),
            area,
        );
        return;
    }
    let Some(plan) = &r.plan else {
        let text = match &r.error {
            Some(e) => format!(" ✗ {e}"),
            None => " Computing the prune preview…".into(),
        };
        frame.render_widget(
            Paragraph::new(text).wrap(Wrap { trim: false }).block(block),
            area,
        );
        return;
    };
    let calendar_height = if area.height >= 20 { 10 } else { 0 };
    let [head, cal, list, sim] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(calendar_height),
        Constraint::Min(4),
        Constraint::Length(2),
    ])
    .areas(area);
    let expired = plan.sets.iter().filter(|s| !s.keep).count();
    let head_lines = vec![
        Line::from(vec![
            Span::styled(" Policy ", theme.heading()),
            Span::raw(plan.policy.clone()),
        ]),
        Line::from(vec![
            Span::styled(" Prune now ", theme.heading()),
            Span::raw(format!(
                "{} of {} sets expire, {} garbage: frees {}  ({} prunes, {} pins)",
                expired,
                plan.sets.len(),
                plan.garbage.len(),
                format::bytes(plan.freed.total_bytes()),
                state.keymap.key(Action::Prune),
                state.keymap.key(Action::Pin)
            )),
        ]),
    ];
    frame.render_widget(Paragraph::new(head_lines), head);
    if calendar_height > 0 {
        calendar(frame, cal, state, theme);
    }
    let height = usize::from(list.height.saturating_sub(3));
    let offset = super::scroll_offset(r.selected, height, plan.sets.len());
    // Old set ids are 21 characters, ids to the millisecond 25: as wide as the longest.
    let id_width = plan
        .sets
        .iter()
        .map(|s| s.set_id.to_string().chars().count())
        .max()
        .unwrap_or(0)
        .clamp(21, 32) as u16
        + 1;
    let rows = plan
        .sets
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, s)| {
            let (mark, style) = if s.keep {
                ("✓ keep", theme.good())
            } else {
                ("✗ expires", theme.bad())
            };
            let row = Row::new(vec![
                Cell::from(s.set_id.to_string()),
                Cell::from(Span::styled(mark, style)),
                Cell::from(format::bytes(s.data_bytes + s.secrets_bytes)),
                Cell::from(if s.keep {
                    s.reasons.join(", ")
                } else {
                    "no rule keeps it".into()
                }),
            ]);
            if i == r.selected {
                row.style(theme.selected())
            } else {
                row
            }
        });
    let table = Table::new(
        rows,
        [
            Constraint::Length(id_width),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Min(10),
        ],
    )
    .header(Row::new(vec!["set", "fate", "size", "why"]).style(theme.heading()))
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(Span::styled(" Sets, newest first ", theme.heading())),
    );
    frame.render_widget(table, list);
    let sim_text = match &r.projection {
        Some(p) => {
            let last = p.days.last();
            format!(
                " Simulator ({} {} days, {} stop): in {} days, backups {} (every {}): {} sets kept, {} of today's; {} of today's gone",
                state.keymap.key(Action::SimulateShorter),
                state.keymap.key(Action::SimulateLonger),
                state.keymap.key(Action::SimulateStop),
                r.sim_days,
                if r.sim_stop { "STOPPED today" } else { "continue" },
                format::age_secs(p.interval_seconds),
                last.map(|d| d.kept).unwrap_or(p.kept_now),
                last.map(|d| d.from_today).unwrap_or(p.kept_now),
                p.gone.len()
            )
        }
        None => " Simulator: nothing to project yet".into(),
    };
    frame.render_widget(Paragraph::new(sim_text).wrap(Wrap { trim: true }), sim);
}

/// Sets by day over the last weeks: ● kept, ○ expires, ◐ both that day, · no set.
fn calendar(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let Some(plan) = &state.retention.plan else {
        return;
    };
    let tz = state.retention.policy.as_ref().map(|p| p.timezone()).ok();
    let mut days: BTreeMap<NaiveDate, (usize, usize)> = BTreeMap::new();
    for s in &plan.sets {
        let date = match tz {
            Some(tz) => s.snapshot_time.with_timezone(&tz).date_naive(),
            None => s.snapshot_time.date_naive(),
        };
        let e = days.entry(date).or_default();
        if s.keep {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    let inner_width = usize::from(area.width.saturating_sub(8));
    let weeks = (inner_width / 3).clamp(1, 52);
    let today = match tz {
        Some(tz) => state.now.with_timezone(&tz).date_naive(),
        None => state.now.date_naive(),
    };
    let this_monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let first_monday = this_monday - Duration::weeks(weeks as i64 - 1);
    let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let mut lines = Vec::new();
    let mut months = String::from("    ");
    for w in 0..weeks {
        let monday = first_monday + Duration::weeks(w as i64);
        months.push_str(&if monday.day() <= 7 {
            format!("{:<3}", monday.format("%b"))
        } else {
            "   ".into()
        });
    }
    lines.push(Line::from(Span::styled(months, theme.dim())));
    for (d, name) in names.iter().enumerate() {
        let mut spans = vec![Span::styled(format!("{name} "), theme.dim())];
        for w in 0..weeks {
            let date = first_monday + Duration::weeks(w as i64) + Duration::days(d as i64);
            let (symbol, style) = match days.get(&date) {
                _ if date > today => (" ", theme.dim()),
                Some((k, 0)) if *k > 0 => ("●", theme.good()),
                Some((0, x)) if *x > 0 => ("○", theme.bad()),
                Some(_) => ("◐", theme.warn()),
                None => ("·", theme.dim()),
            };
            spans.push(Span::styled(format!(" {symbol} "), style));
        }
        lines.push(Line::from(spans));
    }
    let title = Span::styled(
        " Sets by day: ● kept  ○ expires  ◐ both  · none ",
        theme.heading(),
    );
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}
