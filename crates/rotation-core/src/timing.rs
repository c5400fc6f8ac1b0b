//! When a secret rotates next: cadences (manual, fixed interval, cron in a time zone), daily
//! maintenance windows, deterministic per-secret jitter and retry backoff.
//!
//! Everything here is pure: no clock is read and no I/O is done. The same [`Timing`], secret
//! and instant always give the same answer, so schedules computed by different processes or
//! after a restart agree.
//!
//! A policy describes its timing in its `[policies.<name>]` table ([`TimingSpec`]):
//!
//! ```toml
//! [policies.db]
//! cron = "30 2 * * *"          # or: interval = "30d" (exactly one of the two; neither: manual)
//! timezone = "Europe/Berlin"   # IANA name, default UTC
//! window = "02:00-05:00"       # rotations only start inside it (may wrap midnight)
//! jitter = "1h"                # per-secret offset in [0, jitter), default 0
//! retry_backoff = "1m"         # first retry delay, doubled per failure, default 1m
//! ```
//!
//! [`TimingSpec::build`] validates it into a [`Timing`], whose [`Timing::next_after`] and
//! [`Timing::retry_at`] compute due times.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::secret::SecretId;

/// Retry delays never exceed this (before their own jitter of up to 10%).
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The retry backoff when a policy names none.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_secs(60);

/// The longest duration a timing field accepts (about 100 years).
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// How many consecutive cron occurrences are sampled to find its shortest gap.
const CRON_SAMPLES: usize = 32;

/// A parsed cron expression.
///
/// Parsed with the `croner` crate rather than `cron`: croner accepts the standard five-field
/// form (seconds and year optional), is generic over chrono time zones (so `chrono-tz` zones
/// work directly) and handles DST transitions as the Open Cron Pattern Specification and
/// Vixie cron do: a fixed-time job whose wall-clock time falls in a spring-forward gap runs right
/// after the gap, and runs only once in a fall-back overlap. The `cron` crate silently skips
/// occurrences in a gap and requires a seconds field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule {
    /// The expression with runs of whitespace collapsed (what the fingerprint shows).
    expr: String,
    // Boxed: the parsed pattern is a few hundred bytes and [`Cadence`] is passed around by value.
    cron: Box<croner::Cron>,
    /// Shortest gap between consecutive occurrences in a sample, if at least two were found.
    min_gap: Option<Duration>,
}

impl CronSchedule {
    /// Parse `expr` (5 fields, or 6/7 with seconds/year) and sample its occurrences in `tz`.
    ///
    /// Fails if the expression is malformed or never matches a time after 2001-01-01.
    pub fn parse(expr: &str, tz: Tz) -> std::result::Result<Self, String> {
        let normalized = expr.split_whitespace().collect::<Vec<_>>().join(" ");
        let cron = croner::Cron::from_str(&normalized)
            .map(Box::new)
            .map_err(|e| format!("{expr:?} is not a valid cron expression: {e}"))?;
        let reference = Utc
            .with_ymd_and_hms(2001, 1, 1, 0, 0, 0)
            .single()
            .ok_or_else(|| "internal: bad reference date".to_owned())?;
        let mut schedule = Self {
            expr: normalized,
            cron,
            min_gap: None,
        };
        let mut previous = schedule.next_after(tz, reference).ok_or_else(|| {
            format!("{expr:?} never matches (no occurrence after 2001-01-01 in {tz})")
        })?;
        for _ in 1..CRON_SAMPLES {
            let Some(next) = schedule.next_after(tz, previous) else {
                break;
            };
            if let Ok(gap) = (next - previous).to_std() {
                schedule.min_gap = Some(schedule.min_gap.map_or(gap, |g| g.min(gap)));
            }
            previous = next;
        }
        Ok(schedule)
    }

    /// The expression, whitespace-normalized.
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The first occurrence strictly after `from`, evaluated on the wall clock of `tz`; `None`
    /// if there is none (e.g. a year field in the past).
    pub fn next_after(&self, tz: Tz, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&from.with_timezone(&tz), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The shortest gap between consecutive occurrences among the first few after 2001-01-01
    /// (`None` if fewer than two occur). Used as the cron's nominal interval.
    pub fn min_gap(&self) -> Option<Duration> {
        self.min_gap
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

/// How often a secret rotates on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cadence {
    /// Never automatically; only when asked.
    Manual,
    /// A fixed interval after the previous rotation.
    Every(Duration),
    /// At the occurrences of a cron expression on the wall clock of `tz`.
    Cron {
        /// The expression.
        schedule: CronSchedule,
        /// The zone its fields are read in.
        tz: Tz,
    },
}

impl Cadence {
    /// The nominal time between rotations: the interval, or the shortest sampled gap of a cron.
    pub fn nominal_interval(&self) -> Option<Duration> {
        match self {
            Cadence::Manual => None,
            Cadence::Every(d) => Some(*d),
            Cadence::Cron { schedule, .. } => schedule.min_gap(),
        }
    }
}

/// A daily span of wall-clock time, `[start, end)`, in which rotations may start.
///
/// `end < start` wraps midnight (`22:00-02:00`). On days with a DST change the window is mapped
/// to real instants: a start or end inside a spring-forward gap moves to the end of the gap, and
/// one inside a fall-back overlap takes its first occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: NaiveTime,
    end: NaiveTime,
    tz: Tz,
}

impl Window {
    /// Parse `"HH:MM-HH:MM"` (24-hour clock) in time zone `tz`. Start and end must differ.
    pub fn parse(text: &str, tz: Tz) -> std::result::Result<Self, String> {
        let malformed =
            || format!("{text:?} is not a window such as \"02:00-05:00\" (HH:MM-HH:MM)");
        let (start, end) = text.trim().split_once('-').ok_or_else(malformed)?;
        let parse = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| malformed());
        let (start, end) = (parse(start)?, parse(end)?);
        if start == end {
            return Err(format!(
                "{text:?} is empty: start and end are equal (a window must be shorter than a day)"
            ));
        }
        Ok(Self { start, end, tz })
    }

