//! The "Recover from a repository" screen on a bare host: the form (repository and key
//! source), the remote inventory, the target, the plan with the worker's command line and the
//! typed confirmation, and the runbook as the detached worker writes it (phase timers and the
//! manual checklist: the drill's widgets, `phases`). At 80x24 nothing that matters is cut:
//! long values wrap, the plan scrolls.

use super::format;
use super::phases::{checklist_line, phase_line, Mark};
use super::theme::Theme;
use crate::app::action::Action;
use crate::app::keymap::Keymap;
use crate::app::view::{
    Field, RecoverStage, RecoverState, RunView, StepState, Worker, DEFAULT_MANUAL_STEPS, F_KEY,
    F_LIST, F_PASSFILE, T_DATADIR, T_KIND, T_PLAN, T_URL,
};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

const STAGES: [(RecoverStage, &str); 5] = [
    (RecoverStage::Form, "Repository"),
    (RecoverStage::Sets, "Set"),
    (RecoverStage::Target, "Target"),
    (RecoverStage::Plan, "Plan"),
    (RecoverStage::Run, "Runbook"),
];

pub fn render(frame: &mut Frame, state: &RecoverState, keymap: &Keymap) {
    let area = frame.area();
    if area.width < super::MIN_WIDTH || area.height < super::MIN_HEIGHT {
        let text = format!(
            "Terminal too small ({}x{}): lifeboat needs {}x{}",
            area.width,
            area.height,
            super::MIN_WIDTH,
            super::MIN_HEIGHT
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let theme = Theme::new(state.no_color);
    let [top, body, message, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(5),
        Constraint::Length(message_height(state, area.width)),
        Constraint::Length(1),
    ])
    .areas(area);
    title(frame, top, state, &theme);
    let block = Block::default().borders(Borders::ALL);
    let inner = block.inner(body);
    frame.render_widget(block, body);
    match state.stage {
        RecoverStage::Form => form(frame, inner, state, &theme),
        RecoverStage::Sets => sets(frame, inner, state, &theme),
        RecoverStage::Target => target(frame, inner, state, &theme),
        RecoverStage::Plan => plan(frame, inner, state, &theme),
        RecoverStage::Run => runbook(frame, inner, state, &theme),
    }
    messages(frame, message, state, &theme);
    hints(frame, bottom, state, keymap, &theme);
    if state.help {
        help(frame, area, keymap, &theme);
    }
}

fn title(frame: &mut Frame, area: Rect, state: &RecoverState, theme: &Theme) {
    let mut spans = vec![Span::styled(" Recover from a repository ", theme.heading())];
    for (i, (stage, name)) in STAGES.iter().enumerate() {
        let style = if *stage == state.stage {
            theme.selected()
        } else {
            theme.dim()
        };
        spans.push(Span::styled(format!(" {} {name} ", i + 1), style));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The error or the "loading" line under the body, wrapped.
fn message_text(state: &RecoverState) -> Option<String> {
    match (&state.error, &state.busy) {
        (Some(e), _) => Some(format!("✗ {e}")),
        (None, Some(b)) => Some(format!("… {b}")),
        _ => None,
    }
}

fn message_height(state: &RecoverState, width: u16) -> u16 {
    message_text(state)
        .map(|t| (format::wrap(&t, width.saturating_sub(1) as usize).len() as u16).min(5))
        .unwrap_or(0)
}

fn messages(frame: &mut Frame, area: Rect, state: &RecoverState, theme: &Theme) {
    if let Some(text) = message_text(state) {
        let style = if state.error.is_some() {
            theme.bad()
        } else {
            theme.accent()
        };
        frame.render_widget(
            Paragraph::new(text).style(style).wrap(Wrap { trim: false }),
            area,
        );
    }
}

/// `label   value▏` with the focus, the editing cursor, and the meaning of an empty value.
fn field_line(f: &Field, focused: bool, editing: bool, off: bool, theme: &Theme) -> Line<'static> {
    let marker = if focused { "›" } else { " " };
    let (value, style) = if editing && focused {
        (format!("{}▏", f.value), theme.selected())
    } else if off {
        ("(not used)".to_string(), theme.dim())
    } else if f.value.is_empty() {
        (format!("({})", f.empty), theme.dim())
    } else if f.suggested {
        (format!("{} (suggested)", f.value), Default::default())
    } else {
        (f.value.clone(), Default::default())
    };
    let label_style = if focused {
        theme.heading()
    } else {
        Default::default()
    };
    Line::from(vec![
        Span::styled(format!("{marker} {:<19}", f.label), label_style),
        Span::styled(value, style),
    ])
}

fn choice(
    label: &str,
    options: [&str; 2],
    second: bool,
    focused: bool,
    theme: &Theme,
) -> Line<'static> {
    let marker = if focused { "›" } else { " " };
    let dot = |on: bool| if on { "(•)" } else { "( )" };
    let style = if focused {
        theme.heading()
    } else {
        Default::default()
    };
    Line::from(vec![
        Span::styled(format!("{marker} {label:<19}"), style),
        Span::raw(format!(
            "{} {}  {} {}",
            dot(!second),
            options[0],
            dot(second),
            options[1]
        )),
    ])
}

fn button(text: &str, focused: bool, theme: &Theme) -> Line<'static> {
    let style = if focused {
        theme.selected()
    } else {
        theme.heading()
    };
    Line::from(vec![
        Span::raw("  "),
        Span::styled(format!("[ {text} ]"), style),
    ])
}

