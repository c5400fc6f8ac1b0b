//! Turning a `[stores.<name>] kind = "vault"` table into a validated [`VaultStoreBuilder`].

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rotation_core::SecretValue;
use rotation_vault::{Auth, VaultStoreBuilder};

use super::error::FieldError;
use super::spec::VaultSpec;

/// Build and validate (no request is made). Errors name `stores.<name>.<field>`.
pub fn builder(name: &str, spec: &VaultSpec, base: &Path) -> Result<VaultStoreBuilder, FieldError> {
    let table = format!("stores.{name}");
    let field = |f: &str| format!("{table}.{f}");
    let mut b = VaultStoreBuilder::from_env();
    if let Some(a) = &spec.address {
        b = b.address(a);
    }
    if let Some(m) = &spec.mount {
        b = b.mount(m);
    }
    if let Some(ns) = &spec.namespace {
        b = b.namespace(ns);
    }
    if let Some(ca) = &spec.ca_cert {
        b = b.ca_cert(base.join(ca));
    }
    if let Some(t) = &spec.timeout {
        let d = humantime::parse_duration(t)
            .map_err(|_| FieldError::new(field("timeout"), format!("{t:?} is not a duration")))?;
        b = b.timeout(d);
    }
    if let Some(p) = &spec.staging_prefix {
        b = b.staging_prefix(p);
    }
    if let Some(m) = spec.max_value_bytes {
        b = b.max_value_bytes(m);
    }
    let auth = match (&spec.token_file, &spec.approle) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                field("approle"),
                "set token_file or approle, not both",
            ));
        }
        (Some(file), None) => Some(Auth::TokenFile(base.join(file))),
        (None, Some(role)) => {
            let secret_id = match (&role.secret_id_file, &role.secret_id_env) {
                (Some(file), _) => read_private(&base.join(file))
                    .map_err(|e| FieldError::new(field("approle.secret_id_file"), e))?,
                (None, env) => {
                    let var = env_name(
                        env.as_deref().unwrap_or("VAULT_SECRET_ID"),
                        &field("approle.secret_id_env"),
                    )?;
                    std::env::var(var)
                        .map(SecretValue::from_string)
                        .map_err(|_| {
                            FieldError::new(
                                field("approle.secret_id_env"),
                                format!("environment variable {var} is not set"),
                            )
                        })?
                }
            };
            Some(Auth::AppRole {
                mount: role.mount.clone().unwrap_or_else(|| "approle".to_owned()),
                role_id: role.role_id.clone(),
                secret_id,
            })
        }
        (None, None) => match &spec.token_env {
            Some(var) => Some(Auth::Token(SecretValue::from_string({
                let var = env_name(var, &field("token_env"))?;
                std::env::var(var).map_err(|_| {
                    FieldError::new(
                        field("token_env"),
                        format!("environment variable {var} is not set"),
                    )
                })?
            }))),
            None => None, // VAULT_TOKEN through from_env, checked by build()
        },
    };
    if let Some(auth) = auth {
        b = b.auth(auth);
    }
    b.clone()
        .build()
        .map_err(|e| FieldError::from_core(&format!("{table}."), &table, &e))?;
    Ok(b)
}

/// An environment variable name; a value that is not one (a token pasted into the field) is
/// refused without being echoed.
fn env_name<'a>(name: &'a str, field: &str) -> Result<&'a str, FieldError> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(name)
    } else {
        Err(FieldError::new(
            field,
            "is not an environment variable name (the value is not shown)",
        ))
    }
}

pub(crate) fn read_private(path: &Path) -> Result<SecretValue, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} is readable by group or others; chmod 600 it",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(SecretValue::from_string(text.trim().to_owned()))
}
