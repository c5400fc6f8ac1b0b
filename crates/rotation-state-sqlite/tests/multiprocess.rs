//! Leases across processes: 8 copies of this test binary compete for one lease in one database
//! file; each increments a counter file only while holding the lease.
//!
//! The parent test re-runs this binary with `--exact --ignored lease_child` and the environment
//! variables below; `lease_child` is ignored in normal runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use rotation_core::{SecretId, StateStore};
use rotation_state_sqlite::SqliteStateStore;

const DIR_ENV: &str = "ROTATION_SQLITE_LEASE_CHILD_DIR";
const ID_ENV: &str = "ROTATION_SQLITE_LEASE_CHILD_ID";
const CHILDREN: usize = 8;
const ROUNDS: usize = 50;

fn db(dir: &Path) -> PathBuf {
    dir.join("state.db")
}

fn counter(dir: &Path) -> PathBuf {
    dir.join("counter")
}

#[test]
fn lease_is_exclusive_across_processes() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Create and migrate once up front so children start on an existing schema (they also
    // cope with migrating concurrently, but this keeps the test about leases).
    drop(SqliteStateStore::open(db(dir.path())).expect("open"));
    std::fs::write(counter(dir.path()), "0").expect("counter");
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..CHILDREN)
        .map(|id| {
            Command::new(&exe)
                .args(["--exact", "--ignored", "--test-threads=1", "lease_child"])
                .env(DIR_ENV, dir.path())
                .env(ID_ENV, id.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    for (id, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("wait child");
        assert!(
            out.status.success(),
            "child {id} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let mut tokens = Vec::new();
    for id in 0..CHILDREN {
        let text =
            std::fs::read_to_string(dir.path().join(format!("tokens-{id}"))).expect("child tokens");
        let mine: Vec<u64> = text.lines().map(|l| l.parse().expect("token")).collect();
        assert_eq!(mine.len(), ROUNDS, "child {id}");
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "child {id}: {mine:?}");
        tokens.extend(mine);
    }
    let total = tokens.len();
    tokens.sort_unstable();
    tokens.dedup();
    assert_eq!(tokens.len(), total, "a token was handed out twice");
    let count: usize = std::fs::read_to_string(counter(dir.path()))
        .expect("counter")
        .trim()
        .parse()
        .expect("count");
    assert_eq!(
        count,
        CHILDREN * ROUNDS,
        "an increment was lost: the lease was shared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of lease_is_exclusive_across_processes"]
async fn lease_child() {
    let dir =
        PathBuf::from(std::env::var(DIR_ENV).expect("run by lease_is_exclusive_across_processes"));
    let id = std::env::var(ID_ENV).expect("child id");
    let store = SqliteStateStore::open(db(&dir)).expect("open");
    let secret = SecretId::new("shared-secret");
    let holder = format!("child-{id}:{}", std::process::id());
    let mut seen = Vec::new();
    while seen.len() < ROUNDS {
        let lease = store
            .acquire_lease(&secret, &holder, Duration::from_secs(60), Utc::now())
            .await
            .expect("acquire");
        let Some(lease) = lease else {
            tokio::time::sleep(Duration::from_micros(500 + u64::from(rand_jitter()))).await;
            continue;
        };
        let path = counter(&dir);
        let n: u64 = std::fs::read_to_string(&path)
            .expect("read counter")
            .trim()
            .parse()
            .expect("count");
        tokio::time::sleep(Duration::from_millis(1)).await;
        std::fs::write(&path, (n + 1).to_string()).expect("write counter");
        seen.push(lease.token);
        store.release_lease(&lease).await.expect("release");
        tokio::task::yield_now().await;
    }
    let text: String = seen.iter().map(|t| format!("{t}\n")).collect();
    std::fs::write(dir.join(format!("tokens-{id}")), text).expect("write tokens");
}

/// A little jitter (0..1000 µs) so children do not poll in lockstep.
fn rand_jitter() -> u16 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        % 1000) as u16
}
