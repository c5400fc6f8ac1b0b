//! A thin KV v2 HTTP client (reqwest): authentication (token, token file, AppRole, JWT and
//! Kubernetes logins), namespace header, and the mapping of Vault's answers to the engine's
//! error kinds. Every failure names the HTTP method and URL (address and API path, never the
//! query string or a token), what the request was for, the whole transport cause chain
//! (reqwest -> hyper -> the OS: "Connection refused (os error 111)", "invalid peer certificate:
//! UnknownIssuer") and a next step where one exists. Vault's own error strings are kept; request
//! and response bodies never are.

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use rotation_core::{Error, ErrorKind, Result, SecretValue};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::builder::Auth;

/// What a request is for, to explain failures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op {
    /// Human description ("read", "write", ...).
    pub what: &'static str,
    /// The policy capability it needs.
    pub capability: &'static str,
}

pub(crate) const READ: Op = Op {
    what: "read",
    capability: "read",
};
pub(crate) const WRITE: Op = Op {
    what: "write",
    capability: "create/update",
};
pub(crate) const PATCH: Op = Op {
    what: "update metadata of",
    capability: "patch",
};
pub(crate) const DELETE: Op = Op {
    what: "delete",
    capability: "delete",
};
pub(crate) const LIST: Op = Op {
    what: "list",
    capability: "list",
};
const LOGIN: Op = Op {
    what: "log in at",
    capability: "update",
};

/// One answer: status and JSON body (`Null` when empty).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

