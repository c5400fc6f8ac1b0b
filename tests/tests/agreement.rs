//! The store, the target and the audit log agree, through the binary, after the races and
//! crashes that used to split them (issue 11): a late recovery after a newer rotation, a
//! rollback racing a rotation, `kill -9` during a rollback, a full audit disk, and a rotation
//! that kills its own process every time. The target is a command that writes the value it is
//! given to `target.txt`, so "what the target holds" is a file the test reads.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rotation_core::{RotationStatus, SecretId, SecretStore, StateStore};
use rotation_e2e::{Sandbox, basic_config, command_target, current, describe, run_command, seed};
use rotation_state_sqlite::SqliteStateStore;

const LEASE: Duration = Duration::from_millis(400);

/// One secret `s` in a file store, a verifier that waits while `<dir>/hold` exists, and a
/// target that writes its value to `<dir>/target.txt` (waiting while `<dir>/slow-target`
/// exists, before it writes).
fn config(dir: &Path, strategy: &str, extra_policy: &str, audit: Option<&Path>) -> String {
    let d = dir.display();
    let verifier = format!("cat >/dev/null; while [ -e {d}/hold ]; do sleep 0.02; done");
    let target = format!(
        "cat > {d}/target.tmp; while [ -e {d}/slow-target ]; do sleep 0.02; done; mv {d}/target.tmp {d}/target.txt"
    );
    let audit = audit.map_or_else(String::new, |p| {
        format!("\n[audit]\npath = {:?}\n", p.display().to_string())
    });
    basic_config(&verifier, "target = \"app\"").replace(
        "interval = \"30d\"",
        &format!("interval = \"30d\"\nstrategy = \"{strategy}\"\n{extra_policy}"),
    ) + &command_target(&target)
        + "\n[state]\nlease_ttl = \"400ms\"\n"
        + &audit
}

