//! `Runtime::rebind`, what a server reload swaps in: the new config's bindings and schedules
//! over the same engine, so a claim taken under the old bindings still holds; a config naming
//! another state database is refused before anything changes.

use rotation_core::{RotationId, SecretId};
use rotation_runtime::Runtime;

fn secret(id: &str) -> String {
    format!(
        "[[secrets]]\nid = \"{id}\"\nstore = \"local\"\npath = \"app/{id}\"\npolicy = \"open\"\ncreate_if_missing = true\n\n"
    )
}

fn config(dir: &std::path::Path, head: &str, ids: &[&str]) -> rotation_config::Resolved {
    let mut text = format!(
        "{head}\n[stores.local]\nkind = \"file\"\nroot = \"store\"\n\n[policies.open]\ninterval = \"30d\"\nrequire_verification = false\n\n"
    );
    for id in ids {
        text += &secret(id);
    }
    let path = dir.join("rotation.toml");
    std::fs::write(&path, text).expect("write config");
    let root = dir.join("store");
    std::fs::create_dir_all(&root).expect("store root");
    std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("store mode");
    rotation_config::load(&path).expect("valid config")
}

#[tokio::test]
async fn rebind_keeps_the_engine_and_binds_the_new_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (
        SecretId::from("a"),
        SecretId::from("b"),
        SecretId::from("c"),
    );
    let old = Runtime::builder(config(dir.path(), "", &["a", "b"]))
        .open()
        .await
        .expect("open");
    let running = RotationId::generate();
    let claim = old.engine().claim(&a, running.clone()).expect("claim a");

    let new = old
        .rebind(config(dir.path(), "", &["a", "c"]))
        .await
        .expect("rebind");
    assert!(new.binding(&a).is_some() && new.binding(&c).is_some());
    assert!(new.binding(&b).is_none(), "b is no longer bound");
    assert_eq!(
        new.engine().claim(&a, RotationId::generate()).err(),
        Some(running),
        "the claim taken under the old bindings holds under the new ones"
    );
    drop(claim);
    assert!(new.engine().claim(&a, RotationId::generate()).is_ok());
    let schedule = new.state().schedule(&c).await.expect("read");
    assert!(
        schedule.is_some(),
        "the new secret's schedule is reconciled"
    );

    let moved = config(dir.path(), "[state]\npath = \"elsewhere.db\"\n", &["a"]);
    let err = new.rebind(moved).await.expect_err("another state database");
    assert_eq!(err.field(), Some("state.path"), "{err}");
    assert!(
        !dir.path().join("elsewhere.db").exists(),
        "refused before anything was opened"
    );
}
