//! `[stores.<name>]`: each store checked and kept as a builder, opened only when needed (so
//! validation changes nothing). Vault, AWS and Azure tables are built by their own modules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rotation_core::SecretStore;
use rotation_file::FileStore;
use toml::Spanned;

use super::resolved::Access;
use crate::error::FieldError;
use crate::spec::StoreSpec;

/// A store as configured, opened only when needed (so validation changes nothing).
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// Vault / OpenBao KV v2 (validated builder).
    #[cfg(feature = "vault")]
    Vault(rotation_vault::VaultStoreBuilder),
    /// AWS Secrets Manager (validated builder).
    #[cfg(feature = "aws")]
    Aws(rotation_aws::AwsStoreBuilder),
    /// Azure Key Vault (validated builder).
    #[cfg(feature = "azure")]
    Azure(rotation_azure::AzureStoreBuilder),
    /// File store.
    File {
        /// Absolute or config-relative root.
        root: PathBuf,
        /// Versions kept.
        max_versions: usize,
    },
}

impl StoreConfig {
    /// Kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreConfig::File { .. } => "file",
            #[cfg(feature = "vault")]
            StoreConfig::Vault(_) => "vault",
            #[cfg(feature = "aws")]
            StoreConfig::Aws(_) => "aws",
            #[cfg(feature = "azure")]
            StoreConfig::Azure(_) => "azure",
        }
    }

    pub(super) fn open(&self, access: Access) -> rotation_core::Result<Arc<dyn SecretStore>> {
        match self {
            #[cfg(feature = "vault")]
            StoreConfig::Vault(builder) => Ok(Arc::new(builder.clone().build()?)),
            #[cfg(feature = "aws")]
            StoreConfig::Aws(builder) => Ok(Arc::new(builder.clone().build()?)),
            #[cfg(feature = "azure")]
            StoreConfig::Azure(builder) => Ok(Arc::new(builder.clone().build()?)),
            StoreConfig::File { root, max_versions } => {
                let mut builder = FileStore::builder(root).max_versions(*max_versions);
                if access == Access::ReadOnly {
                    builder = builder.read_only();
                }
                Ok(Arc::new(builder.build()?))
            }
        }
    }
}

/// Check every store; relative paths are resolved against `base`.
pub fn resolve(
    specs: &BTreeMap<String, Spanned<StoreSpec>>,
    base: &Path,
) -> Result<BTreeMap<String, StoreConfig>, FieldError> {
    let mut stores = BTreeMap::new();
    for (name, spec) in specs {
        let store = match spec.get_ref() {
            StoreSpec::File { root, max_versions } => file(name, root, *max_versions, base)?,
            #[cfg(feature = "aws")]
            StoreSpec::Aws(a) => StoreConfig::Aws(crate::aws::builder(name, a, base)?),
            #[cfg(feature = "azure")]
            StoreSpec::Azure(a) => StoreConfig::Azure(crate::azure::builder(name, a, base)?),
            #[cfg(feature = "vault")]
            StoreSpec::Vault(v) => StoreConfig::Vault(crate::vault::builder(name, v, base)?),
            #[allow(
                unreachable_patterns,
                reason = "reachable only without a store feature"
            )]
            other => return Err(not_built(name, other.kind())),
        };
        stores.insert(name.clone(), store);
    }
    Ok(stores)
}

/// A store kind this build leaves out (its cargo feature is off).
fn not_built(name: &str, kind: &str) -> FieldError {
    FieldError::new(
        format!("stores.{name}.kind"),
        format!(
            "this build has no {kind:?} store (built without the `{kind}` cargo feature); \
             rebuild with `--features {kind}` or use a release with every store"
        ),
    )
}

fn file(
    name: &str,
    root: &Path,
    max_versions: Option<usize>,
    base: &Path,
) -> Result<StoreConfig, FieldError> {
    let field = |f: &str| format!("stores.{name}.{f}");
    let max_versions = max_versions.unwrap_or(10);
    if max_versions < 2 {
        return Err(FieldError::new(field("max_versions"), "must be at least 2"));
    }
    if root.as_os_str().is_empty() {
        return Err(FieldError::new(field("root"), "must not be empty"));
    }
    Ok(StoreConfig::File {
        root: base.join(root),
        max_versions,
    })
}
