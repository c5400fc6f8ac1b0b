//! [`MariadbLogin`]: fresh mysql_async connections over TCP (never the unix socket) to one
//! MariaDB/MySQL server, without TLS.

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use rotation_core::SecretValue;

use super::{Login, Session};

/// Logs in to MariaDB/MySQL at `host:port` over TCP.
#[derive(Debug, Clone)]
pub struct MariadbLogin {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

#[async_trait]
impl Login for MariadbLogin {
    fn describe(&self) -> String {
        format!("mariadb {}:{}", self.host, self.port)
    }

    async fn login(
        &self,
        username: &str,
        password: &SecretValue,
    ) -> Result<Box<dyn Session>, String> {
        let password = password
            .expose_str()
            .map_err(|_| "the password is not UTF-8".to_owned())?;
        let opts = OptsBuilder::default()
            .ip_or_hostname(self.host.as_str())
            .tcp_port(self.port)
            .user(Some(username))
            .pass(Some(password))
            // mysql_async would otherwise switch to the server's socket after logging in on
            // TCP: the account matched must stay the TCP one.
            .prefer_socket(false);
        let conn = Conn::new(opts).await.map_err(|e| e.to_string())?;
        Ok(Box::new(MariadbSession { conn }))
    }
}

struct MariadbSession {
    conn: Conn,
}

#[async_trait]
impl Session for MariadbSession {
    async fn check(&mut self) -> Result<(), String> {
        let one: Option<i64> = self
            .conn
            .query_first("SELECT 1")
            .await
            .map_err(|e| e.to_string())?;
        match one {
            Some(1) => Ok(()),
            other => Err(format!("SELECT 1 answered {other:?}")),
        }
    }

    async fn close(self: Box<Self>) {
        let _ = self.conn.disconnect().await;
    }
}
