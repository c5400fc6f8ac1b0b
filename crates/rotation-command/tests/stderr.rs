//! A failing command says why: its stderr, scrubbed of every value, bounded, in the error (which
//! names the verifier or target) and in the logs. Real `sh` scripts, no mocks.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rotation_command::stderr::{ERROR_LIMIT, LIMIT};
use rotation_command::{CommandRunner, CommandSpec, ValueVia};
use rotation_core::{Error, ErrorKind, SecretValue, Target, Verifier, VerifyContext};

const NEW: &str = "NEW-s3cret-9f8e7d6c";
const OLD: &str = "OLD-s3cret-1a2b3c4d";

fn spec(script: &str, via: ValueVia, timeout: &str) -> CommandSpec {
    CommandSpec {
        command: vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()],
        value_via: via,
        env: None,
        timeout: Some(timeout.to_owned()),
        working_dir: None,
        revoke: None,
    }
}

fn verifier(name: &str, script: &str) -> CommandRunner {
    spec(script, ValueVia::Stdin, "20s").verifier(name).unwrap()
}

/// A rotation's context: the engine knows both values.
fn ctx() -> VerifyContext {
    VerifyContext::new("s".into(), None)
        .with_related_values([SecretValue::from(NEW), SecretValue::from(OLD)])
}

fn assert_no_value(text: &str) {
    for value in [NEW, OLD] {
        assert!(!text.contains(value), "a value leaked: {text}");
        // No piece either (a value cut in two by a limit).
        for piece in value.as_bytes().windows(6) {
            let piece = std::str::from_utf8(piece).unwrap();
            assert!(!text.contains(piece), "{piece:?} of a value leaked: {text}");
        }
    }
}

/// Logs written while `f` runs, at debug level, as text.
async fn with_logs<T>(f: impl Future<Output = T>) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // `#[tokio::test]` runs on this thread only, so a thread-local default sees every event.
    let _guard = tracing::subscriber::set_default(subscriber);
    let out = f.await;
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

#[tokio::test]
async fn the_error_names_the_verifier_and_shows_its_stderr() {
    let v = verifier(
        "db-login",
        "cat >/dev/null; echo 'psql: FATAL password authentication failed' >&2; exit 2",
    );
    let (err, logs) = with_logs(v.verify(&ctx(), &SecretValue::from(NEW))).await;
    let err = err.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Verification);
    assert_eq!(
        err.to_string(),
        r#"verifier "db-login" (program "sh"): exited with status 2: psql: FATAL password authentication failed"#
    );
    // `-v` shows info: the failure is logged there with the verifier's name.
    let line = logs
        .lines()
        .find(|l| l.contains("command verifier failed"))
        .unwrap_or_else(|| panic!("no failure logged: {logs}"));
    assert!(line.contains(" INFO "), "{line}");
    assert!(line.contains("verifier=db-login"), "{line}");
    assert!(line.contains("psql: FATAL password"), "{line}");
}

#[tokio::test]
async fn both_values_are_scrubbed_every_time_they_appear() {
    let script = format!(
        r#"v=$(cat); echo "got $v and $v" >&2; echo "old was {OLD}, now $v" >&2; printf %s "$v$v" >&2; exit 1"#
    );
    let (err, logs) =
        with_logs(verifier("v", &script).verify(&ctx(), &SecretValue::from(NEW))).await;
    let err = err.unwrap_err().to_string();
    assert!(
        err.ends_with(
            "exited with status 1: got [redacted] and [redacted] | old was [redacted], now [redacted] | [redacted]"
        ),
        "{err}"
    );
    assert_no_value(&err);
    assert_no_value(&logs);
    assert!(logs.contains("got [redacted] and [redacted]"), "{logs}");
}

#[tokio::test]
async fn a_value_in_the_environment_is_scrubbed_too() {
    let env = spec(
        r#"echo "bad: $ROTATION_VALUE" >&2; exit 1"#,
        ValueVia::Env,
        "20s",
    )
    .target("app")
    .unwrap();
    let (err, logs) = with_logs(env.apply(&ctx(), &SecretValue::from(NEW))).await;
    let err = err.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Target);
    assert_eq!(
        err.to_string(),
        r#"target "app" (program "sh"): exited with status 1: bad: [redacted]"#
    );
    let line = logs
        .lines()
        .find(|l| l.contains("command target failed"))
        .unwrap_or_else(|| panic!("no failure logged: {logs}"));
    assert!(
        line.contains("target=app") && line.contains("bad: [redacted]"),
        "{line}"
    );
}

