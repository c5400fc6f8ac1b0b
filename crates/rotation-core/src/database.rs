//! Database credentials in the shape AWS Secrets Manager gives database secrets, and where a
//! database target or verifier connects.
//!
//! A database secret is a JSON object: `engine`, `host`, `port`, `username`, `password`,
//! `dbname`, plus optional TLS keys (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`: paths, never
//! key material). The rotation changes `password` only ([`crate::field`]); every other key is
//! kept, so secrets written by AWS's own rotation functions work unchanged.
//!
//! [`Connection`] is where a target or verifier connects: the fields its config sets win over
//! the secret's (an operator pins the server a credential is sent to; a secret cannot redirect
//! an admin login elsewhere), and the secret's fill the rest.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::secret::{SecretId, SecretValue};

/// How a connection uses TLS (PostgreSQL's `sslmode` words; MySQL and Redis map them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// No TLS.
    Disable,
    /// TLS if the server offers it, without checking its certificate.
    Prefer,
    /// TLS, certificate not checked.
    Require,
    /// TLS, certificate checked against the CA, host name not checked.
    VerifyCa,
    /// TLS, certificate and host name checked (the default).
    #[default]
    VerifyFull,
}

impl TlsMode {
    /// The mode named `word` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`).
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return None,
        })
    }
    /// Its word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// TLS settings of a connection (paths; the files are read when connecting).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// The mode.
    pub mode: TlsMode,
    /// CA bundle (PEM) that signs the server's certificate; the system roots when absent.
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM), for servers that require one.
    pub client_cert: Option<PathBuf>,
    /// Its key (PEM).
    pub client_key: Option<PathBuf>,
}

/// Connection settings from a target's or verifier's config; every field is optional and
/// wins over the secret's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionSpec {
    /// Server host name or address.
    pub host: Option<String>,
    /// Server port.
    pub port: Option<u16>,
    /// Database (PostgreSQL, MySQL) or logical database number (Redis).
    pub dbname: Option<String>,
    /// TLS mode; the secret's `sslmode`, else `verify-full`.
    pub tls_mode: Option<TlsMode>,
    /// CA bundle.
    pub ca: Option<PathBuf>,
    /// Client certificate.
    pub client_cert: Option<PathBuf>,
    /// Client key.
    pub client_key: Option<PathBuf>,
}

impl ConnectionSpec {
    /// The TLS settings the config alone gives (mode default `verify-full`): what static
    /// checks (`check()`) look at before any secret is read.
    pub fn tls(&self) -> Tls {
        Tls {
            mode: self.tls_mode.unwrap_or_default(),
            ca: self.ca.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
        }
    }

    /// Where it connects, for people (`rotate --dry-run`): `127.0.0.1:5432, tls verify-full`,
    /// with "the secret's" for what the secret gives.
    pub fn describe(&self, default_port: u16) -> String {
        let host = self.host.as_deref().unwrap_or("the secret's host");
        let port = self.port.map_or_else(
            || format!("the secret's port or {default_port}"),
            |p| p.to_string(),
        );
        let tls = self
            .tls_mode
            .map_or("the secret's sslmode or verify-full", TlsMode::as_str);
        format!("{host}:{port}, tls {tls}")
    }
}

/// How a target logs in, for people: `admin from secret pg-admin` or `single-user`.
pub fn login_describe(admin: Option<&dyn CredentialSource>) -> String {
    match admin {
        Some(a) => format!("admin from secret {}", a.secret()),
        None => "single-user".to_owned(),
    }
}

/// One database login: who, with what, where. `Debug` never shows the password.
#[derive(Clone)]
pub struct DbCredential {
    /// `engine` as the secret says (`postgres`, `mysql`, `mariadb`, `redis`), if it does.
    pub engine: Option<String>,
    /// User name.
    pub username: String,
    /// Password.
    pub password: SecretValue,
    /// Where to connect.
    pub connection: Connection,
}

impl fmt::Debug for DbCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbCredential")
            .field("engine", &self.engine)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("connection", &self.connection)
            .finish()
    }
}

/// Where to connect, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Database, if any.
    pub dbname: Option<String>,
    /// TLS.
    pub tls: Tls,
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // IPv6 literals in brackets, as in URLs.
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The non-secret keys of a database secret.
#[derive(Debug, Default, Deserialize)]
struct Document {
    engine: Option<String>,
    host: Option<String>,
    port: Option<Value>,
    username: Option<String>,
    dbname: Option<Value>,
    sslmode: Option<String>,
    sslrootcert: Option<PathBuf>,
    sslcert: Option<PathBuf>,
    sslkey: Option<PathBuf>,
}

