//! The rows of the dialogs that scroll (the restore confirmation, the guided backup's preflight
//! and help) and how many of
//! them a terminal shows. Both sides need the same numbers: the reducer bounds the scroll by
//! them (so a key past the end is not swallowed) and ui draws exactly these rows. Plain text
//! with a tone; ui styles it.

use crate::app::keymap::Keymap;
use crate::app::view::RestorePlan;
use crate::jobs::preflight::PreflightReport;
use crate::report::format;

/// The restore dialog's widest inner text, in columns (a wide terminal still reads in one glance).
const RESTORE_MAX_WIDTH: u16 = 110;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Heading,
    Plain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub tone: Tone,
    pub text: String,
}

/// `lead` then `text` wrapped to `width` columns, continuation rows indented under the text.
fn hanging(lead: &str, text: &str, width: usize, tone: Tone) -> Vec<Row> {
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
            Row {
                tone,
                text: format!("{lead}{chunk}"),
            }
        })
        .collect()
}

/// Where the restore dialog sits on a `width` x `height` terminal and what it holds.
pub struct RestoreLayout {
    /// The dialog's outer width and its text width.
    pub outer_width: u16,
    pub text_width: usize,
    /// Every row of the part that scrolls: the set, the target, the steps.
    pub body: Vec<Row>,
    /// The typed-name rows, always in view under the body.
    pub pinned: Vec<Row>,
    /// How many body rows are in view (one fewer than the room when the body scrolls: a row
    /// says where in the body the view is).
    pub visible: usize,
}

impl RestoreLayout {
    pub fn scrolls(&self) -> bool {
        self.visible < self.body.len()
    }

    /// The furthest the body can scroll.
    pub fn max_scroll(&self) -> usize {
        self.body.len().saturating_sub(self.visible)
    }
}

pub fn restore(plan: &RestorePlan, database: &str, width: u16, height: u16) -> RestoreLayout {
    let outer_width = RESTORE_MAX_WIDTH.min(width.saturating_sub(2));
    let text_width = usize::from(outer_width.saturating_sub(2));
    let mut body = hanging(
        " ✓ Dry run passed for set ",
        plan.set_id.as_str(),
        text_width,
        Tone::Good,
    );
    body.extend(hanging("   into ", &plan.target, text_width, Tone::Good));
    body.push(Row {
        tone: Tone::Heading,
        text: " These steps will run, in order:".into(),
    });
    for (i, s) in plan.steps.iter().enumerate() {
        body.extend(hanging(
            &format!("  {}. ", i + 1),
            &s.step,
            text_width,
            Tone::Plain,
        ));
    }
    if let Some(files) = &plan.files {
        body.extend(hanging(
            " ",
            &format!(
                "{} existing file(s) will be overwritten.",
                files.existing.len()
            ),
            text_width,
            Tone::Plain,
        ));
    }
    let pinned = hanging(
        " Type the database name ",
        &format!("`{database}` to restore:"),
        text_width,
        Tone::Heading,
    );
    // Rows: the screen's margin (2), the border (2), a blank row, the pinned rows, the footer.
    let room = usize::from(height).saturating_sub(2 + 2 + 1 + pinned.len() + 1);
    let visible = if body.len() <= room {
        body.len()
    } else {
        room.saturating_sub(1)
    };
    RestoreLayout {
        outer_width,
        text_width,
        body,
        pinned,
        visible,
    }
}

/// The preflight dialog's widest inner text, in columns.
const PREFLIGHT_MAX_WIDTH: u16 = 110;

/// One row of the preflight dialog: `lead` in its tone (a heading, a check's mark and name),
/// then `text` plain (a check's detail, wrapped beside it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadRow {
    pub lead: String,
    pub tone: Tone,
    pub text: String,
}

/// Where the guided backup's preflight dialog sits and what it holds: what is backed up, where
/// to, and every check, each wrapped, never cut. Taller than the screen, it scrolls; a row says
/// which rows are in view.
pub struct PreflightLayout {
    pub outer_width: u16,
    pub rows: Vec<LeadRow>,
    /// How many rows are in view (one fewer than the room when it scrolls).
    pub visible: usize,
}

impl PreflightLayout {
    pub fn scrolls(&self) -> bool {
        self.visible < self.rows.len()
    }

    pub fn max_scroll(&self) -> usize {
        self.rows.len().saturating_sub(self.visible)
    }
}

/// `lead` in `tone` and `text` wrapped beside it, continuation rows indented and plain.
fn beside(rows: &mut Vec<LeadRow>, lead: &str, tone: Tone, text: &str, width: usize) {
    let indent = lead.chars().count();
    for (i, chunk) in format::wrap(text, width.saturating_sub(indent))
        .into_iter()
        .enumerate()
    {
        rows.push(LeadRow {
            lead: if i == 0 {
                lead.to_string()
            } else {
                " ".repeat(indent)
            },
            tone: if i == 0 { tone } else { Tone::Plain },
            text: chunk,
        });
    }
}

