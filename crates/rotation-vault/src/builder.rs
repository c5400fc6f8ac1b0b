//! Configuration and authentication of a [`VaultStore`]: address, mount, namespace, TLS,
//! timeouts, and token / token file / AppRole auth. `from_env` reads the standard `VAULT_*`
//! variables; `build` is the only fallible step and names the bad field.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use rotation_core::{Error, Result, SecretValue};

use crate::client::Client;
use crate::store::VaultStore;

/// How the store authenticates. `Debug` never prints a credential.
#[derive(Clone)]
pub enum Auth {
    /// A token.
    Token(SecretValue),
    /// A file holding a token; refused if group or world readable.
    TokenFile(PathBuf),
    /// AppRole login (`auth/<mount>/login`).
    AppRole {
        /// Auth mount (default `approle`).
        mount: String,
        /// Role id.
        role_id: String,
        /// Secret id.
        secret_id: SecretValue,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Token(_) => f.write_str("Token([REDACTED])"),
            Auth::TokenFile(p) => f.debug_tuple("TokenFile").field(p).finish(),
            Auth::AppRole { mount, role_id, .. } => f
                .debug_struct("AppRole")
                .field("mount", mount)
                .field("role_id", role_id)
                .field("secret_id", &"[REDACTED]")
                .finish(),
        }
    }
}

/// Default largest value: Vault's own request limit is 32 MiB, but KV entries this large hurt
/// every replica; refuse clearly instead.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 512 * 1024;

/// Builds a [`VaultStore`].
#[derive(Debug, Clone)]
pub struct VaultStoreBuilder {
    address: Option<String>,
    mount: String,
    namespace: Option<String>,
    ca_cert: Option<PathBuf>,
    timeout: Duration,
    auth: Option<Auth>,
    staging_prefix: String,
    max_value_bytes: usize,
}

impl Default for VaultStoreBuilder {
    fn default() -> Self {
        Self {
            address: None,
            mount: "secret".to_owned(),
            namespace: None,
            ca_cert: None,
            timeout: Duration::from_secs(30),
            auth: None,
            staging_prefix: ".rotation-pending".to_owned(),
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
        }
    }
}

impl VaultStoreBuilder {
    /// Empty builder (mount `secret`, timeout 30 s).
    pub fn new() -> Self {
        Self::default()
    }

    /// From `VAULT_ADDR`, `VAULT_TOKEN`, `VAULT_NAMESPACE` and `VAULT_CACERT`.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut b = Self::new();
        b.address = var("VAULT_ADDR");
        b.namespace = var("VAULT_NAMESPACE");
        b.ca_cert = var("VAULT_CACERT").map(PathBuf::from);
        b.auth = var("VAULT_TOKEN").map(|t| Auth::Token(SecretValue::from_string(t)));
        b
    }

    /// Server address, e.g. `https://vault.example:8200`.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }
    /// KV v2 mount (default `secret`).
    pub fn mount(mut self, mount: impl Into<String>) -> Self {
        self.mount = mount.into();
        self
    }
    /// Enterprise / OpenBao namespace.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }
    /// PEM file of a CA to trust in addition to the system roots.
    pub fn ca_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_cert = Some(path.into());
        self
    }
    /// Per-request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Authentication.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }
    /// Where pending values are staged inside the mount (default `.rotation-pending`).
    pub fn staging_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.staging_prefix = prefix.into();
        self
    }
    /// Largest value accepted.
    pub fn max_value_bytes(mut self, max: usize) -> Self {
        self.max_value_bytes = max;
        self
    }

    /// Validate and build. No request is made yet.
    pub fn build(self) -> Result<VaultStore> {
        let address = self
            .address
            .filter(|a| a.starts_with("http://") || a.starts_with("https://"))
            .ok_or_else(|| {
                Error::config(
                    "address",
                    "must be an http:// or https:// URL (or set VAULT_ADDR)",
                )
            })?;
        let clean = |s: &str| s.trim_matches('/').to_owned();
        let mount = clean(&self.mount);
        if mount.is_empty() {
            return Err(Error::config("mount", "must not be empty"));
        }
        let staging_prefix = clean(&self.staging_prefix);
        if staging_prefix.is_empty() {
            return Err(Error::config("staging_prefix", "must not be empty"));
        }
        let auth = self.auth.ok_or_else(|| {
            Error::config("auth", "no token: set VAULT_TOKEN, token_file or approle")
        })?;
        if let Auth::TokenFile(path) = &auth {
            check_private(path)?;
        }
        let mut http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)));
        if let Some(path) = &self.ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| Error::config("ca_cert", format!("{}: {e}", path.display())))?;
            // `from_pem` accepts anything and fails at the first request; the bundle parser
            // checks now.
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    Error::config(
                        "ca_cert",
                        format!("{}: not a PEM certificate", path.display()),
                    )
                })?;
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        let http = http
            .build()
            .map_err(|e| Error::config("address", format!("cannot build the HTTP client: {e}")))?;
        let client = Client::new(
            http,
            address.trim_end_matches('/').to_owned(),
            self.namespace,
            auth,
        );
        Ok(VaultStore::new(
            client,
            mount,
            staging_prefix,
            self.max_value_bytes,
        ))
    }
}

/// Refuse token files readable by group or others, like ssh does for keys.
fn check_private(path: &PathBuf) -> Result<()> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::config("token_file", format!("{}: {e}", path.display())))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::config(
            "token_file",
            format!(
                "{} is readable by group or others; chmod 600 it",
                path.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_names_bad_fields_and_debug_redacts() {
        let e = VaultStoreBuilder::new().build().unwrap_err();
        assert!(e.to_string().contains("address"), "{e}");
        let e = VaultStoreBuilder::new()
            .address("http://127.0.0.1:1")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("auth"), "{e}");
        let b = VaultStoreBuilder::new()
            .address("http://127.0.0.1:1")
            .auth(Auth::Token(SecretValue::from("s.hunter2")));
        assert!(!format!("{b:?}").contains("hunter2"));
        let store = b.build().unwrap();
        assert!(!format!("{store:?}").contains("hunter2"));
    }

    #[test]
    fn world_readable_token_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("rotation-vault-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "s.token").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let b = || {
            VaultStoreBuilder::new()
                .address("http://127.0.0.1:1")
                .auth(Auth::TokenFile(file.clone()))
        };
        let e = b().build().unwrap_err();
        assert!(e.to_string().contains("token_file"), "{e}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        b().build().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
