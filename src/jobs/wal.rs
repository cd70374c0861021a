//! WAL archiving on the source server: when `archive_mode` is on, `pg_stat_archiver` says which
//! segment was archived last and when, and whether `archive_command` is failing. The effective
//! RPO of a server that archives is then the age of its last archived segment, not of the last
//! dump, and an archiver that fails is an alert of its own: the segments pile up in `pg_wal`
//! until the server's disk is full.
//!
//! `status` probes the source only when one is configured (`[source].database_url` or the PG*
//! environment), with a short connect timeout: a source that cannot be reached is reported,
//! never fatal. The probe goes through `psql` and the adapter's child runner
//! (`storage::pg::command`), like every other query lifeboat makes.

use crate::storage::pg::{PgConn, PgError, PgTools};
use crate::storage::units;
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// libpq's `connect_timeout` for the probe, in seconds (PGCONNECT_TIMEOUT).
pub const CONNECT_TIMEOUT_SECS: u64 = 5;
/// The whole probe (connect, query, exit) never takes longer than this.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Variables that make libpq reach a server without a URL; with none of them and no
/// `[source].database_url`, there is no source to ask.
const PG_TARGET_ENV: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGSERVICE",
];

/// One line of tab-separated values: archive_mode, then pg_stat_archiver's columns with
/// times as epoch seconds (empty when NULL).
const QUERY: &str = "SELECT current_setting('archive_mode'), a.archived_count, \
     coalesce(a.last_archived_wal, ''), \
     coalesce(extract(epoch FROM a.last_archived_time)::text, ''), \
     a.failed_count, coalesce(a.last_failed_wal, ''), \
     coalesce(extract(epoch FROM a.last_failed_time)::text, '') \
     FROM pg_stat_archiver a";

#[derive(Debug, Clone)]
pub struct WalProbeSpec {
    pub conn: PgConn,
    pub pg_bin_dir: Option<PathBuf>,
}

impl WalProbeSpec {
    /// A probe when a source is configured, by URL or by the PG* environment.
    pub fn configured(database_url: Option<&str>, pg_bin_dir: Option<PathBuf>) -> Option<Self> {
        let from_env = PG_TARGET_ENV
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
        (database_url.is_some() || from_env).then(|| WalProbeSpec {
            conn: PgConn::new(database_url),
            pg_bin_dir,
        })
    }
}

/// What the archiver is doing, in one word.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WalState {
    /// Archiving, and the newest attempt succeeded.
    Ok,
    /// The newest attempt failed (`last_failed_time` after `last_archived_time`).
    Failing,
    /// `archive_mode` is on but nothing was archived or failed yet (a fresh server).
    Waiting,
    /// `archive_mode` is off: the RPO is the age of the newest dump.
    Off,
    /// The source could not be asked (the reason is in `error`).
    Unreachable,
}

/// `pg_stat_archiver` as of `checked_at`, and what it means for the RPO.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WalStatus {
    pub state: WalState,
    /// The source, as a conninfo without its password.
    pub source: String,
    pub checked_at: DateTime<Utc>,
    /// `off`, `on` or `always`; None when unreachable.
    pub archive_mode: Option<String>,
    pub archived_count: Option<u64>,
    pub last_archived_wal: Option<String>,
    pub last_archived_time: Option<DateTime<Utc>>,
    pub failed_count: Option<u64>,
    pub last_failed_wal: Option<String>,
    pub last_failed_time: Option<DateTime<Utc>>,
    /// `checked_at` minus `last_archived_time`: how much would be lost if the server died now
    /// and were recovered from the archive (given a physical base backup to replay onto).
    pub effective_rpo_seconds: Option<i64>,
    /// Why the source could not be asked.
    pub error: Option<String>,
}

impl WalStatus {
    fn unreachable(source: String, error: String) -> Self {
        WalStatus {
            state: WalState::Unreachable,
            source,
            checked_at: Utc::now(),
            archive_mode: None,
            archived_count: None,
            last_archived_wal: None,
            last_archived_time: None,
            failed_count: None,
            last_failed_wal: None,
            last_failed_time: None,
            effective_rpo_seconds: None,
            error: Some(error),
        }
    }

    /// One line for `status` and the alerts.
    pub fn describe(&self) -> String {
        let ago = |t: DateTime<Utc>| {
            let secs = (self.checked_at - t).num_seconds().max(0) as u64;
            units::age(Duration::from_secs(secs))
        };
        let wal = |w: &Option<String>| w.clone().unwrap_or_else(|| "?".into());
        match self.state {
            WalState::Ok => format!(
                "✓ WAL archiving: {} archived {} ago; effective RPO {}",
                wal(&self.last_archived_wal),
                self.last_archived_time.map(ago).unwrap_or_default(),
                units::age(Duration::from_secs(
                    self.effective_rpo_seconds.unwrap_or(0).max(0) as u64
                ))
            ),
            WalState::Failing => format!(
                "✗ WAL archiving is FAILING on {}: {} failed {} ago ({} failures; last success: {}); check archive_command and the server log",
                self.source,
                wal(&self.last_failed_wal),
                self.last_failed_time.map(ago).unwrap_or_default(),
                self.failed_count.unwrap_or(0),
                match (&self.last_archived_wal, self.last_archived_time) {
                    (Some(w), Some(t)) => format!("{w}, {} ago", ago(t)),
                    _ => "never".into(),
                }
            ),
            WalState::Waiting => {
                "· WAL archiving: on, nothing archived yet (no segment completed since the server started)".into()
            }
            WalState::Off => {
                "· WAL archiving: off on the source (the RPO is the age of the newest backup)".into()
            }
            WalState::Unreachable => format!(
                "! WAL archiving status unknown: the source {} could not be asked: {}",
                self.source,
                self.error.as_deref().unwrap_or("no reason")
            ),
        }
    }
}