impl DbCredential {
    /// The login described by the database secret `document` (JSON, AWS's key names) with
    /// `password` (the candidate or current password: the document's own `password` key is
    /// not read), completed by `spec` (which wins) and `default_port`. `username` from the
    /// config is used when the document has none. Errors name `what` (the target or
    /// verifier) and the missing key, never a value.
    pub fn resolve(
        what: &str,
        document: Option<&SecretValue>,
        password: &SecretValue,
        spec: &ConnectionSpec,
        username: Option<&str>,
        default_port: u16,
    ) -> Result<DbCredential> {
        let doc: Document = match document {
            None => Document::default(),
            Some(d) => serde_json::from_slice(d.expose()).map_err(|_| {
                Error::invalid_value(format!(
                    "{what}: the secret is not a JSON object with string keys engine, host, \
                     port, username, dbname (AWS's database secret format)"
                ))
            })?,
        };
        let username = username
            .map(str::to_owned)
            .or(doc.username)
            .ok_or_else(|| {
                Error::invalid_value(format!(
                    "{what}: no user name: the secret has no \"username\" key and the config \
                     sets no username"
                ))
            })?;
        let host = spec.host.clone().or(doc.host).ok_or_else(|| {
            Error::invalid_value(format!(
                "{what}: no host: set host in the config or \"host\" in the secret"
            ))
        })?;
        let port = match (spec.port, doc.port) {
            (Some(p), _) => p,
            (None, None) => default_port,
            (None, Some(v)) => port_of(&v).ok_or_else(|| {
                Error::invalid_value(format!(
                    "{what}: the secret's \"port\" is not a port number"
                ))
            })?,
        };
        let dbname = spec.dbname.clone().or(doc.dbname.and_then(|v| match v {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }));
        let doc_mode = match doc.sslmode.as_deref() {
            None => None,
            Some(word) => Some(TlsMode::parse(word).ok_or_else(|| {
                Error::invalid_value(format!(
                    "{what}: the secret's \"sslmode\" must be disable, prefer, require, \
                     verify-ca or verify-full"
                ))
            })?),
        };
        let tls = Tls {
            mode: spec.tls_mode.or(doc_mode).unwrap_or_default(),
            ca: spec.ca.clone().or(doc.sslrootcert),
            client_cert: spec.client_cert.clone().or(doc.sslcert),
            client_key: spec.client_key.clone().or(doc.sslkey),
        };
        if tls.mode == TlsMode::VerifyCa && tls.ca.is_none() {
            // Without a CA of its own, verify-ca would accept any publicly trusted
            // certificate of any name (libpq refuses the same).
            return Err(Error::invalid_value(format!(
                "{what}: verify-ca needs the CA that signs the server's certificate: set ca in \
                 the config or \"sslrootcert\" in the secret (or use verify-full)"
            )));
        }
        Ok(DbCredential {
            engine: doc.engine,
            username,
            password: password.clone(),
            connection: Connection {
                host,
                port,
                dbname,
                tls,
            },
        })
    }

    /// The admin login of a target from its admin secret `admin` (a database secret with
    /// `username` (or `username` given here) and `password`), completed by the target's `spec`
    /// (which wins) only: never by
    /// the user's secret, whose writer must not choose where, or how safely, the admin's
    /// password is sent. Without a host in either, refused naming both places.
    pub fn resolve_admin(
        what: &str,
        admin: &SecretValue,
        spec: &ConnectionSpec,
        username: Option<&str>,
        default_port: u16,
    ) -> Result<DbCredential> {
        let password = crate::field::extract(admin, "password").map_err(|_| {
            Error::invalid_value(format!(
                "{what}: the admin secret is not a JSON object with string keys \"username\" \
                 and \"password\" (AWS's database secret format)"
            ))
        })?;
        let has_host = spec.host.is_some()
            || serde_json::from_slice::<Document>(admin.expose()).is_ok_and(|d| d.host.is_some());
        if !has_host {
            return Err(Error::invalid_value(format!(
                "{what}: no host for the admin login: set host in the target's config or \"host\" \
                 in the admin secret (the admin's password is never sent where a user's secret \
                 points)"
            )));
        }
        Self::resolve(what, Some(admin), &password, spec, username, default_port)
    }
}

