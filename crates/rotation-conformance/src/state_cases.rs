//! State store contract cases: each is a plain async function over `&dyn StateStore`.
//!
//! Every case names its secrets with a random suffix and uses its own time window, so one store
//! may serve all cases, even concurrently. Times carry nanoseconds so a backend that rounds them
//! fails. Only [`counts_add_and_reset`] touches store-wide state.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rotation_core::machine::{Plan, RotationState, Step};
use rotation_core::{
    ErrorKind, Lease, RotationId, RotationStatus, RotationStrategy, ScheduleRecord, SecretId,
    StateStore, StoredCounts, VersionId,
};

/// A fresh prefix for one case's ids.
fn prefix(case: &str) -> String {
    let n: u64 = rand::random();
    format!("state-{case}-{n:016x}")
}

fn secret(case: &str) -> SecretId {
    SecretId::new(prefix(case))
}

/// A time far in the past, random per call (whole minutes plus 123456789 ns), as a base for a
/// case's own window.
fn base() -> DateTime<Utc> {
    let minutes: i64 = rand::random_range(0..5_000_000);
    DateTime::from_timestamp(631_152_000 + minutes * 60, 123_456_789).expect("base time")
}

fn secs(s: i64) -> TimeDelta {
    TimeDelta::seconds(s)
}

fn mins(m: i64) -> TimeDelta {
    TimeDelta::minutes(m)
}

fn ns(n: i64) -> TimeDelta {
    TimeDelta::nanoseconds(n)
}

fn state(secret: &SecretId) -> RotationState {
    let plan = Plan {
        strategy: RotationStrategy::Staged,
        has_target: true,
        verify: true,
        auto_rollback: true,
        create_if_missing: false,
        revoke_old: false,
    };
    RotationState::new(RotationId::generate(), secret.clone(), plan)
}

fn done(mut s: RotationState) -> RotationState {
    s.step = Step::Done;
    s.outcome = Some(RotationStatus::Success);
    s
}

async fn acquire(
    store: &dyn StateStore,
    secret: &SecretId,
    holder: &str,
    ttl_secs: u64,
    now: DateTime<Utc>,
) -> Option<Lease> {
    store
        .acquire_lease(secret, holder, Duration::from_secs(ttl_secs), now)
        .await
        .expect("acquire lease")
}

async fn lease_of(store: &dyn StateStore, secret: &SecretId) -> Option<Lease> {
    store.lease(secret).await.expect("read lease")
}

/// `record` upserts by rotation id and `rotation` reads the last record back.
pub async fn journal_upsert_round_trip(store: &dyn StateStore) {
    let s = secret("journal");
    let mut st = state(&s);
    store.record(&st).await.expect("record");
    assert_eq!(
        store.rotation(&st.rotation_id).await.expect("read"),
        Some(st.clone())
    );

    st.step = Step::Verify;
    st.old_version = Some(VersionId::new("7"));
    st.new_version = Some(VersionId::new("8"));
    st.staged = true;
    st.undo = vec![Step::RevertTarget, Step::DiscardPending];
    st.error = Some("verifier «db» said no".to_owned());
    st.error_kind = Some(ErrorKind::Verification);
    store.record(&st).await.expect("record again");
    assert_eq!(
        store.rotation(&st.rotation_id).await.expect("read"),
        Some(st.clone())
    );

    let unknown = RotationId::generate();
    assert_eq!(store.rotation(&unknown).await.expect("read unknown"), None);
}

/// `unfinished` lists every rotation not `Done`, in first-record order; upserts keep the order.
pub async fn unfinished_is_oldest_first_without_done(store: &dyn StateStore) {
    let s = secret("unfinished");
    let r: Vec<RotationState> = (0..4).map(|_| state(&s)).collect();
    for st in &r {
        store.record(st).await.expect("record");
    }
    let mut first = r[0].clone();
    first.step = Step::Stage;
    first.staged = true;
    store.record(&first).await.expect("update first");
    let finished = done(r[1].clone());
    store.record(&finished).await.expect("finish second");

    let ours: Vec<RotationState> = store
        .unfinished()
        .await
        .expect("unfinished")
        .into_iter()
        .filter(|st| st.secret == s)
        .collect();
    assert_eq!(ours, vec![first, r[2].clone(), r[3].clone()]);
    assert_eq!(
        store
            .rotation(&finished.rotation_id)
            .await
            .expect("read done"),
        Some(finished)
    );

    let last = done(r[3].clone());
    store.record(&last).await.expect("finish last");
    let ids: Vec<RotationId> = store
        .unfinished()
        .await
        .expect("unfinished")
        .into_iter()
        .filter(|st| st.secret == s)
        .map(|st| st.rotation_id)
        .collect();
    assert_eq!(
        ids,
        vec![r[0].rotation_id.clone(), r[2].rotation_id.clone()]
    );
}

