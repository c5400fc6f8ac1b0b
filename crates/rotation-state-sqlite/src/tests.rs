//! White-box tests: connection settings, file modes, persistence, migrations, the due-check
//! query plan and bulk inserts. The contract itself is covered by the conformance suite.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rotation_core::machine::{Plan, RotationState};
use rotation_core::{
    ErrorKind, Journal, RotationId, RotationStatus, RotationStrategy, ScheduleRecord, SecretId,
    StateStore, StoredCounts,
};

use crate::SqliteStateStore;
use crate::store::tests::with_conn;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

fn pragma(store: &SqliteStateStore, name: &str) -> String {
    with_conn(store, |c| {
        c.pragma_query_value(None, name, |row| {
            Ok(match row.get_ref(0)? {
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                other => format!("{}", other.as_i64().unwrap_or(-1)),
            })
        })
        .expect("pragma")
    })
}

fn t(s: &str) -> DateTime<Utc> {
    s.parse().expect("time")
}

fn schedules(n: usize, next: DateTime<Utc>) -> Vec<ScheduleRecord> {
    (0..n)
        .map(|i| {
            let at = next + TimeDelta::seconds(i64::try_from(i).expect("i"));
            ScheduleRecord::new(SecretId::new(format!("bulk-{i:07}")), "p", "s", Some(at))
        })
        .collect()
}

#[tokio::test]
async fn open_creates_private_files_and_configures_the_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a/b/state.db");
    let store = SqliteStateStore::open(&path).expect("open");
    assert_eq!(mode(&dir.path().join("a")), 0o700);
    assert_eq!(mode(&dir.path().join("a/b")), 0o700);
    assert_eq!(mode(&path), 0o600);
    store
        .add_outcome(RotationStatus::Success)
        .await
        .expect("write");
    assert_eq!(mode(&dir.path().join("a/b/state.db-wal")), 0o600);
    assert_eq!(pragma(&store, "journal_mode"), "wal");
    assert_eq!(pragma(&store, "synchronous"), "2"); // FULL
    assert_eq!(pragma(&store, "foreign_keys"), "1");
    assert_eq!(pragma(&store, "busy_timeout"), "10000");
    assert_eq!(pragma(&store, "user_version"), "4");
    assert_eq!(store.path(), path.display().to_string());
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    let plan = Plan {
        strategy: RotationStrategy::Immediate,
        has_target: false,
        verify: false,
        auto_rollback: true,
        create_if_missing: true,
        revoke_old: false,
    };
    let state = RotationState::new(RotationId::generate(), SecretId::new("s"), plan);
    let record = ScheduleRecord::new(
        SecretId::new("s"),
        "p",
        "x",
        Some(t("2030-01-01T00:00:00Z")),
    );
    let now = t("2030-01-01T00:00:00.5Z");
    let lease = {
        let store = SqliteStateStore::open(&path).expect("open");
        store.record(&state).await.expect("record");
        store.put_schedule(&record).await.expect("put");
        store
            .add_outcome(RotationStatus::RolledBack)
            .await
            .expect("count");
        store
            .acquire_lease(&record.secret, "me", Duration::from_secs(5), now)
            .await
            .expect("acquire")
            .expect("free")
    };
    let store = SqliteStateStore::open(&path).expect("reopen");
    assert_eq!(store.unfinished().await.expect("unfinished"), vec![state]);
    assert_eq!(store.schedules().await.expect("list"), vec![record]);
    assert_eq!(
        store.lease(&lease.secret).await.expect("lease"),
        Some(lease.clone())
    );
    let expected = StoredCounts {
        successful: 0,
        failed: 1,
        rollbacks: 1,
    };
    assert_eq!(store.counts().await.expect("counts"), expected);
    store.release_lease(&lease).await.expect("release");
    let next = store
        .acquire_lease(&lease.secret, "me", Duration::from_secs(5), now)
        .await
        .expect("acquire")
        .expect("free");
    assert!(next.token > lease.token);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    let store = SqliteStateStore::open(&path).expect("open");
    with_conn(&store, |c| c.pragma_update(None, "user_version", 99)).expect("bump");
    drop(store);
    let err = SqliteStateStore::open(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotSupported, "{err}");
    assert!(err.message().contains(&path.display().to_string()), "{err}");
}

#[test]
fn concurrent_opens_migrate_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.db");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || SqliteStateStore::open(path).map(drop))
        })
        .collect();
    for t in threads {
        t.join().expect("thread").expect("open");
    }
}

#[tokio::test]
async fn an_unreadable_journal_record_is_an_internal_error() {
    let store = SqliteStateStore::open_in_memory().expect("open");
    with_conn(&store, |c| {
        c.execute(
            "INSERT INTO rotations VALUES ('r1', 's', 'stage', 0, '{not json', 0, 0)",
            [],
        )
    })
    .expect("insert");
    let err = store.unfinished().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(
        err.message()
            .starts_with("list unfinished rotations in state database :memory:: rotation r1"),
        "{err}"
    );
}

#[test]
fn due_check_uses_the_partial_index_for_filter_and_order() {
    let store = SqliteStateStore::open_in_memory().expect("open");
    let plan: Vec<String> = with_conn(&store, |c| {
        let sql = format!("EXPLAIN QUERY PLAN {}", crate::schedules::DUE);
        let mut stmt = c.prepare(&sql).expect("explain");
        stmt.query_map(rusqlite::params![0_i64, 0_i64, 10_i64], |row| row.get(3))
            .expect("plan")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    });
    // One step: a range search of the partial index (no scan, no temp b-tree for ORDER BY).
    assert_eq!(plan.len(), 1, "{plan:?}");
    assert!(
        plan[0].starts_with("SEARCH schedules USING INDEX schedules_due (")
            && plan[0].contains("next_rotation<?"),
        "{plan:?}"
    );
}

#[tokio::test]
async fn bulk_insert_is_atomic() {
    // Speed is measured by `cargo xtask bench` (1,000,000 schedules), not asserted here.
    let store = SqliteStateStore::open_in_memory().expect("open");
    let future = t("2100-01-01T00:00:00Z");
    let mut records = schedules(10_000, future);
    store.bulk_insert_schedules(&records).expect("bulk insert");
    let now = t("2099-01-01T00:00:00Z");
    assert!(store.due_schedules(now, 100).await.expect("due").is_empty());
    let due = store
        .due_schedules(future + TimeDelta::seconds(2), 100)
        .await
        .expect("due");
    assert_eq!(due, records[..3].to_vec());

    records[5].rotation_count = u64::MAX;
    records[0].policy = "changed".to_owned();
    let err = store.bulk_insert_schedules(&records).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidValue, "{err}");
    let first = store.schedule(&records[0].secret).await.expect("get");
    assert_eq!(
        first.expect("exists").policy,
        "p",
        "a failed bulk insert writes nothing"
    );
}
