//! The `[server]` section resolved into [`ServerConfig`]: durations parsed, tokens reduced to
//! their SHA-256 (token files read once, refused if group/world readable), webhooks checked.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::spec::ServerSpec;

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

/// A webhook as configured. `Debug` shows the host only: webhook URLs often carry a token
/// (Slack's do).
#[derive(Clone)]
pub struct WebhookConfig {
    /// Where to POST.
    pub url: String,
    /// `json` or `slack`.
    pub format: String,
    /// Event names (empty: all).
    pub events: Vec<String>,
    /// Per-delivery timeout.
    pub timeout: Duration,
    /// Attempts per delivery.
    pub max_attempts: u32,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = self
            .url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', '?']).next())
            .unwrap_or("?");
        f.debug_struct("WebhookConfig")
            .field("host", &host)
            .field("format", &self.format)
            .field("events", &self.events)
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
    /// Accepted tokens.
    pub tokens: Vec<ApiToken>,
    /// Webhooks.
    pub webhooks: Vec<WebhookConfig>,
}

/// Event names a webhook may subscribe to.
pub const EVENTS: [&str; 5] = [
    "succeeded",
    "failed",
    "rolled_back",
    "quarantined",
    "emergency",
];

fn duration(field: &str, value: Option<&str>, default: &str) -> Result<Duration, String> {
    let v = value.unwrap_or(default);
    let d = humantime::parse_duration(v)
        .map_err(|_| format!("server.{field}: {v:?} is not a duration"))?;
    if d.is_zero() {
        return Err(format!("server.{field}: must be greater than zero"));
    }
    Ok(d)
}

