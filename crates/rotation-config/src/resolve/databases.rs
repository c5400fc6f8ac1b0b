//! `kind = "postgres" | "mysql" | "redis" | "http"` verifiers and targets: their settings
//! checked and handed to the engine crates' builders, and the admin credential of a target
//! (`admin_secret`) read from its secret's store at rotation time.
//!
//! Each engine is a cargo feature (on by default); a build without it refuses the kind,
//! naming the feature.
#![cfg_attr(
    not(all(
        feature = "postgres",
        feature = "mysql",
        feature = "redis",
        feature = "http"
    )),
    allow(dead_code, unreachable_code, unused_variables, unused_macros)
)]

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use rotation_core::{
    ConnectionSpec, CredentialSource, SecretId, SecretPath, SecretStore, SecretValue, Target,
    TlsMode, Verifier,
};

use super::resolved::Access;
use super::stores::StoreConfig;
use crate::error::FieldError;
use crate::spec::{DatabaseSpec, HttpSpec, PluginSpec};

/// Where an `admin_secret` lives: its id, store and path.
#[derive(Debug, Clone)]
pub struct AdminRef {
    /// The secret's id.
    pub id: SecretId,
    /// Its store, opened read-only on first use.
    pub store: StoreConfig,
    /// Its path.
    pub path: SecretPath,
}

/// The admin credential of a target, read from its store when the target needs it (the
/// store is opened once, read-only).
#[derive(Debug)]
struct ConfigCredential {
    admin: AdminRef,
    opened: OnceLock<Arc<dyn SecretStore>>,
}

#[async_trait]
impl CredentialSource for ConfigCredential {
    fn secret(&self) -> &SecretId {
        &self.admin.id
    }
    async fn read(&self) -> rotation_core::Result<SecretValue> {
        let store = match self.opened.get() {
            Some(store) => store.clone(),
            None => {
                let store = self.admin.store.open(Access::ReadOnly)?;
                self.opened.get_or_init(|| store).clone()
            }
        };
        Ok(store
            .read_current(&self.admin.path)
            .await
            .map_err(|e| e.context(format!("reading the admin secret {}", self.admin.id)))?
            .value)
    }
}

/// The settings shared by every database kind, checked.
struct Common {
    connection: ConnectionSpec,
    username: Option<String>,
    timeout: Duration,
}

fn common(table: &str, spec: &DatabaseSpec, base: &Path) -> Result<Common, FieldError> {
    let tls_mode = match &spec.tls {
        None => None,
        Some(word) => Some(TlsMode::parse(word).ok_or_else(|| {
            FieldError::new(
                format!("{table}.tls"),
                format!("{word:?} is not one of disable, prefer, require, verify-ca, verify-full"),
            )
        })?),
    };
    if spec.client_cert.is_some() != spec.client_key.is_some() {
        return Err(FieldError::new(
            format!("{table}.client_key"),
            "client_cert and client_key go together",
        ));
    }
    Ok(Common {
        connection: ConnectionSpec {
            host: spec.host.clone(),
            port: spec.port,
            dbname: spec.dbname.clone(),
            tls_mode,
            ca: spec.ca.as_ref().map(|p| base.join(p)),
            client_cert: spec.client_cert.as_ref().map(|p| base.join(p)),
            client_key: spec.client_key.as_ref().map(|p| base.join(p)),
        },
        username: spec.username.clone(),
        timeout: duration(table, "timeout", spec.timeout.as_deref())?,
    })
}

fn duration(table: &str, key: &str, text: Option<&str>) -> Result<Duration, FieldError> {
    let Some(text) = text else {
        return Ok(Duration::from_secs(10));
    };
    humantime::parse_duration(text)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            FieldError::new(
                format!("{table}.{key}"),
                format!("{text:?} is not a non-zero duration"),
            )
        })
}

/// Refuse keys that mean nothing for this section and kind, naming the first.
fn only(table: &str, present: &[(&str, bool)]) -> Result<(), FieldError> {
    match present.iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(FieldError::new(
            format!("{table}.{key}"),
            "is not a setting of this kind here",
        )),
        None => Ok(()),
    }
}

