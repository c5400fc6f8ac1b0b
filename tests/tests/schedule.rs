//! Persistent schedules through the binary: manual-only secrets are never run, failing
//! rotations are retried with growing delays and fresh values and then quarantined, two
//! `run --watch` processes never rotate one secret twice in a due period.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rotation_e2e::{Sandbox, basic_config, current, describe, seed};
use serde_json::Value;

fn audit_events(sandbox: &Sandbox) -> Vec<Value> {
    std::fs::read_to_string(sandbox.path().join(".rotation/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json")["event"].clone())
        .collect()
}

fn at(e: &Value) -> chrono::DateTime<chrono::Utc> {
    e["at"].as_str().expect("at").parse().expect("time")
}

#[test]
fn manual_only_is_never_run() {
    for interval in ["0", "manual"] {
        let config = basic_config("cat >/dev/null", "")
            .replace("interval = \"30d\"", &format!("interval = \"{interval}\""));
        let sandbox = Sandbox::new(&config);
        seed(&sandbox.store(".rotation/store"), "app/key", b"old");
        for _ in 0..3 {
            let out = sandbox.run(&["run", "--output", "json"], None);
            assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
            assert_eq!(
                serde_json::from_slice::<Value>(&out.stdout).expect("json"),
                serde_json::json!([])
            );
        }
        assert_eq!(current(&sandbox.store(".rotation/store"), "app/key").0, "1");
        let status: Value =
            serde_json::from_slice(&sandbox.run(&["status", "-o", "json"], None).stdout)
                .expect("json");
        assert_eq!(status[0]["schedule"], "manual");
    }
}

#[test]
fn failing_rotations_are_retried_with_backoff_and_new_values_then_quarantined() {
    let hashes = tempfile::NamedTempFile::new().expect("tmp");
    let verifier = format!("sha256sum >> {}; exit 1", hashes.path().display());
    let config = basic_config(&verifier, "").replace(
        "interval = \"30d\"",
        "interval = \"1s\"\nmax_retries = 2\nretry_backoff = \"300ms\"",
    );
    let sandbox = Sandbox::new(&config);
    seed(&sandbox.store(".rotation/store"), "app/key", b"old");
    let results = tempfile::NamedTempFile::new().expect("tmp");
    let watch = sandbox
        .command(&["run", "--watch", "--tick", "50ms", "--output", "json"])
        .stdout(results.reopen().expect("reopen"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut watch = scopeguard(watch);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        let out = sandbox.run(&["status", "--output", "json"], None);
        let status: Value = serde_json::from_slice(&out.stdout).expect("json");
        if status[0]["quarantined"] == true || std::time::Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(1500)); // a quarantined secret is not tried again
    let _ = watch.0.kill();
    let _ = watch.0.wait();

    // Each result says which attempt it was: the first try, then the retries.
    let numbers: Vec<u64> = std::fs::read_to_string(results.path())
        .expect("results")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["secret"] == "s")
        .filter_map(|r| r["attempts"].as_u64())
        .collect();
    assert_eq!(numbers, [1, 2, 3], "attempt numbers of the watch's results");
    assert_eq!(status[0]["quarantined"], true, "{status}");
    assert_eq!(status[0]["schedule"], "quarantined");
    assert_eq!(
        status[0]["consecutive_failures"], 3,
        "first try + max_retries retries"
    );
    let attempts: Vec<Value> = audit_events(&sandbox)
        .into_iter()
        .filter(|e| e["action"] == "rolled_back")
        .collect();
    assert_eq!(attempts.len(), 3, "no attempt after quarantine");
    let gap1 = at(&attempts[1]) - at(&attempts[0]);
    let gap2 = at(&attempts[2]) - at(&attempts[1]);
    assert!(
        gap1 >= chrono::Duration::milliseconds(300),
        "first retry waited {gap1}"
    );
    assert!(gap2 > gap1, "delays grow: {gap1} then {gap2}");
    let seen: BTreeSet<String> = std::fs::read_to_string(hashes.path())
        .expect("hashes")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(seen.len(), 3, "a fresh value on every try");
    assert_eq!(
        current(&sandbox.store(".rotation/store"), "app/key").1,
        b"old"
    );

    // Resume clears the quarantine.
    let out = sandbox.run(&["schedule", "resume", "s"], None);
    assert!(out.status.success(), "{}", describe(&out));
    let status: Value =
        serde_json::from_slice(&sandbox.run(&["status", "-o", "json"], None).stdout).expect("json");
    assert_eq!(status[0]["quarantined"], false);
}

#[test]
fn two_watchers_never_rotate_a_secret_twice_in_one_due_period() {
    const SECRETS: usize = 12;
    let mut config = String::from(
        "[stores.local]\nkind = \"file\"\nroot = \".rotation/store\"\nmax_versions = 1000\n\n\
         [verifiers.check]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", \"cat >/dev/null\"]\n\n\
         [policies.fast]\ninterval = \"2s\"\nverifiers = [\"check\"]\n\n[state]\nlease_ttl = \"2s\"\n",
    );
    for i in 0..SECRETS {
        config += &format!(
            "\n[[secrets]]\nid = \"s{i}\"\nstore = \"local\"\npath = \"app/s{i}\"\npolicy = \"fast\"\n"
        );
    }
    let sandbox = Sandbox::new(&config);
    let store = sandbox.store(".rotation/store");
    for i in 0..SECRETS {
        seed(&store, &format!("app/s{i}"), b"seed");
    }
    let spawn = || {
        sandbox
            .command(&["run", "--watch", "--tick", "100ms", "--concurrency", "3"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn")
    };
    let (mut a, mut b) = (scopeguard(spawn()), scopeguard(spawn()));
    std::thread::sleep(Duration::from_secs(7));
    for w in [&mut a, &mut b] {
        let _ = w.0.kill();
        let _ = w.0.wait();
    }

    // Start times of the successful rotations: a rotation starts only once the schedule that
    // the previous one moved (to its end + 2 s) is due, so starts are >= 2 s apart. (End times
    // are not: the audit record is written after the schedule moved, later under load.)
    let events = audit_events(&sandbox);
    let succeeded: std::collections::HashSet<&str> = events
        .iter()
        .filter(|e| e["action"] == "succeeded")
        .filter_map(|e| e["rotation_id"].as_str())
        .collect();
    let mut by_secret: BTreeMap<String, Vec<chrono::DateTime<chrono::Utc>>> = BTreeMap::new();
    for e in &events {
        if e["action"] == "started"
            && e["rotation_id"]
                .as_str()
                .is_some_and(|r| succeeded.contains(r))
        {
            by_secret
                .entry(e["secret"].as_str().expect("secret").to_owned())
                .or_default()
                .push(at(e));
        }
    }
    let total: usize = by_secret.values().map(Vec::len).sum();
    assert_eq!(
        by_secret.len(),
        SECRETS,
        "every secret rotated: {by_secret:?}"
    );
    assert!(total >= SECRETS * 2, "several due periods covered: {total}");
    for (secret, times) in &by_secret {
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= chrono::Duration::milliseconds(1990),
                "{secret} rotated twice within one 2s period: {times:?}"
            );
        }
    }
}

/// Kill the child if the test panics.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scopeguard(child: std::process::Child) -> Guard {
    Guard(child)
}
