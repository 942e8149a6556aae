//! UTC timestamps for history records, snapshot names and manifests,
//! formatted and parsed from `SystemTime` (proleptic Gregorian calendar,
//! Howard Hinnant's `civil_from_days`), so verchain needs no date crate.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC instant: seconds since the Unix epoch and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Instant {
    secs: i64,
    nanos: u32,
}

impl Instant {
    /// The instant `time` stands for.
    pub(crate) fn from_system(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Instant {
                secs: i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
                nanos: after.subsec_nanos(),
            },
            Err(before) => {
                let before: Duration = before.duration();
                let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
                if before.subsec_nanos() == 0 {
                    Instant {
                        secs: -secs,
                        nanos: 0,
                    }
                } else {
                    Instant {
                        secs: -secs - 1,
                        nanos: 1_000_000_000 - before.subsec_nanos(),
                    }
                }
            }
        }
    }

    /// Whole seconds since the Unix epoch, 0 for earlier instants (as tar
    /// headers want them).
    pub(crate) fn unix_secs(self) -> u64 {
        u64::try_from(self.secs).unwrap_or(0)
    }

    fn civil(self) -> (i64, u32, u32, u32, u32, u32) {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        (
            y,
            m,
            d,
            (rem / 3600) as u32,
            (rem % 3600 / 60) as u32,
            (rem % 60) as u32,
        )
    }

    /// RFC 3339 in UTC with microseconds: `2026-11-23T14:05:09.123456Z`.
    pub(crate) fn rfc3339(self) -> String {
        let (y, mo, d, h, mi, s) = self.civil();
        format!(
            "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}Z",
            self.nanos / 1000
        )
    }

    /// The part of a snapshot's file name that says when: `2026-11-23T14-05-09`.
    pub(crate) fn file_stamp(self) -> String {
        let (y, mo, d, h, mi, s) = self.civil();
        format!("{y:04}-{mo:02}-{d:02}T{h:02}-{mi:02}-{s:02}")
    }

    /// Parses an RFC 3339 timestamp in UTC (`Z`, or an offset of `+00:00`),
    /// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`; `None` if it is not one.
    pub(crate) fn parse_rfc3339(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let num = |range: std::ops::Range<usize>| -> Option<u32> {
            let digits = b.get(range)?;
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            digits.iter().try_fold(0u32, |n, &c| {
                n.checked_mul(10)?.checked_add(u32::from(c - b'0'))
            })
        };
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't')
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let mut rest = &text[19..];
        let mut nanos = 0u32;
        if let Some(fraction) = rest.strip_prefix('.') {
            let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if len == 0 || len > 9 {
                return None;
            }
            nanos = fraction[..len].parse::<u32>().ok()? * 10u32.pow(9 - len as u32);
            rest = &fraction[len..];
        }
        if !matches!(rest, "Z" | "z" | "+00:00") {
            return None;
        }
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
            2 => 28,
            _ => return None,
        };
        // 60 allows a leap second, which RFC 3339 permits.
        if day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let days = days_from_civil(i64::from(year), month, day);
        let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
        Some(Instant { secs, nanos })
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Now, as RFC 3339 UTC with microseconds.
pub(crate) fn now_rfc3339() -> String {
    Instant::from_system(SystemTime::now()).rfc3339()
}

/// Now, as `2026-11-23T14-05-09`, safe in a file name.
pub(crate) fn now_for_name() -> String {
    Instant::from_system(SystemTime::now()).file_stamp()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::Instant;

    fn at(secs: u64, nanos: u32) -> Instant {
        Instant::from_system(UNIX_EPOCH + Duration::new(secs, nanos))
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(at(0, 0).rfc3339(), "1970-01-01T00:00:00.000000Z");
        // 2026-11-23T14:05:09Z, checked with `date -u -d @1795442709`.
        assert_eq!(
            at(1_795_442_709, 123_456_789).rfc3339(),
            "2026-11-23T14:05:09.123456Z"
        );
        assert_eq!(at(1_795_442_709, 0).file_stamp(), "2026-11-23T14-05-09");
        // A leap day.
        assert_eq!(at(951_782_400, 0).rfc3339(), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn parses_what_it_formats_and_orders_by_time() {
        for (secs, nanos) in [(0, 0), (951_782_400, 5_000), (1_795_442_709, 123_456_000)] {
            let instant = at(secs, nanos);
            assert_eq!(Instant::parse_rfc3339(&instant.rfc3339()), Some(instant));
        }
        let a = Instant::parse_rfc3339("2026-11-23T14:05:09Z").unwrap();
        let b = Instant::parse_rfc3339("2026-11-23T14:05:09.5Z").unwrap();
        let c = Instant::parse_rfc3339("2026-11-23T14:05:10.000001Z").unwrap();
        assert!(a < b && b < c);
    }

    #[test]
    fn refuses_what_is_not_rfc3339_utc() {
        for bad in [
            "",
            "2026-11-23",
            "2026-11-23T14:05:09",
            "2026-11-23T14:05:09+01:00",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T14:05:09.Z",
            "2026-11-23T14:05:09.1234567890Z",
            "2026-1a-23T14:05:09Z",
            "２０２６-11-23T14:05:09Z",
        ] {
            assert_eq!(Instant::parse_rfc3339(bad), None, "{bad:?}");
        }
    }
}
