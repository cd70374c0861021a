//! Set identifiers: UTC `YYYYMMDDTHHMMSSZ` plus a short random suffix, so they sort by time and two
//! sets started in the same second on different hosts do not collide.

use chrono::{DateTime, NaiveDateTime, Utc};
use rand::Rng;
use std::fmt;

const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const SUFFIX_LEN: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SetId(String);

#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not a set id (expected YYYYMMDDTHHMMSSZ-xxxx, for example 20261122T020000Z-3f9a)"
)]
pub struct BadSetId(pub String);

impl SetId {
    pub fn new(at: DateTime<Utc>) -> Self {
        let mut rng = rand::rng();
        let suffix: String = (0..SUFFIX_LEN)
            .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
            .collect();
        SetId(format!("{}-{}", at.format(TIME_FORMAT), suffix))
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
        NaiveDateTime::parse_from_str(time, TIME_FORMAT).map_err(|_| bad())?;
        Ok(SetId(text.to_string()))
    }

    /// The time encoded in the id (the backup's start, to the second).
    pub fn time(&self) -> DateTime<Utc> {
        let time = self.0.split('-').next().unwrap_or_default();
        NaiveDateTime::parse_from_str(time, TIME_FORMAT)
            .map(|t| t.and_utc())
            .unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn round_trips_and_sorts_by_time() {
        let a = SetId::new(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap());
        let b = SetId::new(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 6).unwrap());
        assert!(a < b);
        assert_eq!(SetId::parse(a.as_str()).unwrap(), a);
        assert_eq!(a.time(), Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap());
        assert!(a.as_str().starts_with("20260102T030405Z-"));
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
        ] {
            assert!(SetId::parse(bad).is_err(), "{bad}");
        }
    }
}
