//! `rotate --value-stdin` on a terminal (a pseudo-terminal): asked twice without echo, a
//! mismatch refused with nothing changed, a match rotates to the typed value; and coloured
//! logs on a terminal unless `NO_COLOR` is set.

use rotation_e2e::pty::{OnTerminal, Pty};
use rotation_e2e::{Sandbox, basic_config, current, describe, seed};

const BOTH: OnTerminal = OnTerminal {
    stdin: true,
    stderr: true,
};

fn sandbox() -> Sandbox {
    let sandbox = Sandbox::new(&basic_config("cat >/dev/null", ""));
    seed(&sandbox.store(".rotation/store"), "app/key", b"initial");
    sandbox
}

#[test]
fn a_typed_value_is_asked_twice_without_echo_and_rotated_to() {
    let sandbox = sandbox();
    let typed = "typed-Secret-4711";
    let (child, pty) = Pty::spawn(sandbox.command(&["rotate", "s", "--value-stdin"]), BOTH);
    pty.wait_for("New value", 1);
    pty.type_text(&format!("{typed}\n"));
    pty.wait_for("Repeat the value", 1);
    pty.type_text(&format!("{typed}\n"));
    let out = child.wait_with_output().expect("wait");
    pty.finish();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n--- terminal\n{}",
        describe(&out),
        pty.seen()
    );
    let (version, value) = current(&sandbox.store(".rotation/store"), "app/key");
    assert_eq!(version, "2");
    assert_eq!(value, typed.as_bytes());
    assert!(
        !pty.seen().contains(typed),
        "the value was echoed: {:?}",
        pty.seen()
    );
}

#[test]
fn ctrl_c_at_the_prompt_cancels_and_gives_the_echo_back() {
    let sandbox = sandbox();
    let (child, pty) = Pty::spawn(sandbox.command(&["rotate", "s", "--value-stdin"]), BOTH);
    pty.wait_for("New value", 1);
    assert!(!pty.echoes(), "echo is off at the prompt");
    pty.type_text("half-typed-value\u{3}");
    let out = child.wait_with_output().expect("wait");
    pty.finish();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}\n--- terminal\n{}",
        describe(&out),
        pty.seen()
    );
    assert!(pty.seen().contains("cancelled"), "{}", pty.seen());
    assert!(!pty.seen().contains("half-typed"), "{}", pty.seen());
    assert!(pty.echoes(), "the terminal echoes again");
    let (version, _) = current(&sandbox.store(".rotation/store"), "app/key");
    assert_eq!(version, "1", "nothing changed");
}

#[test]
fn two_different_answers_are_refused_and_change_nothing() {
    let sandbox = sandbox();
    let (child, pty) = Pty::spawn(sandbox.command(&["rotate", "s", "--value-stdin"]), BOTH);
    pty.wait_for("New value", 1);
    pty.type_text("first-value-111\n");
    pty.wait_for("Repeat the value", 1);
    pty.type_text("other-value-222\n");
    let out = child.wait_with_output().expect("wait");
    pty.finish();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}\n--- terminal\n{}",
        describe(&out),
        pty.seen()
    );
    assert!(pty.seen().contains("do not match"), "{}", pty.seen());
    assert!(!pty.seen().contains("first-value-111"), "{}", pty.seen());
    assert!(!pty.seen().contains("other-value-222"), "{}", pty.seen());
    let (version, value) = current(&sandbox.store(".rotation/store"), "app/key");
    assert_eq!((version.as_str(), value.as_slice()), ("1", &b"initial"[..]));
    assert!(
        !sandbox.path().join(".rotation/audit.jsonl").exists(),
        "a refused value was audited"
    );
}

#[test]
fn a_pipe_is_read_as_before() {
    let sandbox = sandbox();
    let out = sandbox.run(&["rotate", "s", "--value-stdin"], Some(b"piped-value\n"));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("New value"));
    assert_eq!(
        current(&sandbox.store(".rotation/store"), "app/key").1,
        b"piped-value"
    );
}

#[test]
fn logs_are_coloured_on_a_terminal_unless_no_color_is_set() {
    let on_stderr = OnTerminal {
        stdin: false,
        stderr: true,
    };
    let sandbox = sandbox();
    let (child, pty) = Pty::spawn(sandbox.command(&["-v", "rotate", "s"]), on_stderr);
    let out = child.wait_with_output().expect("wait");
    pty.finish();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    pty.wait_for("rotation finished", 1);
    assert!(
        pty.seen().contains("\u{1b}["),
        "no colour: {:?}",
        pty.seen()
    );

    let mut cmd = sandbox.command(&["-v", "rotate", "s"]);
    cmd.env("NO_COLOR", "1");
    let (child, pty) = Pty::spawn(cmd, on_stderr);
    let out = child.wait_with_output().expect("wait");
    pty.finish();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    pty.wait_for("rotation finished", 1);
    assert!(
        !pty.seen().contains("\u{1b}["),
        "coloured: {:?}",
        pty.seen()
    );
}

#[test]
fn audit_repair_asks_on_a_terminal() {
    let sandbox = sandbox();
    let out = sandbox.run(&["rotate", "s"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let log = sandbox.path().join(".rotation/audit.jsonl");
    let text = std::fs::read_to_string(&log).expect("log");
    let edited = text.replacen("\"succeeded\"", "\"failed\"", 1);
    std::fs::write(&log, &edited).expect("edit");

    let (child, pty) = Pty::spawn(sandbox.command(&["audit", "repair"]), BOTH);
    pty.wait_for("[y/N]", 1);
    pty.type_text("n\n");
    let out = child.wait_with_output().expect("wait");
    pty.finish();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}\n--- terminal\n{}",
        describe(&out),
        pty.seen()
    );
    assert_eq!(std::fs::read_to_string(&log).expect("log"), edited);

    let (child, pty) = Pty::spawn(sandbox.command(&["audit", "repair"]), BOTH);
    pty.wait_for("[y/N]", 1);
    pty.type_text("y\n");
    let out = child.wait_with_output().expect("wait");
    pty.finish();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n--- terminal\n{}",
        describe(&out),
        pty.seen()
    );
    assert!(sandbox.run(&["audit", "verify"], None).status.success());
}
