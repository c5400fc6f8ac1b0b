//! The connection that acts on a role (the admin's, or the role's own in single-user mode)
//! and the statements about the role.

use postgres_protocol::password::scram_sha_256;
use rotation_core::{CredentialSource, DbCredential};
use tokio_postgres::Client;
use zeroize::Zeroizing;

use super::PostgresTarget;
use super::errors::NextStep;
use crate::admin;
use crate::connect::{self, ConnectError, quote_ident, quote_literal};
use rotation_core::{Connection, Error, ErrorKind, Result, SecretValue};

/// The oldest server that stores a SCRAM verifier given to `ALTER ROLE` as such (9.6 would
/// take it for a plaintext password).
const MIN_SERVER_VERSION: i32 = 100_000;

impl PostgresTarget {
    /// The admin's connection and login name.
    pub(super) async fn admin_client(
        &self,
        source: &dyn CredentialSource,
        user: &DbCredential,
    ) -> Result<(Client, DbCredential)> {
        let login = admin::login(&self.what, source, &self.spec, user).await?;
        match connect::connect(&self.what, &login, self.timeout).await {
            Ok(client) => Ok((client, login)),
            Err(e) => {
                let refused = e.is_refused_login();
                let who = format!(
                    "the admin login \"{}\" (admin secret {})",
                    login.username,
                    source.secret()
                );
                let err = self.connect_error(e, &login.connection, &who);
                Err(if refused {
                    err.context_after("check the admin secret's username and password")
                } else {
                    err
                })
            }
        }
    }

    /// Single-user mode: log in as the user with the first of `candidates` that works;
    /// returns the connection and which candidate it was.
    pub(super) async fn user_client(
        &self,
        user: &DbCredential,
        candidates: &[&SecretValue],
    ) -> Result<(Client, usize)> {
        let who = format!("user \"{}\"", user.username);
        let mut last = None;
        for (i, candidate) in candidates.iter().enumerate() {
            let login = DbCredential {
                password: (*candidate).clone(),
                ..user.clone()
            };
            match connect::connect(&self.what, &login, self.timeout).await {
                Ok(client) => return Ok((client, i)),
                Err(ConnectError::Server(t)) if t.is_refused_login() => last = Some(t),
                Err(e) => return Err(self.connect_error(e, &user.connection, &who)),
            }
        }
        let why = last.map_or_else(|| "no password to try".to_owned(), |t| t.text);
        Err(Error::new(
            ErrorKind::Target,
            format!(
                "{}: {who} logs in to {} with none of the rotation's {} known passwords \
                 (single-user mode: no admin secret is configured): {why}",
                self.what,
                user.connection,
                candidates.len()
            ),
        ))
    }

    /// Whether `role` exists and is a superuser.
    pub(super) async fn role(
        &self,
        client: &Client,
        role: &str,
        server: &Connection,
    ) -> Result<bool> {
        let rows = connect::within(
            &self.what,
            &server.to_string(),
            self.timeout,
            client.query_opt(
                "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = $1",
                &[&role],
            ),
        )
        .await?
        .map_err(|e| self.statement_error(&e, &[], "reading pg_roles", server, String::new))?;
        match rows {
            Some(row) => Ok(row.get(0)),
            None => Err(Error::new(
                ErrorKind::Target,
                format!("{}: role \"{role}\" does not exist on {server}", self.what),
            )),
        }
    }

    /// Fails on a server too old to take a SCRAM verifier (before 10).
    pub(super) async fn require_scram(&self, client: &Client, server: &Connection) -> Result<()> {
        let row = connect::within(
            &self.what,
            &server.to_string(),
            self.timeout,
            client.query_one("SELECT current_setting('server_version_num')::int", &[]),
        )
        .await?
        .map_err(|e| {
            self.statement_error(&e, &[], "reading the server version", server, String::new)
        })?;
        let version: i32 = row.get(0);
        if version < MIN_SERVER_VERSION {
            return Err(Error::new(
                ErrorKind::Target,
                format!(
                    "{}: {server} runs PostgreSQL {version} (server_version_num), which cannot \
                     store SCRAM-SHA-256 verifiers: version 10 or later is needed",
                    self.what
                ),
            ));
        }
        Ok(())
    }

    /// `ALTER ROLE` with the client-computed SCRAM verifier of `value`.
    pub(super) async fn set_password(
        &self,
        client: &Client,
        role: &str,
        value: &SecretValue,
        values: &[&SecretValue],
        server: &Connection,
        privilege: impl FnOnce() -> String,
    ) -> Result<()> {
        if value.is_empty() || value.expose().contains(&0) {
            return Err(Error::new(
                ErrorKind::Target,
                format!(
                    "{}: PostgreSQL cannot take the password: it is empty or holds a NUL byte",
                    self.what
                ),
            ));
        }
        let verifier = Zeroizing::new(scram_sha_256(value.expose()));
        let literal = Zeroizing::new(quote_literal(&verifier));
        let sql = Zeroizing::new(format!(
            "ALTER ROLE {} PASSWORD {}",
            quote_ident(role),
            *literal
        ));
        connect::within(
            &self.what,
            &server.to_string(),
            self.timeout,
            client.batch_execute(&sql),
        )
        .await?
        .map_err(|e| {
            let doing = format!("changing the password of role \"{role}\"");
            self.statement_error(&e, values, &doing, server, privilege)
        })
    }

    /// The connection that acts on `user`'s role: the admin's, or the user's own logged in
    /// with the first of `candidates` that works (`Some(i)`: candidate `i`).
    pub(super) async fn client_for(
        &self,
        user: &DbCredential,
        candidates: &[&SecretValue],
    ) -> Result<(Client, Connection, Option<usize>, String)> {
        match &self.admin {
            Some(source) => {
                let (client, login) = self.admin_client(source.as_ref(), user).await?;
                Ok((client, login.connection, None, login.username))
            }
            None => {
                let (client, i) = self.user_client(user, candidates).await?;
                Ok((
                    client,
                    user.connection.clone(),
                    Some(i),
                    user.username.clone(),
                ))
            }
        }
    }
}
