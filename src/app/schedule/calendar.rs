//! Schedule expressions: the keywords `hourly`, `daily`, `weekly`, `monthly` and 5-field cron
//! expressions (`minute hour day-of-month month day-of-week`, with lists, ranges, steps and
//! month and day names, as Debian's cron reads them). One parse serves three uses: the crontab
//! line, the systemd `OnCalendar=` value (refused, with the reason, where systemd cannot say
//! the same thing), and the next fire times `schedule status` computes.
//!
//! No crate for this: the parser is needed anyway to refuse what systemd cannot express, and
//! the next fire time is a short walk over the days on top of it.

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeZone};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// As given, whitespace normalised.
    pub text: String,
    /// `hourly`, `daily`, `weekly` or `monthly`: written to systemd as is.
    keyword: Option<&'static str>,
    /// The cron form (a keyword's equivalent).
    cron: String,
    minutes: u64,
    hours: u64,
    /// Bits 1..=31.
    days: u64,
    /// Bits 1..=12.
    months: u64,
    /// Bits 0..=6, 0 = Sunday.
    weekdays: u64,
    /// The field starts with `*`: cron then requires both day fields to match, else either.
    days_star: bool,
    weekdays_star: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("`{text}` is not a schedule: {reason}; use hourly, daily, weekly, monthly or a 5-field cron expression such as \"30 2 * * *\" (minute hour day-of-month month day-of-week)")]
    Invalid { text: String, reason: String },
    #[error("`{text}` cannot be written as a systemd OnCalendar= value: {reason}; {hint}")]
    NoSystemd {
        text: String,
        reason: String,
        hint: String,
    },
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
/// systemd's names, indexed like cron (0 = Sunday).
const SYSTEMD_WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
/// How far ahead the next fire time is searched (a 29 February on a given weekday recurs
/// within 28 years; nothing lifeboat writes needs more than a few weeks).
const SEARCH_DAYS: u64 = 366 * 30;

fn mask(lo: u32, hi: u32) -> u64 {
    (lo..=hi).fold(0, |m, b| m | 1 << b)
}

fn bits(m: u64) -> impl Iterator<Item = u32> {
    (0..64).filter(move |b| m & (1 << b) != 0)
}

fn has(m: u64, b: u32) -> bool {
    m & (1 << b) != 0
}

impl Calendar {
    pub fn parse(text: &str) -> Result<Calendar, CalendarError> {
        let norm = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let invalid = |reason: String| CalendarError::Invalid {
            text: norm.clone(),
            reason,
        };
        let (keyword, cron) = match norm.to_ascii_lowercase().as_str() {
            "hourly" | "@hourly" => (Some("hourly"), "0 * * * *".to_string()),
            "daily" | "@daily" | "@midnight" => (Some("daily"), "0 0 * * *".to_string()),
            // systemd's weekly is Monday; cron's @weekly is Sunday and keeps that meaning.
            "weekly" => (Some("weekly"), "0 0 * * 1".to_string()),
            "@weekly" => (None, "0 0 * * 0".to_string()),
            "monthly" | "@monthly" => (Some("monthly"), "0 0 1 * *".to_string()),
            "@yearly" | "@annually" => (None, "0 0 1 1 *".to_string()),
            "@reboot" => return Err(invalid("@reboot runs at boot, not on a calendar".into())),
            _ => (None, norm.clone()),
        };
        let fields: Vec<&str> = cron.split(' ').collect();
        let [minute, hour, day, month, weekday] = fields.as_slice() else {
            return Err(invalid(format!("it has {} field(s), not 5", fields.len())));
        };
        let field = |f: &str, what: &str, lo: u32, hi: u32, names: &[&str], base: u32| {
            parse_field(f, lo, hi, names, base).map_err(|e| invalid(format!("{what}: {e}")))
        };
        let mut weekdays = field(weekday, "day of week", 0, 7, &WEEKDAYS, 0)?;
        if has(weekdays, 7) {
            weekdays = (weekdays & !(1 << 7)) | 1;
        }
        Ok(Calendar {
            text: norm.clone(),
            keyword,
            minutes: field(minute, "minute", 0, 59, &[], 0)?,
            hours: field(hour, "hour", 0, 23, &[], 0)?,
            days: field(day, "day of month", 1, 31, &[], 0)?,
            months: field(month, "month", 1, 12, &MONTHS, 1)?,
            weekdays,
            days_star: day.starts_with('*'),
            weekdays_star: weekday.starts_with('*'),
            cron,
        })
    }

    /// The five fields as a crontab line starts.
    pub fn cron(&self) -> &str {
        &self.cron
    }

