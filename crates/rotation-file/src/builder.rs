//! [`FileStoreBuilder`]: configuration and root-directory checks for a [`FileStore`].

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rotation_core::{Error, Result};

use crate::fsutil::{create_dir_all, not_private_dir, options};
use crate::store::{DEFAULT_MAX_VERSIONS, FileStore};

/// Builds a [`FileStore`]; obtained from [`FileStore::builder`].
#[derive(Debug, Clone)]
pub struct FileStoreBuilder {
    root: PathBuf,
    max_versions: usize,
    read_only: bool,
}

impl FileStoreBuilder {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self {
            root,
            max_versions: DEFAULT_MAX_VERSIONS,
            read_only: false,
        }
    }

    /// Open for reading only: a missing root is `NotFound` instead of being created, and no
    /// write probe is made (for status and history views, which must change nothing).
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Committed versions kept per secret (default 10, at least 2: current and previous).
    /// Older ones are pruned when a new version becomes current.
    pub fn max_versions(mut self, max_versions: usize) -> Self {
        self.max_versions = max_versions;
        self
    }

    /// Check the configuration, create the root directory (0700) if missing, resolve it once
    /// (a root given through a symlink is the user's choice and is followed here, and only here)
    /// and check that it is a writable directory that neither group nor others may write to.
    /// Errors are [`ErrorKind::InvalidConfig`] naming the field; a read-only store whose root
    /// is missing is `NotFound`.
    ///
    /// [`ErrorKind::InvalidConfig`]: rotation_core::ErrorKind::InvalidConfig
    pub fn build(self) -> Result<FileStore> {
        if self.max_versions < 2 {
            return Err(Error::config(
                "max_versions",
                format!("must be at least 2, got {}", self.max_versions),
            ));
        }
        let root = &self.root;
        let bad = |why: String| Error::config("root", format!("{}: {why}", root.display()));
        if root.as_os_str().is_empty() {
            return Err(Error::config("root", "must not be empty"));
        }
        match fs::metadata(root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(bad("not a directory".to_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.read_only => {
                return Err(Error::not_found(format!(
                    "file store root {} does not exist",
                    root.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                create_dir_all(root).map_err(|e| bad(format!("cannot create it: {e}")))?;
            }
            Err(e) => return Err(bad(format!("cannot access it: {e}"))),
        }
        let root = fs::canonicalize(root).map_err(|e| bad(format!("cannot resolve it: {e}")))?;
        check_root(&root)?;
        if !self.read_only {
            probe_writable(&root).map_err(|e| bad(format!("not writable: {e}")))?;
        }
        Ok(FileStore::from_parts(root, self.max_versions))
    }
}

/// Refuse a root that is not a real directory or that group or others may write to: they could
/// replace a secret directory with a symlink or read the values through one. Called at build
/// and, as the mode may change later, before every access ([`crate::dir::SecretDir`]).
pub(crate) fn check_root(root: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(root).map_err(|e| {
        Error::config(
            "root",
            format!("cannot access file store root {}: {e}", root.display()),
        )
    })?;
    match not_private_dir(&meta) {
        None => Ok(()),
        Some(why) => Err(Error::config(
            "root",
            format!("file store root {} {why}", root.display()),
        )),
    }
}

/// Create and delete a probe file. Its name starts with `.`, which no encoded secret path does.
fn probe_writable(root: &Path) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let probe = root.join(format!(".probe-{}-{n}", std::process::id()));
    options().write(true).create_new(true).open(&probe)?;
    fs::remove_file(&probe)
}
