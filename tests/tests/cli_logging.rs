//! Log filters through the binary: `RUST_LOG` and its alias `ROTATION_LOG` apply without `-v`,
//! an explicit `-v` beats them, fields are printed as values, piped logs have no colour.

use rotation_e2e::{Sandbox, basic_config, describe, seed};

fn sandbox() -> Sandbox {
    let sandbox = Sandbox::new(&basic_config("cat >/dev/null", ""));
    seed(&sandbox.store(".rotation/store"), "app/key", b"initial");
    sandbox
}

/// Stderr of `rotation <args> rotate s` with `env` set.
fn rotate_logs(sandbox: &Sandbox, flags: &[&str], env: &[(&str, &str)]) -> String {
    let mut args = flags.to_vec();
    args.extend(["rotate", "s"]);
    let mut cmd = sandbox.command(&args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = rotation_e2e::run_command(cmd, None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn rust_log_applies_without_flags() {
    let sandbox = sandbox();
    let quiet = rotate_logs(&sandbox, &[], &[]);
    assert!(
        !quiet.contains("DEBUG") && !quiet.contains("INFO"),
        "{quiet}"
    );
    let debug = rotate_logs(&sandbox, &[], &[("RUST_LOG", "debug")]);
    assert!(debug.contains("DEBUG"), "{debug}");
    // The alias wins over RUST_LOG.
    let alias = rotate_logs(
        &sandbox,
        &[],
        &[("RUST_LOG", "debug"), ("ROTATION_LOG", "error")],
    );
    assert!(
        !alias.contains("DEBUG") && !alias.contains("INFO"),
        "{alias}"
    );
}

#[test]
fn an_explicit_v_beats_the_environment() {
    let sandbox = sandbox();
    let logs = rotate_logs(&sandbox, &["-v"], &[("RUST_LOG", "error")]);
    assert!(
        logs.contains("INFO") && logs.contains("rotation finished"),
        "{logs}"
    );
    assert!(!logs.contains("DEBUG"), "{logs}");
}

#[test]
fn fields_are_values_and_piped_logs_have_no_colour() {
    let sandbox = sandbox();
    let logs = rotate_logs(&sandbox, &["-vv"], &[]);
    let finished = logs
        .lines()
        .find(|l| l.contains("rotation finished"))
        .unwrap_or_else(|| panic!("no finished line: {logs}"));
    assert!(finished.contains("old_version=1"), "{finished}");
    assert!(finished.contains("new_version=2"), "{finished}");
    assert!(
        !finished.contains("error="),
        "an absent error is left out: {finished}"
    );
    assert!(!logs.contains("Some("), "{logs}");
    assert!(!logs.contains('\u{1b}'), "colour on a pipe: {logs}");
}
