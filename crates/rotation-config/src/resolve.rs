//! Cross-reference validation and resolution of the parsed config into engine bindings.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rotation_command::CommandRunner;
use rotation_core::{
    GeneratorSpec, RotationPolicy, SecretBinding, SecretGenerator, SecretId, SecretPath,
    SecretStore, Target, Timing, TimingSpec, Verifier,
};
use rotation_file::FileStore;
use toml::Spanned;

use super::locate::Located;
use super::spec::{ConfigFile, PluginSpec, PolicySpec, SecretSpec, StoreSpec};

/// A store as configured, opened only when needed (so validation changes nothing).
#[derive(Debug, Clone)]
pub enum StoreConfig {
    /// Vault / OpenBao KV v2 (validated builder).
    Vault(rotation_vault::VaultStoreBuilder),
    /// AWS Secrets Manager (validated builder).
    Aws(rotation_aws::AwsStoreBuilder),
    /// Azure Key Vault (validated builder).
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
            StoreConfig::Vault(_) => "vault",
            StoreConfig::Aws(_) => "aws",
            StoreConfig::Azure(_) => "azure",
        }
    }

    fn open(&self, access: Access) -> rotation_core::Result<Arc<dyn SecretStore>> {
        match self {
            StoreConfig::Vault(builder) => Ok(Arc::new(builder.clone().build()?)),
            StoreConfig::Aws(builder) => Ok(Arc::new(builder.clone().build()?)),
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

/// How a command uses a store: views open it read-only so they change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Rotations, rollbacks, init.
    ReadWrite,
    /// Status, history, verify, dry runs.
    ReadOnly,
}

/// One configured secret, before its store is opened.
#[derive(Debug, Clone)]
pub struct SecretEntry {
    /// Id.
    pub id: SecretId,
    /// Store name.
    pub store: String,
    /// Path.
    pub path: SecretPath,
    /// Field.
    pub field: Option<String>,
    /// Policy.
    pub policy: Arc<RotationPolicy>,
    /// When it rotates (from the policy).
    pub timing: Arc<Timing>,
    /// Generator name and generator.
    pub generator: (String, Arc<dyn SecretGenerator>),
    /// Verifiers (policy's, then the secret's own).
    pub verifiers: Vec<Arc<CommandRunner>>,
    /// Target.
    pub target: Option<Arc<CommandRunner>>,
    /// Create on first rotation.
    pub create_if_missing: bool,
}

/// A validated config.
#[derive(Debug)]
pub struct Resolved {
    /// Audit log path.
    pub audit_path: PathBuf,
    /// State database path.
    pub state_path: PathBuf,
    /// Lease time-to-live.
    pub lease_ttl: Duration,
    /// Stores by name.
    pub stores: BTreeMap<String, StoreConfig>,
    /// Secrets in file order.
    pub secrets: Vec<SecretEntry>,
    /// The `[server]` section (defaults when absent).
    pub server: crate::ServerConfig,
}

impl Resolved {
    /// The entry for `id`.
    pub fn secret(&self, id: &str) -> Option<&SecretEntry> {
        self.secrets.iter().find(|s| s.id.as_str() == id)
    }

    /// Open every store that a secret uses and bind the secrets to them.
    pub fn bind(&self) -> rotation_core::Result<HashMap<SecretId, SecretBinding>> {
        let mut opened: HashMap<&str, Arc<dyn SecretStore>> = HashMap::new();
        let mut out = HashMap::new();
        for s in &self.secrets {
            let store = match opened.get(s.store.as_str()) {
                Some(store) => store.clone(),
                None => {
                    let store = self.open_store(&s.store, Access::ReadWrite)?;
                    opened.insert(&s.store, store.clone());
                    store
                }
            };
            out.insert(s.id.clone(), s.binding(store));
        }
        Ok(out)
    }

    /// Open the store of one entry and bind it.
    pub fn bind_one(
        &self,
        entry: &SecretEntry,
        access: Access,
    ) -> rotation_core::Result<SecretBinding> {
        Ok(entry.binding(self.open_store(&entry.store, access)?))
    }

    fn open_store(
        &self,
        name: &str,
        access: Access,
    ) -> rotation_core::Result<Arc<dyn SecretStore>> {
        self.stores[name]
            .open(access)
            .map_err(|e| e.context(format!("store {name}")))
    }
}

impl SecretEntry {
    fn binding(&self, store: Arc<dyn SecretStore>) -> SecretBinding {
        SecretBinding {
            id: self.id.clone(),
            store,
            path: self.path.clone(),
            field: self.field.clone(),
            policy: self.policy.clone(),
            generator: self.generator.1.clone(),
            verifiers: self
                .verifiers
                .iter()
                .map(|v| v.clone() as Arc<dyn Verifier>)
                .collect(),
            target: self.target.clone().map(|t| t as Arc<dyn Target>),
            create_if_missing: self.create_if_missing,
            timing: Some(self.timing.clone()),
        }
    }
}

fn at<T>(spanned: &Spanned<T>, key: &str, err: impl std::fmt::Display) -> Located {
    Located::at(spanned.span(), key, err.to_string())
}

/// Last path component of a dotted field (`policies.p.max_retries` -> `max_retries`).
fn last_key(message: &str) -> String {
    message
        .split(':')
        .next()
        .unwrap_or_default()
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn build_policy(name: &str, spec: &PolicySpec) -> rotation_core::Result<(RotationPolicy, Timing)> {
    let timing = TimingSpec {
        interval: spec.interval.clone(),
        cron: spec.cron.clone(),
        timezone: spec.timezone.clone(),
        window: spec.window.clone(),
        jitter: spec.jitter.clone(),
        retry_backoff: spec.retry_backoff.clone(),
    }
    .build(name)?;
    let mut b = RotationPolicy::builder(name)
        .strategy(spec.strategy)
        .verifiers(spec.verifiers.iter().cloned())
        .notify(spec.notify);
    if let Some(v) = spec.require_verification {
        b = b.require_verification(v);
    }
    if let Some(v) = spec.auto_rollback {
        b = b.auto_rollback(v);
    }
    if let Some(v) = spec.max_retries {
        b = b.max_retries(v);
    }
    Ok((b.build()?, timing))
}

fn plugin(
    section: &str,
    name: &str,
    spec: &Spanned<PluginSpec>,
) -> Result<Arc<CommandRunner>, Located> {
    let PluginSpec::Command(c) = spec.get_ref();
    let built = if section == "verifiers" {
        c.verifier(name)
    } else {
        c.target(name)
    };
    built
        .map(Arc::new)
        .map_err(|e| at(spec, &last_key(e.message()), e.message()))
}

/// Check every reference and value; resolve relative paths against `base`.
pub fn resolve(file: ConfigFile, base: &Path) -> Result<Resolved, Located> {
    let mut stores = BTreeMap::new();
    for (name, spec) in &file.stores {
        let (root, max_versions) = match spec.get_ref() {
            StoreSpec::File { root, max_versions } => (root, max_versions),
            StoreSpec::Aws {
                region,
                endpoint_url,
                max_attempts,
                timeout,
            } => {
                let mut b = rotation_aws::AwsStoreBuilder::new();
                if let Some(r) = region {
                    b = b.region(r);
                }
                if let Some(u) = endpoint_url {
                    b = b.endpoint_url(u);
                }
                if let Some(a) = max_attempts {
                    b = b.max_attempts(*a);
                }
                if let Some(t) = timeout {
                    let d = humantime::parse_duration(t).map_err(|_| {
                        at(
                            spec,
                            "timeout",
                            format!("stores.{name}.timeout: {t:?} is not a duration"),
                        )
                    })?;
                    b = b.timeout(d);
                }
                b.clone().build().map_err(|e| {
                    let key = e.message().split(':').next().unwrap_or_default().to_owned();
                    at(spec, &key, format!("stores.{name}.{}", e.message()))
                })?;
                stores.insert(name.clone(), StoreConfig::Aws(b));
                continue;
            }
            StoreSpec::Azure(a) => {
                let builder = super::azure::builder(name, a, base)
                    .map_err(|m| at(spec, &last_key(&m), &m))?;
                stores.insert(name.clone(), StoreConfig::Azure(builder));
                continue;
            }
            StoreSpec::Vault(v) => {
                let builder = super::vault::builder(name, v, base)
                    .map_err(|m| at(spec, &last_key(&m), &m))?;
                stores.insert(name.clone(), StoreConfig::Vault(builder));
                continue;
            }
        };
        let max_versions = max_versions.unwrap_or(10);
        if max_versions < 2 {
            return Err(at(
                spec,
                "max_versions",
                format!("stores.{name}.max_versions: must be at least 2"),
            ));
        }
        if root.as_os_str().is_empty() {
            return Err(at(
                spec,
                "root",
                format!("stores.{name}.root: must not be empty"),
            ));
        }
        stores.insert(
            name.clone(),
            StoreConfig::File {
                root: base.join(root),
                max_versions,
            },
        );
    }
    let mut generators: HashMap<&str, Arc<dyn SecretGenerator>> = HashMap::new();
    for (name, spec) in &file.generators {
        let g = spec
            .get_ref()
            .build(name)
            .map_err(|e| at(spec, &last_key(e.message()), e.message()))?;
        generators.insert(name, g);
    }
    let mut verifiers = HashMap::new();
    for (name, spec) in &file.verifiers {
        verifiers.insert(name.as_str(), plugin("verifiers", name, spec)?);
    }
    let mut targets = HashMap::new();
    for (name, spec) in &file.targets {
        targets.insert(name.as_str(), plugin("targets", name, spec)?);
    }
    let mut policies = HashMap::new();
    for (name, spec) in &file.policies {
        for v in &spec.get_ref().verifiers {
            if !verifiers.contains_key(v.as_str()) {
                return Err(at(
                    spec,
                    "verifiers",
                    unknown(
                        "verifier",
                        &format!("policies.{name}.verifiers"),
                        v,
                        verifiers.keys(),
                    ),
                ));
            }
        }
        let (policy, timing) = build_policy(name, spec.get_ref())
            .map_err(|e| at(spec, &last_key(e.message()), e.message()))?;
        policies.insert(name.as_str(), (Arc::new(policy), Arc::new(timing)));
    }

    let default_generator: Arc<dyn SecretGenerator> = GeneratorSpec::default_random()
        .build("default")
        .map_err(|e| Located {
            span: None,
            key: None,
            message: e.to_string(),
        })?;
    let mut secrets: Vec<SecretEntry> = Vec::new();
    let mut claims = PathClaims::default();
    // A set, not a scan of `secrets`: configs with 100k secrets must not take quadratic time.
    let mut secret_ids: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (i, spanned) in file.secrets.iter().enumerate() {
        let s: &SecretSpec = spanned.get_ref();
        let field = |f: &str| format!("secrets[{i}] (id {:?}).{f}", s.id);
        let err = |key: &str, msg: String| at(spanned, key, format!("{}: {msg}", field(key)));
        if s.id.trim().is_empty()
            || !s
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(err(
                "id",
                "must be non-empty and use only letters, digits, '-', '_' and '.'".into(),
            ));
        }
        if !secret_ids.insert(s.id.clone()) {
            return Err(err("id", "is used by another secret".into()));
        }
        if !stores.contains_key(&s.store) {
            return Err(at(
                spanned,
                "store",
                unknown(
                    "store",
                    &field("store"),
                    &s.store,
                    stores.keys().map(String::as_str),
                ),
            ));
        }
        if s.path.trim().is_empty() {
            return Err(err("path", "must not be empty".into()));
        }
        claims
            .claim(&s.store, &stores[&s.store], &s.path, &s.id)
            .map_err(|m| err("path", m))?;
        if matches!(&s.field, Some(f) if f.is_empty()) {
            return Err(err("field", "must not be empty".into()));
        }
        let (policy, timing) = policies
            .get(s.policy.as_str())
            .ok_or_else(|| {
                at(
                    spanned,
                    "policy",
                    unknown("policy", &field("policy"), &s.policy, policies.keys()),
                )
            })?
            .clone();
        let generator = match &s.generator {
            None => ("default".to_owned(), default_generator.clone()),
            Some(g) => (
                g.clone(),
                generators
                    .get(g.as_str())
                    .ok_or_else(|| {
                        at(
                            spanned,
                            "generator",
                            unknown("generator", &field("generator"), g, generators.keys()),
                        )
                    })?
                    .clone(),
            ),
        };
        let mut names: Vec<&String> = policy.verifiers().iter().collect();
        names.extend(
            s.verifiers
                .iter()
                .filter(|v| !policy.verifiers().contains(v)),
        );
        let mut resolved_verifiers = Vec::new();
        for v in names {
            let runner = verifiers.get(v.as_str()).ok_or_else(|| {
                at(
                    spanned,
                    "verifiers",
                    unknown("verifier", &field("verifiers"), v, verifiers.keys()),
                )
            })?;
            resolved_verifiers.push(runner.clone());
        }
        let target = match &s.target {
            None => None,
            Some(t) => Some(
                targets
                    .get(t.as_str())
                    .ok_or_else(|| {
                        at(
                            spanned,
                            "target",
                            unknown("target", &field("target"), t, targets.keys()),
                        )
                    })?
                    .clone(),
            ),
        };
        secrets.push(SecretEntry {
            id: SecretId::new(s.id.clone()),
            store: s.store.clone(),
            path: SecretPath::new(s.path.clone()),
            field: s.field.clone(),
            policy,
            timing,
            generator,
            verifiers: resolved_verifiers,
            target,
            create_if_missing: s.create_if_missing,
        });
    }
    let lease_ttl = match &file.state.lease_ttl {
        None => Duration::from_secs(60),
        Some(t) => humantime::parse_duration(t)
            .ok()
            .filter(|d| *d >= Duration::from_millis(100))
            .ok_or_else(|| Located {
                span: None,
                key: None,
                message: format!("state.lease_ttl: {t:?} is not a duration of at least 100ms"),
            })?,
    };
    let state_path = base.join(
        file.state
            .path
            .unwrap_or_else(|| PathBuf::from(".rotation/state.db")),
    );
    let audit_path = base.join(
        file.audit
            .path
            .unwrap_or_else(|| PathBuf::from(".rotation/audit.jsonl")),
    );
    let server = match &file.server {
        Some(spec) => crate::server::resolve(Some(spec.get_ref()), base)
            .map_err(|m| at(spec, &last_key(&m), &m))?,
        None => crate::server::resolve(None, base).map_err(|m| Located::at(0..0, "server", m))?,
    };
    Ok(Resolved {
        audit_path,
        state_path,
        lease_ttl,
        stores,
        secrets,
        server,
    })
}

/// The secrets claimed so far, by store path and, for Azure, by Key Vault name. Two ids on one
/// stored secret must be refused: their leases would not exclude each other, and recovering
/// one would discard the other's live pending value.
#[derive(Debug, Default)]
struct PathClaims {
    /// (store, path as the store sees it) -> id.
    paths: HashMap<(String, String), String>,
    /// (store, lower-case Key Vault name) -> id.
    key_vault_names: HashMap<(String, String), String>,
}

impl PathClaims {
    /// Claim `path` of `store_name` for `id`; the reason for the secret's `path` field if the
    /// path is unusable or another id already names the same stored secret.
    fn claim(
        &mut self,
        store_name: &str,
        store: &StoreConfig,
        path: &str,
        id: &str,
    ) -> Result<(), String> {
        // Vault ignores leading and trailing '/', so `/app/key` is `app/key` there.
        let key = match store {
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
        if let StoreConfig::Azure(_) = store {
            // Key Vault names are restricted: refuse a bad path before anything runs.
            let name = rotation_azure::names::secret_name(&SecretPath::new(path))
                .map_err(|e| e.message().trim_start_matches("path: ").to_owned())?;
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

fn unknown<'a>(
    what: &str,
    field: &str,
    name: &str,
    known: impl Iterator<Item = &'a (impl AsRef<str> + ?Sized + 'a)>,
) -> String {
    let mut known: Vec<&str> = known.map(AsRef::as_ref).collect();
    known.sort_unstable();
    let list = if known.is_empty() {
        "none is defined".to_owned()
    } else {
        format!("defined: {}", known.join(", "))
    };
    format!("{field}: unknown {what} {name:?} ({list})")
}

#[cfg(test)]
mod tests;
