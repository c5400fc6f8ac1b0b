//! Turning a `[stores.<name>] kind = "azure"` table into a validated [`AzureStoreBuilder`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rotation_azure::{AzureStoreBuilder, StaticTokenCredential};

use super::error::FieldError;
use super::spec::AzureSpec;

/// Build and validate (no request is made). Errors name `stores.<name>.<field>`.
pub fn builder(name: &str, spec: &AzureSpec, base: &Path) -> Result<AzureStoreBuilder, FieldError> {
    let table = format!("stores.{name}");
    let field = |f: &str| format!("{table}.{f}");
    let duration = |f: &str, v: &str| {
        humantime::parse_duration(v)
            .map_err(|_| FieldError::new(field(f), format!("{v:?} is not a duration")))
    };
    let mut b = AzureStoreBuilder::from_env();
    if let Some(u) = &spec.vault_url {
        b = b.vault_url(u);
    }
    if let Some(ca) = &spec.ca_cert {
        b = b.ca_cert_file(base.join(ca));
    }
    if let Some(t) = &spec.timeout {
        b = b.timeout(duration("timeout", t)?);
    }
    if let Some(r) = spec.max_retries {
        b = b.max_retries(r);
    }
    if let Some(e) = &spec.expires_after {
        let d = duration("expires_after", e)?;
        if d.is_zero() {
            return Err(FieldError::new(
                field("expires_after"),
                "must be greater than zero",
            ));
        }
        b = b.expires_after(d);
    }
    if let Some(v) = spec.verify_challenge_resource {
        b = b.verify_challenge_resource(v);
    }
    if let Some(var) = &spec.token_env {
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(FieldError::new(
                field("token_env"),
                "must be an environment variable name",
            ));
        }
        let token = std::env::var(var).map_err(|_| {
            FieldError::new(
                field("token_env"),
                format!("environment variable {var} is not set"),
            )
        })?;
        // The caller fetched it; Key Vault says when it has expired.
        b = b.credential(Arc::new(StaticTokenCredential::new(
            token,
            Duration::from_secs(3600),
        )));
    }
    b.clone()
        .build()
        .map_err(|e| FieldError::from_core(&format!("{table}."), &table, &e))?;
    Ok(b)
}
