//! The frame around every screen: the tab bar (digits jump), the status bar (hints generated
//! from the keymap, the filter prompt, notices).

use super::theme::Theme;
use crate::app::action::Action;
use crate::app::keymap::Keymap;
use crate::app::state::{AppState, Screen};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

pub fn tabs(frame: &mut Frame, area: Rect, state: &AppState, theme: &Theme) {
    let mut spans = vec![Span::styled(" lifeboat ", theme.heading())];
    for screen in Screen::ALL {
        let label = format!(" {} {} ", screen.index() + 1, screen.title());
        let style = if screen == state.screen {
            theme.selected()
        } else if matches!(screen, Screen::Retention | Screen::Drills) {
            theme.dim()
        } else {
            ratatui::style::Style::default()
        };
        spans.push(Span::styled(label, style));
    }
    let running = state.running_jobs();
    if running > 0 {
        spans.push(Span::styled(
            format!(" ⟳ {running} job{}", if running == 1 { "" } else { "s" }),
            theme.accent(),
        ));
    }
    let mut line = Line::from(spans);
    if line.width() > usize::from(area.width) {
        // At 80 columns the name gives way, so the running-jobs count stays in view.
        line.spans.remove(0);
    }
    frame.render_widget(Paragraph::new(line), area);
}

pub fn status_bar(frame: &mut Frame, area: Rect, state: &AppState, keymap: &Keymap, theme: &Theme) {
    if let Some(text) = &state.filter_input {
        let line = Line::from(vec![
            Span::styled("/", theme.heading()),
            Span::raw(text.clone()),
            Span::styled(
                format!(
                    "▏ {} keeps · {} clears",
                    keymap.key(Action::Open),
                    keymap.key(Action::Back)
                ),
                theme.dim(),
            ),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let mut spans = Vec::new();
    if let Some(notice) = &state.notice {
        spans.push(Span::styled(
            format!("{notice}  "),
            if notice.starts_with('✗') {
                theme.bad()
            } else {
                theme.accent()
            },
        ));
    } else if let (true, Some((loaded, total))) = (state.loading, state.load_progress) {
        spans.push(Span::styled(
            format!("loading {loaded} of {total}…  "),
            theme.dim(),
        ));
    } else if state.loading {
        spans.push(Span::styled("loading…  ", theme.dim()));
    }
    if let Some(app) = &state.fleet_app {
        spans.push(Span::styled(format!("{app}  "), theme.heading()));
        if state.screen == Screen::Dashboard {
            spans.push(Span::styled(
                format!("{} fleet  ", keymap.key(Action::Back)),
                theme.dim(),
            ));
        }
    }
    let hints: Vec<String> = keymap
        .bindings
        .iter()
        .filter(|b| b.hint)
        .filter(|b| match b.action {
            Action::Verify => matches!(state.screen, Screen::History | Screen::Inventory),
            Action::Filter => matches!(state.screen, Screen::History | Screen::Inventory),
            Action::Open => matches!(state.screen, Screen::History | Screen::Inventory),
            _ => true,
        })
        .map(|b| format!("{} {}", b.labels[0], short(b.action)))
        .collect();
    spans.push(Span::styled(hints.join("  "), theme.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn short(action: Action) -> &'static str {
    match action {
        Action::Quit => "quit",
        Action::Help => "help",
        Action::Open => "open",
        Action::Filter => "filter",
        Action::GuidedBackup => "backup",
        Action::Verify => "verify",
        Action::StartDrill => "drill",
        _ => "",
    }
}