    /// First wall-clock time inside the window.
    pub fn start(&self) -> NaiveTime {
        self.start
    }

    /// First wall-clock time after the window.
    pub fn end(&self) -> NaiveTime {
        self.end
    }

    /// The zone of the wall clock.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// Whether the window spans midnight.
    pub fn wraps_midnight(&self) -> bool {
        self.end < self.start
    }

    /// Wall-clock length (what it lasts on a day without a DST change).
    pub fn length(&self) -> Duration {
        let day = TimeDelta::days(1);
        let raw = self.end - self.start;
        let len = if raw < TimeDelta::zero() {
            raw + day
        } else {
            raw
        };
        len.to_std().unwrap_or_default()
    }

    /// Whether a rotation may start at `t`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.occurrence(t).is_some_and(|(start, _)| start <= t)
    }

    /// The window occurrence `[start, end)` containing `t`, or else the next one.
    fn occurrence(&self, t: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let day = t.with_timezone(&self.tz).date_naive();
        (-1..=2).find_map(|k| {
            let date = day.checked_add_signed(TimeDelta::days(k))?;
            let start = resolve(self.tz, date.and_time(self.start))?;
            let end_date = if self.wraps_midnight() {
                date.succ_opt()?
            } else {
                date
            };
            let end = resolve(self.tz, end_date.and_time(self.end))?;
            (start < end && t < end).then_some((start, end))
        })
    }

    /// Where a rotation due at `due` starts, given the secret's jitter `offset`: at the slot
    /// `start + offset mod length` of the occurrence containing `due` (or of the next one) if
    /// that is not before `due`, else spread over what is left of the window after `due`.
    fn place(&self, due: DateTime<Utc>, offset: Duration) -> Option<DateTime<Utc>> {
        let (start, end) = self.occurrence(due)?;
        let slot = add(start, rem(offset, (end - start).to_std().ok()?))?;
        if slot >= due {
            Some(slot)
        } else {
            add(due, rem(offset, (end - due).to_std().ok()?))
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

/// The first instant whose wall clock in `tz` reads `local`: the earlier one in a fall-back
/// overlap, the end of the gap (to the minute) in a spring-forward gap.
fn resolve(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    (0..=24 * 60).find_map(|minutes| {
        let t = local.checked_add_signed(TimeDelta::minutes(minutes))?;
        tz.from_local_datetime(&t)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// `t + d`, `None` on overflow.
fn add(t: DateTime<Utc>, d: Duration) -> Option<DateTime<Utc>> {
    t.checked_add_signed(TimeDelta::from_std(d).ok()?)
}

/// `a mod b` (zero when `b` is zero).
fn rem(a: Duration, b: Duration) -> Duration {
    match b.as_nanos() {
        0 => Duration::ZERO,
        b => Duration::from_nanos(u64::try_from(a.as_nanos() % b).unwrap_or(0)),
    }
}

/// A deterministic value in `[0, range)` from `hash`, in whole seconds when `range >= 1s`.
fn spread(hash: u64, range: Duration) -> Duration {
    let nanos = range.as_nanos();
    if nanos == 0 {
        return Duration::ZERO;
    }
    let offset = Duration::from_nanos(u64::try_from(u128::from(hash) % nanos).unwrap_or(0));
    if range >= Duration::from_secs(1) {
        Duration::from_secs(offset.as_secs())
    } else {
        offset
    }
}

/// The first 8 bytes of SHA-256 over the parts, each followed by a NUL (stable across runs and
/// platforms, unlike std's randomized hasher).
fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// A validated rotation timing: cadence, optional window, jitter and retry backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    cadence: Cadence,
    window: Option<Window>,
    jitter: Duration,
    retry_backoff: Duration,
}

impl Default for Timing {
    /// Manual only, no window, no jitter, the default retry backoff.
    fn default() -> Self {
        Self {
            cadence: Cadence::Manual,
            window: None,
            jitter: Duration::ZERO,
            retry_backoff: DEFAULT_RETRY_BACKOFF,
        }
    }
}

impl Timing {
    /// The cadence.
    pub fn cadence(&self) -> &Cadence {
        &self.cadence
    }

    /// The window, if any.
    pub fn window(&self) -> Option<&Window> {
        self.window.as_ref()
    }

    /// The jitter range.
    pub fn jitter(&self) -> Duration {
        self.jitter
    }

    /// The first retry delay.
    pub fn retry_backoff(&self) -> Duration {
        self.retry_backoff
    }

    /// Whether the secret never rotates on its own.
    pub fn manual_only(&self) -> bool {
        matches!(self.cadence, Cadence::Manual)
    }

    /// Stable text describing the timing (cadence, zone, window, jitter, retry backoff); it
    /// changes exactly when the configuration does (whitespace in a cron expression aside).
    pub fn fingerprint(&self) -> String {
        let mut out = String::from("timing/v1");
        match &self.cadence {
            Cadence::Manual => out.push_str(" manual"),
            Cadence::Every(d) => {
                out.push_str(&format!(" every={}", humantime::format_duration(*d)));
            }
            Cadence::Cron { schedule, tz } => {
                out.push_str(&format!(" cron={:?} tz={}", schedule.as_str(), tz.name()));
            }
        }
        if let Some(w) = &self.window {
            out.push_str(&format!(" window={w}@{}", w.tz.name()));
        }
        out.push_str(&format!(
            " jitter={} retry_backoff={}",
            humantime::format_duration(self.jitter),
            humantime::format_duration(self.retry_backoff)
        ));
        out
    }

    /// The secret's jitter offset, in `[0, jitter)`.
    pub fn jitter_offset(&self, secret: &SecretId) -> Duration {
        spread(
            stable_hash(&[b"rotation-core/timing/jitter", secret.as_str().as_bytes()]),
            self.jitter,
        )
    }

    /// When `secret` rotates next after a rotation (or scheduling) at `from`; `None` for manual
    /// only (or a cron with no further occurrence).
    ///
    /// The due time is `from + interval` or the next cron occurrence after `from`. Without a
    /// window, the secret's [`jitter_offset`](Self::jitter_offset) is added to it. With a window,
    /// a due time outside it moves to the next window, and the offset (modulo the window's
    /// length) picks the secret's slot inside the window instead; the result is never before the
    /// due time.
    pub fn next_after(&self, secret: &SecretId, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let due = match &self.cadence {
            Cadence::Manual => return None,
            Cadence::Every(d) => add(from, *d)?,
            Cadence::Cron { schedule, tz } => schedule.next_after(*tz, from)?,
        };
        let offset = self.jitter_offset(secret);
        match &self.window {
            None => add(due, offset),
            Some(w) => w.place(due, offset).or(Some(due)),
        }
    }

    /// When to retry `secret` after its `failures`-th consecutive failure (0 counts as 1) at
    /// `now`.
    ///
    /// The delay is `retry_backoff * 2^(failures-1)`, capped at [`MAX_RETRY_DELAY`] and at the
    /// cadence's nominal interval, plus a deterministic jitter in `[0, delay / 10)` derived from
    /// the secret and `failures`. A retry that would start outside the window moves into the
    /// next one (at the secret's slot, as for [`next_after`](Self::next_after)).
    pub fn retry_at(&self, secret: &SecretId, failures: u32, now: DateTime<Utc>) -> DateTime<Utc> {
        let exponent = failures.max(1) - 1;
        let factor = 1u128.checked_shl(exponent).unwrap_or(u128::MAX);
        let mut cap = MAX_RETRY_DELAY;
        if let Some(interval) = self.cadence.nominal_interval() {
            cap = cap.min(interval);
        }
        let delay_nanos = self
            .retry_backoff
            .as_nanos()
            .saturating_mul(factor)
            .min(cap.as_nanos());
        let delay = Duration::from_nanos(u64::try_from(delay_nanos).unwrap_or(u64::MAX));
        let hash = stable_hash(&[
            b"rotation-core/timing/retry",
            secret.as_str().as_bytes(),
            &failures.to_be_bytes(),
        ]);
        let retry = add(now, delay + spread(hash, delay / 10)).unwrap_or(DateTime::<Utc>::MAX_UTC);
        match &self.window {
            Some(w) if !w.contains(retry) => {
                w.place(retry, self.jitter_offset(secret)).unwrap_or(retry)
            }
            _ => retry,
        }
    }
}

/// The timing fields of a `[policies.<name>]` table, as written (all optional strings).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimingSpec {
    /// `"30d"`, `"12h"`, `"90m"` (humantime); `"0"` or `"manual"`: manual only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// A cron expression (`"30 2 * * *"`; seconds and year fields optional). Excludes `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA time zone of `cron` and `window` (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Daily window `"HH:MM-HH:MM"` in which rotations start (may wrap midnight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// Per-secret deterministic offset range (default `"0s"`); must be shorter than the interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<String>,
    /// First retry delay, doubled per consecutive failure (default `"1m"`); must be positive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_backoff: Option<String>,
}

/// Parse a humantime duration: not negative, at most [`MAX_DURATION`].
fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!(
            "{text:?} is negative; durations must be zero or more"
        ));
    }
    let d = humantime::parse_duration(t)
        .map_err(|_| format!("{text:?} is not a duration such as \"30d\", \"12h\" or \"90m\""))?;
    if d > MAX_DURATION {
        return Err(format!("{text:?} is too long (at most 100 years)"));
    }
    Ok(d)
}