fn epoch(text: &str) -> Option<DateTime<Utc>> {
    let seconds: f64 = text.trim().parse().ok()?;
    let whole = seconds.floor();
    let nanos = ((seconds - whole) * 1e9).round().clamp(0.0, 999_999_999.0) as u32;
    Utc.timestamp_opt(whole as i64, nanos).single()
}

fn non_empty(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The verdict from one row of [`QUERY`] (pure, so it is tested without a server).
pub fn assess(source: String, row: &[String], now: DateTime<Utc>) -> Result<WalStatus, String> {
    let [mode, archived, archived_wal, archived_time, failed, failed_wal, failed_time] = row else {
        return Err(format!("unexpected pg_stat_archiver row: {row:?}"));
    };
    let count = |t: &str| t.trim().parse::<u64>().ok();
    let mut status = WalStatus {
        state: WalState::Off,
        source,
        checked_at: now,
        archive_mode: Some(mode.trim().to_string()),
        archived_count: count(archived),
        last_archived_wal: non_empty(archived_wal),
        last_archived_time: epoch(archived_time),
        failed_count: count(failed),
        last_failed_wal: non_empty(failed_wal),
        last_failed_time: epoch(failed_time),
        effective_rpo_seconds: None,
        error: None,
    };
    if !matches!(mode.trim(), "on" | "always") {
        return Ok(status);
    }
    // The newest attempt decides: a failure after the last success means the archiver is
    // stuck retrying that segment, and nothing newer can be archived behind it.
    let failing = match (status.last_failed_time, status.last_archived_time) {
        (Some(failed), Some(archived)) => failed > archived,
        (Some(_), None) => true,
        (None, _) => false,
    };
    status.effective_rpo_seconds = status
        .last_archived_time
        .map(|t| (now - t).num_seconds().max(0));
    status.state = match (failing, status.last_archived_time) {
        (true, _) => WalState::Failing,
        (false, Some(_)) => WalState::Ok,
        (false, None) => WalState::Waiting,
    };
    Ok(status)
}

/// Asks the source once, within [`PROBE_TIMEOUT`]; never fails: an unreachable source is a
/// state of its own.
pub async fn probe(spec: &WalProbeSpec) -> WalStatus {
    let source = spec.conn.display();
    let tools = PgTools::locate(spec.pg_bin_dir.as_deref(), None);
    let conn = spec.conn.clone();
    let asked = tokio::task::spawn_blocking(move || {
        tools
            .command("psql")
            .args(["-X", "-q", "-A", "-t", "-w", "-F", "\t", "-c", QUERY])
            .conn(&conn)
            .connect_timeout(Duration::from_secs(CONNECT_TIMEOUT_SECS))
            // A probe that outlives the timeout is killed, not left behind.
            .timeout(PROBE_TIMEOUT)
            .run()
    })
    .await;
    let stdout = match asked {
        Err(e) => return WalStatus::unreachable(source, e.to_string()),
        Ok(Err(PgError::TimedOut { .. })) => {
            return WalStatus::unreachable(
                source,
                format!("no answer within {}", units::age(PROBE_TIMEOUT)),
            )
        }
        Ok(Err(PgError::Failed { stderr, .. })) => return WalStatus::unreachable(source, stderr),
        Ok(Err(e)) => return WalStatus::unreachable(source, e.to_string()),
        Ok(Ok(out)) => out,
    };
    let text = String::from_utf8_lossy(&stdout);
    let row: Vec<String> = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .split('\t')
        .map(str::to_string)
        .collect();
    assess(source.clone(), &row, Utc::now()).unwrap_or_else(|e| WalStatus::unreachable(source, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fields: [&str; 7]) -> Vec<String> {
        fields.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reads_the_archiver_state() {
        let now = Utc.timestamp_opt(1_000_000, 0).single().unwrap();
        let off = assess("x".into(), &row(["off", "0", "", "", "0", "", ""]), now).unwrap();
        assert_eq!(off.state, WalState::Off);
        assert_eq!(off.effective_rpo_seconds, None);

        let ok = assess(
            "x".into(),
            &row([
                "on",
                "7",
                "000000010000000000000007",
                "999990.5",
                "0",
                "",
                "",
            ]),
            now,
        )
        .unwrap();
        assert_eq!(ok.state, WalState::Ok);
        assert_eq!(ok.effective_rpo_seconds, Some(9));
        assert_eq!(
            ok.last_archived_wal.as_deref(),
            Some("000000010000000000000007")
        );

        let failing = assess(
            "x".into(),
            &row(["on", "7", "A", "999000", "3", "B", "999500"]),
            now,
        )
        .unwrap();
        assert_eq!(failing.state, WalState::Failing);
        assert_eq!(failing.effective_rpo_seconds, Some(1000));

        let recovered = assess(
            "x".into(),
            &row(["on", "8", "B", "999600", "3", "B", "999500"]),
            now,
        )
        .unwrap();
        assert_eq!(recovered.state, WalState::Ok);

        let never = assess(
            "x".into(),
            &row(["always", "0", "", "", "2", "A", "999"]),
            now,
        )
        .unwrap();
        assert_eq!(never.state, WalState::Failing);
        let fresh = assess("x".into(), &row(["on", "0", "", "", "0", "", ""]), now).unwrap();
        assert_eq!(fresh.state, WalState::Waiting);
        assert!(assess("x".into(), &["on".to_string()], now).is_err());
    }
}