    /// The same schedule as a systemd calendar event.
    pub fn on_calendar(&self) -> Result<String, CalendarError> {
        if let Some(k) = self.keyword {
            return Ok(k.to_string());
        }
        if !self.days_star && !self.weekdays_star {
            return Err(CalendarError::NoSystemd {
                text: self.text.clone(),
                reason: "cron runs it on days matching the day of month OR the day of week, and systemd can only require both".into(),
                hint: "restrict only one of the two day fields (or use --cron)".into(),
            });
        }
        let weekdays = if self.weekdays == mask(0, 6) {
            String::new()
        } else {
            format!("{} ", weekday_list(self.weekdays))
        };
        Ok(format!(
            "{weekdays}*-{}-{} {}:{}:00",
            field_text(self.months, 1, 12),
            field_text(self.days, 1, 31),
            field_text(self.hours, 0, 23),
            field_text(self.minutes, 0, 59)
        ))
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let day = has(self.days, date.day());
        let weekday = has(self.weekdays, date.weekday().num_days_from_sunday());
        has(self.months, date.month())
            && if self.days_star || self.weekdays_star {
                day && weekday
            } else {
                day || weekday
            }
    }

    /// The first fire time strictly after `after`, in `after`'s time zone. A local time that
    /// does not exist (a DST gap) is skipped, as cron and systemd skip it; an ambiguous one
    /// fires at its first occurrence.
    pub fn next_after<Tz: TimeZone>(&self, after: &DateTime<Tz>) -> Option<DateTime<Tz>> {
        let tz = after.timezone();
        let start = after.naive_local().date();
        for offset in 0..SEARCH_DAYS {
            let date = start.checked_add_days(Days::new(offset))?;
            if !self.day_matches(date) {
                continue;
            }
            for h in bits(self.hours) {
                for m in bits(self.minutes) {
                    let Some(naive) = date.and_hms_opt(h, m, 0) else {
                        continue;
                    };
                    if let Some(t) = tz.from_local_datetime(&naive).earliest() {
                        if t > *after {
                            return Some(t);
                        }
                    }
                }
            }
        }
        None
    }

    /// The next `n` fire times after `after`.
    pub fn next_times<Tz: TimeZone>(&self, after: &DateTime<Tz>, n: usize) -> Vec<DateTime<Tz>> {
        let mut out: Vec<DateTime<Tz>> = Vec::with_capacity(n);
        let mut from = after.clone();
        while out.len() < n {
            match self.next_after(&from) {
                Some(t) => {
                    from = t.clone();
                    out.push(t);
                }
                None => break,
            }
        }
        out
    }

    /// The shortest and the longest interval between fire times over the next `n` of them.
    pub fn gaps<Tz: TimeZone>(
        &self,
        after: &DateTime<Tz>,
        n: usize,
    ) -> Option<(Duration, Duration)> {
        let times = self.next_times(after, n.max(2));
        let gaps: Vec<Duration> = times
            .windows(2)
            .filter_map(|w| (w[1].clone() - w[0].clone()).to_std().ok())
            .collect();
        Some((*gaps.iter().min()?, *gaps.iter().max()?))
    }
}

/// One cron field: comma-separated `*`, `N`, `A-B`, `*/S`, `A-B/S`, with names where the
/// field has them. `N/S` is refused, as Debian's cron refuses it.
fn parse_field(text: &str, lo: u32, hi: u32, names: &[&str], base: u32) -> Result<u64, String> {
    let value = |v: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            return Ok(i as u32 + base);
        }
        let n: u32 = v.parse().map_err(|_| {
            format!(
                "`{v}` is not a number{}",
                if names.is_empty() { "" } else { " or a name" }
            )
        })?;
        if n < lo || n > hi {
            return Err(format!("{n} is outside {lo}-{hi}"));
        }
        Ok(n)
    };
    let mut m = 0;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("`{s}` is not a step (a positive number)"))?;
                (r, Some(step))
            }
            None => (part, None),
        };
        let (a, b) = match range {
            "" => return Err(format!("`{text}` has an empty element")),
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step.is_some() => {
                    return Err(format!("`{part}`: write `{r}-{hi}/…` or `*/…` for a step"))
                }
                None => {
                    let v = value(r)?;
                    (v, v)
                }
            },
        };
        if a > b {
            return Err(format!("the range `{range}` runs backwards"));
        }
        let step = step.unwrap_or(1) as usize;
        for v in (a..=b).step_by(step) {
            m |= 1 << v;
        }
    }
    Ok(m)
}

