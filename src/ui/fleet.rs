//! The fleet screen: one row per application (verdict in a symbol and a word, newest set and
//! its age, last verification, last drill, off-site lag, alerts), the selected application's
//! details below, and the keys from the keymap. At 80 columns the name column gives way first;
//! the verdict is never cut.

use super::format;
use super::theme::Theme;
use crate::app::action::Action;
use crate::app::keymap::Keymap;
use crate::app::view::{fleet_verdict, FleetRow, FleetState, Severity};
use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

/// "✗ drill overdue" is the longest verdict.
const VERDICT_WIDTH: u16 = 15;

pub fn render(frame: &mut Frame, state: &FleetState, keymap: &Keymap) {
    let area = frame.area();
    if area.width < super::MIN_WIDTH || area.height < super::MIN_HEIGHT {
        let text = format!(
            "Terminal too small ({}x{}): lifeboat needs {}x{}",
            area.width,
            area.height,
            super::MIN_WIDTH,
            super::MIN_HEIGHT
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let theme = Theme::new(state.no_color);
    let table_height = (state.apps.len() as u16 + 3).min(area.height.saturating_sub(9).max(5));
    let [top, table, detail, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(table_height),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    let loading = if state.loading { " · loading…" } else { "" };
    let title = format!(
        " lifeboat · fleet: {} applications{loading}",
        state.apps.len()
    );
    frame.render_widget(Paragraph::new(title).style(theme.heading()), top);
    rows(frame, table, state, &theme);
    details(frame, detail, state, &theme);
    hints(frame, bottom, keymap, &theme);
    if state.help {
        help(frame, area, keymap, &theme);
    }
}

fn style(theme: &Theme, s: Severity) -> Style {
    match s {
        Severity::Good => theme.good(),
        Severity::Warn => theme.warn(),
        Severity::Bad => theme.bad(),
    }
}

fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    format::age_secs((now - t).num_seconds())
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "✓"
    } else {
        "✗"
    }
}

fn rows(frame: &mut Frame, area: Rect, state: &FleetState, theme: &Theme) {
    let header = Row::new([
        "application",
        "verdict",
        "newest",
        "verified",
        "drill",
        "lag",
        "alerts",
    ])
    .style(theme.heading());
    let body: Vec<Row> = state
        .apps
        .iter()
        .enumerate()
        .map(|(i, name)| match state.row(i) {
            Some(row) => cells(row, state.now, theme),
            None => Row::new(vec![Cell::from(name.clone()), Cell::from("… loading")]),
        })
        .collect();
    let table = Table::new(
        body,
        [
            Constraint::Fill(1),
            Constraint::Length(VERDICT_WIDTH),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(4),
            Constraint::Length(6),
        ],
    )
    .header(header)
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(Span::styled(" Applications ", theme.heading())),
    )
    .row_highlight_style(theme.selected())
    .highlight_symbol("> ");
    let mut table_state = TableState::default().with_selected(Some(state.selected));
    frame.render_stateful_widget(table, area, &mut table_state);
}

fn cells<'a>(row: &'a FleetRow, now: DateTime<Utc>, theme: &Theme) -> Row<'a> {
    let (symbol, word, severity) = fleet_verdict(row);
    let verdict = Cell::from(format!("{symbol} {word}")).style(style(theme, severity));
    let Ok(r) = &row.outcome else {
        return Row::new(vec![Cell::from(row.app.as_str()), verdict]);
    };
    let newest = r
        .newest_set
        .as_ref()
        .map(|n| ago(now, n.finished_at))
        .unwrap_or_else(|| "none".into());
    let verified = match &r.newest_verification {
        Some(v) => format!("{} {}", mark(v.ok), ago(now, v.at)),
        None => "never".into(),
    };
    let drill = match &r.newest_drill {
        Some(d) => format!("{} {}", mark(drill_met(row, d)), ago(now, d.at)),
        None => "never".into(),
    };
    Row::new(vec![
        Cell::from(row.app.as_str()),
        verdict,
        Cell::from(newest),
        Cell::from(verified),
        Cell::from(drill),
        Cell::from(r.spooled_sets.len().to_string()),
        Cell::from(r.alerts.len().to_string()),
    ])
}

