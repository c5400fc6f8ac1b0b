//! Prometheus metrics of the rotation daemon, served as OpenMetrics text.
//!
//! Labels carry only secret ids, status, strategy, store kind and emergency indicators: never a
//! secret value or a store path.

use std::borrow::Cow;
use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use rotation_core::{RotationResult, SecretId};

/// Upper bounds (seconds) of the duration histogram: a local file store answers in about a
/// millisecond, a slow verifier against a remote target can take minutes.
const DURATION_BUCKETS: [f64; 17] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

/// A gauge holding a float (Unix timestamps in seconds).
type FloatGauge = Gauge<f64, AtomicU64>;

/// Labels of `rotation_rotations_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RotationLabels {
    status: String,
    strategy: String,
    store: String,
}

/// Labels of `rotation_duration_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DurationLabels {
    strategy: String,
    store: String,
}

/// Labels of the per-secret timestamp gauges.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SecretLabels {
    secret: String,
}

/// Labels of `rotation_emergencies_total`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct IndicatorLabels {
    indicator: String,
}

/// Labels of `rotation_reminders`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReminderLabels {
    state: String,
}

/// The daemon's metrics and the registry that renders them.
///
/// Every method takes `&self` (the metric handles are atomics or internally locked), so one
/// instance is shared in an `Arc` between the scheduler and the HTTP server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    rotations: Family<RotationLabels, Counter>,
    duration: Family<DurationLabels, Histogram>,
    last_success: Family<SecretLabels, FloatGauge>,
    next_due: Family<SecretLabels, FloatGauge>,
    in_progress: Gauge,
    quarantined: Gauge,
    recoveries: Counter,
    emergencies: Family<IndicatorLabels, Counter>,
    reminders: Family<ReminderLabels, Gauge>,
    audit_broken: Gauge,
}

