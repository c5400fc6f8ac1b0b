//! The `rotation` binary rotating a secret in a real OpenBao, with a command verifier that reads
//! the new value back through the `bao` CLI; and what it says when the server cannot be reached.

use rotation_e2e::{Sandbox, describe};
use rotation_testkit::{Bao, unique};
use serde_json::Value;

fn config(mount: &str, strategy: &str, verifier: &str) -> String {
    format!(
        r#"
[stores.vault]
kind = "vault"
mount = "{mount}"

[verifiers.readback]
kind = "command"
command = ["sh", "-c", {verifier:?}]
timeout = "20s"

[policies.default]
strategy = "{strategy}"
verifiers = ["readback"]

[[secrets]]
id = "db"
store = "vault"
path = "app/db"
field = "password"
policy = "default"
"#
    )
}

fn password(bao: &Bao, mount: &str) -> String {
    bao.cli_ok(&[
        "kv",
        "get",
        &format!("-mount={mount}"),
        "-field=password",
        "app/db",
    ])
    .trim()
    .to_owned()
}

#[test]
fn rotate_a_vault_secret_verified_through_the_bao_cli() {
    let bao = Bao::from_env();
    let bin = bao.bin.display().to_string();
    // Immediate: the new value is current when the verifier reads it back.
    // Staged: it is only at the staging path, found by the rotation id.
    let cases = [
        (
            "immediate",
            format!(r#"[ "$(cat)" = "$('{bin}' kv get -mount=MOUNT -field=password app/db)" ]"#),
        ),
        (
            "staged",
            format!(
                r#"[ "$(cat)" = "$('{bin}' kv get -mount=MOUNT -field=password .rotation-pending/app/db/$ROTATION_ID)" ]"#
            ),
        ),
    ];
    for (strategy, verifier) in cases {
        let mount = unique("kv");
        bao.enable_kv2(&mount);
        bao.cli_ok(&[
            "kv",
            "put",
            &format!("-mount={mount}"),
            "app/db",
            "username=app",
            "password=initial",
        ]);
        let sandbox = Sandbox::new(&config(
            &mount,
            strategy,
            &verifier.replace("MOUNT", &mount),
        ));
        let out = sandbox.run(&["rotate", "db", "--output", "json"], None);
        assert_eq!(out.status.code(), Some(0), "{strategy}: {}", describe(&out));
        let results: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(results[0]["verification_passed"], true);
        let new = password(&bao, &mount);
        assert_ne!(new, "initial");
        assert_eq!(
            bao.cli_ok(&[
                "kv",
                "get",
                &format!("-mount={mount}"),
                "-field=username",
                "app/db"
            ])
            .trim(),
            "app"
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stdout.contains(&new) && !stderr.contains(&new),
            "the new value leaked"
        );

        // A verifier that rejects: rolled back, exit 1, value unchanged.
        let sandbox = Sandbox::new(&config(&mount, strategy, "cat >/dev/null; exit 1"));
        let out = sandbox.run(&["rotate", "db", "--output", "json"], None);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert_eq!(password(&bao, &mount), new);
    }
}

#[test]
fn rotate_against_a_closed_port_names_the_address_and_connection_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port();
    let addr = format!("http://127.0.0.1:{port}");
    let config = config("secret", "staged", "cat >/dev/null").replace(
        "kind = \"vault\"\n",
        &format!("kind = \"vault\"\naddress = \"{addr}\"\ntoken_env = \"ROTATION_E2E_TOKEN\"\n"),
    );
    let sandbox = Sandbox::new(&config);
    let mut cmd = sandbox.command(&["rotate", "db"]);
    cmd.env("ROTATION_E2E_TOKEN", "s.e2e-never-shown");
    let out = rotation_e2e::run_command(cmd, None);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.to_lowercase().contains("connection refused"),
        "{}",
        describe(&out)
    );
    assert!(stderr.contains(&addr), "{}", describe(&out));
    assert!(
        stderr.contains("BAO_ADDR / VAULT_ADDR"),
        "the next step: {}",
        describe(&out)
    );
    let all = format!("{stderr}{}", String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains("e2e-never-shown"), "{}", describe(&out));
}

#[test]
fn vault_skip_verify_is_accepted_and_warned_about() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port();
    let config = config("secret", "staged", "cat >/dev/null").replace(
        "kind = \"vault\"\n",
        &format!(
            "kind = \"vault\"\naddress = \"https://127.0.0.1:{port}\"\ntoken_env = \"ROTATION_E2E_TOKEN\"\n"
        ),
    );
    let sandbox = Sandbox::new(&config);
    let mut cmd = sandbox.command(&["rotate", "db"]);
    cmd.env("ROTATION_E2E_TOKEN", "s.e2e-never-shown")
        .env("VAULT_SKIP_VERIFY", "true");
    let out = rotation_e2e::run_command(cmd, None);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TLS certificate verification is off"),
        "{}",
        describe(&out)
    );
}
