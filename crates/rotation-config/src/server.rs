//! The `[server]` section resolved into [`ServerConfig`]: durations parsed, tokens reduced to
//! their SHA-256 (token files read once, refused if group/world readable), webhooks checked.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::error::FieldError;
use super::spec::ServerSpec;
use crate::webhooks::WebhookConfig;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read schedules, results, history and statistics.
    Reader,
    /// Also rotate, change schedules and report emergencies.
    Operator,
}

/// One accepted token: only its hash is kept.
#[derive(Clone)]
pub struct ApiToken {
    /// Who holds it.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// SHA-256 of the token.
    pub sha256: [u8; 32],
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The resolved `[server]` section (defaults when the section is absent).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Scheduler tick.
    pub tick: Duration,
    /// Rotations at once.
    pub concurrency: usize,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Largest body.
    pub body_limit: usize,
    /// Shutdown bound.
    pub shutdown_timeout: Duration,
    /// TLS certificate and key files.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Plain HTTP allowed on a non-loopback address (`server.allow_insecure_listen`).
    pub allow_insecure_listen: bool,
    /// Accepted tokens.
    pub tokens: Vec<ApiToken>,
    /// Webhooks.
    pub webhooks: Vec<WebhookConfig>,
}

fn duration(field: &str, value: Option<&str>, default: &str) -> Result<Duration, FieldError> {
    let field = format!("server.{field}");
    let v = value.unwrap_or(default);
    let d = humantime::parse_duration(v)
        .map_err(|_| FieldError::new(&field, format!("{v:?} is not a duration")))?;
    if d.is_zero() {
        return Err(FieldError::new(field, "must be greater than zero"));
    }
    Ok(d)
}

/// Resolve `spec` (None: all defaults, no tokens); `base` resolves relative files.
pub fn resolve(spec: Option<&ServerSpec>, base: &Path) -> Result<ServerConfig, FieldError> {
    let empty = ServerSpec::default();
    let spec = spec.unwrap_or(&empty);
    let listen_text = spec.listen.as_deref().unwrap_or("127.0.0.1:8080");
    let listen = parse_listen(listen_text).map_err(|e| FieldError::new("server.listen", e))?;
    let concurrency = spec.concurrency.unwrap_or(4);
    if !(1..=256).contains(&concurrency) {
        return Err(FieldError::new(
            "server.concurrency",
            "must be between 1 and 256",
        ));
    }
    let body_limit = spec.body_limit.unwrap_or(64 * 1024);
    if body_limit < 1024 {
        return Err(FieldError::new(
            "server.body_limit",
            "must be at least 1024",
        ));
    }
    let tls = match (&spec.tls_cert, &spec.tls_key) {
        (Some(c), Some(k)) => {
            let key = base.join(k);
            crate::vault::read_private(&key).map_err(|e| FieldError::new("server.tls_key", e))?;
            Some((base.join(c), key))
        }
        (None, None) => None,
        _ => {
            return Err(FieldError::new(
                "server.tls_cert",
                "tls_cert and tls_key go together",
            ));
        }
    };
    let mut tokens = Vec::new();
    for (i, t) in spec.tokens.iter().enumerate() {
        let field = |f: &str| format!("server.tokens[{i}].{f}");
        let role = match t.role.as_str() {
            "reader" => Role::Reader,
            "operator" => Role::Operator,
            other => {
                return Err(FieldError::new(
                    field("role"),
                    format!("{other:?} is not a role (reader, operator)"),
                ));
            }
        };
        let sha256 = match (&t.sha256, &t.file) {
            (Some(hex_hash), None) => hex::decode(hex_hash.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| FieldError::new(field("sha256"), "must be 64 hex characters"))?,
            (None, Some(file)) => {
                let token = crate::vault::read_private(&base.join(file))
                    .map_err(|e| FieldError::new(field("file"), e))?;
                if token.len() < 16 {
                    return Err(FieldError::new(
                        field("file"),
                        "the token is shorter than 16 bytes",
                    ));
                }
                Sha256::digest(token.expose()).into()
            }
            _ => {
                return Err(FieldError::new(
                    field("sha256"),
                    "set exactly one of sha256 and file",
                ));
            }
        };
        if tokens.iter().any(|o: &ApiToken| o.sha256 == sha256) {
            return Err(FieldError::new(
                field("sha256"),
                "the same token is configured twice",
            ));
        }
        tokens.push(ApiToken {
            name: t.name.clone(),
            role,
            sha256,
        });
    }
    let webhooks = crate::webhooks::resolve(&spec.webhooks, "server.webhooks")?;
    Ok(ServerConfig {
        listen,
        tick: duration("tick", spec.tick.as_deref(), "5s")?,
        concurrency,
        request_timeout: duration("request_timeout", spec.request_timeout.as_deref(), "30s")?,
        body_limit,
        shutdown_timeout: duration("shutdown_timeout", spec.shutdown_timeout.as_deref(), "30s")?,
        tls,
        allow_insecure_listen: spec.allow_insecure_listen.unwrap_or(false),
        tokens,
        webhooks,
    })
}

/// Parse a listen address: `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT` (which listens on
/// 127.0.0.1).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Some(port) = text.strip_prefix("localhost:") {
        return port
            .parse::<u16>()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .map_err(|_| format!("{text:?} is not an address like 127.0.0.1:8080"));
    }
    text.parse()
        .map_err(|_| format!("{text:?} is not an address like 127.0.0.1:8080"))
}

/// Whether `addr` is reachable from this host only (127.0.0.0/8, ::1, or an IPv4-mapped
/// loopback address).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

impl ServerConfig {
    /// Refuse to serve plain HTTP on `addr` (the address actually bound: `server.listen` or a
    /// command-line override) unless it is loopback, TLS is configured, or
    /// `server.allow_insecure_listen` is set. Returns whether the listener is plain HTTP on a
    /// non-loopback address (allowed): the caller warns.
    pub fn check_listen(&self, addr: &SocketAddr) -> Result<bool, FieldError> {
        if self.tls.is_some() || is_loopback(addr) {
            return Ok(false);
        }
        if self.allow_insecure_listen {
            return Ok(true);
        }
        Err(FieldError::new(
            "server.listen",
            format!(
                "{addr} is not a loopback address and no TLS is configured (server.tls_cert, \
                 server.tls_key): bearer tokens would cross the network in clear text; configure \
                 TLS, listen on 127.0.0.1, or set server.allow_insecure_listen = true when a \
                 TLS-terminating proxy is in front"
            ),
        ))
    }
}

#[cfg(test)]
mod tests;
