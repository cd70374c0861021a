//! The restore confirmation: the whole truth of what a real restore will touch (the set, the
//! target URL with its password masked by the plan, every step in order), wrapped and never
//! cut sideways, with the typed-name line pinned above the answer keys so it is always in view.
//! When even wrapped text is taller than the screen, `fold` gives way row by row and says how
//! many rows a taller terminal would show.

use super::fold::{fold, Block as Rows};
use super::format;
use super::theme::Theme;
use crate::app::action::Action;
use crate::app::keymap::Keymap;
use crate::app::view::RestorePlan;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

/// The dialog's widest inner text, in columns (a wide terminal still reads in one glance).
const MAX_WIDTH: u16 = 110;

/// `lead` then `text` wrapped to `width` columns, continuation rows indented under the text.
fn hanging(lead: &str, text: &str, width: usize, style: Style) -> Vec<Line<'static>> {
    let indent = lead.chars().count();
    format::wrap(text, width.saturating_sub(indent).max(1))
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let lead = if i == 0 {
                lead.to_string()
            } else {
                " ".repeat(indent)
            };
            Line::from(Span::styled(format!("{lead}{chunk}"), style))
        })
        .collect()
}

pub fn render(
    frame: &mut Frame,
    area: Rect,
    plan: &RestorePlan,
    database: &str,
    typed: &str,
    keymap: &Keymap,
    theme: &Theme,
) {
    let outer_width = MAX_WIDTH.min(area.width.saturating_sub(2));
    let width = usize::from(outer_width.saturating_sub(2));
    let plain = Style::default();
    // The set and the target are what the operator must not misread: they give way last.
    let mut blocks: Vec<Rows> = vec![
        Rows::new(
            3,
            hanging(
                " ✓ Dry run passed for set ",
                plan.set_id.as_str(),
                width,
                theme.good(),
            ),
        ),
        Rows::new(3, hanging("   into ", &plan.target, width, theme.good())),
        Rows::new(
            2,
            vec![Line::from(Span::styled(
                " These steps will run, in order:",
                theme.heading(),
            ))],
        ),
    ];
    for (i, s) in plan.steps.iter().enumerate() {
        blocks.push(Rows::new(
            1,
            hanging(&format!("  {}. ", i + 1), &s.step, width, plain),
        ));
    }
    if let Some(files) = &plan.files {
        blocks.push(Rows::new(
            2,
            hanging(
                " ",
                &format!(
                    "{} existing file(s) will be overwritten.",
                    files.existing.len()
                ),
                width,
                plain,
            ),
        ));
    }
    let typed_style = if typed == database {
        theme.good()
    } else {
        theme.warn()
    };
    let mut pinned = hanging(
        " Type the database name ",
        &format!("`{database}` to restore:"),
        width,
        theme.heading(),
    );
    if let Some(last) = pinned.last_mut() {
        last.spans
            .push(Span::styled(format!(" {typed}▏"), typed_style));
    }
    let footer = Line::from(Span::styled(
        format!(
            " {} restores when the name matches · {} cancels",
            keymap.key(Action::Open),
            keymap.key(Action::Back)
        ),
        theme.dim(),
    ));
    // Rows: the border (2), a blank row and the pinned rows, the footer.
    let max_height = area.height.saturating_sub(2);
    let fixed = 2 + 1 + pinned.len() + 1;
    let room = usize::from(max_height).saturating_sub(fixed);
    let body = fold(blocks, room, width, "", theme);
    let height = (body.len() + fixed) as u16;
    let height = height.min(max_height);
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
    let mut lines = body;
    lines.push(Line::raw(""));
    let body_rows = usize::from(inner.height).saturating_sub(1);
    // The typed-name rows are the last of the body: whatever else gives way, they stay.
    let keep_body = body_rows.saturating_sub(pinned.len());
    lines.truncate(keep_body);
    lines.extend(pinned);
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
