//! Blocking file-system helpers: explicit modes (files 0600, directories 0700), atomic replace
//! (tmp + fsync + rename + directory fsync), the private-directory check and io error mapping.

use std::ffi::OsString;
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rotation_core::{Error, ErrorKind};

/// Mode of every file the crate creates.
pub(crate) const FILE_MODE: u32 = 0o600;
/// Mode of every directory the crate creates.
pub(crate) const DIR_MODE: u32 = 0o700;

/// An `Io` error naming the operation (the caller adds the secret or log path).
pub(crate) fn io_err(op: impl std::fmt::Display, err: io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("{op}: {err}"))
}

/// Open options that create files with mode 0600.
pub(crate) fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(FILE_MODE);
    o
}

/// `path` with `suffix` appended to its file name (`log.jsonl` -> `log.jsonl.lock`).
pub(crate) fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Create one directory with mode 0700; `Ok(true)` if it was created, `Ok(false)` if it exists.
pub(crate) fn create_dir(path: &Path) -> io::Result<bool> {
    match DirBuilder::new().mode(DIR_MODE).create(path) {
        Ok(()) => {
            fs::set_permissions(path, Permissions::from_mode(DIR_MODE))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Create `path` and missing parents, each with mode 0700 (existing ones are left alone).
pub(crate) fn create_dir_all(path: &Path) -> io::Result<()> {
    if path.as_os_str().is_empty() || path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        create_dir_all(parent)?;
    }
    create_dir(path).map(drop)
}

/// Why the entry `meta` describes (from [`fs::symlink_metadata`], so a symlink is seen as one) is
/// not a directory that only its owner can change, or `None` if it is one. The reason completes
/// a sentence that starts with the path: `<path> is world-writable (mode 0777): chmod 700 it`.
pub(crate) fn not_private_dir(meta: &fs::Metadata) -> Option<String> {
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Some("is a symlink; the file store follows no symlink below its root".to_owned());
    }
    if !kind.is_dir() {
        return Some("is not a directory".to_owned());
    }
    let mode = meta.permissions().mode() & 0o7777;
    let who = if mode & 0o002 != 0 {
        "world-writable"
    } else if mode & 0o020 != 0 {
        "group-writable"
    } else {
        return None;
    };
    Some(format!("is {who} (mode {mode:04o}): chmod 700 it"))
}

/// Flush a directory's entries (renames, creations) to disk.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replace `target` atomically: write `<target>.tmp` (0600), fsync it, rename it over `target`,
/// fsync the directory. A leftover tmp file from a crash is simply overwritten.
pub(crate) fn write_atomic(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = sidecar(target, ".tmp");
    let mut file = options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    file.set_permissions(Permissions::from_mode(FILE_MODE))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, target)?;
    sync_dir(parent_dir(target))
}
