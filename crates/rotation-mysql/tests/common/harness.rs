//! The conformance [`TargetHarness`] over the shared MariaDB, in admin or single-user mode.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use rotation_conformance::TargetHarness;
use rotation_core::{ConnectionSpec, SecretValue, Target};
use rotation_mysql::MysqlTarget;

use super::{PORT, Users, admin, document, password, plain, root_admin};

/// The harness; `admin`: whether [`TargetHarness::target`] logs in as root.
pub struct MariadbHarness {
    admin: bool,
    users: Users,
    proved_refusal: AtomicBool,
}

impl MariadbHarness {
    /// A harness whose target uses the admin (`true`) or the user itself.
    pub fn new(admin: bool) -> Self {
        Self {
            admin,
            users: Users::default(),
            proved_refusal: AtomicBool::new(false),
        }
    }
}

fn build(
    spec: ConnectionSpec,
    admin: Option<Arc<dyn rotation_core::CredentialSource>>,
) -> Arc<dyn Target> {
    Arc::new(
        MysqlTarget::builder("mariadb")
            .connection(spec)
            .admin(admin)
            .build()
            .expect("build"),
    )
}

#[async_trait]
impl TargetHarness for MariadbHarness {
    fn target(&self) -> Arc<dyn Target> {
        build(plain(), self.admin.then(root_admin))
    }

    fn target_with_wrong_admin(&self) -> Arc<dyn Target> {
        build(
            plain(),
            Some(admin("mysql-root", "root", "not-roots-password")),
        )
    }

    fn unreachable_target(&self) -> Arc<dyn Target> {
        let port = rotation_testkit::free_port();
        build(
            ConnectionSpec {
                port: Some(port),
                ..plain()
            },
            self.admin.then(root_admin),
        )
    }

    async fn create_user(&self, password: &SecretValue) -> SecretValue {
        let name = self.users.create(password, &[]).await;
        document(&name, PORT, password)
    }

    fn missing_user(&self) -> SecretValue {
        document(
            &format!("rt_missing_{}", super::random()),
            PORT,
            &password("x"),
        )
    }

    async fn logs_in(&self, document: &SecretValue, password: &SecretValue) -> bool {
        let doc: serde_json::Value = serde_json::from_slice(document.expose()).expect("JSON");
        let user = doc["username"].as_str().expect("username");
        if !self.proved_refusal.swap(true, Ordering::SeqCst) {
            assert!(
                !super::logs_in(PORT, user, &super::password("surely-wrong")).await,
                "the server accepted a wrong password: logins prove nothing"
            );
        }
        super::logs_in(PORT, user, password).await
    }

    async fn hold_session(
        &self,
        document: &SecretValue,
        password: &SecretValue,
    ) -> Box<dyn std::any::Any + Send> {
        let doc: serde_json::Value = serde_json::from_slice(document.expose()).expect("JSON");
        let user = doc["username"].as_str().expect("username");
        let pw = password.expose_str().expect("UTF-8");
        Box::new(super::connect(PORT, user, pw).await.expect("a session"))
    }
}
