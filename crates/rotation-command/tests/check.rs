//! `check` finds a program the way `execvp` would and refuses a missing or non-executable one
//! with a config error naming the field; nothing runs.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rotation_command::{CommandRunner, CommandSpec, ValueVia};
use rotation_core::{ErrorKind, Target, Verifier};

fn spec(command: &[&str], working_dir: Option<&Path>) -> CommandSpec {
    CommandSpec {
        command: command.iter().map(|s| s.to_string()).collect(),
        value_via: ValueVia::Stdin,
        env: None,
        timeout: None,
        working_dir: working_dir.map(Path::to_owned),
        revoke: None,
    }
}

fn verifier(command: &[&str], working_dir: Option<&Path>) -> CommandRunner {
    spec(command, working_dir).verifier("v").unwrap()
}

/// The check's error, through the trait as `config check` calls it.
fn refused(runner: &CommandRunner) -> String {
    let err = Verifier::check(runner).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    err.to_string()
}

fn write_script(path: &Path, mode: u32) {
    std::fs::write(path, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_program_in_path_or_at_an_executable_path_passes() {
    Verifier::check(&verifier(&["sh", "-c", "true"], None)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("check.sh");
    write_script(&script, 0o755);
    Verifier::check(&verifier(&[script.to_str().unwrap()], None)).unwrap();
}

#[test]
fn a_missing_program_is_named_with_its_field() {
    assert_eq!(
        refused(&verifier(&["no-such-program-4f2a"], None)),
        r#"verifiers.v.command: program "no-such-program-4f2a" not found in PATH"#
    );
    assert_eq!(
        refused(&verifier(&["/nonexistent/prog"], None)),
        r#"verifiers.v.command: program "/nonexistent/prog" does not exist"#
    );
}

#[test]
fn a_file_without_an_execute_bit_or_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("check.sh");
    write_script(&script, 0o644);
    let path = script.to_str().unwrap();
    assert_eq!(
        refused(&verifier(&[path], None)),
        format!("verifiers.v.command: program {path:?} is not executable")
    );
    let dir_path = dir.path().to_str().unwrap();
    assert!(
        refused(&verifier(&[dir_path], None)).ends_with("is not a regular file"),
        "a directory"
    );
}

#[test]
fn a_relative_path_is_relative_to_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    write_script(&dir.path().join("run.sh"), 0o700);
    Verifier::check(&verifier(&["./run.sh"], Some(dir.path()))).unwrap();
    assert!(refused(&verifier(&["./run.sh"], None)).contains("does not exist"));
    let gone = dir.path().join("gone");
    assert_eq!(
        refused(&verifier(&["sh"], Some(&gone))),
        format!(
            "verifiers.v.working_dir: {} is not a directory",
            gone.display()
        )
    );
}

#[test]
fn a_target_checks_its_command_and_its_revoke_program() {
    let missing = spec(&["no-such-program-4f2a"], None).target("app").unwrap();
    let err = Target::check(&missing).unwrap_err();
    assert!(
        err.to_string().starts_with("targets.app.command: "),
        "{err}"
    );
    let mut s = spec(&["sh"], None);
    s.revoke = Some(vec!["/nonexistent/revoke".to_owned()]);
    let err = Target::check(&s.target("app").unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"targets.app.revoke: program "/nonexistent/revoke" does not exist"#
    );
    s.revoke = Some(vec!["true".to_owned()]);
    Target::check(&s.target("app").unwrap()).unwrap();
}
