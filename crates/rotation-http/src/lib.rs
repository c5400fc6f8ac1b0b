//! [`HttpVerifier`]: a request to an HTTP(S) endpoint carrying the candidate (a bearer token,
//! a basic-auth password or a header of its own, see [`Placement`]) must get one of the
//! expected statuses.
//!
//! Redirects are never followed (a redirect could carry the credential to another host): a
//! 3xx is a status like any other. A status outside the expected ones is a verification error
//! that quotes the start of the body with every value of the rotation (and the credential as
//! sent) replaced by `[redacted]`: servers do echo what they were sent. A request that gets no
//! answer (refused, reset, TLS failure, timeout) is temporary. The URL in errors has no query,
//! fragment or user info.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Url};
use rotation_core::error::causes_after;
use rotation_core::{Error, ErrorKind, Result, SecretValue, Verifier, VerifyContext};

/// Default limit of one check.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a refused answer's body an error quotes, in characters.
const QUOTED_CHARS: usize = 200;
/// How much of the body is read to quote it (more than [`QUOTED_CHARS`] so that a value
/// cut at the end of what was read is far past the quoted part).
const BODY_READ: usize = 4096;

/// Where the request carries the candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// `Authorization: Bearer <candidate>`.
    Bearer,
    /// `Authorization: Basic base64(<username>:<candidate>)`.
    Basic {
        /// The user name; else the secret document's `"username"`.
        username: Option<String>,
    },
    /// `<name>: <candidate>` (e.g. `X-Api-Key`).
    Header(String),
}

/// Checks a credential against an HTTP endpoint (see the crate docs).
#[derive(Debug, Clone)]
pub struct HttpVerifier {
    name: String,
    what: String,
    url: Url,
    method: Method,
    placement: Placement,
    header: Option<HeaderName>,
    expect_status: Vec<u16>,
    ca: Option<PathBuf>,
    http: reqwest::Client,
}

/// Builds an [`HttpVerifier`].
#[derive(Debug)]
pub struct HttpVerifierBuilder {
    name: String,
    url: Option<Url>,
    method: Method,
    placement: Placement,
    expect_status: Vec<u16>,
    ca: Option<PathBuf>,
    timeout: Duration,
}

