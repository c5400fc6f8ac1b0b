//! [`PostgresLogin`]: fresh tokio-postgres connections (no TLS) to one server and database.

use async_trait::async_trait;
use rotation_core::SecretValue;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use super::{Login, Session};

/// Logs in to PostgreSQL at `host:port`, database `dbname`, without TLS.
#[derive(Debug, Clone)]
pub struct PostgresLogin {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Database.
    pub dbname: String,
}

#[async_trait]
impl Login for PostgresLogin {
    fn describe(&self) -> String {
        format!("postgres {}:{}", self.host, self.port)
    }

    async fn login(
        &self,
        username: &str,
        password: &SecretValue,
    ) -> Result<Box<dyn Session>, String> {
        let (client, connection) = tokio_postgres::Config::new()
            .host(&self.host)
            .port(self.port)
            .dbname(&self.dbname)
            .user(username)
            .password(password.expose())
            .connect(NoTls)
            .await
            .map_err(|e| describe(&e))?;
        // The connection task ends when the client is dropped or the server closes it.
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Box::new(PostgresSession { client, driver }))
    }
}

struct PostgresSession {
    client: Client,
    driver: JoinHandle<()>,
}

#[async_trait]
impl Session for PostgresSession {
    async fn check(&mut self) -> Result<(), String> {
        let messages = self
            .client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| describe(&e))?;
        let first = messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        });
        match first.as_deref() {
            Some("1") => Ok(()),
            other => Err(format!("SELECT 1 answered {other:?}")),
        }
    }

    async fn close(self: Box<Self>) {
        let PostgresSession { client, driver } = *self;
        // Dropping the client sends Terminate; the driver then sees the end of the stream.
        drop(client);
        let _ = driver.await;
    }
}

/// The server's own words (`FATAL 28P01: password authentication failed for user "app"`), or
/// the error with its causes: tokio-postgres' `Display` alone says only `db error`.
fn describe(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
