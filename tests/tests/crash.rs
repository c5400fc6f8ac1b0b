//! Crash injection through the real binary on the file store and the SQLite state database:
//! abort `rotation rotate` at every journal record (before and after it is written), and
//! `kill -9` it during a slow verifier; then `rotation recover` must leave exactly the old or
//! the new value, no pending version, no lease, a verifying audit chain, and a second recovery
//! must change nothing.

use std::process::Output;
use std::time::Duration;

use rotation_core::{
    RotationId, RotationStatus, SecretId, SecretPath, SecretStore, StateStore, VersionState,
};
use rotation_e2e::{Sandbox, basic_config, command_target, current, describe, run_command, seed};
use rotation_state_sqlite::SqliteStateStore;

const LEASE: Duration = Duration::from_millis(300);

fn config(strategy: &str, verifier: &str) -> String {
    basic_config(verifier, "").replace(
        "interval = \"30d\"",
        &format!("interval = \"30d\"\nstrategy = \"{strategy}\""),
    ) + "\n[state]\nlease_ttl = \"300ms\"\n"
}

/// A sandbox whose secret also has a target: a command writing the value it is given to
/// `target.txt`, so every crash test also checks that the target agrees with the store.
fn sandbox(strategy: &str, verifier: &str) -> Sandbox {
    let sandbox = Sandbox::new("");
    let d = sandbox.path().display();
    let target = format!("cat > {d}/target.tmp && mv {d}/target.tmp {d}/target.txt");
    let cfg = config(strategy, verifier).replace(
        "policy = \"default\"\n",
        "policy = \"default\"\ntarget = \"app\"\n",
    ) + &command_target(&target);
    std::fs::write(sandbox.config(), cfg).expect("config");
    sandbox
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Recover after the dead process's lease expired, then check every invariant.
fn recover_and_check(sandbox: &Sandbox, what: &str) {
    std::thread::sleep(LEASE + Duration::from_millis(100));
    let out = sandbox.run(&["recover", "--output", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{what}: {}", describe(&out));

    let store = sandbox.store(".rotation/store");
    let (_, value) = current(&store, "app/key");
    assert!(
        value == b"old" || value == b"new",
        "{what}: neither old nor new value"
    );
    if let Ok(held) = std::fs::read(sandbox.path().join("target.txt")) {
        assert_eq!(
            held, value,
            "{what}: the target holds another value than the store's current one"
        );
    }
    let path = SecretPath::new("app/key");
    let rt = rt();
    let versions = rt.block_on(store.list_versions(&path)).expect("versions");
    assert!(
        versions.iter().all(|v| v.state != VersionState::Pending),
        "{what}: pending left: {versions:?}"
    );

    let state =
        SqliteStateStore::open(sandbox.path().join(".rotation/state.db")).expect("state db");
    assert!(
        rt.block_on(state.unfinished())
            .expect("unfinished")
            .is_empty(),
        "{what}: unfinished rotation left"
    );
    assert!(
        rt.block_on(state.lease(&SecretId::new("s")))
            .expect("lease")
            .is_none(),
        "{what}: lease left"
    );
    if value == b"new" {
        let rid: RotationId = versions
            .iter()
            .find(|v| v.state == VersionState::Current)
            .and_then(|v| v.rotation_id.clone())
            .expect("rotation id on the current version");
        let journaled = rt
            .block_on(state.rotation(&rid))
            .expect("journal")
            .expect("journaled");
        assert_eq!(
            journaled.status(),
            RotationStatus::Success,
            "{what}: new value but journal says {journaled:?}"
        );
    }
    let audit = sandbox.run(&["audit", "verify"], None);
    assert_eq!(audit.status.code(), Some(0), "{what}: {}", describe(&audit));

    let again = sandbox.run(&["recover", "--output", "json"], None);
    assert_eq!(again.status.code(), Some(0), "{what}: {}", describe(&again));
    let reports: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(
        reports,
        serde_json::json!([]),
        "{what}: second recovery acted"
    );
    assert_eq!(
        rt.block_on(store.list_versions(&path)).expect("versions"),
        versions,
        "{what}: second recovery changed the store"
    );
}

fn rotate_with(sandbox: &Sandbox, var: &str, k: usize) -> Output {
    let mut cmd = sandbox.command(&["rotate", "s", "--value-stdin"]);
    cmd.env(var, k.to_string());
    run_command(cmd, Some(b"new"))
}

#[test]
fn abort_at_every_journal_record_then_recover() {
    let mut points = 0;
    // A passing verifier crashes along the success path, a failing one along the rollback path.
    let paths = [("cat >/dev/null", 0), ("cat >/dev/null; exit 1", 1)];
    let vars = [
        "ROTATION_TEST_ABORT_BEFORE_RECORD",
        "ROTATION_TEST_ABORT_AFTER_RECORD",
    ];
    for (verifier, clean_exit) in paths {
        for strategy in ["staged", "immediate"] {
            for var in vars {
                for k in 1.. {
                    let what = format!("{strategy} {verifier:?} {var}={k}");
                    let sandbox = sandbox(strategy, verifier);
                    seed(&sandbox.store(".rotation/store"), "app/key", b"old");
                    let out = rotate_with(&sandbox, var, k);
                    if out.status.code() == Some(clean_exit) {
                        break; // the run has fewer records than k: every point is covered
                    }
                    assert_eq!(
                        out.status.code(),
                        None,
                        "{what}: expected an abort: {}",
                        describe(&out)
                    );
                    recover_and_check(&sandbox, &what);
                    points += 1;
                    assert!(k < 50, "runaway");
                }
            }
        }
    }
    println!("crash injection: {points} kill points exercised through the binary");
    assert!(points >= 32, "only {points} kill points");
}

#[test]
fn kill_9_during_a_slow_verifier_then_recover() {
    for strategy in ["staged", "immediate"] {
        let sandbox = sandbox(strategy, "cat >/dev/null; sleep 3");
        seed(&sandbox.store(".rotation/store"), "app/key", b"old");
        let mut child = sandbox
            .command(&["rotate", "s", "--value-stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"new")
                .expect("stdin");
        }
        // Wait until the rotation is inside the verify step, then kill it hard.
        let state =
            SqliteStateStore::open(sandbox.path().join(".rotation/state.db")).expect("state");
        let rt = rt();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let open = rt.block_on(state.unfinished()).expect("unfinished");
            if open.iter().any(|s| s.status() == RotationStatus::Verifying) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never reached the verify step"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().expect("kill -9");
        child.wait().expect("wait");
        // The slow verifier's lease is renewed while it runs; the dead process's is not.
        recover_and_check(&sandbox, &format!("{strategy} kill -9 in verify"));
        let (_, value) = current(&sandbox.store(".rotation/store"), "app/key");
        assert_eq!(
            value, b"old",
            "{strategy}: an unverified value is rolled back"
        );
    }
}

#[test]
fn a_slow_verifier_keeps_its_lease() {
    let sandbox = Sandbox::new(&config("staged", "cat >/dev/null; sleep 1"));
    seed(&sandbox.store(".rotation/store"), "app/key", b"old");
    let mut first = sandbox.command(&["rotate", "s"]);
    first
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let first = first.spawn().expect("spawn");
    std::thread::sleep(Duration::from_millis(600)); // two lease periods into the verifier
    let second = sandbox.run(&["rotate", "s", "--output", "json"], None);
    assert_eq!(second.status.code(), Some(1), "{}", describe(&second));
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("lease held by"),
        "{}",
        describe(&second)
    );
    let first = first.wait_with_output().expect("first");
    assert!(first.status.success(), "{}", describe(&first));
}

#[test]
fn store_markers_suffice_when_the_state_database_is_lost() {
    let sandbox = Sandbox::new(&config("staged", "cat >/dev/null"));
    seed(&sandbox.store(".rotation/store"), "app/key", b"old");
    // Abort right after the stage step ran (before its outcome is journaled): a pending value
    // tagged with the rotation id is left in the store.
    let out = rotate_with(&sandbox, "ROTATION_TEST_ABORT_BEFORE_RECORD", 3);
    assert_eq!(out.status.code(), None, "{}", describe(&out));
    let store = sandbox.store(".rotation/store");
    let path = SecretPath::new("app/key");
    let rt = rt();
    let pending = |store: &rotation_file::FileStore| {
        rt.block_on(store.list_versions(&path))
            .expect("versions")
            .into_iter()
            .filter(|v| v.state == VersionState::Pending)
            .count()
    };
    assert_eq!(pending(&store), 1, "the crash left a pending value");
    for f in ["state.db", "state.db-wal", "state.db-shm"] {
        let _ = std::fs::remove_file(sandbox.path().join(".rotation").join(f));
    }
    let out = sandbox.run(&["recover", "--output", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(reports[0]["action"], "discarded_orphan", "{reports}");
    assert_eq!(pending(&store), 0);
    assert_eq!(current(&store, "app/key").1, b"old");
    let again = sandbox.run(&["recover", "--output", "json"], None);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&again.stdout).expect("json"),
        serde_json::json!([])
    );
}
