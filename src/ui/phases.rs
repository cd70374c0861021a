//! The two widgets a timed walkthrough is made of, shared by the drill's panel and the
//! recovery's runbook: a phase row (its mark and its ticking timer) and a manual-checklist
//! row.

use super::format;
use super::theme::Theme;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// Where a phase is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Running,
    Done,
    Failed,
    Pending,
}

/// ` ⟳ name   12.3 s`: the mark in its colour, the name, the seconds (the running phase's
/// elapsed time, ticking; none for a phase not started).
pub fn phase_line(mark: Mark, name: &str, seconds: Option<f64>, theme: &Theme) -> Line<'static> {
    let (symbol, style) = match mark {
        Mark::Running => ("⟳", theme.accent()),
        Mark::Done => ("✓", theme.good()),
        Mark::Failed => ("✗", theme.bad()),
        Mark::Pending => ("·", theme.dim()),
    };
    let secs = seconds.map(format::elapsed).unwrap_or_default();
    Line::from(vec![
        Span::styled(format!(" {symbol} "), style),
        Span::raw(format!("{name:<18} {secs:>8}")),
    ])
}

/// ` [x] step`; once the walkthrough is over an unticked step says so ("not done").
pub fn checklist_line(
    step: &str,
    done: bool,
    over: bool,
    selected: bool,
    theme: &Theme,
) -> Line<'static> {
    let text = match (done, over) {
        (true, _) => format!(" [x] {step}"),
        (false, false) => format!(" [ ] {step}"),
        (false, true) => format!(" [ ] {step} (not done)"),
    };
    let style = if selected {
        theme.selected()
    } else if done {
        theme.good()
    } else {
        Style::default()
    };
    Line::from(Span::styled(text, style))
}
