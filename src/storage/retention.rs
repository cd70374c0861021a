//! Retention: which complete backup sets a policy keeps, which it lets go, and every reason why.
//!
//! This module owns the `[retention]` configuration, its validation into a [`Policy`], and the
//! pure planning step `Policy::plan(candidates, now) -> Plan`. It does no I/O and never reads the
//! clock: the prune job lists the repository, passes the listing and `now` in, shows the plan, and
//! deletes only what the plan expires (and only after confirmation). Keeping it pure is what lets
//! the preview, the TUI's retention screen and the tests all agree on exactly the same answer.
//!
//! Semantics follow restic's `forget`: each bucket rule keeps the newest set in each of the last
//! N periods *that contain a set*, so a pause in backups never empties a bucket. Safety floors
//! (newest, newest verified, last passing drill, pinned, younger than `min_age`) are applied on
//! top and no policy can switch them off.
//!
//! Two kinds of set stand apart from the rules and from the newest and newest-verified floors:
//! safety backups (taken by a restore of its target first), which would otherwise take a
//! period's place from the regular backup of that period, and are kept by a rule of their own
//! (`keep_safety`, 14 days by default); and sets dated in the future (a wrong clock or a forged
//! set), which must not push the real newest set out, and are kept, never deleted by a policy,
//! until the operator removes them.

use chrono::{DateTime, Datelike, Offset, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use std::cmp::Ordering;
use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

/// Nothing younger than this is deleted unless the config says otherwise: a backup that just
/// finished may still be being verified or copied, and deleting it would be the worst surprise.
pub const DEFAULT_MIN_AGE: Duration = Duration::from_secs(60 * 60);

/// The `[retention]` table as written by the operator. Every field is optional; validation into a
/// [`Policy`] happens in [`Policy::from_config`], so a typo is reported before anything is planned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    pub keep_last: Option<u32>,
    pub hourly: Option<u32>,
    pub daily: Option<u32>,
    pub weekly: Option<u32>,
    pub monthly: Option<u32>,
    pub yearly: Option<u32>,
    /// An IANA zone name; bucket boundaries (days, weeks, months, years) are local to it.
    pub timezone: Option<String>,
    /// A humantime duration ("1h", "30m", "2d").
    pub min_age: Option<String>,
    /// How long a safety backup (taken by a restore first) is kept, a humantime duration;
    /// "0s": only the floors keep it.
    pub keep_safety: Option<String>,
}

/// A restore's safety backup is kept this long unless `[retention].keep_safety` says otherwise:
/// long enough to notice that a restore brought back the wrong thing.
pub const DEFAULT_KEEP_SAFETY: Duration = Duration::from_secs(14 * 86_400);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetentionError {
    #[error("[retention] keeps nothing: a policy that keeps nothing would delete every backup: set at least one of keep_last, hourly, daily, weekly, monthly, yearly above 0")]
    EmptyPolicy,
    #[error("[retention].timezone = \"{zone}\" is not a known time zone; use an IANA name such as \"Europe/Bucharest\" or \"UTC\"")]
    UnknownTimeZone { zone: String },
    #[error("[retention].min_age = \"{value}\" is not a usable duration ({reason}); write it like \"1h\", \"30m\" or \"2days\"")]
    BadMinAge { value: String, reason: String },
    #[error("[retention].keep_safety = \"{value}\" is not a usable duration ({reason}); write it like \"14days\" or \"0s\"")]
    BadKeepSafety { value: String, reason: String },
}

