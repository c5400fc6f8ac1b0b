//! [`JsonlAuditSink`]: a hash-chained JSON-lines audit log (see [`rotation_core::audit`]).
//!
//! # Files
//! - `<path>`: the log, one chained record per line (0600).
//! - `<path>.head`: the [`ChainHead`] of the last record, as JSON (0600, replaced atomically
//!   after each append). It catches lines cut off the end of the log.
//! - `<path>.lock`: flock()ed exclusively by appenders and shared by [`JsonlAuditSink::verify_path`],
//!   so any number of threads and processes may append to one log.
//!
//! An append locks, reconciles the head file with the log's last line, appends the new line,
//! fsyncs the log, then writes the new head. A crash between the fsync and the head write
//! leaves the log one record ahead of the head file; the next append (and `verify`) accept that
//! record because it links to the stored head. A crash in the middle of a write leaves a partial
//! last line (no newline): that record was never acknowledged, so `verify` skips it and the next
//! append cuts it off. Any other disagreement between the log and its head file (lines removed,
//! an emptied log) makes appends fail rather than hide it.
//!
//! A broken chain is mended only by an operator: [`AuditSink::repair`] appends one
//! `chain_repaired` record naming every break (line, kind, expected and found hashes, the
//! SHA-256 of the line as found) and chains it to the last line as it is; the head file is
//! rewritten after it. Verification then skips exactly those lines, as they are, and reports
//! the repair.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rotation_core::audit::{ChainHead, chain_line, scan_chain};
use rotation_core::{
    AuditAction, AuditEvent, AuditSink, BreakKind, ChainBreak, ChainReport, Error, Repair, Result,
};
use serde::Deserialize;

use crate::fsutil::{create_dir_all, io_err, options, parent_dir, sidecar, sync_dir, write_atomic};

/// An [`AuditSink`] appending hash-chained JSON lines to a file.
#[derive(Debug, Clone)]
pub struct JsonlAuditSink {
    files: Files,
}

#[derive(Debug, Clone)]
struct Files {
    log: PathBuf,
    head: PathBuf,
    lock: PathBuf,
}

impl Files {
    fn new(log: &Path) -> Self {
        Self {
            log: log.to_path_buf(),
            head: sidecar(log, ".head"),
            lock: sidecar(log, ".lock"),
        }
    }

    fn err(&self, op: &str, e: io::Error) -> Error {
        io_err(op, e).context(format!("audit log {}", self.log.display()))
    }

    fn lock(&self, exclusive: bool) -> Result<File> {
        let file = options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.lock)
            .map_err(|e| self.err("open lock file", e))?;
        if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        }
        .map_err(|e| self.err("lock", e))?;
        Ok(file)
    }

    /// The stored head, `None` if there is no head file.
    fn read_head(&self) -> Result<Option<ChainHead>> {
        match fs::read(&self.head) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::internal(format!(
                    "corrupt audit head file {}: {e}",
                    self.head.display()
                ))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err("read head file", e)),
        }
    }
}

impl JsonlAuditSink {
    /// Open (create if missing, 0600) the log at `path`; a missing parent directory is created
    /// with mode 0700. Existing records are kept.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let files = Files::new(&path.into());
        let dir = parent_dir(&files.log);
        create_dir_all(dir).map_err(|e| files.err("create directory", e))?;
        let created = !files.log.exists();
        options()
            .append(true)
            .create(true)
            .open(&files.log)
            .map_err(|e| files.err("open", e))?;
        if created {
            sync_dir(dir).map_err(|e| files.err("sync directory", e))?;
        }
        Ok(Self { files })
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.files.log
    }

    /// Verify the whole chain of the log at `path` against its head file and return its
    /// events. A missing or empty log is `Ok(vec![])`; a broken chain is
    /// [`ErrorKind::InvalidValue`](rotation_core::ErrorKind::InvalidValue) naming the first bad
    /// line no repair acknowledged.
    pub fn verify_path(path: impl AsRef<Path>) -> Result<Vec<AuditEvent>> {
        let log = path.as_ref().to_path_buf();
        Self::inspect_path(path)?
            .into_result()
            .map_err(|e| e.context(format!("audit log {}", log.display())))
    }

    /// Check the whole chain of the log at `path` against its head file: what was read, the
    /// repairs recorded, and every break not acknowledged. A missing log is an empty report.
    pub fn inspect_path(path: impl AsRef<Path>) -> Result<ChainReport> {
        let files = Files::new(path.as_ref());
        if !files.log.exists() {
            return Ok(scan_chain(&[], None));
        }
        let _lock = files.lock(false)?;
        let text = read_log(&files)?;
        Ok(inspect(&files, &text)?.0)
    }

    /// The events of the log at `path`, verified: the same as [`JsonlAuditSink::verify_path`].
    pub fn read_events(path: impl AsRef<Path>) -> Result<Vec<AuditEvent>> {
        Self::verify_path(path)
    }
}

