//! Drills: the running drill as a checklist of phases with live timers and the manual steps to
//! tick; the drill history with verdicts and RPO/RTO against their targets; RTO and RPO over
//! time; the next due date, or an overdue alert.

use super::format;
use super::phases::{checklist_line, phase_line, Mark};
use super::theme::Theme;
use crate::app::action::Action;
use crate::app::state::{AppState, JobKind, JobState, JobStatus};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table};
use ratatui::Frame;

fn secs(s: f64) -> String {
    format::elapsed(s)
}

/// A chart's title carries its numbers with units (the bars alone have no scale): the newest
/// value, the largest, and the target; the largest gives way first in `width` columns.
fn chart_title(name: &str, values: &[f64], target: f64, width: usize) -> String {
    let newest = values.last().copied().unwrap_or(0.0);
    let max = values.iter().copied().fold(0.0, f64::max);
    let full = format!(
        " {name} newest {}, max {}, target {} ",
        secs(newest),
        secs(max),
        secs(target)
    );
    if full.chars().count() <= width {
        return full;
    }
    format!(" {name} newest {}, target {} ", secs(newest), secs(target))
}

/// Seconds as bar heights for a sparkline `rows` high: any value above zero gets at least the
/// smallest visible bar, so a 20-second RPO next to a day-long one still shows.
fn bars(values: &[f64], rows: usize) -> Vec<u64> {
    let max = values.iter().copied().fold(0.0, f64::max);
    // Ratatui draws eight steps per row.
    let floor = (max / (8.0 * rows.max(1) as f64)).ceil() as u64;
    values
        .iter()
        .map(|&v| {
            let v = v.round() as u64;
            if v > 0 {
                v.max(floor).max(1)
            } else {
                0
            }
        })
        .collect()
}