#[tokio::test]
async fn the_value_passed_is_scrubbed_without_a_context_that_knows_it() {
    let err = verifier("v", r#"v=$(cat); echo "$v" >&2; exit 1"#)
        .verify(
            &VerifyContext::new("s".into(), None),
            &SecretValue::from(NEW),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().ends_with(": [redacted]"), "{err}");
}

/// The value straddles the 4 KiB cut of the log and the 1 KiB cut of the error, by every
/// offset: it is removed whole, no piece of it shows.
#[tokio::test]
async fn a_value_split_by_a_limit_leaks_no_piece() {
    for limit in [LIMIT, ERROR_LIMIT] {
        for shift in [1, NEW.len() / 2, NEW.len() - 1] {
            // Filler after the value so that `shift` bytes of it fall inside the limit.
            let filler = limit - shift;
            let script = format!(
                r#"v=$(cat); head -c 20000 /dev/zero | tr '\0' y >&2; printf '%s' "$v" >&2; head -c {filler} /dev/zero | tr '\0' x >&2; exit 1"#
            );
            let (err, logs) =
                with_logs(verifier("v", &script).verify(&ctx(), &SecretValue::from(NEW))).await;
            let err = err.unwrap_err().to_string();
            assert_no_value(&err);
            assert_no_value(&logs);
        }
    }
}

#[tokio::test]
async fn a_huge_stderr_is_bounded_and_its_end_is_shown() {
    // About 1.2 MiB of lines that are the value, then the reason.
    let script = r#"v=$(cat); yes "$v" | head -n 60000 >&2; echo 'the real reason' >&2; exit 1"#;
    let started = Instant::now();
    let (err, logs) =
        with_logs(verifier("big", script).verify(&ctx(), &SecretValue::from(NEW))).await;
    let err = err.unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(err.ends_with("[redacted] | the real reason"), "{err}");
    assert!(err.len() < ERROR_LIMIT + 100, "{} bytes", err.len());
    assert_no_value(&err);
    assert_no_value(&logs);
    assert!(logs.len() < 2 * LIMIT, "{} bytes of logs", logs.len());
}

#[tokio::test]
async fn a_timeout_names_the_target_and_shows_what_it_wrote() {
    let t = spec(
        "echo 'waiting for the lock' >&2; sleep 5",
        ValueVia::Stdin,
        "300ms",
    )
    .target("app")
    .unwrap();
    let err: Error = t.apply(&ctx(), &SecretValue::from(NEW)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Target);
    assert_eq!(
        err.to_string(),
        r#"target "app" (program "sh"): timed out after 300ms: waiting for the lock"#
    );
}

#[tokio::test]
async fn the_revoke_program_is_named_and_scrubbed_of_both_values() {
    let mut s = spec("cat >/dev/null", ValueVia::Stdin, "20s");
    s.revoke = Some(vec![
        "sh".to_owned(),
        "-c".to_owned(),
        format!(r#"v=$(cat); echo "cannot drop $v (new {NEW})" >&2; exit 4"#),
    ]);
    let t = s.target("app").unwrap();
    let err = t.revoke(&ctx(), &SecretValue::from(OLD)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"target "app" (revoke program "sh"): exited with status 4: cannot drop [redacted] (new [redacted])"#
    );
}

#[tokio::test]
async fn a_success_logs_its_stderr_at_debug_level() {
    let v = verifier("chatty", r#"v=$(cat); echo "checked $v: fine" >&2"#);
    let (ok, logs) = with_logs(v.verify(&ctx(), &SecretValue::from(NEW))).await;
    ok.unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("command verifier passed"))
        .unwrap_or_else(|| panic!("no success logged: {logs}"));
    assert!(line.contains("DEBUG"), "{line}");
    assert!(line.contains("checked [redacted]: fine"), "{line}");
    let (ok, logs) =
        with_logs(verifier("quiet", "cat >/dev/null").verify(&ctx(), &SecretValue::from(NEW)))
            .await;
    ok.unwrap();
    assert!(!logs.contains("command verifier passed"), "{logs}");
}

#[tokio::test]
async fn a_descendant_that_left_the_group_and_keeps_stderr_does_not_hold_the_call() {
    let started = Instant::now();
    let err = verifier("v", "setsid sleep 3 & echo bye >&2; exit 1")
        .verify(&ctx(), &SecretValue::from(NEW))
        .await
        .unwrap_err();
    assert!(
        err.to_string().ends_with("exited with status 1: bye"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