/// A field for systemd: `*`, `START/STEP` for a step that runs to the end, else a list with
/// `A..B` for runs of three or more.
fn field_text(m: u64, lo: u32, hi: u32) -> String {
    if m == mask(lo, hi) {
        return "*".into();
    }
    let values: Vec<u32> = bits(m).collect();
    if values.len() >= 3 {
        let step = values[1] - values[0];
        let progression = values.windows(2).all(|w| w[1] - w[0] == step);
        if progression && step > 1 && values[values.len() - 1] + step > hi {
            return format!("{:02}/{step}", values[0]);
        }
    }
    runs(&values)
        .iter()
        .map(|(a, b)| match b - a {
            0 => format!("{a:02}"),
            1 => format!("{a:02},{b:02}"),
            _ => format!("{a:02}..{b:02}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn runs(values: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &v in values {
        match out.last_mut() {
            Some((_, end)) if *end + 1 == v => *end = v,
            _ => out.push((v, v)),
        }
    }
    out
}

/// Weekdays in systemd's order (Monday first), runs of three or more as `Mon..Fri`.
fn weekday_list(m: u64) -> String {
    // Positions 0..=6 stand for Mon..Sun, so a run never has to wrap around the week.
    let monday_first: Vec<u32> = (0..7u32).filter(|i| has(m, (i + 1) % 7)).collect();
    let name = |i: u32| SYSTEMD_WEEKDAYS[((i + 1) % 7) as usize];
    runs(&monday_first)
        .iter()
        .map(|(a, b)| match b - a {
            0 => name(*a).to_string(),
            1 => format!("{},{}", name(*a), name(*b)),
            _ => format!("{}..{}", name(*a), name(*b)),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn cal(t: &str) -> Calendar {
        Calendar::parse(t).unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn converts_to_systemd_calendar_events() {
        let cases = [
            ("daily", "daily"),
            ("hourly", "hourly"),
            ("30 2 * * *", "*-*-* 02:30:00"),
            ("*/15 * * * *", "*-*-* *:00/15:00"),
            ("0 9-17 * * 1-5", "Mon..Fri *-*-* 09..17:00:00"),
            ("0 3 * * sun,sat", "Sat,Sun *-*-* 03:00:00"),
            ("0 3 * * 7", "Sun *-*-* 03:00:00"),
            ("5 4 1,15 * *", "*-*-01,15 04:05:00"),
            ("0 0 1 jan-mar *", "*-01..03-01 00:00:00"),
            ("0 6,18 */2 * *", "*-*-01/2 06,18:00:00"),
            ("@weekly", "Sun *-*-* 00:00:00"),
        ];
        for (cron, systemd) in cases {
            assert_eq!(cal(cron).on_calendar().unwrap(), systemd, "{cron}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_say() {
        for bad in [
            "",
            "* * * *",
            "61 * * * *",
            "0 0 * * 8",
            "5/10 * * * *",
            "0 0 30-1 * *",
            "0 0 * * mon/2",
            "@reboot",
            "0 0 * foo *",
            "*/0 * * * *",
        ] {
            let e = Calendar::parse(bad).unwrap_err();
            assert!(matches!(e, CalendarError::Invalid { .. }), "{bad}: {e}");
        }
        let e = cal("0 0 1 * 1").on_calendar().unwrap_err().to_string();
        assert!(e.contains("OR the day of week"), "{e}");
    }

    #[test]
    fn computes_the_next_fire_times() {
        let daily = cal("daily");
        assert_eq!(
            daily.next_after(&at("2026-11-22T10:00:00Z")).unwrap(),
            at("2026-11-23T00:00:00Z")
        );
        let weekdays = cal("30 2 * * 1-5");
        // 2026-11-21 is a Saturday: the next weekday is Monday the 23rd.
        assert_eq!(
            weekdays.next_times(&at("2026-11-21T03:00:00Z"), 2),
            vec![at("2026-11-23T02:30:00Z"), at("2026-11-24T02:30:00Z")]
        );
        // Cron's OR: the 1st of the month or any Monday.
        let either = cal("0 0 1 * 1");
        assert_eq!(
            either.next_after(&at("2026-11-24T00:00:00Z")).unwrap(),
            at("2026-11-30T00:00:00Z")
        );
        let leap = cal("0 0 29 2 *");
        assert_eq!(
            leap.next_after(&at("2026-03-01T00:00:00Z")).unwrap(),
            at("2028-02-29T00:00:00Z")
        );
        let (min, max) = cal("monthly")
            .gaps(&at("2026-01-15T00:00:00Z"), 13)
            .unwrap();
        assert_eq!(min, Duration::from_secs(28 * 86_400));
        assert_eq!(max, Duration::from_secs(31 * 86_400));
    }

    #[test]
    fn skips_times_a_dst_change_removes() {
        let berlin = chrono_tz::Europe::Berlin;
        // 2026-03-29 02:30 does not exist in Berlin (clocks jump from 02:00 to 03:00).
        let after = berlin.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap();
        let next = cal("30 2 * * *").next_after(&after).unwrap();
        assert_eq!(
            next,
            berlin.with_ymd_and_hms(2026, 3, 30, 2, 30, 0).unwrap()
        );
    }
}
