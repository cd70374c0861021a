//! Fitting a dialog's rows to a short screen without losing anything silently: the dialog hands
//! over blocks (an item and its wrapped continuation rows) with a priority; the lowest priority
//! gives way first (its continuation rows from the end, then its whole blocks), and a last row
//! counts what was left out.

use super::theme::Theme;
use ratatui::text::{Line, Span};

/// One item's rows and how much it matters (higher gives way later).
pub struct Block {
    pub priority: u8,
    pub rows: Vec<Line<'static>>,
}

impl Block {
    pub fn new(priority: u8, rows: Vec<Line<'static>>) -> Block {
        Block { priority, rows }
    }
}

/// `blocks` in at most `rows` rows of `width` columns. When something is left out, a cut block
/// ends in `…` and the last row says how many rows are hidden and where to see them
/// (`elsewhere`).
pub fn fold(
    blocks: Vec<Block>,
    rows: usize,
    width: usize,
    elsewhere: &str,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let total: usize = blocks.iter().map(|b| b.rows.len()).sum();
    if total <= rows {
        return blocks.into_iter().flat_map(|b| b.rows).collect();
    }
    let budget = rows.saturating_sub(1);
    let mut keep: Vec<usize> = blocks.iter().map(|b| b.rows.len()).collect();
    let mut used = total;
    let mut priorities: Vec<u8> = blocks.iter().map(|b| b.priority).collect();
    priorities.sort_unstable();
    priorities.dedup();
    // Lowest priority first: its continuation rows from the end, then its whole blocks.
    for &p in &priorities {
        for i in (0..keep.len()).rev() {
            while used > budget && keep[i] > 1 && blocks[i].priority == p {
                keep[i] -= 1;
                used -= 1;
            }
        }
        for i in (0..keep.len()).rev() {
            if used > budget && keep[i] > 0 && blocks[i].priority == p {
                used -= keep[i];
                keep[i] = 0;
            }
        }
    }
    let hidden = total - used;
    let mut out = Vec::new();
    for (block, k) in blocks.into_iter().zip(keep) {
        let cut = k > 0 && k < block.rows.len();
        let mut rows: Vec<Line<'static>> = block.rows.into_iter().take(k).collect();
        if cut {
            if let Some(last) = rows.last_mut() {
                *last = ellipsis(last, width);
            }
        }
        out.extend(rows);
    }
    out.push(Line::from(Span::styled(
        format!(" … {hidden} more row(s): a taller terminal shows them{elsewhere}"),
        theme.dim(),
    )));
    out
}

/// `line` with `…` at its end, cut so that the mark fits in `width` columns; the style of
/// each kept span is kept.
fn ellipsis(line: &Line<'static>, width: usize) -> Line<'static> {
    let mut room = width.saturating_sub(2);
    let mut spans = Vec::new();
    for span in &line.spans {
        let text: String = span.content.chars().take(room).collect();
        room -= text.chars().count();
        spans.push(Span::styled(text, span.style));
    }
    spans.push(Span::raw(" …"));
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(priority: u8, rows: &[&str]) -> Block {
        Block::new(
            priority,
            rows.iter().map(|r| Line::raw(r.to_string())).collect(),
        )
    }

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn what_fits_is_left_alone() {
        let theme = Theme::new(true);
        let out = fold(
            vec![block(1, &["a", "a2"]), block(2, &["b"])],
            3,
            80,
            "",
            &theme,
        );
        assert_eq!(text(&out), ["a", "a2", "b"]);
    }

    #[test]
    fn the_lowest_priority_gives_way_first_and_what_is_hidden_is_counted() {
        let theme = Theme::new(true);
        let blocks = || {
            vec![
                block(0, &["what", "what2"]),
                block(2, &["✗ db", "refused", "really"]),
                block(1, &["✓ secrets", "6 objects"]),
            ]
        };
        // 7 rows into 6 (one of them the marker): the lowest priority's continuation goes, then
        // its whole block.
        let out = fold(blocks(), 6, 80, "", &theme);
        assert_eq!(
            text(&out),
            [
                "✗ db",
                "refused",
                "really",
                "✓ secrets",
                "6 objects",
                " … 2 more row(s): a taller terminal shows them"
            ]
        );
        // 7 rows into 5: then the next priority's continuation; the failing check keeps its
        // detail and the last check is still there.
        let out = fold(blocks(), 5, 80, "", &theme);
        assert_eq!(
            text(&out),
            [
                "✗ db",
                "refused",
                "really",
                "✓ secrets …",
                " … 3 more row(s): a taller terminal shows them"
            ]
        );
    }
}
