//! A file's modification time as a commit journal writes it: seconds and
//! nanoseconds from the Unix epoch (seconds below 0 before it), exactly.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Writes `time`.
pub fn serialize<S: Serializer>(time: &Option<SystemTime>, out: S) -> Result<S::Ok, S::Error> {
    let pair = time.map(|time| match time.duration_since(UNIX_EPOCH) {
        Ok(after) => (after.as_secs() as i64, after.subsec_nanos()),
        Err(before) => {
            let before = before.duration();
            match before.subsec_nanos() {
                0 => (-(before.as_secs() as i64), 0),
                nanos => (-(before.as_secs() as i64) - 1, 1_000_000_000 - nanos),
            }
        }
    });
    pair.serialize(out)
}

/// Reads what [`serialize`] wrote.
pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Option<SystemTime>, D::Error> {
    let pair = Option::<(i64, u32)>::deserialize(input)?;
    Ok(pair.and_then(|(secs, nanos)| {
        let nanos = Duration::from_nanos(u64::from(nanos));
        match u64::try_from(secs) {
            Ok(secs) => UNIX_EPOCH.checked_add(Duration::from_secs(secs) + nanos),
            Err(_) => UNIX_EPOCH
                .checked_sub(Duration::from_secs(secs.unsigned_abs()))?
                .checked_add(nanos),
        }
    }))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Kept(#[serde(with = "super")] Option<SystemTime>);

    #[test]
    fn a_time_reads_back_to_the_nanosecond_before_and_after_the_epoch() {
        let times = [
            None,
            Some(UNIX_EPOCH),
            Some(UNIX_EPOCH + Duration::new(1_765_000_000, 123_456_789)),
            Some(UNIX_EPOCH - Duration::new(1, 300_000_000)),
            Some(UNIX_EPOCH - Duration::from_secs(86_400)),
        ];
        for time in times {
            let text = serde_json::to_string(&Kept(time)).unwrap();
            assert_eq!(
                serde_json::from_str::<Kept>(&text).unwrap(),
                Kept(time),
                "{text}"
            );
        }
        let before = Kept(Some(UNIX_EPOCH - Duration::new(1, 300_000_000)));
        assert_eq!(serde_json::to_string(&before).unwrap(), "[-2,700000000]");
    }
}
