//! Retention simulation, pure: projects a policy forward from today's complete sets. Backups
//! continue on their observed schedule (the median interval between the newest sets), or stop
//! after a number of days; a prune runs now and at the end of every simulated day. The result is
//! the count of kept sets per day and, at the end, the difference from today: which of today's
//! sets would be gone and how many new ones kept. `lifeboat retention simulate` feeds it today's
//! listing and renders it; nothing here touches a repository or the clock.
//!
//! New sets are assumed never to be verified, drilled or pinned, so today's floors (newest
//! verified, last passing drill, pins) stay where they are for the whole projection.

use crate::storage::retention::{Candidate, Policy};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use std::collections::HashSet;

/// How many of the newest sets the schedule is read from.
const INTERVAL_SAMPLE_SETS: usize = 10;
/// Sets taken seconds apart (tests, manual runs) would project millions of backups: a minute
/// is the shortest schedule assumed.
pub const MIN_INTERVAL: TimeDelta = TimeDelta::minutes(1);
/// With fewer than two sets there is no schedule to observe: assume one backup a day.
pub const DEFAULT_INTERVAL: TimeDelta = TimeDelta::days(1);
/// Ten years of days is more than any retention question needs.
pub const MAX_DAYS: u32 = 3660;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimSpec {
    pub days: u32,
    /// Backups stop after this many days (`None`: they go on for the whole projection).
    pub stop_after: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Day {
    pub day: u32,
    /// The UTC date the day ends on.
    pub date: NaiveDate,
    /// Sets kept after that day's prune.
    pub kept: usize,
    /// Backups taken that day.
    pub taken: usize,
    /// Sets that day's prune deletes.
    pub expired: usize,
    /// Of the kept sets, how many exist today.
    pub from_today: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Projection {
    pub interval_seconds: i64,
    /// True when the interval was measured from the sets; false when assumed.
    pub interval_observed: bool,
    /// True when the measured interval was shorter than [`MIN_INTERVAL`] and raised to it.
    pub interval_raised: bool,
    pub stop_after_days: Option<u32>,
    /// Complete sets today, and how many a prune now would keep.
    pub today: usize,
    pub kept_now: usize,
    pub days: Vec<Day>,
    /// Today's sets gone by the last day, newest first.
    pub gone: Vec<String>,
    /// Today's sets still kept on the last day, newest first.
    pub still_kept: Vec<String>,
    pub new_taken: usize,
    pub new_kept: usize,
}

/// The median gap between the newest complete sets; `None` with fewer than two.
pub fn observed_interval(sets: &[Candidate]) -> Option<TimeDelta> {
    let mut times: Vec<DateTime<Utc>> =
        sets.iter().filter(|c| c.complete).map(|c| c.time).collect();
    times.sort_unstable_by(|a, b| b.cmp(a));
    times.truncate(INTERVAL_SAMPLE_SETS);
    let mut gaps: Vec<TimeDelta> = times.windows(2).map(|w| w[0] - w[1]).collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    Some(gaps[gaps.len() / 2])
}

/// The sets a prune at `at` keeps, in the same order.
fn prune(policy: &Policy, sets: Vec<Candidate>, at: DateTime<Utc>) -> Vec<Candidate> {
    let plan = policy.plan(&sets, at);
    let kept: HashSet<&str> = plan.kept().map(|d| d.id.as_str()).collect();
    sets.into_iter()
        .filter(|c| kept.contains(c.id.as_str()))
        .collect()
}

pub fn project(
    policy: &Policy,
    today: &[Candidate],
    now: DateTime<Utc>,
    spec: SimSpec,
) -> Projection {
    let complete: Vec<Candidate> = today.iter().filter(|c| c.complete).cloned().collect();
    let today_ids: HashSet<String> = complete.iter().map(|c| c.id.clone()).collect();
    let observed = observed_interval(&complete);
    let interval = observed.map_or(DEFAULT_INTERVAL, |i| i.max(MIN_INTERVAL));

    // The next backup on the schedule after now, counted from the newest set.
    let newest = complete.iter().map(|c| c.time).max().unwrap_or(now);
    let behind = (now - newest).num_seconds().max(0);
    let steps = behind / interval.num_seconds() + 1;
    let mut next = newest + TimeDelta::seconds(steps * interval.num_seconds());
    let stop_at = spec.stop_after.map(|d| now + TimeDelta::days(i64::from(d)));

    let mut alive = prune(policy, complete.clone(), now);
    let kept_now = alive.len();
    let mut days = Vec::new();
    let mut new_taken = 0usize;
    for day in 1..=spec.days.min(MAX_DAYS) {
        let end = now + TimeDelta::days(i64::from(day));
        let mut taken = 0;
        while next <= end && stop_at.is_none_or(|s| next <= s) {
            alive.push(Candidate {
                id: format!("projected-{new_taken:07}"),
                time: next,
                complete: true,
                verified: false,
                pinned: None,
                drill_passed: false,
                safety: false,
                future: false,
            });
            new_taken += 1;
            taken += 1;
            next += interval;
        }
        let before = alive.len();
        alive = prune(policy, alive, end);
        days.push(Day {
            day,
            date: end.date_naive(),
            kept: alive.len(),
            taken,
            expired: before - alive.len(),
            from_today: alive.iter().filter(|c| today_ids.contains(&c.id)).count(),
        });
    }

    let survivors: HashSet<&str> = alive.iter().map(|c| c.id.as_str()).collect();
    let mut newest_first = complete;
    newest_first.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
    let (still, gone): (Vec<&Candidate>, Vec<&Candidate>) = newest_first
        .iter()
        .partition(|c| survivors.contains(c.id.as_str()));
    Projection {
        interval_seconds: interval.num_seconds(),
        interval_observed: observed.is_some(),
        interval_raised: observed.is_some_and(|i| i < MIN_INTERVAL),
        stop_after_days: spec.stop_after,
        today: today_ids.len(),
        kept_now,
        days,
        gone: gone.iter().map(|c| c.id.clone()).collect(),
        still_kept: still.iter().map(|c| c.id.clone()).collect(),
        new_taken,
        new_kept: alive.len() - still.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::retention::RetentionConfig;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn policy(body: &str) -> Policy {
        Policy::from_config(&toml::from_str::<RetentionConfig>(body).unwrap()).unwrap()
    }

    fn set(id: &str, time: DateTime<Utc>) -> Candidate {
        Candidate {
            id: id.into(),
            time,
            complete: true,
            verified: false,
            pinned: None,
            drill_passed: false,
            safety: false,
            future: false,
        }
    }

    /// `n` daily sets at 02:00 UTC, the newest on 2026-11-22.
    fn daily(n: i64) -> Vec<Candidate> {
        let newest = at("2026-11-22T02:00:00Z");
        (0..n)
            .map(|i| set(&format!("d{i:03}"), newest - TimeDelta::days(i)))
            .collect()
    }

    const NOW: &str = "2026-11-22T08:00:00Z";

    #[test]
    fn the_interval_is_the_median_gap_of_the_newest_sets() {
        let t = at("2026-11-01T00:00:00Z");
        let mut sets: Vec<Candidate> = (0..8)
            .map(|i| set(&format!("h{i}"), t + TimeDelta::hours(i)))
            .collect();
        sets.push(set("late", t + TimeDelta::hours(12)));
        assert_eq!(observed_interval(&sets), Some(TimeDelta::hours(1)));
        assert_eq!(observed_interval(&sets[..1]), None);
        let mut half = sets[..2].to_vec();
        half[1].complete = false;
        assert_eq!(observed_interval(&half), None);
    }

    #[test]
    fn daily_backups_under_daily_7_keep_seven_and_replace_todays_sets() {
        let p = policy("daily = 7");
        let sim = project(
            &p,
            &daily(30),
            at(NOW),
            SimSpec {
                days: 10,
                stop_after: None,
            },
        );
        assert_eq!(sim.interval_seconds, 86_400);
        assert!(sim.interval_observed);
        assert_eq!((sim.today, sim.kept_now), (30, 7));
        assert_eq!(sim.days.len(), 10);
        assert!(sim
            .days
            .iter()
            .all(|d| d.kept == 7 && d.taken == 1 && d.expired == 1));
        assert_eq!(
            sim.days[0].date,
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
        );
        assert_eq!(sim.days[2].from_today, 4);
        assert_eq!(sim.gone.len(), 30);
        assert!(sim.still_kept.is_empty());
        assert_eq!((sim.new_taken, sim.new_kept), (10, 7));
    }

    #[test]
    fn when_backups_stop_the_buckets_never_empty() {
        let p = policy("daily = 7");
        let spec = SimSpec {
            days: 30,
            stop_after: Some(3),
        };
        let sim = project(&p, &daily(30), at(NOW), spec);
        assert!(sim.days.iter().all(|d| d.kept == 7), "{:?}", sim.days);
        assert_eq!(sim.days.iter().map(|d| d.taken).sum::<usize>(), 3);
        assert_eq!(sim.still_kept, ["d000", "d001", "d002", "d003"]);
        assert_eq!((sim.new_taken, sim.new_kept), (3, 3));
    }

    #[test]
    fn an_edited_policy_and_the_floors_change_the_outcome() {
        let sets = daily(60);
        let spec = SimSpec {
            days: 14,
            stop_after: None,
        };
        let narrow = project(&policy("daily = 7"), &sets, at(NOW), spec);
        let wide = project(&policy("daily = 7\nweekly = 8"), &sets, at(NOW), spec);
        assert_eq!(narrow.days.last().unwrap().kept, 7);
        assert!(wide.days.last().unwrap().kept > 7);
        assert!(!wide.still_kept.is_empty());

        // A pinned old set and the newest verified one survive any projection.
        let mut sets = daily(60);
        sets[59].pinned = Some("legal hold".into());
        sets[40].verified = true;
        let sim = project(&policy("daily = 7"), &sets, at(NOW), spec);
        assert_eq!(sim.still_kept, ["d040", "d059"]);
        assert_eq!(sim.days.last().unwrap().kept, 9);
    }

    #[test]
    fn no_schedule_means_one_a_day_and_tight_schedules_are_bounded() {
        let p = policy("keep_last = 2\nmin_age = \"0s\"");
        let one = [set("only", at("2026-11-20T00:00:00Z"))];
        let spec = SimSpec {
            days: 2,
            stop_after: None,
        };
        let sim = project(&p, &one, at(NOW), spec);
        assert!(!sim.interval_observed);
        assert_eq!(sim.interval_seconds, 86_400);
        assert_eq!(sim.new_taken, 2);

        let t = at("2026-11-22T07:59:50Z");
        let burst = [set("a", t), set("b", t + TimeDelta::seconds(2))];
        let sim = project(&p, &burst, at(NOW), spec);
        assert_eq!(sim.interval_seconds, 60);
        assert!(sim.interval_raised);
        assert_eq!(sim.new_taken, 2 * 1440);
        assert_eq!(sim.days[1].kept, 2);
    }
}