/// Vault's `errors` strings, joined.
fn errors(body: &Value) -> String {
    body.get("errors")
        .and_then(Value::as_array)
        .map(|e| {
            e.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// The next step after a refused or invalid token, for the auth in use.
fn login_hint(auth: &Auth) -> String {
    match auth {
        Auth::Token(_) | Auth::TokenFile(_) => "log in again (`bao login` or `vault login`), \
            set a valid token (BAO_TOKEN / VAULT_TOKEN, `token_env` or `token_file`), or \
            configure `approle`, `jwt` or `kubernetes` auth"
            .to_owned(),
        Auth::AppRole { mount, .. } => format!(
            "the token from the AppRole login at auth/{mount} expired or was revoked; the next \
                request logs in again"
        ),
        Auth::Jwt { mount, .. } => format!(
            "the token from the JWT login at auth/{mount} expired or was revoked; the next \
                request logs in again"
        ),
        Auth::Kubernetes { mount, .. } => format!(
            "the token from the Kubernetes login at auth/{mount} expired or was revoked; the \
                next request logs in again"
        ),
    }
}

/// `err` and every cause under it, joined by `: ` (a cause already quoted by the text before
/// it is skipped): "error sending request: client error (Connect): tcp connect error:
/// Connection refused (os error 111)". The URL is left out (the caller names it without the
/// query string); reqwest's chain never holds a header or a body.
pub(crate) fn causes(err: &reqwest::Error) -> String {
    rotation_core::error::causes_after(text_without_url(err), err)
}

/// reqwest's own text of `err` without its URL (which may carry the query string).
fn text_without_url(err: &reqwest::Error) -> String {
    let text = err.to_string();
    match err.url() {
        Some(url) => text
            .replace(&format!(" for url ({url})"), "")
            .replace(url.as_str(), "<url>"),
        None => text,
    }
}

/// A next step for transport failures that have an obvious one.
fn transport_hint(err: &reqwest::Error, text: &str, base: &str) -> String {
    let text = text.to_lowercase();
    if text.contains("certificate") || text.contains("unknownissuer") {
        "; the server's TLS certificate is not trusted: set `ca_cert` (a PEM file) or `ca_path` \
            (a directory of PEM files) on the store, or BAO_CACERT / VAULT_CACERT / VAULT_CAPATH, to \
            the CA that signed it"
            .to_owned()
    } else if text.contains("dns error") || text.contains("lookup address") {
        "; the host name does not resolve: check `address` (or BAO_ADDR / VAULT_ADDR)".to_owned()
    } else if text.contains("connection refused") {
        format!(
            "; nothing listens at {base}: check `address` (or BAO_ADDR / VAULT_ADDR) and that \
                the server runs"
        )
    } else if text.contains("corrupt message") || text.contains("invalidcontenttype") {
        format!("; {base} does not speak TLS there: use http:// or the server's TLS port")
    } else if err.is_timeout() {
        "; no answer within the timeout: check the network path, or raise `timeout`".to_owned()
    } else {
        String::new()
    }
}

#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    namespace: Option<String>,
    auth: Auth,
    /// The token in use; cleared when the server calls it invalid, so an expired login token
    /// or a rewritten token file (vault-agent) is picked up again by a long-running process.
    token: Mutex<Option<SecretValue>>,
}

impl Client {
    pub(crate) fn new(
        http: reqwest::Client,
        base: String,
        namespace: Option<String>,
        auth: Auth,
    ) -> Self {
        Self {
            http,
            base,
            namespace,
            auth,
            token: Mutex::new(None),
        }
    }

    /// The URL of API path `path`, without its query string (for messages).
    fn url(&self, path: &str) -> String {
        let path = path.split('?').next().unwrap_or_default();
        format!("{}/v1/{path}", self.base)
    }

    /// The token, logging in or reading the token file when none is cached.
    async fn token(&self) -> Result<SecretValue> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref() {
            return Ok(t.clone());
        }
        let fresh = match &self.auth {
            Auth::Token(t) => t.clone(),
            Auth::TokenFile(path) => std::fs::read_to_string(path)
                .map(|t| SecretValue::from_string(t.trim().to_owned()))
                .map_err(|e| Error::config("token_file", format!("{}: {e}", path.display())))?,
            Auth::AppRole {
                mount,
                role_id,
                secret_id,
            } => {
                let body = serde_json::json!({
                    "role_id": role_id,
                    "secret_id": secret_id.expose_str()?,
                });
                let hint = "check `approle.role_id` and the secret id (`approle.secret_id_env` / \
                    `approle.secret_id_file`): it may be expired or used up";
                self.login("AppRole", mount, &body, hint).await?
            }
            Auth::Jwt {
                mount,
                role,
                jwt_file,
            } => {
                // Read at each login: a projected or rotated token file stays current.
                let jwt = read_jwt(jwt_file, "jwt.jwt_file")?;
                let body = serde_json::json!({ "role": role, "jwt": jwt.expose_str()? });
                let hint = format!(
                    "check `jwt.role` ({role}) and that the JWT in {} is current (not expired) \
                        and matches the role's bound audiences and claims",
                    jwt_file.display()
                );
                self.login("JWT", mount, &body, &hint).await?
            }
            Auth::Kubernetes {
                mount,
                role,
                token_file,
            } => {
                let jwt = read_jwt(token_file, "kubernetes.token_file")?;
                let body = serde_json::json!({ "role": role, "jwt": jwt.expose_str()? });
                let hint = format!(
                    "check `kubernetes.role` ({role}), that the service account token in {} is \
                        current, and that the role binds this service account and namespace",
                    token_file.display()
                );
                self.login("Kubernetes", mount, &body, &hint).await?
            }
        };
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    /// `POST auth/<mount>/login` with `body`; the client token of the answer.
    async fn login(
        &self,
        method: &str,
        mount: &str,
        body: &Value,
        hint: &str,
    ) -> Result<SecretValue> {
        let path = format!("auth/{mount}/login");
        let res = self
            .http
            .post(self.url(&path))
            .headers(self.namespace_header()?)
            .json(body)
            .send()
            .await
            .map_err(|e| self.transport("POST", &path, LOGIN, &e))?;
        let status = res.status();
        // The body holds the new token: only `errors` and `auth.client_token` are read from it.
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let at = format!(
            "{method} login refused: POST {} answered {status}",
            self.url(&path)
        );
        if !status.is_success() {
            let msg = errors(&body);
            return Err(match status.as_u16() {
                412 | 429 | 500..=599 => Error::new(
                    ErrorKind::Temporary,
                    format!("{at} ({msg}){}", server_hint(status, &msg)),
                ),
                404 => Error::new(
                    ErrorKind::Unauthenticated,
                    format!("{at} ({msg}): is an auth method enabled at auth/{mount}? (`mount`)"),
                ),
                _ => Error::new(ErrorKind::Unauthenticated, format!("{at} ({msg}): {hint}")),
            });
        }
        body.pointer("/auth/client_token")
            .and_then(Value::as_str)
            .map(|t| SecretValue::from_string(t.to_owned()))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Unauthenticated,
                    format!("{method} login at auth/{mount} returned no token"),
                )
            })
    }

    fn namespace_header(&self) -> Result<HeaderMap> {
        let mut headers = HeaderMap::new();
        if let Some(ns) = &self.namespace {
            let v = HeaderValue::from_str(ns)
                .map_err(|_| Error::config("namespace", "is not a valid header value"))?;
            headers.insert("X-Vault-Namespace", v);
        }
        Ok(headers)
    }

    /// Send one request to `/v1/<path>`. Non-success statuses other than 404 become errors;
    /// 404 is returned to the caller, which knows what absence means.
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        op: Op,
    ) -> Result<Answer> {
        let mut headers = self.namespace_header()?;
        let mut token = HeaderValue::from_bytes(self.token().await?.expose())
            .map_err(|_| Error::config("auth", "the token is not a valid header value"))?;
        token.set_sensitive(true);
        headers.insert("X-Vault-Token", token);
        let verb = Method::from_bytes(method.as_bytes())
            .map_err(|_| Error::internal("bad HTTP method"))?;
        let patch = verb == Method::PATCH;
        let mut req = self
            .http
            .request(verb, format!("{}/v1/{path}", self.base))
            .headers(headers);
        if let Some(b) = body {
            req = req.body(b.to_string()).header(
                "Content-Type",
                if patch {
                    "application/merge-patch+json"
                } else {
                    "application/json"
                },
            );
        }
        let res = req
            .send()
            .await
            .map_err(|e| self.transport(method, path, op, &e))?;
        let status = res.status();
        let text = res
            .text()
            .await
            .map_err(|e| self.transport(method, path, op, &e))?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(Answer { status, body });
        }
        Err(self.classify(method, status, &body, path, op).await)
    }

    /// A request that got no (complete) answer. Temporary: the engine retries, and an undo
    /// that cannot reach the server is left to recovery. A request that could not even be
    /// built is a configuration error.
    fn transport(&self, method: &str, path: &str, op: Op, e: &reqwest::Error) -> Error {
        let kind = if e.is_builder() {
            ErrorKind::InvalidConfig
        } else {
            ErrorKind::Temporary
        };
        let chain = causes(e);
        let hint = transport_hint(e, &chain, &self.base);
        let api = path.split('?').next().unwrap_or_default();
        Error::new(
            kind,
            format!(
                "cannot {} {api}: {method} {}: {chain}{hint}",
                op.what,
                self.url(path)
            ),
        )
    }

    async fn classify(
        &self,
        method: &str,
        status: StatusCode,
        body: &Value,
        path: &str,
        op: Op,
    ) -> Error {
        let msg = errors(body);
        let api = path.split('?').next().unwrap_or_default();
        let on = format!(
            "cannot {} {api}: {method} {} answered {status}",
            op.what,
            self.url(path)
        );
        match status.as_u16() {
            400 if msg.contains("check-and-set parameter") => Error::conflict(format!(
                "{on}: the secret changed since the rotation read it ({msg})"
            )),
            403 => self.forbidden(&on, api, op).await,
            401 => Error::new(
                ErrorKind::Unauthenticated,
                format!("{on}: unauthenticated ({msg}); {}", login_hint(&self.auth)),
            ),
            412 | 429 | 500..=599 => Error::new(
                ErrorKind::Temporary,
                format!("{on} ({msg}){}", server_hint(status, &msg)),
            ),
            413 => {
                Error::invalid_value(format!("{on}: the value is larger than the server accepts"))
            }
            _ => Error::new(ErrorKind::Internal, format!("{on} ({msg})")),
        }
    }

    /// A 403: a valid token whose policy lacks the capability, or a token the server no longer
    /// accepts (expired, revoked), told apart by `lookup-self`.
    async fn forbidden(&self, on: &str, api: &str, op: Op) -> Error {
        let Some(valid) = self.token_is_valid().await else {
            return Error::new(
                ErrorKind::Temporary,
                format!("{on}: permission denied, and the token could not be checked"),
            );
        };
        if valid {
            return Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "{on}: permission denied: the token's policy must grant the `{}` capability \
                        on {api}",
                    op.capability
                ),
            );
        }
        // Forget it: the next call logs in again or re-reads the token file.
        *self.token.lock().await = None;
        Error::new(
            ErrorKind::Unauthenticated,
            format!(
                "{on}: permission denied: the token is invalid or expired; {}",
                login_hint(&self.auth)
            ),
        )
    }

    /// Whether the token itself is accepted (to tell "invalid token" from "missing policy");
    /// `None` when the check could not reach the server.
    async fn token_is_valid(&self) -> Option<bool> {
        let token = self.token().await.ok()?;
        let mut v = HeaderValue::from_bytes(token.expose()).ok()?;
        v.set_sensitive(true);
        let mut headers = self.namespace_header().ok()?;
        headers.insert("X-Vault-Token", v);
        let url = format!("{}/v1/auth/token/lookup-self", self.base);
        match self.http.get(url).headers(headers).send().await {
            Ok(r) if r.status().is_success() => Some(true),
            Ok(r) if r.status().is_server_error() => None,
            Ok(_) => Some(false),
            Err(_) => None,
        }
    }
}

/// The next step after a server error: sealed, standby or overloaded.
fn server_hint(status: StatusCode, msg: &str) -> &'static str {
    if msg.to_lowercase().contains("sealed") {
        ": the server is sealed; unseal it (`bao operator unseal` / `vault operator unseal`)"
    } else if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::BAD_GATEWAY {
        ": the server is unavailable (sealed, starting, or without an active node); check \
            `bao status`"
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        ": the server is rate limiting; the request is retried"
    } else {
        ""
    }
}

/// A JWT from `path`, read at each login (projected service account tokens are rotated).
fn read_jwt(path: &std::path::Path, field: &str) -> Result<SecretValue> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::config(
            field,
            format!("cannot read the login token {}: {e}", path.display()),
        )
    })?;
    let jwt = text.trim();
    if jwt.is_empty() {
        return Err(Error::config(field, format!("{} is empty", path.display())));
    }
    Ok(SecretValue::from_string(jwt.to_owned()))
}
