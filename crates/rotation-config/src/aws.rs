//! Turning a `[stores.<name>] kind = "aws"` table into a validated [`AwsStoreBuilder`].

use std::path::Path;

use rotation_aws::AwsStoreBuilder;

use super::error::FieldError;
use super::spec::AwsSpec;

/// Build and validate (no request is made; `ca_bundle` is read). Errors name
/// `stores.<name>.<field>`; a relative `ca_bundle` is relative to `base`.
pub fn builder(name: &str, spec: &AwsSpec, base: &Path) -> Result<AwsStoreBuilder, FieldError> {
    let table = format!("stores.{name}");
    let mut b = AwsStoreBuilder::new().name(name);
    if let Some(r) = &spec.region {
        b = b.region(r);
    }
    if let Some(u) = &spec.endpoint_url {
        b = b.endpoint_url(u);
    }
    if let Some(ca) = &spec.ca_bundle {
        b = b.ca_bundle(base.join(ca));
    }
    if let Some(a) = spec.max_attempts {
        b = b.max_attempts(a);
    }
    if let Some(t) = &spec.timeout {
        let d = humantime::parse_duration(t).map_err(|_| {
            FieldError::new(
                format!("{table}.timeout"),
                format!("{t:?} is not a duration"),
            )
        })?;
        b = b.timeout(d);
    }
    b.clone()
        .build()
        .map_err(|e| FieldError::from_core(&format!("{table}."), &table, &e))?;
    Ok(b)
}
