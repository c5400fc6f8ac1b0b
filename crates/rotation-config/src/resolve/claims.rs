//! Two secret ids must never name one stored secret: their leases would not exclude each
//! other, and recovering one would discard the other's live pending value.

use std::collections::HashMap;

use super::stores::StoreConfig;

/// The secrets claimed so far, by store path and, for Azure, by Key Vault name.
#[derive(Debug, Default)]
pub struct PathClaims {
    /// (store, path as the store sees it) -> id.
    paths: HashMap<(String, String), String>,
    /// (store, lower-case Key Vault name) -> id.
    #[cfg_attr(not(feature = "azure"), allow(dead_code, reason = "Azure builds only"))]
    key_vault_names: HashMap<(String, String), String>,
}

impl PathClaims {
    /// Claim `path` of `store_name` for `id`; the reason for the secret's `path` field if the
    /// path is unusable or another id already names the same stored secret.
    pub fn claim(
        &mut self,
        store_name: &str,
        store: &StoreConfig,
        path: &str,
        id: &str,
    ) -> Result<(), String> {
        // Vault ignores leading and trailing '/', so `/app/key` is `app/key` there.
        let key = match store {
            #[cfg(feature = "vault")]
            StoreConfig::Vault(_) => path.trim_matches('/'),
            _ => path,
        };
        if let Some(other) = self
            .paths
            .insert((store_name.to_owned(), key.to_owned()), id.to_owned())
        {
            return Err(format!(
                "{path:?} in store {store_name:?} is already the path of secret {other:?}; two \
                 ids must not share one stored secret"
            ));
        }
        #[cfg(feature = "azure")]
        if let StoreConfig::Azure(_) = store {
            // Key Vault names are restricted: refuse a bad path before anything runs. The
            // error is about `path`, which the caller names.
            let name = rotation_azure::names::secret_name(&rotation_core::SecretPath::new(path))
                .map_err(|e| crate::error::FieldError::from_core("", "path", &e).message)?;
            // Names are case-insensitive and '/' maps to '-', so distinct paths may collide.
            let key = (store_name.to_owned(), name.to_ascii_lowercase());
            if let Some(other) = self.key_vault_names.insert(key, id.to_owned()) {
                return Err(format!(
                    "names the same Key Vault secret {name:?} as secret {other:?}"
                ));
            }
        }
        Ok(())
    }
}
