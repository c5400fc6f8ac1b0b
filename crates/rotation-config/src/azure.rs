//! Turning a `[stores.<name>] kind = "azure"` table into a validated [`AzureStoreBuilder`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rotation_azure::{AzureStoreBuilder, StaticTokenCredential};

use super::spec::AzureSpec;

/// Build and validate (no request is made). Errors name `stores.<name>.<field>`.
pub fn builder(name: &str, spec: &AzureSpec, base: &Path) -> Result<AzureStoreBuilder, String> {
    let field = |f: &str| format!("stores.{name}.{f}");
    let duration = |f: &str, v: &str| {
        humantime::parse_duration(v).map_err(|_| format!("{}: {v:?} is not a duration", field(f)))
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
            return Err(format!(
                "{}: must be greater than zero",
                field("expires_after")
            ));
        }
        b = b.expires_after(d);
    }
    if let Some(v) = spec.verify_challenge_resource {
        b = b.verify_challenge_resource(v);
    }
    if let Some(var) = &spec.token_env {
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "{}: must be an environment variable name",
                field("token_env")
            ));
        }
        let token = std::env::var(var).map_err(|_| {
            format!(
                "{}: environment variable {var} is not set",
                field("token_env")
            )
        })?;
        // The caller fetched it; Key Vault says when it has expired.
        b = b.credential(Arc::new(StaticTokenCredential::new(
            token,
            Duration::from_secs(3600),
        )));
    }
    b.clone().build().map_err(|e| {
        let msg = e.message();
        format!("stores.{name}.{msg}")
    })?;
    Ok(b)
}
