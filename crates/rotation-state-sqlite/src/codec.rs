//! Conversions between domain values and SQLite columns: times as (unix millis, nanos within
//! the millisecond), `u64` counters as `INTEGER`, steps and statuses as their snake-case names.

use chrono::{DateTime, TimeDelta, Utc};
use rotation_core::RotationStatus;
use rotation_core::machine::Step;
use serde_json::Value;

use crate::error::{DbResult, Failure};

/// `t` as unix milliseconds (floored) and the nanoseconds within that millisecond.
pub(crate) fn split(t: DateTime<Utc>) -> (i64, i64) {
    (
        t.timestamp_millis(),
        i64::from(t.timestamp_subsec_nanos() % 1_000_000),
    )
}

/// [`split`] of an optional time.
pub(crate) fn split_opt(t: Option<DateTime<Utc>>) -> (Option<i64>, Option<i64>) {
    match t.map(split) {
        Some((ms, ns)) => (Some(ms), Some(ns)),
        None => (None, None),
    }
}

/// The inverse of [`split`].
pub(crate) fn join(ms: i64, ns: i64, what: &str) -> DbResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .filter(|_| (0..1_000_000).contains(&ns))
        .and_then(|t| t.checked_add_signed(TimeDelta::nanoseconds(ns)))
        .ok_or_else(|| Failure::Internal(format!("{what} has an invalid time ({ms} ms + {ns} ns)")))
}

/// The inverse of [`split_opt`].
pub(crate) fn join_opt(
    ms: Option<i64>,
    ns: Option<i64>,
    what: &str,
) -> DbResult<Option<DateTime<Utc>>> {
    match (ms, ns) {
        (Some(ms), Some(ns)) => join(ms, ns, what).map(Some),
        (None, None) => Ok(None),
        _ => Err(Failure::Internal(format!("{what} has half a time"))),
    }
}

/// A counter as an SQLite integer.
pub(crate) fn to_int(value: u64, what: &str) -> DbResult<i64> {
    i64::try_from(value).map_err(|_| {
        Failure::Core(rotation_core::Error::invalid_value(format!(
            "{what} {value} is too large to store"
        )))
    })
}

/// An SQLite integer as a counter.
pub(crate) fn from_int<T: TryFrom<i64>>(value: i64, what: &str) -> DbResult<T> {
    T::try_from(value).map_err(|_| Failure::Internal(format!("{what} has invalid value {value}")))
}

/// The snake-case name of a step (`read_current`, `done`).
pub(crate) fn step_name(step: Step) -> DbResult<String> {
    match serde_json::to_value(step) {
        Ok(Value::String(name)) => Ok(name),
        _ => Err(Failure::Internal(format!("step {step:?} has no name"))),
    }
}

/// Parse a stored status name.
pub(crate) fn parse_status(name: &str, what: &str) -> DbResult<RotationStatus> {
    serde_json::from_value(Value::String(name.to_owned()))
        .map_err(|_| Failure::Internal(format!("{what} has unknown status {name:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_exactly() {
        let cases = [
            "2024-05-06T07:08:09.123456789Z",
            "1969-12-31T23:59:59.999999999Z",
            "1900-01-01T00:00:00Z",
            "9999-12-31T23:59:59.000000001Z",
        ];
        for case in cases {
            let t: DateTime<Utc> = case.parse().expect("time");
            let (ms, ns) = split(t);
            assert!((0..1_000_000).contains(&ns));
            assert_eq!(join(ms, ns, "t").expect("join"), t, "{case}");
        }
        assert_eq!(split_opt(None), (None, None));
        assert!(join_opt(Some(1), None, "t").is_err());
        assert!(join(0, 1_000_000, "t").is_err());
    }

    #[test]
    fn split_orders_like_the_time() {
        let a: DateTime<Utc> = "1969-12-31T23:59:59.9995Z".parse().expect("a");
        let b: DateTime<Utc> = "1970-01-01T00:00:00.0000001Z".parse().expect("b");
        assert!(split(a) < split(b));
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(step_name(Step::ReadCurrent).expect("name"), "read_current");
        for status in [
            RotationStatus::Pending,
            RotationStatus::InProgress,
            RotationStatus::Verifying,
            RotationStatus::Success,
            RotationStatus::Failed,
            RotationStatus::RolledBack,
        ] {
            assert_eq!(parse_status(status.as_str(), "s").expect("parse"), status);
        }
        assert!(parse_status("bogus", "s").is_err());
        assert!(to_int(u64::MAX, "count").is_err());
        assert!(from_int::<u32>(-1, "count").is_err());
    }
}
