//! The record inside the repository lock object (`locks/repository.lock`) and the rules that
//! decide whether it still binds: who holds the lock, until when, and when it may be taken over.
//!
//! Lease times: a holder's lease lasts `LEASE` (120 s) from its last renewal, and it renews every
//! quarter of that (30 s), so three renewals in a row can fail (a slow or briefly unreachable
//! server) before the lease runs out. `LIFEBOAT_LOCK_LEASE_SECS` shortens or lengthens it
//! (tests use a few seconds); the renewal interval follows.
//!
//! Clocks: the expiry is written by the holder's clock and read by the next host's. A lock is
//! stale only when both the record's `lease_expires_at` and the object's last-modified time (set
//! by the server's clock) plus the lease are in the past by the reader's clock, so a holder whose
//! clock runs slow is not robbed early. A reader whose clock runs fast by more than the lease
//! minus one renewal interval (90 s by default) can take over a live lock: keep hosts on NTP.
//! A host whose clock runs slow only waits longer before taking over a dead holder's lock.

use super::{process_alive_since, process_start, this_host, LockHolder};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The lease when `LIFEBOAT_LOCK_LEASE_SECS` is not set.
pub const LEASE: Duration = Duration::from_secs(120);
/// Overrides the lease (seconds, at least 1): tests, or a server so slow 120 s is too short.
pub const LEASE_ENV: &str = "LIFEBOAT_LOCK_LEASE_SECS";

/// How long a lease lasts and how often its holder renews it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTimes {
    pub lease: Duration,
    pub renew: Duration,
}

impl LeaseTimes {
    pub fn from_env() -> LeaseTimes {
        let lease = std::env::var(LEASE_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&s| s >= 1)
            .map_or(LEASE, Duration::from_secs);
        LeaseTimes::of(lease)
    }

    pub fn of(lease: Duration) -> LeaseTimes {
        LeaseTimes {
            lease,
            renew: lease / 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub host: String,
    pub pid: u32,
    /// With the pid, names one process on `host` (see `lock::process_start`).
    #[serde(default)]
    pub process_start: Option<u64>,
    /// The holder's pid namespace: a pid means nothing in another one (two containers may share
    /// a host name).
    #[serde(default)]
    pub pid_namespace: String,
    /// Unique per acquisition: how a holder recognises its own record.
    pub run_id: String,
    pub purpose: String,
    pub started_at: DateTime<Utc>,
    pub renewed_at: DateTime<Utc>,
    pub lease_expires_at: DateTime<Utc>,
}

impl LeaseRecord {
    /// A fresh record for this process.
    pub fn mine(purpose: &str, times: LeaseTimes) -> LeaseRecord {
        let now = Utc::now();
        let pid = std::process::id();
        let host = this_host();
        let nonce: u64 = rand::random();
        LeaseRecord {
            run_id: format!("{host}-{pid}-{}-{nonce:016x}", now.timestamp_millis()),
            host,
            pid,
            process_start: process_start(pid),
            pid_namespace: crate::storage::orphans::pid_namespace(),
            purpose: purpose.to_string(),
            started_at: now,
            renewed_at: now,
            lease_expires_at: now + chrono::Duration::from_std(times.lease).unwrap_or_default(),
        }
    }

    /// This record with its lease running again from now.
    pub fn renewed(&self, times: LeaseTimes) -> LeaseRecord {
        let now = Utc::now();
        LeaseRecord {
            renewed_at: now,
            lease_expires_at: now + chrono::Duration::from_std(times.lease).unwrap_or_default(),
            ..self.clone()
        }
    }

    pub fn holder(&self) -> LockHolder {
        LockHolder {
            host: self.host.clone(),
            pid: self.pid,
            started_at: self.started_at,
            purpose: self.purpose.clone(),
        }
    }

    /// Whether the lease binds no more at `now`: it ran out (by the holder's clock and by the
    /// server's, see the module comment), or the holder is a process of this host and pid
    /// namespace that has ended (a killed run need not be waited out on its own host).
    pub fn is_stale(&self, now: DateTime<Utc>, modified: Option<DateTime<Utc>>) -> bool {
        if self.is_dead_here() {
            return true;
        }
        let lease = self.lease_expires_at - self.renewed_at;
        let by_server = modified.is_none_or(|m| now > m + lease);
        now > self.lease_expires_at && by_server
    }

    fn is_dead_here(&self) -> bool {
        self.host == this_host()
            && !self.pid_namespace.is_empty()
            && self.pid_namespace == crate::storage::orphans::pid_namespace()
            && !process_alive_since(self.pid, self.process_start)
    }

    /// What stands for a lock object that does not parse: it blocks like a live lock until a
    /// lease has passed since it was written, then it is taken over like a stale one.
    pub fn unreadable(modified: Option<DateTime<Utc>>, times: LeaseTimes) -> LeaseRecord {
        let at = modified.unwrap_or_else(Utc::now);
        LeaseRecord {
            host: "unknown".into(),
            pid: 0,
            process_start: None,
            pid_namespace: String::new(),
            run_id: String::new(),
            purpose: "an unreadable lock record".into(),
            started_at: at,
            renewed_at: at,
            lease_expires_at: at + chrono::Duration::from_std(times.lease).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn other_host(expires_in: i64) -> LeaseRecord {
        let now = Utc::now();
        LeaseRecord {
            host: "elsewhere.example".into(),
            pid: 1,
            process_start: None,
            pid_namespace: "pid:[1]".into(),
            run_id: "r".into(),
            purpose: "backup".into(),
            started_at: now,
            renewed_at: now + chrono::Duration::seconds(expires_in - 120),
            lease_expires_at: now + chrono::Duration::seconds(expires_in),
        }
    }

    #[test]
    fn a_lease_binds_until_both_clocks_say_it_ran_out() {
        let now = Utc::now();
        assert!(!other_host(60).is_stale(now, None));
        assert!(other_host(-1).is_stale(now, None));
        // The server wrote it a moment ago: the holder's clock runs slow, so wait.
        assert!(!other_host(-1).is_stale(now, Some(now - chrono::Duration::seconds(5))));
        assert!(other_host(-1).is_stale(now, Some(now - chrono::Duration::seconds(200))));
    }

    #[test]
    fn a_dead_holder_of_this_host_is_stale_at_once_a_live_one_is_not() {
        let mut mine = LeaseRecord::mine("backup", LeaseTimes::of(LEASE));
        assert!(!mine.is_stale(Utc::now(), None), "this process is alive");
        mine.pid = 0x3fff_fff0;
        mine.process_start = None;
        assert!(mine.is_stale(Utc::now(), None));
    }

    #[test]
    fn renewal_every_quarter_lease() {
        assert_eq!(LeaseTimes::of(LEASE).renew, Duration::from_secs(30));
    }
}
