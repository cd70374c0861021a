//! A running job's progress as one line of text (the headless commands redraw it on stderr).

use super::format;
use crate::jobs::progress::Progress;

pub fn line(p: &Progress) -> String {
    let total = p.total.map(format::bytes).unwrap_or_else(|| "?".into());
    let eta = p
        .eta()
        .map(|d| format!(" ETA {}", format::age(d)))
        .unwrap_or_default();
    format!(
        "{:<10} {:>3.0}%  {} / {}  {}{}",
        p.phase,
        p.ratio() * 100.0,
        format::bytes(p.done),
        total,
        format::rate(p.throughput()),
        eta
    )
}