#[async_trait]
impl AuditSink for JsonlAuditSink {
    async fn record(&self, event: &AuditEvent) -> Result<()> {
        let files = self.files.clone();
        let event = event.clone();
        tokio::task::spawn_blocking(move || append(&files, &event))
            .await
            .map_err(|e| Error::internal(format!("audit task failed: {e}")))?
    }

    async fn verify(&self) -> Result<Vec<AuditEvent>> {
        let log = self.files.log.clone();
        tokio::task::spawn_blocking(move || Self::verify_path(log))
            .await
            .map_err(|e| Error::internal(format!("audit task failed: {e}")))?
    }

    async fn inspect(&self) -> Result<ChainReport> {
        let log = self.files.log.clone();
        tokio::task::spawn_blocking(move || Self::inspect_path(log))
            .await
            .map_err(|e| Error::internal(format!("audit task failed: {e}")))?
    }

    async fn repair(&self, at: DateTime<Utc>) -> Result<Option<Repair>> {
        let files = self.files.clone();
        tokio::task::spawn_blocking(move || repair(&files, at))
            .await
            .map_err(|e| Error::internal(format!("audit task failed: {e}")))?
    }
}

/// The log's text (`""` if it vanished meanwhile).
fn read_log(files: &Files) -> Result<String> {
    match fs::read_to_string(&files.log) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => Err(Error::invalid_value(format!(
            "audit log {} is not valid UTF-8",
            files.log.display()
        ))),
        Err(e) => Err(files.err("read", e)),
    }
}

/// Check `text` (the log) against the head file, under a lock; also returns the number of
/// complete lines. A partial last line left by a crash mid-append was never acknowledged and
/// is not checked.
fn inspect(files: &Files, text: &str) -> Result<(ChainReport, usize)> {
    let mut lines: Vec<&str> = text.split_terminator('\n').collect();
    if !text.is_empty() && !text.ends_with('\n') {
        lines.pop();
    }
    let mut head = files.read_head()?;
    let head_missing = head.is_none() && lines.len() > 1;
    if let (Some(h), Some(last)) = (&head, lines.last())
        && serde_json::from_str::<Tail>(last).is_ok_and(|tail| tail.follows(h))
    {
        // Crash between the append and the head write: the last record links to the
        // stored head, and the chain check covers it.
        head = None;
    }
    let mut report = scan_chain(&lines, head.as_ref());
    if head_missing {
        report.broken.push(ChainBreak::of_log(
            BreakKind::HeadMissing,
            lines.len(),
            None,
            Some(&report.head),
        ));
    }
    Ok((report, lines.len()))
}

/// `audit repair`: under the exclusive lock, cut off a partial last line, record every
/// unacknowledged break in one `chain_repaired` record chained to the log's last line as it
/// is, and write the head file after it.
fn repair(files: &Files, at: DateTime<Utc>) -> Result<Option<Repair>> {
    let _lock = files.lock(true)?;
    let mut log = options()
        .read(true)
        .append(true)
        .create(true)
        .open(&files.log)
        .map_err(|e| files.err("open", e))?;
    let (_, start, complete) = last_line(&log).map_err(|e| files.err("read", e))?;
    if !complete {
        log.set_len(start).map_err(|e| files.err("truncate", e))?;
        log.sync_all().map_err(|e| files.err("sync", e))?;
    }
    let text = read_log(files)?;
    let (report, lines) = inspect(files, &text)?;
    if report.is_intact() {
        return Ok(None);
    }
    let mut event = AuditEvent::new(at, AuditAction::ChainRepaired);
    event.chain_breaks = report.broken;
    let (line, next) = chain_line(&report.head, &event)?;
    let mut bytes = line.into_bytes();
    bytes.push(b'\n');
    log.write_all(&bytes).map_err(|e| files.err("append", e))?;
    log.sync_all().map_err(|e| files.err("sync", e))?;
    let head_json = serde_json::to_vec(&next)
        .map_err(|e| Error::internal(format!("serialize audit head: {e}")))?;
    write_atomic(&files.head, &head_json).map_err(|e| files.err("write head file", e))?;
    tracing::warn!(log = %files.log.display(), breaks = event.chain_breaks.len(), "audit chain repaired");
    Ok(Some(Repair {
        at,
        line: lines as u64 + 1,
        breaks: event.chain_breaks,
    }))
}

