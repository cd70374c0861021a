//! The restore confirmation: the whole truth of what a real restore will touch (the set, the
//! target URL with its password masked by the plan, every step in order), wrapped and never
//! cut sideways, with the typed-name line pinned above the answer keys so it is always in view.
//! When the body is taller than the screen it scrolls (the list keys), and a row says which
//! rows are in view; `app::dialog_layout` decides the rows, so the reducer bounds the scroll
//! by the same numbers.

use super::theme::Theme;
use crate::app::action::Action;
use crate::app::keymap::{display_label, Keymap};
use crate::app::view::dialog_layout::{self, Row, Tone};
use crate::app::view::RestorePlan;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

fn styled(row: &Row, theme: &Theme) -> Line<'static> {
    let style = match row.tone {
        Tone::Good => theme.good(),
        Tone::Bad => theme.bad(),
        Tone::Heading => theme.heading(),
        Tone::Plain => Style::default(),
    };
    Line::from(Span::styled(row.text.clone(), style))
}

/// The first key bound to `action` that still acts while the name is typed: a named key or a
/// ctrl chord, not a letter (letters type) nor a sequence.
fn key_while_typing(keymap: &Keymap, action: Action) -> String {
    keymap
        .bindings
        .iter()
        .filter(|b| b.action == action)
        .flat_map(|b| b.labels.iter())
        .find(|l| l.chars().count() > 1 && !l.contains(' '))
        .map(|l| display_label(l))
        .unwrap_or_else(|| "?".into())
}

#[allow(clippy::too_many_arguments)]
pub fn render(
    frame: &mut Frame,
    area: Rect,
    plan: &RestorePlan,
    database: &str,
    typed: &str,
    scroll: usize,
    keymap: &Keymap,
    theme: &Theme,
) {
    let layout = dialog_layout::restore(plan, database, area.width, area.height);
    let scroll = scroll.min(layout.max_scroll());
    let mut lines: Vec<Line> = layout
        .body
        .iter()
        .skip(scroll)
        .take(layout.visible)
        .map(|r| styled(r, theme))
        .collect();
    if layout.scrolls() {
        let last = scroll + layout.visible;
        lines.push(Line::from(Span::styled(
            format!(
                " rows {}-{last} of {} · {}/{} {}/{} scroll",
                scroll + 1,
                layout.body.len(),
                key_while_typing(keymap, Action::Up),
                key_while_typing(keymap, Action::Down),
                key_while_typing(keymap, Action::PageUp),
                key_while_typing(keymap, Action::PageDown),
            ),
            theme.dim(),
        )));
    }
    lines.push(Line::raw(""));
    let typed_style = if typed == database {
        theme.good()
    } else {
        theme.warn()
    };
    let mut pinned: Vec<Line> = layout.pinned.iter().map(|r| styled(r, theme)).collect();
    if let Some(last) = pinned.last_mut() {
        last.spans
            .push(Span::styled(format!(" {typed}▏"), typed_style));
    }
    lines.extend(pinned);
    let footer = Line::from(Span::styled(
        format!(
            " {} restores when the name matches · {} cancels",
            keymap.key(Action::Open),
            keymap.key(Action::Back)
        ),
        theme.dim(),
    ));
    // The border (2) and the footer.
    let height = (lines.len() + 3).min(usize::from(area.height.saturating_sub(2))) as u16;
    let outer_width = layout.outer_width;
    let rect = Rect {
        x: area.x + (area.width - outer_width) / 2,
        y: area.y + (area.height - height) / 2,
        width: outer_width,
        height,
    };
    frame.render_widget(Clear, rect);
    let block = Block::default().borders(Borders::ALL).title(Span::styled(
        " Restore: this replaces data ",
        theme.heading(),
    ));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    frame.render_widget(
        Paragraph::new(lines),
        Rect {
            height: inner.height.saturating_sub(1),
            ..inner
        },
    );
    if inner.height > 0 {
        frame.render_widget(
            Paragraph::new(footer),
            Rect {
                y: inner.y + inner.height - 1,
                height: 1,
                ..inner
            },
        );
    }
}
