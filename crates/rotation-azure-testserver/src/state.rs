//! The server's shared state: configuration, the vault, injected faults and the request log.
//!
//! One `std` mutex guards everything, and a request is handled entirely under it, so each
//! request sees and leaves a consistent vault and the log order is the handling order.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

use crate::bundle::Ctx;
use crate::model::{self, NewVersion, Vault};
use crate::rbac::Op;
use crate::{RequestRecord, VersionView};

/// Fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub url: String,
    pub token: Option<String>,
    pub page_size: usize,
    pub empty_pages: bool,
    pub recoverable_days: i64,
    /// The tenant named in the `WWW-Authenticate` challenge.
    pub tenant: String,
}

impl Config {
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            url: &self.url,
            recoverable_days: self.recoverable_days,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub vault: Vault,
    pub denied: BTreeSet<Op>,
    /// Requests still to throttle, and the `Retry-After` seconds.
    pub throttle: Option<(usize, u64)>,
    /// Armed race: (lowercase name, value and tags to write after the next GET of the latest).
    pub race: Option<(String, String, BTreeMap<String, String>)>,
    pub records: Vec<RequestRecord>,
}

pub(crate) struct Shared {
    pub cfg: Config,
    state: Mutex<State>,
}

impl Shared {
    pub fn new(cfg: Config) -> Self {
        Self {
            cfg,
            state: Mutex::new(State::default()),
        }
    }

    /// Runs `f` under the lock. A panic in a test thread must not wedge the server, so a
    /// poisoned lock is used as is.
    pub fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }
}

impl State {
    pub fn put(&mut self, name: &str, value: &str, tags: BTreeMap<String, String>) -> String {
        assert!(model::valid_name(name), "invalid secret name {name:?}");
        let new = NewVersion {
            value: value.to_owned(),
            tags: (!tags.is_empty()).then_some(tags),
            ..NewVersion::default()
        };
        match self.vault.add_version(name, new) {
            Ok(secret) => secret.latest().id.clone(),
            Err(e) => panic!("put({name:?}): {}", e.message),
        }
    }

    pub fn set_enabled(&mut self, name: &str, version: &str, enabled: bool) {
        let v = self
            .vault
            .live_mut(name)
            .and_then(|s| s.version_mut(version))
            .unwrap_or_else(|| panic!("set_enabled: no version {version} of secret {name:?}"));
        v.enabled = enabled;
        v.updated = model::now();
    }

    pub fn soft_delete(&mut self, name: &str) {
        let secret = self
            .vault
            .live_mut(name)
            .unwrap_or_else(|| panic!("soft_delete: no live secret {name:?}"));
        secret.deleted = Some(model::now());
    }

    pub fn versions(&self, name: &str) -> Vec<VersionView> {
        let Some(secret) = self.vault.live(name) else {
            return Vec::new();
        };
        secret
            .versions
            .iter()
            .map(|v| VersionView {
                version: v.id.clone(),
                value: v.value.clone(),
                enabled: v.enabled,
                tags: v.tags.clone().unwrap_or_default(),
                content_type: v.content_type.clone(),
                created: v.created,
                expires: v.exp,
            })
            .collect()
    }
}
