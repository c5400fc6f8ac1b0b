//! Every example config under `examples/` passes `rotation config check` (copied into an empty
//! directory, so nothing relative to the repository is read and nothing is written there).

use rotation_e2e::{describe, run_command};

#[test]
fn every_example_passes_config_check() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let sandbox = tempfile::tempdir().expect("tempdir");
        let config = sandbox.path().join("rotation.toml");
        std::fs::copy(&path, &config).expect("copy example");
        let mut cmd = std::process::Command::new(rotation_e2e::rotation_bin());
        cmd.arg("--config").arg(&config).args(["config", "check"]);
        let out = run_command(cmd, None);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            describe(&out)
        );
        checked.push(path.file_name().expect("name").to_owned());
    }
    for expected in [
        "postgres.toml",
        "mysql.toml",
        "redis.toml",
        "http.toml",
        "rotation.toml",
    ] {
        assert!(
            checked.iter().any(|n| n == expected),
            "{expected} was not checked: {checked:?}"
        );
    }
}
