//! Dialogs drawn over the screen: help (generated from the keymap), a set's detail pane, the
//! guided backup, and confirmations that say exactly what will happen.

use super::format;
use super::theme::Theme;
use crate::app::action::Action;
use crate::app::keymap::Keymap;
use crate::app::state::{AppState, JobKind, Modal, WizardStep};
use crate::app::view;
use crate::app::view::dialog_layout::{self, Tone};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width.saturating_sub(2));
    let h = height.min(area.height.saturating_sub(2));
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Inner columns of a dialog `width` wide (before `centered` clamps it) on `area`.
fn inner_width(area: Rect, width: u16) -> usize {
    usize::from(width.min(area.width.saturating_sub(2)).saturating_sub(2))
}

/// `lead` then `text` wrapped to `width` columns, continuation lines indented under the text.
fn hanging(lead: &str, text: &str, width: usize, style: Style) -> Vec<Line<'static>> {
    let indent = lead.chars().count();
    format::wrap(text, width.saturating_sub(indent))
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

/// Help text for `width` columns: whole if it fits, else the binding's short text (unique
/// among the bindings, so two lines never read the same), cut with `…` only if even that is too
/// long.
fn short_help(help: &str, short: &str, width: usize) -> String {
    if help.chars().count() <= width {
        return help.to_string();
    }
    format::fit(short, width)
}

/// A box of `lines` (a screen's keys), `width` wide and as tall as its lines, centred on `area`.
pub fn centered_box(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    width: u16,
    lines: Vec<Line>,
    theme: &Theme,
) {
    let rect = centered(area, width, lines.len() as u16 + 2);
    dialog(frame, rect, title, lines, theme);
}

fn dialog(frame: &mut Frame, area: Rect, title: &str, lines: Vec<Line>, theme: &Theme) {
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {title} "), theme.heading()));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block),
        area,
    );
}

