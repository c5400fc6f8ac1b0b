//! One secret's directory: its lock, its index (`index.json`) and its value files (`v/<n>`).
//! Blocking I/O only; [`crate::store`] calls these from tokio's blocking pool. Every access
//! first checks that the root, the secret directory and `v/` are real directories only their
//! owner may write to ([`SecretDir::check`]), so nothing is read or written through a symlink.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use rotation_core::book::{VersionBook, version_id};
use rotation_core::{Error, ErrorKind, Result, SecretPath, SecretValue, VersionedSecret};

use crate::builder::check_root;
use crate::encode::encode_path;
use crate::fsutil::{create_dir, io_err, not_private_dir, options, sync_dir, write_atomic};

/// Name of the index file inside a secret directory.
pub(crate) const INDEX: &str = "index.json";
/// Name of the lock file inside a secret directory.
pub(crate) const LOCK: &str = "lock";
/// Name of the value directory inside a secret directory.
pub(crate) const VALUES: &str = "v";

/// How [`SecretDir::open`] locks.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LockMode {
    /// Readers.
    Shared,
    /// Read-modify-write.
    Exclusive,
}

/// A held lock on a secret directory, or none if the directory does not exist.
/// Dropping it releases the lock.
pub(crate) type Guard = Option<File>;

/// The directory of one secret.
#[derive(Debug, Clone)]
pub(crate) struct SecretDir {
    root: PathBuf,
    dir: PathBuf,
}

impl SecretDir {
    /// The directory of `path` under `root` (nothing is touched on disk).
    pub(crate) fn new(root: &Path, path: &SecretPath) -> Result<Self> {
        Ok(Self {
            root: root.to_path_buf(),
            dir: root.join(encode_path(path)?),
        })
    }

    /// Refuse to go on unless the root, the secret directory and its value directory (those
    /// that exist) are real directories, not symlinks, that neither group nor others may write
    /// to. Errors are `InvalidConfig`: the directory must be fixed by hand, retrying is useless.
    pub(crate) fn check(&self) -> Result<()> {
        check_root(&self.root)?;
        for (what, dir) in [
            ("secret directory", self.dir.clone()),
            ("value directory", self.dir.join(VALUES)),
        ] {
            let meta = match fs::symlink_metadata(&dir) {
                Ok(meta) => meta,
                // A missing secret directory means a missing secret; a missing `v/` is
                // created by `create` (a crash between the two mkdirs leaves that).
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_err(format!("inspect {}", dir.display()), e)),
            };
            if let Some(why) = not_private_dir(&meta) {
                return Err(Error::new(
                    ErrorKind::InvalidConfig,
                    format!("{what} {} {why}", dir.display()),
                ));
            }
        }
        Ok(())
    }

    /// Create the directory and its value directory if missing (0700), durably.
    pub(crate) fn create(&self) -> Result<()> {
        self.check()?;
        let op = |e| io_err("create secret directory", e);
        if create_dir(&self.dir).map_err(op)? {
            sync_dir(&self.root).map_err(op)?;
        }
        if create_dir(&self.dir.join(VALUES)).map_err(op)? {
            sync_dir(&self.dir).map_err(op)?;
        }
        Ok(())
    }

    /// Lock the directory and load its book. A missing directory yields no guard and an empty
    /// book (the secret does not exist); nothing is created then.
    pub(crate) fn open(&self, mode: LockMode) -> Result<(Guard, VersionBook)> {
        self.check()?;
        let lock = options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.dir.join(LOCK));
        let lock = match lock {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok((None, VersionBook::default()));
            }
            Err(e) => return Err(io_err("open lock file", e)),
        };
        match mode {
            LockMode::Shared => lock.lock_shared(),
            LockMode::Exclusive => lock.lock(),
        }
        .map_err(|e| io_err("lock secret directory", e))?;
        let book = self.load()?;
        Ok((Some(lock), book))
    }

    fn load(&self) -> Result<VersionBook> {
        let file = self.dir.join(INDEX);
        match fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::internal(format!("corrupt index file {}: {e}", file.display()))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(VersionBook::default()),
            Err(e) => Err(io_err(format!("read {INDEX}"), e)),
        }
    }

    /// Persist `book` atomically. Call only while holding the exclusive lock.
    pub(crate) fn save(&self, book: &VersionBook) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(book)
            .map_err(|e| Error::internal(format!("serialize {INDEX}: {e}")))?;
        write_atomic(&self.dir.join(INDEX), &bytes).map_err(|e| io_err(format!("write {INDEX}"), e))
    }

    fn value_path(&self, n: u64) -> PathBuf {
        self.dir.join(VALUES).join(n.to_string())
    }

    /// The value of version `n`, which the book names.
    pub(crate) fn read_value(&self, n: u64) -> Result<VersionedSecret> {
        match fs::read(self.value_path(n)) {
            Ok(bytes) => Ok(VersionedSecret {
                version: version_id(n),
                value: SecretValue::new(bytes),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::internal(format!(
                "{INDEX} names version {n} but its value file {VALUES}/{n} is missing"
            ))),
            Err(e) => Err(io_err(format!("read value file {VALUES}/{n}"), e)),
        }
    }

    /// Write the value of version `n` durably (before the index that names it is saved).
    pub(crate) fn write_value(&self, n: u64, value: &SecretValue) -> Result<()> {
        write_atomic(&self.value_path(n), value.expose())
            .map_err(|e| io_err(format!("write value file {VALUES}/{n}"), e))
    }

    /// Delete value files no longer named by the (already saved) index. Failures only leave
    /// harmless orphans, so they are logged, not returned.
    pub(crate) fn remove_values(&self, versions: &[u64]) {
        for n in versions {
            match fs::remove_file(self.value_path(*n)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(
                    dir = %self.dir.display(),
                    version = n,
                    error = %e,
                    "file store: could not delete an unreferenced value file"
                ),
            }
        }
    }
}
