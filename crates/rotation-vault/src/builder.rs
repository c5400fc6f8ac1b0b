//! Configuration and authentication of a [`VaultStore`]: address, mount, namespace, TLS (CA
//! file or directory, client certificate, skip-verify), timeouts, and token / token file /
//! AppRole / JWT / Kubernetes auth. `from_env` reads the Vault CLI's variables (`BAO_*` before
//! `VAULT_*`, then `~/.vault-token`); explicit setters win over them; `build` is the only
//! fallible step and names the bad field.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rotation_core::{Error, Result, SecretValue};

use crate::client::Client;
use crate::store::VaultStore;

/// Default service account token of a Kubernetes pod.
pub const KUBERNETES_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

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
    /// JWT login (`auth/<mount>/login` with `role` and the JWT read from `jwt_file` at each
    /// login, so a rotated token file keeps working).
    Jwt {
        /// Auth mount (default `jwt`).
        mount: String,
        /// Role name.
        role: String,
        /// File holding the JWT.
        jwt_file: PathBuf,
    },
    /// Kubernetes login: the pod's service account token, read at each login.
    Kubernetes {
        /// Auth mount (default `kubernetes`).
        mount: String,
        /// Role name.
        role: String,
        /// Service account token file (default [`KUBERNETES_TOKEN_FILE`]).
        token_file: PathBuf,
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
            Auth::Jwt {
                mount,
                role,
                jwt_file,
            } => f
                .debug_struct("Jwt")
                .field("mount", mount)
                .field("role", role)
                .field("jwt_file", jwt_file)
                .finish(),
            Auth::Kubernetes {
                mount,
                role,
                token_file,
            } => f
                .debug_struct("Kubernetes")
                .field("mount", mount)
                .field("role", role)
                .field("token_file", token_file)
                .finish(),
        }
    }
}

/// Default largest value: Vault's own request limit is 32 MiB, but KV entries this large hurt
/// every replica; refuse clearly instead.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 512 * 1024;

/// Extra CAs to trust: a PEM file (`ca_cert`, `VAULT_CACERT`) or a directory of PEM files
/// (`ca_path`, `VAULT_CAPATH`).
#[derive(Debug, Clone)]
enum Ca {
    File(PathBuf),
    Dir(PathBuf),
}

/// Builds a [`VaultStore`].
#[derive(Debug, Clone)]
pub struct VaultStoreBuilder {
    address: Option<String>,
    mount: String,
    namespace: Option<String>,
    ca: Option<Ca>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    skip_verify: bool,
    /// A variable of the environment that could not be used (reported by `build`).
    bad_env: Option<(String, String)>,
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
            ca: None,
            client_cert: None,
            client_key: None,
            skip_verify: false,
            bad_env: None,
            timeout: Duration::from_secs(30),
            auth: None,
            staging_prefix: ".rotation-pending".to_owned(),
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
        }
    }
}

/// A boolean the way the Vault CLI reads one (Go's `strconv.ParseBool`).
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

impl VaultStoreBuilder {
    /// Empty builder (mount `secret`, timeout 30 s).
    pub fn new() -> Self {
        Self::default()
    }

