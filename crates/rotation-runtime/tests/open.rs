//! The runtime opened from a real config on disk: bindings per [`Bind`], a rotation through its
//! engine lands in the file store, the state database and the audit trail (read back through
//! the `AuditSink` trait), and the scheduler it builds uses the same claims.

use rotation_core::{AuditAction, RotateRequest, SecretId};
use rotation_runtime::{Bind, Runtime};

const CONFIG: &str = r#"
[stores.local]
kind = "file"
root = "store"

[policies.open]
interval = "30d"
require_verification = false

[[secrets]]
id = "a"
store = "local"
path = "app/a"
policy = "open"
create_if_missing = true

[[secrets]]
id = "b"
store = "local"
path = "app/b"
policy = "open"
create_if_missing = true
"#;

fn config(dir: &std::path::Path) -> rotation_config::Resolved {
    let path = dir.join("rotation.toml");
    std::fs::write(&path, CONFIG).expect("write config");
    let root = dir.join("store");
    std::fs::create_dir_all(&root).expect("store root");
    std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("store mode");
    rotation_config::load(&path).expect("valid config")
}

#[tokio::test]
async fn bindings_follow_bind_and_a_rotation_is_stored_journaled_and_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (SecretId::from("a"), SecretId::from("b"));

    let none = Runtime::builder(config(dir.path()))
        .bind(Bind::None)
        .open()
        .await
        .expect("open");
    assert!(none.bindings().is_empty());
    let only = Runtime::builder(config(dir.path()))
        .bind(Bind::Only(
            vec![b.clone()],
            rotation_config::Access::ReadOnly,
        ))
        .open()
        .await
        .expect("open");
    assert!(only.binding(&a).is_none() && only.binding(&b).is_some());
    let unknown = Runtime::builder(config(dir.path()))
        .bind(Bind::Only(
            vec![SecretId::from("nope")],
            rotation_config::Access::ReadOnly,
        ))
        .open()
        .await
        .expect_err("unknown id");
    assert!(unknown.to_string().contains("secrets.nope"), "{unknown}");

    let rt = Runtime::builder(config(dir.path()))
        .open()
        .await
        .expect("open");
    let binding = rt.binding(&a).expect("a").clone();
    assert!(binding.timing.is_some(), "bindings carry their timing");
    let result = rt.engine().rotate(&binding, RotateRequest::default()).await;
    assert!(result.success, "{:?}", result.error);
    let record = rt
        .state()
        .schedule(&a)
        .await
        .expect("read")
        .expect("reconciled schedule");
    assert_eq!(
        record.rotation_count, 1,
        "the schedule moved with the rotation"
    );
    let events = rt.audit().verify().await.expect("chain intact");
    let actions: Vec<AuditAction> = events
        .iter()
        .filter(|e| e.rotation_id.as_ref() == Some(&result.rotation_id))
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, [AuditAction::Started, AuditAction::Succeeded]);
    let stats = rt.statistics().await.expect("stats");
    assert_eq!(
        (
            stats.successful_rotations,
            stats.active_schedules,
            stats.total_schedules
        ),
        (1, 2, 2)
    );
    let claim = rt
        .engine()
        .claim(&b, rotation_core::RotationId::generate())
        .expect("free");
    assert_eq!(rt.engine().running(&b).as_ref(), Some(claim.rotation_id()));
    let refused = rt
        .engine()
        .rotate(rt.binding(&b).expect("b"), RotateRequest::default())
        .await;
    assert_eq!(
        refused.error_kind,
        Some(rotation_core::ErrorKind::InProgress)
    );
    drop(claim);
    assert!(rt.drain(std::time::Duration::from_secs(1)).await);
}
