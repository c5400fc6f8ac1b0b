//! The admin login of a target: read from its admin secret at rotation time.
//!
//! Where it connects: the target's config first, then the admin secret's own `host`, `port`,
//! `dbname`, `sslmode`, `sslrootcert`; never the user's secret (whoever can write it must not
//! choose where, or how safely, the admin's password is sent), except for the database name.

use rotation_core::{ConnectionSpec, CredentialSource, DbCredential, Result};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::DEFAULT_PORT;

/// The admin's login, for a change to `user`'s role: where the target's config says, else
/// where the admin secret says; never completed by the user's secret (its writer must not
/// choose where or how the admin's password is sent), except the database to connect to.
pub(crate) async fn login(
    what: &str,
    source: &dyn CredentialSource,
    spec: &ConnectionSpec,
    user: &DbCredential,
) -> Result<DbCredential> {
    let secret = source.secret().clone();
    let document = source.read().await.map_err(|e| e.context(what))?;
    let dbname_in_admin = serde_json::from_slice::<Keys>(document.expose())
        .map(|k| k.dbname.is_some())
        .unwrap_or(false);
    let spec = ConnectionSpec {
        dbname: spec.dbname.clone().or_else(|| {
            (!dbname_in_admin)
                .then(|| user.connection.dbname.clone())
                .flatten()
        }),
        ..spec.clone()
    };
    let what = format!("{what} (admin secret {secret})");
    DbCredential::resolve_admin(&what, &document, &spec, None, DEFAULT_PORT)
}

/// Whether the admin secret names a database (its value is read by [`DbCredential`]).
#[derive(Deserialize, Default)]
struct Keys {
    dbname: Option<IgnoredAny>,
}
