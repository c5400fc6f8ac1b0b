//! The server refuses to start on a broken audit chain, with the CLI's message (naming the log,
//! the first broken record and `rotation audit repair`).

use std::process::Command;

#[test]
fn a_broken_audit_chain_stops_the_server_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("rotation.toml");
    std::fs::write(
        &config,
        "[stores.local]\nkind = \"file\"\nroot = \"store\"\n\n[policies.manual]\ninterval = \"0\"\n\
         require_verification = false\n\n[[secrets]]\nid = \"a\"\nstore = \"local\"\npath = \"app/a\"\n\
         policy = \"manual\"\ncreate_if_missing = true\n",
    )
    .expect("config");
    // A log whose only record was edited after it was written.
    let log = dir.path().join(".rotation/audit.jsonl");
    std::fs::create_dir_all(log.parent().expect("dir")).expect("audit dir");
    let sink = rotation_file::JsonlAuditSink::open(&log).expect("sink");
    let event =
        rotation_core::AuditEvent::new(chrono::Utc::now(), rotation_core::AuditAction::StatsReset);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(rotation_core::AuditSink::record(&sink, &event))
        .expect("record");
    let text = std::fs::read_to_string(&log).expect("log");
    std::fs::write(&log, text.replace("stats_reset", "verified")).expect("edit");

    let out = Command::new(env!("CARGO_BIN_EXE_rotation-server"))
        .arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("ROTATION_LOG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run rotation-server");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&log.display().to_string()), "{stderr}");
    assert!(stderr.contains("audit line 1"), "{stderr}");
    assert!(stderr.contains("rotation audit repair"), "{stderr}");
}
