//! [`VersionBook`]: the version bookkeeping shared by the memory and file stores.
//!
//! It holds metadata only (which numbered version is current, previous, pending for which
//! rotation id) and implements the [`SecretStore`](crate::SecretStore) contract's rules
//! (compare-and-swap, idempotent stage and promote, pruning) as pure functions, so that stores
//! keeping versions in a map or in files apply exactly the same rules.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::secret::{RotationId, VersionId};
use crate::store::{VersionInfo, VersionState};

/// Metadata of one numbered version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// The rotation that wrote it.
    pub rotation_id: Option<RotationId>,
    /// The version that was current when this one first became current: what `previous`
    /// becomes again when this version is restored, so an undo never makes the undone
    /// version "previous". `Some(0)`: it replaced nothing (the first version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced: Option<u64>,
}

/// Version bookkeeping of one secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionBook {
    /// Next version number to allocate (numbers are never reused).
    pub next: u64,
    /// Current version.
    pub current: Option<u64>,
    /// Version current before the last switch.
    pub previous: Option<u64>,
    /// Every stored version, committed or pending.
    pub versions: BTreeMap<u64, VersionMeta>,
    /// Pending version per rotation id.
    pub pending: BTreeMap<RotationId, u64>,
}

/// Outcome of [`VersionBook::stage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staged {
    /// The rotation id already had this pending version: write nothing.
    Existing(u64),
    /// A new pending version number: write its value, then persist the book.
    New(u64),
}

/// A version switch: the new current version and the versions to delete once the book is saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    /// Now current.
    pub version: u64,
    /// Versions pruned by `max_versions`: delete their values after persisting the book.
    pub pruned: Vec<u64>,
}

/// Render a version number as a [`VersionId`].
pub fn version_id(n: u64) -> VersionId {
    VersionId::new(n.to_string())
}

fn parse(version: &VersionId) -> Result<u64> {
    version
        .as_str()
        .parse()
        .map_err(|_| Error::not_found(format!("version {version} does not exist")))
}

impl VersionBook {
    /// The current version number, or `NotFound`.
    pub fn current(&self) -> Result<u64> {
        self.current
            .ok_or_else(|| Error::not_found("secret has no current version"))
    }

    /// The number of a stored version (committed or pending), or `NotFound`.
    pub fn lookup(&self, version: &VersionId) -> Result<u64> {
        let n = parse(version)?;
        if self.versions.contains_key(&n) {
            Ok(n)
        } else {
            Err(Error::not_found(format!(
                "version {version} does not exist"
            )))
        }
    }

    fn check_expected(&self, expected: Option<&VersionId>) -> Result<()> {
        let current = self.current.map(version_id);
        if current.as_ref() == expected {
            return Ok(());
        }
        Err(Error::conflict(match (current, expected) {
            (Some(c), Some(e)) => format!("current version is {c}, expected {e}"),
            (Some(c), None) => format!("secret already exists (current version {c})"),
            (None, _) => "secret has no current version".to_owned(),
        }))
    }

    fn allocate(&mut self, rotation_id: Option<&RotationId>, now: DateTime<Utc>) -> u64 {
        self.next = self.next.max(1);
        let n = self.next;
        self.next += 1;
        self.versions.insert(
            n,
            VersionMeta {
                created_at: now,
                rotation_id: rotation_id.cloned(),
                replaced: None,
            },
        );
        n
    }