impl TimingSpec {
    /// Validate into a [`Timing`]. Errors are [`crate::ErrorKind::InvalidConfig`] naming
    /// `policies.<policy_name>.<field>`.
    pub fn build(&self, policy_name: &str) -> Result<Timing> {
        let err = |field: &str, message: String| {
            Error::config(format!("policies.{policy_name}.{field}"), message)
        };

        let tz = match self.timezone.as_deref() {
            None => Tz::UTC,
            Some(name) => name.trim().parse::<Tz>().map_err(|_| {
                err(
                    "timezone",
                    format!("{name:?} is not a known IANA time zone such as \"Europe/Berlin\""),
                )
            })?,
        };

        let cadence = match (self.interval.as_deref(), self.cron.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "cron",
                    "set either interval or cron, not both".to_owned(),
                ));
            }
            (None, None) => Cadence::Manual,
            (None, Some(expr)) => Cadence::Cron {
                schedule: CronSchedule::parse(expr, tz).map_err(|m| err("cron", m))?,
                tz,
            },
            (Some(text), None) => match text.trim() {
                "0" | "manual" => Cadence::Manual,
                t => match parse_duration(t).map_err(|m| err("interval", m))? {
                    d if d.is_zero() => Cadence::Manual,
                    d => Cadence::Every(d),
                },
            },
        };

        let window = self
            .window
            .as_deref()
            .map(|w| Window::parse(w, tz).map_err(|m| err("window", m)))
            .transpose()?;
        if self.timezone.is_some() && self.cron.is_none() && window.is_none() {
            return Err(err(
                "timezone",
                "a time zone applies only to cron or window; set one of them or remove timezone"
                    .to_owned(),
            ));
        }
        if let (Some(w), Cadence::Every(interval)) = (&window, &cadence)
            && w.length() >= *interval
        {
            return Err(err(
                "window",
                format!(
                    "window {w} lasts {}, which is not shorter than the interval {}",
                    humantime::format_duration(w.length()),
                    humantime::format_duration(*interval)
                ),
            ));
        }

        let jitter = self
            .jitter
            .as_deref()
            .map(|j| parse_duration(j).map_err(|m| err("jitter", m)))
            .transpose()?
            .unwrap_or(Duration::ZERO);
        if let Some(interval) = cadence.nominal_interval()
            && !jitter.is_zero()
            && jitter >= interval
        {
            let what = match cadence {
                Cadence::Every(_) => "the interval",
                _ => "the shortest gap between cron occurrences",
            };
            return Err(err(
                "jitter",
                format!(
                    "jitter {} is not shorter than {what} ({})",
                    humantime::format_duration(jitter),
                    humantime::format_duration(interval)
                ),
            ));
        }

        let retry_backoff = self
            .retry_backoff
            .as_deref()
            .map(|r| parse_duration(r).map_err(|m| err("retry_backoff", m)))
            .transpose()?
            .unwrap_or(DEFAULT_RETRY_BACKOFF);
        if retry_backoff.is_zero() {
            return Err(err("retry_backoff", "must be greater than zero".to_owned()));
        }

        Ok(Timing {
            cadence,
            window,
            jitter,
            retry_backoff,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::Timelike;

    use super::*;
    use crate::error::ErrorKind;

    const MIN: Duration = Duration::from_secs(60);
    const HOUR: Duration = Duration::from_secs(3600);
    const DAY: Duration = Duration::from_secs(86_400);

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn spec(fields: &[(&str, &str)]) -> TimingSpec {
        let mut s = TimingSpec::default();
        for (k, v) in fields {
            let v = Some((*v).to_owned());
            match *k {
                "interval" => s.interval = v,
                "cron" => s.cron = v,
                "timezone" => s.timezone = v,
                "window" => s.window = v,
                "jitter" => s.jitter = v,
                "retry_backoff" => s.retry_backoff = v,
                other => panic!("unknown field {other}"),
            }
        }
        s
    }

    fn timing(fields: &[(&str, &str)]) -> Timing {
        spec(fields).build("p").unwrap()
    }

    /// Asserts that `fields` fail to build with an InvalidConfig error naming `field`.
    fn rejects(fields: &[(&str, &str)], field: &str) -> String {
        let err = spec(fields).build("p").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("policies.p.{field}:")),
            "{fields:?}: expected policies.p.{field}, got {message}"
        );
        message
    }

    fn id(s: &str) -> SecretId {
        SecretId::from(s)
    }

    #[test]
    fn deserializes_from_a_policy_table() {
        let spec: TimingSpec = serde_json::from_value(serde_json::json!({
            "cron": "0 3 * * *", "timezone": "Europe/Berlin", "jitter": "10m"
        }))
        .unwrap();
        assert_eq!(spec.cron.as_deref(), Some("0 3 * * *"));
        assert_eq!(spec.interval, None);
        assert!(!spec.build("p").unwrap().manual_only());
        let empty: TimingSpec = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, TimingSpec::default());
    }

    #[test]
    fn manual_when_nothing_or_zero() {
        for fields in [
            &[][..],
            &[("interval", "0")][..],
            &[("interval", "manual")][..],
            &[("interval", " 0s ")][..],
        ] {
            let t = timing(fields);
            assert!(t.manual_only(), "{fields:?}");
            assert_eq!(t.next_after(&id("a"), at("2025-01-01T00:00:00Z")), None);
        }
        assert_eq!(Timing::default(), timing(&[]));
    }

    #[test]
    fn interval_parses_humantime() {
        let from = at("2025-01-01T00:00:00Z");
        for (text, d) in [("30d", 30 * DAY), ("12h", 12 * HOUR), ("90m", 90 * MIN)] {
            let t = timing(&[("interval", text)]);
            assert_eq!(t.cadence(), &Cadence::Every(d));
            assert_eq!(t.cadence().nominal_interval(), Some(d));
            assert_eq!(
                t.next_after(&id("a"), from),
                Some(from + TimeDelta::from_std(d).unwrap())
            );
        }
    }

    #[test]
    fn bad_intervals_are_rejected() {
        let m = rejects(&[("interval", "-1d")], "interval");
        assert!(m.contains("negative"), "{m}");
        rejects(&[("interval", "soon")], "interval");
        rejects(&[("interval", "")], "interval");
        rejects(&[("interval", "1000years")], "interval");
        let m = rejects(&[("interval", "30d"), ("cron", "0 3 * * *")], "cron");
        assert!(m.contains("not both"), "{m}");
    }

    #[test]
    fn bad_cron_is_rejected() {
        for expr in ["not a cron", "61 * * * *", "* * *", "", "0 0 30 2 *"] {
            rejects(&[("cron", expr)], "cron");
        }
    }

    #[test]
    fn timezone_rules() {
        let m = rejects(
            &[("cron", "0 3 * * *"), ("timezone", "Mars/Olympus")],
            "timezone",
        );
        assert!(m.contains("Mars/Olympus"), "{m}");
        // A zone without cron is only meaningful for a window.
        rejects(
            &[("interval", "30d"), ("timezone", "Europe/Berlin")],
            "timezone",
        );
        rejects(&[("timezone", "Europe/Berlin")], "timezone");
        let t = timing(&[
            ("interval", "30d"),
            ("timezone", "Europe/Berlin"),
            ("window", "02:00-05:00"),
        ]);
        assert_eq!(t.window().unwrap().tz(), chrono_tz::Europe::Berlin);
        // Default UTC.
        let t = timing(&[("interval", "30d"), ("window", "02:00-05:00")]);
        assert_eq!(t.window().unwrap().tz(), Tz::UTC);
    }

    #[test]
    fn bad_windows_are_rejected() {
        for w in [
            "2am-5am",
            "02:00",
            "02:00-25:00",
            "02:60-03:00",
            "02:00-05:00-06:00",
        ] {
            rejects(&[("interval", "30d"), ("window", w)], "window");
        }
        let m = rejects(&[("interval", "30d"), ("window", "03:00-03:00")], "window");
        assert!(m.contains("empty"), "{m}");
        // Longer than, or as long as, the interval.
        let m = rejects(&[("interval", "2h"), ("window", "22:00-02:00")], "window");
        assert!(m.contains("not shorter than the interval"), "{m}");
        rejects(&[("interval", "3h"), ("window", "02:00-05:00")], "window");
        timing(&[("interval", "3h1m"), ("window", "02:00-05:00")]);
    }

    #[test]
    fn bad_jitter_and_backoff_are_rejected() {
        let m = rejects(&[("interval", "1h"), ("jitter", "1h")], "jitter");
        assert!(m.contains("not shorter than the interval"), "{m}");
        rejects(&[("interval", "1h"), ("jitter", "2h")], "jitter");
        rejects(&[("interval", "1d"), ("jitter", "-5m")], "jitter");
        rejects(&[("interval", "1d"), ("jitter", "lots")], "jitter");
        // A cron's nominal interval is its shortest gap.
        rejects(&[("cron", "*/5 * * * *"), ("jitter", "5m")], "jitter");
        timing(&[("cron", "*/5 * * * *"), ("jitter", "4m")]);
        rejects(
            &[("interval", "1d"), ("retry_backoff", "0s")],
            "retry_backoff",
        );
        rejects(
            &[("interval", "1d"), ("retry_backoff", "-1m")],
            "retry_backoff",
        );
        rejects(
            &[("interval", "1d"), ("retry_backoff", "later")],
            "retry_backoff",
        );
        assert_eq!(
            timing(&[("interval", "1d")]).retry_backoff(),
            DEFAULT_RETRY_BACKOFF
        );
    }

    #[test]
    fn window_moves_due_times_into_the_window() {
        let t = timing(&[("interval", "1d"), ("window", "02:00-05:00")]);
        let a = id("a");
        // Due 2025-01-02 10:00, outside: next window start.
        assert_eq!(
            t.next_after(&a, at("2025-01-01T10:00:00Z")),
            Some(at("2025-01-03T02:00:00Z"))
        );
        // Due 01:00, before the window that day.
        assert_eq!(
            t.next_after(&a, at("2025-01-01T01:00:00Z")),
            Some(at("2025-01-02T02:00:00Z"))
        );
        // Due inside: unchanged. The end is exclusive.
        assert_eq!(
            t.next_after(&a, at("2025-01-01T03:30:00Z")),
            Some(at("2025-01-02T03:30:00Z"))
        );
        assert_eq!(
            t.next_after(&a, at("2025-01-01T05:00:00Z")),
            Some(at("2025-01-03T02:00:00Z"))
        );
    }

    #[test]
    fn windows_wrap_midnight() {
        let t = timing(&[("interval", "1d"), ("window", "22:00-02:00")]);
        let w = t.window().unwrap();
        assert!(w.wraps_midnight());
        assert_eq!(w.length(), 4 * HOUR);
        assert_eq!(w.to_string(), "22:00-02:00");
        for inside in [
            "2025-01-01T22:00:00Z",
            "2025-01-01T23:59:59Z",
            "2025-01-02T01:59:00Z",
        ] {
            assert!(w.contains(at(inside)), "{inside}");
        }
        for outside in [
            "2025-01-02T02:00:00Z",
            "2025-01-02T12:00:00Z",
            "2025-01-01T21:59:59Z",
        ] {
            assert!(!w.contains(at(outside)), "{outside}");
        }
        let a = id("a");
        // Due at 01:00 (inside, after midnight): unchanged.
        assert_eq!(
            t.next_after(&a, at("2025-01-01T01:00:00Z")),
            Some(at("2025-01-02T01:00:00Z"))
        );
        // Due at 23:00: unchanged.
        assert_eq!(
            t.next_after(&a, at("2025-01-01T23:00:00Z")),
            Some(at("2025-01-02T23:00:00Z"))
        );
        // Due at 03:00: same day 22:00.
        assert_eq!(
            t.next_after(&a, at("2025-01-01T03:00:00Z")),
            Some(at("2025-01-02T22:00:00Z"))
        );
        // With jitter, slots spread over the wrapped window, across midnight.
        let t = timing(&[
            ("interval", "1d"),
            ("window", "22:00-02:00"),
            ("jitter", "4h"),
        ]);
        let mut after_midnight = 0;
        for i in 0..200 {
            let next = t
                .next_after(&id(&format!("s{i}")), at("2025-01-01T12:00:00Z"))
                .unwrap();
            assert!(t.window().unwrap().contains(next), "{next}");
            assert!(next >= at("2025-01-02T22:00:00Z") && next < at("2025-01-03T02:00:00Z"));
            if next.hour() < 2 {
                after_midnight += 1;
            }
        }
        assert!((50..150).contains(&after_midnight), "{after_midnight}");
    }

    #[test]
    fn jitter_is_deterministic_and_bounded() {
        let t = timing(&[("interval", "30d"), ("jitter", "1h")]);
        let from = at("2025-01-01T00:00:00Z");
        let due = from + TimeDelta::days(30);
        let a = id("db-password");
        let first = t.next_after(&a, from).unwrap();
        assert_eq!(Some(first), t.next_after(&a, from));
        // A separately built timing agrees (no per-process randomness).
        let again = timing(&[("interval", "30d"), ("jitter", "1h")]);
        assert_eq!(Some(first), again.next_after(&a, from));
        assert!(first >= due && first < due + TimeDelta::hours(1));
        assert_eq!(
            first - due,
            TimeDelta::from_std(t.jitter_offset(&a)).unwrap()
        );
        // Whole seconds for a jitter of at least a second.
        assert_eq!(first.nanosecond(), 0);
        // Without jitter, exactly the due time.
        let plain = timing(&[("interval", "30d")]);
        assert_eq!(plain.next_after(&a, from), Some(due));
    }

    #[test]
    fn jitter_spreads_a_thousand_secrets() {
        let t = timing(&[("interval", "30d"), ("jitter", "1h")]);
        let from = at("2025-01-01T00:00:00Z");
        let due = from + TimeDelta::days(30);
        let mut per_minute: BTreeMap<i64, u32> = BTreeMap::new();
        let mut seconds = BTreeSet::new();
        for i in 0..1000 {
            let next = t.next_after(&id(&format!("secret-{i}")), from).unwrap();
            let offset = (next - due).num_seconds();
            assert!((0..3600).contains(&offset), "{offset}");
            *per_minute.entry(offset / 60).or_default() += 1;
            seconds.insert(offset);
        }
        // Uniform: every minute of the hour is used, none gets more than ~2.5x its share (16.7),
        // and ids rarely collide on the same second (about 873 distinct expected).
        assert_eq!(per_minute.len(), 60, "{per_minute:?}");
        assert!(per_minute.values().all(|n| *n <= 40), "{per_minute:?}");
        assert!(seconds.len() >= 800, "{}", seconds.len());
    }

    #[test]
    fn jitter_spreads_inside_the_window() {
        let t = timing(&[
            ("interval", "7d"),
            ("window", "02:00-05:00"),
            ("jitter", "3h"),
        ]);
        let from = at("2025-01-01T12:00:00Z");
        let mut minutes = BTreeSet::new();
        for i in 0..1000 {
            let next = t.next_after(&id(&format!("secret-{i}")), from).unwrap();
            assert!(t.window().unwrap().contains(next), "{next}");
            assert_eq!(next.date_naive(), at("2025-01-09T00:00:00Z").date_naive());
            minutes.insert(next.hour() * 60 + next.minute());
        }
        assert!(minutes.len() >= 170, "{}", minutes.len());
        // A jitter longer than the window wraps modulo its length.
        let t = timing(&[
            ("interval", "7d"),
            ("window", "02:00-03:00"),
            ("jitter", "5h"),
        ]);
        for i in 0..100 {
            let next = t.next_after(&id(&format!("s{i}")), from).unwrap();
            assert!(t.window().unwrap().contains(next), "{next}");
        }
        // When the due time is inside the window after the secret's slot, the start is spread
        // over the rest of the window, never before the due time.
        let t = timing(&[
            ("interval", "1d"),
            ("window", "02:00-05:00"),
            ("jitter", "3h"),
        ]);
        let from = at("2025-01-01T04:00:00Z");
        for i in 0..100 {
            let next = t.next_after(&id(&format!("s{i}")), from).unwrap();
            assert!(next >= at("2025-01-02T04:00:00Z") && next < at("2025-01-02T05:00:00Z"));
        }
    }

    #[test]
    fn cron_in_utc() {
        let t = timing(&[("cron", "30 2 * * *")]);
        assert_eq!(t.cadence().nominal_interval(), Some(DAY));
        assert_eq!(
            t.next_after(&id("a"), at("2025-01-01T00:00:00Z")),
            Some(at("2025-01-01T02:30:00Z"))
        );
        // Strictly after `from`, also with a fraction of a second past the occurrence.
        assert_eq!(
            t.next_after(&id("a"), at("2025-01-01T02:30:00Z")),
            Some(at("2025-01-02T02:30:00Z"))
        );
        assert_eq!(
            t.next_after(&id("a"), at("2025-01-01T02:30:00.5Z")),
            Some(at("2025-01-02T02:30:00Z"))
        );
        // Jitter is added after the occurrence, and rescheduling from the jittered time does
        // not skip or drift.
        let t = timing(&[("cron", "30 2 * * *"), ("jitter", "1h")]);
        let a = id("a");
        let first = t.next_after(&a, at("2025-01-01T00:00:00Z")).unwrap();
        let offset = TimeDelta::from_std(t.jitter_offset(&a)).unwrap();
        assert_eq!(first, at("2025-01-01T02:30:00Z") + offset);
        assert_eq!(
            t.next_after(&a, first),
            Some(at("2025-01-02T02:30:00Z") + offset)
        );
    }

    #[test]
    fn cron_follows_berlin_dst() {
        let t = timing(&[("cron", "0 9 * * *"), ("timezone", "Europe/Berlin")]);
        let a = id("a");
        // 09:00 CET is 08:00 UTC; 09:00 CEST (from 2025-03-30) is 07:00 UTC.
        assert_eq!(
            t.next_after(&a, at("2025-03-29T00:00:00Z")),
            Some(at("2025-03-29T08:00:00Z"))
        );
        assert_eq!(
            t.next_after(&a, at("2025-03-29T08:00:00Z")),
            Some(at("2025-03-30T07:00:00Z"))
        );
        // Back to CET on 2025-10-26.
        assert_eq!(
            t.next_after(&a, at("2025-10-25T07:00:00Z")),
            Some(at("2025-10-26T08:00:00Z"))
        );

        // 02:30 does not exist on 2025-03-30 (02:00 CET -> 03:00 CEST): it runs right after the
        // gap, at 03:00 CEST, instead of being skipped.
        let t = timing(&[("cron", "30 2 * * *"), ("timezone", "Europe/Berlin")]);
        assert_eq!(
            t.next_after(&a, at("2025-03-29T12:00:00Z")),
            Some(at("2025-03-30T01:00:00Z"))
        );
        assert_eq!(
            t.next_after(&a, at("2025-03-30T01:00:00Z")),
            Some(at("2025-03-31T00:30:00Z"))
        );
        // 02:30 happens twice on 2025-10-26 (03:00 CEST -> 02:00 CET): it runs once, at the
        // first one (00:30 UTC), and next on the 27th at 02:30 CET.
        assert_eq!(
            t.next_after(&a, at("2025-10-25T12:00:00Z")),
            Some(at("2025-10-26T00:30:00Z"))
        );
        assert_eq!(
            t.next_after(&a, at("2025-10-26T00:30:00Z")),
            Some(at("2025-10-27T01:30:00Z"))
        );
    }

    #[test]
    fn windows_follow_dst() {
        let t = timing(&[
            ("interval", "1d"),
            ("timezone", "Europe/Berlin"),
            ("window", "02:00-05:00"),
        ]);
        let a = id("a");
        // A normal winter day: 02:00 CET = 01:00 UTC.
        assert_eq!(
            t.next_after(&a, at("2025-03-27T12:00:00Z")),
            Some(at("2025-03-29T01:00:00Z"))
        );
        // 2025-03-30: 02:00 does not exist; the window opens at 03:00 CEST = 01:00 UTC and
        // closes at 05:00 CEST = 03:00 UTC.
        assert_eq!(
            t.next_after(&a, at("2025-03-28T12:00:00Z")),
            Some(at("2025-03-30T01:00:00Z"))
        );
        let w = t.window().unwrap();
        assert!(!w.contains(at("2025-03-30T00:59:00Z")));
        assert!(w.contains(at("2025-03-30T02:59:00Z")));
        assert!(!w.contains(at("2025-03-30T03:00:00Z")));
        // Summer: 02:00 CEST = 00:00 UTC.
        assert_eq!(
            t.next_after(&a, at("2025-06-01T12:00:00Z")),
            Some(at("2025-06-03T00:00:00Z"))
        );
        // Cron and window in the same zone.
        let t = timing(&[
            ("cron", "0 1 * * *"),
            ("timezone", "Europe/Berlin"),
            ("window", "02:00-05:00"),
        ]);
        assert_eq!(
            t.next_after(&a, at("2025-06-01T12:00:00Z")),
            Some(at("2025-06-02T00:00:00Z"))
        );
    }

    #[test]
    fn retry_backoff_doubles_and_caps() {
        let t = timing(&[("interval", "30d"), ("retry_backoff", "1m")]);
        let now = at("2025-01-01T00:00:00Z");
        let a = id("a");
        let delay = |failures| (t.retry_at(&a, failures, now) - now).to_std().unwrap();
        for (failures, base) in [
            (0, MIN),
            (1, MIN),
            (2, 2 * MIN),
            (3, 4 * MIN),
            (10, 512 * MIN),
        ] {
            let d = delay(failures);
            assert!(d >= base && d < base + base / 10, "{failures}: {d:?}");
        }
        // Capped at 24h (plus at most 10%), also for absurd failure counts.
        for failures in [12, 40, 64, 200, u32::MAX] {
            let d = delay(failures);
            assert!(d >= DAY && d < DAY + DAY / 10, "{failures}: {d:?}");
        }
        // Capped at the interval.
        let t = timing(&[("interval", "1h"), ("retry_backoff", "10m")]);
        let d = (t.retry_at(&a, 5, now) - now).to_std().unwrap();
        assert!(d >= HOUR && d < HOUR + HOUR / 10, "{d:?}");
        // Deterministic, and different secrets spread.
        let t = timing(&[("interval", "30d"), ("retry_backoff", "10m")]);
        assert_eq!(t.retry_at(&a, 3, now), t.retry_at(&a, 3, now));
        let distinct: BTreeSet<_> = (0..100)
            .map(|i| t.retry_at(&id(&format!("s{i}")), 3, now))
            .collect();
        assert!(distinct.len() > 50, "{}", distinct.len());
        // Manual policies still retry.
        let t = timing(&[]);
        let d = (t.retry_at(&a, 1, now) - now).to_std().unwrap();
        assert!(d >= MIN && d < MIN + MIN / 10);
    }

    #[test]
    fn retries_respect_the_window() {
        let t = timing(&[("interval", "1d"), ("window", "02:00-05:00")]);
        let a = id("a");
        // Inside: plain backoff.
        let r = t.retry_at(&a, 1, at("2025-01-01T03:00:00Z"));
        assert!(r >= at("2025-01-01T03:01:00Z") && r < at("2025-01-01T03:01:06Z"));
        // Would start after the window closes: next window.
        assert_eq!(
            t.retry_at(&a, 1, at("2025-01-01T04:59:30Z")),
            at("2025-01-02T02:00:00Z")
        );
    }

    #[test]
    fn fingerprint_tracks_the_configuration() {
        let base = [
            ("cron", "30 2 * * *"),
            ("timezone", "Europe/Berlin"),
            ("jitter", "10m"),
        ];
        let t = timing(&base);
        assert_eq!(
            t.fingerprint(),
            "timing/v1 cron=\"30 2 * * *\" tz=Europe/Berlin jitter=10m retry_backoff=1m"
        );
        assert_eq!(t.fingerprint(), timing(&base).fingerprint());
        assert_eq!(
            t.fingerprint(),
            timing(&[
                ("cron", " 30  2 * * * "),
                ("timezone", "Europe/Berlin"),
                ("jitter", "600s")
            ])
            .fingerprint()
        );
        let others = [
            timing(&[
                ("cron", "30 3 * * *"),
                ("timezone", "Europe/Berlin"),
                ("jitter", "10m"),
            ]),
            timing(&[
                ("cron", "30 2 * * *"),
                ("timezone", "UTC"),
                ("jitter", "10m"),
            ]),
            timing(&[("cron", "30 2 * * *"), ("timezone", "Europe/Berlin")]),
            timing(&[
                ("cron", "30 2 * * *"),
                ("timezone", "Europe/Berlin"),
                ("jitter", "10m"),
                ("window", "02:00-05:00"),
            ]),
            timing(&[
                ("cron", "30 2 * * *"),
                ("timezone", "Europe/Berlin"),
                ("jitter", "10m"),
                ("retry_backoff", "5m"),
            ]),
        ];
        let mut all: BTreeSet<String> = others.iter().map(Timing::fingerprint).collect();
        all.insert(t.fingerprint());
        assert_eq!(all.len(), others.len() + 1, "{all:?}");
        assert_eq!(
            timing(&[("interval", "30d"), ("window", "22:00-02:00")]).fingerprint(),
            "timing/v1 every=30days window=22:00-02:00@UTC jitter=0s retry_backoff=1m"
        );
        assert_eq!(
            timing(&[]).fingerprint(),
            "timing/v1 manual jitter=0s retry_backoff=1m"
        );
        assert_eq!(
            timing(&[]).fingerprint(),
            timing(&[("interval", "0")]).fingerprint()
        );
    }
}
