//! The detail panes that Enter opens outside History: one inventory object (its set, size,
//! date and what it is), and a drill record's report, scrolled with the list keys.

use super::format;
use super::theme::Theme;
use crate::app::action::Action;
use crate::app::inventory_tree::{RowKind, TreeRow};
use crate::app::state::AppState;
use crate::app::view;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

fn what(kind: &RowKind) -> &'static str {
    match kind {
        RowKind::Set { .. } => "a backup set",
        RowKind::Object => "an object of a backup set",
        RowKind::Drill => "a drill record (no report loaded for it)",
        RowKind::Pin => "a pin: retention keeps its set",
        RowKind::Stray => "a stray object: no set claims it (prune removes it as garbage)",
        RowKind::Spooled => "a set in the local spool: it awaits upload",
    }
}

fn pane(frame: &mut Frame, area: Rect, title: String, lines: Vec<Line>, scroll: usize) {
    frame.render_widget(Clear, area);
    let block = Block::default().borders(Borders::ALL).title(title);
    let scroll = u16::try_from(scroll).unwrap_or(u16::MAX);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(block),
        area,
    );
}

/// A box inset by one cell, so the screen behind still frames it.
fn inset(area: Rect) -> Rect {
    Rect {
        x: area.x + 1,
        y: area.y + 1,
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(2),
    }
}

pub fn object(frame: &mut Frame, area: Rect, state: &AppState, row: &TreeRow, theme: &Theme) {
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::styled(format!(" {name:<10}"), theme.heading()),
            Span::raw(value),
        ])
    };
    let mut lines = vec![
        field("name", row.name.clone()),
        field("what", what(&row.kind).into()),
    ];
    if let Some(set) = &row.set_id {
        lines.push(field("set", set.clone()));
    }
    if !matches!(row.kind, RowKind::Spooled) {
        lines.push(field("size", format::bytes(row.size)));
    }
    if let Some(t) = row.modified {
        lines.push(field(
            "modified",
            t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        ));
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(
        format!(" {} closes", state.keymap.key(Action::Back)),
        theme.dim(),
    )));
    let height = (lines.len() as u16 + 2).min(area.height);
    let box_area = Rect {
        y: area.y + area.height.saturating_sub(height) / 2,
        height,
        ..inset(area)
    };
    pane(
        frame,
        box_area,
        format!(" {} ", row.display_name()),
        lines,
        0,
    );
}

pub fn drill_report(
    frame: &mut Frame,
    area: Rect,
    state: &AppState,
    index: usize,
    scroll: usize,
    theme: &Theme,
) {
    let Some(record) = state.snapshot.as_ref().and_then(|s| s.drills.get(index)) else {
        return;
    };
    let mut lines: Vec<Line> = view::drill_report(record)
        .lines()
        .map(|l| Line::raw(format!(" {l}")))
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(
        format!(
            " {}/{} scroll · {} closes",
            state.keymap.key(Action::Up),
            state.keymap.key(Action::Down),
            state.keymap.key(Action::Back)
        ),
        theme.dim(),
    )));
    let title = format!(" Drill report {} ", record.drill_id);
    pane(frame, inset(area), title, lines, scroll);
}