impl HttpVerifier {
    /// A builder for the verifier called `name`.
    pub fn builder(name: impl Into<String>) -> HttpVerifierBuilder {
        HttpVerifierBuilder {
            name: name.into(),
            url: None,
            method: Method::GET,
            placement: Placement::Bearer,
            expect_status: vec![200],
            ca: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl HttpVerifierBuilder {
    /// The endpoint (`http` or `https`).
    pub fn url(mut self, url: Url) -> Self {
        self.url = Some(url);
        self
    }
    /// The method; default `GET`.
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }
    /// Where the candidate goes; default [`Placement::Bearer`].
    pub fn credential(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }
    /// The statuses that mean "accepted"; default `[200]`.
    pub fn expect_status(mut self, statuses: Vec<u16>) -> Self {
        self.expect_status = statuses;
        self
    }
    /// A CA bundle (PEM) trusted besides the system's roots.
    pub fn ca(mut self, ca: Option<PathBuf>) -> Self {
        self.ca = ca;
        self
    }
    /// Limit of the whole request; default 10 s.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// The verifier; `InvalidConfig` errors name the field.
    pub fn build(self) -> Result<HttpVerifier> {
        let what = format!("verifier {}", self.name);
        let url = self
            .url
            .ok_or_else(|| Error::config("url", format!("{what}: no URL")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::config(
                "url",
                format!(
                    "{what}: the scheme must be http or https, not {}",
                    url.scheme()
                ),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::config(
                "url",
                format!("{what}: no user info in the URL (the credential is the candidate)"),
            ));
        }
        if self.expect_status.is_empty() {
            return Err(Error::config(
                "expect_status",
                format!("{what}: at least one status"),
            ));
        }
        if let Some(bad) = self
            .expect_status
            .iter()
            .find(|s| !(100..=599).contains(*s))
        {
            return Err(Error::config(
                "expect_status",
                format!("{what}: {bad} is not an HTTP status"),
            ));
        }
        if self.timeout.is_zero() {
            return Err(Error::config(
                "timeout",
                format!("{what}: must be more than 0"),
            ));
        }
        let header = match &self.placement {
            Placement::Header(name) => {
                let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    Error::config(
                        "credential",
                        format!("{what}: {name:?} is not an HTTP header name"),
                    )
                })?;
                Some(header)
            }
            Placement::Basic {
                username: Some(user),
            } if user.contains(':') => {
                return Err(Error::config(
                    "credential.username",
                    format!("{what}: a basic-auth user name cannot contain ':'"),
                ));
            }
            _ => None,
        };
        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.timeout);
        if let Some(ca) = &self.ca {
            let pem = std::fs::read(ca)
                .map_err(|e| Error::config("ca", format!("{what}: {}: {e}", ca.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    Error::config(
                        "ca",
                        format!("{what}: {}: not a PEM certificate", ca.display()),
                    )
                })?;
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http.build().map_err(|e| {
            Error::config("url", format!("{what}: cannot build the HTTP client: {e}"))
        })?;
        Ok(HttpVerifier {
            name: self.name,
            what,
            url,
            method: self.method,
            placement: self.placement,
            header,
            expect_status: self.expect_status,
            ca: self.ca,
            http,
        })
    }
}

impl HttpVerifier {
    /// The URL as errors show it: no query, fragment or user info.
    fn shown_url(&self) -> String {
        let mut url = self.url.clone();
        url.set_query(None);
        url.set_fragment(None);
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.to_string()
    }

    /// The request with the candidate in place; the texts it sends (to redact from answers).
    fn request(
        &self,
        ctx: &VerifyContext,
        value: &SecretValue,
    ) -> Result<(reqwest::RequestBuilder, Vec<String>)> {
        let request = self.http.request(self.method.clone(), self.url.clone());
        let invalid = |why: &str| {
            Error::new(
                ErrorKind::Verification,
                format!("{}: the candidate {why}", self.what),
            )
        };
        let candidate = value
            .expose_str()
            .map_err(|_| invalid("is not UTF-8 text"))?;
        Ok(match &self.placement {
            Placement::Bearer => (request.bearer_auth(candidate), Vec::new()),
            Placement::Basic { username } => {
                let user = match username {
                    Some(u) => u.clone(),
                    None => document_username(ctx).ok_or_else(|| {
                        Error::invalid_value(format!(
                            "{}: basic auth needs a user name: set credential.username or \
                             \"username\" in the secret",
                            self.what
                        ))
                    })?,
                };
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{candidate}"));
                (request.basic_auth(user, Some(candidate)), vec![encoded])
            }
            Placement::Header(_) => {
                let mut header = HeaderValue::from_str(candidate)
                    .map_err(|_| invalid("cannot be sent in an HTTP header"))?;
                header.set_sensitive(true);
                let name = self.header.clone().ok_or_else(|| {
                    Error::internal(format!("{}: the header name was not checked", self.what))
                })?;
                (request.header(name, header), Vec::new())
            }
        })
    }

    /// `text` without any value of the rotation, the candidate or what was sent.
    fn redact(
        &self,
        text: &str,
        ctx: &VerifyContext,
        value: &SecretValue,
        sent: &[String],
    ) -> String {
        let mut out = text.to_owned();
        let values = ctx.related_values.iter().chain(std::iter::once(value));
        let mut secrets: Vec<String> = Vec::new();
        for v in values.filter(|v| !v.is_empty()) {
            let raw = String::from_utf8_lossy(v.expose()).into_owned();
            // A JSON answer echoes the value escaped (quotes, backslashes, control characters).
            let json = serde_json::to_string(&raw).unwrap_or_default();
            let escaped = json.trim_matches('"');
            if !escaped.is_empty() && escaped != raw {
                secrets.push(escaped.to_owned());
            }
            secrets.push(raw);
        }
        secrets.extend(sent.iter().cloned());
        // Longest first: a value that contains another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for s in &secrets {
            out = out.replace(s.as_str(), "[redacted]");
        }
        out
    }

    async fn check_once(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        let (request, sent) = self.request(ctx, value)?;
        let mut response = request.send().await.map_err(|e| self.transport(&e))?;
        let status = response.status().as_u16();
        if self.expect_status.contains(&status) {
            return Ok(());
        }
        let mut body = Vec::new();
        while body.len() < BODY_READ {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        if body.len() >= BODY_READ {
            // A value cut by the limit would not be found whole: drop the tail where a cut
            // value could be, before redacting.
            let longest = ctx
                .related_values
                .iter()
                .chain(std::iter::once(value))
                .map(|v| v.expose().len() * 2)
                .chain(sent.iter().map(String::len))
                .max()
                .unwrap_or(0);
            body.truncate(BODY_READ.saturating_sub(longest));
        }
        let text = self.redact(&String::from_utf8_lossy(&body), ctx, value, &sent);
        let text = one_line(&text);
        let quoted = match text.char_indices().nth(QUOTED_CHARS) {
            Some((cut, _)) => format!("{:?}…", &text[..cut]),
            None => format!("{text:?}"),
        };
        Err(Error::new(
            ErrorKind::Verification,
            format!(
                "{}: {} {} answered {status}, expected {}; body: {quoted}",
                self.what,
                self.method,
                self.shown_url(),
                self.expect_status
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        ))
    }

    /// No answer: temporary, with reqwest's causes (never the URL's query).
    fn transport(&self, e: &reqwest::Error) -> Error {
        let mut top = e.to_string();
        if let Some(url) = e.url() {
            top = top
                .replace(&format!(" for url ({url})"), "")
                .replace(url.as_str(), "<url>");
        }
        let causes = causes_after(top, e);
        let hint =
            if causes.to_lowercase().contains("certificate") || causes.contains("UnknownIssuer") {
                if self.ca.is_some() {
                    "; the server's certificate is not signed by the configured ca"
                } else {
                    "; the server's certificate is not trusted: set ca to the CA that signed it"
                }
            } else {
                ""
            };
        Error::new(
            ErrorKind::Temporary,
            format!(
                "{}: {} {} got no answer: {causes}{hint}",
                self.what,
                self.method,
                self.shown_url()
            ),
        )
    }
}

/// The `"username"` of the document, if it has one.
fn document_username(ctx: &VerifyContext) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Keys {
        username: Option<String>,
    }
    let doc = ctx.document.as_ref()?;
    serde_json::from_slice::<Keys>(doc.expose()).ok()?.username
}

/// `text` on one line (runs of blanks become one space).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[async_trait]
impl Verifier for HttpVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> String {
        // No query string or user info: they may carry a token.
        let mut url = self.url.clone();
        url.set_query(None);
        let _ = url.set_password(None);
        let _ = url.set_username("");
        format!(
            "http {} {} expecting {:?}",
            self.method, url, self.expect_status
        )
    }

    fn check(&self) -> Result<()> {
        match &self.ca {
            Some(ca) if !ca.is_file() => Err(Error::config(
                "ca",
                format!("{}: {} is not a readable file", self.what, ca.display()),
            )),
            _ => Ok(()),
        }
    }

    async fn verify(&self, ctx: &VerifyContext, value: &SecretValue) -> Result<()> {
        self.check_once(ctx, value).await
    }
}
