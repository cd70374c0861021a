//! Rendering: pure functions from state to a frame (the console); the headless text lives in
//! `report`. Nothing here does I/O or changes state; meaning is carried by words and symbols,
//! colour only repeats it (NO_COLOR drops it).

pub mod chrome;
pub mod confirm_restore;
pub mod dashboard;
pub mod details;
pub mod drills;
pub mod fleet;
pub mod history;
pub mod inventory;
pub mod jobs;
pub mod modals;
pub mod phases;
pub mod recover;
pub mod retention;
pub mod theme;

// The screens format sizes, ages and rates as the headless reports do: `super::format` is
// `report`'s.
use crate::report::format;

use crate::app::keymap::Keymap;
use crate::app::state::{AppState, Screen};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 15;

pub fn render(frame: &mut Frame, state: &AppState, keymap: &Keymap) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        // Short enough for one line at 50 columns; wrapped rather than cut below that.
        let text = format!(
            "Terminal too small ({}x{}): lifeboat needs {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let theme = theme::Theme::new(state.no_color);
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    chrome::tabs(frame, top, state, &theme);
    match state.screen {
        Screen::Dashboard => dashboard::render(frame, body, state, &theme),
        Screen::History => history::render(frame, body, state, &theme),
        Screen::Inventory => inventory::render(frame, body, state, &theme),
        Screen::Jobs => jobs::render(frame, body, state, &theme),
        Screen::Retention => retention::render(frame, body, state, &theme),
        Screen::Drills => drills::render(frame, body, state, &theme),
    }
    chrome::status_bar(frame, bottom, state, keymap, &theme);
    if let Some(modal) = &state.modal {
        modals::render(frame, area, state, modal, keymap, &theme);
    }
}

/// The first row to show so that `selected` stays visible in `height` rows.
pub fn scroll_offset(selected: usize, height: usize, len: usize) -> usize {
    if height == 0 || len <= height {
        return 0;
    }
    (selected + 1).saturating_sub(height).min(len - height)
}

pub fn inner(area: Rect) -> Rect {
    Rect {
        x: area.x + 1,
        y: area.y + 1,
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(2),
    }
}
