//! What resolution produces: the validated config and its secrets, bound to stores on demand.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rotation_core::{
    RotationPolicy, SecretBinding, SecretGenerator, SecretId, SecretPath, SecretStore, Target,
    Timing, Verifier,
};

use super::stores::StoreConfig;

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
    pub verifiers: Vec<Arc<dyn Verifier>>,
    /// Target.
    pub target: Option<Arc<dyn Target>>,
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
    /// Every webhook: `[[webhooks]]`, then `[[server.webhooks]]` (both the CLI and the server
    /// send to all of them).
    pub webhooks: Vec<crate::WebhookConfig>,
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
            verifiers: self.verifiers.clone(),
            target: self.target.clone(),
            create_if_missing: self.create_if_missing,
            timing: Some(self.timing.clone()),
        }
    }
}
