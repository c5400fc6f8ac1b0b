//! [`RedisTarget`]: the passwords of a Redis ACL user.
//!
//! Redis keeps several passwords per user, as SHA-256 hashes, and takes hashes in `ACL
//! SETUSER` (`#<hash>` adds, `!<hash>` removes): so the plaintext never goes over the wire nor
//! into an ACL file, and a rotation can hold the old and new password at once
//! ([`Target::holds_two_credentials`]). Apply adds the value's hash and removes the hashes of
//! the rotation's other values the user has, in one `ACL SETUSER` (atomic); passwords the
//! rotation does not know stay. Removing a hash the user lacks is an error in Redis, hence the
//! `ACL GETUSER` first.
//!
//! Logins: with an admin secret, `AUTH` as its `username` (`default` when absent); without
//! one (single-user mode), `AUTH` as the user itself with each of the rotation's values in turn
//! (the user needs `+acl|getuser +acl|setuser`, and `+client|kill` to revoke).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rotation_core::{
    ConnectionSpec, CredentialSource, DbCredential, Error, ErrorKind, Result, SecretValue, Session,
    Target, VerifyContext,
};
use serde::Deserialize;

use crate::acl::{password_hash, passwords, sessions_of};
use crate::client::{Auth, Client};
use crate::resp::Reply;
use crate::{DEFAULT_PORT, DEFAULT_TIMEOUT, check_spec, within};

/// The passwords of a Redis ACL user (see the module docs).
#[derive(Debug, Clone)]
pub struct RedisTarget {
    name: String,
    what: String,
    spec: ConnectionSpec,
    admin: Option<Arc<dyn CredentialSource>>,
    username: Option<String>,
    timeout: Duration,
    acl_save: bool,
}

/// Builds a [`RedisTarget`].
#[derive(Debug)]
pub struct RedisTargetBuilder {
    name: String,
    spec: ConnectionSpec,
    admin: Option<Arc<dyn CredentialSource>>,
    username: Option<String>,
    timeout: Duration,
    acl_save: bool,
}

impl RedisTarget {
    /// A builder for the target called `name`.
    pub fn builder(name: impl Into<String>) -> RedisTargetBuilder {
        RedisTargetBuilder {
            name: name.into(),
            spec: ConnectionSpec::default(),
            admin: None,
            username: None,
            timeout: DEFAULT_TIMEOUT,
            acl_save: false,
        }
    }
}

impl RedisTargetBuilder {
    /// Where to connect (wins over the secret's keys).
    pub fn connection(mut self, spec: ConnectionSpec) -> Self {
        self.spec = spec;
        self
    }
    /// The admin login's secret; `None`: single-user (the user changes its own passwords).
    pub fn admin(mut self, admin: Option<Arc<dyn CredentialSource>>) -> Self {
        self.admin = admin;
        self
    }
    /// The ACL user, instead of the secret's `username`.
    pub fn username(mut self, user: Option<String>) -> Self {
        self.username = user;
        self
    }
    /// Limit of each call (connect, login, commands); default 10 s.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    /// Run `ACL SAVE` after a change (servers with an ACL file: otherwise a restart loses it).
    pub fn acl_save(mut self, save: bool) -> Self {
        self.acl_save = save;
        self
    }
    /// The target; `InvalidConfig` errors name the field.
    pub fn build(self) -> Result<RedisTarget> {
        let what = format!("target {}", self.name);
        check_spec(&what, &self.spec, self.timeout)?;
        if self.username.as_deref() == Some("") {
            return Err(Error::config(
                "username",
                format!("{what}: empty user name"),
            ));
        }
        Ok(RedisTarget {
            name: self.name,
            what,
            spec: self.spec,
            admin: self.admin,
            username: self.username,
            timeout: self.timeout,
            acl_save: self.acl_save,
        })
    }
}

