//! Tests of resolution through [`load`]: shared config helpers, then one module per concern.

mod claims;
mod databases;
mod fields;

use std::os::unix::fs::PermissionsExt;

use crate::{ConfigError, load};

/// A config with `stores`, one policy `p` and `secrets` (TOML).
fn config(stores: &str, secrets: &str) -> String {
    format!("{stores}\n[policies.p]\ninterval = \"30d\"\nrequire_verification = false\n{secrets}")
}

/// Load `config` from a file in a temp dir that also holds a private Vault token file.
fn load_config(config: &str) -> Result<(), ConfigError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = dir.path().join("token");
    std::fs::write(&token, "t0ken\n").expect("token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let file = dir.path().join("rotation.toml");
    std::fs::write(&file, config).expect("config");
    load(&file).map(drop)
}

fn check(stores: &str, secrets: &str) -> Result<(), ConfigError> {
    load_config(&config(stores, secrets))
}

fn secret(id: &str, store: &str, path: &str) -> String {
    format!(
        "\n[[secrets]]\nid = \"{id}\"\nstore = \"{store}\"\npath = \"{path}\"\npolicy = \"p\"\n"
    )
}
