//! Small formatting helpers shared by the reports and the console: sizes, ages and elapsed
//! times (from `storage::units`), rates, hashes, wrapping and text tables.

// Sizes and times come from the one formatter in the leaf layer, which job messages share.
pub use crate::storage::units::{age, age_secs, bytes, elapsed};

pub fn rate(bytes_per_second: f64) -> String {
    format!("{}/s", bytes(bytes_per_second.max(0.0) as u64))
}

pub fn short_hash(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// Greedy word wrap to `width` columns (one column a character); a word longer than a line is
/// split. Always at least one line. The console pre-wraps with this so it knows how many rows a
/// text takes (a dialog's height, a log's tail) and can indent continuation lines.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let needed = if len == 0 {
                word.len()
            } else {
                len + 1 + word.len()
            };
            if needed <= width {
                if len > 0 {
                    line.push(' ');
                    len += 1;
                }
                line.extend(word.iter());
                len += word.len();
                break;
            }
            if len > 0 {
                lines.push(std::mem::take(&mut line));
                len = 0;
                continue;
            }
            let tail = word.split_off(width);
            lines.push(word.into_iter().collect());
            word = tail;
        }
    }
    if len > 0 || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// `text` cut to `width` columns, ending in `…` when something was cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let cut: String = text.chars().take(width.saturating_sub(1)).collect();
    let mut out = cut.trim_end().to_string();
    out.push('…');
    out
}

/// Which side of its column a value sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A text table: each column as wide as its widest cell (the header's label included), two
/// spaces between columns, the last column unpadded. One width computation for the header and
/// every row, so a long set id or size never pushes a value out from under its label.
pub fn table(header: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|(l, _)| l.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            let last = i + 1 == columns;
            if i > 0 {
                out.push_str("  ");
            }
            match header[i].1 {
                Align::Right => {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(cell);
                }
                Align::Left if last => out.push_str(cell),
                Align::Left => {
                    out.push_str(cell);
                    out.push_str(&" ".repeat(pad));
                }
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(header.iter().map(|(l, _)| *l).collect());
    for row in rows {
        out.push_str(&line(
            (0..columns)
                .map(|i| row.get(i).map_or("", String::as_str))
                .collect(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rate(1536.0), "1.5 KiB/s");
        assert_eq!(short_hash("abcdef0123456789"), "abcdef012345");
    }

    #[test]
    fn wraps_words_and_splits_what_cannot_fit() {
        assert_eq!(wrap("", 10), [""]);
        assert_eq!(wrap("one two three", 7), ["one two", "three"]);
        assert_eq!(wrap("one two three", 20), ["one two three"]);
        assert_eq!(wrap("ab 0123456789abc", 6), ["ab", "012345", "6789ab", "c"]);
        for line in wrap("✗ a b c d e f g h ✓ i", 5) {
            assert!(line.chars().count() <= 5, "{line}");
        }
        assert_eq!(fit("abcdef", 6), "abcdef");
        assert_eq!(fit("abcdefg", 6), "abcde…");
        assert_eq!(fit("abcd efg", 6), "abcd…");
    }

    #[test]
    fn a_table_lines_every_value_up_under_its_label() {
        let rows = vec![
            vec!["a".into(), "1.0 KiB".into(), "✓ ok".into()],
            vec![
                "a-much-longer-set-id".into(),
                "1023.9 GiB".into(),
                "x".into(),
            ],
        ];
        let text = table(
            &[
                ("set", Align::Left),
                ("size", Align::Right),
                ("status", Align::Left),
            ],
            &rows,
        );
        assert_eq!(
            text,
            "set                         size  status\n\
             a                        1.0 KiB  ✓ ok\n\
             a-much-longer-set-id  1023.9 GiB  x\n"
        );
    }
}