/// The non-secret keys of an admin document (the password is read with `field::extract`).
#[derive(Deserialize)]
struct AdminKeys {
    username: Option<String>,
}

/// A connection logged in to change `user`'s passwords.
struct Login {
    client: Client,
    user: String,
    /// The admin's name, `None` in single-user mode (for the hint of a missing permission).
    admin: Option<String>,
}

impl RedisTarget {
    /// The user of `ctx`'s document and the server, with `password`.
    fn user_of(&self, ctx: &VerifyContext, password: &SecretValue) -> Result<DbCredential> {
        DbCredential::resolve(
            &self.what,
            ctx.document.as_ref(),
            password,
            &self.spec,
            self.username.as_deref(),
            DEFAULT_PORT,
        )
    }

    /// Connect and log in as the admin, or as the user with one of the rotation's values.
    async fn login(&self, ctx: &VerifyContext, user: &DbCredential) -> Result<Login> {
        let mut secrets: Vec<SecretValue> = ctx.related_values.clone();
        secrets.push(user.password.clone());
        match &self.admin {
            Some(admin) => {
                let doc = admin.read().await?;
                let keys: AdminKeys = serde_json::from_slice(doc.expose()).map_err(|_| {
                    Error::invalid_value(format!(
                        "{}: the admin secret {} is not a JSON object with a \"password\" key",
                        self.what,
                        admin.secret()
                    ))
                })?;
                let password = rotation_core::field::extract(&doc, "password").map_err(|e| {
                    e.context(format!(
                        "{}: the admin secret {}",
                        self.what,
                        admin.secret()
                    ))
                })?;
                let admin_user = keys.username.unwrap_or_else(|| "default".to_owned());
                // The user comes from the secret unless the config pins it: its writer must not
                // make the admin change the admin's own or the `default` user's passwords.
                if self.username.is_none()
                    && (user.username == admin_user || user.username == "default")
                {
                    return Err(Error::new(
                        ErrorKind::Target,
                        format!(
                            "{}: user {} named by the secret is the admin or the default user: \
                             set username = \"{}\" in the target's config to rotate it through \
                             the admin, or rotate it single-user",
                            self.what, user.username, user.username
                        ),
                    ));
                }
                // The admin logs in where the config says, else where its own secret says;
                // never where only the user's secret points (its writer must not choose where
                // the admin's password goes).
                let conn = DbCredential::resolve_admin(
                    &format!("{} (admin secret {})", self.what, admin.secret()),
                    &doc,
                    &self.spec,
                    Some(&admin_user),
                    DEFAULT_PORT,
                )?
                .connection;
                secrets.push(password.clone());
                let mut client = Client::connect(&self.what, &conn, self.timeout, secrets).await?;
                if let Auth::Refused(text) = client.auth(&admin_user, &password).await? {
                    return Err(Error::new(
                        ErrorKind::Target,
                        format!(
                            "{}: the admin login as {admin_user} (secret {}) on {conn} was \
                             refused: {text}",
                            self.what,
                            admin.secret()
                        ),
                    ));
                }
                Ok(Login {
                    client,
                    user: user.username.clone(),
                    admin: Some(admin_user),
                })
            }
            None => {
                let mut client =
                    Client::connect(&self.what, &user.connection, self.timeout, secrets.clone())
                        .await?;
                let mut last = String::new();
                let mut tried: Vec<&[u8]> = Vec::new();
                // The given value last: applying it, the user's current password is usually
                // the other one (fewer refused logins in the server's ACL LOG).
                let given = user.password.expose();
                let order = secrets
                    .iter()
                    .filter(|c| c.expose() != given)
                    .chain(secrets.iter().filter(|c| c.expose() == given));
                for candidate in order {
                    if tried.contains(&candidate.expose()) {
                        continue;
                    }
                    tried.push(candidate.expose());
                    match client.auth(&user.username, candidate).await? {
                        Auth::Accepted => {
                            return Ok(Login {
                                client,
                                user: user.username.clone(),
                                admin: None,
                            });
                        }
                        Auth::Refused(text) => last = text,
                    }
                }
                Err(Error::new(
                    ErrorKind::Target,
                    format!(
                        "{}: single-user mode (no admin secret): none of the rotation's \
                         passwords logs in as {} on {} ({last}); does the user exist, and is \
                         its current password one of the rotation's?",
                        self.what, user.username, user.connection
                    ),
                ))
            }
        }
    }

