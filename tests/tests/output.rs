//! How the binary prints: never a panic on a closed pipe or a full disk, `-o json|yaml|name`,
//! `--quiet`, one vocabulary of field names (docs/output.md), aligned tables with zoned and
//! relative times, and `audit verify` saying what it checked.

use std::process::{Command, Output, Stdio};

use rotation_e2e::{Sandbox, basic_config, current, describe, seed};
use serde_json::Value;

/// A sandbox with secret `s` rotated once (versions 1 and 2, four audit records).
fn rotated() -> Sandbox {
    let sandbox = Sandbox::new(&basic_config("cat >/dev/null", ""));
    seed(&sandbox.store(".rotation/store"), "app/key", b"initial");
    let out = sandbox.run(&["rotate", "s"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    sandbox
}

/// Run `cmd` with its stdout on a pipe whose read end is already closed.
fn into_closed_pipe(mut cmd: Command) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    cmd.stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run rotation")
}

/// Run `cmd` with its stdout on /dev/full (every write fails with ENOSPC).
fn into_dev_full(mut cmd: Command) -> Output {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    cmd.stdin(Stdio::null())
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .expect("run rotation")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(sandbox: &Sandbox, args: &[&str]) -> Value {
    let mut full = args.to_vec();
    full.extend(["-o", "json"]);
    let out = sandbox.run(&full, None);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", describe(&out)))
}

fn assert_no_panic(what: &str, out: &Output) {
    assert_ne!(out.status.code(), Some(101), "{what}: {}", describe(out));
    assert!(
        !stderr(out).contains("panicked"),
        "{what}: {}",
        describe(out)
    );
}

#[test]
fn a_closed_pipe_ends_quietly_with_the_commands_own_exit_code() {
    let sandbox = rotated();
    for args in [
        &["history", "s"][..],
        &["status"],
        &["history", "s", "-o", "json"],
        &["schedule", "list", "-o", "yaml"],
        &["audit", "verify"],
    ] {
        let out = into_closed_pipe(sandbox.command(args));
        assert_no_panic(&format!("{args:?}"), &out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
        assert_eq!(stderr(&out), "", "{args:?}: a broken pipe is not an error");
    }
    // A rotation whose report cannot be written still succeeded, and says so by its exit code.
    let out = into_closed_pipe(sandbox.command(&["rotate", "s"]));
    assert_no_panic("rotate", &out);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(current(&sandbox.store(".rotation/store"), "app/key").0, "3");
    // A failed command keeps its failure code.
    let out = into_closed_pipe(sandbox.command(&["verify", "nope"]));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
}

#[test]
fn completions_into_a_closed_pipe_do_not_panic() {
    for shell in ["zsh", "bash", "fish"] {
        let mut cmd = Command::new(rotation_e2e::rotation_bin());
        cmd.args(["completions", shell]);
        let out = into_closed_pipe(cmd);
        assert_no_panic(shell, &out);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", describe(&out));
    }
}

#[test]
fn a_full_disk_is_an_error_message_and_exit_1() {
    let sandbox = rotated();
    for args in [&["status"][..], &["history", "s", "-o", "json"]] {
        let out = into_dev_full(sandbox.command(args));
        assert_no_panic(&format!("{args:?}"), &out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        assert!(
            stderr(&out).starts_with("error: cannot write output: "),
            "{args:?}: {}",
            describe(&out)
        );
    }
    let mut cmd = Command::new(rotation_e2e::rotation_bin());
    cmd.args(["completions", "zsh"]);
    let out = into_dev_full(cmd);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("cannot write output"),
        "{}",
        describe(&out)
    );
    // The rotation happened (and is audited); only its report was lost.
    let out = into_dev_full(sandbox.command(&["rotate", "s"]));
    assert_no_panic("rotate", &out);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(current(&sandbox.store(".rotation/store"), "app/key").0, "3");
}

#[test]
fn json_field_names_are_one_vocabulary() {
    let sandbox = rotated();
    let rotate = json(&sandbox, &["rotate", "s"]);
    let r = &rotate[0];
    for key in [
        "secret",
        "rotation_id",
        "status",
        "old_version",
        "new_version",
        "attempts",
        "error",
        "error_kind",
        "started_at",
        "finished_at",
    ] {
        assert!(r.get(key).is_some(), "rotate: missing {key}: {r}");
    }
    assert!(r.get("completed_at").is_none(), "{r}");
    assert_eq!(
        (r["old_version"].as_str(), r["new_version"].as_str()),
        (Some("2"), Some("3"))
    );

    let status = &json(&sandbox, &["status"])[0];
    for key in ["secret", "next_rotation", "last_rotation", "last_status"] {
        assert!(status.get(key).is_some(), "status: missing {key}: {status}");
    }
    assert!(status.get("next_due").is_none(), "{status}");

    let schedule = &json(&sandbox, &["schedule", "list"])[0];
    for key in ["secret", "state", "next_rotation", "last_rotation"] {
        assert!(
            schedule.get(key).is_some(),
            "schedule: missing {key}: {schedule}"
        );
    }

    // Rollback: old_version is what was current before the command, new_version after it.
    let rollback = json(&sandbox, &["rollback", "s"]);
    assert_eq!(rollback["secret"], "s");
    assert_eq!(rollback["old_version"], "3", "{rollback}");
    assert_eq!(rollback["new_version"], "2", "{rollback}");
    assert!(rollback["rotation_id"].is_string(), "{rollback}");
    assert!(rollback.get("from_version").is_none() && rollback.get("to_version").is_none());
    assert_eq!(current(&sandbox.store(".rotation/store"), "app/key").0, "2");

    // Times are RFC 3339 in UTC.
    let at = r["finished_at"].as_str().expect("time");
    assert!(at.ends_with('Z'), "{at}");
    chrono::DateTime::parse_from_rfc3339(at).expect("RFC 3339");
}

#[test]
fn yaml_is_the_same_document_as_json() {
    let sandbox = rotated();
    for args in [
        &["status"][..],
        &["stats"],
        &["history", "s"],
        &["schedule", "list"],
        &["audit", "verify"],
        &["config", "check"],
    ] {
        let mut yaml_args = args.to_vec();
        yaml_args.extend(["-o", "yaml"]);
        let out = sandbox.run(&yaml_args, None);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
        let yaml: Value = serde_yaml_ng::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not YAML ({e}): {}", describe(&out)));
        assert_eq!(yaml, json(&sandbox, args), "{args:?}");
    }
    let out = sandbox.run(&["rotate", "s", "-o", "yaml"], None);
    let yaml: Value = serde_yaml_ng::from_slice(&out.stdout).expect("yaml");
    assert_eq!(yaml[0]["new_version"], "3", "{}", describe(&out));
}

#[test]
fn name_output_is_one_identifier_per_line() {
    let sandbox = Sandbox::new(&format!(
        "{}\n[[secrets]]\nid = \"t\"\nstore = \"local\"\npath = \"app/other\"\npolicy = \"default\"\n",
        basic_config("cat >/dev/null", "")
    ));
    seed(&sandbox.store(".rotation/store"), "app/key", b"initial");
    seed(&sandbox.store(".rotation/store"), "app/other", b"initial");
    let text = |args: &[&str]| {
        let out = sandbox.run(args, None);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
        String::from_utf8(out.stdout).expect("utf-8")
    };
    assert_eq!(text(&["status", "-o", "name"]), "s\nt\n");
    assert_eq!(text(&["config", "check", "-o", "name"]), "s\nt\n");
    let ids = text(&["rotate", "--all", "-o", "name"]);
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    let history = json(&sandbox, &["history", "s"]);
    let audited: Vec<&str> = history["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["rotation_id"].as_str())
        .collect();
    assert!(audited.contains(&ids[0]), "{ids:?} vs {audited:?}");
    assert_eq!(text(&["schedule", "list", "-o", "name"]), "s\nt\n");
    assert_eq!(text(&["history", "s", "-o", "name"]), "2\n1\n");
}

#[test]
fn quiet_prints_nothing_on_success_and_failures_on_stderr() {
    let sandbox = rotated();
    for args in [
        &["rotate", "s", "-q"][..],
        &["status", "--quiet"],
        &["audit", "verify", "-q"],
    ] {
        let out = sandbox.run(args, None);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
        assert!(
            out.stdout.is_empty() && out.stderr.is_empty(),
            "{args:?}: {}",
            describe(&out)
        );
    }
    // A failing rotation: nothing on stdout, the reason on stderr, the same exit code.
    let failing = Sandbox::new(&basic_config("exit 3", ""));
    seed(&failing.store(".rotation/store"), "app/key", b"initial");
    let out = failing.run(&["rotate", "s", "-q"], None);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    assert!(
        stderr(&out).starts_with("error: s rotation "),
        "{}",
        describe(&out)
    );
    // Usage errors still say why.
    let out = sandbox.run(&["verify", "nope", "-q"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown secret id"),
        "{}",
        describe(&out)
    );
}

#[test]
fn success_rate_is_null_when_nothing_ran() {
    let sandbox = Sandbox::new(&basic_config("cat >/dev/null", ""));
    seed(&sandbox.store(".rotation/store"), "app/key", b"initial");
    let stats = json(&sandbox, &["stats"]);
    assert_eq!(stats["total_rotations"], 0);
    assert!(stats["success_rate"].is_null(), "{stats}");
    let out = sandbox.run(&["stats"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().eq(["success_rate", "-"])),
        "{text}"
    );
    assert!(sandbox.run(&["rotate", "s"], None).status.success());
    assert_eq!(json(&sandbox, &["stats"])["success_rate"], 1.0);
}

#[test]
fn audit_verify_reports_what_it_checked() {
    let sandbox = rotated();
    assert!(sandbox.run(&["rotate", "s"], None).status.success());
    assert!(sandbox.run(&["verify", "s"], None).status.success());
    let log = std::fs::read_to_string(sandbox.path().join(".rotation/audit.jsonl")).expect("log");
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(
        lines.len(),
        5,
        "two rotations (started, succeeded) and a verification"
    );
    let check = json(&sandbox, &["audit", "verify"]);
    assert_eq!(check["valid"], true, "{check}");
    assert_eq!(check["records"], lines.len(), "{check}");
    assert_eq!(check["first_seq"], 1, "{check}");
    assert_eq!(check["last_seq"], lines.len(), "{check}");
    assert_eq!(
        check["head_hash"],
        lines.last().expect("last")["hash"],
        "{check}"
    );
    assert_eq!(check["first_at"], lines[0]["event"]["at"], "{check}");
    assert_eq!(check["last_at"], lines.last().expect("last")["event"]["at"]);

    // An edited line: invalid, the break named, the lines read still counted.
    let edited = log.replacen("\"succeeded\"", "\"failed\"", 1);
    std::fs::write(sandbox.path().join(".rotation/audit.jsonl"), edited).expect("edit");
    let out = sandbox.run(&["audit", "verify", "-o", "json"], None);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let check: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(check["valid"], false);
    assert_eq!(check["records"], lines.len(), "{check}");
    assert!(
        check["head_hash"].is_null(),
        "no head for a broken chain: {check}"
    );
    assert_eq!(check["breaks"][0]["line"], 2, "{check}");
    assert!(
        check["error"].as_str().is_some_and(|e| e.contains("line")),
        "{check}"
    );
}

#[test]
fn tables_align_with_long_ids_and_show_zoned_relative_times() {
    let long = "a-secret-id-much-longer-than-the-twenty-four-columns-of-old";
    let config = format!(
        "{}\n[policies.nightly]\ncron = \"0 3 * * *\"\ntimezone = \"Europe/Berlin\"\nverifiers = [\"check\"]\n\n\
         [[secrets]]\nid = \"{long}\"\nstore = \"local\"\npath = \"app/long\"\npolicy = \"nightly\"\n",
        basic_config("cat >/dev/null", "")
    );
    let sandbox = Sandbox::new(&config);
    seed(&sandbox.store(".rotation/store"), "app/key", b"initial");
    seed(&sandbox.store(".rotation/store"), "app/long", b"initial");
    assert!(sandbox.run(&["rotate", "s"], None).status.success());
    for (args, column) in [
        (&["status"][..], "CURRENT"),
        (&["status"], "SCHEDULE"),
        (&["schedule", "list"], "STATE"),
        (&["schedule", "list"], "NEXT ROTATION"),
    ] {
        let out = sandbox.run(args, None);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let at = lines[0].find(column).expect("header");
        // Every row has a cell ending (right-aligned) or starting (left-aligned) in the column:
        // the character before the column is a space on every line.
        for l in &lines[1..] {
            assert!(
                l.len() > at && l.as_bytes()[at - 1] == b' ' && l.as_bytes()[at - 2] == b' ',
                "{args:?}: column {column} not aligned:\n{text}"
            );
        }
        if column == "STATE" || column == "SCHEDULE" {
            for l in &lines[1..] {
                assert!(l[at..].starts_with("active"), "{args:?}:\n{text}");
            }
        }
        // Times: the policy's zone, seconds at most, relative to now.
        assert!(text.contains(" 03:00:00 CET (in "), "{args:?}:\n{text}");
        assert!(text.contains(" UTC (in 29d)"), "{args:?}:\n{text}");
        assert!(!text.contains("+00:00"), "{args:?}:\n{text}");
    }
}

#[test]
fn run_watch_keeps_rotating_when_its_stdout_is_closed() {
    let config =
        basic_config("cat >/dev/null", "").replace("interval = \"30d\"", "interval = \"1s\"");
    let sandbox = Sandbox::new(&config);
    seed(&sandbox.store(".rotation/store"), "app/key", b"initial");
    let log = tempfile::NamedTempFile::new().expect("tmp");
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut watch = sandbox
        .command(&["run", "--watch", "--tick", "100ms", "-o", "json"])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(log.reopen().expect("reopen"))
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let version = loop {
        let v: u32 = current(&sandbox.store(".rotation/store"), "app/key")
            .0
            .parse()
            .expect("number");
        if v >= 3 || std::time::Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let exited = watch.try_wait().expect("try_wait");
    let _ = watch.kill();
    let _ = watch.wait();
    let stderr = std::fs::read_to_string(log.path()).expect("stderr");
    assert!(exited.is_none(), "the daemon ended: {exited:?}\n{stderr}");
    assert!(version >= 3, "rotated to version {version} only\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
