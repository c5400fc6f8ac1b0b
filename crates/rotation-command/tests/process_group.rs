//! No process a command starts outlives the call: after a timeout, a cancelled call, or a leader
//! that exits leaving a background child, that child is gone. Real processes, no mocks.

use std::path::Path;
use std::time::{Duration, Instant};

use rotation_command::{CommandSpec, ValueVia};
use rotation_core::{ErrorKind, SecretValue, Verifier, VerifyContext};

const VALUE: &str = "candidate-s3cret";

/// A `sh -c` verifier with the value in `$ROTATION_VALUE`.
fn verifier(script: &str, timeout: &str) -> rotation_command::CommandRunner {
    CommandSpec {
        command: vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()],
        value_via: ValueVia::Env,
        env: None,
        timeout: Some(timeout.to_owned()),
        working_dir: None,
        revoke: None,
    }
    .verifier("v")
    .unwrap()
}

fn ctx() -> VerifyContext {
    VerifyContext::new("s".into(), None)
}

/// Whether `pid` is a live process. A zombie (exited, waiting for its new parent to reap it)
/// holds no memory and no environment any more: not alive.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself contain ')'.
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next()),
            Some(Some('Z' | 'X'))
        ),
        Err(_) => false,
    }
}

/// Wait up to 2 s for `pid` to die (the kernel delivers SIGKILL asynchronously).
async fn assert_gone(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "process {pid} survived the command"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The pid the script wrote to `file` (waits up to 5 s for it).
async fn read_pid(file: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if let Some(pid) = text.strip_suffix('\n').and_then(|t| t.parse().ok()) {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "the command did not write {file:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The background child is alive and holds the value in its environment.
fn assert_holds_value(pid: u32) {
    assert!(alive(pid), "background process {pid} is not running");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let needle = format!("ROTATION_VALUE={VALUE}");
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_bytes()),
        "background process {pid} does not hold the value"
    );
}

#[tokio::test]
async fn the_liveness_check_sees_a_live_process_and_a_killed_one() {
    let mut sleep = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let pid = sleep.id();
    assert!(alive(pid));
    sleep.kill().unwrap();
    sleep.wait().unwrap();
    assert_gone(pid).await;
}

#[tokio::test]
async fn a_timeout_kills_the_background_children() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let runner = verifier(
        &format!("sleep 300 & echo $! > '{}'; sleep 300", pidfile.display()),
        "2s",
    );
    let call = tokio::spawn(async move { runner.verify(&ctx(), &SecretValue::from(VALUE)).await });
    let pid = read_pid(&pidfile).await;
    assert_holds_value(pid);
    let err = call.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(err.kind(), ErrorKind::Verification);
    assert_gone(pid).await;
}

#[tokio::test]
async fn a_cancelled_call_kills_the_background_children() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    // The command's own timeout never fires: only the cancellation can end it.
    let runner = verifier(
        &format!("sleep 300 & echo $! > '{}'; sleep 300", pidfile.display()),
        "300s",
    );
    let call = tokio::spawn(async move { runner.verify(&ctx(), &SecretValue::from(VALUE)).await });
    let pid = read_pid(&pidfile).await;
    assert_holds_value(pid);
    call.abort();
    // Resolves once the aborted future has been dropped.
    assert!(call.await.unwrap_err().is_cancelled());
    assert_gone(pid).await;
}

#[tokio::test]
async fn a_leader_that_exits_leaves_no_background_child() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    // Exits 0 only if the background child is alive at that moment (`kill -0`).
    let runner = verifier(
        &format!("sleep 300 & echo $! > '{}'; kill -0 $!", pidfile.display()),
        "30s",
    );
    runner
        .verify(&ctx(), &SecretValue::from(VALUE))
        .await
        .unwrap();
    let pid = read_pid(&pidfile).await;
    assert_gone(pid).await;
}
