//! `lifeboat list`'s text table: the header lines up with its columns whatever the widths of
//! the values (sizes from bytes to tebibytes, verified/failed/never, a missing object, a safety
//! backup's mark).

#![allow(clippy::unwrap_used)]

mod console_fixtures;

use console_fixtures as fx;
use lifeboat::report::format::Align;
use lifeboat::report::inventory::{list_text, LIST_HEADER};
use lifeboat::storage::manifest::Initiator;
use lifeboat::storage::repository::ObjectInfo;

/// Where each header label starts, in characters.
fn label_starts(header: &str) -> Vec<usize> {
    LIST_HEADER
        .iter()
        .map(|(label, _)| {
            let chars: Vec<char> = header.chars().collect();
            let label: Vec<char> = label.chars().collect();
            (0..chars.len())
                .find(|&i| {
                    chars[i..].starts_with(&label)
                        && (i == 0 || chars[i - 1] == ' ')
                        && chars.get(i + label.len()).is_none_or(|c| *c == ' ')
                })
                .unwrap_or_else(|| panic!("no {label:?} in {header:?}"))
        })
        .collect()
}

#[test]
fn every_header_label_sits_over_its_column_whatever_the_widths() {
    let mut inventory = fx::inventory(fx::REPO);
    // Widths far apart: a tiny set, a huge one, one with a missing object.
    inventory.sets[0].objects.truncate(1);
    inventory.sets[0].objects[0].size = 7;
    inventory.sets[1].objects.push(ObjectInfo {
        path: format!("sets/{}/huge", fx::SET_NIGHTLY),
        size: 3 * 1024_u64.pow(4) + 5,
        modified: None,
    });
    inventory.sets[4].missing = vec!["files.tar.zst.gpg".into()];
    // The longest id a set may have (milliseconds, a 16-character suffix), and a mixed
    // encryption summary wider than the usual one.
    let mut long = fx::complete_set(
        "20261118T020000.123Z-0123456789abcdef",
        fx::at("2026-11-18T02:04:00Z"),
        Initiator::Schedule,
    );
    long.manifest.as_mut().unwrap().components[0]
        .encryption
        .mode = "recipients".into();
    inventory.sets.push(long);
    let text = list_text(&inventory, &fx::journal(fx::REPO));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 6, "{text}");
    assert!(text.contains("512 B") || text.contains("7 B"), "{text}");
    assert!(text.contains("TiB"), "{text}");
    assert!(text.contains("never") && text.contains('✓'), "{text}");
    assert!(text.contains("0123456789abcdef") && text.contains("passphrase+recipients"));

    let starts = label_starts(lines[0]);
    let header: Vec<char> = lines[0].chars().collect();
    for line in &lines[1..] {
        let row: Vec<char> = line.chars().collect();
        for (i, (label, align)) in LIST_HEADER.iter().enumerate() {
            let start = starts[i];
            let end = start + label.chars().count();
            match align {
                // A left column's value starts where its label starts, after a gap.
                Align::Left => {
                    assert!(row[start] != ' ', "{label}: {line:?}\n{text}");
                    assert!(
                        start == 0 || row[start - 1] == ' ' && row[start - 2] == ' ',
                        "{label}: {line:?}\n{text}"
                    );
                }
                // A right column's value ends where its label ends, a gap after it.
                Align::Right => {
                    assert!(row[end - 1] != ' ', "{label}: {line:?}\n{text}");
                    assert!(
                        row[end] == ' ' && row[end + 1] == ' ',
                        "{label}: {line:?}\n{text}"
                    );
                    assert_eq!(header[end - 1], label.chars().last().unwrap());
                }
            }
        }
        assert!(line.starts_with("2026"), "{line}");
    }
}

#[test]
fn an_empty_repository_says_so_instead_of_a_bare_header() {
    let mut inventory = fx::inventory(fx::REPO);
    inventory.sets.clear();
    assert_eq!(
        list_text(&inventory, &fx::journal(fx::REPO)),
        format!("(no complete sets in {})\n", fx::REPO)
    );
}
