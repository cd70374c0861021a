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

/// `status --all`'s order of severity, worst first: the fleet exits with the first code in
/// this list that any application has. A restore killed mid-write comes first (a database may
/// be half restored right now); then the applications whose state cannot be read at all (a
/// broken configuration, a failed status run, an unreachable repository), because any of the
/// other verdicts may hide behind them; then `status`'s own verdicts in its precedence
/// (`jobs::status::Health::ALL`); healthy last. A code not listed ranks with `LOCKED`, just
/// before healthy.
pub const FLEET_SEVERITY: [i32; 14] = [
    RESTORE_INTERRUPTED,
    CONFIG,
    FAILED,
    UNREACHABLE,
    STALE,
    LAST_RUN_FAILED,
    FUTURE_SET,
    DRILL_FAILING,
    WAL_ARCHIVING_FAILING,
    OFFSITE_LAG,
    VERIFICATION_STALE,
    DRILL_OVERDUE,
    LOCKED,
    OK,
];

/// Position in [`FLEET_SEVERITY`]: lower is worse.
pub fn severity(code: i32) -> usize {
    FLEET_SEVERITY
        .iter()
        .position(|c| *c == code)
        .unwrap_or(FLEET_SEVERITY.len() - 2)
}

/// The worst of several applications' codes ([`FLEET_SEVERITY`]); none at all is healthy.
pub fn worst(codes: impl IntoIterator<Item = i32>) -> i32 {
    codes.into_iter().min_by_key(|c| severity(*c)).unwrap_or(OK)
}

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

    /// The fleet's order agrees with `status`'s own precedence for every verdict.
    #[test]
    fn fleet_severity_follows_the_status_precedence() {
        let ranks: Vec<usize> = Health::ALL
            .iter()
            .map(|h| severity(h.exit_code()))
            .collect();
        assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ranks:?}");
        assert_eq!(worst([OK, DRILL_FAILING, STALE]), STALE);
        assert_eq!(worst([STALE, CONFIG]), CONFIG);
        assert_eq!(worst([OK, OK]), OK);
        assert_eq!(worst([]), OK);
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
