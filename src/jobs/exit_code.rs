//! Every exit code lifeboat returns, in one table: part of the interface (cron, systemd,
//! monitoring). The headless commands, `status`'s verdicts and the tests import these
//! constants; the README's table is [`markdown_table`] pasted in, and a test keeps the two
//! equal. It lives beside the jobs because `status` decides its code from what it finds.

/// Success; for `status`: healthy.
pub const OK: i32 = 0;
/// The operation failed (details on stderr, or in the JSON `error`).
pub const FAILED: i32 = 1;
/// Bad usage or configuration: nothing was attempted.
pub const CONFIG: i32 = 2;
/// Verification found a damaged or missing object.
pub const DAMAGED: i32 = 3;
/// Another run holds the repository lock.
pub const LOCKED: i32 = 4;
/// The backup finished locally but the upload failed; the set waits in the spool (also:
/// `backup --resume` could not upload every spooled set).
pub const SPOOLED: i32 = 5;
/// Cancelled or timed out.
pub const INTERRUPTED: i32 = 6;
/// `status`: no complete backup, or none recent enough.
pub const STALE: i32 = 10;
/// `status`: the newest backup run failed.
pub const LAST_RUN_FAILED: i32 = 11;
/// `status`: the repository is unreachable.
pub const UNREACHABLE: i32 = 12;
/// `status`: a restore drill is overdue.
pub const DRILL_OVERDUE: i32 = 13;
/// `status`: the last restore drill failed.
pub const DRILL_FAILING: i32 = 14;
/// `status`: no recent successful verification.
pub const VERIFICATION_STALE: i32 = 15;
/// `status`: the newest set waits in the local spool.
pub const OFFSITE_LAG: i32 = 16;
/// `status`: WAL archiving on the source is failing.
pub const WAL_ARCHIVING_FAILING: i32 = 17;
/// `status`: a restore on this host was killed while it wrote to its target.
pub const RESTORE_INTERRUPTED: i32 = 18;
/// `status`: a complete set is dated in the future.
pub const FUTURE_SET: i32 = 19;

/// One row of the table: a code and what it means to the operator reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitCode {
    pub code: i32,
    pub meaning: &'static str,
}

const fn row(code: i32, meaning: &'static str) -> ExitCode {
    ExitCode { code, meaning }
}

/// Every code, ascending, with its meaning as the README gives it.
pub const TABLE: [ExitCode; 17] = [
    row(OK, "success; for `status`: healthy"),
    row(FAILED, "the operation failed (the message says what and how to fix it)"),
    row(CONFIG, "bad usage or configuration; nothing was attempted"),
    row(DAMAGED, "`verify` found a damaged or missing object"),
    row(LOCKED, "another run holds the repository lock"),
    row(SPOOLED, "backup finished locally but the upload failed, or `backup --resume` could not upload every spooled set; the set waits in the spool"),
    row(INTERRUPTED, "cancelled or timed out"),
    row(STALE, "`status`: no complete backup, or none newer than `[status].stale_after` (48 h)"),
    row(LAST_RUN_FAILED, "`status`: the newest backup run failed"),
    row(UNREACHABLE, "`status`: the repository is unreachable"),
    row(DRILL_OVERDUE, "`status`: a restore drill is overdue (`[drill].every`, 30 days by default, counted from the last drill or the first backup)"),
    row(DRILL_FAILING, "`status`: the last restore drill failed"),
    row(VERIFICATION_STALE, "`status`: no successful verification newer than `[status].verify_stale_after` (7 days by default, counted from the first backup before the first verification; `\"0s\"` switches it off)"),
    row(OFFSITE_LAG, "`status`: off-site lag: the newest set waits in the local spool and is not in the repository yet"),
    row(WAL_ARCHIVING_FAILING, "`status`: WAL archiving on the source is failing (its newest `archive_command` attempt failed)"),
    row(RESTORE_INTERRUPTED, "`status`: the newest restore on this host was killed while it wrote to its target: the database (or the file roots) may be partly restored"),
    row(FUTURE_SET, "`status`: a complete set is dated more than 5 minutes in the future (a wrong clock or a forged set); it is never taken as the newest"),
];

/// The README's "Exit codes" table, exactly.
pub fn markdown_table() -> String {
    let mut out = String::from("| code | meaning |\n|---|---|\n");
    for r in &TABLE {
        out.push_str(&format!("| {} | {} |\n", r.code, r.meaning));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::status::Health;

    #[test]
    fn codes_are_unique_and_ascending() {
        assert!(TABLE.windows(2).all(|w| w[0].code < w[1].code));
    }

    #[test]
    fn every_status_verdict_has_a_row() {
        for h in Health::ALL {
            assert!(
                TABLE.iter().any(|r| r.code == h.exit_code()),
                "{h:?} exits {} with no row in the table",
                h.exit_code()
            );
        }
    }
}