fn port_of(v: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Where a target reads its admin credential when it needs it (`admin_secret = "<id>"`): from
/// the store, at rotation time, never from the config file.
#[async_trait]
pub trait CredentialSource: Send + Sync + fmt::Debug {
    /// The secret it reads (for errors).
    fn secret(&self) -> &SecretId;
    /// The current document of that secret (a database secret: username, password, host...).
    async fn read(&self) -> Result<SecretValue>;
}

/// A [`CredentialSource`] over a configured secret's store and path.
#[derive(Debug, Clone)]
pub struct StoreCredential {
    /// The secret's id.
    pub id: SecretId,
    /// Its store.
    pub store: Arc<dyn crate::SecretStore>,
    /// Its path.
    pub path: crate::SecretPath,
}

#[async_trait]
impl CredentialSource for StoreCredential {
    fn secret(&self) -> &SecretId {
        &self.id
    }
    async fn read(&self) -> Result<SecretValue> {
        Ok(self
            .store
            .read_current(&self.path)
            .await
            .map_err(|e| e.context(format!("reading the admin secret {}", self.id)))?
            .value)
    }
}

/// A session of a user open at a target (for draining: who still uses an old credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The server's id of the session (backend pid, connection id, client id).
    pub id: String,
    /// The user it is logged in as.
    pub user: String,
    /// Where it comes from (address:port), when the server says.
    pub client: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: &str) -> SecretValue {
        SecretValue::new(json.as_bytes().to_vec())
    }

    #[test]
    fn the_config_wins_and_the_secret_fills_the_rest() {
        let d = doc(
            r#"{"engine":"postgres","host":"db.internal","port":"6432","username":"app","password":"old","dbname":"orders","sslmode":"require"}"#,
        );
        let pw = SecretValue::from("new");
        let c = DbCredential::resolve("t", Some(&d), &pw, &ConnectionSpec::default(), None, 5432)
            .expect("resolve");
        assert_eq!(c.username, "app");
        assert_eq!(
            c.password.expose(),
            b"new",
            "the given password, not the document's"
        );
        assert_eq!(c.connection.to_string(), "db.internal:6432");
        assert_eq!(c.connection.dbname.as_deref(), Some("orders"));
        assert_eq!(c.connection.tls.mode, TlsMode::Require);
        let spec = ConnectionSpec {
            host: Some("127.0.0.1".into()),
            port: Some(5433),
            tls_mode: Some(TlsMode::Disable),
            ..ConnectionSpec::default()
        };
        let c = DbCredential::resolve("t", Some(&d), &pw, &spec, None, 5432).expect("resolve");
        assert_eq!(c.connection.to_string(), "127.0.0.1:5433");
        assert_eq!(c.connection.tls.mode, TlsMode::Disable);
        assert!(!format!("{c:?}").contains("new"));
    }

    #[test]
    fn verify_ca_needs_a_ca_and_the_admin_needs_a_host_of_its_own() {
        let pw = SecretValue::from("p");
        let d = doc(r#"{"host":"h","username":"u","sslmode":"verify-ca"}"#);
        let err = DbCredential::resolve("t", Some(&d), &pw, &ConnectionSpec::default(), None, 1)
            .expect_err("no CA");
        assert!(err.to_string().contains("verify-ca needs"), "{err}");
        let admin = doc(r#"{"username":"admin","password":"a-pw"}"#);
        let err = DbCredential::resolve_admin("t", &admin, &ConnectionSpec::default(), None, 5432)
            .expect_err("no host");
        assert!(
            err.to_string().contains("no host for the admin login"),
            "{err}"
        );
        assert!(!err.to_string().contains("a-pw"), "{err}");
        let spec = ConnectionSpec {
            host: Some("db".into()),
            ..ConnectionSpec::default()
        };
        let c = DbCredential::resolve_admin("t", &admin, &spec, None, 5432).expect("admin");
        assert_eq!(
            (c.username.as_str(), c.password.expose()),
            ("admin", &b"a-pw"[..])
        );
        assert_eq!(
            c.connection.tls.mode,
            TlsMode::VerifyFull,
            "never the user's sslmode"
        );
    }

    #[test]
    fn missing_keys_are_named_and_values_never_shown() {
        let pw = SecretValue::from("s3cret-value");
        let err = DbCredential::resolve(
            "target pg",
            Some(&doc(r#"{"host":"h","password":"s3cret-value"}"#)),
            &pw,
            &ConnectionSpec::default(),
            None,
            5432,
        )
        .expect_err("no user");
        assert!(err.to_string().contains("\"username\""), "{err}");
        let err = DbCredential::resolve(
            "target pg",
            Some(&doc("s3cret-value")),
            &pw,
            &ConnectionSpec::default(),
            Some("u"),
            5432,
        )
        .expect_err("not json");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}
