//! Jobs: running and recent jobs, the selected one's phase, gauge (bytes done of the estimate,
//! throughput, ETA) and its scrolling log.

use super::format;
use super::theme::Theme;
use crate::app::action::Action;
use crate::app::state::{AppState, JobStatus};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, List, ListItem, Paragraph};
use ratatui::Frame;

pub fn render(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    if state.jobs.is_empty() {
        let block = Block::default()
            .borders(Borders::ALL)
            .title(Span::styled(" Jobs ", theme.heading()));
        frame.render_widget(
            Paragraph::new(format!(
                "No jobs yet. {} starts a guided backup; {} verifies the selected set.",
                state.keymap.key(Action::GuidedBackup),
                state.keymap.key(Action::Verify)
            ))
            .style(theme.dim())
            .block(block),
            area,
        );
        return;
    }
    let list_height = (state.jobs.len() as u16 + 2).min(area.height / 3).max(3);
    let [list_area, gauge_area, log_area] = Layout::vertical([
        Constraint::Length(list_height),
        Constraint::Length(3),
        Constraint::Min(3),
    ])
    .areas(area);
    let items: Vec<ListItem> = state
        .jobs
        .iter()
        .enumerate()
        .map(|(i, j)| {
            let (mark, style, word) = match &j.status {
                JobStatus::Running => ("⟳", theme.accent(), format!("running: {}", j.phase)),
                JobStatus::Succeeded(s) => ("✓", theme.good(), s.clone()),
                JobStatus::Failed(e) => ("✗", theme.bad(), format!("failed: {e}")),
                JobStatus::Cancelled(e) => ("✗", theme.warn(), e.clone()),
            };
            // One row per job, cut with `…` so a cut shows (the log below has the whole text).
            let text = format!("#{} {}  {}", j.id, j.title(), word);
            let line = Line::from(vec![
                Span::styled(format!("{mark} "), style),
                Span::raw(format::fit(
                    &text,
                    usize::from(area.width.saturating_sub(4)),
                )),
            ]);
            let item = ListItem::new(line);
            if i == state.selected_job {
                item.style(theme.selected())
            } else {
                item
            }
        })
        .collect();
    frame.render_widget(
        List::new(items).block(Block::default().borders(Borders::ALL).title(Span::styled(
            format!(" Jobs ({} cancels) ", state.keymap.key(Action::CancelJob)),
            theme.heading(),
        ))),
        list_area,
    );
    let Some(job) = state.jobs.get(state.selected_job) else {
        return;
    };
    let (ratio, label) = match &job.progress {
        Some(p) => {
            let total = p.total.map(format::bytes).unwrap_or_else(|| "?".into());
            let eta = p
                .eta()
                .map(|d| format!("  ETA {}", format::age(d)))
                .unwrap_or_default();
            let ratio = if job.status.is_running() {
                p.ratio()
            } else if matches!(job.status, JobStatus::Succeeded(_)) {
                1.0
            } else {
                p.ratio()
            };
            (
                ratio,
                format!(
                    "{} {:.0}%  {} of ~{}  {}{eta}",
                    p.phase,
                    ratio * 100.0,
                    format::bytes(p.done),
                    total,
                    format::rate(p.throughput())
                ),
            )
        }
        None => (0.0, job.phase.clone()),
    };
    let gauge = Gauge::default()
        .block(Block::default().borders(Borders::ALL).title(format!(
            " #{} {} ",
            job.id,
            job.title()
        )))
        .gauge_style(theme.accent())
        .ratio(ratio.clamp(0.0, 1.0))
        .label(label);
    frame.render_widget(gauge, gauge_area);
    // The tail of the log, wrapped (an error is read whole, not cut at the border): lines are
    // wrapped here, so the rows they take are known and the newest stays at the bottom.
    let visible = usize::from(log_area.height.saturating_sub(2));
    let width = usize::from(log_area.width.saturating_sub(2));
    let mut lines: Vec<Line> = Vec::new();
    for l in job.log.iter().rev() {
        if lines.len() >= visible {
            break;
        }
        let style = if l.starts_with('✗') {
            theme.bad()
        } else if l.starts_with('!') {
            theme.warn()
        } else {
            ratatui::style::Style::default()
        };
        for chunk in format::wrap(l, width).into_iter().rev() {
            lines.push(Line::from(Span::styled(chunk, style)));
        }
    }
    lines.reverse();
    let skip = lines.len().saturating_sub(visible);
    let lines: Vec<Line> = lines.into_iter().skip(skip).collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Log ")),
        log_area,
    );
}
