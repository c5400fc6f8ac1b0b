//! [`MysqlTarget`]: sets a MariaDB/MySQL user's password, ends its sessions, lists them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mysql_async::Conn;
use rotation_core::{
    ConnectionSpec, CredentialSource, DbCredential, Error, ErrorKind, Result, SecretValue, Session,
    Target, VerifyContext,
};

use crate::connect::{Failure, Login, close, open};
use crate::login::{self, Admin};
use crate::refusal::{self, Refusal};
use crate::sql;
use crate::statement::{causes, flavor, rows, run};
use crate::{DEFAULT_PORT, DEFAULT_TIMEOUT};

/// The MariaDB/MySQL target. Build it with [`MysqlTarget::builder`].
///
/// - With an admin secret: logs in as that admin and runs `ALTER USER 'u'@'h' IDENTIFIED BY
///   PASSWORD '*hash'` (MariaDB) or `... IDENTIFIED WITH mysql_native_password AS '*hash'`
///   (MySQL, untested here) for every configured host part. The admin needs CREATE USER (or
///   UPDATE on `mysql.*`); for revoke also PROCESS and CONNECTION ADMIN (or SUPER).
/// - Without: logs in as the user with one of the rotation's passwords and runs `SET PASSWORD
///   = '*hash'` (MariaDB: no privilege needed), which changes the account it logged in as.
///
/// The plaintext never reaches the server: only its `mysql_native_password` hash does (see
/// [`crate::sql`]), so the server's general log does not record it. A server whose password
/// validation plugin refuses hashes (`strict_password_validation=ON`) gets an error saying so
/// and what to change ([`crate::refusal`]); re-applying the password it holds (the engine's
/// revert after such a refusal) succeeds once a login with it proves it is in place.
#[derive(Debug)]
pub struct MysqlTarget {
    name: String,
    spec: ConnectionSpec,
    admin: Option<Arc<dyn CredentialSource>>,
    username: Option<String>,
    user_hosts: Vec<String>,
    timeout: Duration,
}

/// Builds a [`MysqlTarget`].
#[derive(Debug)]
pub struct MysqlTargetBuilder {
    name: String,
    spec: ConnectionSpec,
    admin: Option<Arc<dyn CredentialSource>>,
    username: Option<String>,
    user_hosts: Vec<String>,
    timeout: Duration,
}

