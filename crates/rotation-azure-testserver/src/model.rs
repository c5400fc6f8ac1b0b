//! The vault's data: secrets by case-insensitive name, each with versions in creation order.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::errors::{self, ApiResult};

/// One version of a secret. Content type and tags belong to the version, as in the service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Version {
    pub id: String,
    pub value: String,
    pub content_type: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub enabled: bool,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
    pub created: i64,
    pub updated: i64,
}

/// A secret: the name as first created, its versions (oldest first) and, while soft-deleted,
/// the deletion time.
#[derive(Debug, Clone)]
pub(crate) struct Secret {
    pub name: String,
    pub versions: Vec<Version>,
    pub deleted: Option<i64>,
}

impl Secret {
    /// "Latest" is the most recently created version, enabled or not.
    pub fn latest(&self) -> &Version {
        self.versions
            .last()
            .expect("a secret has at least one version")
    }

    pub fn latest_mut(&mut self) -> &mut Version {
        self.versions
            .last_mut()
            .expect("a secret has at least one version")
    }

    pub fn version_mut(&mut self, id: &str) -> Option<&mut Version> {
        self.versions
            .iter_mut()
            .find(|v| v.id.eq_ignore_ascii_case(id))
    }
}

/// What a new version is made of.
#[derive(Debug, Default)]
pub(crate) struct NewVersion {
    pub value: String,
    pub content_type: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub enabled: Option<bool>,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
}

/// All secrets of the vault, keyed by lowercase name (lookups are case-insensitive).
#[derive(Debug, Default)]
pub(crate) struct Vault {
    pub secrets: BTreeMap<String, Secret>,
}

impl Vault {
    pub fn live(&self, name: &str) -> Option<&Secret> {
        self.secrets.get(&key(name)).filter(|s| s.deleted.is_none())
    }

    pub fn live_mut(&mut self, name: &str) -> Option<&mut Secret> {
        self.secrets
            .get_mut(&key(name))
            .filter(|s| s.deleted.is_none())
    }

    pub fn deleted(&self, name: &str) -> Option<&Secret> {
        self.secrets.get(&key(name)).filter(|s| s.deleted.is_some())
    }

    pub fn deleted_mut(&mut self, name: &str) -> Option<&mut Secret> {
        self.secrets
            .get_mut(&key(name))
            .filter(|s| s.deleted.is_some())
    }

    /// Adds a version (creating the secret); a soft-deleted name cannot be reused.
    pub fn add_version(&mut self, name: &str, new: NewVersion) -> ApiResult<&Secret> {
        let secret = self.secrets.entry(key(name)).or_insert_with(|| Secret {
            name: name.to_owned(),
            versions: Vec::new(),
            deleted: None,
        });
        if secret.deleted.is_some() {
            return Err(errors::deleted_but_recoverable(&secret.name));
        }
        let now = now();
        secret.versions.push(Version {
            id: new_version_id(),
            value: new.value,
            content_type: new.content_type,
            tags: new.tags,
            enabled: new.enabled.unwrap_or(true),
            nbf: new.nbf,
            exp: new.exp,
            created: now,
            updated: now,
        });
        Ok(secret)
    }
}

/// The map key of a secret name.
pub(crate) fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Secret names: `^[0-9a-zA-Z-]{1,127}$`.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Version ids: 32 hex characters.
pub(crate) fn valid_version(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(crate) fn new_version_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Unix seconds, the resolution of every timestamp in the service's bodies.
pub(crate) fn now() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}
