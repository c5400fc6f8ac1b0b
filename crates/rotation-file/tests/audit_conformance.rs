//! The shared audit sink suite against a `JsonlAuditSink` in a temporary directory; the harness
//! tampers with the log's lines and simulates crashes through the documented file layout (the
//! log and its `.head` file).

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use rotation_conformance::{AuditHarness, Crash, Tamper};
use rotation_core::audit::{ChainHead, chain_line};
use rotation_core::{AuditEvent, AuditSink};
use rotation_file::JsonlAuditSink;

struct JsonlHarness {
    _dir: tempfile::TempDir,
    log: PathBuf,
}

impl JsonlHarness {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("audit.jsonl");
        Self { _dir: dir, log }
    }

    fn head_file(&self) -> PathBuf {
        let mut s = self.log.clone().into_os_string();
        s.push(".head");
        PathBuf::from(s)
    }

    fn lines(&self) -> Vec<String> {
        let text = fs::read_to_string(&self.log).expect("read log");
        text.lines().map(str::to_owned).collect()
    }

    fn write_lines(&self, lines: &[String]) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        fs::write(&self.log, text).expect("write log");
    }
}

#[async_trait]
impl AuditHarness for JsonlHarness {
    async fn open(&self) -> Arc<dyn AuditSink> {
        Arc::new(JsonlAuditSink::open(&self.log).expect("open"))
    }

    async fn reopen(&self) -> Arc<dyn AuditSink> {
        self.open().await
    }

    async fn tamper(&self, tamper: Tamper) {
        let mut lines = self.lines();
        match tamper {
            Tamper::Edit { record, event } => {
                // Only the event's JSON changes; seq, prev and hash stay as written.
                let line = &mut lines[record];
                let at = line.find(r#""event":"#).expect("event key") + r#""event":"#.len();
                let json = serde_json::to_string(&event).expect("event json");
                *line = format!("{}{json}}}", &line[..at]);
            }
            Tamper::Delete { record } => {
                lines.remove(record);
            }
            Tamper::Swap { a, b } => lines.swap(a, b),
            Tamper::TruncateLast { n } => lines.truncate(lines.len() - n),
        }
        self.write_lines(&lines);
    }

    async fn crash_appending(&self, event: &AuditEvent, crash: Crash) -> bool {
        let head_file = self.head_file();
        match crash {
            Crash::MidWrite => {
                let head: ChainHead = match fs::read(&head_file) {
                    Ok(bytes) => serde_json::from_slice(&bytes).expect("head json"),
                    Err(_) => ChainHead::genesis(),
                };
                let (line, _) = chain_line(&head, event).expect("chain line");
                let mut log = fs::OpenOptions::new()
                    .append(true)
                    .open(&self.log)
                    .expect("open log");
                log.write_all(&line.as_bytes()[..line.len() / 2])
                    .expect("partial write");
            }
            Crash::BeforeAck => {
                let saved = fs::read(&head_file).expect("head file");
                self.open().await.record(event).await.expect("record");
                fs::write(&head_file, saved).expect("put the old head back");
            }
        }
        true
    }
}

rotation_conformance::audit_conformance_tests!(JsonlHarness::new());
