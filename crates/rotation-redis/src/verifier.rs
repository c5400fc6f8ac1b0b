//! [`RedisVerifier`]: the candidate logs in as the secret's user on a fresh connection and a
//! command (default `PING`) gives the expected answer (default `PONG`).
//!
//! The `AUTH` reply is checked here: a client that ignores a refused `AUTH` goes on as the
//! `default` user, and on a server whose `default` user has no password `PING` still answers
//! `PONG` (the `redis-cli --user u --pass wrong ping` trap).

use std::time::Duration;

use async_trait::async_trait;
use rotation_core::{
    ConnectionSpec, DbCredential, Error, ErrorKind, Result, SecretValue, Verifier, VerifyContext,
};

use crate::client::{Auth, Client};
use crate::resp::Reply;
use crate::{DEFAULT_PORT, DEFAULT_TIMEOUT, check_spec, within};

/// Longest server answer quoted in an error.
const QUOTED_CHARS: usize = 200;

/// Checks a Redis login (see the module docs).
#[derive(Debug, Clone)]
pub struct RedisVerifier {
    name: String,
    what: String,
    spec: ConnectionSpec,
    username: Option<String>,
    command: Vec<String>,
    expect: String,
    timeout: Duration,
}

/// Builds a [`RedisVerifier`].
#[derive(Debug)]
pub struct RedisVerifierBuilder {
    name: String,
    spec: ConnectionSpec,
    username: Option<String>,
    query: Option<String>,
    expect: Option<String>,
    timeout: Duration,
}

impl RedisVerifier {
    /// A builder for the verifier called `name`.
    pub fn builder(name: impl Into<String>) -> RedisVerifierBuilder {
        RedisVerifierBuilder {
            name: name.into(),
            spec: ConnectionSpec::default(),
            username: None,
            query: None,
            expect: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl RedisVerifierBuilder {
    /// Where to connect (wins over the secret's keys).
    pub fn connection(mut self, spec: ConnectionSpec) -> Self {
        self.spec = spec;
        self
    }
    /// The user, instead of the secret's `username`.
    pub fn username(mut self, user: Option<String>) -> Self {
        self.username = user;
        self
    }
    /// The command to run once logged in, split on whitespace; default `PING`.
    pub fn query(mut self, q: Option<String>) -> Self {
        self.query = q;
        self
    }
    /// Its expected answer (a status, string or integer as text); default `PONG`.
    pub fn expect(mut self, e: Option<String>) -> Self {
        self.expect = e;
        self
    }
    /// Limit of the whole check; default 10 s.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    /// The verifier; `InvalidConfig` errors name the field.
    pub fn build(self) -> Result<RedisVerifier> {
        let what = format!("verifier {}", self.name);
        check_spec(&what, &self.spec, self.timeout)?;
        let command: Vec<String> = self
            .query
            .as_deref()
            .unwrap_or("PING")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let Some(first) = command.first() else {
            return Err(Error::config("query", format!("{what}: an empty command")));
        };
        // AUTH, HELLO or SELECT as the check would change who or where the login is.
        if ["AUTH", "HELLO", "SELECT", "RESET"].contains(&first.to_ascii_uppercase().as_str()) {
            return Err(Error::config(
                "query",
                format!("{what}: {first} cannot be the check (the verifier logs in itself)"),
            ));
        }
        Ok(RedisVerifier {
            name: self.name,
            what,
            spec: self.spec,
            username: self.username,
            command,
            expect: self.expect.unwrap_or_else(|| "PONG".to_owned()),
            timeout: self.timeout,
        })
    }
}

impl RedisVerifier {
    async fn verify_inner(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        let login = DbCredential::resolve(
            &self.what,
            ctx.document.as_ref(),
            value,
            &self.spec,
            self.username.as_deref(),
            DEFAULT_PORT,
        )?;
        let mut secrets = ctx.related_values.clone();
        secrets.push(value.clone());
        let mut client =
            Client::connect(&self.what, &login.connection, self.timeout, secrets).await?;
        let refused = |text: String| {
            Error::new(
                ErrorKind::Verification,
                format!(
                    "{}: the login as {} on {} was refused: {text}",
                    self.what, login.username, login.connection
                ),
            )
        };
        match client.auth(&login.username, value).await {
            Ok(Auth::Accepted) => {}
            Ok(Auth::Refused(text)) => return Err(refused(text)),
            Err(e) if e.kind() == ErrorKind::Target => return Err(refused(e.message().to_owned())),
            Err(e) => return Err(e),
        }
        if let Some(db) = &login.connection.dbname {
            match client.call(&[b"SELECT", db.as_bytes()]).await? {
                Reply::Status(ok) if ok == "OK" => {}
                Reply::Error(text) => {
                    return Err(Error::new(
                        ErrorKind::Verification,
                        format!(
                            "{}: SELECT {db} as {} on {} failed: {}",
                            self.what,
                            login.username,
                            login.connection,
                            client.clean(&text)
                        ),
                    ));
                }
                other => {
                    return Err(Error::new(
                        ErrorKind::Verification,
                        client.unexpected("SELECT", &other).message().to_owned(),
                    ));
                }
            }
        }
        let args: Vec<&[u8]> = self.command.iter().map(|a| a.as_bytes()).collect();
        let reply = client.call(&args).await?;
        let answer = match &reply {
            Reply::Error(text) => format!("the error {}", quote(&client.clean(text))),
            other => match other.as_text() {
                Some(text) if text == self.expect => return Ok(()),
                Some(text) => quote(&client.clean(&text)),
                None => "a reply that is not a single value".to_owned(),
            },
        };
        Err(Error::new(
            ErrorKind::Verification,
            format!(
                "{}: {} as {} on {} answered {answer}, expected {:?}",
                self.what,
                self.command.join(" "),
                login.username,
                login.connection,
                self.expect
            ),
        ))
    }
}

/// `text` in quotes, cut to [`QUOTED_CHARS`].
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

#[async_trait]
impl Verifier for RedisVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> String {
        format!(
            "redis AUTH at {}, {:?} expecting {:?}",
            self.spec.describe(crate::DEFAULT_PORT),
            self.command.join(" "),
            self.expect
        )
    }

    fn check(&self) -> Result<()> {
        crate::check_files(&self.what, &self.spec)
    }

    async fn verify(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        // A refusal the target side calls a target error (a TLS certificate, a bad reply)
        // is, for a verifier, a failed check.
        within(&self.what, self.timeout, self.verify_inner(ctx, value))
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::Target => Error::new(ErrorKind::Verification, e.message().to_owned()),
                _ => e,
            })
    }
}