fn sandbox(strategy: &str, extra_policy: &str) -> Sandbox {
    let sb = Sandbox::new("");
    std::fs::write(sb.config(), config(sb.path(), strategy, extra_policy, None)).expect("config");
    seed(&sb.store(".rotation/store"), "app/key", b"v1");
    sb
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn state(sb: &Sandbox) -> SqliteStateStore {
    SqliteStateStore::open(sb.path().join(".rotation/state.db")).expect("state db")
}

fn touch(sb: &Sandbox, name: &str) {
    std::fs::write(sb.path().join(name), b"").expect("flag");
}

fn remove(sb: &Sandbox, name: &str) {
    let _ = std::fs::remove_file(sb.path().join(name));
}

fn target(sb: &Sandbox) -> Option<Vec<u8>> {
    std::fs::read(sb.path().join("target.txt")).ok()
}

/// `rotation <args>` in its own process group (so the test can kill it and its children).
fn spawn(sb: &Sandbox, args: &[&str], stdin: &[u8]) -> Child {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    let mut cmd: Command = sb.command(args);
    cmd.process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn rotation");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child
}

/// kill -9 of the whole process group of `child` (the rotation and its verifier/target).
fn kill_group(child: &mut Child) {
    let status = Command::new("kill")
        // `--`: procps-ng 4.0 reads `kill -9 -PGID` wrongly (it signals every process).
        .args(["-s", "KILL", "--", &format!("-{}", child.id())])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -9 of the process group");
    child.wait().expect("wait");
}

/// Wait until the journal shows an unfinished record satisfying `pred`.
fn wait_for(
    sb: &Sandbox,
    what: &str,
    pred: impl Fn(&rotation_core::machine::RotationState) -> bool,
) {
    let state = state(sb);
    let rt = rt();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let open = rt.block_on(state.unfinished()).expect("unfinished");
        if open.iter().any(&pred) {
            return;
        }
        assert!(Instant::now() < deadline, "never reached: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The store's current value, the target's, and that nothing is left open.
fn assert_agree(sb: &Sandbox, what: &str) -> Vec<u8> {
    let (_, value) = current(&sb.store(".rotation/store"), "app/key");
    assert_eq!(
        target(sb).as_deref(),
        Some(value.as_slice()),
        "{what}: the target does not hold the store's current value {:?}",
        String::from_utf8_lossy(&value)
    );
    let rt = rt();
    let open = rt.block_on(state(sb).unfinished()).expect("unfinished");
    assert!(open.is_empty(), "{what}: unfinished records left: {open:?}");
    let audit = sb.run(&["audit", "verify"], None);
    assert_eq!(audit.status.code(), Some(0), "{what}: {}", describe(&audit));
    value
}

fn audit_lines(sb: &Sandbox) -> Vec<serde_json::Value> {
    std::fs::read_to_string(sb.path().join(".rotation/audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("audit line")["event"].clone())
        .collect()
}

fn rotate(sb: &Sandbox, value: &[u8]) -> std::process::Output {
    run_command(sb.command(&["rotate", "s", "--value-stdin"]), Some(value))
}

#[test]
fn a_late_recovery_never_moves_the_target_backwards() {
    for strategy in ["staged", "immediate"] {
        let sb = sandbox(strategy, "");
        // v2 reaches the target, then the process dies during verification.
        touch(&sb, "hold");
        let mut doomed = spawn(&sb, &["rotate", "s", "--value-stdin"], b"v2");
        wait_for(&sb, "verifying", |s| {
            s.status() == RotationStatus::Verifying
        });
        kill_group(&mut doomed);
        remove(&sb, "hold");
        std::thread::sleep(LEASE + Duration::from_millis(200));
        // A manual rotation after the lease expired succeeds...
        let out = rotate(&sb, b"v3");
        assert_eq!(out.status.code(), Some(0), "{strategy}: {}", describe(&out));
        // ...and the next scheduler run does not give the target an older value.
        let out = sb.run(&["run"], None);
        assert_eq!(out.status.code(), Some(0), "{strategy}: {}", describe(&out));
        let value = assert_agree(&sb, strategy);
        assert_eq!(value, b"v3", "{strategy}: the newer rotation stays current");
    }
}

#[test]
fn a_rollback_racing_a_rotation_is_refused() {
    let sb = sandbox("staged", "");
    let out = rotate(&sb, b"v2");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    touch(&sb, "hold");
    let rotation = spawn(&sb, &["rotate", "s", "--value-stdin"], b"v3");
    wait_for(&sb, "verifying", |s| {
        s.status() == RotationStatus::Verifying
    });
    let out = sb.run(&["rollback", "s"], None);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("in progress"),
        "{}",
        describe(&out)
    );
    remove(&sb, "hold");
    let out = rotation.wait_with_output().expect("rotation");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(assert_agree(&sb, "after the race"), b"v3");
    // Once nothing runs, the rollback works, and the target follows.
    let out = sb.run(&["rollback", "s"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(assert_agree(&sb, "after the rollback"), b"v2");
}

#[test]
fn kill_9_during_a_rollback_is_finished_by_recovery() {
    let sb = sandbox("staged", "");
    for v in [b"v2", b"v3"] {
        let out = rotate(&sb, v);
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    }
    // The rollback restores the store, then dies while the target is being given v2.
    touch(&sb, "slow-target");
    let mut doomed = spawn(&sb, &["rollback", "s"], b"");
    wait_for(&sb, "rollback reverting the target", |s| {
        s.kind == rotation_core::machine::RotationKind::Rollback
            && s.step == rotation_core::machine::Step::RevertTarget
    });
    kill_group(&mut doomed);
    remove(&sb, "slow-target");
    assert_eq!(
        target(&sb).as_deref(),
        Some(&b"v3"[..]),
        "the kill came first"
    );
    std::thread::sleep(LEASE + Duration::from_millis(200));
    let out = sb.run(&["recover", "--output", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(assert_agree(&sb, "after recovery"), b"v2");
    let rollbacks: Vec<_> = audit_lines(&sb)
        .into_iter()
        .filter(|e| e["action"] == "manual_rollback")
        .collect();
    assert_eq!(
        rollbacks.len(),
        1,
        "one audit record of the rollback: {rollbacks:?}"
    );
    assert_eq!(rollbacks[0]["status"], "rolled_back", "{rollbacks:?}");
    let again = sb.run(&["recover", "--output", "json"], None);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&again.stdout).expect("json"),
        serde_json::json!([])
    );
}

/// A tmpfs of 256 KiB mounted at `dir` (root can mount on these machines; if the mount is
/// refused, the test fails saying so rather than passing).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a small tmpfs for the full-disk test was refused: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_audit_disk_fails_the_rotation_and_recovery_writes_the_record() {
    let sb = Sandbox::new("");
    let disk = Tmpfs::mount(&sb.path().join("auditfs"));
    let log = disk.0.join("audit.jsonl");
    // The verifier fills the audit disk: the `started` record is written, the outcome is not.
    let fill = format!(
        "dd if=/dev/zero of={} bs=4096 2>/dev/null; true",
        disk.0.join("filler").display()
    );
    let cfg = config(sb.path(), "staged", "", Some(&log)).replace(
        "cat >/dev/null; while",
        &format!("cat >/dev/null; {fill}; while"),
    );
    std::fs::write(sb.config(), cfg).expect("config");
    seed(&sb.store(".rotation/store"), "app/key", b"v1");

    let out = sb.run(
        &["rotate", "s", "--value-stdin", "--output", "json"],
        Some(b"v2"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let result = if result.is_array() {
        result[0].clone()
    } else {
        result
    };
    assert_eq!(result["success"], false, "{result}");
    assert!(
        result["error"]
            .as_str()
            .unwrap_or("")
            .contains("audit record"),
        "{result}"
    );
    // The store is consistent: the verified value is current and the target holds it.
    let (_, value) = current(&sb.store(".rotation/store"), "app/key");
    assert_eq!(value, b"v2");
    assert_eq!(target(&sb).as_deref(), Some(&b"v2"[..]));

    std::fs::remove_file(disk.0.join("filler")).expect("free the disk");
    let out = sb.run(&["recover", "--output", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(reports[0]["action"], "audited", "{reports}");
    let log_text = std::fs::read_to_string(&log).expect("log");
    let rid = result["rotation_id"].as_str().expect("rotation id");
    assert!(
        log_text
            .lines()
            .any(|l| l.contains(rid) && l.contains("\"succeeded\"")),
        "the outcome is in the audit log after recovery"
    );
    let verify = sb.run(&["audit", "verify"], None);
    assert_eq!(verify.status.code(), Some(0), "{}", describe(&verify));
    drop(disk);
}

#[test]
fn a_rotation_that_kills_its_process_every_time_reaches_quarantine() {
    // The verifier kills the `rotation` process (its parent's parent: sh -c runs it).
    let sb = sandbox("staged", "max_retries = 1\nretry_backoff = \"100ms\"");
    let cfg = std::fs::read_to_string(sb.config())
        .expect("config")
        .replace(
            "cat >/dev/null; while",
            "cat >/dev/null; kill -9 $PPID; while",
        );
    std::fs::write(
        sb.config(),
        cfg.replace("interval = \"30d\"", "interval = \"1s\""),
    )
    .expect("config");
    let rt = rt();
    let id = SecretId::new("s");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let _ = sb.run(&["run"], None);
        std::thread::sleep(LEASE + Duration::from_millis(150));
        let schedule = rt.block_on(state(&sb).schedule(&id)).expect("schedule");
        if schedule.as_ref().is_some_and(|s| s.quarantined) {
            break;
        }
        assert!(Instant::now() < deadline, "never quarantined: {schedule:?}");
    }
    let out = sb.run(&["recover"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let schedule = rt
        .block_on(state(&sb).schedule(&id))
        .expect("schedule")
        .expect("schedule");
    assert!(schedule.consecutive_failures >= 2, "{schedule:?}");
    assert_eq!(
        schedule.last_status,
        Some(RotationStatus::RolledBack),
        "{schedule:?}"
    );
    // The target was reverted each time: it holds the store's value.
    let (_, value) = current(&sb.store(".rotation/store"), "app/key");
    assert_eq!(value, b"v1");
    if let Some(t) = target(&sb) {
        assert_eq!(t, b"v1");
    }
}

#[test]
fn a_state_database_locked_past_the_lease_leaves_the_rotation_to_recovery() {
    let sb = sandbox("staged", "");
    touch(&sb, "hold");
    let rotation = spawn(&sb, &["rotate", "s", "--value-stdin"], b"v2");
    wait_for(&sb, "verifying", |s| {
        s.status() == RotationStatus::Verifying
    });
    // Another process holds the state database's write lock for longer than the lease.
    let lock = rusqlite::Connection::open(sb.path().join(".rotation/state.db")).expect("open");
    lock.execute_batch("BEGIN EXCLUSIVE")
        .expect("lock the state database");
    std::thread::sleep(LEASE * 3);
    remove(&sb, "hold");
    std::thread::sleep(LEASE * 3);
    lock.execute_batch("COMMIT").expect("unlock");
    let out = rotation.wait_with_output().expect("rotation");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("left unfinished"),
        "{}",
        describe(&out)
    );
    // Nothing was undone without the lease: the value the target uses is still in the store.
    assert_eq!(target(&sb).as_deref(), Some(&b"v2"[..]));
    let store = sb.store(".rotation/store");
    let pending = rt()
        .block_on(store.list_versions(&rotation_core::SecretPath::new("app/key")))
        .expect("versions")
        .into_iter()
        .filter(|v| v.state == rotation_core::VersionState::Pending)
        .count();
    assert_eq!(pending, 1, "the applied value is kept until recovery");
    std::thread::sleep(LEASE + Duration::from_millis(200));
    let out = sb.run(&["recover", "--output", "json"], None);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(assert_agree(&sb, "after recovery"), b"v1");
}
