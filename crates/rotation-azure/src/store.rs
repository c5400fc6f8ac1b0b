//! [`AzureStore`]: the [`SecretStore`] contract on Key Vault, which has versions but no
//! compare-and-swap and no staging labels.
//!
//! - **Secret** = a Key Vault secret; a plain read returns its latest version, so nothing
//!   pending is ever written to it.
//! - **Pending values** live in a companion secret `<name>-rotation-pending`, one version per
//!   staged value, tagged `rotation-id` and `rotation-pending-for`. The companion's latest
//!   version is the pending slot (one at a time: `single_pending`); it is disabled (tag
//!   `rotation-status = promoted | discarded`) once promoted or discarded, so its value cannot
//!   be read afterwards without re-enabling it.
//! - **Promote / write** = set the secret with the new value, the current version's content
//!   type and user tags, plus `rotation-id` and `rotation-previous` (the version it replaces).
//!   Key Vault cannot refuse a stale write, so the store lists the versions, checks that the
//!   latest is still the version the rotation started from, writes, and lists again: a version
//!   that appeared in between and was not written by this rotation (a retried PUT can land
//!   twice) is a concurrent writer. If ours landed on top of it, ours is first marked
//!   `rotation-status = conflict:<their version>`, then their value is set again and ours is
//!   disabled; the call fails with `Conflict`. The mark makes the repair resumable: every read of
//!   the latest version finishes an interrupted repair before anything else happens.
//! - **Restore** = set the old value again (a new version tagged `rotation-restored-from`);
//!   history is never deleted. `rotation-previous` of the restored version is carried over, so
//!   "previous" after an undo is what preceded the restored value.
//! - Soft-deleted secrets, disabled versions and missing permissions are clear errors.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use async_trait::async_trait;
use rotation_core::{
    Capabilities, Error, ErrorKind, Result, RotationId, SecretPath, SecretStore, SecretValue,
    VersionId, VersionInfo, VersionState, VersionedSecret,
};

use crate::client::{Bundle, Fetched, Kv};
use crate::names::{companion, is_version_id, secret_name};

/// Key Vault's limit for a secret value (25 KiB).
pub const MAX_VALUE_BYTES: usize = 25 * 1024;

/// Tag: the rotation that wrote a version (secret) or staged it (companion).
pub const TAG_ROTATION: &str = "rotation-id";
/// Tag: the version a rotation's write replaced.
pub const TAG_PREVIOUS: &str = "rotation-previous";
/// Tag: the version whose value a restore brought back.
pub const TAG_RESTORED: &str = "rotation-restored-from";
/// Tag on companion versions: the secret they belong to.
pub const TAG_FOR: &str = "rotation-pending-for";
/// Tag on companion versions (`staged`, `promoted`, `discarded`) and on a write that overwrote
/// a concurrent writer (`conflict:<their version>`).
pub const TAG_STATUS: &str = "rotation-status";
/// Every tag the store owns; other tags are the user's and are carried over.
const OWN_TAGS: [&str; 5] = [
    TAG_ROTATION,
    TAG_PREVIOUS,
    TAG_RESTORED,
    TAG_FOR,
    TAG_STATUS,
];
/// Key Vault's limit of tags per version.
const MAX_TAGS: usize = 15;
/// Tags a write of the engine may add: two identifying ones and the conflict mark.
const RESERVED_TAGS: usize = 3;
const CONFLICT: &str = "conflict:";
/// Key Vault as a rotation store.
pub struct AzureStore {
    kv: Kv,
    vault_url: String,
    expires_after: Option<std::time::Duration>,
}

impl fmt::Debug for AzureStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureStore")
            .field("vault_url", &self.vault_url)
            .field("expires_after", &self.expires_after)
            .finish_non_exhaustive()
    }
}

fn is_ours(tag: &str) -> bool {
    OWN_TAGS.contains(&tag)
}

/// Refuse before anything changes if the user's tags leave no room for ours.
fn check_tags(name: &str, base: &Bundle) -> Result<()> {
    let user = base.tags.keys().filter(|k| !is_ours(k)).count();
    if user > MAX_TAGS - RESERVED_TAGS {
        return Err(Error::invalid_value(format!(
            "azure: {name} has {user} tags of its own; Key Vault allows {MAX_TAGS} per version and              rotation needs {RESERVED_TAGS}: remove at least {}",
            user - (MAX_TAGS - RESERVED_TAGS)
        )));
    }
    Ok(())
}

