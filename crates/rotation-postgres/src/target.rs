//! [`PostgresTarget`]: changes a role's password, ends its sessions, lists them.
//!
//! The new password reaches the server only as a SCRAM-SHA-256 verifier computed here
//! (`ALTER ROLE "u" PASSWORD 'SCRAM-SHA-256$4096:...'`): the server stores it as given, and
//! its logs, `pg_stat_statements` and `pg_stat_activity` never see the plaintext.
//!
//! With an admin secret it logs in as the admin; without one (single-user mode) it logs in as
//! the role itself with one of the rotation's known passwords and changes its own password
//! (any role may). If the value being applied already logs in, there is nothing to do.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use postgres_protocol::password::scram_sha_256;
use rotation_core::{
    Connection, ConnectionSpec, CredentialSource, DbCredential, Error, ErrorKind, Result,
    SecretValue, Session, Target, Tls, VerifyContext,
};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use zeroize::Zeroizing;

use crate::connect::{self, ConnectError, ServerText, quote_ident, quote_literal};
use crate::{DEFAULT_PORT, DEFAULT_TIMEOUT, admin, tls};

/// The PostgreSQL target (see the module docs).
#[derive(Debug)]
pub struct PostgresTarget {
    name: String,
    /// `target <name>`, the start of every error.
    what: String,
    spec: ConnectionSpec,
    admin: Option<Arc<dyn CredentialSource>>,
    username: Option<String>,
    timeout: Duration,
}

/// Builds a [`PostgresTarget`].
#[derive(Debug)]
pub struct PostgresTargetBuilder {
    name: String,
    spec: ConnectionSpec,
    admin: Option<Arc<dyn CredentialSource>>,
    username: Option<String>,
    timeout: Duration,
}