    /// Make `n` current. A new version records what it replaced; a restored version brings
    /// back the `previous` it had.
    fn switch_to(&mut self, n: u64, max_versions: usize) -> Switch {
        if self.current != Some(n) {
            let old = self.current;
            let meta = self.versions.get_mut(&n);
            self.previous = match meta {
                Some(meta) if meta.replaced.is_some() => meta.replaced,
                Some(meta) => {
                    // 0 (never a version number) records "replaced nothing".
                    meta.replaced = Some(old.unwrap_or(0));
                    old
                }
                None => old,
            };
            if self
                .previous
                .is_some_and(|p| !self.versions.contains_key(&p))
            {
                self.previous = None;
            }
            self.current = Some(n);
        }
        let keep: Vec<u64> = self.current.into_iter().chain(self.previous).collect();
        let pending: Vec<u64> = self.pending.values().copied().collect();
        let committed: Vec<u64> = self
            .versions
            .keys()
            .copied()
            .filter(|v| !pending.contains(v))
            .collect();
        let excess = committed.len().saturating_sub(max_versions.max(2));
        let pruned: Vec<u64> = committed
            .into_iter()
            .filter(|v| !keep.contains(v))
            .take(excess)
            .collect();
        for v in &pruned {
            self.versions.remove(v);
        }
        Switch { version: n, pruned }
    }

    /// Stage for `rotation_id` (idempotent). The secret must exist.
    pub fn stage(&mut self, rotation_id: &RotationId, now: DateTime<Utc>) -> Result<Staged> {
        self.current()?;
        if let Some(n) = self.pending.get(rotation_id) {
            return Ok(Staged::Existing(*n));
        }
        let n = self.allocate(Some(rotation_id), now);
        self.pending.insert(rotation_id.clone(), n);
        Ok(Staged::New(n))
    }

    /// Promote the pending version of `rotation_id`, CAS against `expected`.
    pub fn promote(
        &mut self,
        rotation_id: &RotationId,
        expected: &VersionId,
        max_versions: usize,
    ) -> Result<Switch> {
        let Some(&n) = self.pending.get(rotation_id) else {
            let current = self.current()?;
            let already = self
                .versions
                .get(&current)
                .and_then(|m| m.rotation_id.as_ref());
            if already == Some(rotation_id) {
                return Ok(Switch {
                    version: current,
                    pruned: Vec::new(),
                });
            }
            return Err(Error::not_found(format!(
                "no pending version for rotation {rotation_id}"
            )));
        };
        self.check_expected(Some(expected))?;
        self.pending.remove(rotation_id);
        Ok(self.switch_to(n, max_versions))
    }

    /// Forget the pending version of `rotation_id`; returns its number so the value can be deleted.
    pub fn discard(&mut self, rotation_id: &RotationId) -> Option<u64> {
        let n = self.pending.remove(rotation_id)?;
        self.versions.remove(&n);
        Some(n)
    }

    /// Allocate a new current version, CAS against `expected` (`None`: must not exist). Write the
    /// value of the returned version before persisting the book.
    pub fn write_current(
        &mut self,
        rotation_id: &RotationId,
        expected: Option<&VersionId>,
        now: DateTime<Utc>,
        max_versions: usize,
    ) -> Result<Switch> {
        if let Some(current) = self.current
            && self
                .versions
                .get(&current)
                .and_then(|m| m.rotation_id.as_ref())
                == Some(rotation_id)
        {
            // Idempotent: this rotation already wrote the current version.
            return Ok(Switch {
                version: current,
                pruned: Vec::new(),
            });
        }
        self.check_expected(expected)?;
        let n = self.allocate(Some(rotation_id), now);
        Ok(self.switch_to(n, max_versions))
    }

    /// Make committed `version` current again, CAS against `expected`.
    pub fn restore(
        &mut self,
        version: &VersionId,
        expected: &VersionId,
        max_versions: usize,
    ) -> Result<Switch> {
        let n = self.lookup(version)?;
        if self.pending.values().any(|p| *p == n) {
            return Err(Error::invalid_value(format!(
                "version {version} is pending; promote it instead of restoring it"
            )));
        }
        if self.current == Some(n) {
            // Idempotent: already restored.
            return Ok(Switch {
                version: n,
                pruned: Vec::new(),
            });
        }
        self.check_expected(Some(expected))?;
        Ok(self.switch_to(n, max_versions))
    }

