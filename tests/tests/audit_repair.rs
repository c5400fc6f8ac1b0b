//! A broken audit chain stops every writing command (exit 1, naming the log, the first broken
//! record and the repair command) and changes nothing, until `rotation audit repair` records
//! the break; `audit verify` then passes and lists the acknowledged break.

use rotation_e2e::{Sandbox, basic_config, current, describe, seed};
use serde_json::Value;

fn rotated_thrice() -> Sandbox {
    let sandbox = Sandbox::new(&basic_config("cat >/dev/null", ""));
    seed(&sandbox.store(".rotation/store"), "app/key", b"initial");
    for _ in 0..3 {
        let out = sandbox.run(&["rotate", "s"], None);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    }
    sandbox
}

fn log(sandbox: &Sandbox) -> std::path::PathBuf {
    sandbox.path().join(".rotation/audit.jsonl")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_broken_chain_refuses_writers_until_repaired() {
    let sandbox = rotated_thrice();
    let log = log(&sandbox);
    let text = std::fs::read_to_string(&log).expect("log");
    // Line 2 is the first rotation's `succeeded` record.
    let edited = text.replacen("\"succeeded\"", "\"failed\"", 1);
    assert_ne!(edited, text);
    std::fs::write(&log, &edited).expect("edit");
    let before = current(&sandbox.store(".rotation/store"), "app/key");

    let out = sandbox.run(&["rotate", "s"], None);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains(&log.display().to_string()), "{err}");
    assert!(err.contains("audit line 2"), "{err}");
    assert!(err.contains("rotation audit repair"), "{err}");
    for args in [
        &["rotate", "--all"][..],
        &["rollback", "s"],
        &["verify", "s"],
        &["run"],
        &["recover"],
        &["schedule", "pause", "s"],
        &["stats", "--reset"],
    ] {
        let out = sandbox.run(args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        assert!(
            stderr(&out).contains("rotation audit repair"),
            "{args:?}: {}",
            describe(&out)
        );
    }
    assert_eq!(
        current(&sandbox.store(".rotation/store"), "app/key"),
        before
    );
    assert_eq!(std::fs::read_to_string(&log).expect("log"), edited);
    // Views still work; `history` says the chain is broken and leaves the edited record out.
    assert_eq!(sandbox.run(&["status"], None).status.code(), Some(0));
    let out = sandbox.run(&["history", "s", "-o", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(stderr(&out).contains("audit line 2"), "{}", describe(&out));
    let history: Value = serde_json::from_slice(&out.stdout).expect("json");
    let events = history["events"].as_array().expect("events");
    assert_eq!(events.len(), text.lines().count() - 1, "{history}");

    // A repair needs a confirmation: no terminal and no --yes changes nothing.
    let out = sandbox.run(&["audit", "repair"], None);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_eq!(std::fs::read_to_string(&log).expect("log"), edited);

    let out = sandbox.run(&["audit", "repair", "--yes"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = sandbox.run(&["audit", "verify", "-o", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let check: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(check["valid"], true, "{check}");
    let lines = edited.lines().count();
    assert_eq!(check["records"], lines + 1, "{check}");
    let repair = &check["repairs"][0];
    assert_eq!(repair["line"], lines + 1, "{check}");
    let brk = &repair["breaks"][0];
    assert_eq!(brk["line"], 2, "{check}");
    assert_eq!(brk["kind"], "content", "{check}");
    assert_ne!(brk["expected_hash"], brk["found_hash"], "{check}");
    let repair_line = std::fs::read_to_string(&log).expect("log");
    let repair_line = repair_line.lines().last().expect("repair record");
    assert!(!repair_line.contains("initial"), "{repair_line}");

    let out = sandbox.run(&["audit", "verify"], None);
    let text_out = String::from_utf8_lossy(&out.stdout);
    assert!(text_out.contains("acknowledged"), "{}", describe(&out));
    assert!(text_out.contains("audit line 2"), "{}", describe(&out));

    let out = sandbox.run(&["rotate", "s"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(sandbox.run(&["audit", "verify"], None).status.success());
    // A second repair finds nothing to do.
    let out = sandbox.run(&["audit", "repair", "--yes"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to repair"));
}

#[test]
fn removed_lines_in_the_middle_and_at_the_end_are_repaired_too() {
    let sandbox = rotated_thrice();
    let log = log(&sandbox);
    let text = std::fs::read_to_string(&log).expect("log");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(2);
    lines.pop();
    std::fs::write(&log, lines.join("\n") + "\n").expect("remove");
    let out = sandbox.run(&["rotate", "s"], None);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("audit line 3"), "{}", describe(&out));

    let out = sandbox.run(&["audit", "repair", "--yes"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = sandbox.run(&["audit", "verify", "-o", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let check: Value = serde_json::from_slice(&out.stdout).expect("json");
    let kinds: Vec<&str> = check["repairs"][0]["breaks"]
        .as_array()
        .expect("breaks")
        .iter()
        .map(|b| b["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["sequence", "truncated"], "{check}");

    let out = sandbox.run(&["rotate", "s"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    // A later edit of an acknowledged line is a new break.
    let text = std::fs::read_to_string(&log).expect("log");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[2] = lines[2].replacen("\"seq\":", "\"seq\": ", 1);
    std::fs::write(&log, lines.join("\n") + "\n").expect("edit again");
    let out = sandbox.run(&["rotate", "s"], None);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("audit line 3"), "{}", describe(&out));
}