/// A dialog whose last line (the keys that answer it) always shows: the body is cut to fit,
/// one row per line, rather than pushing the answer off a small screen.
fn dialog_with_footer(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    body: Vec<Line>,
    footer: Line,
    theme: &Theme,
) {
    frame.render_widget(Clear, area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(format!(" {title} "), theme.heading()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let body_area = Rect {
        height: inner.height - 1,
        ..inner
    };
    let footer_area = Rect {
        y: inner.y + inner.height - 1,
        height: 1,
        ..inner
    };
    frame.render_widget(Paragraph::new(body), body_area);
    frame.render_widget(Paragraph::new(footer), footer_area);
}

pub fn render(
    frame: &mut Frame,
    area: Rect,
    state: &AppState,
    modal: &Modal,
    keymap: &Keymap,
    theme: &Theme,
) {
    match modal {
        Modal::PinNote { set_id, typed } => {
            let lines = vec![
                Line::raw(format!(
                    " Pin set {set_id}: no retention rule will delete it while pinned."
                )),
                Line::raw(""),
                Line::from(vec![
                    Span::styled(" Why is it kept? ", theme.heading()),
                    Span::raw(format!("{typed}▏")),
                ]),
            ];
            let footer = Line::from(Span::styled(
                format!(
                    " {} pins · {} cancels",
                    keymap.key(Action::Open),
                    keymap.key(Action::Back)
                ),
                theme.dim(),
            ));
            dialog_with_footer(
                frame,
                centered(area, 80, 6),
                "Pin a set",
                lines,
                footer,
                theme,
            );
        }
        Modal::ConfirmPrune {
            sets,
            garbage,
            bytes,
        } => {
            let lines = vec![
                Line::raw(format!(
                    " Delete {sets} expired set(s) and {garbage} garbage item(s), freeing {}.",
                    format::bytes(*bytes)
                )),
                Line::raw(" Each set's manifest.json goes first, so an interrupted prune leaves"),
                Line::raw(
                    " incomplete sets (garbage for the next prune), never broken complete ones.",
                ),
                Line::raw(
                    " The newest set, the newest verified set, the set of the last passing drill",
                ),
                Line::raw(
                    " or recovery, pinned sets and sets younger than min_age are never deleted.",
                ),
            ];
            let footer = Line::from(Span::styled(
                format!(" {} delete · {} keep everything", yes(keymap), no(keymap)),
                theme.heading(),
            ));
            dialog_with_footer(frame, centered(area, 80, 8), "Prune?", lines, footer, theme);
        }
        Modal::ConfirmRestore {
            plan,
            database,
            typed,
            scroll,
        } => super::confirm_restore::render(
            frame, area, plan, database, typed, *scroll, keymap, theme,
        ),
        Modal::Help { scroll } => help(frame, area, *scroll, keymap, theme),
        Modal::ConfirmQuit => {
            let running: Vec<String> = state
                .jobs
                .iter()
                .filter(|j| j.status.is_running())
                .map(|j| format!("#{} {}", j.id, j.title()))
                .collect();
            let lines = vec![
                Line::raw(format!(" Running: {}", running.join(", "))),
                Line::raw(""),
                Line::raw(" Quitting cancels them. A cancelled backup leaves no complete-looking"),
                Line::raw(" set; its partial objects stay as an incomplete set until pruned."),
                Line::raw(""),
                Line::from(Span::styled(
                    format!(" {} quit and cancel · {} stay", yes(keymap), no(keymap)),
                    theme.heading(),
                )),
            ];
            dialog(
                frame,
                centered(area, 76, 9),
                "Quit while a job runs?",
                lines,
                theme,
            );
        }
        Modal::ConfirmCancel { job } => {
            let title = state.job(*job).map(|j| j.title()).unwrap_or_default();
            let backup = state.job(*job).is_some_and(|j| j.kind == JobKind::Backup);
            let mut lines = vec![
                Line::raw(format!(" Cancel job #{job} ({title})?")),
                Line::raw(""),
            ];
            if backup {
                lines.push(Line::raw(
                    " The set will not be marked complete; its partial objects stay as an",
                ));
                lines.push(Line::raw(" incomplete set until pruned."));
                lines.push(Line::raw(""));
            }
            lines.push(Line::from(Span::styled(
                format!(
                    " {} cancel the job · {} keep it running",
                    yes(keymap),
                    no(keymap)
                ),
                theme.heading(),
            )));
            dialog(
                frame,
                centered(area, 76, lines.len() as u16 + 2),
                "Cancel?",
                lines,
                theme,
            );
        }
        Modal::OfferVerify { set_id } => {
            let lines = vec![
                Line::from(Span::styled(
                    format!(" ✓ Set {set_id} is complete."),
                    theme.good(),
                )),
                Line::raw(""),
                Line::raw(
                    " Verify it now? Every stored object is re-read and hashed (no keys needed).",
                ),
                Line::raw(""),
                Line::from(Span::styled(
                    format!(" {} verify · {} not now", yes(keymap), no(keymap)),
                    theme.heading(),
                )),
            ];
            dialog(
                frame,
                centered(area, 80, 7),
                "Backup complete",
                lines,
                theme,
            );
        }
        Modal::Wizard(step) => wizard(frame, area, step, keymap, theme),
        Modal::Detail { row, .. } => detail(frame, area, state, *row, theme),
        Modal::ObjectDetail(row) => super::details::object(frame, area, state, row, theme),
        Modal::DrillReport { index, scroll } => {
            super::details::drill_report(frame, area, state, *index, *scroll, theme)
        }
    }
}

/// The keys that answer a yes/no dialog, as bound.
fn yes(keymap: &Keymap) -> String {
    keymap.key(Action::Confirm)
}

fn no(keymap: &Keymap) -> String {
    keymap.key(Action::Deny)
}

/// The keys, generated from the keymap: one column where the screen is tall enough, two
/// (help text shortened to fit) where it is not, scrolled with the list keys where even two
/// columns do not fit (`app::dialog_layout` decides, the reducer bounds the scroll by it).
fn help(frame: &mut Frame, area: Rect, scroll: usize, keymap: &Keymap, theme: &Theme) {
    let entries: Vec<(String, &str, &str)> = keymap
        .bindings
        .iter()
        .map(|b| (b.labels.join(" "), b.help.as_str(), b.short.as_str()))
        .collect();
    let layout = view::dialog_layout::help(keymap, area.width, area.height);
    let (columns, per_column, width) = (layout.columns, layout.rows, layout.width);
    let column_width = usize::from(width.saturating_sub(2)) / columns;
    let key_widths: Vec<usize> = (0..columns)
        .map(|column| {
            entries
                .iter()
                .skip(column * per_column)
                .take(per_column)
                .map(|(k, _, _)| k.chars().count())
                .max()
                .unwrap_or(0)
                .min(16)
                + 1
        })
        .collect();
    let scroll = scroll.min(layout.max_scroll());
    let mut lines: Vec<Line> = (scroll..per_column)
        .take(layout.visible)
        .map(|row| {
            let mut spans = Vec::new();
            for (column, &key_width) in key_widths.iter().enumerate() {
                if let Some((keys, help, short)) = entries.get(column * per_column + row) {
                    let text_width = column_width.saturating_sub(key_width + 2);
                    let text = short_help(help, short, text_width);
                    spans.push(Span::styled(format!(" {keys:<key_width$}"), theme.accent()));
                    spans.push(Span::raw(format!("{text:<text_width$} ")));
                }
            }
            Line::from(spans)
        })
        .collect();
    if layout.scrolls() {
        lines.push(Line::from(Span::styled(
            format!(
                " rows {}-{} of {} · {}/{} {}/{} scroll",
                scroll + 1,
                scroll + layout.visible,
                per_column,
                keymap.key(Action::Up),
                keymap.key(Action::Down),
                keymap.key(Action::PageUp),
                keymap.key(Action::PageDown),
            ),
            theme.dim(),
        )));
    }
    let h = lines.len() as u16 + 2;
    dialog(
        frame,
        centered(area, width, h),
        &format!(
            "Keys ({} or {} closes)",
            keymap.key(Action::Help),
            keymap.key(Action::Back)
        ),
        lines,
        theme,
    );
}

fn wizard(frame: &mut Frame, area: Rect, step: &WizardStep, keymap: &Keymap, theme: &Theme) {
    let (report, scroll) = match step {
        WizardStep::Checking => {
            let lines = vec![
                Line::raw(" Checking the database, files, secrets, repositories and keys…"),
                Line::raw(""),
                Line::from(Span::styled(
                    format!(" {} cancels", keymap.key(Action::Back)),
                    theme.dim(),
                )),
            ];
            dialog(
                frame,
                centered(area, 76, 5),
                "Guided backup: preflight",
                lines,
                theme,
            );
            return;
        }
        WizardStep::Ready { report, scroll } => (report, *scroll),
    };
    // Every line is wrapped, not cut: a failed check's detail is what says how to fix it. On a
    // short screen the dialog scrolls (the list keys), so every check stays reachable.
    let layout = dialog_layout::preflight(report, area.width, area.height);
    let scroll = scroll.min(layout.max_scroll());
    let mut lines: Vec<Line> = layout
        .rows
        .iter()
        .skip(scroll)
        .take(layout.visible)
        .map(|r| {
            let style = match r.tone {
                Tone::Good => theme.good(),
                Tone::Bad => theme.bad(),
                Tone::Heading => theme.heading(),
                Tone::Plain => Style::default(),
            };
            Line::from(vec![
                Span::styled(r.lead.clone(), style),
                Span::raw(r.text.clone()),
            ])
        })
        .collect();
    if layout.scrolls() {
        lines.push(Line::from(Span::styled(
            format!(
                " rows {}-{} of {} · {}/{} {}/{} scroll",
                scroll + 1,
                scroll + layout.visible,
                layout.rows.len(),
                keymap.key(Action::Up),
                keymap.key(Action::Down),
                keymap.key(Action::PageUp),
                keymap.key(Action::PageDown),
            ),
            theme.dim(),
        )));
    }
    let footer = if report.ok() {
        Line::from(Span::styled(
            format!(
                " {} start the backup · {} cancel",
                keymap.key(Action::Open),
                keymap.key(Action::Back)
            ),
            theme.heading(),
        ))
    } else {
        Line::from(Span::styled(
            format!(
                " ✗ Fix the items marked ✗, then press {} again · {} close",
                keymap.key(Action::GuidedBackup),
                keymap.key(Action::Back)
            ),
            theme.bad(),
        ))
    };
    let h = lines.len() as u16 + 3;
    dialog_with_footer(
        frame,
        centered(area, layout.outer_width, h),
        "Guided backup",
        lines,
        footer,
        theme,
    );
}

fn detail(frame: &mut Frame, area: Rect, state: &AppState, row: usize, theme: &Theme) {
    let Some(r) = state.snapshot.as_ref().and_then(|s| s.history.get(row)) else {
        return;
    };
    // Wrapped, not cut: the error and the checksum are what this pane is opened for.
    let width = inner_width(area, 118);
    let plain = Style::default();
    let mut lines = Vec::new();
    let (mark, style) = if r.ok {
        ("✓", theme.good())
    } else {
        ("✗", theme.bad())
    };
    let status = format!(" {mark} {}", r.status);
    let when = format!(
        "  {}  by {}",
        r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        r.initiator
    );
    let to = format!("  to {}", r.destination);
    if [&status, &when, &to]
        .iter()
        .map(|t| t.chars().count())
        .sum::<usize>()
        <= width
    {
        lines.push(Line::from(vec![
            Span::styled(status, style),
            Span::raw(format!("{when}{to}")),
        ]));
    } else {
        lines.push(Line::from(vec![
            Span::styled(status, style),
            Span::raw(when),
        ]));
        lines.extend(hanging(" to ", &r.destination, width, plain));
    }
    if let Some(e) = &r.error {
        lines.extend(hanging(" ✗ ", e, width, theme.bad()));
    }
    if let Some(sha) = &r.sha256 {
        lines.extend(hanging(
            " ",
            &format!("checksums.sha256 sha256 {sha}"),
            width,
            plain,
        ));
    }
    if let Some((ok, level, at)) = &r.verified {
        lines.push(Line::raw(format!(
            " verified {} ({level}) {} ago",
            if *ok { "✓" } else { "✗ DAMAGED" },
            format::age_secs((state.now - *at).num_seconds())
        )));
    }
    if let Some(m) = &r.manifest {
        lines.push(Line::from(Span::styled(
            format!(" Set {}", m.set_id),
            theme.heading(),
        )));
        lines.extend(hanging(
            " ",
            &format!(
                "snapshot {}  host {}  lifeboat {}",
                m.snapshot_time.format("%Y-%m-%d %H:%M:%S UTC"),
                m.host,
                m.lifeboat_version
            ),
            width,
            plain,
        ));
        lines.extend(hanging(
            " ",
            &format!(
                "source {} ({}), PostgreSQL {}, pg_dump {}, {} tables",
                m.source.database,
                format::bytes(m.source.database_size_bytes),
                m.source.server_version,
                m.source.pg_dump_version,
                m.source.table_count
            ),
            width,
            plain,
        ));
        let object_width = m
            .components
            .iter()
            .map(|c| c.object.chars().count())
            .max()
            .unwrap_or(0)
            .max(18);
        for c in &m.components {
            let enc = if c.encryption.recipients.is_empty() {
                c.encryption.mode.clone()
            } else {
                format!(
                    "{} {}",
                    c.encryption.mode,
                    c.encryption.recipients.join(",")
                )
            };
            lines.push(Line::raw(format!(
                "  {:<object_width$} {:>10}  sha256 {}  {} {}  {}",
                c.object,
                format::bytes(c.stored_bytes),
                format::short_hash(&c.stored_sha256),
                c.compression.codec,
                c.compression.level,
                enc
            )));
        }
        for t in &m.source.key_tables {
            lines.push(Line::raw(format!("  rows {:<24} {}", t.table, t.rows)));
        }
    }
    // The set's log: what the journal and the drill records remember of it (so it is there
    // after a reload or a restart), then this session's backup log of it.
    let remembered = match (state.snapshot.as_ref(), r.set_id.as_deref()) {
        (Some(s), Some(id)) => view::set_log(&s.journal, &s.drills, id),
        _ => Vec::new(),
    };
    let log: Vec<&String> = remembered
        .iter()
        .chain(
            state
                .jobs
                .iter()
                .filter(|j| {
                    j.kind == JobKind::Backup
                        && j.set_id.is_some()
                        && j.set_id.as_ref().map(|id| id.as_str()) == r.set_id.as_deref()
                })
                .flat_map(|j| j.log.iter()),
        )
        .collect();
    // The log's tail, as much of it as the screen leaves room for: its last line (the result)
    // is the one to keep.
    let body_rows = usize::from(area.height.saturating_sub(2 + 3));
    let room = body_rows.saturating_sub(lines.len() + 1);
    if !log.is_empty() && room > 0 {
        lines.push(Line::from(Span::styled(" Log", theme.heading())));
        let skip = log.len().saturating_sub(6);
        let tail: Vec<Line> = log
            .into_iter()
            .skip(skip)
            .flat_map(|l| hanging("  ", l, width, plain))
            .collect();
        let skip = tail.len().saturating_sub(room);
        lines.extend(tail.into_iter().skip(skip));
    }
    let footer = Line::from(Span::styled(
        format!(
            " {} verify · {} verify+decrypt · {} close",
            state.keymap.key(Action::Verify),
            state.keymap.key(Action::VerifyDecrypt),
            state.keymap.key(Action::Back)
        ),
        theme.dim(),
    ));
    let h = lines.len() as u16 + 3;
    dialog_with_footer(
        frame,
        centered(area, 118, h),
        "Set detail",
        lines,
        footer,
        theme,
    );
}
