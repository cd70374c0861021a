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

/// The gauge's share and words. A finished job shows what it really moved (the estimate is
/// forgotten: it was only ever an estimate), a cancelled or failed one says so where it stopped,
/// and the ETA is left out while unknown or under a second, never "0s" mid-run.
fn gauge_label(p: &crate::app::view::Progress, status: &JobStatus) -> (f64, String) {
    let rate = format::rate(p.throughput());
    let amount = match p.total {
        Some(total) if p.done > total => {
            format!(
                "{}, past the ~{} estimate",
                format::bytes(p.done),
                format::bytes(total)
            )
        }
        Some(total) => format!("{} of ~{}", format::bytes(p.done), format::bytes(total)),
        None => format::bytes(p.done),
    };
    match status {
        JobStatus::Succeeded(_) => (
            1.0,
            format!(
                "{} done  {} in {}  {rate}",
                p.phase,
                format::bytes(p.done),
                format::age(p.elapsed)
            ),
        ),
        JobStatus::Cancelled(_) => (p.ratio(), format!("{} cancelled at {amount}", p.phase)),
        JobStatus::Failed(_) => (p.ratio(), format!("{} failed at {amount}", p.phase)),
        JobStatus::Running if p.finished => (
            1.0,
            format!(
                "{} 100%  {} in {}  {rate}",
                p.phase,
                format::bytes(p.done),
                format::age(p.elapsed)
            ),
        ),
        JobStatus::Running => {
            let eta = p
                .eta()
                .filter(|d| d.as_secs() >= 1)
                .map(|d| format!("  ETA {}", format::age(d)))
                .unwrap_or_default();
            let ratio = p.ratio();
            (
                ratio,
                format!("{} {:.0}%  {amount}  {rate}{eta}", p.phase, ratio * 100.0),
            )
        }
    }
}

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
        Some(p) => gauge_label(p, &job.status),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::view::Progress;
    use std::time::Duration;

    fn progress(done: u64, total: u64, elapsed_ms: u64) -> Progress {
        Progress {
            phase: "upload".into(),
            done,
            total: Some(total),
            elapsed: Duration::from_millis(elapsed_ms),
            finished: false,
        }
    }

    #[test]
    fn a_finished_gauge_shows_the_real_total_not_the_estimate() {
        let p = progress(6_186_598, 16_462_643, 3_000);
        let (ratio, label) = gauge_label(&p, &JobStatus::Succeeded("done".into()));
        assert_eq!(ratio, 1.0);
        assert!(label.contains("done  5.9 MiB in 3s"), "{label}");
        assert!(!label.contains("15.7") && !label.contains('~'), "{label}");
    }

    #[test]
    fn a_cancelled_gauge_says_cancelled_where_it_stopped() {
        let p = progress(6_186_598, 16_462_643, 3_000);
        let (ratio, label) = gauge_label(&p, &JobStatus::Cancelled("cancelled".into()));
        assert!(ratio < 1.0);
        assert!(
            label.contains("cancelled at 5.9 MiB of ~15.7 MiB"),
            "{label}"
        );
        assert!(!label.contains('%') && !label.contains("ETA"), "{label}");
    }

    #[test]
    fn the_eta_is_blank_while_unknown_and_never_0s() {
        // A quarter of a second in: no ETA yet.
        let (_, label) = gauge_label(&progress(1_000, 100_000, 250), &JobStatus::Running);
        assert!(!label.contains("ETA"), "{label}");
        // Nearly done: under a second left is no ETA, not "0s".
        let (_, label) = gauge_label(&progress(99_990, 100_000, 10_000), &JobStatus::Running);
        assert!(!label.contains("ETA"), "{label}");
        // Half-way after 10 s: 10 s left.
        let (_, label) = gauge_label(&progress(50_000, 100_000, 10_000), &JobStatus::Running);
        assert!(label.contains("ETA 10s"), "{label}");
        // Past the estimate: no ETA, and the words say so.
        let (_, label) = gauge_label(&progress(150_000, 100_000, 10_000), &JobStatus::Running);
        assert!(label.contains("past the ~97.7 KiB estimate"), "{label}");
        assert!(!label.contains("ETA"), "{label}");
    }
}
