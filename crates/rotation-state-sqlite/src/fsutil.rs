//! Creating the database location with private modes: missing parent directories 0700 and the
//! database file 0600 (SQLite gives its `-wal` and `-shm` files the database file's mode).
//! Existing directories and files are left as they are.

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Mode of a database file this crate creates.
const FILE_MODE: u32 = 0o600;
/// Mode of a directory this crate creates.
const DIR_MODE: u32 = 0o700;

/// Create the missing parents of `db` (0700) and `db` itself if missing (0600, empty).
pub(crate) fn prepare(db: &Path) -> io::Result<()> {
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(parent)?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(db)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn creates_private_dirs_and_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("a/b/state.db");
        prepare(&db).expect("prepare");
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);
        assert_eq!(mode(&db), 0o600);
        std::fs::write(&db, b"kept").expect("write");
        prepare(&db).expect("prepare again");
        assert_eq!(std::fs::read(&db).expect("read"), b"kept");
    }
}
