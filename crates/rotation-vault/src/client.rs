//! A thin KV v2 HTTP client (reqwest): authentication, namespace header, and the mapping of
//! Vault's answers to the engine's error kinds. Error messages name the operation, the path and
//! the capability involved; they carry Vault's own error strings, never a request body.

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

#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    namespace: Option<String>,
    auth: Auth,
    /// The token in use; cleared when the server calls it invalid, so an expired AppRole token
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

    /// The token, logging in with AppRole or reading the token file when none is cached.
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
            } => self.approle_login(mount, role_id, secret_id).await?,
        };
        *cached = Some(fresh.clone());
        Ok(fresh)
    }

    async fn approle_login(
        &self,
        mount: &str,
        role_id: &str,
        secret_id: &SecretValue,
    ) -> Result<SecretValue> {
        let body = serde_json::json!({ "role_id": role_id, "secret_id": secret_id.expose_str()? });
        let url = format!("{}/v1/auth/{mount}/login", self.base);
        let res = self
            .http
            .post(url)
            .headers(self.namespace_header()?)
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let kind = match status.as_u16() {
                412 | 429 | 500..=599 => ErrorKind::Temporary,
                _ => ErrorKind::Unauthenticated,
            };
            return Err(Error::new(
                kind,
                format!(
                    "vault: AppRole login at auth/{mount} failed ({status}): {}",
                    errors(&body)
                ),
            ));
        }
        body.pointer("/auth/client_token")
            .and_then(Value::as_str)
            .map(|t| SecretValue::from_string(t.to_owned()))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Unauthenticated,
                    "vault: AppRole login returned no token",
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
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| Error::internal("bad HTTP method"))?;
        let patch = method == Method::PATCH;
        let mut req = self
            .http
            .request(method, format!("{}/v1/{path}", self.base))
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
        let res = req.send().await.map_err(transport)?;
        let status = res.status();
        let text = res.text().await.map_err(transport)?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(Answer { status, body });
        }
        Err(self.classify(status, &body, path, op).await)
    }

    async fn classify(&self, status: StatusCode, body: &Value, path: &str, op: Op) -> Error {
        let msg = errors(body);
        let on = format!("vault: cannot {} {path}", op.what);
        match status.as_u16() {
            400 if msg.contains("check-and-set parameter") => Error::conflict(format!(
                "{on}: the secret changed since the rotation read it ({msg})"
            )),
            403 => {
                let valid = match self.token_is_valid().await {
                    Some(valid) => valid,
                    None => {
                        return Error::new(
                            ErrorKind::Temporary,
                            format!("{on}: permission denied, and the token could not be checked"),
                        );
                    }
                };
                if !valid {
                    // Forget it: the next call logs in again or re-reads the token file.
                    *self.token.lock().await = None;
                }
                if valid {
                    Error::new(
                        ErrorKind::PermissionDenied,
                        format!(
                            "{on}: permission denied (the token's policy needs the `{}` capability on {path})",
                            op.capability
                        ),
                    )
                } else {
                    Error::new(
                        ErrorKind::Unauthenticated,
                        format!("{on}: the token is invalid or expired"),
                    )
                }
            }
            401 => Error::new(
                ErrorKind::Unauthenticated,
                format!("{on}: unauthenticated ({msg})"),
            ),
            412 | 429 | 500..=599 => Error::new(
                ErrorKind::Temporary,
                format!("{on}: server answered {status} ({msg})"),
            ),
            413 => {
                Error::invalid_value(format!("{on}: the value is larger than the server accepts"))
            }
            _ => Error::new(
                ErrorKind::Internal,
                format!("{on}: server answered {status} ({msg})"),
            ),
        }
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

/// Transport failures (refused, reset, timeout) are temporary.
fn transport(e: reqwest::Error) -> Error {
    let kind = if e.is_builder() {
        ErrorKind::InvalidConfig
    } else {
        ErrorKind::Temporary
    };
    // reqwest's Display names the URL and the cause; it never contains the body.
    Error::new(kind, format!("vault: request failed: {}", e.without_url()))
}
