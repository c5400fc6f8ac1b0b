//! The helpers against the dev server started by `cargo xtask ci`.

use rotation_testkit::{Bao, unique};

#[test]
fn kv2_mount_config_and_policy_token() {
    let bao = Bao::from_env();
    let mount = unique("kv2");
    bao.enable_kv2(&mount);
    bao.kv_config(&mount, Some(3), Some(true));
    let config = bao.cli_ok(&["read", "-format=json", &format!("{mount}/config")]);
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["data"]["max_versions"], 3);
    assert_eq!(config["data"]["cas_required"], true);

    // cas_required: a write without cas is refused, one with cas=0 creates the secret.
    assert!(
        !bao.cli(&["kv", "put", &format!("{mount}/a"), "k=v"])
            .status
            .success()
    );
    bao.cli_ok(&["kv", "put", "-cas=0", &format!("{mount}/a"), "k=v"]);

    let policy = format!(r#"path "{mount}/data/*" {{ capabilities = ["read"] }}"#);
    let reader = Bao {
        token: bao.create_token(&unique("reader"), &policy),
        ..bao.clone()
    };
    let value = reader.cli_ok(&["kv", "get", "-field=k", &format!("{mount}/a")]);
    assert_eq!(value.trim(), "v");
    let denied = reader.cli(&["kv", "put", "-cas=1", &format!("{mount}/a"), "k=w"]);
    assert!(!denied.status.success(), "a read-only token could write");
}

#[test]
fn kv1_mount_is_unversioned() {
    let bao = Bao::from_env();
    let mount = unique("kv1");
    bao.enable_kv1(&mount);
    bao.cli_ok(&["write", &format!("{mount}/a"), "k=v"]);
    let tune = bao.cli_ok(&["secrets", "list", "-format=json"]);
    let mounts: serde_json::Value = serde_json::from_str(&tune).unwrap();
    let options = &mounts[format!("{mount}/")]["options"];
    assert!(options.is_null() || options["version"] == "1", "{options}");
}
