//! Inventory: the repository as a tree of sets (Enter expands one into its objects), drill
//! records, stray objects and sets waiting in the local spool, each marked in words.

use super::format;
use super::theme::Theme;
use crate::app::action::Action;
use crate::app::inventory_tree::{self, RowKind};
use crate::app::state::AppState;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use ratatui::Frame;

pub fn render(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let filter = &state.inventory.filter;
    let total = state
        .snapshot
        .as_ref()
        .and_then(|s| s.inventory.as_ref())
        .map(|i| format!(" {} ", format::bytes(i.total_bytes())))
        .unwrap_or_default();
    let title = format!(
        " Inventory: {}{total}{}",
        state.repository,
        if filter.is_empty() {
            String::new()
        } else {
            format!("(filter: {filter}) ")
        }
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title, theme.heading()));
    let height = usize::from(area.height.saturating_sub(3));
    // One pass over the tree for the rows on screen and its length: the cursor is always on a
    // row (update clamps it), so where the window starts does not need the length first.
    let mut offset = (state.inventory.selected + 1).saturating_sub(height);
    let (mut rows, len) = inventory_tree::window_and_len(state, offset, height);
    if len == 0 {
        let text = match (&state.snapshot, &state.load_error) {
            (_, Some(e)) => format!("✗ {e}"),
            (None, None) => "listing…".into(),
            (Some(_), None) if !filter.is_empty() => format!(
                "Nothing matches `{filter}` (set ids and object names; {} then {} clears it).",
                state.keymap.key(Action::Filter),
                state.keymap.key(Action::Back)
            ),
            (Some(_), None) => "The repository is empty.".into(),
        };
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    // Narrow screens drop the year from the date so the state column keeps its words.
    let wide = area.width >= 110;
    if offset != super::scroll_offset(state.inventory.selected, height, len) {
        offset = super::scroll_offset(state.inventory.selected, height, len);
        rows = inventory_tree::window(state, offset, height);
    }
    let table_rows = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (offset + i, r))
        .map(|(i, r)| {
            let (name, state_text, style) = match &r.kind {
                RowKind::Set {
                    complete,
                    expanded,
                    missing,
                    note,
                } => {
                    let arrow = if *expanded { "▾" } else { "▸" };
                    let (text, style) = match (complete, missing, note) {
                        (true, 0, _) => ("complete".to_string(), theme.good()),
                        (true, n, _) => (format!("✗ {n} object(s) missing"), theme.bad()),
                        (false, _, Some(e)) => (format!("✗ incomplete: {e}"), theme.bad()),
                        (false, _, None) => ("✗ incomplete (no manifest)".to_string(), theme.bad()),
                    };
                    (format!("{arrow} {}", r.name), text, style)
                }
                RowKind::Object => (
                    format!("    {}", r.name),
                    String::new(),
                    ratatui::style::Style::default(),
                ),
                RowKind::Pin => (
                    r.display_name().to_string(),
                    "pin: retention keeps the set".into(),
                    theme.accent(),
                ),
                RowKind::Drill => (
                    r.display_name().to_string(),
                    "drill record".into(),
                    theme.dim(),
                ),
                RowKind::Stray => (r.name.clone(), "! stray object".into(), theme.warn()),
                RowKind::Spooled => (
                    format!("  {}", r.name),
                    "! local only: awaits upload".into(),
                    theme.warn(),
                ),
            };
            let date = if wide {
                "%Y-%m-%d %H:%M"
            } else {
                "%m-%d %H:%M"
            };
            let modified = r
                .modified
                .map(|t| t.format(date).to_string())
                .unwrap_or_default();
            let size = if matches!(r.kind, RowKind::Spooled) {
                String::new()
            } else {
                format::bytes(r.size)
            };
            let row = Row::new(vec![
                Cell::from(name),
                Cell::from(size),
                Cell::from(modified),
                Cell::from(Span::styled(state_text, style)),
            ]);
            if i == state.inventory.selected {
                row.style(theme.selected())
            } else {
                row
            }
        });
    // Narrow: the tree marker and a set id to the millisecond (25 characters) fit whole.
    let widths = [
        Constraint::Length(if wide { 40 } else { 28 }),
        Constraint::Length(10),
        Constraint::Length(if wide { 16 } else { 11 }),
        Constraint::Min(10),
    ];
    let table = Table::new(table_rows, widths)
        .header(Row::new(vec!["set / object", "size", "modified", "state"]).style(theme.heading()))
        .block(block);
    frame.render_widget(table, area);
}
