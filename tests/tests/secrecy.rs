//! With trace logging and a failing verifier, neither the old nor the new value appears in
//! stdout, stderr, the audit log or error messages; the old value stays byte-identical.

use rotation_e2e::{Sandbox, basic_config, command_target, current, describe, seed};

const OLD: &str = "OLD-s3cr3t-9f8e7d6c5b4a";
const NEW: &str = "NEW-s3cr3t-1a2b3c4d5e6f";

fn assert_absent(haystack: &[u8], what: &str) {
    let text = String::from_utf8_lossy(haystack);
    for needle in [OLD, NEW] {
        assert!(
            !text.contains(needle),
            "{what} contains a secret value:\n{text}"
        );
    }
}

#[test]
fn failing_verifier_with_trace_logging_leaks_nothing_and_rolls_back() {
    for log_format in ["text", "json"] {
        for strategy in ["staged", "immediate"] {
            let extra = "";
            let config = basic_config("cat >/dev/null; echo rejected >&2; exit 3", extra).replace(
                "interval = \"30d\"",
                &format!("interval = \"30d\"\nstrategy = \"{strategy}\""),
            );
            let sandbox = Sandbox::new(&config);
            let store = sandbox.store(".rotation/store");
            seed(&store, "app/key", OLD.as_bytes());
            let before = current(&store, "app/key");

            let out = sandbox.run(
                &[
                    "-vvv",
                    "--log-format",
                    log_format,
                    "rotate",
                    "s",
                    "--value-stdin",
                    "--output",
                    "json",
                ],
                Some(NEW.as_bytes()),
            );
            assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
            assert!(
                out.stderr.len() > 200,
                "trace logging produced output: {}",
                describe(&out)
            );
            assert_absent(&out.stdout, "stdout");
            assert_absent(&out.stderr, "stderr");
            let audit = std::fs::read(sandbox.path().join(".rotation/audit.jsonl")).expect("audit");
            assert_absent(&audit, "audit log");

            let results: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
            assert_eq!(results[0]["status"], "rolled_back", "{strategy}");
            assert_eq!(results[0]["rollback_performed"], true);
            assert!(
                results[0]["error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("exited with status 3")
            );

            let after = current(&store, "app/key");
            assert_eq!(after.1, before.1, "value byte-identical after rollback");

            // Other commands that touch the value leak nothing either.
            for args in [
                &["-vvv", "verify", "s"][..],
                &["-vvv", "history", "s"],
                &["-vvv", "status"],
            ] {
                let out = sandbox.run(args, None);
                assert_absent(&out.stdout, "stdout");
                assert_absent(&out.stderr, "stderr");
            }
        }
    }
}

/// The paths issue 11 added (a journaled rollback that gives the target the restored value,
/// recovery of an interrupted rotation, the audit records of both) leak nothing either: not in
/// stdout, stderr at trace level, the audit log or the state database.
#[test]
fn rollback_and_recovery_with_a_target_leak_nothing() {
    let sandbox = Sandbox::new("");
    let d = sandbox.path().display();
    let target = format!("cat > {d}/target.txt");
    let config = basic_config("cat >/dev/null", "target = \"app\"")
        + &command_target(&target)
        + "\n[state]\nlease_ttl = \"300ms\"\n";
    std::fs::write(sandbox.config(), config).expect("config");
    let store = sandbox.store(".rotation/store");
    seed(&store, "app/key", OLD.as_bytes());
    let mut outputs = Vec::new();
    let out = sandbox.run(
        &["-vvv", "rotate", "s", "--value-stdin"],
        Some(NEW.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    outputs.push(out);
    let out = sandbox.run(&["-vvv", "rollback", "s", "--output", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    outputs.push(out);
    assert_eq!(current(&store, "app/key").1, OLD.as_bytes());
    // Abort a rotation after its target step, then recover it at trace level.
    let mut cmd = sandbox.command(&["rotate", "s", "--value-stdin"]);
    cmd.env("ROTATION_TEST_ABORT_AFTER_RECORD", "4");
    let out = rotation_e2e::run_command(cmd, Some(NEW.as_bytes()));
    assert_eq!(out.status.code(), None, "aborted: {}", describe(&out));
    std::thread::sleep(std::time::Duration::from_millis(400));
    let out = sandbox.run(&["-vvv", "--log-format", "json", "recover"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    outputs.push(out);
    assert_eq!(
        std::fs::read(sandbox.path().join("target.txt")).expect("target"),
        OLD.as_bytes(),
        "the target holds the store's current value"
    );
    for out in &outputs {
        assert!(out.stderr.len() > 200, "trace logging produced output");
        assert_absent(&out.stdout, "stdout");
        assert_absent(&out.stderr, "stderr");
    }
    let audit = std::fs::read(sandbox.path().join(".rotation/audit.jsonl")).expect("audit");
    assert!(String::from_utf8_lossy(&audit).contains("manual_rollback"));
    assert_absent(&audit, "audit log");
    for f in ["state.db", "state.db-wal"] {
        if let Ok(db) = std::fs::read(sandbox.path().join(".rotation").join(f)) {
            assert_absent(&db, f);
        }
    }
}
