//! The README quickstart and the everyday commands, through the real binary.

use rotation_e2e::{Sandbox, basic_config, current, describe, rotation_bin, run_command, seed};
use serde_json::Value;

#[test]
fn init_then_rotate_all_rotates_the_demo_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut init = std::process::Command::new(rotation_bin());
    init.args(["init", "--dir"]).arg(dir.path());
    let out = run_command(init, None);
    assert!(out.status.success(), "{}", describe(&out));

    let sandbox = Sandbox { dir };
    let out = sandbox.run(&["rotate", "--all", "--output", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let results: Value = serde_json::from_slice(&out.stdout).expect("json array");
    let r = &results[0];
    assert_eq!(r["secret"], "demo-api-key");
    assert_eq!(r["status"], "success");
    assert_eq!(r["success"], true);
    assert_eq!(r["verification_passed"], true);
    assert_eq!(r["old_version"], "1");
    assert_eq!(r["new_version"], "2");
    for key in [
        "rotation_id",
        "strategy",
        "started_at",
        "finished_at",
        "duration_ms",
        "rollback_performed",
        "attempts",
        "error",
    ] {
        assert!(r.get(key).is_some(), "missing {key}");
    }

    // Re-running init keeps the config and the secret.
    let mut again = std::process::Command::new(rotation_bin());
    again.args(["init", "--dir"]).arg(sandbox.path());
    assert!(run_command(again, None).status.success());
    assert_eq!(
        current(&sandbox.store(".rotation/store"), "demo/api-key").0,
        "2"
    );
}

#[test]
fn every_command_supports_json_output() {
    let sandbox = Sandbox::new(&basic_config("cat >/dev/null", ""));
    seed(&sandbox.store(".rotation/store"), "app/key", b"initial");
    assert!(sandbox.run(&["rotate", "s"], None).status.success());
    for args in [
        &["status"][..],
        &["stats"],
        &["history", "s"],
        &["verify", "s"],
        &["audit", "verify"],
        &["config", "check"],
        &["rotate", "s", "--dry-run"],
        &["rollback", "s"],
    ] {
        let mut full = args.to_vec();
        full.extend(["--output", "json"]);
        let out = sandbox.run(&full, None);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", describe(&out)));
    }
    // The rollback made version 1's value current again.
    assert_eq!(
        current(&sandbox.store(".rotation/store"), "app/key").1,
        b"initial"
    );
}

#[test]
fn stats_count_and_reset() {
    let sandbox = Sandbox::new(&basic_config("cat >/dev/null", ""));
    seed(&sandbox.store(".rotation/store"), "app/key", b"initial");
    assert!(sandbox.run(&["rotate", "s"], None).status.success());
    assert!(sandbox.run(&["rotate", "s"], None).status.success());
    let stats: Value =
        serde_json::from_slice(&sandbox.run(&["stats", "-o", "json"], None).stdout).expect("json");
    assert_eq!(stats["total_rotations"], 2);
    assert_eq!(stats["successful_rotations"], 2);
    assert_eq!(stats["success_rate"], 1.0);
    assert_eq!(stats["total_schedules"], 1);
    let reset: Value = serde_json::from_slice(
        &sandbox
            .run(&["stats", "--reset", "-o", "json"], None)
            .stdout,
    )
    .expect("json");
    assert_eq!(reset["total_rotations"], 0);
    assert!(
        sandbox.run(&["audit", "verify"], None).status.success(),
        "reset is part of the chain"
    );
}

#[test]
fn missing_secret_is_a_clear_failure_unless_creation_is_allowed() {
    let sandbox = Sandbox::new(&basic_config("cat >/dev/null", ""));
    let out = sandbox.run(&["rotate", "s"], None);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("does not exist"),
        "{}",
        describe(&out)
    );

    let sandbox = Sandbox::new(&basic_config("cat >/dev/null", "create_if_missing = true"));
    let out = sandbox.run(&["rotate", "s"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

#[test]
fn json_field_rotation_preserves_other_fields() {
    let sandbox = Sandbox::new(&basic_config("cat >/dev/null", "field = \"password\""));
    let store = sandbox.store(".rotation/store");
    seed(
        &store,
        "app/key",
        br#"{"username":"app","password":"old","host":"db"}"#,
    );
    let out = sandbox.run(&["rotate", "s"], None);
    assert!(out.status.success(), "{}", describe(&out));
    let doc: Value = serde_json::from_slice(&current(&store, "app/key").1).expect("json");
    assert_eq!(doc["username"], "app");
    assert_eq!(doc["host"], "db");
    assert_ne!(doc["password"], "old");
}

#[test]
fn tampering_with_the_audit_log_is_detected() {
    let sandbox = Sandbox::new(&basic_config("cat >/dev/null", ""));
    seed(&sandbox.store(".rotation/store"), "app/key", b"initial");
    for _ in 0..3 {
        assert!(sandbox.run(&["rotate", "s"], None).status.success());
    }
    let log = sandbox.path().join(".rotation/audit.jsonl");
    let text = std::fs::read_to_string(&log).expect("audit log");
    assert!(sandbox.run(&["audit", "verify"], None).status.success());

    let edited = text.replacen("\"succeeded\"", "\"failed\"", 1);
    std::fs::write(&log, &edited).expect("edit");
    let out = sandbox.run(&["audit", "verify"], None);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));

    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(1);
    std::fs::write(&log, lines.join("\n") + "\n").expect("remove");
    assert_eq!(
        sandbox.run(&["audit", "verify"], None).status.code(),
        Some(1)
    );

    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(2, 3);
    std::fs::write(&log, lines.join("\n") + "\n").expect("reorder");
    assert_eq!(
        sandbox.run(&["audit", "verify"], None).status.code(),
        Some(1)
    );

    std::fs::write(&log, &text).expect("restore");
    assert!(sandbox.run(&["audit", "verify"], None).status.success());
}

#[test]
fn completions_are_generated() {
    let mut cmd = std::process::Command::new(rotation_bin());
    cmd.args(["completions", "bash"]);
    let out = run_command(cmd, None);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("rotation"));
}

#[test]
fn views_change_nothing_and_bad_supplied_values_are_usage_errors() {
    let sandbox = Sandbox::new(&basic_config("cat >/dev/null", "field = \"password\""));
    let root = sandbox.path().join(".rotation/store");
    for args in [
        &["status"][..],
        &["history", "s"],
        &["verify", "s"],
        &["rotate", "s", "--dry-run"],
    ] {
        let out = sandbox.run(args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        assert!(!root.exists(), "{args:?} created the store root");
    }
    let store = sandbox.store(".rotation/store");
    seed(&store, "app/key", br#"{"password":"old"}"#);
    let out = sandbox.run(&["rotate", "s", "--value-stdin"], Some(&[0xff, 0xfe, 0x00]));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("UTF-8"),
        "{}",
        describe(&out)
    );
    assert_eq!(current(&store, "app/key").0, "1", "nothing changed");
    assert!(
        !sandbox.path().join(".rotation/audit.jsonl").exists(),
        "nothing attempted or audited"
    );
}