    /// From the environment, like the Vault and OpenBao CLIs: for each of `ADDR`, `TOKEN`,
    /// `NAMESPACE`, `CACERT`, `CAPATH`, `CLIENT_CERT`, `CLIENT_KEY` and `SKIP_VERIFY`, `BAO_<X>`
    /// wins over `VAULT_<X>`; `CACERT` wins over `CAPATH`. Without a token variable,
    /// `$HOME/.vault-token` (written by `bao login` / `vault login`) is used if it exists.
    /// Setters called afterwards win over all of these.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`VaultStoreBuilder::from_env`] over any source of variables.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let var = |suffix: &str| {
            ["BAO_", "VAULT_"].iter().find_map(|prefix| {
                let name = format!("{prefix}{suffix}");
                get(&name).filter(|v| !v.is_empty()).map(|v| (name, v))
            })
        };
        let value = |suffix: &str| var(suffix).map(|(_, v)| v);
        let mut b = Self::new();
        b.address = value("ADDR");
        b.namespace = value("NAMESPACE");
        b.ca = value("CACERT")
            .map(|p| Ca::File(p.into()))
            .or_else(|| value("CAPATH").map(|p| Ca::Dir(p.into())));
        b.client_cert = value("CLIENT_CERT").map(PathBuf::from);
        b.client_key = value("CLIENT_KEY").map(PathBuf::from);
        if let Some((name, text)) = var("SKIP_VERIFY") {
            match parse_bool(&text) {
                Some(on) => b.skip_verify = on,
                None => b.bad_env = Some((name, "is not a boolean (true/false/1/0)".to_owned())),
            }
        }
        b.auth = match value("TOKEN") {
            Some(t) => Some(Auth::Token(SecretValue::from_string(t))),
            None => get("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| Path::new(&h).join(".vault-token"))
                .filter(|p| p.is_file())
                .map(Auth::TokenFile),
        };
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
    /// PEM file of CAs to trust in addition to the system roots (replaces any CA from the
    /// environment).
    pub fn ca_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = Some(Ca::File(path.into()));
        self
    }
    /// Directory of PEM files of CAs to trust in addition to the system roots (replaces any CA
    /// from the environment).
    pub fn ca_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = Some(Ca::Dir(path.into()));
        self
    }
    /// Client certificate and key (PEM files) for servers that require mutual TLS.
    pub fn client_identity(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some(cert.into());
        self.client_key = Some(key.into());
        self
    }
    /// Accept any server certificate. Dangerous: logged as a warning at every build.
    pub fn skip_verify(mut self, skip: bool) -> Self {
        self.skip_verify = skip;
        if self
            .bad_env
            .as_ref()
            .is_some_and(|(n, _)| n.ends_with("SKIP_VERIFY"))
        {
            self.bad_env = None;
        }
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
        if let Some((name, reason)) = &self.bad_env {
            return Err(Error::config(name, reason));
        }
        let address = self
            .address
            .filter(|a| a.starts_with("http://") || a.starts_with("https://"))
            .ok_or_else(|| {
                Error::config(
                    "address",
                    "must be an http:// or https:// URL (or set BAO_ADDR / VAULT_ADDR)",
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
            Error::config(
                "auth",
                "no credentials: set `token_env`, `token_file`, `approle`, `jwt` or \
                 `kubernetes`, or BAO_TOKEN / VAULT_TOKEN, or log in with `bao login` / \
                 `vault login` (which writes ~/.vault-token)",
            )
        })?;
        if let Auth::TokenFile(path) = &auth {
            check_private(path)?;
        }
        let mut http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)));
        for cert in trusted(self.ca.as_ref())? {
            http = http.add_root_certificate(cert);
        }
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => http = http.identity(identity(cert, key)?),
            (Some(_), None) => {
                return Err(Error::config(
                    "client_key",
                    "must be set with client_cert (or BAO_CLIENT_KEY / VAULT_CLIENT_KEY)",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::config(
                    "client_cert",
                    "must be set with client_key (or BAO_CLIENT_CERT / VAULT_CLIENT_CERT)",
                ));
            }
            (None, None) => {}
        }
        if self.skip_verify {
            tracing::warn!(
                address = %address,
                "vault: TLS certificate verification is off (tls_skip_verify, BAO_SKIP_VERIFY or \
                 VAULT_SKIP_VERIFY): anyone on the network path can impersonate the server and \
                 read the token and the secrets"
            );
            http = http.tls_danger_accept_invalid_certs(true);
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

/// The certificates of a CA file or of every PEM file in a CA directory.
fn trusted(ca: Option<&Ca>) -> Result<Vec<reqwest::Certificate>> {
    // `from_pem` accepts anything and fails at the first request; the bundle parser checks now.
    let parse = |pem: &[u8]| {
        reqwest::Certificate::from_pem_bundle(pem)
            .ok()
            .filter(|c| !c.is_empty())
    };
    match ca {
        None => Ok(Vec::new()),
        Some(Ca::File(path)) => {
            let pem = std::fs::read(path)
                .map_err(|e| Error::config("ca_cert", format!("{}: {e}", path.display())))?;
            parse(&pem).ok_or_else(|| {
                Error::config(
                    "ca_cert",
                    format!("{}: not a PEM certificate", path.display()),
                )
            })
        }
        Some(Ca::Dir(dir)) => {
            let failed =
                |e: std::io::Error| Error::config("ca_path", format!("{}: {e}", dir.display()));
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(failed)?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            // Like the Vault CLI, every file of the directory is read; files that hold no
            // certificate (a README, a CRL) are skipped.
            let certs: Vec<_> = files
                .iter()
                .filter_map(|p| std::fs::read(p).ok())
                .filter_map(|pem| parse(&pem))
                .flatten()
                .collect();
            if certs.is_empty() {
                return Err(Error::config(
                    "ca_path",
                    format!("{}: no PEM certificate in this directory", dir.display()),
                ));
            }
            Ok(certs)
        }
    }
}

/// The client identity from a certificate file and a key file (both PEM).
fn identity(cert: &Path, key: &Path) -> Result<reqwest::Identity> {
    let mut pem = std::fs::read(cert)
        .map_err(|e| Error::config("client_cert", format!("{}: {e}", cert.display())))?;
    pem.push(b'\n');
    let key_pem = std::fs::read(key)
        .map_err(|e| Error::config("client_key", format!("{}: {e}", key.display())))?;
    pem.extend_from_slice(&key_pem);
    let identity = reqwest::Identity::from_pem(&pem).map_err(|_| {
        Error::config(
            "client_cert",
            format!(
                "{} and {} are not a PEM certificate and private key",
                cert.display(),
                key.display()
            ),
        )
    });
    // The key bytes are not kept longer than needed.
    pem.fill(0);
    identity
}

/// Refuse token files readable by group or others, like ssh does for keys.
fn check_private(path: &Path) -> Result<()> {
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
