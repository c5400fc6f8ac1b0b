//! The admin login of a target: read from its admin secret at rotation time.
//!
//! Where it connects: the target's config first, then the admin secret's own `host`, `port`,
//! `dbname`, `sslmode`, `sslrootcert`, then the user's secret (the admin usually administers
//! the server the user's secret points at). The user's client certificate is never used for
//! the admin: it identifies the user.

use rotation_core::{
    ConnectionSpec, CredentialSource, DbCredential, Error, ErrorKind, Result, field,
};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::DEFAULT_PORT;

/// Which connection keys the admin secret sets (their values are read by
/// [`DbCredential::resolve`]; `IgnoredAny` keeps the password out of this parse).
#[derive(Deserialize, Default)]
struct Keys {
    host: Option<IgnoredAny>,
    port: Option<IgnoredAny>,
    dbname: Option<IgnoredAny>,
    sslmode: Option<IgnoredAny>,
    sslrootcert: Option<IgnoredAny>,
}

/// The admin's login, for a change to `user`'s role.
pub(crate) async fn login(
    what: &str,
    source: &dyn CredentialSource,
    spec: &ConnectionSpec,
    user: &DbCredential,
) -> Result<DbCredential> {
    let secret = source.secret().clone();
    let document = source.read().await.map_err(|e| e.context(what))?;
    let shape_error = || {
        Error::new(
            ErrorKind::InvalidValue,
            format!(
                "{what}: the admin secret {secret} is not a JSON object with string keys \
                 \"username\" and \"password\" (AWS's database secret format)"
            ),
        )
    };
    let keys: Keys = serde_json::from_slice(document.expose()).map_err(|_| shape_error())?;
    let password = field::extract(&document, "password").map_err(|_| shape_error())?;
    let from_user = &user.connection;
    let spec = ConnectionSpec {
        host: spec
            .host
            .clone()
            .or_else(|| keys.host.is_none().then(|| from_user.host.clone())),
        port: spec
            .port
            .or_else(|| keys.port.is_none().then_some(from_user.port)),
        dbname: spec.dbname.clone().or_else(|| {
            keys.dbname
                .is_none()
                .then(|| from_user.dbname.clone())
                .flatten()
        }),
        tls_mode: spec
            .tls_mode
            .or_else(|| keys.sslmode.is_none().then_some(from_user.tls.mode)),
        ca: spec.ca.clone().or_else(|| {
            keys.sslrootcert
                .is_none()
                .then(|| from_user.tls.ca.clone())
                .flatten()
        }),
        client_cert: spec.client_cert.clone(),
        client_key: spec.client_key.clone(),
    };
    let what = format!("{what} (admin secret {secret})");
    DbCredential::resolve(&what, Some(&document), &password, &spec, None, DEFAULT_PORT)
}