/// The drill passed and its measures are within this application's targets.
fn drill_met(row: &FleetRow, d: &crate::app::view::DrillSummary) -> bool {
    let within = |m: Option<f64>, t: Option<f64>| match (m, t) {
        (Some(m), Some(t)) => m <= t,
        _ => true,
    };
    d.passed
        && within(d.rto_seconds, row.rto_target_seconds)
        && within(d.rpo_seconds, row.rpo_target_seconds)
}

fn target_line(name: &str, measured: Option<f64>, target: Option<f64>) -> String {
    let secs = |s: f64| format::age_secs(s as i64);
    match (measured, target) {
        (Some(m), Some(t)) => format!("{name} {} {} (target {})", mark(m <= t), secs(m), secs(t)),
        (Some(m), None) => format!("{name} {}", secs(m)),
        (None, _) => format!("{name} not measured"),
    }
}

fn details(frame: &mut Frame, area: Rect, state: &FleetState, theme: &Theme) {
    let block = Block::default().borders(Borders::ALL);
    let Some(row) = state.row(state.selected) else {
        frame.render_widget(Paragraph::new("").block(block), area);
        return;
    };
    let (symbol, word, severity) = fleet_verdict(row);
    let mut lines = vec![Line::from(vec![
        Span::styled(row.app.clone(), theme.heading()),
        Span::raw("  "),
        Span::styled(format!("{symbol} {word}"), style(theme, severity)),
        Span::raw(format!(" (exit {})", row.exit_code())),
    ])];
    match &row.outcome {
        Err(e) => {
            lines.push(Line::from(format!(
                "config   {}",
                row.config_path.display()
            )));
            lines.extend(e.message.lines().map(|l| Line::from(l.to_string())));
        }
        Ok(r) => {
            lines.push(Line::from(match &r.newest_set {
                Some(n) => format!(
                    "newest   {}, {} ago (stale after {})",
                    n.set_id,
                    ago(state.now, n.finished_at),
                    format::age_secs(r.stale_after_seconds as i64)
                ),
                None => "newest   no complete set".into(),
            }));
            lines.push(Line::from(match &r.newest_verification {
                Some(v) => format!(
                    "verified {} {} ago ({})",
                    mark(v.ok),
                    ago(state.now, v.at),
                    v.set_id
                ),
                None => "verified never".into(),
            }));
            lines.push(Line::from(match &r.newest_drill {
                Some(d) => format!(
                    "drill    {} {} ago: {}, {}",
                    if d.passed { "✓ passed" } else { "✗ FAILED" },
                    ago(state.now, d.at),
                    target_line("RTO", d.rto_seconds, row.rto_target_seconds),
                    target_line("RPO", d.rpo_seconds, row.rpo_target_seconds),
                ),
                None => "drill    never".into(),
            }));
            lines.push(Line::from(format!(
                "off-site {} set(s) waiting in the spool",
                r.spooled_sets.len()
            )));
            let alerts: Vec<&str> = r.alerts.iter().map(|h| h.as_str()).collect();
            lines.push(Line::from(format!(
                "alerts   {}",
                if alerts.is_empty() {
                    "none".to_string()
                } else {
                    alerts.join(", ")
                }
            )));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// The fleet's keys, as the keymap binds them.
fn bindings(keymap: &Keymap) -> Vec<(String, &'static str)> {
    vec![
        (
            format!("{}/{}", keymap.key(Action::Down), keymap.key(Action::Up)),
            "move",
        ),
        (keymap.key(Action::Open), "open"),
        (keymap.key(Action::Refresh), "refresh"),
        (keymap.key(Action::Help), "help"),
        (keymap.key(Action::Quit), "quit"),
    ]
}

fn hints(frame: &mut Frame, area: Rect, keymap: &Keymap, theme: &Theme) {
    let mut spans = Vec::new();
    for (key, what) in bindings(keymap) {
        spans.push(Span::styled(format!(" {key}"), theme.accent()));
        spans.push(Span::raw(format!(" {what} ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn help(frame: &mut Frame, area: Rect, keymap: &Keymap, theme: &Theme) {
    let mut lines: Vec<Line> = bindings(keymap)
        .into_iter()
        .map(|(key, what)| Line::from(format!("{key:>8}  {what}")))
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(format!(
        "{:>8}  (in an application's dashboard) back to the fleet",
        keymap.key(Action::Back)
    )));
    super::modals::centered_box(frame, area, "Fleet keys", 62, lines, theme);
}