/// The chain fields of a record line.
#[derive(Deserialize)]
struct Tail {
    seq: u64,
    prev: String,
    hash: String,
}

impl Tail {
    fn head(self) -> ChainHead {
        ChainHead {
            seq: self.seq,
            hash: self.hash,
        }
    }

    fn is(&self, head: &ChainHead) -> bool {
        self.seq == head.seq && self.hash == head.hash
    }

    fn follows(&self, head: &ChainHead) -> bool {
        self.seq == head.seq + 1 && self.prev == head.hash
    }
}

fn append(files: &Files, event: &AuditEvent) -> Result<()> {
    let _lock = files.lock(true)?;
    let mut log = options()
        .read(true)
        .append(true)
        .create(true)
        .open(&files.log)
        .map_err(|e| files.err("open", e))?;
    let head = current_head(files, &log)?;
    let (line, next) = chain_line(&head, event)?;
    let mut bytes = line.into_bytes();
    bytes.push(b'\n');
    log.write_all(&bytes).map_err(|e| files.err("append", e))?;
    log.sync_all().map_err(|e| files.err("sync", e))?;
    let head_json = serde_json::to_vec(&next)
        .map_err(|e| Error::internal(format!("serialize audit head: {e}")))?;
    write_atomic(&files.head, &head_json).map_err(|e| files.err("write head file", e))
}

/// The head to chain the next record to, reconciling the head file with the log (under the
/// exclusive lock). Cuts off a partial last line left by a crash.
fn current_head(files: &Files, log: &File) -> Result<ChainHead> {
    let stored = files.read_head()?;
    let (last, start, complete) = last_line(log).map_err(|e| files.err("read", e))?;
    if !complete {
        tracing::warn!(log = %files.log.display(), "audit log: cutting off a partial last line");
        log.set_len(start).map_err(|e| files.err("truncate", e))?;
        log.sync_all().map_err(|e| files.err("sync", e))?;
        return current_head(files, log);
    }
    let Some(last) = last else {
        return match stored {
            Some(h) if h.seq > 0 => Err(mismatch(files, "the log is empty", &h)),
            _ => Ok(ChainHead::genesis()),
        };
    };
    let tail: Tail = serde_json::from_slice(&last).map_err(|_| {
        Error::invalid_value(format!(
            "audit log {}: the last line is not a chained record; refusing to append",
            files.log.display()
        ))
    })?;
    match stored {
        // Only a crash before the first head write explains a missing head; anything longer
        // may be a truncated log, and recreating the head would launder that.
        None if tail.seq <= 1 => Ok(tail.head()),
        None => Err(missing_head(files)),
        Some(h) if tail.is(&h) || tail.follows(&h) => Ok(tail.head()),
        Some(h) => Err(mismatch(
            files,
            &format!("the log ends at record {}", tail.seq),
            &h,
        )),
    }
}

fn missing_head(files: &Files) -> Error {
    Error::invalid_value(format!(
        "audit log {}: the head file is missing, so removed lines at the end cannot be ruled \
         out; inspect the log, then record the loss with `rotation audit repair`",
        files.log.display()
    ))
}

fn mismatch(files: &Files, log_state: &str, head: &ChainHead) -> Error {
    Error::invalid_value(format!(
        "audit log {}: {log_state} but the head file names record {}; refusing to append \
         (run verify)",
        files.log.display(),
        head.seq
    ))
}

/// The last line of `file` (without its newline; `None` if the file is empty), the offset where
/// it starts, and whether it is complete (ends with a newline).
fn last_line(file: &File) -> io::Result<(Option<Vec<u8>>, u64, bool)> {
    const CHUNK: u64 = 8192;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok((None, 0, true));
    }
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, len - 1)?;
    let complete = byte[0] == b'\n';
    let end = if complete { len - 1 } else { len };
    let mut start = 0;
    let mut pos = end;
    let mut buf = Vec::new();
    'scan: while pos > 0 {
        let from = pos.saturating_sub(CHUNK);
        buf.resize(usize::try_from(pos - from).unwrap_or(0), 0);
        file.read_exact_at(&mut buf, from)?;
        if let Some(i) = buf.iter().rposition(|b| *b == b'\n') {
            start = from + i as u64 + 1;
            break 'scan;
        }
        pos = from;
    }
    let mut line = vec![0u8; usize::try_from(end - start).unwrap_or(0)];
    file.read_exact_at(&mut line, start)?;
    Ok((Some(line), start, complete))
}

#[cfg(test)]
mod tests;