/// A retention rule. `Last` counts sets; the others count calendar periods in the policy's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    Last,
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Rule {
    /// In the order reasons are listed on a decision.
    pub const ALL: [Rule; 6] = [
        Rule::Last,
        Rule::Hourly,
        Rule::Daily,
        Rule::Weekly,
        Rule::Monthly,
        Rule::Yearly,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The word used in reasons ("daily 3/7").
    pub fn name(self) -> &'static str {
        match self {
            Rule::Last => "last",
            Rule::Hourly => "hourly",
            Rule::Daily => "daily",
            Rule::Weekly => "weekly",
            Rule::Monthly => "monthly",
            Rule::Yearly => "yearly",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A validated policy: at least one count above zero, a real time zone, a representable min_age.
/// Only [`Policy::from_config`] builds one, so an empty policy cannot reach the planner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    counts: [u32; 6],
    timezone: Tz,
    min_age: Duration,
    // Kept alongside `min_age` so planning never has to handle an out-of-range conversion.
    min_age_delta: TimeDelta,
    keep_safety: Duration,
    keep_safety_delta: TimeDelta,
}

impl Policy {
    pub fn from_config(config: &RetentionConfig) -> Result<Policy, RetentionError> {
        let timezone = match &config.timezone {
            None => Tz::UTC,
            Some(zone) => zone
                .parse::<Tz>()
                .map_err(|_| RetentionError::UnknownTimeZone { zone: zone.clone() })?,
        };
        let min_age = match &config.min_age {
            None => DEFAULT_MIN_AGE,
            Some(value) => {
                humantime::parse_duration(value).map_err(|e| RetentionError::BadMinAge {
                    value: value.clone(),
                    reason: e.to_string(),
                })?
            }
        };
        let min_age_delta =
            TimeDelta::from_std(min_age).map_err(|_| RetentionError::BadMinAge {
                value: config.min_age.clone().unwrap_or_default(),
                reason: "too large".to_string(),
            })?;
        let counts = [
            config.keep_last,
            config.hourly,
            config.daily,
            config.weekly,
            config.monthly,
            config.yearly,
        ]
        .map(|n| n.unwrap_or(0));
        if counts.iter().all(|&n| n == 0) {
            return Err(RetentionError::EmptyPolicy);
        }
        let bad_keep_safety = |reason: String| RetentionError::BadKeepSafety {
            value: config.keep_safety.clone().unwrap_or_default(),
            reason,
        };
        let keep_safety = match &config.keep_safety {
            None => DEFAULT_KEEP_SAFETY,
            Some(value) => {
                humantime::parse_duration(value).map_err(|e| bad_keep_safety(e.to_string()))?
            }
        };
        let keep_safety_delta =
            TimeDelta::from_std(keep_safety).map_err(|_| bad_keep_safety("too large".into()))?;
        Ok(Policy {
            counts,
            timezone,
            min_age,
            min_age_delta,
            keep_safety,
            keep_safety_delta,
        })
    }

    /// How many sets (`Last`) or periods the rule keeps; 0 when the rule is off.
    pub fn count(&self, rule: Rule) -> u32 {
        self.counts[rule.index()]
    }

    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    pub fn min_age(&self) -> Duration {
        self.min_age
    }

    pub fn keep_safety(&self) -> Duration {
        self.keep_safety
    }

    /// Decides, for every complete candidate, whether it is kept and why. Incomplete candidates are
    /// returned as garbage without being weighed: they are not backups, and the rules must not let
    /// a half-written set occupy (or free) a bucket.
    pub fn plan(&self, candidates: &[Candidate], now: DateTime<Utc>) -> Plan {
        let (mut complete, mut incomplete): (Vec<&Candidate>, Vec<&Candidate>) =
            candidates.iter().partition(|c| c.complete);
        complete.sort_by(|a, b| newest_first(a, b));
        incomplete.sort_by(|a, b| newest_first(a, b));

        let mut reasons: Vec<Vec<Reason>> = vec![Vec::new(); complete.len()];
        // Safety and future-dated sets take no rule's place and are not the newest floors.
        let regular: Vec<bool> = complete
            .iter()
            .map(|c| !c.safety && !c.is_future(now))
            .collect();
        for rule in Rule::ALL {
            let of = self.count(rule);
            let mut nth = 0;
            // A seen-set rather than restic's "key changed since the previous set": the two agree
            // while every period is one contiguous stretch of time (true of the zones tested),
            // but if a zone ever set its clocks back across midnight, a local day would recur
            // non-adjacently and must still count once. This keeps the plan idempotent regardless.
            let mut seen = HashSet::new();
            for (i, set) in complete.iter().enumerate() {
                if !regular[i] {
                    continue;
                }
                if nth == of {
                    break;
                }
                let new_period = match self.period(rule, set.time) {
                    None => true,
                    Some(key) => seen.insert(key),
                };
                if new_period {
                    nth += 1;
                    reasons[i].push(Reason::Rule { rule, nth, of });
                }
            }
        }

        if let Some(i) = regular.iter().position(|&r| r) {
            reasons[i].push(Reason::Newest);
        }
        if let Some(i) = (0..complete.len()).find(|&i| regular[i] && complete[i].verified) {
            reasons[i].push(Reason::NewestVerified);
        }
        for (set, why) in complete.iter().zip(reasons.iter_mut()) {
            if set.drill_passed {
                why.push(Reason::LastPassingDrill);
            }
            if let Some(note) = &set.pinned {
                why.push(Reason::Pinned(note.clone()));
            }
            let age = now.signed_duration_since(set.time);
            // A set from the future (a wrong clock, a forged set) is never deleted by a policy:
            // the operator decides. Within the tolerance it is only young.
            if set.is_future(now) {
                why.push(Reason::DatedInFuture);
            } else if age < self.min_age_delta {
                why.push(Reason::YoungerThan(self.min_age));
            }
            if set.safety && age < self.keep_safety_delta {
                why.push(Reason::Safety(self.keep_safety));
            }
        }

        let decisions = complete
            .iter()
            .zip(reasons)
            .map(|(set, reasons)| Decision {
                id: set.id.clone(),
                keep: !reasons.is_empty(),
                reasons,
            })
            .collect();
        Plan {
            decisions,
            garbage: incomplete.iter().map(|c| c.id.clone()).collect(),
        }
    }

    /// The period a time falls in, for a bucket rule, in the policy's zone; `None` for `Last`,
    /// where every set is its own period.
    fn period(&self, rule: Rule, time: DateTime<Utc>) -> Option<(i32, i32, i32)> {
        let local = time.with_timezone(&self.timezone);
        let day = local.date_naive().num_days_from_ce();
        Some(match rule {
            Rule::Last => return None,
            // The offset is part of the hour: when clocks fall back, local 03:00-03:59 happens
            // twice, and those are two real hours of backups, not one.
            Rule::Hourly => (
                day,
                local.hour() as i32,
                local.offset().fix().local_minus_utc(),
            ),
            Rule::Daily => (day, 0, 0),
            Rule::Weekly => {
                let week = local.iso_week();
                (week.year(), week.week() as i32, 0)
            }
            Rule::Monthly => (local.year(), local.month() as i32, 0),
            Rule::Yearly => (local.year(), 0, 0),
        })
    }
}

/// Newest first; equal times are ordered by id (the larger id counts as newer) so the plan never
/// depends on the order of the listing.
fn newest_first(a: &Candidate, b: &Candidate) -> Ordering {
    b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id))
}

/// One backup set as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    /// The set's snapshot time (or finish time when no snapshot time is known).
    pub time: DateTime<Utc>,
    /// Has a manifest; incomplete sets are garbage, not backups.
    pub complete: bool,
    /// Passed a verification.
    pub verified: bool,
    /// The operator's note when pinned.
    pub pinned: Option<String>,
    /// Used by the last passing drill or recovery (a record of either kind that passed).
    pub drill_passed: bool,
    /// A restore's safety backup: kept by `keep_safety`, not by the rules or the newest floors.
    pub safety: bool,
    /// Its id or manifest is dated in the future (the planner also sees a future `time`).
    pub future: bool,
}

impl Candidate {
    /// Dated later than `now` plus `setid::FUTURE_TOLERANCE`, by the caller or by `time`.
    pub fn is_future(&self, now: DateTime<Utc>) -> bool {
        self.future || super::setid::dated_in_future(self.time, now)
    }
}

/// Why a set is kept. `Display` yields the words shown in the preview ("daily 3/7", "pinned: ...").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The `nth` (newest first) of `of` sets or periods a rule keeps.
    Rule {
        rule: Rule,
        nth: u32,
        of: u32,
    },
    Newest,
    NewestVerified,
    LastPassingDrill,
    Pinned(String),
    YoungerThan(Duration),
    /// Dated in the future: never deleted by a policy.
    DatedInFuture,
    /// A restore's safety backup younger than `keep_safety`.
    Safety(Duration),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Rule { rule, nth, of } => write!(f, "{rule} {nth}/{of}"),
            Reason::Newest => f.write_str("newest"),
            Reason::NewestVerified => f.write_str("newest verified"),
            Reason::LastPassingDrill => f.write_str("last passing drill / recovery"),
            Reason::Pinned(note) => write!(f, "pinned: {note}"),
            Reason::YoungerThan(age) => {
                write!(f, "younger than {}", humantime::format_duration(*age))
            }
            Reason::DatedInFuture => f.write_str("dated in the future"),
            Reason::Safety(age) => {
                write!(
                    f,
                    "safety backup, kept {}",
                    humantime::format_duration(*age)
                )
            }
        }
    }
}

/// The verdict on one complete set. `keep` is true exactly when `reasons` is not empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub id: String,
    pub keep: bool,
    /// Rules first (last, hourly, daily, weekly, monthly, yearly), then safety floors.
    pub reasons: Vec<Reason>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// One per complete set, newest first.
    pub decisions: Vec<Decision>,
    /// Ids of incomplete sets, newest first; only an explicit prune removes them.
    pub garbage: Vec<String>,
}

impl Plan {
    /// Ids of the complete sets the plan lets go, newest first.
    pub fn expired(&self) -> Vec<&str> {
        self.decisions
            .iter()
            .filter(|d| !d.keep)
            .map(|d| d.id.as_str())
            .collect()
    }

