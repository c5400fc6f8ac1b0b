//! [`SqliteStateStore`]: opening the database and running blocking calls off the async runtime.
//!
//! One read-write connection per store, behind a `std::sync::Mutex`, plus (for files) a
//! read-only connection for queries, so reads are not queued behind a write's fsync (WAL lets a
//! reader proceed while the writer commits); every call runs in `tokio::task::spawn_blocking`.
//! Several stores (in one process or many) may share a file.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rotation_core::{Error, ErrorKind, Result, ScheduleRecord};
use rusqlite::{Connection, OpenFlags};

use crate::error::{DbResult, Failure, kind_of, to_error};
use crate::{fsutil, schedules, schema};

/// A [`StateStore`](rotation_core::StateStore) in a SQLite database file.
///
/// Cloning is cheap and shares the connection.
#[derive(Clone)]
pub struct SqliteStateStore {
    shared: Arc<Shared>,
}

struct Shared {
    conn: Mutex<Connection>,
    /// Read-only connection of a file database (`None` in memory: a second connection would
    /// see another database).
    reader: Option<Mutex<Connection>>,
    path: String,
}

impl fmt::Debug for SqliteStateStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStateStore")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStateStore {
    /// Open (creating if needed) the database at `path` and bring its schema up to date.
    ///
    /// Missing parent directories are created with mode 0700 and a new database file with mode
    /// 0600. Blocks: call it before starting work or from `spawn_blocking`.
    ///
    /// # Errors
    /// `Io` if the location cannot be created or opened, `Temporary` if another process keeps
    /// the database locked longer than the busy timeout, `NotSupported` if the schema is newer
    /// than this build.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        fsutil::prepare(path).map_err(|e| {
            Error::new(ErrorKind::Io, format!("create state database {shown}: {e}"))
        })?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let store = Self::init(Connection::open_with_flags(path, flags), true, shown)?;
        // Opened after the schema is in place.
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| {
            c.busy_timeout(std::time::Duration::from_secs(5))
                .map(|()| c)
        })
        .map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("open state database {} for reading: {e}", store.shared.path),
            )
        })?;
        let shared = Arc::into_inner(store.shared).expect("not shared yet");
        Ok(Self {
            shared: Arc::new(Shared {
                reader: Some(Mutex::new(reader)),
                ..shared
            }),
        })
    }

    /// A private in-memory database (tests): same schema and behaviour, nothing persisted.
    ///
    /// # Errors
    /// `Internal` if SQLite cannot create it.
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory(), false, ":memory:".to_owned())
    }

    fn init(conn: rusqlite::Result<Connection>, file: bool, path: String) -> Result<Self> {
        let setup = |conn: rusqlite::Result<Connection>| -> DbResult<Connection> {
            let mut conn = conn?;
            // Several processes opening a new file at once: switching it to WAL (and the first
            // migration) can answer BUSY at once, without waiting in the busy handler.
            let start = std::time::Instant::now();
            loop {
                let done = schema::configure(&conn, file).and_then(|()| schema::migrate(&mut conn));
                match done {
                    Err(Failure::Sql(e))
                        if kind_of(&e) == ErrorKind::Temporary
                            && start.elapsed() < schema::BUSY_TIMEOUT =>
                    {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    other => return other.map(|()| conn),
                }
            }
        };
        let conn = setup(conn).map_err(|f| match f {
            Failure::Core(e) => e.context(format!("open state database {path}")),
            f => to_error(f, "open", &path),
        })?;
        Ok(Self {
            shared: Arc::new(Shared {
                conn: Mutex::new(conn),
                reader: None,
                path,
            }),
        })
    }

    /// The database path as shown in error messages (`:memory:` for an in-memory database).
    pub fn path(&self) -> &str {
        &self.shared.path
    }

    /// Insert or replace many schedules in one transaction with one prepared statement (for
    /// large imports and benchmarks). Blocks: call it outside the async runtime or from
    /// `spawn_blocking`.
    ///
    /// # Errors
    /// As [`StateStore::put_schedule`](rotation_core::StateStore::put_schedule); on error
    /// nothing is written.
    pub fn bulk_insert_schedules(&self, records: &[ScheduleRecord]) -> Result<()> {
        let mut conn = lock(&self.shared.conn);
        schedules::put_many(&mut conn, records)
            .map_err(|f| to_error(f, "bulk insert schedules", &self.shared.path))
    }

    /// Run `f` with the connection on the blocking pool; errors name `op` and the path.
    pub(crate) async fn run<T, F>(&self, op: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> DbResult<T> + Send + 'static,
    {
        self.on(false, op, f).await
    }

    /// Like [`Self::run`] for a query that writes nothing: on the read-only connection.
    pub(crate) async fn read<T, F>(&self, op: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> DbResult<T> + Send + 'static,
    {
        self.on(true, op, f).await
    }

    async fn on<T, F>(&self, read_only: bool, op: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> DbResult<T> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        let joined = tokio::task::spawn_blocking(move || {
            let conn = match (&shared.reader, read_only) {
                (Some(reader), true) => reader,
                _ => &shared.conn,
            };
            let mut conn = lock(conn);
            f(&mut conn).map_err(|failure| to_error(failure, op, &shared.path))
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(e) => Err(Error::internal(format!(
                "{op} in state database {}: worker task failed: {e}",
                self.shared.path
            ))),
        }
    }
}

/// Lock the connection; a panic in another call leaves no open transaction (rusqlite rolls
/// back on drop), so a poisoned lock is still usable.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The connection of a store, for white-box tests.
    pub(crate) fn with_conn<T>(store: &SqliteStateStore, f: impl FnOnce(&Connection) -> T) -> T {
        f(&lock(&store.shared.conn))
    }
}
