//! [`VaultStore`]: the [`SecretStore`] contract on KV v2.
//!
//! # Layout
//! ```text
//! <mount>/data/<path>                               the secret; readers see only this
//! <mount>/metadata/<path>   custom_metadata:        rotation.v<N> = "r=<rotation id>;p=<prev>;f=<from>"
//!                                                   rotation.last / rotation.status / rotation.at
//! <mount>/data/<prefix>/<path>/<rotation id>        a pending value (prefix: `.rotation-pending`)
//! <mount>/metadata/<prefix>/<path>/<rotation id>    custom_metadata: rotation_id, secret_path, staged_at
//! ```
//! - Current = the latest version; a value is the data map as a JSON object.
//! - Stage writes the staging path with `cas = 0` (create only): a retried stage finds the
//!   first value (idempotent per rotation id). Plain reads of `<path>` never see it.
//! - Promote writes the pending data to `<path>` with `cas` = the version read at the start: a
//!   concurrent `bao kv put` makes it fail with a conflict. Then the version note is recorded and
//!   the staging secret deleted. Immediate writes and restores use `cas` too, so a mount with
//!   `cas_required = true` works.
//! - Restore writes the old version's data again as a new version (history is never rewritten);
//!   its note points `previous` at what preceded the restored version.
//! - Previous = the note's `p` of the current version, else current - 1 (respecting
//!   `max_versions`: a pruned or deleted version is no previous).
//! - Version ids: KV version numbers; pending values are `pending/<rotation id>`.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use reqwest::StatusCode;
use rotation_core::{
    Capabilities, Error, ErrorKind, Result, RotationId, SecretPath, SecretStore, SecretValue,
    VersionId, VersionInfo, VersionState, VersionedSecret,
};
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;

use crate::builder::VaultStoreBuilder;
use crate::client::{Client, DELETE, LIST, PATCH, READ, WRITE};
use crate::notes::{self, Note};

const PENDING: &str = "pending/";

/// A KV v2 mount as a rotation store. Build with [`VaultStore::builder`] or
/// [`VaultStoreBuilder::from_env`].
pub struct VaultStore {
    client: Client,
    mount: String,
    staging: String,
    max_value_bytes: usize,
    checked: OnceCell<()>,
}

impl fmt::Debug for VaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultStore")
            .field("mount", &self.mount)
            .field("staging", &self.staging)
            .finish_non_exhaustive()
    }
}

/// Version metadata from `metadata/<path>`.
#[derive(Debug, Default)]
struct Meta {
    current: u64,
    oldest: u64,
    /// version -> (created_time, deleted or destroyed)
    versions: BTreeMap<u64, (Option<chrono::DateTime<chrono::Utc>>, bool)>,
    notes: BTreeMap<u64, Note>,
}

fn version_id(n: u64) -> VersionId {
    VersionId::new(n.to_string())
}

fn number(v: &VersionId) -> Result<u64> {
    v.as_str()
        .parse()
        .map_err(|_| Error::not_found(format!("version {v} does not exist")))
}

fn to_map(value: &SecretValue) -> Result<Map<String, Value>> {
    match serde_json::from_slice::<Value>(value.expose()) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Error::invalid_value(
            "a KV v2 secret is a JSON object; configure the secret's `field` to rotate one key of it",
        )),
    }
}

fn to_value(map: &Map<String, Value>) -> Result<SecretValue> {
    serde_json::to_vec(map)
        .map(SecretValue::new)
        .map_err(|_| Error::internal("cannot encode the data map"))
}

impl VaultStore {
    /// A builder.
    pub fn builder() -> VaultStoreBuilder {
        VaultStoreBuilder::new()
    }

    /// Prefixes an error with the store operation and the secret (`vault: stage secret/app/db`).
    fn at(&self, op: &str, path: &SecretPath) -> impl FnOnce(Error) -> Error {
        let context = format!(
            "vault: {op} {}/{}",
            self.mount,
            path.as_str().trim_matches('/')
        );
        move |e| e.context(context)
    }