/// A version tag that names a version, validated (it goes into a URL path).
fn version_tag<'a>(b: &'a Bundle, tag: &str) -> Option<&'a str> {
    b.tag(tag).filter(|v| is_version_id(v))
}

/// The concurrent version a write of ours overwrote, if it is marked so.
fn overwrote(b: &Bundle) -> Option<&str> {
    b.tag(TAG_STATUS)?
        .strip_prefix(CONFLICT)
        .filter(|v| is_version_id(v))
}

/// Which versions one logical write may have produced (a retried PUT can land twice).
#[derive(Clone, Copy)]
enum Writer<'a> {
    Rotation(&'a str),
    Restore(&'a str),
}

impl Writer<'_> {
    fn made(self, b: &Bundle) -> bool {
        match self {
            Writer::Rotation(rid) => b.tag(TAG_ROTATION) == Some(rid),
            Writer::Restore(v) => b.tag(TAG_RESTORED) == Some(v),
        }
    }
}

/// The user's tags of `base` (ours removed) plus `ours`.
fn tags_from(base: &Bundle, ours: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = base
        .tags
        .iter()
        .filter(|(k, _)| !is_ours(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tags.extend(ours.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    tags
}

fn check_size(value: &SecretValue) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::invalid_value(format!(
            "azure: the value is {} bytes; Key Vault accepts at most {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    Ok(())
}

fn versioned(name: &str, mut b: Bundle) -> Result<VersionedSecret> {
    let value = b.take_value(name)?;
    Ok(VersionedSecret {
        version: VersionId::new(b.version),
        value,
    })
}

impl AzureStore {
    /// A builder.
    pub fn builder() -> crate::AzureStoreBuilder {
        crate::AzureStoreBuilder::new()
    }

    pub(crate) fn new(
        kv: Kv,
        vault_url: String,
        expires_after: Option<std::time::Duration>,
    ) -> Self {
        Self {
            kv,
            vault_url,
            expires_after,
        }
    }

    /// The latest version of `name`, after finishing an interrupted conflict repair.
    async fn latest(&self, name: &str) -> Result<Fetched> {
        let fetched = self.kv.get(name, None).await?;
        if let Fetched::Found(b) = &fetched
            && let Some(theirs) = overwrote(b)
        {
            let theirs = theirs.to_owned();
            self.repair(name, b, &theirs).await?;
            return self.kv.get(name, None).await;
        }
        Ok(fetched)
    }

    /// The latest version of `name`, with clear errors for a missing, soft-deleted or disabled
    /// secret.
    async fn current(&self, name: &str) -> Result<Bundle> {
        match self.latest(name).await? {
            Fetched::Found(b) => Ok(b),
            Fetched::Disabled => Err(Error::invalid_value(format!(
                "azure: the latest version of {name} is disabled (403 SecretDisabled): readers \
                 get nothing; enable it or write a new version before rotating"
            ))),
            Fetched::Missing => Err(self.missing(name).await),
        }
    }

    async fn missing(&self, name: &str) -> Error {
        if self.kv.is_deleted(name).await {
            return Error::invalid_value(format!(
                "azure: {name} is deleted but recoverable; recover it (az keyvault secret recover) \
                 or purge it (az keyvault secret purge) first"
            ));
        }
        Error::not_found(format!(
            "azure: secret {name} does not exist in {}",
            self.vault_url
        ))
    }

    /// The enabled pending version in the companion of `name`, whoever staged it.
    async fn pending_slot(&self, name: &str) -> Result<Option<Bundle>> {
        let comp = companion(name);
        match self.kv.get(&comp, None).await? {
            Fetched::Found(b) if b.enabled => {
                self.check_owner(name, &b)?;
                Ok(Some(b))
            }
            Fetched::Found(_) | Fetched::Missing | Fetched::Disabled => Ok(None),
        }
    }

    fn check_owner(&self, name: &str, b: &Bundle) -> Result<()> {
        if b.tag(TAG_FOR).is_some_and(|f| f.eq_ignore_ascii_case(name)) {
            return Ok(());
        }
        Err(Error::config(
            "path",
            format!(
                "azure: {} exists but is not the rotation companion of {name} (no {TAG_FOR} tag \
                 naming it); rename that secret",
                companion(name)
            ),
        ))
    }

    async fn pending_of(&self, name: &str, rid: &RotationId) -> Result<Option<Bundle>> {
        Ok(self
            .pending_slot(name)
            .await?
            .filter(|b| b.tag(TAG_ROTATION) == Some(rid.as_str())))
    }

    /// Disable a version and mark why (tags are replaced as a whole, so they are all sent).
    async fn retire(&self, name: &str, b: &Bundle, status: &str) -> Result<()> {
        let mut tags = b.tags.clone();
        tags.insert(TAG_STATUS.to_owned(), status.to_owned());
        self.kv.update(name, &b.version, false, &tags).await
    }

    /// Version ids of `name` (empty if it does not exist).
    async fn version_ids(&self, name: &str) -> Result<HashSet<String>> {
        match self.kv.versions(name).await {
            Ok(v) => Ok(v.into_iter().map(|b| b.version).collect()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(HashSet::new()),
            Err(e) => Err(e),
        }
    }

    /// Ours (`marked`, the latest version, tagged `conflict:<theirs>`) overwrote `theirs`: set
    /// their value again and disable ours. Idempotent; resumed by [`Self::latest`].
    async fn repair(&self, name: &str, marked: &Bundle, theirs: &str) -> Result<String> {
        let mut their = match self.kv.get(name, Some(theirs)).await? {
            Fetched::Found(b) => b,
            Fetched::Missing | Fetched::Disabled => {
                // Theirs can no longer be read: ours stands, unmarked.
                let mut tags = marked.tags.clone();
                tags.remove(TAG_STATUS);
                self.kv.update(name, &marked.version, true, &tags).await?;
                return Ok(marked.version.clone());
            }
        };
        let value = their.take_value(name)?;
        let mut tags = their.tags.clone();
        tags.remove(TAG_STATUS);
        if tags.len() < MAX_TAGS {
            tags.insert(TAG_RESTORED.to_owned(), theirs.to_owned());
        }
        let back = self
            .kv
            .set(name, &value, their.content_type.as_deref(), &tags, None)
            .await?;
        self.kv
            .update(name, &marked.version, false, &marked.tags)
            .await?;
        Ok(back.version)
    }

    /// Write `value` as the new latest version of `name`, then look for a concurrent writer:
    /// a version in neither `before` nor made by `writer`. Returns the version now current.
    async fn commit(
        &self,
        name: &str,
        writer: Writer<'_>,
        value: &SecretValue,
        content_type: Option<&str>,
        tags: BTreeMap<String, String>,
        before: &HashSet<String>,
    ) -> Result<String> {
        check_size(value)?;
        let expires = self
            .expires_after
            .map(|after| time::OffsetDateTime::now_utc() + after);
        let written = self
            .kv
            .set(name, value, content_type, &tags, expires)
            .await?;
        let after = self.kv.versions(name).await?;
        let new: Vec<&Bundle> = after
            .iter()
            .filter(|v| v.version != written.version && !before.contains(&v.version))
            .collect();
        let mut intruders: Vec<&&Bundle> = new.iter().filter(|v| !writer.made(v)).collect();
        if new.is_empty() {
            return Ok(written.version);
        }
        // Something besides our PUT appeared: which version is on top decides.
        let Fetched::Found(top) = self.kv.get(name, None).await? else {
            return Err(Error::conflict(format!(
                "azure: the latest version of {name} changed to an unreadable one during the write"
            )));
        };
        let on_top = top.version == written.version || writer.made(&top);
        if intruders.is_empty() {
            // Only duplicates of our own write (a retried PUT that landed twice).
            return Ok(if on_top { top.version } else { written.version });
        }
        intruders.sort_by_key(|v| std::cmp::Reverse(v.created));
        let theirs = intruders[0].version.clone();
        let ours: Vec<&Bundle> = std::iter::once(&written)
            .chain(new.iter().copied().filter(|v| writer.made(v)))
            .collect();
        if !on_top {
            for b in ours {
                self.retire(name, b, "conflict").await?;
            }
            return Err(Error::conflict(format!(
                "azure: a concurrent writer created version {theirs} of {name} after this write \
                 (version {}, now disabled); theirs stays current",
                written.version
            )));
        }
        if !matches!(self.kv.get(name, Some(&theirs)).await?, Fetched::Found(_)) {
            // A disabled (unreadable) concurrent version was never visible to readers.
            tracing::warn!(secret = name, version = %theirs, "azure: a disabled version appeared during the write");
            return Ok(top.version);
        }
        // Mark first, so that a failure or crash from here on is finished by the next read.
        let mut marked = top;
        marked
            .tags
            .insert(TAG_STATUS.to_owned(), format!("{CONFLICT}{theirs}"));
        self.kv
            .update(name, &marked.version, true, &marked.tags)
            .await?;
        let back = self.repair(name, &marked, &theirs).await?;
        for b in ours.into_iter().filter(|b| b.version != marked.version) {
            self.retire(name, b, "conflict").await?;
        }
        Err(Error::conflict(format!(
            "azure: a concurrent writer created version {theirs} of {name} between the check and \
             this write; its value is current again (version {back}), this write (version {}) is \
             disabled",
            marked.version
        )))
    }
}

fn tag_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[async_trait]
impl SecretStore for AzureStore {
    fn kind(&self) -> &'static str {
        "azure"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            binary: false,
            max_value_bytes: MAX_VALUE_BYTES,
            json_objects: false,
            single_pending: true,
        }
    }

    async fn read_current(&self, path: &SecretPath) -> Result<VersionedSecret> {
        let name = secret_name(path)?;
        let b = self.current(&name).await?;
        versioned(&name, b)
    }

    async fn read_previous(&self, path: &SecretPath) -> Result<Option<VersionedSecret>> {
        let name = secret_name(path)?;
        let cur = self.current(&name).await?;
        let Some(prev) = version_tag(&cur, TAG_PREVIOUS) else {
            return Ok(None);
        };
        match self.kv.get(&name, Some(prev)).await? {
            Fetched::Found(b) => versioned(&name, b).map(Some),
            Fetched::Missing => Ok(None),
            Fetched::Disabled => Err(Error::invalid_value(format!(
                "azure: the previous version {prev} of {name} is disabled"
            ))),
        }
    }

    async fn read_version(
        &self,
        path: &SecretPath,
        version: &VersionId,
    ) -> Result<VersionedSecret> {
        let name = secret_name(path)?;
        let v = version.as_str();
        let missing = || Error::not_found(format!("azure: version {v} of {name} does not exist"));
        if !is_version_id(v) {
            return Err(missing());
        }
        for holder in [name.clone(), companion(&name)] {
            match self.kv.get(&holder, Some(v)).await? {
                Fetched::Found(b) => return versioned(&name, b),
                Fetched::Missing => continue,
                Fetched::Disabled => {
                    return Err(Error::invalid_value(format!(
                        "azure: version {v} of {holder} is disabled"
                    )));
                }
            }
        }
        Err(missing())
    }

    async fn read_pending(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
    ) -> Result<Option<VersionedSecret>> {
        let name = secret_name(path)?;
        match self.pending_of(&name, rotation_id).await? {
            Some(b) => versioned(&name, b).map(Some),
            None => Ok(None),
        }
    }

    async fn stage(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
    ) -> Result<VersionId> {
        let name = secret_name(path)?;
        let rid = rotation_id.as_str();
        check_size(value)?;
        // Promotion must not fail on the tag limit after the target has changed: check now.
        check_tags(&name, &self.current(&name).await?)?;
        let comp = companion(&name);
        match self.pending_slot(&name).await? {
            Some(b) if b.tag(TAG_ROTATION) == Some(rid) => {
                return Ok(VersionId::new(b.version)); // idempotent: the first value wins
            }
            Some(b) => return Err(Self::in_progress(&name, &b)),
            None => {
                // Never write into someone else's secret that happens to have the name.
                if let Some(any) = self.kv.any_version(&comp).await? {
                    self.check_owner(&name, &any)?;
                }
            }
        }
        let tags = tag_map(&[
            (TAG_ROTATION, rid),
            (TAG_FOR, name.as_str()),
            (TAG_STATUS, "staged"),
        ]);
        let staged = self.kv.set(&comp, value, None, &tags, None).await?;
        // Two stagers at once (another deployment, or two ids naming one secret): one slot.
        match self.kv.get(&comp, None).await? {
            Fetched::Found(top) if top.tag(TAG_ROTATION) == Some(rid) => {
                Ok(VersionId::new(top.version))
            }
            Fetched::Found(top) => {
                self.retire(&comp, &staged, "discarded").await?;
                Err(Self::in_progress(&name, &top))
            }
            Fetched::Missing | Fetched::Disabled => Err(Error::conflict(format!(
                "azure: the pending value just staged in {comp} is no longer the latest version"
            ))),
        }
    }

    async fn promote(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        expected_current: &VersionId,
    ) -> Result<VersionId> {
        let name = secret_name(path)?;
        let rid = rotation_id.as_str();
        let pending = self.pending_of(&name, rotation_id).await?;
        let before = self.version_ids(&name).await?;
        let cur = self.current(&name).await?;
        if cur.tag(TAG_ROTATION) == Some(rid) {
            // Already promoted (a retry): finish what the first attempt may not have.
            if let Some(p) = &pending {
                self.retire(&companion(&name), p, "promoted").await?;
            }
            return Ok(VersionId::new(cur.version));
        }
        let Some(mut pending) = pending else {
            return Err(Error::not_found(format!(
                "azure: no pending value of rotation {rid} for {name}"
            )));
        };
        if cur.version != expected_current.as_str() {
            return Err(Error::conflict(format!(
                "azure: the latest version of {name} is {}, not {expected_current} where the \
                 rotation started",
                cur.version
            )));
        }
        check_tags(&name, &cur)?;
        let value = pending.take_value(&name)?;
        let tags = tags_from(&cur, &[(TAG_ROTATION, rid), (TAG_PREVIOUS, &cur.version)]);
        let writer = Writer::Rotation(rid);
        let content_type = cur.content_type.as_deref();
        let version = self
            .commit(&name, writer, &value, content_type, tags, &before)
            .await?;
        self.retire(&companion(&name), &pending, "promoted").await?;
        Ok(VersionId::new(version))
    }

    async fn discard_pending(&self, path: &SecretPath, rotation_id: &RotationId) -> Result<()> {
        let name = secret_name(path)?;
        if let Some(p) = self.pending_of(&name, rotation_id).await? {
            self.retire(&companion(&name), &p, "discarded").await?;
        }
        Ok(())
    }

    async fn write_current(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
        expected_current: Option<&VersionId>,
    ) -> Result<VersionId> {
        let name = secret_name(path)?;
        let rid = rotation_id.as_str();
        check_size(value)?;
        let before = self.version_ids(&name).await?;
        let base = match (self.latest(&name).await?, expected_current) {
            (Fetched::Found(cur), _) if cur.tag(TAG_ROTATION) == Some(rid) => {
                return Ok(VersionId::new(cur.version));
            }
            (Fetched::Found(cur), Some(expected)) if cur.version == expected.as_str() => Some(cur),
            (Fetched::Found(cur), expected) => {
                return Err(Error::conflict(format!(
                    "azure: the latest version of {name} is {}, not {}",
                    cur.version,
                    expected.map_or("none (create)", VersionId::as_str)
                )));
            }
            (Fetched::Disabled, _) => {
                return Err(Error::conflict(format!(
                    "azure: the latest version of {name} is disabled, not the expected one"
                )));
            }
            (Fetched::Missing, None) => None,
            (Fetched::Missing, Some(_)) => return Err(self.missing(&name).await),
        };
        let (tags, content_type) = match &base {
            Some(cur) => {
                check_tags(&name, cur)?;
                let tags = tags_from(cur, &[(TAG_ROTATION, rid), (TAG_PREVIOUS, &cur.version)]);
                (tags, cur.content_type.as_deref())
            }
            None => (tag_map(&[(TAG_ROTATION, rid)]), None),
        };
        let writer = Writer::Rotation(rid);
        let version = self
            .commit(&name, writer, value, content_type, tags, &before)
            .await?;
        Ok(VersionId::new(version))
    }

    async fn restore(
        &self,
        path: &SecretPath,
        version: &VersionId,
        expected_current: &VersionId,
    ) -> Result<VersionId> {
        let name = secret_name(path)?;
        let v = version.as_str();
        if !is_version_id(v) {
            return Err(Error::not_found(format!(
                "azure: version {v} of {name} does not exist"
            )));
        }
        let before = self.version_ids(&name).await?;
        let cur = self.current(&name).await?;
        if cur.version == v || cur.tag(TAG_RESTORED) == Some(v) {
            return Ok(VersionId::new(cur.version)); // already restored (a retry)
        }
        if cur.version != expected_current.as_str() {
            return Err(Error::conflict(format!(
                "azure: the latest version of {name} is {}, not {expected_current}",
                cur.version
            )));
        }
        let mut old = match self.kv.get(&name, Some(v)).await? {
            Fetched::Found(b) => b,
            Fetched::Missing => {
                return Err(Error::not_found(format!(
                    "azure: version {v} of {name} does not exist"
                )));
            }
            Fetched::Disabled => {
                return Err(Error::invalid_value(format!(
                    "azure: version {v} of {name} is disabled; enable it to restore it"
                )));
            }
        };
        check_tags(&name, &old)?;
        let value = old.take_value(&name)?;
        let mut ours = vec![(TAG_RESTORED, v)];
        if let Some(p) = version_tag(&old, TAG_PREVIOUS) {
            ours.push((TAG_PREVIOUS, p));
        }
        let tags = tags_from(&old, &ours);
        let content_type = old.content_type.as_deref();
        let restored = self
            .commit(
                &name,
                Writer::Restore(v),
                &value,
                content_type,
                tags,
                &before,
            )
            .await?;
        Ok(VersionId::new(restored))
    }

    async fn list_versions(&self, path: &SecretPath) -> Result<Vec<VersionInfo>> {
        let name = secret_name(path)?;
        let cur = self.current(&name).await?;
        let previous = version_tag(&cur, TAG_PREVIOUS).map(str::to_owned);
        // A write marked as having overwritten someone did not land as a rotation.
        let rotation_of = |b: &Bundle| {
            b.tag(TAG_ROTATION)
                .filter(|_| overwrote(b).is_none())
                .and_then(|r| RotationId::parse(r).ok())
        };
        let created = |b: &Bundle| chrono::DateTime::from_timestamp(b.created, 0);
        let mut out: Vec<(i64, VersionInfo)> = self
            .kv
            .versions(&name)
            .await?
            .iter()
            .map(|b| {
                let state = if b.version == cur.version {
                    VersionState::Current
                } else if previous.as_deref() == Some(b.version.as_str()) {
                    VersionState::Previous
                } else {
                    VersionState::Deprecated
                };
                (
                    b.created,
                    VersionInfo {
                        version: VersionId::new(b.version.clone()),
                        state,
                        created_at: created(b),
                        rotation_id: rotation_of(b),
                    },
                )
            })
            .collect();
        if let Some(p) = self.pending_slot(&name).await? {
            out.push((
                p.created,
                VersionInfo {
                    version: VersionId::new(p.version.clone()),
                    state: VersionState::Pending,
                    created_at: created(&p),
                    rotation_id: rotation_of(&p),
                },
            ));
        }
        // Newest first; Key Vault's timestamps are whole seconds, so ties are ordered by role.
        let rank = |s: VersionState| match s {
            VersionState::Pending => 0,
            VersionState::Current => 1,
            VersionState::Previous => 2,
            VersionState::Deprecated => 3,
        };
        out.sort_by_key(|(created, info)| (std::cmp::Reverse(*created), rank(info.state)));
        Ok(out.into_iter().map(|(_, info)| info).collect())
    }
}

impl AzureStore {
    fn in_progress(name: &str, pending: &Bundle) -> Error {
        Error::new(
            ErrorKind::InProgress,
            format!(
                "azure: another rotation ({}) has a pending value for {name} in {}; finish it \
                 (`rotation recover`) or disable that version",
                pending.tag(TAG_ROTATION).unwrap_or("unknown"),
                companion(name)
            ),
        )
    }
}
