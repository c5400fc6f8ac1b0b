//! [`FileStore`]: a versioned secret store on the local file system.
//!
//! # Layout
//! ```text
//! <root>/                          0700, created by FileStoreBuilder::build (an existing
//!                                        root must not be group- or world-writable)
//!   <encoded-path>/                0700, one directory per secret (never a symlink)
//!     lock                         0600, flock()ed: exclusive for writes, shared for reads
//!     index.json                   0600, the serialized VersionBook (current, previous,
//!                                        pending per rotation id, metadata per version)
//!     index.json.tmp               transient, ignored (left over only by a crash)
//!     v/                           0700
//!       <n>                        0600, the raw value bytes of version n
//!       <n>.tmp                    transient, ignored
//! ```
//! `<encoded-path>` is the secret path as one directory name: bytes in `[A-Za-z0-9._-]` are
//! kept, every other byte and a leading `.` become `%XX` (`demo/api-key` -> `demo%2Fapi-key`).
//! Paths must be 1 to [`MAX_PATH_BYTES`] bytes and encode to at most 255 bytes (`NAME_MAX`).
//! Pending versions are ordinary value files whose numbers are in the book's `pending` map.
//!
//! # Permissions and symlinks
//! The configured root is resolved once by [`FileStoreBuilder::build`] (a root given through a
//! symlink is followed there, and only there). Below it, nothing is followed: before every
//! operation the root, the secret directory and its `v/` must be real directories (checked
//! with `symlink_metadata`, so a symlink is seen as one) that neither group nor others may
//! write to (`mode & 0o022 == 0`). Otherwise the operation fails with
//! [`ErrorKind::InvalidConfig`](rotation_core::ErrorKind::InvalidConfig) naming the directory
//! and its mode (or saying it is a symlink) before anything is opened or created, so no lock,
//! index or value file is read or written through it. The files inside are not checked one by
//! one: only the owner of these directories (and root) can create entries in them.
//!
//! # Concurrency and crash safety
//! Every operation holds the secret's `lock` for its whole read-modify-write, so the
//! compare-and-swap rules of [`VersionBook`] hold across threads and processes. Files are
//! replaced atomically (write tmp, fsync, rename, fsync directory). A new value file is durable
//! before the index naming it is renamed into place, and pruned or discarded value files are
//! deleted only after the new index is durable, so a crash leaves the old or the new current
//! value readable. Value files not named by the index (orphans of a crash) are ignored and
//! overwritten if their number is allocated again.

use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::Utc;
use rotation_core::book::{Staged, VersionBook, version_id};
use rotation_core::{
    Capabilities, Error, Result, RotationId, SecretPath, SecretStore, SecretValue, VersionId,
    VersionInfo, VersionedSecret,
};

use crate::builder::FileStoreBuilder;
use crate::dir::{LockMode, SecretDir};

/// Versions kept per secret unless configured otherwise.
pub const DEFAULT_MAX_VERSIONS: usize = 10;
/// Largest value the store accepts, in bytes (1 MiB).
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Longest secret path the store accepts, in bytes.
pub const MAX_PATH_BYTES: usize = 512;

/// A [`SecretStore`] keeping each secret in its own directory under a root (see the module
/// documentation for the layout). Cheap to clone; clones share nothing but the root path.
#[derive(Clone)]
pub struct FileStore {
    root: PathBuf,
    max_versions: usize,
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("root", &self.root)
            .field("max_versions", &self.max_versions)
            .finish()
    }
}

impl FileStore {
    /// A builder for a store rooted at `root`.
    pub fn builder(root: impl Into<PathBuf>) -> FileStoreBuilder {
        FileStoreBuilder::new(root.into())
    }