/// Resolve `spec` (None: all defaults, no tokens); `base` resolves relative files.
pub fn resolve(spec: Option<&ServerSpec>, base: &Path) -> Result<ServerConfig, String> {
    let empty = ServerSpec::default();
    let spec = spec.unwrap_or(&empty);
    let listen_text = spec.listen.as_deref().unwrap_or("127.0.0.1:8080");
    let listen = listen_text.parse().map_err(|_| {
        format!("server.listen: {listen_text:?} is not an address like 127.0.0.1:8080")
    })?;
    let concurrency = spec.concurrency.unwrap_or(4);
    if !(1..=256).contains(&concurrency) {
        return Err("server.concurrency: must be between 1 and 256".into());
    }
    let body_limit = spec.body_limit.unwrap_or(64 * 1024);
    if body_limit < 1024 {
        return Err("server.body_limit: must be at least 1024".into());
    }
    let tls = match (&spec.tls_cert, &spec.tls_key) {
        (Some(c), Some(k)) => {
            let key = base.join(k);
            crate::vault::read_private(&key).map_err(|e| format!("server.tls_key: {e}"))?;
            Some((base.join(c), key))
        }
        (None, None) => None,
        _ => return Err("server.tls_cert: tls_cert and tls_key go together".into()),
    };
    let mut tokens = Vec::new();
    for (i, t) in spec.tokens.iter().enumerate() {
        let field = |f: &str| format!("server.tokens[{i}].{f}");
        let role = match t.role.as_str() {
            "reader" => Role::Reader,
            "operator" => Role::Operator,
            other => {
                return Err(format!(
                    "{}: {other:?} is not a role (reader, operator)",
                    field("role")
                ));
            }
        };
        let sha256 = match (&t.sha256, &t.file) {
            (Some(hex_hash), None) => hex::decode(hex_hash.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| format!("{}: must be 64 hex characters", field("sha256")))?,
            (None, Some(file)) => {
                let token = crate::vault::read_private(&base.join(file))
                    .map_err(|e| format!("{}: {e}", field("file")))?;
                if token.len() < 16 {
                    return Err(format!(
                        "{}: the token is shorter than 16 bytes",
                        field("file")
                    ));
                }
                Sha256::digest(token.expose()).into()
            }
            _ => {
                return Err(format!(
                    "{}: set exactly one of sha256 and file",
                    field("sha256")
                ));
            }
        };
        if tokens.iter().any(|o: &ApiToken| o.sha256 == sha256) {
            return Err(format!(
                "{}: the same token is configured twice",
                field("sha256")
            ));
        }
        tokens.push(ApiToken {
            name: t.name.clone(),
            role,
            sha256,
        });
    }
    let mut webhooks = Vec::new();
    for (i, w) in spec.webhooks.iter().enumerate() {
        let field = |f: &str| format!("server.webhooks[{i}].{f}");
        if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
            return Err(format!(
                "{}: must be an http:// or https:// URL",
                field("url")
            ));
        }
        let format = w.format.clone().unwrap_or_else(|| "json".into());
        if format != "json" && format != "slack" {
            return Err(format!(
                "{}: {format:?} is not json or slack",
                field("format")
            ));
        }
        if let Some(bad) = w.events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
            return Err(format!(
                "{}: {bad:?} is not one of {}",
                field("events"),
                EVENTS.join(", ")
            ));
        }
        webhooks.push(WebhookConfig {
            url: w.url.clone(),
            format,
            events: w.events.clone(),
            timeout: duration(
                &format!("webhooks[{i}].timeout"),
                w.timeout.as_deref(),
                "10s",
            )?,
            max_attempts: w.max_attempts.unwrap_or(5).clamp(1, 20),
        });
    }
    Ok(ServerConfig {
        listen,
        tick: duration("tick", spec.tick.as_deref(), "5s")?,
        concurrency,
        request_timeout: duration("request_timeout", spec.request_timeout.as_deref(), "30s")?,
        body_limit,
        shutdown_timeout: duration("shutdown_timeout", spec.shutdown_timeout.as_deref(), "30s")?,
        tls,
        tokens,
        webhooks,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::spec::{TokenSpec, WebhookSpec};

    fn spec() -> ServerSpec {
        ServerSpec::default()
    }

    fn token(role: &str, sha256: Option<&str>, file: Option<&str>) -> TokenSpec {
        TokenSpec {
            name: "t".into(),
            role: role.into(),
            sha256: sha256.map(str::to_owned),
            file: file.map(PathBuf::from),
        }
    }

    fn err(s: ServerSpec, base: &Path) -> String {
        resolve(Some(&s), base).unwrap_err()
    }

    #[test]
    fn defaults_without_a_section() {
        let c = resolve(None, Path::new(".")).expect("defaults");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!((c.concurrency, c.body_limit), (4, 65536));
        assert!(c.tokens.is_empty() && c.tls.is_none());
    }

    #[test]
    fn bad_values_name_their_field() {
        let base = Path::new(".");
        let mut s = spec();
        s.tokens.push(token("admin", Some(&"0".repeat(64)), None));
        assert!(err(s, base).starts_with("server.tokens[0].role:"));
        let mut s = spec();
        s.tokens.push(token("reader", Some("abc"), None));
        assert!(err(s, base).starts_with("server.tokens[0].sha256: must be 64 hex"));
        let mut s = spec();
        s.tokens.push(token("reader", None, None));
        assert!(err(s, base).contains("exactly one of sha256 and file"));
        let mut s = spec();
        s.tick = Some("0s".into());
        assert!(err(s, base).starts_with("server.tick:"));
        let mut s = spec();
        s.listen = Some("everywhere".into());
        assert!(err(s, base).starts_with("server.listen:"));
        let mut s = spec();
        s.tls_cert = Some("c.pem".into());
        assert!(err(s, base).starts_with("server.tls_cert:"));
        let mut s = spec();
        s.webhooks.push(WebhookSpec {
            url: "ftp://x".into(),
            format: None,
            events: vec![],
            timeout: None,
            max_attempts: None,
        });
        assert!(err(s, base).starts_with("server.webhooks[0].url:"));
    }

    #[test]
    fn token_files_must_be_private_and_only_their_hash_is_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("tok");
        std::fs::write(&file, "a-long-enough-token-value\n").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let mut s = spec();
        s.tokens.push(token("operator", None, Some("tok")));
        assert!(err(s, dir.path()).contains("readable by group or others"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let mut s = spec();
        s.tokens.push(token("operator", None, Some("tok")));
        let c = resolve(Some(&s), dir.path()).expect("private file");
        let want: [u8; 32] = Sha256::digest(b"a-long-enough-token-value").into();
        assert_eq!(
            (c.tokens[0].sha256, c.tokens[0].role),
            (want, Role::Operator)
        );
        assert!(
            !format!("{:?}", c.tokens[0]).contains("sha256"),
            "Debug shows no hash"
        );
    }
}