    /// The hashes the user has; a missing user is a target error.
    async fn hashes(&self, s: &mut Login) -> Result<Vec<String>> {
        let reply = s
            .client
            .call(&[b"ACL", b"GETUSER", s.user.as_bytes()])
            .await?;
        if let Reply::Error(text) = &reply {
            return Err(self.refused(s, "ACL GETUSER", "acl|getuser", text));
        }
        match passwords(&reply) {
            None => Err(Error::new(
                ErrorKind::Target,
                format!(
                    "{}: user {} does not exist on {} (create it first: this target changes \
                     passwords only)",
                    self.what, s.user, s.client.server
                ),
            )),
            Some(Ok(list)) => Ok(list),
            Some(Err(why)) => Err(Error::new(
                ErrorKind::Target,
                format!("{}: {why} on {}", self.what, s.client.server),
            )),
        }
    }

    /// `ACL SETUSER user <rules>` then, if configured, `ACL SAVE`.
    async fn set(&self, s: &mut Login, rules: &[String]) -> Result<()> {
        let mut args: Vec<&[u8]> = vec![b"ACL", b"SETUSER", s.user.as_bytes()];
        args.extend(rules.iter().map(|r| r.as_bytes()));
        match s.client.call(&args).await? {
            Reply::Status(ok) if ok == "OK" => {}
            Reply::Error(text) => return Err(self.refused(s, "ACL SETUSER", "acl|setuser", &text)),
            other => return Err(s.client.unexpected("ACL SETUSER", &other)),
        }
        if self.acl_save {
            match s.client.call(&[b"ACL", b"SAVE"]).await? {
                Reply::Status(ok) if ok == "OK" => {}
                Reply::Error(text) if text.contains("aclfile") || text.contains("ACL file") => {
                    return Err(Error::new(
                        ErrorKind::Target,
                        format!(
                            "{}: the password of {} changed in memory, but ACL SAVE on {} \
                             failed: {} (acl_save needs a server started with an aclfile)",
                            self.what,
                            s.user,
                            s.client.server,
                            s.client.clean(&text)
                        ),
                    ));
                }
                Reply::Error(text) => return Err(self.refused(s, "ACL SAVE", "acl|save", &text)),
                other => return Err(s.client.unexpected("ACL SAVE", &other)),
            }
        }
        Ok(())
    }

    /// A server error on `command`, with the permission to grant when it is a NOPERM.
    fn refused(&self, s: &Login, command: &str, permission: &str, text: &str) -> Error {
        let text = s.client.clean(text);
        let hint = if text.starts_with("NOPERM") {
            match &s.admin {
                Some(admin) => {
                    format!("; grant the admin the permission: ACL SETUSER {admin} +{permission}")
                }
                None => format!(
                    "; single-user mode: the user changes its own passwords, so it needs \
                     +{permission} (ACL SETUSER {} +{permission}), or configure an admin secret",
                    s.user
                ),
            }
        } else {
            String::new()
        };
        Error::new(
            ErrorKind::Target,
            format!(
                "{}: {command} for user {} on {} failed: {text}{hint}",
                self.what, s.user, s.client.server
            ),
        )
    }