/// A second acquisition is refused while the lease is unexpired (to the nanosecond), other
/// secrets are independent, and at `expires_at` the lease may be taken over.
pub async fn lease_is_exclusive_until_expiry(store: &dyn StateStore) {
    let s = secret("lease-exclusive");
    let t0 = base();
    let l1 = acquire(store, &s, "holder-a", 30, t0)
        .await
        .expect("first acquire");
    assert_eq!(l1.secret, s);
    assert_eq!(l1.holder, "holder-a");
    assert!(l1.token > 0);
    assert_eq!(l1.expires_at, t0 + secs(30));
    assert_eq!(lease_of(store, &s).await, Some(l1.clone()));

    assert_eq!(acquire(store, &s, "holder-b", 30, t0).await, None);
    assert_eq!(
        acquire(store, &s, "holder-a", 30, t0 + secs(10)).await,
        None
    );
    assert_eq!(
        acquire(store, &s, "holder-b", 30, l1.expires_at - ns(1)).await,
        None
    );
    assert_eq!(lease_of(store, &s).await, Some(l1.clone()));

    let other = secret("lease-exclusive-other");
    let lo = acquire(store, &other, "holder-b", 30, t0).await;
    assert!(lo.is_some(), "another secret's lease is independent");

    let l2 = acquire(store, &s, "holder-b", 30, l1.expires_at)
        .await
        .expect("taken over at expiry");
    assert!(l2.token > l1.token);
    assert_eq!(lease_of(store, &s).await, Some(l2));
}

/// An expired lease is taken over with a higher token, and the new lease is exclusive.
pub async fn expired_lease_is_taken_over_with_higher_token(store: &dyn StateStore) {
    let s = secret("lease-takeover");
    let t0 = base();
    let l1 = acquire(store, &s, "holder-a", 10, t0)
        .await
        .expect("acquire");
    let l2 = acquire(store, &s, "holder-b", 60, t0 + secs(11))
        .await
        .expect("take over");
    assert!(l2.token > l1.token, "{} > {}", l2.token, l1.token);
    assert_eq!(l2.holder, "holder-b");
    assert_eq!(l2.expires_at, t0 + secs(71));
    assert_eq!(lease_of(store, &s).await, Some(l2.clone()));
    assert_eq!(
        acquire(store, &s, "holder-a", 10, t0 + secs(12)).await,
        None
    );
}

/// Renewing with a stale token is a conflict and changes nothing; the holder renews.
pub async fn renew_with_stale_token_conflicts(store: &dyn StateStore) {
    let s = secret("lease-renew");
    let t0 = base();
    let l1 = acquire(store, &s, "holder-a", 10, t0)
        .await
        .expect("acquire");
    let renewed = store
        .renew_lease(&l1, Duration::from_secs(20), t0 + secs(5))
        .await
        .expect("renew own lease");
    assert_eq!(renewed.token, l1.token);
    assert_eq!(renewed.holder, "holder-a");
    assert_eq!(renewed.expires_at, t0 + secs(25));
    assert_eq!(
        acquire(store, &s, "holder-b", 10, t0 + secs(20)).await,
        None
    );

    let l2 = acquire(store, &s, "holder-b", 10, t0 + secs(26))
        .await
        .expect("take over");
    let err = store
        .renew_lease(&l1, Duration::from_secs(60), t0 + secs(27))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(lease_of(store, &s).await, Some(l2.clone()));

    let late = t0 + secs(100) + ns(7);
    let l2b = store
        .renew_lease(&l2, Duration::from_secs(60), late)
        .await
        .expect("an expired lease nobody took over is still held by its token");
    assert_eq!((l2b.token, l2b.expires_at), (l2.token, late + secs(60)));
    assert_eq!(lease_of(store, &s).await, Some(l2b.clone()));

    store.release_lease(&l2b).await.expect("release");
    let err = store
        .renew_lease(&l2b, Duration::from_secs(60), late)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert_eq!(lease_of(store, &s).await, None);
}