    /// Called by [`FileStoreBuilder::build`] once the root is checked.
    pub(crate) fn from_parts(root: PathBuf, max_versions: usize) -> Self {
        Self { root, max_versions }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Versions kept per secret.
    pub fn max_versions(&self) -> usize {
        self.max_versions
    }

    /// Run `f` on the secret's directory on the blocking pool; errors get the path as context.
    async fn run<T, F>(&self, path: &SecretPath, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(SecretDir, usize) -> Result<T> + Send + 'static,
    {
        let context = format!("file store: secret {path}");
        let dir = SecretDir::new(&self.root, path).map_err(|e| e.context(&context))?;
        let max = self.max_versions;
        tokio::task::spawn_blocking(move || f(dir, max))
            .await
            .map_err(|e| Error::internal(format!("file store task failed: {e}")))?
            .map_err(|e| e.context(&context))
    }

    /// A read-modify-write under the exclusive lock: `f` changes the book and returns the value
    /// version to write first (if any), the versions to delete afterwards and the result. The
    /// book is saved only if it changed.
    async fn update<T, F>(&self, path: &SecretPath, value: Option<SecretValue>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut VersionBook, usize) -> Result<Change<T>> + Send + 'static,
    {
        if let Some(v) = &value {
            check_size(v)?;
        }
        self.run(path, move |dir, max| {
            let (guard, mut book) = dir.open(LockMode::Exclusive)?;
            let before = book.clone();
            let change = f(&mut book, max)?;
            if guard.is_none() && (book != before || change.write.is_some()) {
                // The directory vanished under us (removed by hand): write nothing.
                return Err(Error::not_found("secret directory does not exist"));
            }
            if let (Some(n), Some(v)) = (change.write, &value) {
                dir.write_value(n, v)?;
            }
            if book != before {
                dir.save(&book)?;
            }
            dir.remove_values(&change.delete);
            Ok(change.out)
        })
        .await
    }

    /// A read under the shared lock.
    async fn read<T, F>(&self, path: &SecretPath, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&SecretDir, &VersionBook) -> Result<T> + Send + 'static,
    {
        self.run(path, move |dir, _| {
            let (_guard, book) = dir.open(LockMode::Shared)?;
            f(&dir, &book)
        })
        .await
    }
}

/// What an update did to the book.
struct Change<T> {
    /// Version whose value file must be written before the book is saved.
    write: Option<u64>,
    /// Versions whose value files are deleted after the book is saved.
    delete: Vec<u64>,
    /// The operation's result.
    out: T,
}

impl<T> Change<T> {
    fn only(out: T) -> Self {
        Self {
            write: None,
            delete: Vec::new(),
            out,
        }
    }
}

fn check_size(value: &SecretValue) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::invalid_value(format!(
            "file store: value is {} bytes, at most {MAX_VALUE_BYTES} are allowed",
            value.len()
        )));
    }
    Ok(())
}

#[async_trait]
impl SecretStore for FileStore {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            binary: true,
            max_value_bytes: MAX_VALUE_BYTES,
            json_objects: false,
            single_pending: false,
        }
    }

    async fn read_current(&self, path: &SecretPath) -> Result<VersionedSecret> {
        self.read(path, |dir, book| dir.read_value(book.current()?))
            .await
    }

    async fn read_previous(&self, path: &SecretPath) -> Result<Option<VersionedSecret>> {
        self.read(path, |dir, book| {
            book.current()?;
            book.previous.map(|n| dir.read_value(n)).transpose()
        })
        .await
    }

    async fn read_version(
        &self,
        path: &SecretPath,
        version: &VersionId,
    ) -> Result<VersionedSecret> {
        let version = version.clone();
        self.read(path, move |dir, book| {
            dir.read_value(book.lookup(&version)?)
        })
        .await
    }

    async fn read_pending(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
    ) -> Result<Option<VersionedSecret>> {
        let id = rotation_id.clone();
        self.read(path, move |dir, book| {
            book.pending
                .get(&id)
                .map(|n| dir.read_value(*n))
                .transpose()
        })
        .await
    }

    async fn stage(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
    ) -> Result<VersionId> {
        let id = rotation_id.clone();
        self.update(path, Some(value.clone()), move |book, _| {
            Ok(match book.stage(&id, Utc::now())? {
                Staged::Existing(n) => Change::only(version_id(n)),
                Staged::New(n) => Change {
                    write: Some(n),
                    delete: Vec::new(),
                    out: version_id(n),
                },
            })
        })
        .await
    }

    async fn promote(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        expected_current: &VersionId,
    ) -> Result<VersionId> {
        let (id, expected) = (rotation_id.clone(), expected_current.clone());
        self.update(path, None, move |book, max| {
            let switch = book.promote(&id, &expected, max)?;
            Ok(Change {
                write: None,
                delete: switch.pruned,
                out: version_id(switch.version),
            })
        })
        .await
    }

    async fn discard_pending(&self, path: &SecretPath, rotation_id: &RotationId) -> Result<()> {
        let id = rotation_id.clone();
        self.update(path, None, move |book, _| {
            Ok(Change {
                write: None,
                delete: book.discard(&id).into_iter().collect(),
                out: (),
            })
        })
        .await
    }

    async fn write_current(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
        expected_current: Option<&VersionId>,
    ) -> Result<VersionId> {
        check_size(value)?;
        if expected_current.is_none() {
            self.run(path, |dir, _| dir.create()).await?;
        }
        let (id, expected) = (rotation_id.clone(), expected_current.cloned());
        self.update(path, Some(value.clone()), move |book, max| {
            let switch = book.write_current(&id, expected.as_ref(), Utc::now(), max)?;
            Ok(Change {
                write: Some(switch.version),
                delete: switch.pruned,
                out: version_id(switch.version),
            })
        })
        .await
    }

    async fn restore(
        &self,
        path: &SecretPath,
        version: &VersionId,
        expected_current: &VersionId,
    ) -> Result<VersionId> {
        let (version, expected) = (version.clone(), expected_current.clone());
        self.update(path, None, move |book, max| {
            let switch = book.restore(&version, &expected, max)?;
            Ok(Change {
                write: None,
                delete: switch.pruned,
                out: version_id(switch.version),
            })
        })
        .await
    }

    async fn list_versions(&self, path: &SecretPath) -> Result<Vec<VersionInfo>> {
        self.read(path, |_, book| {
            book.current()?;
            Ok(book.list())
        })
        .await
    }
}

#[cfg(test)]
mod tests;
