//! Shared pieces of the tests: the shared MariaDB on 127.0.0.1:3306 (root without a password
//! over TCP), users with unique names (`rt_<random>`@'%') dropped when their [`Users`] guard
//! is, secret documents, fresh logins, and an admin credential source.
#![allow(dead_code, reason = "each test binary uses a part")]

pub mod harness;

use std::process::Command;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use rotation_core::{
    ConnectionSpec, CredentialSource, RotationId, SecretId, SecretValue, TlsMode, VerifyContext,
};

/// The shared server.
pub const HOST: &str = "127.0.0.1";
/// Its port.
pub const PORT: u16 = 3306;

/// A fresh random name part.
pub fn random() -> String {
    format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// A fresh random password (letters, digits, `-`: safe in the tests' own SQL).
pub fn password(tag: &str) -> SecretValue {
    SecretValue::from_string(format!("{tag}-{}", random()))
}

/// The secret document of `user` at `port` with `password`.
pub fn document(user: &str, port: u16, password: &SecretValue) -> SecretValue {
    let doc = serde_json::json!({
        "engine": "mariadb",
        "host": HOST,
        "port": port,
        "username": user,
        "password": password.expose_str().expect("UTF-8"),
    });
    SecretValue::from_string(doc.to_string())
}

/// Plain TCP (the shared server has no TLS) to 127.0.0.1: the host is pinned, as the admin
/// login requires (it is never sent where only a user's secret points).
pub fn plain() -> ConnectionSpec {
    ConnectionSpec {
        host: Some(HOST.to_owned()),
        tls_mode: Some(TlsMode::Disable),
        ..ConnectionSpec::default()
    }
}

/// A context for `document` with the rotation's values `related`.
pub fn ctx(document: &SecretValue, related: &[&SecretValue]) -> VerifyContext {
    VerifyContext::new(SecretId::new("mysql-tests"), Some(RotationId::generate()))
        .with_related_values(related.iter().map(|v| (*v).clone()))
        .with_document(Some(document.clone()))
}

/// An admin secret that always reads `document`.
#[derive(Debug)]
pub struct StaticAdmin {
    id: SecretId,
    document: SecretValue,
}

#[async_trait]
impl CredentialSource for StaticAdmin {
    fn secret(&self) -> &SecretId {
        &self.id
    }
    async fn read(&self) -> rotation_core::Result<SecretValue> {
        Ok(self.document.clone())
    }
}

/// The admin secret `id` holding `username`/`password` (no host: the target's or user's).
pub fn admin(id: &str, username: &str, password: &str) -> Arc<dyn CredentialSource> {
    let doc = serde_json::json!({ "username": username, "password": password });
    Arc::new(StaticAdmin {
        id: SecretId::new(id),
        document: SecretValue::from_string(doc.to_string()),
    })
}

/// The shared server's root (empty password over TCP from 127.0.0.1).
pub fn root_admin() -> Arc<dyn CredentialSource> {
    admin("mysql-root", "root", "")
}

/// A fresh connection as `user` with `password` to 127.0.0.1:`port`, or the server's error.
pub async fn connect(port: u16, user: &str, password: &str) -> mysql_async::Result<Conn> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(HOST)
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false);
    Conn::new(opts).await
}

/// Whether `user` logs in with `password` (refused: SQLSTATE 28000); panics on anything else.
pub async fn logs_in(port: u16, user: &str, password: &SecretValue) -> bool {
    match connect(port, user, password.expose_str().expect("UTF-8")).await {
        Ok(conn) => {
            let _ = conn.disconnect().await;
            true
        }
        Err(mysql_async::Error::Server(e)) if e.state == "28000" => false,
        Err(e) => panic!("logging in as {user} on port {port}: {e}"),
    }
}

/// Runs `sql` as the shared server's root.
pub async fn root_sql(sql: &str) {
    let mut conn = connect(PORT, "root", "")
        .await
        .expect("root logs in to the shared MariaDB on 127.0.0.1:3306 (is it running?)");
    conn.query_drop(sql)
        .await
        .unwrap_or_else(|e| panic!("`{sql}`: {e}"));
    let _ = conn.disconnect().await;
}

/// The first column of the first row of `sql`, as root, as text.
pub async fn root_query(sql: &str) -> String {
    let mut conn = connect(PORT, "root", "").await.expect("root logs in");
    let value: Option<String> = conn
        .query_first(sql)
        .await
        .unwrap_or_else(|e| panic!("`{sql}`: {e}"));
    let _ = conn.disconnect().await;
    value.unwrap_or_else(|| panic!("`{sql}` returned no row"))
}

/// Users created on the shared server by one test, dropped with the guard (also when the test
/// panics).
#[derive(Default)]
pub struct Users(Mutex<Vec<String>>);

impl Users {
    /// A new user `rt_<random>`@'%' with `password` (and `grants`, e.g. `GRANT ... TO {u}`
    /// with `{u}` for the account); its name.
    pub async fn create(&self, password: &SecretValue, grants: &[&str]) -> String {
        let name = format!("rt_{}", random());
        self.track(format!("'{name}'@'%'"));
        let pw = password.expose_str().expect("UTF-8");
        assert!(pw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        let account = format!("'{name}'@'%'");
        root_sql(&format!("CREATE USER {account} IDENTIFIED BY '{pw}'")).await;
        for grant in grants {
            root_sql(&grant.replace("{u}", &account)).await;
        }
        name
    }
}

impl Users {
    /// Drop `account` (`'name'@'host'`) with the others.
    pub fn track(&self, account: String) {
        self.0.lock().expect("users").push(account);
    }
}

impl Drop for Users {
    fn drop(&mut self) {
        let accounts = self.0.lock().map(|n| n.clone()).unwrap_or_default();
        if accounts.is_empty() {
            return;
        }
        // Drop runs outside async code: the CLI, not the async driver.
        let sql = format!("DROP USER IF EXISTS {}", accounts.join(", "));
        let ok = Command::new("mariadb")
            .args(["-h", HOST, "-u", "root", "-e", &sql])
            .status()
            .is_ok_and(|s| s.success());
        if !ok && !std::thread::panicking() {
            panic!("could not drop the test users {accounts:?}");
        }
    }
}