impl PostgresTarget {
    /// A builder for the target configured as `name`.
    pub fn builder(name: impl Into<String>) -> PostgresTargetBuilder {
        PostgresTargetBuilder {
            name: name.into(),
            spec: ConnectionSpec::default(),
            admin: None,
            username: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl PostgresTargetBuilder {
    /// Where to connect (wins over the secret's keys).
    pub fn connection(mut self, spec: ConnectionSpec) -> Self {
        self.spec = spec;
        self
    }

    /// The admin login's secret; `None`: single-user mode (log in as the secret's own user
    /// with one of the rotation's known passwords).
    pub fn admin(mut self, admin: Option<Arc<dyn CredentialSource>>) -> Self {
        self.admin = admin;
        self
    }

    /// The role whose password changes, instead of the secret's `username`.
    pub fn username(mut self, user: Option<String>) -> Self {
        self.username = user;
        self
    }

    /// Bound on connecting and on each statement (default 10 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The target, or an [`ErrorKind::InvalidConfig`] error naming the field.
    pub fn build(self) -> Result<PostgresTarget> {
        crate::check_common(
            &self.name,
            &self.spec,
            self.username.as_deref(),
            self.timeout,
        )?;
        Ok(PostgresTarget {
            what: format!("target {}", self.name),
            name: self.name,
            spec: self.spec,
            admin: self.admin,
            username: self.username,
            timeout: self.timeout,
        })
    }
}

/// The rotation's values: the given one first, then the others (for redaction and for
/// single-user logins).
fn values<'a>(ctx: &'a VerifyContext, value: &'a SecretValue) -> Vec<&'a SecretValue> {
    let mut all = vec![value];
    all.extend(ctx.related_values.iter().filter(|v| *v != value));
    all
}

/// The next step when the server refuses a role acting on itself.
const SINGLE_USER_HINT: &str = "single-user mode: the role acts on itself, which needs no \
                                privilege; configure an admin secret if this server forbids it";

/// The oldest server that stores a SCRAM verifier given to `ALTER ROLE` as such (9.6 would
/// take it for a plaintext password).
const MIN_SERVER_VERSION: i32 = 100_000;

/// What to grant when the admin may not change `role`'s password.
fn privilege_needed(role: &str, admin: &str, superuser: bool) -> String {
    if superuser {
        format!(
            "role \"{role}\" is a superuser: only a superuser may change its password \
             (ALTER ROLE {} SUPERUSER, or use a superuser admin)",
            quote_ident(admin)
        )
    } else {
        format!(
            "grant the admin CREATEROLE (ALTER ROLE {a} CREATEROLE; on PostgreSQL 16 and \
             later also GRANT {r} TO {a} WITH ADMIN OPTION)",
            a = quote_ident(admin),
            r = quote_ident(role)
        )
    }
}

impl PostgresTarget {
    /// The user's login from `ctx`'s document with `password`.
    fn user(&self, ctx: &VerifyContext, password: &SecretValue) -> Result<DbCredential> {
        DbCredential::resolve(
            &self.what,
            ctx.document.as_ref(),
            password,
            &self.spec,
            self.username.as_deref(),
            DEFAULT_PORT,
        )
    }

    /// The error for a connection that failed; `who` says which login (`the admin login
    /// "admin" (admin secret pg-admin)`, `user "app"`).
    fn connect_error(&self, err: ConnectError, server: &Connection, who: &str) -> Error {
        let what = &self.what;
        match err {
            ConnectError::Server(t) if t.is_refused_login() => Error::new(
                ErrorKind::Target,
                format!("{what}: {server} refused {who}: {}", t.text),
            ),
            ConnectError::Server(t) if t.is_temporary() => Error::new(
                ErrorKind::Temporary,
                format!("{what}: {server} did not accept {who} now: {}", t.text),
            ),
            ConnectError::Server(t) => Error::new(
                ErrorKind::Target,
                format!("{what}: {server} refused {who}: {}", t.text),
            ),
            ConnectError::Unreachable(text) => Error::new(
                ErrorKind::Temporary,
                format!("{what}: cannot connect to {server}: {text}"),
            ),
            ConnectError::Tls(text) => Error::new(
                ErrorKind::Target,
                format!(
                    "{what}: TLS with {server} failed (tls mode {}): {text}",
                    server.tls.mode.as_str()
                ),
            ),
            ConnectError::Config(e) => e,
        }
    }

    /// A failed statement: privilege, policy or temporary trouble.
    fn statement_error(
        &self,
        err: &tokio_postgres::Error,
        values: &[&SecretValue],
        doing: &str,
        server: &Connection,
        privilege: impl FnOnce() -> String,
    ) -> Error {
        let what = &self.what;
        match connect::server_text(err, values) {
            Some(t) if t.code == SqlState::INSUFFICIENT_PRIVILEGE => Error::new(
                ErrorKind::Target,
                format!("{what}: {doing} on {server}: {}; {}", t.text, privilege()),
            ),
            Some(t) if t.is_temporary() => Error::new(
                ErrorKind::Temporary,
                format!("{what}: {doing} on {server}: {}", t.text),
            ),
            Some(ServerText { text, .. }) => Error::new(
                ErrorKind::Target,
                format!("{what}: {doing} on {server}: the server refused: {text}"),
            ),
            None => Error::new(
                ErrorKind::Temporary,
                format!(
                    "{what}: {doing} on {server}: {}",
                    connect::describe(err, values)
                ),
            ),
        }
    }

    /// The admin's connection and login name.
    async fn admin_client(
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
    async fn user_client(
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
    async fn role(&self, client: &Client, role: &str, server: &Connection) -> Result<bool> {
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
    async fn require_scram(&self, client: &Client, server: &Connection) -> Result<()> {
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
    async fn set_password(
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
    async fn client_for(
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

/// Adds a next step to an error's message.
trait NextStep {
    fn context_after(self, step: &str) -> Self;
}

impl NextStep for Error {
    fn context_after(self, step: &str) -> Error {
        Error::new(self.kind(), format!("{}; {step}", self.message()))
    }
}

#[async_trait]
impl Target for PostgresTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> Result<()> {
        let tls = Tls {
            mode: self.spec.tls_mode.unwrap_or_default(),
            ca: self.spec.ca.clone(),
            client_cert: self.spec.client_cert.clone(),
            client_key: self.spec.client_key.clone(),
        };
        tls::check_files(&self.what, &tls)
    }

    async fn apply(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        let user = self.user(ctx, value)?;
        let values = values(ctx, value);
        // Single-user mode tries the value itself first: if it logs in, it is applied.
        let (client, server, logged_in_with, actor) = self.client_for(&user, &values).await?;
        let role = &user.username;
        if logged_in_with == Some(0) {
            tracing::debug!(target = %self.name, role, "the password is already set");
            return Ok(());
        }
        self.require_scram(&client, &server).await?;
        let superuser = match logged_in_with {
            None => Some(self.role(&client, role, &server).await?),
            Some(_) => None,
        };
        self.set_password(&client, role, value, &values, &server, || match superuser {
            Some(superuser) => privilege_needed(role, &actor, superuser),
            None => SINGLE_USER_HINT.to_owned(),
        })
        .await?;
        tracing::info!(target = %self.name, role, server = %server, "password changed");
        Ok(())
    }

    fn can_revoke(&self) -> bool {
        true
    }

    /// Ends every other session of the user: a changed password does not end sessions that
    /// logged in with the old one. Sessions already on the new password end too (their
    /// clients reconnect with it); PostgreSQL cannot tell them apart.
    async fn revoke(&self, ctx: &VerifyContext, old: &SecretValue) -> Result<()> {
        let user = self.user(ctx, old)?;
        let mut all = values(ctx, old);
        // Never log in with the value being revoked.
        let current: Vec<&SecretValue> = all.split_off(1);
        let (client, server, _, actor) = self.client_for(&user, &current).await?;
        let role = user.username.as_str();
        let rows = connect::within(
            &self.what,
            &server.to_string(),
            self.timeout,
            client.query(
                "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity \
                 WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid()",
                &[&role],
            ),
        )
        .await?
        .map_err(|e| {
            self.statement_error(
                &e,
                &[old],
                &format!("ending the sessions of role \"{role}\""),
                &server,
                || match self.admin {
                    Some(_) => format!(
                        "grant the admin pg_signal_backend (GRANT pg_signal_backend TO {}); \
                         sessions of a superuser only a superuser may end",
                        quote_ident(&actor)
                    ),
                    None => SINGLE_USER_HINT.to_owned(),
                },
            )
        })?;
        let ended = rows.iter().filter(|r| r.get::<_, bool>(0)).count();
        tracing::info!(target = %self.name, role, server = %server, ended, "sessions ended");
        Ok(())
    }

    async fn sessions(&self, ctx: &VerifyContext) -> Result<Option<Vec<Session>>> {
        let none = SecretValue::from("");
        let user = self.user(ctx, &none)?;
        let candidates: Vec<&SecretValue> = ctx.related_values.iter().collect();
        let (client, server, _, _) = self.client_for(&user, &candidates).await?;
        let role = user.username.as_str();
        let rows = connect::within(
            &self.what,
            &server.to_string(),
            self.timeout,
            client.query(
                "SELECT pid, usename::text, host(client_addr), client_port \
                 FROM pg_catalog.pg_stat_activity \
                 WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid() ORDER BY pid",
                &[&role],
            ),
        )
        .await?
        .map_err(|e| {
            self.statement_error(&e, &[], "reading pg_stat_activity", &server, String::new)
        })?;
        Ok(Some(
            rows.iter()
                .map(|row| {
                    let addr: Option<String> = row.get(2);
                    let port: Option<i32> = row.get(3);
                    Session {
                        id: row.get::<_, i32>(0).to_string(),
                        user: row.get(1),
                        client: addr.map(|a| match port {
                            Some(p) if p >= 0 && a.contains(':') => format!("[{a}]:{p}"),
                            Some(p) if p >= 0 => format!("{a}:{p}"),
                            _ => a,
                        }),
                    }
                })
                .collect(),
        ))
    }
}