impl MysqlTarget {
    /// A builder for the target `name` (`[targets.<name>]`).
    pub fn builder(name: impl Into<String>) -> MysqlTargetBuilder {
        MysqlTargetBuilder {
            name: name.into(),
            spec: ConnectionSpec::default(),
            admin: None,
            username: None,
            user_hosts: vec!["%".to_owned()],
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl MysqlTargetBuilder {
    /// Where to connect (wins over the secret's keys).
    pub fn connection(mut self, spec: ConnectionSpec) -> Self {
        self.spec = spec;
        self
    }
    /// The admin secret; `None`: single-user (log in as the secret's own user with one of the
    /// rotation's passwords).
    pub fn admin(mut self, admin: Option<Arc<dyn CredentialSource>>) -> Self {
        self.admin = admin;
        self
    }
    /// Overrides the document's `username`.
    pub fn username(mut self, user: Option<String>) -> Self {
        self.username = user;
        self
    }
    /// Time limit of the connection and of each statement (default 10 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    /// The account host parts to change (default `["%"]`): every one is altered, in this
    /// order. Other than the default, it needs an admin: a single-user login changes the
    /// account it matched.
    pub fn user_hosts(mut self, hosts: Vec<String>) -> Self {
        self.user_hosts = hosts;
        self
    }
    /// Validates; errors name the field (`<field>`, under `targets.<name>` in the config).
    pub fn build(self) -> Result<MysqlTarget> {
        // Bare field names: the config layer puts `targets.<name>.` in front.
        let field = |f: &str| f.to_owned();
        if self.name.is_empty() {
            return Err(Error::config("targets", "a target needs a name"));
        }
        if let Some(reason) = self.username.as_deref().and_then(sql::check_user) {
            return Err(Error::config(field("username"), reason));
        }
        if self.user_hosts.is_empty() {
            return Err(Error::config(
                field("user_hosts"),
                "must name at least one host part (\"%\" matches every host)",
            ));
        }
        for host in &self.user_hosts {
            if let Some(reason) = sql::check_host(host) {
                return Err(Error::config(
                    field("user_hosts"),
                    format!("{host:?} {reason}"),
                ));
            }
        }
        if self.admin.is_none() && self.user_hosts != ["%"] {
            return Err(Error::config(
                field("user_hosts"),
                "needs an admin secret: a login as the user itself changes only the account \
                 it matched",
            ));
        }
        if self.timeout.is_zero() {
            return Err(Error::config(field("timeout"), "must be more than zero"));
        }
        Ok(MysqlTarget {
            name: self.name,
            spec: self.spec,
            admin: self.admin,
            username: self.username,
            user_hosts: self.user_hosts,
            timeout: self.timeout,
        })
    }
}

impl MysqlTarget {
    fn what(&self) -> String {
        format!("target {}", self.name)
    }

    /// The user of `ctx`'s document (with `password`), its name checked.
    fn user(&self, ctx: &VerifyContext, password: &SecretValue) -> Result<DbCredential> {
        let what = self.what();
        let cred = DbCredential::resolve(
            &what,
            ctx.document.as_ref(),
            password,
            &self.spec,
            self.username.as_deref(),
            DEFAULT_PORT,
        )?;
        if let Some(reason) = sql::check_user(&cred.username) {
            return Err(Error::invalid_value(format!(
                "{what}: the secret's user name {reason}"
            )));
        }
        Ok(cred)
    }

    async fn admin_login(
        &self,
        admin: &dyn CredentialSource,
        user: &DbCredential,
    ) -> Result<Admin> {
        let login = login::admin(&self.what(), admin, &self.spec, self.timeout).await?;
        // The user comes from the secret unless the config pins it: its writer must not make
        // the admin change its own or root's password and then read it from the store.
        if self.username.is_none() && (user.username == login.user || user.username == "root") {
            return Err(Error::new(
                ErrorKind::Target,
                format!(
                    "{}: user '{}' named by the secret is the admin or root: set username = \
                     \"{}\" in the target's config to rotate it through the admin, or rotate it \
                     single-user",
                    self.what(),
                    user.username,
                    user.username
                ),
            ));
        }
        Ok(login)
    }

    /// Sets the password of every configured account of `user` to `hash`, as the admin.
    async fn apply_as_admin(
        &self,
        admin: &dyn CredentialSource,
        user: &DbCredential,
        hash: &str,
        value: &SecretValue,
    ) -> Result<()> {
        let Admin {
            mut conn,
            user: admin_user,
            server,
        } = self.admin_login(admin, user).await?;
        let result = async {
            let flavor = flavor(&mut conn, self.timeout)
                .await
                .map_err(|f| self.failed(&server, "reading the server version", &f))?;
            let secrets = secrets(hash, value);
            for host in &self.user_hosts {
                let account = sql::account(&user.username, host);
                let statement = sql::alter_user(flavor, &account, hash);
                let Err(failure) = run(&mut conn, &statement, &secrets, self.timeout).await else {
                    continue;
                };
                let causes = causes_of(&mut conn, &failure, &secrets, self.timeout).await;
                // With strict validation the server takes no hash at all, so this call changed
                // nothing: when the value already logs in (a rollback to the password the
                // refused rotation left in place), the target holds it and apply is done.
                if refused_as(&failure, &causes) == Some(Refusal::StrictValidation)
                    && self.logs_in(user).await
                {
                    return Ok(());
                }
                return Err(self.alter_failed(&server, &account, &admin_user, &failure, &causes));
            }
            Ok(())
        }
        .await;
        close(conn).await;
        result
    }

    /// Single-user mode: log in as the user (the value itself first: already applied means
    /// done) and set its own password.
    async fn apply_as_user(
        &self,
        ctx: &VerifyContext,
        user: &DbCredential,
        hash: &str,
        value: &SecretValue,
    ) -> Result<()> {
        let server = user.connection.to_string();
        let login::Own {
            mut conn,
            first_worked,
        } = login::own(&self.what(), ctx, user, Some(value), self.timeout).await?;
        let result = async {
            if first_worked {
                return Ok(());
            }
            let flavor = flavor(&mut conn, self.timeout)
                .await
                .map_err(|f| self.failed(&server, "reading the server version", &f))?;
            let statement = sql::set_own_password(flavor, hash);
            let secrets = secrets(hash, value);
            let Err(failure) = run(&mut conn, &statement, &secrets, self.timeout).await else {
                return Ok(());
            };
            let causes = causes_of(&mut conn, &failure, &secrets, self.timeout).await;
            let account = format!("'{}' (its own password)", user.username);
            Err(self.alter_failed(&server, &account, &user.username, &failure, &causes))
        }
        .await;
        close(conn).await;
        result
    }

    /// A connection that can see and end the user's sessions: the admin's, else the user's
    /// own (with one of the rotation's passwords).
    /// The admin's name comes with it (`None`: the user's own login).
    async fn observer(
        &self,
        ctx: &VerifyContext,
        user: &DbCredential,
    ) -> Result<(Conn, Option<String>)> {
        match &self.admin {
            Some(admin) => {
                let admin = self.admin_login(admin.as_ref(), user).await?;
                Ok((admin.conn, Some(admin.user)))
            }
            None => Ok((
                login::own(&self.what(), ctx, user, None, self.timeout)
                    .await?
                    .conn,
                None,
            )),
        }
    }

    /// The user's sessions other than ours: (id, user, host).
    async fn processes(
        &self,
        conn: &mut Conn,
        server: &str,
        user: &str,
    ) -> Result<Vec<(u64, String, Option<String>)>> {
        rows(
            conn,
            "SELECT ID, USER, HOST FROM information_schema.PROCESSLIST \
             WHERE USER = ? AND ID <> CONNECTION_ID() ORDER BY ID",
            (user,),
            self.timeout,
        )
        .await
        .map_err(|f| self.failed(server, "reading the process list", &f))
    }

    /// Fails unless the admin may see every session (PROCESS): without it the process list
    /// shows only the admin's own, and revoke would end nothing while claiming success.
    async fn require_process_privilege(
        &self,
        conn: &mut Conn,
        server: &str,
        admin: &str,
    ) -> Result<()> {
        let granted: Vec<(String,)> = rows(
            conn,
            // USER_PRIVILEGES lists everyone's to an admin that may read mysql.*: keep the
            // admin's own row ('user'@'host'; a host part has no '@', a user name may).
            "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES \
             WHERE PRIVILEGE_TYPE IN ('PROCESS', 'SUPER') AND GRANTEE = ( \
               SELECT CONCAT('''', SUBSTRING(u, 1, CHAR_LENGTH(u) - \
                 CHAR_LENGTH(SUBSTRING_INDEX(u, '@', -1)) - 1), '''@''', \
                 SUBSTRING_INDEX(u, '@', -1), '''') \
               FROM (SELECT CURRENT_USER() AS u) AS c) LIMIT 1",
            (),
            self.timeout,
        )
        .await
        .map_err(|f| self.failed(server, "reading the admin's privileges", &f))?;
        if granted.is_empty() {
            return Err(Error::new(
                ErrorKind::Target,
                format!(
                    "{}: the admin '{admin}' cannot see other users' sessions on {server}: \
                     grant it PROCESS and CONNECTION ADMIN (GRANT PROCESS, CONNECTION ADMIN ON \
                     *.* TO '{admin}'@...; MySQL and MariaDB before 10.5: SUPER)",
                    self.what()
                ),
            ));
        }
        Ok(())
    }

    fn failed(&self, server: &str, doing: &str, failure: &Failure) -> Error {
        match failure {
            Failure::Unreachable(_) => login::connect_error(&self.what(), server, failure),
            _ => Error::new(
                ErrorKind::Target,
                format!(
                    "{}: {doing} on {server}: {}",
                    self.what(),
                    failure.describe()
                ),
            ),
        }
    }

    /// Whether `user` (holding the value given to apply) logs in, on a fresh connection.
    async fn logs_in(&self, user: &DbCredential) -> bool {
        let login = Login {
            connection: &user.connection,
            user: &user.username,
            password: &user.password,
            dbname: None,
        };
        match open(&login, self.timeout).await {
            Ok(conn) => {
                close(conn).await;
                true
            }
            Err(_) => false,
        }
    }

    fn alter_failed(
        &self,
        server: &str,
        account: &str,
        login: &str,
        failure: &Failure,
        causes: &[(u16, String)],
    ) -> Error {
        let what = self.what();
        let Failure::Server { code, text } = failure else {
            return self.failed(
                server,
                &format!("changing the password of {account}"),
                failure,
            );
        };
        let quoted = refusal::with_causes(*code, text, causes);
        match (code, refusal::classify(*code, text, causes)) {
            (_, Refusal::StrictValidation) => Error::new(
                ErrorKind::Target,
                format!(
                    "{what}: {server} refused the new password of {account} ({quoted}): the \
                     server has a password validation plugin, which can check only a plaintext \
                     password, and this target sends only the password's hash so that no \
                     server log records the password; nothing was changed. To rotate this \
                     user, set strict_password_validation=OFF on the server (SET GLOBAL \
                     strict_password_validation=OFF, and in its configuration file), which \
                     accepts hashed passwords without the plugin's check, and make the \
                     secret's generator meet the server's password policy (length, upper and \
                     lower case letters, digits, other characters)"
                ),
            ),
            (_, Refusal::ReadOnly) => Error::new(
                ErrorKind::Target,
                format!(
                    "{what}: {server} is read-only and refused to change the password of \
                     {account} ({quoted}): point the target at the primary server, or grant \
                     '{login}' READ_ONLY ADMIN"
                ),
            ),
            (_, Refusal::NoSuchUser) => Error::new(
                ErrorKind::Target,
                format!("{what}: the user {account} does not exist on {server} ({quoted})"),
            ),
            (1227 | 1044 | 1142, Refusal::Other) => Error::new(
                ErrorKind::Target,
                format!(
                    "{what}: '{login}' may not change the password of {account} on {server} \
                     ({text}): grant it CREATE USER (GRANT CREATE USER ON *.* TO '{login}'@...) \
                     or UPDATE on mysql.*"
                ),
            ),
            (code, Refusal::Other) => self.failed(
                server,
                &format!("changing the password of {account}"),
                &Failure::Server {
                    code: *code,
                    text: quoted,
                },
            ),
        }
    }
}

/// Which refusal `failure` is (`None`: not a server's answer).
fn refused_as(failure: &Failure, causes: &[(u16, String)]) -> Option<Refusal> {
    match failure {
        Failure::Server { code, text } => Some(refusal::classify(*code, text, causes)),
        _ => None,
    }
}

/// The causes a failed statement left in the diagnostics (only for a server's answer: after a
/// lost connection there is nothing to ask).
async fn causes_of(
    conn: &mut Conn,
    failure: &Failure,
    secrets: &[&str],
    timeout: Duration,
) -> Vec<(u16, String)> {
    match failure {
        Failure::Server { .. } => causes(conn, secrets, timeout).await,
        _ => Vec::new(),
    }
}

/// What to scrub from the server's answers to a password statement.
fn secrets<'a>(hash: &'a str, value: &'a SecretValue) -> [&'a str; 2] {
    [hash, std::str::from_utf8(value.expose()).unwrap_or("")]
}

#[async_trait]
impl Target for MysqlTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> String {
        format!(
            "mysql at {} ({}, accounts {})",
            self.spec.describe(crate::DEFAULT_PORT),
            rotation_core::database::login_describe(self.admin.as_deref()),
            self.user_hosts.join(", ")
        )
    }

    fn check(&self) -> Result<()> {
        crate::connect::check_files(&format!("targets.{}", self.name), &self.spec)
    }

    async fn apply(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        let user = self.user(ctx, value)?;
        // The driver sends passwords as UTF-8 strings: refuse others before anything happens.
        value.expose_str().map_err(|e| e.context(self.what()))?;
        let hash = sql::native_hash(value.expose());
        match &self.admin {
            Some(admin) => {
                self.apply_as_admin(admin.as_ref(), &user, &hash, value)
                    .await
            }
            None => self.apply_as_user(ctx, &user, &hash, value).await,
        }
    }

    fn can_revoke(&self) -> bool {
        true
    }

    /// Ends the user's sessions: a changed password does not end them, so a holder of the old
    /// one stays connected until then. Ending none is fine (idempotent).
    async fn revoke(&self, ctx: &VerifyContext, old: &SecretValue) -> Result<()> {
        let user = self.user(ctx, old)?;
        let server = user.connection.to_string();
        let (mut conn, admin) = self.observer(ctx, &user).await?;
        let result = async {
            if let Some(admin) = &admin {
                self.require_process_privilege(&mut conn, &server, admin)
                    .await?;
            }
            for (id, _, _) in self.processes(&mut conn, &server, &user.username).await? {
                match run(
                    &mut conn,
                    &format!("KILL CONNECTION {id}"),
                    &[],
                    self.timeout,
                )
                .await
                {
                    // 1094: unknown thread id: it ended meanwhile.
                    Ok(()) | Err(Failure::Server { code: 1094, .. }) => {}
                    Err(Failure::Server { code: 1095, text }) => {
                        return Err(Error::new(
                            ErrorKind::Target,
                            format!(
                                "{}: cannot end session {id} of '{}' on {server} ({text}): \
                                 grant the admin CONNECTION ADMIN (MySQL and MariaDB before \
                                 10.5: SUPER)",
                                self.what(),
                                user.username
                            ),
                        ));
                    }
                    Err(f) => return Err(self.failed(&server, "ending a session", &f)),
                }
            }
            Ok(())
        }
        .await;
        close(conn).await;
        result
    }

    fn holds_two_credentials(&self) -> bool {
        // MariaDB has no dual passwords. MySQL 8's RETAIN CURRENT PASSWORD is not used (yet).
        false
    }

    async fn sessions(&self, ctx: &VerifyContext) -> Result<Option<Vec<Session>>> {
        // The document's user is all that is needed here; no password is sent with it.
        let placeholder = SecretValue::new(Vec::new());
        let user = self.user(ctx, &placeholder)?;
        let server = user.connection.to_string();
        let (mut conn, _) = self.observer(ctx, &user).await?;
        let result = self.processes(&mut conn, &server, &user.username).await;
        close(conn).await;
        Ok(Some(
            result?
                .into_iter()
                .map(|(id, user, host)| Session {
                    id: id.to_string(),
                    user,
                    client: host,
                })
                .collect(),
        ))
    }
}
