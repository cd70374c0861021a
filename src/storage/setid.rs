//! Set identifiers: the UTC start time to the millisecond, `YYYYMMDDTHHMMSS.mmmZ`, plus a short
//! random suffix, so they sort by time (two sets started in the same second too) and two sets
//! started in the same millisecond on different hosts do not collide. Ids written before the
//! milliseconds were added (`YYYYMMDDTHHMMSSZ-xxxx`) stay valid: they order as the start of
//! their second.

use chrono::{DateTime, NaiveDateTime, Utc};
use rand::Rng;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The form of ids written before milliseconds were added; still read, never written.
const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const NEW_TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";
const SUFFIX_LEN: usize = 4;

/// Ordered by the time the id encodes, then by its text (the suffix): not by the text alone,
/// because an old id (`…T030405Z-…`) and a new one of the same second (`…T030405.250Z-…`)
/// compare the other way round as text. Equality and hashing are the text's.
#[derive(Debug, Clone)]
pub struct SetId {
    text: String,
    at: DateTime<Utc>,
}

impl PartialEq for SetId {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for SetId {}

impl Hash for SetId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl Ord for SetId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.at
            .cmp(&other.at)
            .then_with(|| self.text.cmp(&other.text))
    }
}

impl PartialOrd for SetId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A set dated more than this after now is dated in the future: a wrong clock (on the host
/// that took it, or on this one) or a forged set. Small, because hosts that share a
/// repository run NTP; large enough for the skew NTP leaves.
pub const FUTURE_TOLERANCE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Is `at` later than `now` plus [`FUTURE_TOLERANCE`]?
pub fn dated_in_future(at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now.checked_add_signed(FUTURE_TOLERANCE)
        .is_some_and(|limit| at > limit)
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a set id (expected {SET_ID_FORMAT})")]
pub struct BadSetId(pub String);

/// What a set id looks like, for the messages that refuse one.
pub const SET_ID_FORMAT: &str = "YYYYMMDDTHHMMSS.mmmZ-xxxx, for example 20261122T020000.250Z-3f9a, or the older YYYYMMDDTHHMMSSZ-xxxx";

impl SetId {
    /// The id of a set started at `at` (kept to the millisecond).
    pub fn new(at: DateTime<Utc>) -> Self {
        let mut rng = rand::rng();
        let suffix: String = (0..SUFFIX_LEN)
            .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
            .collect();
        let text = format!("{}-{}", at.format(NEW_TIME_FORMAT), suffix);
        let at = parse_time(text.split('-').next().unwrap_or_default()).unwrap_or(at);
        SetId { text, at }
    }

    pub fn parse(text: &str) -> Result<Self, BadSetId> {
        let bad = || BadSetId(text.to_string());
        let (time, suffix) = text.split_once('-').ok_or_else(bad)?;
        if suffix.is_empty()
            || suffix.len() > 16
            || !suffix.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(bad());
        }
        let at = parse_time(time).ok_or_else(bad)?;
        Ok(SetId {
            text: text.to_string(),
            at,
        })
    }

    /// The time encoded in the id: the backup's start, to the millisecond (to the second for
    /// an old id).
    pub fn time(&self) -> DateTime<Utc> {
        self.at
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for SetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for SetId {
    type Err = BadSetId;

    fn from_str(text: &str) -> Result<Self, BadSetId> {
        SetId::parse(text)
    }
}

impl PartialEq<str> for SetId {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for SetId {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

/// Written as its text, so a manifest holding a `SetId` reads and writes the same JSON as one
/// holding the string did.
impl serde::Serialize for SetId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// Read through [`SetId::parse`]: old ids (no milliseconds) too.
impl<'de> serde::Deserialize<'de> for SetId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SetId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The time part of an id, new form (`20261122T020000.250Z`: exactly three digits of
/// milliseconds) or old (`20261122T020000Z`).
fn parse_time(time: &str) -> Option<DateTime<Utc>> {
    let (seconds, millis) = match time.split_once('.') {
        Some((seconds, frac)) => {
            let digits = frac.strip_suffix('Z')?;
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (seconds, digits.parse::<i64>().ok()?)
        }
        None => (time.strip_suffix('Z')?, 0),
    };
    let whole = format!("{seconds}Z");
    let at = match plain_time(&whole) {
        Some(at) => at,
        None => NaiveDateTime::parse_from_str(&whole, TIME_FORMAT)
            .ok()?
            .and_utc(),
    };
    at.checked_add_signed(chrono::Duration::milliseconds(millis))
}

/// A valid time in exactly the form lifeboat writes (`20261122T020000Z`), read without
/// chrono's format parser: a listing parses a set id per object or folder, and the parser took
/// 4 of the 13 ms of CPU a 10,000-set preview cost. None for anything else (one-digit fields,
/// a leap second, ...), which is left to the parser, which decides as before.
fn plain_time(time: &str) -> Option<DateTime<Utc>> {
    let b = time.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let mut n = 0;
        for &c in b.get(range)? {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u32::from(c - b'0');
        }
        Some(n)
    };
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(digits(0..4)? as i32, digits(4..6)?, digits(6..8)?)?;
    let time = chrono::NaiveTime::from_hms_opt(digits(9..11)?, digits(11..13)?, digits(13..15)?)?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// In JSON an id is its text, both forms; anything else is refused when read.
    #[test]
    fn serde_writes_the_text_and_reads_both_forms() {
        for text in ["20261122T020000.250Z-3f9a", "20261122T020000Z-3f9a"] {
            let id = SetId::parse(text).unwrap();
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<SetId>(&json).unwrap(), id);
        }
        let bad = serde_json::from_str::<SetId>("\"latest\"").unwrap_err();
        assert!(bad.to_string().contains("is not a set id"), "{bad}");
        assert!(serde_json::from_str::<SetId>("5").is_err());
    }

    #[test]
    fn round_trips_and_sorts_by_time() {
        let a = SetId::new(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap());
        let b = SetId::new(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 6).unwrap());
        assert!(a < b);
        assert_eq!(SetId::parse(a.as_str()).unwrap(), a);
        assert_eq!(a.time(), Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap());
        assert!(a.as_str().starts_with("20260102T030405.000Z-"), "{a}");
    }

    /// Two sets started in the same second order by their start, whatever their suffixes.
    #[test]
    fn sets_of_the_same_second_order_by_their_milliseconds() {
        let second = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        for _ in 0..50 {
            let early = SetId::new(second + chrono::Duration::milliseconds(1));
            let late = SetId::new(second + chrono::Duration::milliseconds(999));
            assert!(early < late, "{early} < {late}");
            assert_eq!(late.time(), second + chrono::Duration::milliseconds(999));
        }
        let a = SetId::parse("20260102T030405.010Z-ffff").unwrap();
        let b = SetId::parse("20260102T030405.900Z-0000").unwrap();
        assert!(a < b);
    }

    /// Old ids (no milliseconds) stay readable and sort among new ones by time: as the start
    /// of their second.
    #[test]
    fn old_ids_sort_among_new_ones_by_time() {
        let mut ids: Vec<SetId> = [
            "20260102T030406Z-0000",
            "20260102T030405.500Z-aaaa",
            "20260102T030404.999Z-ffff",
            "20260102T030405Z-ffff",
            "20260102T030406.001Z-0000",
            "20251231T235959Z-9",
        ]
        .iter()
        .map(|s| SetId::parse(s).unwrap())
        .collect();
        ids.sort();
        let order: Vec<&str> = ids.iter().map(|i| i.as_str()).collect();
        assert_eq!(
            order,
            [
                "20251231T235959Z-9",
                "20260102T030404.999Z-ffff",
                "20260102T030405Z-ffff",
                "20260102T030405.500Z-aaaa",
                "20260102T030406Z-0000",
                "20260102T030406.001Z-0000",
            ]
        );
        assert_eq!(
            ids[2].time(),
            Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
        );
        // Equal only when the text is: the same time with another suffix is another set.
        let x = SetId::parse("20260102T030405.000Z-aaaa").unwrap();
        let y = SetId::parse("20260102T030405Z-aaaa").unwrap();
        assert_ne!(x, y);
        assert_ne!(x.cmp(&y), Ordering::Equal);
    }

    proptest::proptest! {
        /// Any two ids, old form or new, order as the times they encode; text never panics
        /// the parser, and what it accepts round-trips.
        #[test]
        fn ids_order_by_their_time_old_and_new_mixed(
            a in 0i64..4_102_444_800_000,
            b in 0i64..4_102_444_800_000,
            old_a: bool,
            old_b: bool,
            junk in "\\PC{0,40}",
        ) {
            let id = |ms: i64, old: bool| {
                let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap();
                if old {
                    SetId::parse(&format!("{}-abcd", t.format(TIME_FORMAT))).unwrap()
                } else {
                    SetId::new(t)
                }
            };
            let (x, y) = (id(a, old_a), id(b, old_b));
            // An old id counts from the start of its second.
            let key = |ms: i64, old: bool| if old { ms.div_euclid(1000) * 1000 } else { ms };
            let (ka, kb) = (key(a, old_a), key(b, old_b));
            proptest::prop_assert_eq!(x.time().timestamp_millis(), ka);
            if ka != kb {
                proptest::prop_assert_eq!(x.cmp(&y), ka.cmp(&kb), "{} {}", x, y);
            }
            proptest::prop_assert_eq!(SetId::parse(x.as_str()).unwrap(), x.clone());
            if let Ok(parsed) = SetId::parse(&junk) {
                proptest::prop_assert_eq!(parsed.as_str(), junk.as_str());
            }
        }
    }

    #[test]
    fn the_future_starts_past_the_tolerance() {
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert!(!dated_in_future(now, now));
        assert!(!dated_in_future(now - chrono::Duration::days(400), now));
        assert!(!dated_in_future(now + FUTURE_TOLERANCE, now));
        assert!(dated_in_future(
            now + FUTURE_TOLERANCE + chrono::Duration::milliseconds(1),
            now
        ));
        assert!(dated_in_future(now + chrono::Duration::days(3650), now));
        assert!(!dated_in_future(
            DateTime::<Utc>::MAX_UTC,
            DateTime::<Utc>::MAX_UTC
        ));
    }

    #[test]
    fn rejects_foreign_names() {
        for bad in [
            "",
            "latest",
            "20260102T030405Z",
            "20260102T030405Z-",
            "2026-01-02-x",
            "20260102T030405Z-../x",
            "20260102T030405.5Z-abcd",
            "20260102T030405.5000Z-abcd",
            "20260102T030405.12aZ-abcd",
            "20260102T030405.123-abcd",
            "20260102T030405.Z-abcd",
            "20260102T030405Z.123-abcd",
            "20260102T030405.123Z.1Z-abcd",
        ] {
            assert!(SetId::parse(bad).is_err(), "{bad}");
        }
    }

    /// The fast check accepts only what chrono's parser accepts, reads the same time, and the
    /// parser still decides everything else: the same ids either way, old form and new.
    #[test]
    fn the_plain_time_check_agrees_with_chrono() {
        let mut times: Vec<String> = vec![
            "20261122T020000Z".into(),
            "20240229T235959Z".into(),
            "20230229T000000Z".into(),
            "20261122T235960Z".into(),
            "20261122T240000Z".into(),
            "20261322T000000Z".into(),
            "20261100T000000Z".into(),
            "2026112T020000Z".into(),
            "+2026112T020000Z".into(),
            "20261122t020000Z".into(),
            "20261122T020000z".into(),
            "20261122T02000０Z".into(),
            "00000101T000000Z".into(),
        ];
        // Every digit position through every byte value of interest.
        for i in 0..16 {
            for c in ['0', '1', '2', '3', '5', '6', '9', 'a', ' ', '+', 'T', 'Z'] {
                let mut t: Vec<char> = "20260131T235959Z".chars().collect();
                t[i] = c;
                times.push(t.into_iter().collect());
            }
        }
        for t in &times {
            let chrono = NaiveDateTime::parse_from_str(t, TIME_FORMAT).ok();
            if let Some(fast) = plain_time(t) {
                assert_eq!(Some(fast.naive_utc()), chrono, "{t:?}");
            }
            let id = format!("{t}-3f9a");
            assert_eq!(SetId::parse(&id).is_ok(), chrono.is_some(), "{id:?}");
            let new = format!("{}.250Z-3f9a", t.strip_suffix('Z').unwrap_or(t));
            let parsed = SetId::parse(&new);
            assert_eq!(parsed.is_ok(), chrono.is_some(), "{new:?}");
            if let (Ok(id), Some(at)) = (parsed, chrono) {
                assert_eq!(
                    id.time(),
                    at.and_utc() + chrono::Duration::milliseconds(250)
                );
                // And the new form is what chrono's own millisecond format reads.
                let whole = new.split('-').next().unwrap();
                assert_eq!(
                    NaiveDateTime::parse_from_str(whole, NEW_TIME_FORMAT)
                        .ok()
                        .map(|t| t.and_utc()),
                    Some(id.time()),
                    "{new:?}"
                );
            }
        }
    }
}