pub fn preflight(report: &PreflightReport, width: u16, height: u16) -> PreflightLayout {
    let outer_width = PREFLIGHT_MAX_WIDTH.min(width.saturating_sub(2));
    let w = usize::from(outer_width.saturating_sub(2));
    let mut rows = Vec::new();
    let heading = |rows: &mut Vec<LeadRow>, text: &str| {
        rows.push(LeadRow {
            lead: text.into(),
            tone: Tone::Heading,
            text: String::new(),
        })
    };
    heading(&mut rows, " What");
    if report.database.is_empty() {
        beside(
            &mut rows,
            "  database ",
            Tone::Plain,
            "(unreachable: see below)",
            w,
        );
    } else {
        let text = format!(
            "{} ({}, PostgreSQL {})",
            report.database,
            format::bytes(report.database_bytes),
            report.server_version
        );
        beside(&mut rows, "  database ", Tone::Plain, &text, w);
    }
    for (root, size) in &report.file_roots {
        let text = format!(
            "{root} ({} files, {})",
            size.files,
            format::bytes(size.bytes)
        );
        beside(&mut rows, "  files    ", Tone::Plain, &text, w);
    }
    if !report.secrets.is_empty() {
        let text = format!(
            "{} file(s) -> {}",
            report.secrets.len(),
            report.secrets_repository.clone().unwrap_or_default()
        );
        beside(&mut rows, "  secrets  ", Tone::Plain, &text, w);
    }
    heading(&mut rows, " Where and how");
    let to = format!("{}, encryption: {}", report.repository, report.encryption);
    beside(&mut rows, "  to ", Tone::Plain, &to, w);
    heading(&mut rows, " Preflight");
    for c in &report.checks {
        let (mark, tone) = if c.ok {
            ("✓", Tone::Good)
        } else {
            ("✗", Tone::Bad)
        };
        beside(
            &mut rows,
            &format!("  {mark} {:<29}", c.name),
            tone,
            &c.detail,
            w,
        );
    }
    // The screen's margin (2), the border (2) and the footer.
    let room = usize::from(height).saturating_sub(2 + 2 + 1);
    let visible = if rows.len() <= room {
        rows.len()
    } else {
        room.saturating_sub(1)
    };
    PreflightLayout {
        outer_width,
        rows,
        visible,
    }
}

/// How help lays the bindings out on a `width` x `height` terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelpLayout {
    pub columns: usize,
    /// Rows of bindings (per column).
    pub rows: usize,
    /// Rows in view: all of them, or one fewer than the room when help scrolls (a row says
    /// where the view is and which keys scroll).
    pub visible: usize,
    /// The dialog's outer width.
    pub width: u16,
}

impl HelpLayout {
    pub fn scrolls(&self) -> bool {
        self.visible < self.rows
    }

    pub fn max_scroll(&self) -> usize {
        self.rows.saturating_sub(self.visible)
    }
}

/// The longest short help text a binding may have (the keymap checks it).
const SHORT_HELP_MAX: usize = 20;

/// One column where every binding fits in the height, else two where each column still has
/// room for the short texts; past that, help scrolls (one column on a narrow screen, so no
/// text is cut to a stump).
pub fn help(keymap: &Keymap, width: u16, height: u16) -> HelpLayout {
    let entries = keymap.bindings.len();
    // The screen's margin (2) and the dialog's border (2).
    let room = usize::from(height.saturating_sub(4));
    let keys = keymap
        .bindings
        .iter()
        .map(|b| b.labels.join(" ").chars().count())
        .max()
        .unwrap_or(0)
        .min(16)
        + 1;
    let two_wide = usize::from(width.saturating_sub(2).min(160).saturating_sub(2)) / 2;
    let two_fit = two_wide.saturating_sub(keys + 2) >= SHORT_HELP_MAX;
    let columns = if entries <= room || !two_fit { 1 } else { 2 };
    let rows = entries.div_ceil(columns);
    let visible = if rows <= room {
        rows
    } else {
        room.saturating_sub(1)
    };
    HelpLayout {
        columns,
        rows,
        visible,
        width: width
            .saturating_sub(2)
            .min(if columns == 1 { 100 } else { 160 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_takes_two_columns_only_where_the_short_texts_fit_and_scrolls_past_that() {
        let keymap = Keymap::default_keymap();
        let n = keymap.bindings.len();
        // 80x24: two columns, every row in view.
        let at_80 = help(&keymap, 80, 24);
        assert_eq!((at_80.columns, at_80.rows), (2, n.div_ceil(2)));
        assert!(!at_80.scrolls());
        // 60x15: two columns would cut the texts to stumps; one column scrolls, a row kept
        // for the position.
        let at_60 = help(&keymap, 60, 15);
        assert_eq!((at_60.columns, at_60.rows, at_60.visible), (1, n, 10));
        assert_eq!(at_60.max_scroll(), n - 10);
        // Tall enough: one column, no scrolling.
        let tall = help(&keymap, 120, 60);
        assert_eq!((tall.columns, tall.scrolls()), (1, false));
    }
}
