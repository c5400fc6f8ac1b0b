//! Loading the recordings (Azure SDK test-proxy format) and finding their directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One recorded exchange; header names are lowercased.
#[derive(Debug, Clone)]
pub struct Entry {
    pub index: usize,
    pub uri: String,
    pub method: String,
    pub req_headers: BTreeMap<String, String>,
    pub req_body: Value,
    pub status: u16,
    pub resp_headers: BTreeMap<String, String>,
    pub resp_body: Value,
}

impl Entry {
    /// The request path and query, without scheme and host.
    pub fn path_and_query(&self) -> &str {
        strip_origin(&self.uri)
    }

    pub fn path(&self) -> &str {
        let pq = self.path_and_query();
        pq.split_once('?').map_or(pq, |(p, _)| p)
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        let (_, query) = self.path_and_query().split_once('?')?;
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// A list page: `{"value": [...], "nextLink": ...}`.
    pub fn is_list_page(&self) -> bool {
        self.status == 200
            && self.resp_body.get("value").is_some_and(Value::is_array)
            && self.resp_body.get("nextLink").is_some()
    }
}

/// `https://host[:port]/path?q` -> `/path?q`.
pub fn strip_origin(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/", |i| &rest[i..])
}

#[derive(Debug)]
pub struct Recording {
    pub file: String,
    pub entries: Vec<Entry>,
}

fn headers(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                v.as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn parse(file: String, text: &str) -> Recording {
    let doc: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let entries = doc["Entries"]
        .as_array()
        .unwrap_or_else(|| panic!("{file}: no Entries array"))
        .iter()
        .enumerate()
        .map(|(index, e)| Entry {
            index,
            uri: e["RequestUri"].as_str().expect("RequestUri").to_owned(),
            method: e["RequestMethod"]
                .as_str()
                .expect("RequestMethod")
                .to_owned(),
            req_headers: headers(&e["RequestHeaders"]),
            req_body: e["RequestBody"].clone(),
            status: u16::try_from(e["StatusCode"].as_u64().expect("StatusCode")).expect("u16"),
            resp_headers: headers(&e["ResponseHeaders"]),
            resp_body: e["ResponseBody"].clone(),
        })
        .collect();
    Recording { file, entries }
}

/// Every `*.json` recording in `dir`, by file name.
pub fn load_all(dir: &Path) -> Vec<Recording> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let name = p
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            parse(name, &text)
        })
        .collect()
}

/// `ROTATION_TEST_AZURE_FIXTURES`, else `shared/fixtures/azure-keyvault` next to an ancestor
/// of the crate (or next to its parent), else `/work/shared/...`. Panics if none exists: a
/// missing fixture set must fail the test, never skip it.
pub fn fixtures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ROTATION_TEST_AZURE_FIXTURES") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("recordings").is_dir(),
            "ROTATION_TEST_AZURE_FIXTURES={} has no recordings/ directory",
            dir.display()
        );
        return dir;
    }
    let rel = Path::new("shared/fixtures/azure-keyvault");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut candidates: Vec<PathBuf> = Vec::new();
    for ancestor in manifest.ancestors() {
        candidates.push(ancestor.join(rel));
        candidates.push(ancestor.join("..").join(rel));
    }
    candidates.push(PathBuf::from("/work").join(rel));
    candidates
        .iter()
        .find(|c| c.join("recordings").is_dir())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "Azure Key Vault recordings not found: set ROTATION_TEST_AZURE_FIXTURES to the \
                 directory holding recordings/ (looked in {} places above {}, and /work/shared)",
                candidates.len(),
                manifest.display()
            )
        })
}
