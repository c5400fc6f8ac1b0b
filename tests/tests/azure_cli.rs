//! The `rotation` binary rotating a Key Vault secret on the in-process Key Vault test server
//! (HTTPS with its own CA, a bearer token from `token_env`), a config with a name Key Vault
//! cannot hold, and no value in the output.

use rotation_azure_testserver::KeyVaultServer;
use rotation_e2e::{Sandbox, describe};

fn config(server: &KeyVaultServer, path: &str, verifier: &str) -> String {
    format!(
        r#"
[stores.kv]
kind = "azure"
vault_url = "{url}"
ca_cert = "ca.pem"
token_env = "ROTATION_TEST_KV_TOKEN"
verify_challenge_resource = false
max_retries = 1
timeout = "10s"

[verifiers.capture]
kind = "command"
command = ["sh", "-c", {verifier:?}]

[policies.default]
strategy = "staged"
verifiers = ["capture"]

[[secrets]]
id = "db"
store = "kv"
path = "{path}"
policy = "default"
"#,
        url = server.url()
    )
}

fn sandbox(server: &KeyVaultServer, path: &str, verifier: &str) -> Sandbox {
    let sandbox = Sandbox::new(&config(server, path, verifier));
    std::fs::write(sandbox.path().join("ca.pem"), server.ca_pem()).expect("ca");
    sandbox
}

fn rotate(sandbox: &Sandbox) -> std::process::Output {
    let mut cmd = sandbox.command(&["rotate", "db", "--output", "json"]);
    cmd.env("ROTATION_TEST_KV_TOKEN", "test-token");
    rotation_e2e::run_command(cmd, None)
}

fn latest(server: &KeyVaultServer, name: &str) -> String {
    server
        .versions(name)
        .last()
        .expect("a version")
        .value
        .clone()
}

#[test]
fn rotate_a_key_vault_secret_through_the_binary() {
    let server = KeyVaultServer::start();
    server.put("team-db", "initial");
    // The verifier keeps what it was given, to compare with what Key Vault holds afterwards.
    let dir = tempfile::tempdir().expect("tempdir");
    let seen_file = dir.path().join("seen.txt");
    let ok = sandbox(
        &server,
        "team/db",
        &format!("cat > '{}'", seen_file.display()),
    );
    let out = rotate(&ok);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let seen = std::fs::read_to_string(&seen_file).expect("seen");
    let new = latest(&server, "team-db");
    assert_eq!(seen, new, "the verified value is the one now current");
    assert_ne!(new, "initial");
    for stream in [&out.stdout, &out.stderr] {
        assert!(
            !String::from_utf8_lossy(stream).contains(&new),
            "the value leaked"
        );
    }
    let pending = server.versions("team-db-rotation-pending");
    assert!(
        pending.iter().all(|v| !v.enabled),
        "no readable pending value left"
    );

    // A verifier that rejects: rolled back, exit 1, the secret unchanged.
    let failing = sandbox(&server, "team/db", "cat >/dev/null; exit 1");
    let out = rotate(&failing);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(latest(&server, "team-db"), new);
}

#[test]
fn a_path_key_vault_cannot_name_is_a_config_error() {
    let server = KeyVaultServer::start();
    let bad = sandbox(&server, "db_password", "cat >/dev/null");
    let mut cmd = bad.command(&["config", "check"]);
    cmd.env("ROTATION_TEST_KV_TOKEN", "test-token");
    let out = rotation_e2e::run_command(cmd, None);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("path") && stderr.contains("'_'"),
        "{stderr}"
    );
    assert!(server.requests().is_empty(), "nothing was sent");
}

#[test]
fn two_ids_naming_one_key_vault_secret_are_a_config_error() {
    let server = KeyVaultServer::start();
    let one = config(&server, "team/db", "cat >/dev/null");
    let two = format!(
        "{one}\n[[secrets]]\nid = \"db2\"\nstore = \"kv\"\npath = \"Team-DB\"\npolicy = \"default\"\n"
    );
    let sandbox = Sandbox::new(&two);
    std::fs::write(sandbox.path().join("ca.pem"), server.ca_pem()).expect("ca");
    let mut cmd = sandbox.command(&["config", "check"]);
    cmd.env("ROTATION_TEST_KV_TOKEN", "test-token");
    let out = rotation_e2e::run_command(cmd, None);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("same Key Vault secret"), "{stderr}");
}