fn form(frame: &mut Frame, area: Rect, state: &RecoverState, theme: &Theme) {
    let mut lines = vec![
        Line::from(" No configuration on this host. Bring it back from its repository: the"),
        Line::from(" recovery kit (URL, S3 credentials in the environment, the key) is enough."),
        Line::from(""),
    ];
    for (i, f) in state.form.iter().enumerate() {
        let focused = state.form_focus == i;
        if i == F_KEY {
            lines.push(choice(
                f.label,
                ["passphrase file", "gpg keyring"],
                state.keyring,
                focused,
                theme,
            ));
            continue;
        }
        let off = i == F_PASSFILE && state.keyring;
        lines.push(field_line(f, focused, state.editing, off, theme));
    }
    lines.push(Line::from(""));
    lines.push(button("List the sets", state.form_focus == F_LIST, theme));
    lines.push(Line::from(""));
    lines.push(Line::styled(
        " The passphrase itself is never asked for: only the file that holds it.",
        theme.dim(),
    ));
    lines.push(Line::styled(
        " S3 credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_PROFILE…).",
        theme.dim(),
    ));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

fn sets(frame: &mut Frame, area: Rect, state: &RecoverState, theme: &Theme) {
    let url = state
        .form
        .first()
        .map(|f| f.value.as_str())
        .unwrap_or_default();
    let [head, table] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    frame.render_widget(
        Paragraph::new(format!(" Sets in {url}, newest first")).style(theme.heading()),
        head,
    );
    let rows: Vec<Row> = state
        .sets
        .iter()
        .map(|s| {
            let (mark, style) = if s.verified {
                ("✓ verified", theme.good())
            } else {
                ("· not verified", theme.dim())
            };
            Row::new([
                Cell::from(s.id.to_string()),
                Cell::from(format::age_secs((state.now - s.started_at).num_seconds())),
                Cell::from(format::bytes(s.stored_bytes)),
                Cell::from(mark).style(style),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(24),
        Constraint::Length(10),
        Constraint::Length(11),
        Constraint::Min(10),
    ];
    let header = Row::new(["set", "age", "size", "last verification"]).style(theme.heading());
    let mut ts = TableState::default();
    if !state.sets.is_empty() {
        ts.select(Some(state.set_selected));
    }
    frame.render_stateful_widget(
        Table::new(rows, widths)
            .header(header)
            .row_highlight_style(theme.selected())
            .highlight_symbol("› "),
        table,
        &mut ts,
    );
}

fn target(frame: &mut Frame, area: Rect, state: &RecoverState, theme: &Theme) {
    let mut lines = Vec::new();
    if let Some(s) = state.picked() {
        lines.push(Line::styled(
            format!(
                " Set {} ({} ago, {}, {})",
                s.id,
                format::age_secs((state.now - s.started_at).num_seconds()),
                format::bytes(s.stored_bytes),
                if s.verified {
                    "verified"
                } else {
                    "not verified"
                }
            ),
            theme.heading(),
        ));
        lines.push(Line::from(""));
    }
    for (i, f) in state.target.iter().enumerate() {
        let focused = state.target_focus == i;
        if i == T_KIND {
            lines.push(choice(
                f.label,
                ["a new local cluster", "a database URL"],
                state.target_is_url,
                focused,
                theme,
            ));
            continue;
        }
        let off = (i == T_DATADIR && state.target_is_url) || (i == T_URL && !state.target_is_url);
        lines.push(field_line(f, focused, state.editing, off, theme));
    }
    lines.push(Line::from(""));
    lines.push(button("Make the plan", state.target_focus == T_PLAN, theme));
    lines.push(Line::from(""));
    lines.push(Line::styled(
        " A new cluster is of the dump's PostgreSQL major version. Files and secrets go",
        theme.dim(),
    ));
    lines.push(Line::styled(
        " to their original paths, or under the prefix with those paths kept inside it.",
        theme.dim(),
    ));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

fn plan(frame: &mut Frame, area: Rect, state: &RecoverState, theme: &Theme) {
    let Some(p) = &state.plan else {
        return;
    };
    let width = area.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    for l in p.text.lines() {
        for w in format::wrap(l, width.saturating_sub(1)) {
            lines.push(Line::from(format!(" {w}")));
        }
    }
    for problem in &p.problems {
        for w in format::wrap(&format!("✗ {problem}"), width.saturating_sub(1)) {
            lines.push(Line::styled(format!(" {w}"), theme.bad()));
        }
    }
    // The worker's line and the confirmation stay in view under the scrolling plan.
    let command = state
        .start_args()
        .map(|a| state.shell_line(&a))
        .unwrap_or_default();
    let mut fixed = vec![Line::styled(
        " The same, headless (the console starts exactly this):",
        theme.heading(),
    )];
    for w in format::wrap(&command, width.saturating_sub(3)) {
        fixed.push(Line::from(format!("   {w}")));
    }
    fixed.extend(prompt_lines(state, width, theme));
    let fixed_height = (fixed.len() as u16).min(area.height.saturating_sub(3));
    let [body, ask] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(fixed_height)]).areas(area);
    let max = (lines.len() as u16).saturating_sub(body.height);
    frame.render_widget(
        Paragraph::new(lines).scroll((state.plan_scroll.min(max), 0)),
        body,
    );
    // When it cannot all show, the prompt (at its end) is what stays.
    let skip = (fixed.len() as u16).saturating_sub(fixed_height);
    frame.render_widget(Paragraph::new(fixed).scroll((skip, 0)), ask);
}

/// The typed confirmation, when one is asked for.
fn prompt_lines(state: &RecoverState, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let Some(p) = &state.prompt else {
        return Vec::new();
    };
    let mut out: Vec<Line> = format::wrap(&p.text, width.saturating_sub(1))
        .into_iter()
        .map(|w| Line::styled(format!(" {w}"), theme.warn()))
        .collect();
    out.push(Line::from(vec![
        Span::styled(
            format!(" Type the database name `{}`, then Enter: ", p.expect),
            theme.heading(),
        ),
        Span::styled(format!("{}▏", p.typed), theme.selected()),
    ]));
    out
}

fn worker_words(run: &RunView) -> String {
    if run.finished() {
        return "finished".into();
    }
    match (run.worker, run.stopped_at()) {
        (Worker::Running(pid), _) => format!("running headless (pid {pid})"),
        (Worker::Stopped, Some(step)) => format!("stopped at {step}: press r to resume"),
        (Worker::Stopped, None) if run.child_alive => "starting…".into(),
        (Worker::Stopped, None) => match run.exited {
            Some(code) => format!("the worker ended (exit {code}) before its runbook"),
            None => "stopped".into(),
        },
    }
}

fn runbook(frame: &mut Frame, area: Rect, state: &RecoverState, theme: &Theme) {
    let Some(run) = &state.run else {
        return;
    };
    let width = area.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    let head = match &run.book {
        Some(b) => format!(" Recovery {} of set {}", b.id, b.set_id),
        None => format!(" Recovery {}", run.id),
    };
    lines.push(Line::styled(head, theme.heading()));
    let style = match (run.finished(), run.worker) {
        (true, _) => theme.good(),
        (false, Worker::Running(_)) => theme.accent(),
        _ => theme.warn(),
    };
    lines.push(Line::styled(format!(" ▶ {}", worker_words(run)), style));
    if let Some(b) = &run.book {
        for s in &b.steps {
            let mark = match s.state {
                StepState::Done => Mark::Done,
                StepState::Failed => Mark::Failed,
                StepState::Running if run.worker == Worker::Stopped => Mark::Failed,
                StepState::Running => Mark::Running,
                StepState::Pending => Mark::Pending,
            };
            let seconds = match (s.state, s.started_at) {
                (StepState::Running, Some(at)) if mark == Mark::Running => {
                    Some((state.now - at).num_milliseconds().max(0) as f64 / 1000.0)
                }
                _ => s.seconds,
            };
            let mut line = phase_line(mark, &s.name, seconds, theme);
            let room = width.saturating_sub(32);
            if !s.detail.is_empty() && room > 8 {
                let detail: String = s.detail.chars().take(room).collect();
                line.spans
                    .push(Span::styled(format!(" {detail}"), theme.dim()));
            }
            lines.push(line);
        }
        let over = run.finished();
        let manual: Vec<(String, bool)> = if b.manual.is_empty() {
            let named = &b.spec.manual;
            let steps: Vec<String> = if named.is_empty() {
                DEFAULT_MANUAL_STEPS.iter().map(|s| s.to_string()).collect()
            } else {
                named.clone()
            };
            steps.into_iter().map(|s| (s, false)).collect()
        } else {
            b.manual.iter().map(|m| (m.step.clone(), m.done)).collect()
        };
        lines.push(Line::styled(
            " Manual steps (by hand, after the recovery)",
            theme.heading(),
        ));
        for (step, done) in &manual {
            lines.push(checklist_line(step, *done, false, false, theme));
        }
        if over {
            if let Some(r) = &b.record {
                let rto = r
                    .rto_seconds
                    .map(format::elapsed)
                    .unwrap_or_else(|| "not reached".into());
                lines.push(Line::styled(
                    format!(
                        " RTO {rto} (start to health green) · RPO {}",
                        format::elapsed(r.rpo_seconds())
                    ),
                    theme.good(),
                ));
            }
            if let Some(c) = &b.config_written {
                lines.push(Line::from(format!(
                    " Configuration written: {}",
                    c.display()
                )));
                lines.push(Line::from(
                    " Next: lifeboat config check, then lifeboat backup",
                ));
            }
        }
    }
    if !run.finished() {
        let stopped = run.worker == Worker::Stopped && !run.child_alive;
        if stopped {
            for l in &run.log_tail {
                for w in format::wrap(l, width.saturating_sub(3)) {
                    lines.push(Line::styled(format!("   {w}"), theme.dim()));
                }
            }
        }
        let note = if stopped {
            format!("nothing runs now; its log: {}", run.log.display())
        } else {
            format!(
                "the recovery goes on without this screen; its log: {}",
                run.log.display()
            )
        };
        for w in format::wrap(&note, width.saturating_sub(1)) {
            lines.push(Line::styled(format!(" {w}"), theme.accent()));
        }
    }
    let prompt = prompt_lines(state, width, theme);
    let [body, ask] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(prompt.len() as u16)]).areas(area);
    frame.render_widget(Paragraph::new(lines), body);
    frame.render_widget(Paragraph::new(prompt), ask);
}

/// The keys of the current stage, from the keymap.
fn bindings(state: &RecoverState, keymap: &Keymap) -> Vec<(String, &'static str)> {
    let k = |a| keymap.key(a);
    if state.prompt.is_some() {
        return vec![(k(Action::Open), "confirm"), (k(Action::Back), "back")];
    }
    if state.editing {
        return vec![
            (k(Action::Open), "next field"),
            (k(Action::Back), "done"),
            ("type".into(), "to edit"),
        ];
    }
    let mut out = Vec::new();
    match state.stage {
        RecoverStage::Form => {
            out.push((format!("{}/{}", k(Action::Up), k(Action::Down)), "move"));
            out.push((k(Action::Open), "edit, choose"));
        }
        RecoverStage::Sets => {
            out.push((format!("{}/{}", k(Action::Up), k(Action::Down)), "move"));
            out.push((k(Action::Open), "pick"));
            out.push((k(Action::Refresh), "reload"));
            out.push((k(Action::Back), "back"));
        }
        RecoverStage::Target => {
            out.push((format!("{}/{}", k(Action::Up), k(Action::Down)), "move"));
            out.push((k(Action::Open), "edit, choose"));
            out.push((k(Action::Back), "back"));
        }
        RecoverStage::Plan => {
            out.push((format!("{}/{}", k(Action::Up), k(Action::Down)), "scroll"));
            out.push((k(Action::Back), "back"));
        }
        RecoverStage::Run => {
            if let Some(run) = &state.run {
                if run.stopped_at().is_some() {
                    out.push((k(Action::Restore), "resume"));
                }
                if run.stopped_at().is_some() || (run.finished() && !run.child_alive) {
                    out.push((k(Action::Back), "new recovery"));
                }
            }
        }
    }
    out.push((k(Action::Help), "help"));
    out.push((k(Action::Quit), "quit"));
    out
}

fn hints(frame: &mut Frame, area: Rect, state: &RecoverState, keymap: &Keymap, theme: &Theme) {
    let mut spans = Vec::new();
    for (key, what) in bindings(state, keymap) {
        spans.push(Span::styled(format!(" {key}"), theme.accent()));
        spans.push(Span::raw(format!(" {what} ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn help(frame: &mut Frame, area: Rect, keymap: &Keymap, theme: &Theme) {
    let k = |a| keymap.key(a);
    let rows = [
        (
            format!("{}/{}", k(Action::Up), k(Action::Down)),
            "move between fields, sets, plan lines",
        ),
        (
            format!("{}/{}", k(Action::NextScreen), k(Action::PrevScreen)),
            "next / previous field",
        ),
        (
            k(Action::Open),
            "edit a field (Enter again: next), choose, pick, confirm",
        ),
        (
            k(Action::TickStep),
            "switch a choice (key source, target kind)",
        ),
        (
            k(Action::Back),
            "stop editing; back a step (a stopped runbook: start anew)",
        ),
        (k(Action::Refresh), "list the sets again"),
        (k(Action::Restore), "resume a stopped recovery"),
        (
            k(Action::Quit),
            "quit (not while typing); a running recovery goes on",
        ),
    ];
    let mut lines: Vec<Line> = rows
        .iter()
        .map(|(key, what)| Line::from(format!("{key:>11}  {what}")))
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(
        " Every step here is `lifeboat recover` headless; the plan shows the line.",
    ));
    super::modals::centered_box(frame, area, "Recovery keys", 76, lines, theme);
}
