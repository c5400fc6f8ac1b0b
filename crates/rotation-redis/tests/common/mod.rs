//! What the Redis tests share: a private server ([`PrivateRedis`]), an admin credential
//! source over a fixed document, users with unique names, and a conformance harness in admin
//! or single-user mode.
#![allow(dead_code, reason = "each test file uses a part")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use rotation_conformance::TargetHarness;
use rotation_core::{
    ConnectionSpec, CredentialSource, RotationId, SecretId, SecretValue, Target, TlsMode,
    VerifyContext,
};
use rotation_redis::RedisTarget;
use rotation_testkit::redis::PrivateRedis;

/// Permissions a single-user target needs on its own user.
pub const SELF_SERVICE: &[&str] = &[
    "+acl|getuser",
    "+acl|setuser",
    "+acl|whoami",
    "+client|kill",
    "+client|list",
    "+client|id",
    "+ping",
];

/// An admin secret that is a fixed document.
#[derive(Debug)]
pub struct FixedAdmin {
    id: SecretId,
    doc: SecretValue,
}

impl FixedAdmin {
    /// A source answering `doc`.
    pub fn new(doc: String) -> FixedAdmin {
        FixedAdmin {
            id: SecretId::new("redis-admin"),
            doc: SecretValue::from_string(doc),
        }
    }
}

#[async_trait]
impl CredentialSource for FixedAdmin {
    fn secret(&self) -> &SecretId {
        &self.id
    }
    async fn read(&self) -> rotation_core::Result<SecretValue> {
        Ok(self.doc.clone())
    }
}

/// The admin source of `redis` with `password`.
pub fn admin(redis: &PrivateRedis, password: &str) -> Arc<dyn CredentialSource> {
    Arc::new(FixedAdmin {
        id: SecretId::new("redis-admin"),
        doc: SecretValue::from_string(
            serde_json::json!({"username": redis.admin_user, "password": password}).to_string(),
        ),
    })
}

/// The connection settings of `port` on 127.0.0.1, no TLS.
pub fn spec(port: u16) -> ConnectionSpec {
    ConnectionSpec {
        host: Some("127.0.0.1".into()),
        port: Some(port),
        tls_mode: Some(TlsMode::Disable),
        ..ConnectionSpec::default()
    }
}

/// A unique ACL user name.
pub fn user_name() -> String {
    format!("rt_{}", rotation_testkit::unique("u").replace('-', "_"))
}

/// A new user of `redis` with `password` and `rules` (e.g. `+@all`); its secret document.
pub fn create_user(redis: &PrivateRedis, password: &str, rules: &[&str]) -> (String, SecretValue) {
    let user = user_name();
    let pw = format!(">{password}");
    let mut args = vec!["ACL", "SETUSER", &user, "on", &pw, "~*", "&*"];
    args.extend_from_slice(rules);
    redis.admin(&args);
    (user.clone(), document(redis.port, &user, password))
}

/// The secret document of `user` with `password` on 127.0.0.1:`port`.
pub fn document(port: u16, user: &str, password: &str) -> SecretValue {
    SecretValue::from_string(
        serde_json::json!({
            "engine": "redis", "host": "127.0.0.1", "port": port, "username": user,
            "password": password, "sslmode": "disable",
        })
        .to_string(),
    )
}

/// A context for a call about `document` with the rotation's `related` values.
pub fn ctx(document: &SecretValue, related: &[&str]) -> VerifyContext {
    VerifyContext::new(SecretId::new("redis-test"), Some(RotationId::generate()))
        .with_related_values(related.iter().map(|v| SecretValue::from(*v)))
        .with_document(Some(document.clone()))
}

/// The target of `redis` as its admin, or single-user when `single_user`.
pub fn target(redis: &PrivateRedis, single_user: bool) -> RedisTarget {
    RedisTarget::builder("redis-test")
        .connection(spec(redis.port))
        .admin((!single_user).then(|| admin(redis, &redis.admin_password)))
        .build()
        .expect("build the target")
}

/// The conformance harness over a private server.
pub struct Harness {
    pub redis: PrivateRedis,
    single_user: bool,
    proved_refusal: AtomicBool,
}

impl Harness {
    pub fn new(single_user: bool) -> Harness {
        Harness {
            redis: PrivateRedis::start(),
            single_user,
            proved_refusal: AtomicBool::new(false),
        }
    }
}

fn text(v: &SecretValue) -> &str {
    v.expose_str().expect("UTF-8")
}

#[async_trait]
impl TargetHarness for Harness {
    fn target(&self) -> Arc<dyn Target> {
        Arc::new(target(&self.redis, self.single_user))
    }
    fn target_with_wrong_admin(&self) -> Arc<dyn Target> {
        Arc::new(
            RedisTarget::builder("redis-test")
                .connection(spec(self.redis.port))
                .admin(Some(admin(&self.redis, "not-the-admin-password")))
                .build()
                .expect("build"),
        )
    }
    fn unreachable_target(&self) -> Arc<dyn Target> {
        Arc::new(
            RedisTarget::builder("redis-test")
                .connection(spec(rotation_testkit::free_port()))
                .admin((!self.single_user).then(|| admin(&self.redis, &self.redis.admin_password)))
                .build()
                .expect("build"),
        )
    }
    async fn create_user(&self, password: &SecretValue) -> SecretValue {
        let rules: &[&str] = if self.single_user {
            SELF_SERVICE
        } else {
            &["+@all"]
        };
        create_user(&self.redis, text(password), rules).1
    }
    fn missing_user(&self) -> SecretValue {
        document(self.redis.port, &user_name(), "whatever")
    }
    async fn logs_in(&self, document: &SecretValue, password: &SecretValue) -> bool {
        let doc: serde_json::Value = serde_json::from_slice(document.expose()).expect("JSON");
        let user = doc["username"].as_str().expect("username");
        if !self.proved_refusal.swap(true, Ordering::SeqCst) {
            assert!(
                !self.redis.logs_in(user, "certainly-not-the-password"),
                "a wrong password must be refused before a login proves anything"
            );
        }
        self.redis.logs_in(user, text(password))
    }
    async fn hold_session(
        &self,
        document: &SecretValue,
        password: &SecretValue,
    ) -> Box<dyn std::any::Any + Send> {
        let doc: serde_json::Value = serde_json::from_slice(document.expose()).expect("JSON");
        let user = doc["username"].as_str().expect("username");
        Box::new(
            self.redis
                .open_session(user, text(password))
                .expect("a session"),
        )
    }
}
