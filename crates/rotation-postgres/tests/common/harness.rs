//! The target conformance harness over a private PostgreSQL server (admin mode or
//! single-user).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use rotation_conformance::TargetHarness;
use rotation_core::{ConnectionSpec, SecretValue, Target};

use super::Server;

/// A private server and the target under test (admin mode, or single-user).
pub struct PgHarness {
    server: Server,
    single_user: bool,
    /// Set once a wrong password was seen refused (see [`TargetHarness::logs_in`]).
    refusal_proven: AtomicBool,
}

impl PgHarness {
    /// A fresh server; `single_user`: the target logs in as the user itself.
    pub async fn new(single_user: bool) -> PgHarness {
        PgHarness {
            server: Server::start(),
            single_user,
            refusal_proven: AtomicBool::new(false),
        }
    }

    fn admin(&self) -> Option<Arc<dyn rotation_core::CredentialSource>> {
        (!self.single_user).then(|| self.server.admin())
    }
}

fn user_of(document: &SecretValue) -> String {
    let doc: serde_json::Value = serde_json::from_slice(document.expose()).expect("JSON");
    doc["username"].as_str().expect("username").to_owned()
}

#[async_trait]
impl TargetHarness for PgHarness {
    fn target(&self) -> Arc<dyn Target> {
        Arc::new(self.server.target_with(self.admin()))
    }

    fn target_with_wrong_admin(&self) -> Arc<dyn Target> {
        let wrong = SecretValue::from("not-the-admin-password");
        let admin = self
            .server
            .admin_as(rotation_testkit::postgres::ADMIN, &wrong);
        Arc::new(self.server.target_with(Some(admin)))
    }

    fn unreachable_target(&self) -> Arc<dyn Target> {
        let spec = ConnectionSpec {
            port: Some(rotation_testkit::free_port()),
            ..self.server.spec()
        };
        Arc::new(
            rotation_postgres::PostgresTarget::builder("pg-closed")
                .connection(spec)
                .admin(self.admin())
                .build()
                .expect("build"),
        )
    }

    async fn create_user(&self, password: &SecretValue) -> SecretValue {
        self.server.create_role("app", password, "").1
    }

    fn missing_user(&self) -> SecretValue {
        let name = rotation_testkit::unique("ghost");
        SecretValue::from_string(self.server.pg.document(&name, "unused"))
    }

    async fn logs_in(&self, document: &SecretValue, password: &SecretValue) -> bool {
        let user = user_of(document);
        if !self.refusal_proven.load(Ordering::SeqCst) {
            let wrong = SecretValue::from("certainly-not-the-password");
            assert!(
                !self.server.logs_in(&user, &wrong).await,
                "the server let {user} in with a wrong password: logins prove nothing"
            );
            self.refusal_proven.store(true, Ordering::SeqCst);
        }
        self.server.logs_in(&user, password).await
    }

    async fn hold_session(
        &self,
        document: &SecretValue,
        password: &SecretValue,
    ) -> Box<dyn std::any::Any + Send> {
        let user = user_of(document);
        Box::new(
            self.server
                .connect(&user, password)
                .await
                .expect("a session"),
        )
    }
}