impl Metrics {
    /// The Content-Type to serve [`Metrics::render`] with.
    pub const CONTENT_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// Fresh metrics, all registered (counters at zero, no per-secret series yet).
    pub fn new() -> Self {
        let rotations = Family::<RotationLabels, Counter>::default();
        let duration = Family::<DurationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(DURATION_BUCKETS)
        });
        let last_success = Family::<SecretLabels, FloatGauge>::default();
        let next_due = Family::<SecretLabels, FloatGauge>::default();
        let in_progress = Gauge::default();
        let quarantined = Gauge::default();
        let recoveries = Counter::default();
        let emergencies = Family::<IndicatorLabels, Counter>::default();
        let reminders = Family::<ReminderLabels, Gauge>::default();
        let audit_broken = Gauge::default();

        // The encoder appends `_total` to counters and the unit to unit-bearing metrics, so the
        // names registered here are the exposed names without those suffixes.
        let mut registry = Registry::default();
        registry.register(
            "rotation_rotations",
            "Finished rotations by final status, strategy and store kind",
            rotations.clone(),
        );
        registry.register_with_unit(
            "rotation_duration",
            "Duration of finished rotations",
            Unit::Seconds,
            duration.clone(),
        );
        registry.register_with_unit(
            "rotation_last_success_timestamp",
            "Unix time of the last successful rotation of a secret",
            Unit::Seconds,
            last_success.clone(),
        );
        registry.register_with_unit(
            "rotation_next_due_timestamp",
            "Unix time a secret is next due for rotation",
            Unit::Seconds,
            next_due.clone(),
        );
        registry.register(
            "rotation_in_progress",
            "Rotations currently running",
            in_progress.clone(),
        );
        registry.register(
            "rotation_quarantined",
            "Secrets quarantined after repeated failures",
            quarantined.clone(),
        );
        registry.register(
            "rotation_recoveries",
            "Interrupted rotations recovered from the journal",
            recoveries.clone(),
        );
        registry.register(
            "rotation_emergencies",
            "Emergency rotations by compromise indicator",
            emergencies.clone(),
        );
        registry.register(
            "rotation_reminders",
            "Secrets overdue (state=overdue) or due within their policy's remind_before \
             (state=due_soon), as of the last reminder sweep",
            reminders.clone(),
        );
        registry.register(
            "rotation_audit_chain_broken",
            "1 while the audit log's hash chain has a break no repair acknowledged (writing \
             API calls and scheduled rotations are held), else 0",
            audit_broken.clone(),
        );

        Self {
            registry,
            rotations,
            duration,
            last_success,
            next_due,
            in_progress,
            quarantined,
            recoveries,
            emergencies,
            reminders,
            audit_broken,
        }
    }

    /// Sets `rotation_audit_chain_broken`.
    pub fn set_audit_broken(&self, broken: bool) {
        self.audit_broken.set(i64::from(broken));
    }

    /// Sets `rotation_reminders{state="overdue"}` and `{state="due_soon"}`.
    pub fn set_reminders(&self, overdue: i64, due_soon: i64) {
        for (state, n) in [("overdue", overdue), ("due_soon", due_soon)] {
            self.reminders
                .get_or_create(&ReminderLabels {
                    state: state.to_owned(),
                })
                .set(n);
        }
    }

    /// A finished rotation: counts `rotation_rotations_total{status,strategy,store}`, observes
    /// `rotation_duration_seconds{strategy,store}` and, on success, sets
    /// `rotation_last_success_timestamp_seconds{secret}` to `result.completed_at`.
    ///
    /// `store_kind` is the store's kind (`vault`, `aws`, `file`, ...), never its path.
    pub fn record(&self, result: &RotationResult, store_kind: &str) {
        let status = result.status.as_str();
        let strategy = result.strategy.as_str();
        let store = escape(store_kind);
        self.rotations
            .get_or_create(&RotationLabels {
                status: status.to_owned(),
                strategy: strategy.to_owned(),
                store: store.clone().into_owned(),
            })
            .inc();
        // `max` also maps NaN to 0 so one bad measurement cannot poison the histogram's sum.
        let seconds = (result.duration_ms / 1000.0).max(0.0);
        self.duration
            .get_or_create(&DurationLabels {
                strategy: strategy.to_owned(),
                store: store.into_owned(),
            })
            .observe(seconds);
        if result.success {
            self.last_success
                .get_or_create(&secret_labels(&result.secret))
                .set(unix_seconds(result.completed_at));
        }
    }

    /// Sets `rotation_next_due_timestamp_seconds{secret}`; `None` removes the series (the secret
    /// is manual-only or disabled, so there is no due time to alert on).
    pub fn set_next_due(&self, secret: &SecretId, at: Option<DateTime<Utc>>) {
        let labels = secret_labels(secret);
        match at {
            Some(at) => {
                self.next_due.get_or_create(&labels).set(unix_seconds(at));
            }
            None => {
                self.next_due.remove(&labels);
            }
        }
    }

    /// Sets the `rotation_in_progress` gauge.
    pub fn set_in_progress(&self, n: i64) {
        self.in_progress.set(n);
    }

    /// Sets the `rotation_quarantined` gauge.
    pub fn set_quarantined(&self, n: i64) {
        self.quarantined.set(n);
    }

    /// Adds `n` to the `rotation_recoveries_total` counter.
    pub fn add_recoveries(&self, n: u64) {
        self.recoveries.inc_by(n);
    }

    /// Counts one emergency rotation in `rotation_emergencies_total{indicator}`.
    pub fn emergency(&self, indicator: &str) {
        self.emergencies
            .get_or_create(&IndicatorLabels {
                indicator: escape(indicator).into_owned(),
            })
            .inc();
    }

    /// The text exposition (OpenMetrics text format as prometheus-client encodes it), ending
    /// with `# EOF`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Only the writer can fail, and writing to a String cannot.
        encode(&mut out, &self.registry).expect("encoding metrics into a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn secret_labels(secret: &SecretId) -> SecretLabels {
    SecretLabels {
        secret: escape(secret.as_str()).into_owned(),
    }
}

/// Seconds since the Unix epoch, with millisecond precision (exact in an f64 for any
/// plausible date).
fn unix_seconds(at: DateTime<Utc>) -> f64 {
    at.timestamp_millis() as f64 / 1000.0
}