/// Releasing with a stale token keeps the new holder's lease; release is idempotent.
pub async fn release_with_stale_token_keeps_new_holder(store: &dyn StateStore) {
    let s = secret("lease-release");
    let t0 = base();
    let l1 = acquire(store, &s, "holder-a", 10, t0)
        .await
        .expect("acquire");
    let l2 = acquire(store, &s, "holder-b", 10, t0 + secs(11))
        .await
        .expect("take over");
    store.release_lease(&l1).await.expect("stale release");
    assert_eq!(lease_of(store, &s).await, Some(l2.clone()));
    assert_eq!(
        acquire(store, &s, "holder-c", 10, t0 + secs(12)).await,
        None
    );

    store.release_lease(&l2).await.expect("release");
    assert_eq!(lease_of(store, &s).await, None);
    store.release_lease(&l2).await.expect("release again");
    store.release_lease(&l1).await.expect("stale release again");
    assert_eq!(lease_of(store, &s).await, None);
}

/// Tokens strictly increase across release and re-acquisition.
pub async fn token_increases_after_release(store: &dyn StateStore) {
    let s = secret("lease-token");
    let t0 = base();
    let mut last = 0;
    for i in 0..4 {
        let l = acquire(store, &s, "holder-a", 30, t0 + secs(i))
            .await
            .expect("acquire after release");
        assert!(l.token > last, "token {} after {last}", l.token);
        last = l.token;
        store.release_lease(&l).await.expect("release");
        assert_eq!(lease_of(store, &s).await, None);
    }
}

/// `put_schedule` upserts by secret; `schedule` and `schedules` read every field back exactly.
pub async fn schedule_round_trip_and_list(store: &dyn StateStore) {
    let p = prefix("schedule");
    let t = |s: &str| -> DateTime<Utc> { s.parse().expect("time") };
    let full = ScheduleRecord {
        secret: SecretId::new(format!("{p}-a")),
        policy: "monthly «db»".to_owned(),
        spec: "sha256:0123".to_owned(),
        enabled: false,
        paused: true,
        quarantined: true,
        next_rotation: Some(t("2199-03-04T05:06:07.000000001Z")),
        last_rotation: Some(t("1969-12-31T23:59:59.999999999Z")),
        last_status: Some(RotationStatus::RolledBack),
        last_success: Some(t("2024-01-02T03:04:05.678901234Z")),
        rotation_count: 1 << 40,
        consecutive_failures: 7,
        reminded_for: Some(t("2199-03-04T05:06:07.000000001Z")),
        reminded_overdue: true,
    };
    let minimal = ScheduleRecord::new(SecretId::new(format!("{p}-b")), "daily", "s1", None);
    store.put_schedule(&minimal).await.expect("put minimal");
    store.put_schedule(&full).await.expect("put full");
    assert_eq!(
        store.schedule(&full.secret).await.expect("get"),
        Some(full.clone())
    );
    assert_eq!(
        store.schedule(&minimal.secret).await.expect("get"),
        Some(minimal.clone())
    );

    let mut changed = full.clone();
    changed.policy = "weekly".to_owned();
    changed.enabled = true;
    changed.paused = false;
    changed.quarantined = false;
    changed.next_rotation = None;
    changed.last_status = None;
    changed.last_success = None;
    changed.rotation_count = 0;
    store.put_schedule(&changed).await.expect("upsert");
    assert_eq!(
        store.schedule(&full.secret).await.expect("get"),
        Some(changed.clone())
    );

    let ours: Vec<ScheduleRecord> = store
        .schedules()
        .await
        .expect("list")
        .into_iter()
        .filter(|r| r.secret.as_str().starts_with(&p))
        .collect();
    assert_eq!(ours, vec![changed, minimal]);
    let unknown = SecretId::new(format!("{p}-unknown"));
    assert_eq!(store.schedule(&unknown).await.expect("get unknown"), None);
}