fn core_error(table: &str) -> impl Fn(rotation_core::Error) -> FieldError + '_ {
    move |e| FieldError::from_core(&format!("{table}."), table, &e)
}

/// A database verifier of `$ty`'s kind from the checked settings `$c` and the table `$db`.
macro_rules! db_verifier {
    ($ty:path, $name:expr, $c:expr, $db:expr, $table:expr) => {
        Arc::new(
            <$ty>::builder($name)
                .connection($c.connection)
                .username($c.username)
                .query($db.query.clone())
                .expect($db.expect.clone())
                .timeout($c.timeout)
                .build()
                .map_err(core_error($table))?,
        )
    };
}

/// A database or HTTP verifier (`spec` is not a command).
pub fn verifier(
    name: &str,
    spec: &PluginSpec,
    base: &Path,
) -> Result<Arc<dyn Verifier>, FieldError> {
    let table = format!("verifiers.{name}");
    let table = table.as_str();
    let db = match spec {
        PluginSpec::Http(http) => return http_verifier(name, table, http, base),
        PluginSpec::Postgres(d) | PluginSpec::Mysql(d) | PluginSpec::Redis(d) => d,
        PluginSpec::Command(_) => unreachable!("commands are built by plugins"),
    };
    only(
        table,
        &[
            ("admin_secret", db.admin_secret.is_some()),
            ("user_hosts", db.user_hosts.is_some()),
            ("acl_save", db.acl_save.is_some()),
        ],
    )?;
    let c = common(table, db, base)?;
    let built: Arc<dyn Verifier> = match spec {
        #[cfg(feature = "postgres")]
        PluginSpec::Postgres(_) => {
            db_verifier!(rotation_postgres::PostgresVerifier, name, c, db, table)
        }
        #[cfg(feature = "mysql")]
        PluginSpec::Mysql(_) => db_verifier!(rotation_mysql::MysqlVerifier, name, c, db, table),
        #[cfg(feature = "redis")]
        PluginSpec::Redis(_) => db_verifier!(rotation_redis::RedisVerifier, name, c, db, table),
        #[allow(unreachable_patterns, reason = "the kinds of features left out")]
        other => {
            let _ = c;
            return Err(not_built_kind(table, other));
        }
    };
    Ok(built)
}

#[allow(dead_code, reason = "used when a feature is left out")]
fn not_built_kind(table: &str, spec: &PluginSpec) -> FieldError {
    FieldError::new(
        format!("{table}.kind"),
        format!(
            "this build has no {kind} support (cargo feature `{kind}`)",
            kind = spec.kind()
        ),
    )
}