    pub(crate) fn new(
        client: Client,
        mount: String,
        staging: String,
        max_value_bytes: usize,
    ) -> Self {
        Self {
            client,
            mount,
            staging,
            max_value_bytes,
            checked: OnceCell::new(),
        }
    }

    /// Refuse KV v1 mounts once, before the first operation.
    async fn check_mount(&self) -> Result<()> {
        self.checked
            .get_or_try_init(|| async {
                let path = format!("sys/internal/ui/mounts/{}", self.mount);
                let answer = match self.client.send("GET", &path, None, READ).await {
                    Ok(a) => a,
                    // Without access to the mount listing, the first KV call tells us anyway.
                    Err(e) if e.kind() == ErrorKind::PermissionDenied => return Ok(()),
                    Err(e) => return Err(e),
                };
                if answer.status == StatusCode::NOT_FOUND {
                    return Err(Error::config(
                        "mount",
                        format!("no secrets engine is mounted at {}/", self.mount),
                    ));
                }
                let version = answer
                    .body
                    .pointer("/data/options/version")
                    .and_then(Value::as_str)
                    .unwrap_or("1");
                let kind = answer
                    .body
                    .pointer("/data/type")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if kind != "kv" || version != "2" {
                    return Err(Error::new(
                        ErrorKind::NotSupported,
                        format!(
                            "{}/ is a {kind} version {version} mount; rotation needs KV version 2 \
                             (bao kv enable-versioning {})",
                            self.mount, self.mount
                        ),
                    ));
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    fn check_path(&self, path: &SecretPath) -> Result<String> {
        let p = path.as_str().trim_matches('/');
        let ok = !p.is_empty()
            && p.split('/')
                .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./@".contains(c));
        if !ok {
            return Err(Error::invalid_value(format!(
                "{p:?} is not a usable KV path (letters, digits and -_./@ in non-empty segments)"
            )));
        }
        if p == self.staging || p.starts_with(&format!("{}/", self.staging)) {
            return Err(Error::invalid_value(format!(
                "{p} is inside the staging prefix {}",
                self.staging
            )));
        }
        Ok(p.to_owned())
    }

    /// Check the path and, once, the mount; the path to use.
    async fn prepare(&self, path: &SecretPath) -> Result<String> {
        let p = self.check_path(path)?;
        self.check_mount().await?;
        Ok(p)
    }

    fn missing(&self, p: &str) -> Error {
        Error::not_found(format!("secret {}/{p} does not exist", self.mount))
    }

    fn data(&self, p: &str) -> String {
        format!("{}/data/{p}", self.mount)
    }
    fn metadata(&self, p: &str) -> String {
        format!("{}/metadata/{p}", self.mount)
    }
    fn staged(&self, p: &str, rid: &str) -> String {
        format!("{}/{p}/{rid}", self.staging)
    }

    fn check_size(&self, value: &SecretValue) -> Result<()> {
        if value.len() > self.max_value_bytes {
            return Err(Error::invalid_value(format!(
                "the value is {} bytes; at most {} are accepted",
                value.len(),
                self.max_value_bytes
            )));
        }
        Ok(())
    }

    /// Data of `p` at `version` (latest if `None`); `None` if there is no such secret.
    async fn read_data(
        &self,
        p: &str,
        version: Option<u64>,
    ) -> Result<Option<(u64, Map<String, Value>)>> {
        let path = match version {
            Some(v) => format!("{}?version={v}", self.data(p)),
            None => self.data(p),
        };
        let answer = self.client.send("GET", &path, None, READ).await?;
        let meta = answer.body.pointer("/data/metadata");
        let gone = meta.is_some_and(|m| {
            m.get("destroyed").and_then(Value::as_bool) == Some(true)
                || m.get("deletion_time")
                    .and_then(Value::as_str)
                    .is_some_and(|t| !t.is_empty())
        });
        if gone {
            let n = meta
                .and_then(|m| m.get("version"))
                .and_then(Value::as_u64)
                .unwrap_or_default();
            return Err(match version {
                None => Error::invalid_value(format!(
                    "the current version {n} of {p} is deleted or destroyed; undelete it or write a new version first"
                )),
                Some(_) => Error::not_found(format!("version {n} of {p} is deleted or destroyed")),
            });
        }
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let n = meta
            .and_then(|m| m.get("version"))
            .and_then(Value::as_u64)
            .unwrap_or_default();
        let map = answer
            .body
            .pointer("/data/data")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Ok(Some((n, map)))
    }

    async fn read_meta(&self, p: &str) -> Result<Option<Meta>> {
        let answer = self
            .client
            .send("GET", &self.metadata(p), None, READ)
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let d = answer.body.get("data").cloned().unwrap_or(Value::Null);
        let mut meta = Meta {
            current: d
                .get("current_version")
                .and_then(Value::as_u64)
                .unwrap_or_default(),
            oldest: d
                .get("oldest_version")
                .and_then(Value::as_u64)
                .unwrap_or_default(),
            notes: notes::read(d.get("custom_metadata")),
            ..Meta::default()
        };
        if let Some(versions) = d.get("versions").and_then(Value::as_object) {
            for (k, v) in versions {
                let Ok(n) = k.parse() else { continue };
                let created = v
                    .get("created_time")
                    .and_then(Value::as_str)
                    .and_then(|t| t.parse().ok());
                let gone = v.get("destroyed").and_then(Value::as_bool) == Some(true)
                    || v.get("deletion_time")
                        .and_then(Value::as_str)
                        .is_some_and(|t| !t.is_empty());
                meta.versions.insert(n, (created, gone));
            }
        }
        if meta.current == 0 {
            return Ok(None);
        }
        Ok(Some(meta))
    }

    /// The version before `current`: its note, else `current - 1`, if still readable.
    fn previous_of(meta: &Meta, current: u64) -> Option<u64> {
        let prev = meta
            .notes
            .get(&current)
            .map_or(current.checked_sub(1), |n| n.previous)?;
        let live =
            meta.versions.get(&prev).is_some_and(|(_, gone)| !gone) && prev >= meta.oldest.max(1);
        live.then_some(prev)
    }

    /// Write `data` to `p` with check-and-set, then record the version note.
    async fn write(
        &self,
        p: &str,
        data: &Map<String, Value>,
        cas: u64,
        note: Note,
        status: &str,
    ) -> Result<u64> {
        let body = json!({ "options": { "cas": cas }, "data": data });
        let answer = self
            .client
            .send("POST", &self.data(p), Some(&body), WRITE)
            .await?;
        let version = answer
            .body
            .pointer("/data/version")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::internal(format!("writing {p} returned no version")))?;
        self.note(p, version, &note, status).await?;
        Ok(version)
    }

    async fn note(&self, p: &str, version: u64, note: &Note, status: &str) -> Result<()> {
        let existing = self
            .read_meta(p)
            .await?
            .map(|m| m.notes)
            .unwrap_or_default();
        let patch = notes::patch(&existing, version, note, status);
        self.client
            .send("PATCH", &self.metadata(p), Some(&patch), PATCH)
            .await?;
        Ok(())
    }

    async fn pending_map(&self, p: &str, rid: &RotationId) -> Result<Option<Map<String, Value>>> {
        Ok(self
            .read_data(&self.staged(p, rid.as_str()), None)
            .await?
            .map(|(_, m)| m))
    }

    async fn pending_ids(&self, p: &str) -> Result<Vec<String>> {
        let path = format!("{}/{}/", self.metadata(&self.staging), p);
        let answer = self.client.send("LIST", &path, None, LIST).await?;
        Ok(answer
            .body
            .pointer("/data/keys")
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(Value::as_str)
                    .filter(|k| !k.ends_with('/'))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Which rotation wrote the current version, if this store did.
    fn current_rotation(meta: &Meta) -> Option<&str> {
        meta.notes
            .get(&meta.current)
            .and_then(|n| n.rotation_id.as_deref())
    }
}

/// The contract's operations; the trait impl below adds what failed and where to errors.
impl VaultStore {
    async fn op_read_current(&self, path: &SecretPath) -> Result<VersionedSecret> {
        let p = self.prepare(path).await?;
        let (n, map) = self
            .read_data(&p, None)
            .await?
            .ok_or_else(|| self.missing(&p))?;
        Ok(VersionedSecret {
            version: version_id(n),
            value: to_value(&map)?,
        })
    }

    async fn op_read_previous(&self, path: &SecretPath) -> Result<Option<VersionedSecret>> {
        let p = self.prepare(path).await?;
        let meta = self.read_meta(&p).await?.ok_or_else(|| self.missing(&p))?;
        let Some(prev) = Self::previous_of(&meta, meta.current) else {
            return Ok(None);
        };
        Ok(match self.read_data(&p, Some(prev)).await {
            Ok(Some((n, map))) => Some(VersionedSecret {
                version: version_id(n),
                value: to_value(&map)?,
            }),
            Ok(None) => None,
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        })
    }

    async fn op_read_version(
        &self,
        path: &SecretPath,
        version: &VersionId,
    ) -> Result<VersionedSecret> {
        let p = self.prepare(path).await?;
        if let Some(rid) = version.as_str().strip_prefix(PENDING) {
            let rid = RotationId::parse(rid)?;
            let map = self
                .pending_map(&p, &rid)
                .await?
                .ok_or_else(|| Error::not_found(format!("no pending value for rotation {rid}")))?;
            return Ok(VersionedSecret {
                version: version.clone(),
                value: to_value(&map)?,
            });
        }
        let n = number(version)?;
        let (n, map) = self
            .read_data(&p, Some(n))
            .await?
            .filter(|(got, _)| *got == n)
            .ok_or_else(|| Error::not_found(format!("version {n} of {p} does not exist")))?;
        Ok(VersionedSecret {
            version: version_id(n),
            value: to_value(&map)?,
        })
    }

    async fn op_read_pending(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
    ) -> Result<Option<VersionedSecret>> {
        let p = self.prepare(path).await?;
        Ok(match self.pending_map(&p, rotation_id).await? {
            Some(map) => Some(VersionedSecret {
                version: VersionId::new(format!("{PENDING}{rotation_id}")),
                value: to_value(&map)?,
            }),
            None => None,
        })
    }

    async fn op_stage(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
    ) -> Result<VersionId> {
        let p = self.check_path(path)?;
        self.check_size(value)?;
        let map = to_map(value)?;
        self.check_mount().await?;
        if self.read_meta(&p).await?.is_none() {
            return Err(self.missing(&p));
        }
        let id = VersionId::new(format!("{PENDING}{rotation_id}"));
        let staged = self.staged(&p, rotation_id.as_str());
        let body = json!({ "options": { "cas": 0 }, "data": map });
        match self
            .client
            .send("POST", &self.data(&staged), Some(&body), WRITE)
            .await
        {
            Ok(_) => {}
            // Already staged by this rotation: the first value wins.
            Err(e) if e.kind() == ErrorKind::Conflict => return Ok(id),
            Err(e) => return Err(e),
        }
        let marker = json!({ "custom_metadata": {
            "rotation_id": rotation_id.as_str(),
            "secret_path": p,
            "staged_at": chrono::Utc::now().to_rfc3339(),
        }});
        self.client
            .send("PATCH", &self.metadata(&staged), Some(&marker), PATCH)
            .await?;
        Ok(id)
    }

    async fn op_promote(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        expected_current: &VersionId,
    ) -> Result<VersionId> {
        let p = self.prepare(path).await?;
        let expected = number(expected_current)?;
        let staged = self.staged(&p, rotation_id.as_str());
        let meta = self.read_meta(&p).await?.ok_or_else(|| self.missing(&p))?;
        let Some(map) = self.pending_map(&p, rotation_id).await? else {
            if Self::current_rotation(&meta) == Some(rotation_id.as_str()) {
                return Ok(version_id(meta.current));
            }
            return Err(Error::not_found(format!(
                "no pending value for rotation {rotation_id}"
            )));
        };
        let note = Note {
            rotation_id: Some(rotation_id.to_string()),
            previous: Some(expected),
            restored_from: None,
        };
        // A retry after a write whose note or staging cleanup failed (or a crash between them):
        // the write already landed. Recognise it instead of failing the CAS a second time.
        let landed = if Self::current_rotation(&meta) == Some(rotation_id.as_str()) {
            true
        } else if meta.current == expected + 1 && !meta.notes.contains_key(&meta.current) {
            let now = self.read_data(&p, Some(meta.current)).await?;
            if now.as_ref().is_some_and(|(_, m)| *m == map) {
                self.note(&p, meta.current, &note, "promoted").await?;
                true
            } else {
                false
            }
        } else {
            false
        };
        let version = if landed {
            meta.current
        } else {
            self.write(&p, &map, expected, note, "promoted").await?
        };
        self.client
            .send("DELETE", &self.metadata(&staged), None, DELETE)
            .await?;
        Ok(version_id(version))
    }

    async fn op_discard_pending(&self, path: &SecretPath, rotation_id: &RotationId) -> Result<()> {
        let p = self.prepare(path).await?;
        self.client
            .send(
                "DELETE",
                &self.metadata(&self.staged(&p, rotation_id.as_str())),
                None,
                DELETE,
            )
            .await?;
        Ok(())
    }

    async fn op_write_current(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
        expected_current: Option<&VersionId>,
    ) -> Result<VersionId> {
        let p = self.check_path(path)?;
        self.check_size(value)?;
        let map = to_map(value)?;
        self.check_mount().await?;
        match expected_current {
            // Creation: nothing to undo, one create-only write.
            None => {
                if let Some(meta) = self.read_meta(&p).await?
                    && Self::current_rotation(&meta) == Some(rotation_id.as_str())
                {
                    return Ok(version_id(meta.current));
                }
                let note = Note {
                    rotation_id: Some(rotation_id.to_string()),
                    previous: None,
                    restored_from: None,
                };
                Ok(version_id(self.write(&p, &map, 0, note, "written").await?))
            }
            // Through the staging path, so that a crash between the write and its note is
            // recognisable by the staged copy (see `list_versions`) and a retry is idempotent.
            Some(expected) => {
                self.op_stage(path, rotation_id, value).await?;
                self.op_promote(path, rotation_id, expected).await
            }
        }
    }

    async fn op_restore(
        &self,
        path: &SecretPath,
        version: &VersionId,
        expected_current: &VersionId,
    ) -> Result<VersionId> {
        let p = self.prepare(path).await?;
        let from = number(version)?;
        let meta = self.read_meta(&p).await?.ok_or_else(|| self.missing(&p))?;
        let restored = meta.notes.get(&meta.current).and_then(|n| n.restored_from);
        if meta.current == from || restored == Some(from) {
            return Ok(version_id(meta.current));
        }
        let (_, map) = self
            .read_data(&p, Some(from))
            .await?
            .ok_or_else(|| Error::not_found(format!("version {from} of {p} does not exist")))?;
        let previous = Self::previous_of(&meta, from)
            .or_else(|| meta.notes.get(&from).and_then(|n| n.previous));
        let note = Note {
            rotation_id: None,
            previous,
            restored_from: Some(from),
        };
        let version = self
            .write(&p, &map, number(expected_current)?, note, "restored")
            .await?;
        Ok(version_id(version))
    }

    async fn op_list_versions(&self, path: &SecretPath) -> Result<Vec<VersionInfo>> {
        let p = self.prepare(path).await?;
        let meta = self.read_meta(&p).await?.ok_or_else(|| self.missing(&p))?;
        let previous = Self::previous_of(&meta, meta.current);
        let mut out: Vec<VersionInfo> = meta
            .versions
            .iter()
            .rev()
            .map(|(n, (created, _))| VersionInfo {
                version: version_id(*n),
                state: if *n == meta.current {
                    VersionState::Current
                } else if Some(*n) == previous {
                    VersionState::Previous
                } else {
                    VersionState::Deprecated
                },
                created_at: *created,
                rotation_id: meta
                    .notes
                    .get(n)
                    .and_then(|note| note.rotation_id.as_deref())
                    .and_then(|r| RotationId::parse(r).ok()),
            })
            .collect();
        let pending = self.pending_ids(&p).await?;
        // A crash between a promote's data write and its note leaves a current version without
        // a note while the staged copy still exists: identical data means it is that rotation's.
        if !meta.notes.contains_key(&meta.current) && !pending.is_empty() {
            let current = self
                .read_data(&p, Some(meta.current))
                .await?
                .map(|(_, m)| m);
            for rid in &pending {
                let Ok(parsed) = RotationId::parse(rid) else {
                    continue;
                };
                if current.is_some() && self.pending_map(&p, &parsed).await? == current {
                    if let Some(info) = out.iter_mut().find(|i| i.state == VersionState::Current) {
                        info.rotation_id = Some(parsed);
                    }
                    break;
                }
            }
        }
        for rid in pending {
            let Ok(rid) = RotationId::parse(&rid) else {
                continue;
            };
            out.insert(
                0,
                VersionInfo {
                    version: VersionId::new(format!("{PENDING}{rid}")),
                    state: VersionState::Pending,
                    created_at: None,
                    rotation_id: Some(rid),
                },
            );
        }
        Ok(out)
    }
}

#[async_trait]
impl SecretStore for VaultStore {
    fn kind(&self) -> &'static str {
        "vault"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            binary: false,
            max_value_bytes: self.max_value_bytes,
            json_objects: true,
            single_pending: false,
        }
    }

    async fn read_current(&self, path: &SecretPath) -> Result<VersionedSecret> {
        let r = self.op_read_current(path).await;
        r.map_err(self.at("read current value", path))
    }

    async fn read_previous(&self, path: &SecretPath) -> Result<Option<VersionedSecret>> {
        let r = self.op_read_previous(path).await;
        r.map_err(self.at("read previous value", path))
    }

    async fn read_version(
        &self,
        path: &SecretPath,
        version: &VersionId,
    ) -> Result<VersionedSecret> {
        let r = self.op_read_version(path, version).await;
        r.map_err(self.at(&format!("read version {version}"), path))
    }

    async fn read_pending(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
    ) -> Result<Option<VersionedSecret>> {
        let r = self.op_read_pending(path, rotation_id).await;
        r.map_err(self.at("read pending value", path))
    }

    async fn stage(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
    ) -> Result<VersionId> {
        let r = self.op_stage(path, rotation_id, value).await;
        r.map_err(self.at("stage", path))
    }

    async fn promote(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        expected_current: &VersionId,
    ) -> Result<VersionId> {
        let r = self.op_promote(path, rotation_id, expected_current).await;
        r.map_err(self.at("promote", path))
    }

    async fn discard_pending(&self, path: &SecretPath, rotation_id: &RotationId) -> Result<()> {
        let r = self.op_discard_pending(path, rotation_id).await;
        r.map_err(self.at("discard pending value", path))
    }

    async fn write_current(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
        expected_current: Option<&VersionId>,
    ) -> Result<VersionId> {
        let r = self
            .op_write_current(path, rotation_id, value, expected_current)
            .await;
        r.map_err(self.at("write", path))
    }

    async fn restore(
        &self,
        path: &SecretPath,
        version: &VersionId,
        expected_current: &VersionId,
    ) -> Result<VersionId> {
        let r = self.op_restore(path, version, expected_current).await;
        r.map_err(self.at(&format!("restore version {version}"), path))
    }

    async fn list_versions(&self, path: &SecretPath) -> Result<Vec<VersionInfo>> {
        let r = self.op_list_versions(path).await;
        r.map_err(self.at("list versions", path))
    }
}