/// `due_schedules` returns enabled, unpaused, unquarantined schedules with
/// `next_rotation <= now`, earliest first (ties by secret id), at most `limit`, and follows
/// upserts.
pub async fn due_schedules_filter_order_and_limit(store: &dyn StateStore) {
    let p = prefix("due");
    let t0 = base();
    let now = t0 + mins(10);
    let rec = |name: &str, next: Option<DateTime<Utc>>| {
        ScheduleRecord::new(SecretId::new(format!("{p}-{name}")), "pol", "spec", next)
    };
    let a = rec("a", Some(t0 + mins(1)));
    let b = rec("b", Some(t0 + mins(3)));
    let c1 = rec("c1", Some(t0 + mins(2)));
    let c2 = rec("c2", Some(t0 + mins(2)));
    let mut d = rec("d", Some(t0));
    d.enabled = false;
    let mut e = rec("e", Some(t0));
    e.paused = true;
    let mut f = rec("f", Some(t0));
    f.quarantined = true;
    let g = rec("g", None);
    let h = rec("h", Some(now + ns(1)));
    let i = rec("i", Some(now));
    let j = rec("j", Some(t0 + mins(5)));
    let k = rec("k", None);
    for r in [&c2, &b, &a, &c1, &d, &e, &f, &g, &h, &i] {
        store.put_schedule(r).await.expect("put");
    }
    // j moves into the window, k out of it: upserts re-index.
    store
        .put_schedule(&rec("j", Some(now + mins(60))))
        .await
        .expect("put j");
    store.put_schedule(&j).await.expect("move j");
    store
        .put_schedule(&rec("k", Some(t0 + mins(4))))
        .await
        .expect("put k");
    store.put_schedule(&k).await.expect("unschedule k");

    let mine = |v: Vec<ScheduleRecord>| -> Vec<ScheduleRecord> {
        v.into_iter()
            .filter(|r| r.secret.as_str().starts_with(&p))
            .collect()
    };
    let all_due = store.due_schedules(now, 100_000).await.expect("due");
    assert!(all_due.iter().all(|r| r.is_due(now)));
    let expected = vec![
        a.clone(),
        c1.clone(),
        c2.clone(),
        b.clone(),
        j.clone(),
        i.clone(),
    ];
    assert_eq!(mine(all_due.clone()), expected);

    let three = store.due_schedules(now, 3).await.expect("due limited");
    assert_eq!(three.len(), 3);
    assert_eq!(three, all_due[..3].to_vec());
    assert!(store.due_schedules(now, 0).await.expect("due 0").is_empty());
    let early = store
        .due_schedules(t0 + mins(2), 100_000)
        .await
        .expect("due early");
    assert_eq!(mine(early), vec![a.clone(), c1.clone(), c2.clone()]);
    let before = store
        .due_schedules(t0 + mins(1) - ns(1), 100_000)
        .await
        .expect("due before");
    assert!(mine(before).is_empty());

    let mut a_paused = a.clone();
    a_paused.paused = true;
    store.put_schedule(&a_paused).await.expect("pause a");
    let mut f_resumed = f.clone();
    f_resumed.quarantined = false;
    store.put_schedule(&f_resumed).await.expect("resume f");
    let after = store.due_schedules(now, 100_000).await.expect("due after");
    assert_eq!(mine(after), vec![f_resumed, c1, c2, b, j, i]);
}

/// `delete_schedule` removes a schedule from every view and reports whether it existed.
pub async fn delete_schedule_reports_existence(store: &dyn StateStore) {
    let p = prefix("delete");
    let t0 = base();
    let r = ScheduleRecord::new(SecretId::new(format!("{p}-a")), "pol", "spec", Some(t0));
    let keep = ScheduleRecord::new(SecretId::new(format!("{p}-b")), "pol", "spec", Some(t0));
    store.put_schedule(&r).await.expect("put");
    store.put_schedule(&keep).await.expect("put");
    assert!(store.delete_schedule(&r.secret).await.expect("delete"));
    assert_eq!(store.schedule(&r.secret).await.expect("get"), None);
    assert!(
        !store
            .delete_schedule(&r.secret)
            .await
            .expect("delete again")
    );
    let listed = store.schedules().await.expect("list");
    assert!(!listed.iter().any(|s| s.secret == r.secret));
    assert!(listed.contains(&keep));
    let due = store.due_schedules(t0, 100_000).await.expect("due");
    assert!(!due.iter().any(|s| s.secret == r.secret));
    assert!(due.contains(&keep));
}