    pub fn kept(&self) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().filter(|d| d.keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn config(body: &str) -> RetentionConfig {
        toml::from_str(body).unwrap()
    }

    fn policy(body: &str) -> Policy {
        Policy::from_config(&config(body)).unwrap()
    }

    fn set(id: &str, time: DateTime<Utc>) -> Candidate {
        Candidate {
            id: id.to_string(),
            time,
            complete: true,
            verified: false,
            pinned: None,
            drill_passed: false,
            safety: false,
            future: false,
        }
    }

    /// The kept sets with their reasons as displayed, newest first.
    fn kept(plan: &Plan) -> Vec<(String, Vec<String>)> {
        plan.kept()
            .map(|d| {
                let why = d.reasons.iter().map(|r| r.to_string()).collect();
                (d.id.clone(), why)
            })
            .collect()
    }

    struct Case {
        name: &'static str,
        policy: &'static str,
        sets: &'static [(&'static str, &'static str)],
        now: &'static str,
        /// Every kept set, newest first, with all its reasons; everything else must be expired.
        kept: &'static [(&'static str, &'static [&'static str])],
    }

    const BUCHAREST: &str = "timezone = \"Europe/Bucharest\"\n";

    // Bucharest is UTC+2 (EET) in winter and UTC+3 (EEST) in summer. The EU changes clocks at
    // 01:00 UTC: on 2026-03-29 local 03:00 EET jumps to 04:00 EEST (a 23-hour day), and on
    // 2026-10-25 local 04:00 EEST falls back to 03:00 EET (a 25-hour day, 03:xx happens twice).
    const CASES: &[Case] = &[
        Case {
            name: "daily in Bucharest: 21:00 UTC onwards is already the next local day",
            policy: "daily = 3\ntimezone = \"Europe/Bucharest\"",
            sets: &[
                ("jun01-2300L", "2026-06-01T20:00:00Z"),
                ("jun02-0030L", "2026-06-01T21:30:00Z"),
                ("jun02-0230L", "2026-06-01T23:30:00Z"),
                ("jun02-1500L", "2026-06-02T12:00:00Z"),
                ("jun03-0230L", "2026-06-02T23:30:00Z"),
            ],
            now: "2026-06-10T00:00:00Z",
            kept: &[
                ("jun03-0230L", &["daily 1/3", "newest"]),
                ("jun02-1500L", &["daily 2/3"]),
                ("jun01-2300L", &["daily 3/3"]),
            ],
        },
        Case {
            name: "the same sets in UTC bucket differently (contrast)",
            policy: "daily = 3",
            sets: &[
                ("jun01-2000Z", "2026-06-01T20:00:00Z"),
                ("jun01-2130Z", "2026-06-01T21:30:00Z"),
                ("jun01-2330Z", "2026-06-01T23:30:00Z"),
                ("jun02-1200Z", "2026-06-02T12:00:00Z"),
                ("jun02-2330Z", "2026-06-02T23:30:00Z"),
            ],
            now: "2026-06-10T00:00:00Z",
            kept: &[
                ("jun02-2330Z", &["daily 1/3", "newest"]),
                ("jun01-2330Z", &["daily 2/3"]),
            ],
        },
        Case {
            name: "daily across the spring-forward day (23 local hours)",
            policy: "daily = 4\ntimezone = \"Europe/Bucharest\"",
            sets: &[
                ("mar28-2359EET", "2026-03-28T21:59:00Z"),
                ("mar29-0000EET", "2026-03-28T22:00:00Z"),
                ("mar29-2359EEST", "2026-03-29T20:59:00Z"),
                ("mar30-0000EEST", "2026-03-29T21:00:00Z"),
            ],
            now: "2026-04-05T00:00:00Z",
            kept: &[
                ("mar30-0000EEST", &["daily 1/4", "newest"]),
                ("mar29-2359EEST", &["daily 2/4"]),
                ("mar28-2359EET", &["daily 3/4"]),
            ],
        },
        Case {
            name: "hourly across spring forward: 02:59 EET and 04:00 EEST are adjacent hours",
            policy: "hourly = 3\ntimezone = \"Europe/Bucharest\"",
            sets: &[
                ("0130EET", "2026-03-28T23:30:00Z"),
                ("0230EET", "2026-03-29T00:30:00Z"),
                ("0259EET", "2026-03-29T00:59:00Z"),
                ("0400EEST", "2026-03-29T01:00:00Z"),
                ("0430EEST", "2026-03-29T01:30:00Z"),
            ],
            now: "2026-04-05T00:00:00Z",
            kept: &[
                ("0430EEST", &["hourly 1/3", "newest"]),
                ("0259EET", &["hourly 2/3"]),
                ("0130EET", &["hourly 3/3"]),
            ],
        },
        Case {
            name: "hourly across fall back: local 03:xx happens twice, two real hours",
            policy: "hourly = 3\ntimezone = \"Europe/Bucharest\"",
            sets: &[
                ("0310EEST", "2026-10-25T00:10:00Z"),
                ("0350EEST", "2026-10-25T00:50:00Z"),
                ("0310EET", "2026-10-25T01:10:00Z"),
                ("0350EET", "2026-10-25T01:50:00Z"),
            ],
            now: "2026-11-01T00:00:00Z",
            kept: &[
                ("0350EET", &["hourly 1/3", "newest"]),
                ("0350EEST", &["hourly 2/3"]),
            ],
        },
        Case {
            name: "daily across the fall-back day (25 local hours)",
            policy: "daily = 3\ntimezone = \"Europe/Bucharest\"",
            sets: &[
                ("oct24-2359EEST", "2026-10-24T20:59:00Z"),
                ("oct25-0000EEST", "2026-10-24T21:00:00Z"),
                ("oct25-2359EET", "2026-10-25T21:59:00Z"),
                ("oct26-0000EET", "2026-10-25T22:00:00Z"),
            ],
            now: "2026-11-01T00:00:00Z",
            kept: &[
                ("oct26-0000EET", &["daily 1/3", "newest"]),
                ("oct25-2359EET", &["daily 2/3"]),
                ("oct24-2359EEST", &["daily 3/3"]),
            ],
        },
        Case {
            name: "hourly in a half-hour zone: 10:10Z and 10:40Z are 15:40 and 16:10 IST",
            policy: "hourly = 2\ntimezone = \"Asia/Kolkata\"",
            sets: &[
                ("1540IST", "2026-06-01T10:10:00Z"),
                ("1610IST", "2026-06-01T10:40:00Z"),
            ],
            now: "2026-06-02T00:00:00Z",
            kept: &[
                ("1610IST", &["hourly 1/2", "newest"]),
                ("1540IST", &["hourly 2/2"]),
            ],
        },
        Case {
            name: "hourly in UTC: the same two sets share an hour (contrast)",
            policy: "hourly = 2",
            sets: &[
                ("1010Z", "2026-06-01T10:10:00Z"),
                ("1040Z", "2026-06-01T10:40:00Z"),
            ],
            now: "2026-06-02T00:00:00Z",
            kept: &[("1040Z", &["hourly 1/2", "newest"])],
        },
        Case {
            name: "weekly: Monday 2025-12-29 opens ISO week 1 of 2026",
            policy: "weekly = 3\ntimezone = \"Europe/Bucharest\"",
            sets: &[
                ("sun-2025-12-28", "2025-12-28T10:00:00Z"),
                ("mon-2025-12-29", "2025-12-29T10:00:00Z"),
                ("sun-2026-01-04", "2026-01-04T10:00:00Z"),
                ("mon-2026-01-05", "2026-01-05T10:00:00Z"),
            ],
            now: "2026-02-01T00:00:00Z",
            kept: &[
                ("mon-2026-01-05", &["weekly 1/3", "newest"]),
                ("sun-2026-01-04", &["weekly 2/3"]),
                ("sun-2025-12-28", &["weekly 3/3"]),
            ],
        },
        Case {
            name: "weekly: ISO week 53 of 2026 runs to Sunday 2027-01-03, local time decides",
            policy: "weekly = 2\ntimezone = \"Europe/Bucharest\"",
            sets: &[
                ("mon-2026-12-28", "2026-12-28T10:00:00Z"),
                ("thu-2026-12-31", "2026-12-31T10:00:00Z"),
                ("sun-2027-01-03", "2027-01-03T10:00:00Z"),
                ("sun-2027-01-03-2330L", "2027-01-03T21:30:00Z"),
                ("mon-2027-01-04-0030L", "2027-01-03T22:30:00Z"),
            ],
            now: "2027-02-01T00:00:00Z",
            kept: &[
                ("mon-2027-01-04-0030L", &["weekly 1/2", "newest"]),
                ("sun-2027-01-03-2330L", &["weekly 2/2"]),
            ],
        },
        Case {
            name: "monthly: 22:30Z on Jan 31 is already February in Bucharest",
            policy: "monthly = 3\ntimezone = \"Europe/Bucharest\"",
            sets: &[
                ("dec-15", "2025-12-15T12:00:00Z"),
                ("jan-31-2330L", "2026-01-31T21:30:00Z"),
                ("feb-01-0030L", "2026-01-31T22:30:00Z"),
                ("feb-28", "2026-02-28T12:00:00Z"),
            ],
            now: "2026-03-15T00:00:00Z",
            kept: &[
                ("feb-28", &["monthly 1/3", "newest"]),
                ("jan-31-2330L", &["monthly 2/3"]),
                ("dec-15", &["monthly 3/3"]),
            ],
        },
        Case {
            name: "yearly: 22:30Z on Dec 31 is already next year in Bucharest",
            policy: "yearly = 4\ntimezone = \"Europe/Bucharest\"",
            sets: &[
                ("y2025", "2025-06-01T12:00:00Z"),
                ("y2026-last", "2026-12-31T21:30:00Z"),
                ("y2027-first", "2026-12-31T22:30:00Z"),
            ],
            now: "2027-03-01T00:00:00Z",
            kept: &[
                ("y2027-first", &["yearly 1/4", "newest"]),
                ("y2026-last", &["yearly 2/4"]),
                ("y2025", &["yearly 3/4"]),
            ],
        },
        Case {
            name: "a 10-day pause: the 7 dailies before it survive",
            policy: "daily = 7",
            sets: &[
                ("jan01", "2026-01-01T02:00:00Z"),
                ("jan02", "2026-01-02T02:00:00Z"),
                ("jan03", "2026-01-03T02:00:00Z"),
                ("jan04", "2026-01-04T02:00:00Z"),
                ("jan05", "2026-01-05T02:00:00Z"),
                ("jan06", "2026-01-06T02:00:00Z"),
                ("jan07", "2026-01-07T02:00:00Z"),
                ("jan08", "2026-01-08T02:00:00Z"),
                ("jan09", "2026-01-09T02:00:00Z"),
                ("jan10", "2026-01-10T02:00:00Z"),
            ],
            now: "2026-01-20T12:00:00Z",
            kept: &[
                ("jan10", &["daily 1/7", "newest"]),
                ("jan09", &["daily 2/7"]),
                ("jan08", &["daily 3/7"]),
                ("jan07", &["daily 4/7"]),
                ("jan06", &["daily 5/7"]),
                ("jan05", &["daily 6/7"]),
                ("jan04", &["daily 7/7"]),
            ],
        },
        Case {
            name: "after the pause, backups resume: the empty days count for nothing",
            policy: "daily = 7",
            sets: &[
                ("jan04", "2026-01-04T02:00:00Z"),
                ("jan05", "2026-01-05T02:00:00Z"),
                ("jan06", "2026-01-06T02:00:00Z"),
                ("jan07", "2026-01-07T02:00:00Z"),
                ("jan08", "2026-01-08T02:00:00Z"),
                ("jan09", "2026-01-09T02:00:00Z"),
                ("jan10", "2026-01-10T02:00:00Z"),
                ("jan21", "2026-01-21T02:00:00Z"),
                ("jan22", "2026-01-22T02:00:00Z"),
            ],
            now: "2026-01-22T12:00:00Z",
            kept: &[
                ("jan22", &["daily 1/7", "newest"]),
                ("jan21", &["daily 2/7"]),
                ("jan10", &["daily 3/7"]),
                ("jan09", &["daily 4/7"]),
                ("jan08", &["daily 5/7"]),
                ("jan07", &["daily 6/7"]),
                ("jan06", &["daily 7/7"]),
            ],
        },
        Case {
            name: "several sets in one day: the newest wins",
            policy: "daily = 2",
            sets: &[
                ("d1-0100", "2026-05-01T01:00:00Z"),
                ("d1-1200", "2026-05-01T12:00:00Z"),
                ("d1-2300", "2026-05-01T23:00:00Z"),
                ("d2-0100", "2026-05-02T01:00:00Z"),
                ("d2-1200", "2026-05-02T12:00:00Z"),
                ("d2-2300", "2026-05-02T23:00:00Z"),
                ("d3-0100", "2026-05-03T01:00:00Z"),
                ("d3-1200", "2026-05-03T12:00:00Z"),
                ("d3-2300", "2026-05-03T23:00:00Z"),
            ],
            now: "2026-05-10T00:00:00Z",
            kept: &[
                ("d3-2300", &["daily 1/2", "newest"]),
                ("d2-2300", &["daily 2/2"]),
            ],
        },
        Case {
            name: "keep_last alone",
            policy: "keep_last = 3",
            sets: &[
                ("a", "2026-05-01T00:00:00Z"),
                ("b", "2026-05-01T00:01:00Z"),
                ("c", "2026-05-01T00:02:00Z"),
                ("d", "2026-05-01T00:03:00Z"),
                ("e", "2026-05-01T00:04:00Z"),
            ],
            now: "2026-05-10T00:00:00Z",
            kept: &[
                ("e", &["last 1/3", "newest"]),
                ("d", &["last 2/3"]),
                ("c", &["last 3/3"]),
            ],
        },
        Case {
            name: "rules are ORed and a set carries every reason",
            policy: "keep_last = 2\ndaily = 2\nweekly = 1",
            sets: &[
                ("mon-a", "2026-06-01T01:00:00Z"),
                ("mon-b", "2026-06-01T13:00:00Z"),
                ("tue-a", "2026-06-02T01:00:00Z"),
                ("tue-b", "2026-06-02T13:00:00Z"),
            ],
            now: "2026-06-10T00:00:00Z",
            kept: &[
                ("tue-b", &["last 1/2", "daily 1/2", "weekly 1/1", "newest"]),
                ("tue-a", &["last 2/2"]),
                ("mon-b", &["daily 2/2"]),
            ],
        },
        Case {
            name: "equal times: the larger id counts as newer",
            policy: "keep_last = 1\ndaily = 1",
            sets: &[
                ("set-a", "2026-06-01T01:00:00Z"),
                ("set-b", "2026-06-01T01:00:00Z"),
            ],
            now: "2026-06-10T00:00:00Z",
            kept: &[("set-b", &["last 1/1", "daily 1/1", "newest"])],
        },
    ];

    #[test]
    fn worked_examples() {
        for case in CASES {
            let sets: Vec<Candidate> = case.sets.iter().map(|(id, t)| set(id, at(t))).collect();
            let plan = policy(case.policy).plan(&sets, at(case.now));
            let want: Vec<(String, Vec<String>)> = case
                .kept
                .iter()
                .map(|(id, why)| (id.to_string(), why.iter().map(|r| r.to_string()).collect()))
                .collect();
            assert_eq!(kept(&plan), want, "{}", case.name);
            assert_eq!(plan.decisions.len(), sets.len(), "{}", case.name);
            assert!(plan.garbage.is_empty(), "{}", case.name);
            // Whatever order the listing came in, the plan is the same.
            let mut reversed = sets.clone();
            reversed.reverse();
            let again = policy(case.policy).plan(&reversed, at(case.now));
            assert_eq!(again, plan, "{} (listing reversed)", case.name);
        }
    }

    #[test]
    fn calendar_facts_the_examples_rely_on() {
        let tz: Tz = "Europe/Bucharest".parse().unwrap();
        let iso = |y, m, d| {
            let w = NaiveDate::from_ymd_opt(y, m, d).unwrap().iso_week();
            (w.year(), w.week())
        };
        assert_eq!(iso(2025, 12, 28), (2025, 52));
        assert_eq!(iso(2025, 12, 29), (2026, 1));
        assert_eq!(iso(2026, 12, 31), (2026, 53));
        assert_eq!(iso(2027, 1, 3), (2026, 53));
        assert_eq!(iso(2027, 1, 4), (2027, 1));
        // Spring forward: local 03:30 on 2026-03-29 does not exist; fall back: 03:30 exists twice.
        let naive = |d: u32, m: u32, h, mi| {
            NaiveDate::from_ymd_opt(2026, m, d)
                .unwrap()
                .and_hms_opt(h, mi, 0)
                .unwrap()
        };
        assert!(tz
            .from_local_datetime(&naive(29, 3, 3, 30))
            .single()
            .is_none());
        assert!(tz
            .from_local_datetime(&naive(29, 3, 2, 30))
            .single()
            .is_some());
        assert!(matches!(
            tz.from_local_datetime(&naive(25, 10, 3, 30)),
            chrono::LocalResult::Ambiguous(_, _)
        ));
        assert_eq!(
            at("2026-06-01T23:30:00Z")
                .with_timezone(&tz)
                .date_naive()
                .day(),
            2
        );
    }

    #[test]
    fn safety_floors_are_reasons_of_their_own() {
        let p = policy("keep_last = 1");
        let now = at("2026-06-10T12:00:00Z");
        let mut incomplete_newest = set("incomplete-newest", at("2026-06-10T11:50:00Z"));
        incomplete_newest.complete = false;
        let mut verified = set("verified", at("2026-06-09T00:00:00Z"));
        verified.verified = true;
        let mut older_verified = set("older-verified", at("2026-06-08T00:00:00Z"));
        older_verified.verified = true;
        let mut drilled = set("drilled", at("2026-06-01T00:00:00Z"));
        drilled.drill_passed = true;
        let mut pinned = set("pinned", at("2026-05-01T00:00:00Z"));
        pinned.pinned = Some("before the v2 migration".to_string());
        let mut incomplete_pinned = set("incomplete-pinned", at("2026-03-01T00:00:00Z"));
        incomplete_pinned.complete = false;
        incomplete_pinned.pinned = Some("ignored".to_string());
        incomplete_pinned.drill_passed = true;
        let sets = vec![
            incomplete_pinned,
            set("old", at("2026-04-01T00:00:00Z")),
            pinned,
            drilled,
            older_verified,
            verified,
            // Exactly min_age old is no longer "younger than".
            set("hour-old", at("2026-06-10T11:00:00Z")),
            set("young", at("2026-06-10T11:30:00Z")),
            incomplete_newest,
        ];
        let plan = p.plan(&sets, now);
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            kept(&plan),
            vec![
                (
                    "young".to_string(),
                    strings(&["last 1/1", "newest", "younger than 1h"])
                ),
                ("verified".to_string(), strings(&["newest verified"])),
                (
                    "drilled".to_string(),
                    strings(&["last passing drill / recovery"])
                ),
                (
                    "pinned".to_string(),
                    strings(&["pinned: before the v2 migration"])
                ),
            ]
        );
        assert_eq!(plan.expired(), vec!["hour-old", "older-verified", "old"]);
        assert_eq!(plan.garbage, vec!["incomplete-newest", "incomplete-pinned"]);
        assert_eq!(plan.decisions.len(), 7);
        assert!(plan
            .decisions
            .iter()
            .all(|d| d.keep != d.reasons.is_empty()));
    }

    /// A set dated in the future (a wrong clock, a forged set) is kept, but takes neither a
    /// rule's place nor the newest floor: the real newest set stays the newest and is kept.
    #[test]
    fn a_set_from_the_future_is_kept_but_is_never_the_newest() {
        let p = policy("keep_last = 1\ndaily = 1");
        let now = at("2026-06-10T12:00:00Z");
        let mut forged_by_id = set("forged-by-id", at("2026-06-10T09:00:00Z"));
        forged_by_id.future = true;
        let sets = vec![
            set("skewed", at("2026-06-10T13:00:00Z")),
            forged_by_id,
            // Within the tolerance: only young.
            set("just-ahead", at("2026-06-10T12:04:00Z")),
            set("normal", at("2026-06-10T10:00:00Z")),
        ];
        let plan = p.plan(&sets, now);
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            kept(&plan),
            vec![
                ("skewed".to_string(), strings(&["dated in the future"])),
                (
                    "just-ahead".to_string(),
                    strings(&["last 1/1", "daily 1/1", "newest", "younger than 1h"])
                ),
                (
                    "forged-by-id".to_string(),
                    strings(&["dated in the future"])
                ),
            ]
        );
        assert_eq!(plan.expired(), vec!["normal"]);
        // Without the one within the tolerance, the real newest set is the newest floor.
        let plan = p.plan(&[sets[0].clone(), sets[1].clone(), sets[3].clone()], now);
        assert_eq!(
            kept(&plan)[1],
            (
                "normal".to_string(),
                strings(&["last 1/1", "daily 1/1", "newest"])
            )
        );
        assert!(plan.expired().is_empty());
    }

    /// A restore's safety backup is no regular backup: it takes no rule's place (the nightly
    /// set of its day stays the day's), is never the newest or newest-verified floor, and is
    /// kept by `keep_safety` only (plus the floors anyone can have: pinned, drilled).
    #[test]
    fn safety_backups_are_kept_by_their_own_rule_only() {
        let p = policy("keep_last = 1\ndaily = 2\nmin_age = \"0s\"\nkeep_safety = \"7days\"");
        let now = at("2026-06-10T12:00:00Z");
        let safety = |id: &str, t: &str| {
            let mut c = set(id, at(t));
            c.safety = true;
            c.verified = true;
            c
        };
        let mut nightly = set("nightly", at("2026-06-10T02:00:00Z"));
        nightly.verified = true;
        let mut pinned_old_safety = safety("pinned-old-safety", "2026-05-01T10:00:00Z");
        pinned_old_safety.pinned = Some("audit".into());
        let sets = vec![
            safety("safety-today", "2026-06-10T11:00:00Z"),
            nightly,
            set("yesterday", at("2026-06-09T02:00:00Z")),
            safety("safety-6d", "2026-06-04T12:00:01Z"),
            safety("safety-8d", "2026-06-02T12:00:00Z"),
            pinned_old_safety,
        ];
        let plan = p.plan(&sets, now);
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            kept(&plan),
            vec![
                (
                    "safety-today".to_string(),
                    strings(&["safety backup, kept 7days"])
                ),
                (
                    "nightly".to_string(),
                    strings(&["last 1/1", "daily 1/2", "newest", "newest verified"])
                ),
                ("yesterday".to_string(), strings(&["daily 2/2"])),
                (
                    "safety-6d".to_string(),
                    strings(&["safety backup, kept 7days"])
                ),
                ("pinned-old-safety".to_string(), strings(&["pinned: audit"])),
            ]
        );
        assert_eq!(plan.expired(), vec!["safety-8d"]);
        // keep_safety = "0s": only the floors keep a safety backup.
        let p = policy("keep_last = 1\nmin_age = \"0s\"\nkeep_safety = \"0s\"");
        let plan = p.plan(&sets, now);
        assert_eq!(
            plan.expired(),
            vec!["safety-today", "yesterday", "safety-6d", "safety-8d"]
        );
        let err =
            Policy::from_config(&config("keep_last = 1\nkeep_safety = \"soon\"")).unwrap_err();
        assert!(
            err.to_string()
                .contains("[retention].keep_safety = \"soon\""),
            "{err}"
        );
    }

    #[test]
    fn an_empty_listing_plans_nothing() {
        let plan = policy("daily = 7").plan(&[], at("2026-06-10T12:00:00Z"));
        assert_eq!(plan, Plan::default());
    }

    #[test]
    fn a_policy_that_keeps_nothing_is_refused_with_the_reason() {
        for body in [
            "",
            "keep_last = 0\nhourly = 0\ndaily = 0\nweekly = 0\nmonthly = 0\nyearly = 0",
            "timezone = \"Europe/Bucharest\"\nmin_age = \"2h\"",
        ] {
            let err = Policy::from_config(&config(body)).unwrap_err();
            assert_eq!(err, RetentionError::EmptyPolicy, "{body:?}");
            let text = err.to_string();
            assert!(
                text.contains("a policy that keeps nothing would delete every backup: set at least one of keep_last, hourly, daily, weekly, monthly, yearly"),
                "{text}"
            );
        }
    }

    #[test]
    fn config_errors_name_the_value_and_the_fix() {
        let err = Policy::from_config(&config(&format!(
            "daily = 7\n{}",
            BUCHAREST.replace("Bucharest", "Bucarest")
        )))
        .unwrap_err();
        assert_eq!(
            err,
            RetentionError::UnknownTimeZone {
                zone: "Europe/Bucarest".to_string()
            }
        );
        assert!(err.to_string().contains("\"Europe/Bucarest\""));
        assert!(err.to_string().contains("IANA"));

        let err = Policy::from_config(&config("daily = 7\nmin_age = \"soon\"")).unwrap_err();
        assert!(matches!(err, RetentionError::BadMinAge { ref value, .. } if value == "soon"));
        assert!(err.to_string().contains("\"1h\""));

        let unknown = toml::from_str::<RetentionConfig>("daly = 7").unwrap_err();
        assert!(unknown.to_string().contains("daly"), "{unknown}");
        let negative = toml::from_str::<RetentionConfig>("daily = -1").unwrap_err();
        assert!(negative.to_string().contains("daily"), "{negative}");
    }

    #[test]
    fn the_documented_example_parses_and_defaults_are_utc_and_an_hour() {
        let p = policy(
            r#"
            keep_last = 3
            hourly = 24
            daily = 7
            weekly = 4      # ISO weeks
            monthly = 12
            yearly = 4
            timezone = "Europe/Bucharest"
            min_age = "1h"
            "#,
        );
        assert_eq!(p.count(Rule::Last), 3);
        assert_eq!(p.count(Rule::Hourly), 24);
        assert_eq!(p.count(Rule::Yearly), 4);
        assert_eq!(p.timezone(), chrono_tz::Europe::Bucharest);
        assert_eq!(p.min_age(), Duration::from_secs(3600));

        let p = policy("daily = 7");
        assert_eq!(p.timezone(), Tz::UTC);
        assert_eq!(p.min_age(), DEFAULT_MIN_AGE);
        assert_eq!(p.count(Rule::Weekly), 0);
        assert_eq!(
            Reason::YoungerThan(Duration::from_secs(90 * 60)).to_string(),
            "younger than 1h 30m"
        );
    }

    /// A set every `step` from `first` to `last` inclusive, ids sortable by time.
    fn every(step: TimeDelta, first: DateTime<Utc>, last: DateTime<Utc>) -> Vec<Candidate> {
        let mut sets = Vec::new();
        let mut t = first;
        while t <= last {
            sets.push(set(&t.format("%Y%m%dT%H%M%SZ").to_string(), t));
            t += step;
        }
        sets
    }

    fn reasons_of(plan: &Plan, id: &str) -> Vec<String> {
        let d = plan.decisions.iter().find(|d| d.id == id).unwrap();
        d.reasons.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn seed_table_hourly_24_daily_7_weekly_4_monthly_12_over_a_year_of_hourly_backups() {
        // Hourly backups on the hour through 2026 (UTC), 8760 sets; the newest is 2026-12-31 23:00.
        //   hourly 24: every hour of Dec 31 (00:00..23:00)                          24 sets
        //   daily 7:   23:00 of Dec 31 (already kept), Dec 30..Dec 25               + 6
        //   weekly 4:  ISO 2026-W53 (Dec 28..): Dec 31 23:00, kept; W52: Dec 27 23:00, kept by
        //              daily; W51: Dec 20 23:00; W50: Dec 13 23:00                  + 2
        //   monthly 12: Dec 31 23:00 kept; the last hour of Nov, Oct, ..., Jan      + 11
        //   floors: newest is Dec 31 23:00 (kept); nothing verified, pinned, drilled or young.
        //   total                                                                    43
        let sets = every(
            TimeDelta::hours(1),
            at("2026-01-01T00:00:00Z"),
            at("2026-12-31T23:00:00Z"),
        );
        assert_eq!(sets.len(), 8760);
        let p = policy("hourly = 24\ndaily = 7\nweekly = 4\nmonthly = 12");
        let plan = p.plan(&sets, at("2027-01-01T06:00:00Z"));
        assert_eq!(plan.kept().count(), 43);
        assert_eq!(plan.expired().len(), 8760 - 43);
        assert_eq!(
            reasons_of(&plan, "20261231T230000Z"),
            [
                "hourly 1/24",
                "daily 1/7",
                "weekly 1/4",
                "monthly 1/12",
                "newest"
            ]
        );
        assert_eq!(reasons_of(&plan, "20261231T000000Z"), ["hourly 24/24"]);
        assert_eq!(reasons_of(&plan, "20261225T230000Z"), ["daily 7/7"]);
        assert_eq!(
            reasons_of(&plan, "20261227T230000Z"),
            ["daily 5/7", "weekly 2/4"]
        );
        assert_eq!(reasons_of(&plan, "20261213T230000Z"), ["weekly 4/4"]);
        assert_eq!(reasons_of(&plan, "20261130T230000Z"), ["monthly 2/12"]);
        assert_eq!(reasons_of(&plan, "20260131T230000Z"), ["monthly 12/12"]);
    }

    #[test]
    fn seed_table_daily_30_monthly_12_yearly_4_over_five_years_of_daily_backups() {
        // Daily backups at 02:00 UTC from 2022-01-01 to 2026-12-31: 365+365+366+365+365 = 1826.
        //   daily 30:   Dec 2..Dec 31 2026                                          30 sets
        //   monthly 12: Dec 2026 (kept); the last day of Nov 2026 back to Jan 2026  + 11
        //   yearly 4:   2026 (kept); Dec 31 of 2025, 2024, 2023 (2022 goes)         + 3
        //   total                                                                    44
        let sets = every(
            TimeDelta::days(1),
            at("2022-01-01T02:00:00Z"),
            at("2026-12-31T02:00:00Z"),
        );
        assert_eq!(sets.len(), 1826);
        let p = policy("daily = 30\nmonthly = 12\nyearly = 4");
        let plan = p.plan(&sets, at("2027-01-01T06:00:00Z"));
        assert_eq!(plan.kept().count(), 44);
        assert_eq!(
            reasons_of(&plan, "20261231T020000Z"),
            ["daily 1/30", "monthly 1/12", "yearly 1/4", "newest"]
        );
        assert_eq!(reasons_of(&plan, "20261202T020000Z"), ["daily 30/30"]);
        assert!(reasons_of(&plan, "20261201T020000Z").is_empty());
        assert_eq!(reasons_of(&plan, "20261130T020000Z"), ["monthly 2/12"]);
        assert_eq!(reasons_of(&plan, "20260131T020000Z"), ["monthly 12/12"]);
        assert_eq!(reasons_of(&plan, "20251231T020000Z"), ["yearly 2/4"]);
        assert_eq!(reasons_of(&plan, "20231231T020000Z"), ["yearly 4/4"]);
        assert!(reasons_of(&plan, "20221231T020000Z").is_empty());
    }

    // Property tests. Histories start in 2017 so that America/Sao_Paulo's DST changes at local
    // midnight (until 2019: days without a midnight, days of 25 hours) are covered, along with a
    // half-hour zone and Lord Howe's half-hour DST shift.
    const ZONES: &[&str] = &[
        "UTC",
        "Europe/Bucharest",
        "America/Sao_Paulo",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
        "America/New_York",
    ];
    const MIN_AGES: &[&str] = &["0s", "1h", "1day", "30days"];
    const THREE_YEARS_SECS: i64 = 3 * 365 * 86_400;

    fn base() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2017, 1, 1, 0, 0, 0).unwrap()
    }

    fn history() -> impl Strategy<Value = Vec<Candidate>> {
        let offset = prop_oneof![
            3 => 0..THREE_YEARS_SECS,
            // A coarse grid so that equal times (ties) happen.
            1 => (0i64..60).prop_map(|d| d * 86_400),
        ];
        let one = (
            offset,
            prop::bool::weighted(0.85),
            prop::bool::weighted(0.3),
            prop::option::weighted(0.05, "[a-z]{1,8}"),
        );
        prop::collection::vec(one, 0..200)
            .prop_flat_map(|sets| {
                let n = sets.len().max(1);
                (Just(sets), prop::option::of(0..n))
            })
            .prop_map(|(sets, drill)| {
                sets.into_iter()
                    .enumerate()
                    .map(|(i, (secs, complete, verified, pinned))| Candidate {
                        id: format!("set-{i:03}"),
                        time: base() + TimeDelta::seconds(secs),
                        complete,
                        verified,
                        pinned,
                        drill_passed: drill == Some(i),
                        // Every fifth set a restore's safety backup.
                        safety: i % 5 == 4,
                        future: false,
                    })
                    .collect()
            })
    }

    fn any_policy() -> impl Strategy<Value = Policy> {
        let count = prop_oneof![2 => Just(0u32), 1 => 1u32..40];
        (
            prop::array::uniform6(count),
            prop::sample::select(ZONES),
            prop::sample::select(MIN_AGES),
        )
            .prop_filter("a policy must keep something", |(c, _, _)| {
                c.iter().any(|&n| n > 0)
            })
            .prop_map(|(c, zone, min_age)| {
                Policy::from_config(&RetentionConfig {
                    keep_last: Some(c[0]),
                    hourly: Some(c[1]),
                    daily: Some(c[2]),
                    weekly: Some(c[3]),
                    monthly: Some(c[4]),
                    yearly: Some(c[5]),
                    timezone: Some(zone.to_string()),
                    min_age: Some(min_age.to_string()),
                    keep_safety: None,
                })
                .unwrap()
            })
    }

    fn any_now() -> impl Strategy<Value = DateTime<Utc>> {
        // Sometimes in the middle of the history, so some sets are "from the future".
        (0..THREE_YEARS_SECS + 30 * 86_400).prop_map(|s| base() + TimeDelta::seconds(s))
    }

    /// The selection a bucket rule should make, computed another way: group sets by period, order
    /// periods by their newest set, take the first N, keep each one's newest set.
    fn oracle(p: &Policy, rule: Rule, complete: &[&Candidate]) -> Vec<(String, u32)> {
        let mut newest: HashMap<(i32, i32, i32), &Candidate> = HashMap::new();
        for c in complete {
            let key = p.period(rule, c.time).unwrap();
            let entry = newest.entry(key).or_insert(c);
            if newest_first(c, entry) == Ordering::Less {
                *entry = c;
            }
        }
        let mut winners: Vec<&Candidate> = newest.into_values().collect();
        winners.sort_by(|a, b| newest_first(a, b));
        winners
            .into_iter()
            .take(p.count(rule) as usize)
            .zip(1..)
            .map(|(c, nth)| (c.id.clone(), nth))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn plans_keep_the_floors_are_idempotent_and_bounded(
            sets in history(),
            p in any_policy(),
            now in any_now(),
        ) {
            let plan = p.plan(&sets, now);
            let keep: HashMap<&str, bool> =
                plan.decisions.iter().map(|d| (d.id.as_str(), d.keep)).collect();
            let mut complete: Vec<&Candidate> = sets.iter().filter(|c| c.complete).collect();
            complete.sort_by(|a, b| newest_first(a, b));

            // One decision per complete set, newest first; incomplete sets are garbage.
            let ids: Vec<&str> = complete.iter().map(|c| c.id.as_str()).collect();
            let decided: Vec<&str> = plan.decisions.iter().map(|d| d.id.as_str()).collect();
            prop_assert_eq!(decided, ids);
            prop_assert_eq!(plan.garbage.len(), sets.len() - complete.len());

            // The floors are never expired, and each is named as a reason of its own (any rule
            // also keeps the newest set, so "kept" alone would not show the floor is there).
            let reasons: HashMap<&str, &[Reason]> = plan
                .decisions
                .iter()
                .map(|d| (d.id.as_str(), d.reasons.as_slice()))
                .collect();
            // The newest floors go to regular sets only: never a safety or future-dated one.
            let regular: Vec<&Candidate> = complete
                .iter()
                .copied()
                .filter(|c| !c.safety && !c.is_future(now))
                .collect();
            if let Some(newest) = regular.first() {
                prop_assert!(keep[newest.id.as_str()]);
                prop_assert!(reasons[newest.id.as_str()].contains(&Reason::Newest));
            }
            for c in complete.iter().filter(|c| c.safety || c.is_future(now)) {
                let why = reasons[c.id.as_str()];
                prop_assert!(!why.contains(&Reason::Newest), "{} {:?}", c.id, why);
                prop_assert!(!why.contains(&Reason::NewestVerified), "{} {:?}", c.id, why);
                prop_assert!(
                    !why.iter().any(|r| matches!(r, Reason::Rule { .. })),
                    "{} {:?}",
                    c.id,
                    why
                );
                let young_safety = c.safety && now.signed_duration_since(c.time) < p.keep_safety_delta;
                prop_assert_eq!(young_safety, why.contains(&Reason::Safety(p.keep_safety())));
            }
            if let Some(v) = regular.iter().find(|c| c.verified) {
                prop_assert!(keep[v.id.as_str()]);
                prop_assert!(reasons[v.id.as_str()].contains(&Reason::NewestVerified));
            }
            for c in &complete {
                let why = reasons[c.id.as_str()];
                if let Some(note) = &c.pinned {
                    prop_assert!(keep[c.id.as_str()], "{} expired", c.id);
                    prop_assert!(why.contains(&Reason::Pinned(note.clone())));
                }
                if c.drill_passed {
                    prop_assert!(keep[c.id.as_str()], "{} expired", c.id);
                    prop_assert!(why.contains(&Reason::LastPassingDrill));
                }
                let young = now.signed_duration_since(c.time) < p.min_age_delta;
                let future = c.is_future(now);
                prop_assert_eq!(future, why.contains(&Reason::DatedInFuture));
                prop_assert!(!future || keep[c.id.as_str()], "{} expired", c.id);
                prop_assert_eq!(
                    young && !future,
                    why.contains(&Reason::YoungerThan(p.min_age()))
                );
            }

            // Kept exactly when there is a reason.
            for d in &plan.decisions {
                prop_assert_eq!(d.keep, !d.reasons.is_empty(), "{:?}", d);
            }

            // Never more than the rules allow plus the floors that apply.
            let rules: usize = Rule::ALL.iter().map(|&r| p.count(r) as usize).sum();
            let floors = usize::from(!complete.is_empty())
                + usize::from(complete.iter().any(|c| c.verified))
                + complete.iter().filter(|c| c.drill_passed).count()
                + complete.iter().filter(|c| c.pinned.is_some()).count()
                + plan.decisions.iter().filter(|d| {
                    d.reasons.iter().any(|r| {
                        matches!(r, Reason::YoungerThan(_) | Reason::DatedInFuture | Reason::Safety(_))
                    })
                }).count();
            prop_assert!(plan.kept().count() <= rules + floors);

            // Each bucket rule picks what the period-by-period oracle picks.
            for rule in Rule::ALL.into_iter().filter(|&r| r != Rule::Last) {
                let picked: Vec<(String, u32)> = plan.decisions.iter().flat_map(|d| {
                    d.reasons.iter().filter_map(|r| match r {
                        Reason::Rule { rule: got, nth, .. } if *got == rule => {
                            Some((d.id.clone(), *nth))
                        }
                        _ => None,
                    })
                }).collect();
                prop_assert_eq!(picked, oracle(&p, rule, &regular), "{}", rule);
            }

            // Applying the plan and planning again changes nothing: nothing more expires, and
            // every kept set keeps the same reasons.
            let survivors: Vec<Candidate> = sets
                .iter()
                .filter(|c| c.complete && keep[c.id.as_str()])
                .cloned()
                .collect();
            let again = p.plan(&survivors, now);
            prop_assert!(again.expired().is_empty(), "{:?}", again.expired());
            let first: Vec<&Decision> = plan.kept().collect();
            let second: Vec<&Decision> = again.kept().collect();
            prop_assert_eq!(first, second);
        }
    }
}
