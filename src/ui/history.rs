//! History: every run from the journal merged with the repository's sets, newest first, with
//! the `/` filter. The detail pane (Enter) is drawn by `modals`.

use super::format;
use super::theme::Theme;
use crate::app::action::Action;
use crate::app::state::AppState;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use ratatui::Frame;

pub fn render(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let filter = &state.history.filter;
    let title = if filter.is_empty() {
        " History ".to_string()
    } else {
        format!(" History (filter: {filter}) ")
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title, theme.heading()));
    let Some(snapshot) = &state.snapshot else {
        frame.render_widget(Paragraph::new("loading…").block(block), area);
        return;
    };
    let rows: Vec<_> = snapshot
        .history
        .iter()
        .filter(|r| r.matches(filter))
        .collect();
    if rows.is_empty() {
        let keys = &state.keymap;
        let text = if filter.is_empty() {
            format!(
                "No runs yet. Press {} for a guided backup.",
                keys.key(Action::GuidedBackup)
            )
        } else {
            format!(
                "Nothing matches the filter ({} on {} clears it).",
                keys.key(Action::Back),
                keys.key(Action::Filter)
            )
        };
        frame.render_widget(Paragraph::new(text).style(theme.dim()).block(block), area);
        return;
    }
    let wide = area.width >= 110;
    let height = usize::from(area.height.saturating_sub(3));
    // Narrow screens give up the initiator before the set id (ids to the millisecond are 25
    // characters): it is in the detail pane, and a safety backup says so in its status.
    let with_by = wide || area.width >= 82;
    // Below 80 columns the set id (the last column) and the status are cut last: the
    // duration, then the size, then the start time give way first, so the id stays whole.
    let id_need = rows
        .iter()
        .filter_map(|r| r.set_id.as_ref().map(|id| id.chars().count()))
        .max()
        .unwrap_or(0) as u16;
    let fixed = |took: bool, size: bool, started: bool| -> u16 {
        2 + 12
            + 3
            + [(started, 12), (took, 8), (size, 10)]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, w)| w)
                .sum::<u16>()
    };
    let with_took = wide || with_by || area.width >= fixed(true, true, true) + id_need;
    let with_size = wide || with_by || area.width >= fixed(false, true, true) + id_need;
    let with_started = wide || with_by || area.width >= fixed(false, false, true) + id_need;
    let mut widths: Vec<u16> = vec![11];
    if with_started {
        widths.push(11);
    }
    if with_took {
        widths.push(7);
    }
    if with_size {
        widths.push(9);
    }
    widths.push(2);
    if with_by {
        widths.push(8);
    }
    if wide {
        // Old set ids are 21 characters, ids to the millisecond 25: as wide as the longest.
        let id_width = rows
            .iter()
            .filter_map(|r| r.set_id.as_ref().map(|id| id.chars().count()))
            .max()
            .unwrap_or(0)
            .clamp(21, 32) as u16;
        widths.extend([id_width, 12]);
    }
    // The last column takes what is left (borders and one space between columns aside); its
    // text is cut with `…` to that, so a cut error shows as cut (Enter shows it whole).
    let last_width = usize::from(
        area.width
            .saturating_sub(2 + widths.iter().sum::<u16>() + widths.len() as u16),
    );
    let offset = super::scroll_offset(state.history.selected, height, rows.len());
    let table_rows = rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, r)| {
            let (mark, style) = if r.pruned {
                ("·", theme.dim())
            } else if r.ok {
                ("✓", theme.good())
            } else if r.status == "running" {
                ("⟳", theme.accent())
            } else {
                ("✗", theme.bad())
            };
            let verified = match &r.verified {
                Some((true, _, _)) => "✓",
                Some((false, _, _)) => "✗",
                None => "·",
            };
            let duration = r
                .finished_at
                .map(|f| format::age_secs((f - r.started_at).num_seconds()))
                .unwrap_or_else(|| "-".into());
            let status = if !with_by && r.ok && r.initiator == "safety" {
                "safety"
            } else {
                r.status.as_str()
            };
            let mut cells = vec![Cell::from(Span::styled(format!("{mark} {status}"), style))];
            if with_started {
                cells.push(Cell::from(r.started_at.format("%m-%d %H:%M").to_string()));
            }
            if with_took {
                cells.push(Cell::from(duration));
            }
            if with_size {
                cells.push(Cell::from(
                    r.bytes.map(format::bytes).unwrap_or_else(|| "-".into()),
                ));
            }
            cells.push(Cell::from(verified));
            if with_by {
                cells.push(Cell::from(r.initiator.clone()));
            }
            if wide {
                cells.push(Cell::from(r.set_id.clone().unwrap_or_default()));
                cells.push(Cell::from(
                    r.sha256
                        .as_deref()
                        .map(format::short_hash)
                        .unwrap_or("")
                        .to_string(),
                ));
            }
            let last = r.error.clone().unwrap_or_else(|| {
                if wide {
                    r.destination.clone()
                } else {
                    r.set_id.clone().unwrap_or_default()
                }
            });
            cells.push(Cell::from(format::fit(&last, last_width)));
            let row = Row::new(cells);
            if i == state.history.selected {
                row.style(theme.selected())
            } else {
                row
            }
        });
    let mut widths: Vec<Constraint> = widths.into_iter().map(Constraint::Length).collect();
    let mut header = vec!["status"];
    if with_started {
        header.push("started");
    }
    if with_took {
        header.push("took");
    }
    if with_size {
        header.push("size");
    }
    header.push("v");
    if with_by {
        header.push("by");
    }
    if wide {
        header.extend(["set", "sha256"]);
    }
    widths.push(Constraint::Min(10));
    header.push(if wide {
        "error / destination"
    } else {
        "set / error"
    });
    let table = Table::new(table_rows, widths)
        .header(Row::new(header).style(theme.heading()))
        .block(block);
    frame.render_widget(table, area);
}