/// `add_outcome` counts like [`StoredCounts::add`]; `reset_counts` zeroes.
pub async fn counts_add_and_reset(store: &dyn StateStore) {
    store.reset_counts().await.expect("reset");
    assert_eq!(
        store.counts().await.expect("counts"),
        StoredCounts::default()
    );
    let outcomes = [
        RotationStatus::Success,
        RotationStatus::Failed,
        RotationStatus::RolledBack,
        RotationStatus::Success,
    ];
    for status in outcomes {
        store.add_outcome(status).await.expect("add");
    }
    let expected = StoredCounts {
        successful: 2,
        failed: 2,
        rollbacks: 1,
    };
    assert_eq!(store.counts().await.expect("counts"), expected);
    store.reset_counts().await.expect("reset");
    assert_eq!(
        store.counts().await.expect("counts"),
        StoredCounts::default()
    );
}

/// `live_leases` lists unexpired leases only.
pub async fn live_leases_are_the_unexpired_ones(store: &dyn StateStore) {
    let t0 = base();
    let (live, gone) = (secret("live"), secret("gone"));
    store
        .acquire_lease(&live, "h", Duration::from_secs(600), t0)
        .await
        .expect("acquire")
        .expect("free");
    store
        .acquire_lease(&gone, "h", Duration::from_secs(1), t0)
        .await
        .expect("acquire")
        .expect("free");
    let listed: Vec<SecretId> = store
        .live_leases(t0 + secs(5))
        .await
        .expect("live")
        .into_iter()
        .map(|l| l.secret)
        .filter(|s| s == &live || s == &gone)
        .collect();
    assert_eq!(listed, vec![live]);
}

/// `update_schedule` applies exactly its change (other fields kept) and returns the record;
/// without a schedule it changes nothing and returns `None`.
pub async fn update_schedule_is_one_change_and_none_without_schedule(store: &dyn StateStore) {
    let id = secret("update");
    let t0 = base();
    assert!(
        store
            .update_schedule(&id, &rotation_core::ScheduleChange::Pause)
            .await
            .expect("update")
            .is_none()
    );
    assert!(store.schedule(&id).await.expect("read").is_none());
    let mut record = ScheduleRecord::new(id.clone(), "p", "spec", Some(t0 + mins(5)));
    record.rotation_count = 7;
    record.consecutive_failures = 2;
    record.quarantined = true;
    store.put_schedule(&record).await.expect("put");
    let paused = store
        .update_schedule(&id, &rotation_core::ScheduleChange::Pause)
        .await
        .expect("update")
        .expect("exists");
    let expected = ScheduleRecord {
        paused: true,
        ..record.clone()
    };
    assert_eq!(paused, expected);
    assert_eq!(store.schedule(&id).await.expect("read"), Some(expected));
    let resumed = store
        .update_schedule(&id, &rotation_core::ScheduleChange::Resume)
        .await
        .expect("update")
        .expect("exists");
    assert!(!resumed.paused && !resumed.quarantined && resumed.consecutive_failures == 0);
    assert_eq!(resumed.rotation_count, 7);
    let due = t0 + mins(5);
    let reminded = store
        .update_schedule(
            &id,
            &rotation_core::ScheduleChange::Reminded(rotation_core::Reminder::Overdue { due }),
        )
        .await
        .expect("update")
        .expect("exists");
    assert_eq!(reminded.reminded_for, Some(due));
    assert!(reminded.reminded_overdue);
    assert_eq!(
        store.schedule(&id).await.expect("read"),
        Some(reminded),
        "the reminder mark is stored"
    );
    let soon = store
        .update_schedule(
            &id,
            &rotation_core::ScheduleChange::Reminded(rotation_core::Reminder::DueSoon {
                due: due + mins(1),
            }),
        )
        .await
        .expect("update")
        .expect("exists");
    assert!(!soon.reminded_overdue);
    assert_eq!(store.schedule(&id).await.expect("read"), Some(soon));
}
