//! The one formatter for quantities in text: sizes, whole-second ages and measured elapsed
//! times. It sits in the leaf layer so that job messages (which may import only `storage`)
//! and the reports and screens (through `report::format`) all say sizes and times alike.
//!
//! - sizes: binary units, one decimal (`512 B`, `1.5 KiB`, `220.3 MiB`);
//! - ages, intervals and configured durations: the two largest units (`40s`, `12m 5s`,
//!   `1h 2m`, `3d 4h`);
//! - measured elapsed times: a tenth of a second under a minute (`12.3 s`), past that as an
//!   age (`30m 0s`).

use std::time::Duration;

/// 1536 -> "1.5 KiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The two largest units: "3d 4h", "1h 2m", "12m 5s", "40s".
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, minutes, seconds) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m {seconds}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

/// [`age`] of a signed count of seconds (a negative one, a clock skew, reads as 0s).
pub fn age_secs(seconds: i64) -> String {
    age(Duration::from_secs(seconds.max(0) as u64))
}

/// A measured time: "0.4 s", "12.3 s" under a minute, then as an [`age`] ("18m 42s").
pub fn elapsed(seconds: f64) -> String {
    let s = if seconds.is_finite() {
        seconds.max(0.0)
    } else {
        0.0
    };
    if s < 59.95 {
        format!("{s:.1} s")
    } else {
        age_secs(s.round() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_binary_units_with_one_decimal() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(220_258 * 1024), "215.1 MiB");
        assert_eq!(bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(bytes(3 * 1024_u64.pow(4)), "3.0 TiB");
    }

    #[test]
    fn ages_in_their_two_largest_units() {
        assert_eq!(age(Duration::from_secs(0)), "0s");
        assert_eq!(age(Duration::from_secs(40)), "40s");
        assert_eq!(age(Duration::from_secs(725)), "12m 5s");
        assert_eq!(age(Duration::from_secs(1800)), "30m 0s");
        assert_eq!(age(Duration::from_secs(3720)), "1h 2m");
        assert_eq!(age(Duration::from_secs(86_400)), "1d 0h");
        assert_eq!(age(Duration::from_secs(3 * 86_400 + 4 * 3600 + 5)), "3d 4h");
        assert_eq!(age_secs(-5), "0s");
    }

    #[test]
    fn elapsed_times_in_tenths_then_as_ages() {
        assert_eq!(elapsed(0.44), "0.4 s");
        assert_eq!(elapsed(12.34), "12.3 s");
        assert_eq!(elapsed(59.96), "1m 0s");
        assert_eq!(elapsed(1122.0), "18m 42s");
        assert_eq!(elapsed(1800.0), "30m 0s");
        assert_eq!(elapsed(3720.4), "1h 2m");
        assert_eq!(elapsed(-1.0), "0.0 s");
        assert_eq!(elapsed(f64::NAN), "0.0 s");
    }
}
