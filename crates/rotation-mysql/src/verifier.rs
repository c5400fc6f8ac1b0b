//! [`MysqlVerifier`]: a fresh login as the secret's user with the candidate password, one
//! query, and its first column of its first row compared with the expected text.

use std::time::Duration;

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};
use rotation_core::{
    ConnectionSpec, DbCredential, Error, ErrorKind, Result, SecretValue, Verifier, VerifyContext,
};

use crate::connect::{Failure, Login, close, humantime_secs, open};
use crate::sql::scrub;
use crate::{DEFAULT_PORT, DEFAULT_TIMEOUT};

/// The MariaDB/MySQL verifier. Build it with [`MysqlVerifier::builder`].
#[derive(Debug, Clone)]
pub struct MysqlVerifier {
    name: String,
    spec: ConnectionSpec,
    username: Option<String>,
    query: String,
    expect: String,
    timeout: Duration,
}

/// Builds a [`MysqlVerifier`].
#[derive(Debug, Clone)]
pub struct MysqlVerifierBuilder {
    name: String,
    spec: ConnectionSpec,
    username: Option<String>,
    query: Option<String>,
    expect: Option<String>,
    timeout: Duration,
}

impl MysqlVerifier {
    /// A builder for the verifier `name` (`[verifiers.<name>]`).
    pub fn builder(name: impl Into<String>) -> MysqlVerifierBuilder {
        MysqlVerifierBuilder {
            name: name.into(),
            spec: ConnectionSpec::default(),
            username: None,
            query: None,
            expect: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl MysqlVerifierBuilder {
    /// Where to connect (wins over the secret's keys).
    pub fn connection(mut self, spec: ConnectionSpec) -> Self {
        self.spec = spec;
        self
    }
    /// Overrides the document's `username`.
    pub fn username(mut self, user: Option<String>) -> Self {
        self.username = user;
        self
    }
    /// The query (default `SELECT 1`).
    pub fn query(mut self, q: Option<String>) -> Self {
        self.query = q;
        self
    }
    /// The expected first column of the first row, as text (default `1`).
    pub fn expect(mut self, e: Option<String>) -> Self {
        self.expect = e;
        self
    }
    /// Time limit of the connection and of the query (default 10 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    /// Validates; errors name the field (`<field>`, under `verifiers.<name>` in the config).
    pub fn build(self) -> Result<MysqlVerifier> {
        // Bare field names: the config layer puts `verifiers.<name>.` in front.
        let field = |f: &str| f.to_owned();
        if self.name.is_empty() {
            return Err(Error::config("verifiers", "a verifier needs a name"));
        }
        if self.username.as_deref().is_some_and(str::is_empty) {
            return Err(Error::config(field("username"), "must not be empty"));
        }
        let query = self.query.unwrap_or_else(|| "SELECT 1".to_owned());
        if query.trim().is_empty() {
            return Err(Error::config(field("query"), "must not be empty"));
        }
        if self.timeout.is_zero() {
            return Err(Error::config(field("timeout"), "must be more than zero"));
        }
        Ok(MysqlVerifier {
            name: self.name,
            spec: self.spec,
            username: self.username,
            query,
            expect: self.expect.unwrap_or_else(|| "1".to_owned()),
            timeout: self.timeout,
        })
    }
}

impl MysqlVerifier {
    fn what(&self) -> String {
        format!("verifier {}", self.name)
    }

    fn fail(&self, kind: ErrorKind, text: String) -> Error {
        Error::new(kind, format!("{}: {text}", self.what()))
    }

    /// Runs the query; its first column of its first row as text (`None`: no row).
    async fn answer(
        &self,
        conn: &mut mysql_async::Conn,
    ) -> std::result::Result<Option<String>, Failure> {
        match tokio::time::timeout(
            self.timeout,
            conn.query_first::<Row, _>(self.query.as_str()),
        )
        .await
        {
            Ok(Ok(row)) => Ok(row.map(|row| row.as_ref(0).map_or_else(String::new, as_text))),
            Ok(Err(err)) => Err(Failure::of(&err)),
            Err(_) => Err(Failure::Unreachable(format!(
                "the query got no answer within {}",
                humantime_secs(self.timeout)
            ))),
        }
    }
}

/// A value as the text the `mysql` client would print (`NULL` for null).
fn as_text(value: &Value) -> String {
    match value {
        Value::NULL => "NULL".to_owned(),
        Value::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Double(d) => d.to_string(),
        // Dates and times come as bytes over the text protocol; this is the binary form.
        other => other.as_sql(true),
    }
}

#[async_trait]
impl Verifier for MysqlVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> String {
        format!(
            "mysql login at {}, {:?} expecting {:?}",
            self.spec.describe(crate::DEFAULT_PORT),
            self.query,
            self.expect
        )
    }

    fn check(&self) -> Result<()> {
        crate::connect::check_files(&format!("verifiers.{}", self.name), &self.spec)
    }

    async fn verify(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        let what = self.what();
        let cred = DbCredential::resolve(
            &what,
            ctx.document.as_ref(),
            value,
            &self.spec,
            self.username.as_deref(),
            DEFAULT_PORT,
        )?;
        let server = cred.connection.to_string();
        let login = Login {
            connection: &cred.connection,
            user: &cred.username,
            password: value,
            dbname: cred.connection.dbname.as_deref(),
        };
        // Whatever the server says is scrubbed of the rotation's values (a query could echo
        // one in an error).
        let values: Vec<&str> = std::iter::once(value)
            .chain(&ctx.related_values)
            .filter_map(|v| std::str::from_utf8(v.expose()).ok())
            .collect();
        let mut conn = open(&login, self.timeout).await.map_err(|f| match f {
            Failure::Refused(text) => self.fail(
                ErrorKind::Verification,
                format!(
                    "{server} refused the login as '{}': {}",
                    cred.username,
                    scrub(&text, &values)
                ),
            ),
            Failure::Unreachable(_) => {
                self.fail(ErrorKind::Temporary, format!("{server}: {}", f.describe()))
            }
            other => self.fail(
                ErrorKind::Verification,
                format!("{server}: {}", scrub(&other.describe(), &values)),
            ),
        })?;
        let answer = self.answer(&mut conn).await;
        close(conn).await;
        let who = format!("as '{}' on {server}", cred.username);
        match answer {
            Ok(Some(text)) if text == self.expect => Ok(()),
            Ok(Some(text)) => Err(self.fail(
                ErrorKind::Verification,
                format!(
                    "the query {who} answered {:?}, expected {:?}",
                    scrub(&text, &values),
                    self.expect
                ),
            )),
            Ok(None) => Err(self.fail(
                ErrorKind::Verification,
                format!(
                    "the query {who} returned no row, expected {:?}",
                    self.expect
                ),
            )),
            Err(f @ Failure::Unreachable(_)) => Err(self.fail(
                ErrorKind::Temporary,
                format!("the query {who}: {}", f.describe()),
            )),
            Err(f) => Err(self.fail(
                ErrorKind::Verification,
                format!("the query {who} failed: {}", scrub(&f.describe(), &values)),
            )),
        }
    }
}