pub fn render(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let settings = &state.drill_settings;
    let due = state.snapshot.as_ref().and_then(|s| s.status.drill_due);
    let header = match due {
        Some(d) if state.now > d => Line::from(Span::styled(
            format!(
                " ! A drill is OVERDUE since {} (every {}). {} starts one.",
                d.format("%Y-%m-%d"),
                format::age_secs(settings.every_seconds as i64),
                state.keymap.key(Action::StartDrill)
            ),
            theme.warn(),
        )),
        Some(d) => Line::from(Span::raw(format!(
            " Next drill due {} (in {}).  Targets: RTO {}, RPO {}.",
            d.format("%Y-%m-%d"),
            format::age_secs((d - state.now).num_seconds()),
            secs(settings.rto_target_seconds),
            secs(settings.rpo_target_seconds)
        ))),
        None => Line::from(Span::raw(format!(
            " No backup yet, so no drill due.  Targets: RTO {}, RPO {}.",
            secs(settings.rto_target_seconds),
            secs(settings.rpo_target_seconds)
        ))),
    };
    let live = state
        .running_drill()
        .and_then(|id| state.job(id))
        .or_else(|| {
            // Keep the last drill of this session on screen once it finished.
            state
                .jobs
                .iter()
                .find(|j| matches!(j.kind, JobKind::Drill { .. }))
        });
    let [top, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
    frame.render_widget(Paragraph::new(header), top);
    match live {
        Some(job) => {
            let walk_height = (job.phases.len() + job.checklist.len() + 5)
                .min(usize::from(rest.height) * 2 / 3) as u16;
            let [walk, hist] =
                Layout::vertical([Constraint::Length(walk_height.max(5)), Constraint::Min(3)])
                    .areas(rest);
            walkthrough(frame, walk, state, job, theme);
            history(frame, hist, state, theme);
        }
        None => history(frame, rest, state, theme),
    }
}

fn walkthrough(frame: &mut Frame, area: Rect, state: &AppState, job: &JobState, theme: &Theme) {
    let mut lines = Vec::new();
    let total = job.finished_at.unwrap_or(state.now) - job.started_at;
    for p in &job.phases {
        let end = p.finished_at.unwrap_or(state.now);
        let running = p.finished_at.is_none() && job.status.is_running();
        let mark = if running {
            Mark::Running
        } else if p.ok {
            Mark::Done
        } else {
            Mark::Failed
        };
        // A finished drill's phases carry the record's own seconds: the panel and the report
        // show the same numbers.
        let seconds = p
            .seconds
            .unwrap_or((end - p.started_at).num_milliseconds() as f64 / 1000.0);
        lines.push(phase_line(mark, &p.name, Some(seconds), theme));
    }
    if !job.checklist.is_empty() {
        let finished = !job.status.is_running();
        let heading = if finished {
            " Manual steps".to_string()
        } else {
            format!(
                " Manual steps ({} ticks, {} finishes; the clock keeps running)",
                state.keymap.key(Action::TickStep),
                state.keymap.key(Action::FinishSteps)
            )
        };
        lines.push(Line::from(Span::styled(heading, theme.heading())));
        for (i, item) in job.checklist.iter().enumerate() {
            // Once the drill is over an unticked step is what the record says: not done.
            let selected = i == job.checklist_cursor && job.status.is_running();
            lines.push(checklist_line(
                &item.step, item.done, finished, selected, theme,
            ));
        }
    }
    let status = match &job.status {
        JobStatus::Running => {
            format!("running {}", secs(total.num_milliseconds() as f64 / 1000.0))
        }
        JobStatus::Succeeded(s) => format!("✓ {s}"),
        JobStatus::Failed(e) => format!("✗ {e}"),
        JobStatus::Cancelled(e) => format!("✗ {e}"),
    };
    let title = Span::styled(
        format!(" #{} {}: {status} ", job.id, job.title()),
        theme.heading(),
    );
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

fn history(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(" Drill history ", theme.heading()));
    let drills = state
        .snapshot
        .as_ref()
        .map(|s| s.drills.as_slice())
        .unwrap_or(&[]);
    if drills.is_empty() {
        let text = format!(
            " No drill recorded yet. {} runs one into a throwaway target and measures RTO and RPO.",
            state.keymap.key(Action::StartDrill)
        );
        frame.render_widget(Paragraph::new(text).style(theme.dim()).block(block), area);
        return;
    }
    let settings = &state.drill_settings;
    let chart_height = if area.height >= 12 { 4 } else { 0 };
    let [table_area, chart_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(chart_height)]).areas(area);
    let height = usize::from(table_area.height.saturating_sub(3));
    let selected = if state.running_drill().is_some() {
        usize::MAX
    } else {
        state.selected_drill
    };
    let offset = super::scroll_offset(
        selected.min(drills.len().saturating_sub(1)),
        height,
        drills.len(),
    );
    // Old set ids are 21 characters, ids to the millisecond 25: as wide as the longest.
    let id_width = drills
        .iter()
        .map(|d| d.set_id.as_str().chars().count())
        .max()
        .unwrap_or(0)
        .clamp(21, 32) as u16;
    let rows = drills
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, d)| {
            // A cancelled drill reached no verdict: it is neither a pass nor a failure.
            let (mark, style) = if d.cancelled {
                ("– cancel", theme.dim())
            } else if d.passed {
                ("✓ pass", theme.good())
            } else {
                ("✗ FAIL", theme.bad())
            };
            let rto = match d.rto_seconds {
                Some(r) => format!(
                    "{}{}",
                    secs(r),
                    if r <= d.rto_target_seconds {
                        ""
                    } else {
                        " ✗"
                    }
                ),
                None => "-".into(),
            };
            let rpo = d.rpo_seconds();
            let row = Row::new(vec![
                Cell::from(d.started_at.format("%Y-%m-%d %H:%M").to_string()),
                Cell::from(Span::styled(mark, style)),
                Cell::from(rto),
                Cell::from(format!(
                    "{}{}",
                    secs(rpo),
                    if rpo <= d.rpo_target_seconds {
                        ""
                    } else {
                        " ✗"
                    }
                )),
                Cell::from(d.set_id.to_string()),
                Cell::from(d.reasons.first().cloned().unwrap_or_default()),
            ]);
            if i == selected {
                row.style(theme.selected())
            } else {
                row
            }
        });
    let widths = [
        Constraint::Length(16),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(id_width),
        Constraint::Min(5),
    ];
    let title = format!(
        " Drill history (targets: RTO {}, RPO {}) ",
        secs(settings.rto_target_seconds),
        secs(settings.rpo_target_seconds)
    );
    let table = Table::new(rows, widths)
        .header(
            Row::new(vec!["started", "result", "RTO", "RPO", "set", "why"]).style(theme.heading()),
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(title, theme.heading())),
        );
    frame.render_widget(table, table_area);
    if chart_height > 0 {
        // Oldest to newest, left to right, in seconds: a sub-minute RPO is not rounded away.
        let rto_secs: Vec<f64> = drills
            .iter()
            .rev()
            .map(|d| d.rto_seconds.unwrap_or(0.0))
            .collect();
        let rpo_secs: Vec<f64> = drills.iter().rev().map(|d| d.rpo_seconds()).collect();
        let rows = usize::from(chart_height.saturating_sub(2));
        let rto = bars(&rto_secs, rows);
        let rpo = bars(&rpo_secs, rows);
        let title_width = usize::from((chart_area.width / 2).saturating_sub(2));
        let rto_title = chart_title("RTO", &rto_secs, settings.rto_target_seconds, title_width);
        let rpo_title = chart_title("RPO", &rpo_secs, settings.rpo_target_seconds, title_width);
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                .areas(chart_area);
        frame.render_widget(
            Sparkline::default()
                .data(&rto)
                .style(theme.accent())
                .block(Block::default().borders(Borders::ALL).title(rto_title)),
            left,
        );
        frame.render_widget(
            Sparkline::default()
                .data(&rpo)
                .style(theme.accent())
                .block(Block::default().borders(Borders::ALL).title(rpo_title)),
            right,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sub_minute_value_beside_a_long_one_still_draws_a_bar() {
        let b = bars(&[20.0, 86_400.0, 0.0], 2);
        assert!(b[0] * 16 >= b[1], "{b:?}");
        assert_eq!(b[2], 0);
    }

    #[test]
    fn chart_titles_carry_values_and_units() {
        assert_eq!(
            chart_title("RPO", &[3_600.0, 45.0], 86_400.0, 80),
            " RPO newest 45.0 s, max 1h 0m, target 1d 0h "
        );
        assert_eq!(
            chart_title("RPO", &[3_600.0, 45.0], 86_400.0, 38),
            " RPO newest 45.0 s, target 1d 0h "
        );
    }
}
