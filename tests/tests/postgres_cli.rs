//! The `rotation` binary rotating a real PostgreSQL user (a private server with SCRAM
//! passwords and every statement logged): rotate, then roll back, through a `postgres` target
//! whose admin login is another secret of the store, checked by a `postgres` verifier; and
//! `kill -9` during a slow verifier, after which `rotation recover` leaves the store holding
//! the one password the server accepts. No password is in the server's log or the output.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rotation_core::{RotationStatus, SecretPath, SecretStore, StateStore};
use rotation_e2e::{Sandbox, current, describe, seed};
use rotation_state_sqlite::SqliteStateStore;
use rotation_testkit::postgres::PrivatePostgres;
use serde_json::Value;

fn config(pg: &PrivatePostgres) -> String {
    let port = pg.port;
    format!(
        r#"
[stores.local]
kind = "file"
root = ".rotation/store"

[targets.pg]
kind = "postgres"
admin_secret = "pg-admin"
host = "127.0.0.1"
port = {port}
tls = "disable"

[verifiers.login]
kind = "postgres"
host = "127.0.0.1"
port = {port}
tls = "disable"

[verifiers.slow-login]
kind = "postgres"
host = "127.0.0.1"
port = {port}
tls = "disable"
query = "SELECT 1 FROM pg_sleep(3)"

[policies.db]
interval = "30d"
strategy = "staged"
verifiers = ["login"]

[policies.slow]
interval = "30d"
strategy = "staged"
verifiers = ["slow-login"]

[policies.manual]
interval = "0"
require_verification = false

[[secrets]]
id = "app"
store = "local"
path = "db/app"
policy = "db"
target = "pg"

[[secrets]]
id = "slow"
store = "local"
path = "db/slow"
policy = "slow"
target = "pg"

[[secrets]]
id = "pg-admin"
store = "local"
path = "db/admin"
policy = "manual"

[state]
lease_ttl = "300ms"
"#
    )
}

/// Whether `user` logs in with `password` (a fresh `psql` connection; the password in its
/// environment, never in argv).
fn logs_in(pg: &PrivatePostgres, user: &str, password: &str) -> bool {
    Command::new("psql")
        .args(["-X", "-w", "-q", "-A", "-t", "-h", "127.0.0.1", "-p"])
        .arg(pg.port.to_string())
        .args(["-U", user, "-d", "postgres", "-c", "SELECT 1"])
        .env("PGPASSWORD", password)
        .env("PGSSLMODE", "disable")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run psql")
        .success()
}

/// The test's own setup is not logged: the log then holds only what the rotation sent.
fn create_role(pg: &PrivatePostgres, user: &str, password: &str) {
    pg.sql(&format!(
        "SET log_statement = 'none'; CREATE ROLE {user} LOGIN PASSWORD '{password}'"
    ));
}

fn password_of(doc: &[u8]) -> String {
    let doc: Value = serde_json::from_slice(doc).expect("a JSON secret");
    doc["password"].as_str().expect("password").to_owned()
}

fn assert_no_password(what: &str, text: &str, passwords: &[&str]) {
    for p in passwords {
        assert!(!text.contains(p), "{what} contains a password");
    }
}

fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn rotate_and_roll_back_a_postgres_user_through_the_binary() {
    let pg = PrivatePostgres::start();
    let initial = "initial-Pw-0451";
    create_role(&pg, "app", initial);
    assert!(logs_in(&pg, "app", initial), "the user logs in before");
    assert!(
        !logs_in(&pg, "app", "not-the-password"),
        "the server refuses a wrong password (so a login proves something)"
    );
    let sandbox = Sandbox::new(&config(&pg));
    let store = sandbox.store(".rotation/store");
    seed(&store, "db/app", pg.document("app", initial).as_bytes());
    seed(&store, "db/admin", pg.admin_document().as_bytes());

    // The dry run says where the target connects and how it logs in, and changes nothing.
    let out = sandbox.run(&["rotate", "app", "--dry-run"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains(&format!("postgres at 127.0.0.1:{}", pg.port))
            && plan.contains("admin from secret pg-admin"),
        "{plan}"
    );
    assert!(logs_in(&pg, "app", initial), "a dry run changes nothing");

    let out = sandbox.run(&["rotate", "app", "-o", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let (_, doc) = current(&store, "db/app");
    let rotated = password_of(&doc);
    assert_ne!(rotated, initial);
    let kept: Value = serde_json::from_slice(&doc).expect("json");
    assert_eq!(kept["username"], "app", "the other keys are kept");
    assert_eq!(kept["port"], pg.port, "the other keys are kept");
    assert!(logs_in(&pg, "app", &rotated), "the new password logs in");
    assert!(!logs_in(&pg, "app", initial), "the old one is refused");
    let mut seen = output_text(&out);

    let out = sandbox.run(&["rollback", "app", "-o", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(password_of(&current(&store, "db/app").1), initial);
    assert!(
        logs_in(&pg, "app", initial),
        "rolled back: the old password logs in"
    );
    assert!(
        !logs_in(&pg, "app", &rotated),
        "and the rotated one is refused"
    );
    seen += &output_text(&out);

    let out = sandbox.run(&["verify", "app"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    seen += &output_text(&out);

    let admin = pg.admin_password.clone();
    assert_no_password("the output", &seen, &[initial, &rotated, &admin]);
    let log = pg.log();
    assert!(log.contains("ALTER ROLE"), "statements are logged");
    assert_no_password("the server log", &log, &[initial, &rotated]);
    let audit =
        std::fs::read_to_string(sandbox.path().join(".rotation/audit.jsonl")).expect("audit");
    assert_no_password("the audit log", &audit, &[initial, &rotated, &admin]);
}

#[test]
fn kill_9_during_a_slow_postgres_verifier_then_recover() {
    let pg = PrivatePostgres::start();
    let initial = "slow-initial-Pw-0452";
    create_role(&pg, "slow", initial);
    assert!(!logs_in(&pg, "slow", "not-the-password"));
    let sandbox = Sandbox::new(&config(&pg));
    let store = sandbox.store(".rotation/store");
    seed(&store, "db/slow", pg.document("slow", initial).as_bytes());
    seed(&store, "db/admin", pg.admin_document().as_bytes());

    let mut child = sandbox
        .command(&["rotate", "slow"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Inside the verify step the target already holds the new password.
    let state = SqliteStateStore::open(sandbox.path().join(".rotation/state.db")).expect("state");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let open = rt.block_on(state.unfinished()).expect("unfinished");
        if open.iter().any(|s| s.status() == RotationStatus::Verifying) {
            break;
        }
        assert!(Instant::now() < deadline, "never reached the verify step");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9");
    child.wait().expect("wait");

    // Every password the store has for the secret: the current one and the staged one.
    let path = SecretPath::new("db/slow");
    let versions = rt.block_on(store.list_versions(&path)).expect("versions");
    let mut passwords = Vec::new();
    for v in &versions {
        let value = rt
            .block_on(store.read_version(&path, &v.version))
            .expect("read version");
        passwords.push(password_of(value.value.expose()));
    }
    assert_eq!(passwords.len(), 2, "the current and the staged value");
    let staged = passwords
        .iter()
        .find(|p| p.as_str() != initial)
        .expect("new")
        .clone();
    assert!(
        logs_in(&pg, "slow", &staged),
        "the target was given the new password"
    );

    std::thread::sleep(Duration::from_millis(400));
    let out = sandbox.run(&["recover", "-o", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let current_pw = password_of(&current(&store, "db/slow").1);
    let other = if current_pw == initial {
        &staged
    } else {
        &initial.to_owned()
    };
    assert!(
        logs_in(&pg, "slow", &current_pw),
        "the store's current password logs in"
    );
    assert!(!logs_in(&pg, "slow", other), "the other one is refused");
    assert!(
        rt.block_on(state.unfinished())
            .expect("unfinished")
            .is_empty(),
        "nothing left unfinished"
    );
    let again = sandbox.run(&["recover", "-o", "json"], None);
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
    assert_eq!(password_of(&current(&store, "db/slow").1), current_pw);
    assert!(
        logs_in(&pg, "slow", &current_pw),
        "a second recovery changes nothing"
    );
    assert_no_password("the server log", &pg.log(), &[initial, &staged]);
}
