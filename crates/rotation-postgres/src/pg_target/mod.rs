//! [`PostgresTarget`]: changes a role's password, ends its sessions, lists them.
//!
//! The new password reaches the server only as a SCRAM-SHA-256 verifier computed here
//! (`ALTER ROLE "u" PASSWORD 'SCRAM-SHA-256$4096:...'`): the server stores it as given, and
//! its logs, `pg_stat_statements` and `pg_stat_activity` never see the plaintext.
//!
//! With an admin secret it logs in as the admin; without one (single-user mode) it logs in as
//! the role itself with one of the rotation's known passwords and changes its own password
//! (any role may). If the value being applied already logs in, there is nothing to do.

mod builder;
mod errors;
mod role;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rotation_core::{
    ConnectionSpec, CredentialSource, DbCredential, Result, SecretValue, Session, Target,
    VerifyContext,
};

pub use builder::PostgresTargetBuilder;
use errors::{SINGLE_USER_HINT, privilege_needed};

use crate::connect::{self, quote_ident};
use crate::{DEFAULT_PORT, tls};

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

/// The rotation's values: the given one first, then the others (for redaction and for
/// single-user logins).
fn values<'a>(ctx: &'a VerifyContext, value: &'a SecretValue) -> Vec<&'a SecretValue> {
    let mut all = vec![value];
    all.extend(ctx.related_values.iter().filter(|v| *v != value));
    all
}

impl PostgresTarget {
    /// In admin mode the role comes from the secret unless the config pins `username`: a
    /// writer of the secret must not make the admin change a superuser's password, or its
    /// own, and then read the new one from the store.
    fn refuse_unpinned(&self, role: &str, admin: &str, superuser: bool) -> Result<()> {
        if self.username.is_some() {
            return Ok(());
        }
        let why = if role == admin {
            "is the admin's own role"
        } else if superuser {
            "is a superuser"
        } else {
            return Ok(());
        };
        Err(rotation_core::Error::new(
            rotation_core::ErrorKind::Target,
            format!(
                "{}: role \"{role}\" named by the secret {why}: set username = \"{role}\" in \
                 the target's config to rotate it through the admin (the secret alone may not \
                 choose such a role), or rotate it single-user",
                self.what
            ),
        ))
    }

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
}

#[async_trait]
impl Target for PostgresTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> String {
        format!(
            "postgres at {} ({})",
            self.spec.describe(crate::DEFAULT_PORT),
            rotation_core::database::login_describe(self.admin.as_deref())
        )
    }

    fn check(&self) -> Result<()> {
        tls::check_files(&self.what, &self.spec.tls())
    }

    async fn apply(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        let user = self.user(ctx, value)?;
        let values = values(ctx, value);
        // Single-user mode logs in with whichever value works (the value itself first). The
        // password is set even when the value already logs in: on a server that trusts the
        // connection any password does, and only ALTER ROLE makes it the one checked elsewhere.
        let (client, server, logged_in_with, actor) = self.client_for(&user, &values).await?;
        let role = &user.username;
        self.require_scram(&client, &server).await?;
        let superuser = match logged_in_with {
            None => {
                let superuser = self.role(&client, role, &server).await?;
                self.refuse_unpinned(role, &actor, superuser)?;
                Some(superuser)
            }
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
