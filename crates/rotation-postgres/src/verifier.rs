//! [`PostgresVerifier`]: logs in as the secret's user with the candidate on a fresh connection
//! and checks the answer to a query (`SELECT 1` = `1` by default).
//!
//! A refused login, a TLS failure, a failing query or another answer is
//! [`ErrorKind::Verification`]; a server that cannot be reached (or not in time) is
//! [`ErrorKind::Temporary`]. An answer is quoted in the error only when it holds none of the
//! rotation's values.

use std::time::Duration;

use async_trait::async_trait;
use rotation_core::{
    ConnectionSpec, DbCredential, Error, ErrorKind, Result, SecretValue, Verifier, VerifyContext,
};
use tokio_postgres::SimpleQueryMessage;

use crate::connect::{self, ConnectError};
use crate::{DEFAULT_PORT, DEFAULT_TIMEOUT, tls};

/// The default query.
pub const DEFAULT_QUERY: &str = "SELECT 1";
/// Its expected answer.
pub const DEFAULT_EXPECT: &str = "1";
/// Longest answer quoted in an error, in characters.
const ANSWER_CHARS: usize = 100;

/// The PostgreSQL verifier (see the module docs).
#[derive(Debug)]
pub struct PostgresVerifier {
    name: String,
    what: String,
    spec: ConnectionSpec,
    username: Option<String>,
    query: String,
    expect: String,
    timeout: Duration,
}

/// Builds a [`PostgresVerifier`].
#[derive(Debug)]
pub struct PostgresVerifierBuilder {
    name: String,
    spec: ConnectionSpec,
    username: Option<String>,
    query: Option<String>,
    expect: Option<String>,
    timeout: Duration,
}

impl PostgresVerifier {
    /// A builder for the verifier configured as `name`.
    pub fn builder(name: impl Into<String>) -> PostgresVerifierBuilder {
        PostgresVerifierBuilder {
            name: name.into(),
            spec: ConnectionSpec::default(),
            username: None,
            query: None,
            expect: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl PostgresVerifierBuilder {
    /// Where to connect (wins over the secret's keys).
    pub fn connection(mut self, spec: ConnectionSpec) -> Self {
        self.spec = spec;
        self
    }

    /// The user to log in as, instead of the secret's `username`.
    pub fn username(mut self, user: Option<String>) -> Self {
        self.username = user;
        self
    }

    /// The query (default `SELECT 1`); run with the simple protocol, so it may be any
    /// statement that returns rows.
    pub fn query(mut self, q: Option<String>) -> Self {
        self.query = q;
        self
    }

    /// The expected text of the first column of the first row (default `1`).
    pub fn expect(mut self, e: Option<String>) -> Self {
        self.expect = e;
        self
    }

    /// Bound on connecting and on the query (default 10 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The verifier, or an [`ErrorKind::InvalidConfig`] error naming the field.
    pub fn build(self) -> Result<PostgresVerifier> {
        crate::check_common(
            &self.name,
            &self.spec,
            self.username.as_deref(),
            self.timeout,
        )?;
        let query = self.query.unwrap_or_else(|| DEFAULT_QUERY.to_owned());
        if query.trim().is_empty() {
            return Err(Error::config("query", "must not be empty"));
        }
        Ok(PostgresVerifier {
            what: format!("verifier {}", self.name),
            name: self.name,
            spec: self.spec,
            username: self.username,
            query,
            expect: self.expect.unwrap_or_else(|| DEFAULT_EXPECT.to_owned()),
            timeout: self.timeout,
        })
    }
}

impl PostgresVerifier {
    fn fail(&self, message: String) -> Error {
        Error::new(ErrorKind::Verification, format!("{}: {message}", self.what))
    }
}

/// What the first row's first column says (`None`: SQL NULL; outer `None`: no row).
fn first_value(messages: &[SimpleQueryMessage]) -> Option<Option<String>> {
    messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row.get(0).map(str::to_owned)),
        _ => None,
    })
}

/// `got` quoted and cut short, or a placeholder when it holds one of `values`.
fn quote_answer(got: &str, values: &[&SecretValue]) -> String {
    let holds_a_value = values.iter().any(|v| {
        let raw = String::from_utf8_lossy(v.expose());
        !raw.is_empty() && got.contains(&*raw)
    });
    if holds_a_value {
        return "an answer that holds the password (not shown)".to_owned();
    }
    let cut: String = got.chars().take(ANSWER_CHARS).collect();
    let more = if cut.len() < got.len() { "…" } else { "" };
    format!("{cut:?}{more}")
}

#[async_trait]
impl Verifier for PostgresVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> String {
        format!(
            "postgres login at {}, {:?} expecting {:?}",
            self.spec.describe(crate::DEFAULT_PORT),
            self.query,
            self.expect
        )
    }

    fn check(&self) -> Result<()> {
        tls::check_files(&self.what, &self.spec.tls())
    }

    async fn verify(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        let login = DbCredential::resolve(
            &self.what,
            ctx.document.as_ref(),
            value,
            &self.spec,
            self.username.as_deref(),
            DEFAULT_PORT,
        )?;
        let server = &login.connection;
        let user = &login.username;
        let client = match connect::connect(&self.what, &login, self.timeout).await {
            Ok(client) => client,
            Err(ConnectError::Server(t)) if t.is_temporary() => {
                return Err(Error::new(
                    ErrorKind::Temporary,
                    format!(
                        "{}: {server} did not accept user \"{user}\" now: {}",
                        self.what, t.text
                    ),
                ));
            }
            Err(ConnectError::Server(t)) => {
                return Err(self.fail(format!(
                    "{server} refused the login of user \"{user}\": {}",
                    t.text
                )));
            }
            Err(ConnectError::Unreachable(text)) => {
                return Err(Error::new(
                    ErrorKind::Temporary,
                    format!("{}: cannot connect to {server}: {text}", self.what),
                ));
            }
            Err(ConnectError::Tls(text)) => {
                return Err(self.fail(format!(
                    "TLS with {server} failed (tls mode {}): {text}",
                    server.tls.mode.as_str()
                )));
            }
            Err(ConnectError::Config(e)) => return Err(e),
        };
        let mut values: Vec<&SecretValue> = vec![value];
        values.extend(ctx.related_values.iter());
        let messages = connect::within(
            &self.what,
            &server.to_string(),
            self.timeout,
            client.simple_query(&self.query),
        )
        .await?
        .map_err(|e| match connect::server_text(&e, &values) {
            Some(t) if t.is_temporary() => Error::new(
                ErrorKind::Temporary,
                format!("{}: the query on {server}: {}", self.what, t.text),
            ),
            Some(t) => self.fail(format!(
                "the query as user \"{user}\" on {server} failed: {}",
                t.text
            )),
            None => Error::new(
                ErrorKind::Temporary,
                format!(
                    "{}: the query on {server}: {}",
                    self.what,
                    connect::describe(&e, &values)
                ),
            ),
        })?;
        let shown = match first_value(&messages) {
            Some(Some(got)) if got == self.expect => return Ok(()),
            Some(Some(got)) => quote_answer(&got, &values),
            Some(None) => "NULL".to_owned(),
            None => "no row".to_owned(),
        };
        Err(self.fail(format!(
            "the query as user \"{user}\" on {server} answered {shown}, expected {:?}",
            self.expect
        )))
    }
}
