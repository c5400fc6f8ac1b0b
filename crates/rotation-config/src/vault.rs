//! Turning a `[stores.<name>] kind = "vault"` table into a validated [`VaultStoreBuilder`].

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rotation_core::SecretValue;
use rotation_vault::{Auth, KUBERNETES_TOKEN_FILE, VaultStoreBuilder};

use super::error::FieldError;
use super::spec::{AppRoleSpec, VaultSpec};

/// Build and validate (no request is made). Errors name `stores.<name>.<field>`. Fields given
/// here win over the environment (`BAO_*`, `VAULT_*`, `~/.vault-token`).
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
    b = tls(b, spec, base, &field)?;
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
    if let Some(auth) = auth(spec, base, &field)? {
        b = b.auth(auth);
    }
    b.clone()
        .build()
        .map_err(|e| FieldError::from_core(&format!("{table}."), &table, &e))?;
    Ok(b)
}

/// CA file or directory, client identity and skip-verify from the table.
fn tls(
    mut b: VaultStoreBuilder,
    spec: &VaultSpec,
    base: &Path,
    field: &dyn Fn(&str) -> String,
) -> Result<VaultStoreBuilder, FieldError> {
    match (&spec.ca_cert, &spec.ca_path) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                field("ca_path"),
                "set ca_cert or ca_path, not both",
            ));
        }
        (Some(ca), None) => b = b.ca_cert(base.join(ca)),
        (None, Some(dir)) => b = b.ca_path(base.join(dir)),
        (None, None) => {}
    }
    match (&spec.client_cert, &spec.client_key) {
        (Some(cert), Some(key)) => b = b.client_identity(base.join(cert), base.join(key)),
        (Some(_), None) => {
            return Err(FieldError::new(
                field("client_key"),
                "must be set with client_cert",
            ));
        }
        (None, Some(_)) => {
            return Err(FieldError::new(
                field("client_cert"),
                "must be set with client_key",
            ));
        }
        (None, None) => {}
    }
    if let Some(skip) = spec.tls_skip_verify {
        b = b.skip_verify(skip);
    }
    Ok(b)
}

/// The one auth method of the table, if any (`None`: the environment's token or
/// `~/.vault-token`, checked by `build`).
fn auth(
    spec: &VaultSpec,
    base: &Path,
    field: &dyn Fn(&str) -> String,
) -> Result<Option<Auth>, FieldError> {
    let given: Vec<&str> = [
        ("token_env", spec.token_env.is_some()),
        ("token_file", spec.token_file.is_some()),
        ("approle", spec.approle.is_some()),
        ("jwt", spec.jwt.is_some()),
        ("kubernetes", spec.kubernetes.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if let [first, second, ..] = given[..] {
        return Err(FieldError::new(
            field(second),
            format!("set one auth method, not both {first} and {second}"),
        ));
    }
    if let Some(file) = &spec.token_file {
        return Ok(Some(Auth::TokenFile(base.join(file))));
    }
    if let Some(role) = &spec.approle {
        return approle(role, base, field).map(Some);
    }
    if let Some(jwt) = &spec.jwt {
        return Ok(Some(Auth::Jwt {
            mount: mount_of(jwt.mount.as_deref(), "jwt", &field("jwt.mount"))?,
            role: role_of(&jwt.role, &field("jwt.role"))?,
            jwt_file: base.join(&jwt.jwt_file),
        }));
    }
    if let Some(k8s) = &spec.kubernetes {
        return Ok(Some(Auth::Kubernetes {
            mount: mount_of(
                k8s.mount.as_deref(),
                "kubernetes",
                &field("kubernetes.mount"),
            )?,
            role: role_of(&k8s.role, &field("kubernetes.role"))?,
            token_file: k8s
                .token_file
                .as_ref()
                .map_or_else(|| KUBERNETES_TOKEN_FILE.into(), |f| base.join(f)),
        }));
    }
    match &spec.token_env {
        Some(var) => {
            let var = env_name(var, &field("token_env"))?;
            let token = std::env::var(var).map_err(|_| {
                FieldError::new(
                    field("token_env"),
                    format!("environment variable {var} is not set"),
                )
            })?;
            Ok(Some(Auth::Token(SecretValue::from_string(token))))
        }
        None => Ok(None),
    }
}

fn approle(
    role: &AppRoleSpec,
    base: &Path,
    field: &dyn Fn(&str) -> String,
) -> Result<Auth, FieldError> {
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
    Ok(Auth::AppRole {
        mount: mount_of(role.mount.as_deref(), "approle", &field("approle.mount"))?,
        role_id: role.role_id.clone(),
        secret_id,
    })
}

/// An auth mount path: `default` when not given; non-empty, without `..` or `?`.
fn mount_of(mount: Option<&str>, default: &str, field: &str) -> Result<String, FieldError> {
    let m = mount.unwrap_or(default).trim_matches('/');
    let ok = !m.is_empty()
        && m.split('/').all(|s| !s.is_empty() && s != "..")
        && !m.contains(['?', '#', ' ']);
    if ok {
        Ok(m.to_owned())
    } else {
        Err(FieldError::new(
            field,
            format!("{m:?} is not an auth mount path"),
        ))
    }
}

fn role_of(role: &str, field: &str) -> Result<String, FieldError> {
    if role.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    Ok(role.to_owned())
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
