//! Twenty `rotation rotate` processes on one file-store secret: every reported success is
//! exactly one new version, and the current value is the last success's.

use std::process::Child;

use rotation_e2e::{Sandbox, basic_config, current, describe, seed};
use serde_json::Value;

#[test]
fn twenty_concurrent_processes_lose_nothing() {
    const N: usize = 20;
    let sandbox = Sandbox::new(&basic_config("cat >/dev/null", ""));
    let store = sandbox.store(".rotation/store");
    seed(&store, "app/key", b"initial-value");
    let (v0, _) = current(&store, "app/key");

    let children: Vec<(String, Child)> = (0..N)
        .map(|i| {
            let value = format!("value-from-process-{i:02}");
            let mut cmd = sandbox.command(&["rotate", "s", "--value-stdin", "--output", "json"]);
            cmd.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = cmd.spawn().expect("spawn");
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(value.as_bytes())
                .expect("stdin");
            (value, child)
        })
        .collect();

    let mut successes: Vec<(u64, u64, String)> = Vec::new();
    for (value, child) in children {
        let out = child.wait_with_output().expect("wait");
        let results: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
        let r = &results[0];
        let code = out.status.code();
        if r["success"] == true {
            assert_eq!(code, Some(0), "{}", describe(&out));
            let old: u64 = r["old_version"]
                .as_str()
                .expect("old")
                .parse()
                .expect("num");
            let new: u64 = r["new_version"]
                .as_str()
                .expect("new")
                .parse()
                .expect("num");
            successes.push((old, new, value));
        } else {
            assert_eq!(code, Some(1), "{}", describe(&out));
            assert_ne!(r["status"], "success");
        }
    }
    assert!(!successes.is_empty(), "at least one rotation must win");
    eprintln!("{} of {N} concurrent rotations succeeded", successes.len());

    // Every success moved current from exactly the version it read to a new one: the successes
    // form one chain starting at the seeded version, with no gaps and no forks.
    successes.sort();
    let mut expected_old: u64 = v0.parse().expect("num");
    for (old, new, _) in &successes {
        assert_eq!(*old, expected_old, "chain broken: {successes:?}");
        expected_old = *new;
    }

    // Versions that exist (committed, not pending) = seed + one per success.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let versions = rt
        .block_on(rotation_core::SecretStore::list_versions(
            &store,
            &rotation_core::SecretPath::new("app/key"),
        ))
        .expect("list");
    assert!(
        versions
            .iter()
            .all(|v| v.state != rotation_core::VersionState::Pending),
        "losers left pending versions: {versions:?}"
    );
    assert_eq!(
        versions.len(),
        successes.len() + 1,
        "successes == versions added: {versions:?}"
    );

    let (now, value) = current(&store, "app/key");
    let last = successes.last().expect("last");
    assert_eq!(now, last.1.to_string());
    assert_eq!(
        value,
        last.2.as_bytes(),
        "current value is the last success's"
    );
}