/// A database target; `admin` finds the secret `admin_secret` names.
pub fn target(
    name: &str,
    spec: &PluginSpec,
    base: &Path,
    admin: &dyn Fn(&str) -> Option<AdminRef>,
) -> Result<Arc<dyn Target>, FieldError> {
    let table = format!("targets.{name}");
    let table = table.as_str();
    let db = match spec {
        PluginSpec::Http(_) => {
            return Err(FieldError::new(
                format!("{table}.kind"),
                "http is a verifier only (a target must change the credential)",
            ));
        }
        PluginSpec::Postgres(d) | PluginSpec::Mysql(d) | PluginSpec::Redis(d) => d,
        PluginSpec::Command(_) => unreachable!("commands are built by plugins"),
    };
    only(
        table,
        &[
            ("query", db.query.is_some()),
            ("expect", db.expect.is_some()),
            (
                "user_hosts",
                db.user_hosts.is_some() && !matches!(spec, PluginSpec::Mysql(_)),
            ),
            (
                "acl_save",
                db.acl_save.is_some() && !matches!(spec, PluginSpec::Redis(_)),
            ),
        ],
    )?;
    let c = common(table, db, base)?;
    let source: Option<Arc<dyn CredentialSource>> = match &db.admin_secret {
        None => None,
        Some(id) => {
            let found = admin(id).ok_or_else(|| {
                FieldError::new(
                    format!("{table}.admin_secret"),
                    format!("{id:?} is not the id of a configured secret"),
                )
            })?;
            Some(Arc::new(ConfigCredential {
                admin: found,
                opened: OnceLock::new(),
            }))
        }
    };
    let built: Arc<dyn Target> = match spec {
        #[cfg(feature = "postgres")]
        PluginSpec::Postgres(_) => Arc::new(
            rotation_postgres::PostgresTarget::builder(name)
                .connection(c.connection)
                .admin(source)
                .username(c.username)
                .timeout(c.timeout)
                .build()
                .map_err(core_error(table))?,
        ),
        #[cfg(feature = "mysql")]
        PluginSpec::Mysql(_) => Arc::new(
            rotation_mysql::MysqlTarget::builder(name)
                .connection(c.connection)
                .admin(source)
                .username(c.username)
                .user_hosts(
                    db.user_hosts
                        .clone()
                        .unwrap_or_else(|| vec!["%".to_owned()]),
                )
                .timeout(c.timeout)
                .build()
                .map_err(core_error(table))?,
        ),
        #[cfg(feature = "redis")]
        PluginSpec::Redis(_) => Arc::new(
            rotation_redis::RedisTarget::builder(name)
                .connection(c.connection)
                .admin(source)
                .username(c.username)
                .acl_save(db.acl_save.unwrap_or(false))
                .timeout(c.timeout)
                .build()
                .map_err(core_error(table))?,
        ),
        #[allow(unreachable_patterns, reason = "the kinds of features left out")]
        other => {
            let _ = (c, source);
            return Err(not_built_kind(table, other));
        }
    };
    Ok(built)
}

#[cfg(feature = "http")]
fn http_verifier(
    name: &str,
    table: &str,
    spec: &HttpSpec,
    base: &Path,
) -> Result<Arc<dyn Verifier>, FieldError> {
    use rotation_http::{HttpVerifier, Placement};
    let field = |key: &str| format!("{table}.{key}");
    let url = reqwest::Url::parse(&spec.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| FieldError::new(field("url"), "is not an absolute http(s) URL"))?;
    // The credential would cross the network in clear text.
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() == "http" && !loopback {
        return Err(FieldError::new(
            field("url"),
            "plain http sends the credential in clear text: use https (http only to loopback)",
        ));
    }
    let method = match &spec.method {
        None => reqwest::Method::GET,
        Some(m) => reqwest::Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| FieldError::new(field("method"), format!("{m:?} is not a method")))?,
    };
    let placement = match spec.credential.as_deref().unwrap_or("bearer") {
        "bearer" => Placement::Bearer,
        "basic" => Placement::Basic {
            username: spec.username.clone(),
        },
        "header" => Placement::Header(spec.header.clone().ok_or_else(|| {
            FieldError::new(field("header"), "is required with credential = \"header\"")
        })?),
        other => {
            return Err(FieldError::new(
                field("credential"),
                format!("{other:?} is not one of bearer, basic, header"),
            ));
        }
    };
    let mut builder = HttpVerifier::builder(name)
        .url(url)
        .method(method)
        .credential(placement)
        .ca(spec.ca.as_ref().map(|p| base.join(p)))
        .timeout(duration(table, "timeout", spec.timeout.as_deref())?);
    if let Some(statuses) = &spec.expect_status {
        builder = builder.expect_status(statuses.clone());
    }
    Ok(Arc::new(builder.build().map_err(core_error(table))?))
}

#[cfg(not(feature = "http"))]
fn http_verifier(
    _name: &str,
    table: &str,
    _spec: &HttpSpec,
    _base: &Path,
) -> Result<Arc<dyn Verifier>, FieldError> {
    Err(FieldError::new(
        format!("{table}.kind"),
        "this build has no http support (cargo feature `http`)",
    ))
}
