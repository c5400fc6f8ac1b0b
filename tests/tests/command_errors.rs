//! Command verifiers and targets say why they fail: a program that cannot start fails
//! `config check` and `rotate --dry-run` (exit 2, field named), and a failing program's stderr,
//! scrubbed of both values, is in the rotation's error and the `-v` logs.

use std::os::unix::fs::PermissionsExt;

use rotation_e2e::{Sandbox, basic_config, command_target, current, describe, seed};

const OLD: &str = "OLD-s3cr3t-5e6f7a8b9c0d";
const NEW: &str = "NEW-s3cr3t-0d9c8b7a6f5e";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `config check`, `rotate --dry-run` (one secret and `--all`) exit 2 naming `expect`, and the
/// secret is untouched.
fn assert_refused(sandbox: &Sandbox, expect: &[&str]) {
    let store = sandbox.store(".rotation/store");
    seed(&store, "app/key", OLD.as_bytes());
    let before = current(&store, "app/key");
    for args in [
        &["config", "check"][..],
        &["rotate", "--dry-run", "s"],
        &["rotate", "--dry-run", "--all", "--output", "json"],
    ] {
        let out = sandbox.run(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        let stderr = text(&out.stderr);
        assert!(stderr.contains("rotation.toml: "), "file named: {stderr}");
        for needle in expect {
            assert!(
                stderr.contains(needle),
                "{args:?}: {needle:?} not in: {stderr}"
            );
        }
    }
    assert_eq!(
        current(&store, "app/key"),
        before,
        "a check changed the secret"
    );
}

#[test]
fn a_verifier_program_that_does_not_exist_fails_the_checks() {
    let config = basic_config("true", "").replace(
        r#"command = ["sh", "-c", "true"]"#,
        r#"command = ["no-such-verifier-4f2a", "--flag"]"#,
    );
    assert!(config.contains("no-such-verifier-4f2a"));
    assert_refused(
        &Sandbox::new(&config),
        &[r#"verifiers.check.command: program "no-such-verifier-4f2a" not found in PATH"#],
    );
}

#[test]
fn a_target_program_that_is_not_executable_fails_the_checks() {
    let sandbox = Sandbox::new("");
    let script = sandbox.path().join("apply.sh");
    std::fs::write(&script, "#!/bin/sh\ncat >/dev/null\n").expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let config = basic_config("true", "target = \"app\"")
        + &format!(
            "\n[targets.app]\nkind = \"command\"\ncommand = [{:?}]\n",
            script.display().to_string()
        );
    std::fs::write(sandbox.config(), config).expect("config");
    assert_refused(
        &sandbox,
        &[
            "targets.app.command: program",
            "apply.sh\" is not executable",
        ],
    );
    // Once it is executable, both pass.
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for args in [&["config", "check"][..], &["rotate", "--dry-run", "s"]] {
        let out = sandbox.run(args, None);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
    }
}

#[test]
fn a_failing_verifier_shows_its_scrubbed_stderr_and_no_value_anywhere() {
    // The script prints the value it is given (the new one) twice and the old one (which it
    // knows here only because the test wrote it into the script).
    let script = format!(
        r#"v=$(cat); echo "psql: FATAL password authentication failed for $v" >&2; echo "(was {OLD}, then $v)" >&2; exit 2"#
    );
    let sandbox = Sandbox::new(&basic_config(&script, ""));
    let store = sandbox.store(".rotation/store");
    seed(&store, "app/key", OLD.as_bytes());
    let reason = r#"verify failed: verifier "check" (program "sh"): exited with status 2: psql: FATAL password authentication failed for [redacted] | (was [redacted], then [redacted])"#;

    let out = sandbox.run(&["rotate", "s", "--value-stdin"], Some(NEW.as_bytes()));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(text(&out.stdout).contains(reason), "{}", describe(&out));
    let mut outputs = vec![out];

    let out = sandbox.run(
        &["rotate", "s", "--value-stdin", "--output", "json"],
        Some(NEW.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        results[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains(reason),
        "{}",
        describe(&out)
    );
    outputs.push(out);

    // `-v` logs the failure with the verifier's name and the (multi-line) stderr.
    for format in ["text", "json"] {
        let out = sandbox.run(
            &["-v", "--log-format", format, "rotate", "s", "--value-stdin"],
            Some(NEW.as_bytes()),
        );
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let logs = text(&out.stderr);
        let line = logs
            .lines()
            .find(|l| l.contains("command verifier failed"))
            .unwrap_or_else(|| panic!("not logged at -v: {}", describe(&out)));
        assert!(line.contains("check"), "{line}");
        assert!(
            line.contains("psql: FATAL password authentication failed for [redacted]"),
            "{line}"
        );
        outputs.push(out);
    }
    // Trace level, `verify` of the current (old) value: nothing leaks there either.
    outputs.push(sandbox.run(
        &["-vvv", "rotate", "s", "--value-stdin"],
        Some(NEW.as_bytes()),
    ));
    outputs.push(sandbox.run(&["-vvv", "verify", "s"], None));

    for out in &outputs {
        for value in [OLD, NEW] {
            assert!(
                !text(&out.stdout).contains(value) && !text(&out.stderr).contains(value),
                "a value leaked: {}",
                describe(out)
            );
        }
    }
    let audit = std::fs::read(sandbox.path().join(".rotation/audit.jsonl")).expect("audit");
    for value in [OLD, NEW] {
        assert!(!text(&audit).contains(value), "a value in the audit log");
    }
    assert!(
        text(&audit).contains("psql: FATAL"),
        "the reason is audited"
    );
    assert_eq!(current(&store, "app/key").1, OLD.as_bytes(), "rolled back");
}

#[test]
fn a_failing_target_is_named_in_the_error() {
    let config = basic_config("cat >/dev/null", "target = \"app\"")
        + &command_target(r#"v=$(cat); echo "ALTER USER failed: $v rejected" >&2; exit 5"#);
    let sandbox = Sandbox::new(&config);
    seed(&sandbox.store(".rotation/store"), "app/key", OLD.as_bytes());
    let out = sandbox.run(&["rotate", "s", "--value-stdin"], Some(NEW.as_bytes()));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            r#"target "app" (program "sh"): exited with status 5: ALTER USER failed: [redacted] rejected"#
        ),
        "{}",
        describe(&out)
    );
    assert!(!stdout.contains(NEW) && !text(&out.stderr).contains(NEW));
}