/// OpenMetrics label-value escaping. prometheus-client 0.23 writes label values verbatim, so a
/// quote or newline in an indicator (or an id built outside the config validation) would
/// otherwise break the whole exposition.
fn escape(value: &str) -> Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rotation_core::{RotationId, RotationStatus, RotationStrategy, VersionId};

    use super::*;

    fn result(secret: &str, status: RotationStatus, duration_ms: f64) -> RotationResult {
        let success = status == RotationStatus::Success;
        let started_at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        RotationResult {
            rotation_id: RotationId::generate(),
            secret: SecretId::new(secret),
            success,
            status,
            strategy: RotationStrategy::Staged,
            old_version: Some(VersionId::new("1")),
            new_version: Some(VersionId::new("2")),
            started_at,
            completed_at: started_at + chrono::Duration::milliseconds(250),
            duration_ms,
            verification_passed: success,
            rollback_performed: status == RotationStatus::RolledBack,
            attempts: 1,
            error: (!success).then(|| "verifier db failed".to_owned()),
            error_kind: None,
            revoked: false,
            revoke_error: None,
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn records_results_and_schedule() {
        let m = Metrics::new();
        m.record(
            &result("db-password", RotationStatus::Success, 250.0),
            "vault",
        );
        m.record(
            &result("api-key", RotationStatus::RolledBack, 1500.0),
            "vault",
        );
        let due = Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap();
        m.set_next_due(&SecretId::new("db-password"), Some(due));
        m.set_in_progress(2);
        m.set_quarantined(1);
        m.add_recoveries(3);
        m.emergency("leaked_in_logs");
        m.set_reminders(2, 5);

        let text = m.render();
        let l = lines(&text);
        for expected in [
            r#"rotation_rotations_total{status="success",strategy="staged",store="vault"} 1"#,
            r#"rotation_rotations_total{status="rolled_back",strategy="staged",store="vault"} 1"#,
            r#"rotation_duration_seconds_count{strategy="staged",store="vault"} 2"#,
            r#"rotation_duration_seconds_sum{strategy="staged",store="vault"} 1.75"#,
            r#"rotation_duration_seconds_bucket{le="0.001",strategy="staged",store="vault"} 0"#,
            r#"rotation_duration_seconds_bucket{le="0.25",strategy="staged",store="vault"} 1"#,
            r#"rotation_duration_seconds_bucket{le="2.5",strategy="staged",store="vault"} 2"#,
            r#"rotation_duration_seconds_bucket{le="300.0",strategy="staged",store="vault"} 2"#,
            r#"rotation_duration_seconds_bucket{le="+Inf",strategy="staged",store="vault"} 2"#,
            // 2024-05-01T12:00:00.250Z
            r#"rotation_last_success_timestamp_seconds{secret="db-password"} 1714564800.25"#,
            // 2024-06-01T00:00:00Z
            r#"rotation_next_due_timestamp_seconds{secret="db-password"} 1717200000.0"#,
            "rotation_in_progress 2",
            "rotation_quarantined 1",
            "rotation_recoveries_total 3",
            r#"rotation_emergencies_total{indicator="leaked_in_logs"} 1"#,
            r#"rotation_reminders{state="overdue"} 2"#,
            r#"rotation_reminders{state="due_soon"} 5"#,
            "# TYPE rotation_duration_seconds histogram",
            "# UNIT rotation_duration_seconds seconds",
        ] {
            assert!(l.contains(&expected), "missing {expected:?} in:\n{text}");
        }
        // A rolled-back rotation is not a success.
        assert!(!text.contains(r#"secret="api-key""#), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn next_due_none_removes_the_series() {
        let m = Metrics::default();
        let id = SecretId::new("db-password");
        let due = Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap();
        m.set_next_due(&id, Some(due));
        assert!(
            m.render()
                .contains(r#"rotation_next_due_timestamp_seconds{secret="db-password"}"#)
        );

        m.set_next_due(&id, None);
        let text = m.render();
        assert!(!text.contains(r#"secret="db-password""#), "{text}");
        // The descriptor stays, so dashboards still see the metric exists.
        assert!(text.contains("# TYPE rotation_next_due_timestamp_seconds gauge"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.emergency("say \"hi\"\\\nbye");
        let text = m.render();
        assert!(
            text.contains(r#"rotation_emergencies_total{indicator="say \"hi\"\\\nbye"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn empty_metrics_render_and_are_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Metrics>();
        let text = Metrics::new().render();
        assert!(text.contains("rotation_in_progress 0"));
        assert!(text.contains("rotation_recoveries_total 0"));
        assert!(text.ends_with("# EOF\n"));
    }
}