    /// Versions newest first, with their state.
    pub fn list(&self) -> Vec<VersionInfo> {
        self.versions
            .iter()
            .rev()
            .map(|(n, meta)| VersionInfo {
                version: version_id(*n),
                state: if Some(*n) == self.current {
                    VersionState::Current
                } else if Some(*n) == self.previous {
                    VersionState::Previous
                } else if self.pending.values().any(|p| p == n) {
                    VersionState::Pending
                } else {
                    VersionState::Deprecated
                },
                created_at: Some(meta.created_at),
                rotation_id: meta.rotation_id.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_brings_back_the_old_previous_and_is_idempotent() {
        let mut b = VersionBook::default();
        let now = Utc::now();
        let v1 = b.write_current(&rid("a"), None, now, 10).unwrap().version;
        let v2 = b
            .write_current(&rid("b"), Some(&version_id(v1)), now, 10)
            .unwrap()
            .version;
        let v3 = b
            .write_current(&rid("c"), Some(&version_id(v2)), now, 10)
            .unwrap()
            .version;
        // Undo v3: v2 current, and previous is v1 again, not the undone v3.
        b.restore(&version_id(v2), &version_id(v3), 10).unwrap();
        assert_eq!((b.current, b.previous), (Some(v2), Some(v1)));
        // Restoring again is a no-op, whatever the expected version says.
        b.restore(&version_id(v2), &version_id(v3), 10).unwrap();
        assert_eq!((b.current, b.previous), (Some(v2), Some(v1)));
        // A retried write of the same rotation returns the version it wrote.
        let v4 = b
            .write_current(&rid("d"), Some(&version_id(v2)), now, 10)
            .unwrap()
            .version;
        assert_eq!(
            b.write_current(&rid("d"), Some(&version_id(v2)), now, 10)
                .unwrap()
                .version,
            v4
        );
    }

    fn rid(s: &str) -> RotationId {
        RotationId::parse(s).unwrap()
    }

    #[test]
    fn promote_is_cas_and_idempotent() {
        let mut b = VersionBook::default();
        let now = Utc::now();
        let v1 = b.write_current(&rid("a"), None, now, 10).unwrap().version;
        assert_eq!(b.stage(&rid("b"), now).unwrap(), Staged::New(2));
        assert_eq!(b.stage(&rid("b"), now).unwrap(), Staged::Existing(2));
        assert_eq!(b.stage(&rid("c"), now).unwrap(), Staged::New(3));
        let err = b.promote(&rid("b"), &version_id(9), 10).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Conflict);
        assert_eq!(
            b.promote(&rid("b"), &version_id(v1), 10).unwrap().version,
            2
        );
        assert_eq!(
            b.promote(&rid("b"), &version_id(v1), 10).unwrap().version,
            2
        );
        assert_eq!(
            b.promote(&rid("c"), &version_id(v1), 10)
                .unwrap_err()
                .kind(),
            crate::ErrorKind::Conflict
        );
        assert_eq!(b.previous, Some(1));
    }

    #[test]
    fn pruning_keeps_current_previous_and_pending() {
        let mut b = VersionBook::default();
        let now = Utc::now();
        let first = b
            .write_current(&rid("r-first"), None, now, 3)
            .unwrap()
            .version;
        let mut cur = Some(version_id(first));
        let Staged::New(pending) = b.stage(&rid("p"), now).unwrap() else {
            panic!("new pending expected")
        };
        for i in 0..6 {
            let s = b
                .write_current(&rid(&format!("r{i}")), cur.as_ref(), now, 3)
                .unwrap();
            cur = Some(version_id(s.version));
        }
        assert!(
            b.versions.contains_key(&pending),
            "pending survived pruning"
        );
        assert_eq!(b.versions.len(), 4, "3 committed + 1 pending");
        assert_eq!(b.current, Some(8));
        assert_eq!(b.previous, Some(7));
    }
}
