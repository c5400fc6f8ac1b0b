//! Test support: a private PostgreSQL server, roles with unique names (created with a
//! client-side SCRAM verifier, so no test password reaches the server's statement log) that
//! are dropped at the end, logins on fresh connections, targets and verifiers pointed at it.
#![allow(dead_code, reason = "each test binary uses a part")]

pub mod harness;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rotation_core::{
    ConnectionSpec, CredentialSource, RotationId, SecretId, SecretValue, TlsMode, VerifyContext,
};
use rotation_postgres::{PostgresTarget, PostgresVerifier};
use rotation_testkit::postgres::{PostgresOptions, PrivatePostgres};
use tokio_postgres::error::SqlState;

/// A fixed admin secret (what the store would hand the target).
#[derive(Debug)]
pub struct FixedAdmin {
    pub id: SecretId,
    pub document: SecretValue,
}

#[async_trait]
impl CredentialSource for FixedAdmin {
    fn secret(&self) -> &SecretId {
        &self.id
    }
    async fn read(&self) -> rotation_core::Result<SecretValue> {
        Ok(self.document.clone())
    }
}

/// A private server and the roles a test made on it.
pub struct Server {
    pub pg: PrivatePostgres,
    roles: Mutex<Vec<String>>,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(PostgresOptions::default())
    }

    pub fn start_with(options: PostgresOptions) -> Server {
        Server {
            pg: PrivatePostgres::start_with(options),
            roles: Mutex::new(Vec::new()),
        }
    }

    /// `ConnectionSpec` for this server, TLS off.
    pub fn spec(&self) -> ConnectionSpec {
        ConnectionSpec {
            host: Some(self.pg.host.clone()),
            port: Some(self.pg.port),
            tls_mode: Some(TlsMode::Disable),
            ..ConnectionSpec::default()
        }
    }

    /// A new role `<tag>-<unique>` (a name that needs quoting) that logs in with `password`,
    /// plus `attributes` (`CREATEROLE`, `SUPERUSER`...); its database secret.
    pub fn create_role(
        &self,
        tag: &str,
        password: &SecretValue,
        attributes: &str,
    ) -> (String, SecretValue) {
        let name = rotation_testkit::unique(tag);
        let verifier = postgres_protocol::password::scram_sha_256(password.expose());
        self.pg.sql(&format!(
            "CREATE ROLE \"{name}\" LOGIN {attributes} PASSWORD '{verifier}'"
        ));
        self.roles.lock().expect("roles").push(name.clone());
        let doc = self
            .pg
            .document(&name, password.expose_str().expect("utf-8"));
        (name, SecretValue::from_string(doc))
    }

    /// The admin secret of this server's superuser.
    pub fn admin(&self) -> Arc<dyn CredentialSource> {
        admin_source(self.pg.admin_document())
    }

    /// An admin secret for `name` / `password`.
    pub fn admin_as(&self, name: &str, password: &SecretValue) -> Arc<dyn CredentialSource> {
        admin_source(
            self.pg
                .document(name, password.expose_str().expect("utf-8")),
        )
    }

    /// The target as the superuser admin.
    pub fn target(&self) -> PostgresTarget {
        self.target_with(Some(self.admin()))
    }

    pub fn target_with(&self, admin: Option<Arc<dyn CredentialSource>>) -> PostgresTarget {
        PostgresTarget::builder("pg")
            .connection(self.spec())
            .admin(admin)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("build the target")
    }

    pub fn verifier(&self, query: Option<&str>, expect: Option<&str>) -> PostgresVerifier {
        PostgresVerifier::builder("pg-login")
            .connection(self.spec())
            .query(query.map(str::to_owned))
            .expect(expect.map(str::to_owned))
            .build()
            .expect("build the verifier")
    }

    /// Whether `user` logs in with `password` on a fresh connection (any refusal of the
    /// login is `false`; anything else panics).
    pub async fn logs_in(&self, user: &str, password: &SecretValue) -> bool {
        match self.connect(user, password).await {
            Ok(_) => true,
            Err(e) if e.code() == Some(&SqlState::INVALID_PASSWORD) => false,
            Err(e) => panic!("login as {user} failed otherwise: {e:?}"),
        }
    }

    /// A session of `user`, kept open by the returned client.
    pub async fn connect(
        &self,
        user: &str,
        password: &SecretValue,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::Config::new()
            .host(&self.pg.host)
            .port(self.pg.port)
            .user(user)
            .password(password.expose())
            .dbname("postgres")
            .connect(tokio_postgres::NoTls)
            .await?;
        tokio::spawn(connection);
        Ok(client)
    }
}

impl Drop for Server {
    /// Each test removes its roles (ending their sessions first), before the server stops.
    fn drop(&mut self) {
        for name in self.roles.lock().map(|r| r.clone()).unwrap_or_default() {
            let _ = self.pg.try_sql(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}';\n\
                 DROP ROLE IF EXISTS \"{name}\";"
            ));
        }
    }
}

pub fn admin_source(document: String) -> Arc<dyn CredentialSource> {
    Arc::new(FixedAdmin {
        id: SecretId::new("pg-admin"),
        document: SecretValue::from_string(document),
    })
}

/// A fresh random password.
pub fn password(tag: &str) -> SecretValue {
    SecretValue::from_string(rotation_testkit::unique(&format!("{tag}-pw")))
}

/// `document` with `password` in it.
pub fn with_password(document: &SecretValue, value: &SecretValue) -> SecretValue {
    rotation_core::field::replace(Some(document), "password", value).expect("JSON")
}

/// The context of a call about `document`, with the rotation's values.
pub fn ctx(document: &SecretValue, related: &[&SecretValue]) -> VerifyContext {
    VerifyContext::new(SecretId::new("db"), Some(RotationId::generate()))
        .with_related_values(related.iter().map(|v| (*v).clone()))
        .with_document(Some(document.clone()))
}

/// The text of an error, asserting that it holds none of `values`.
pub fn text_without(err: &rotation_core::Error, values: &[&SecretValue]) -> String {
    let text = format!("{err} {err:?}");
    for v in values {
        let raw = String::from_utf8_lossy(v.expose());
        assert!(!text.contains(&*raw), "the error contains a value: {text}");
    }
    err.to_string()
}

/// Waits (up to 10 s) until the server has ended `client`'s session.
pub async fn wait_until_closed(client: &tokio_postgres::Client) {
    for _ in 0..100 {
        if client.is_closed() || client.simple_query("SELECT 1").await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the session is still open");
}