    async fn apply_inner(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        if value.is_empty() {
            return Err(Error::new(
                ErrorKind::Target,
                format!("{}: refusing an empty password", self.what),
            ));
        }
        let user = self.user_of(ctx, value)?;
        let mut s = self.login(ctx, &user).await?;
        let have = self.hashes(&mut s).await?;
        let want = password_hash(value);
        let mut rules = Vec::new();
        if !have.contains(&want) {
            rules.push(format!("#{want}"));
        }
        for other in &ctx.related_values {
            let h = password_hash(other);
            if h != want && have.contains(&h) && !rules.contains(&format!("!{h}")) {
                rules.push(format!("!{h}"));
            }
        }
        if rules.is_empty() {
            return Ok(());
        }
        self.set(&mut s, &rules).await
    }

    async fn revoke_inner(&self, ctx: &VerifyContext, old: &SecretValue) -> Result<()> {
        let user = self.user_of(ctx, old)?;
        let mut s = self.login(ctx, &user).await?;
        let have = self.hashes(&mut s).await?;
        let gone = password_hash(old);
        if have.contains(&gone) {
            self.set(&mut s, &[format!("!{gone}")]).await?;
        }
        // Removing a password does not end the sessions logged in with it. Redis cannot tell
        // which password a session used: every session of the user goes (clients reconnect
        // with the current one). SKIPME (the default) spares this connection.
        match s
            .client
            .call(&[b"CLIENT", b"KILL", b"USER", s.user.as_bytes()])
            .await?
        {
            Reply::Int(_) => Ok(()),
            Reply::Error(text) => Err(self.refused(&s, "CLIENT KILL", "client|kill", &text)),
            other => Err(s.client.unexpected("CLIENT KILL", &other)),
        }
    }

    async fn sessions_inner(&self, ctx: &VerifyContext) -> Result<Vec<Session>> {
        let password = ctx
            .related_values
            .first()
            .cloned()
            .unwrap_or_else(|| SecretValue::from(""));
        let user = self.user_of(ctx, &password)?;
        let mut s = self.login(ctx, &user).await?;
        // In single-user mode this connection is one of the user's: leave it out.
        let me = if s.admin.is_none() {
            match s.client.call(&[b"CLIENT", b"ID"]).await? {
                Reply::Int(id) => Some(id.to_string()),
                Reply::Error(text) => {
                    return Err(self.refused(&s, "CLIENT ID", "client|id", &text));
                }
                other => return Err(s.client.unexpected("CLIENT ID", &other)),
            }
        } else {
            None
        };
        // `CLIENT LIST USER` is not in Redis 7.0: filter here.
        match s.client.call(&[b"CLIENT", b"LIST"]).await? {
            Reply::Bulk(Some(text)) => Ok(sessions_of(
                &String::from_utf8_lossy(&text),
                &s.user,
                me.as_deref(),
            )),
            Reply::Error(text) => Err(self.refused(&s, "CLIENT LIST", "client|list", &text)),
            other => Err(s.client.unexpected("CLIENT LIST", &other)),
        }
    }
}

#[async_trait]
impl Target for RedisTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> String {
        format!(
            "redis ACL at {} ({}{})",
            self.spec.describe(crate::DEFAULT_PORT),
            rotation_core::database::login_describe(self.admin.as_deref()),
            if self.acl_save { ", ACL SAVE" } else { "" }
        )
    }

    fn check(&self) -> Result<()> {
        crate::check_files(&self.what, &self.spec)
    }

    async fn apply(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        within(&self.what, self.timeout, self.apply_inner(ctx, value)).await
    }

    fn can_revoke(&self) -> bool {
        true
    }

    async fn revoke(&self, ctx: &VerifyContext, old: &SecretValue) -> Result<()> {
        within(&self.what, self.timeout, self.revoke_inner(ctx, old)).await
    }

    fn holds_two_credentials(&self) -> bool {
        true
    }

    async fn sessions(&self, ctx: &VerifyContext) -> Result<Option<Vec<Session>>> {
        within(&self.what, self.timeout, self.sessions_inner(ctx))
            .await
            .map(Some)
    }
}
