//! The comparator: a recorded response against the server's, with the rules of the replay.
//!
//! Compared: the status; Content-Type presence and family; the bearer challenge on 401; no
//! ETag/Location; every recorded `x-ms-*` header present; no body on 204; the body's key
//! set and JSON types, recursively. Values are compared where they do not depend on the
//! vault or the clock: secret values, content types, tags, `enabled`/`nbf`/`exp`, recovery
//! settings, error codes, and error messages without a vault URL in them. URLs (`id`,
//! `recoveryId`, `kid`, `nextLink`) must have the recorded path structure on the server's
//! host; recorded version ids are mapped to the server's by order of appearance.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::recording::{Entry, strip_origin};

/// A response from the server under test; header names are lowercased.
#[derive(Debug, Clone)]
pub struct Actual {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    /// `Null` when the body was empty.
    pub body: Value,
    pub body_len: usize,
}

/// Recorded version id -> server version id, learned from response ids.
#[derive(Debug, Default)]
pub struct VersionMap {
    to_actual: HashMap<String, String>,
    to_recorded: HashMap<String, String>,
}

impl VersionMap {
    pub fn get(&self, recorded: &str) -> Option<&str> {
        self.to_actual.get(recorded).map(String::as_str)
    }

    /// Records `recorded -> actual`; the mapping must stay one-to-one.
    pub fn learn(&mut self, recorded: &str, actual: &str) -> Result<(), String> {
        match (self.to_actual.get(recorded), self.to_recorded.get(actual)) {
            (None, None) => {
                self.to_actual
                    .insert(recorded.to_owned(), actual.to_owned());
                self.to_recorded
                    .insert(actual.to_owned(), recorded.to_owned());
                Ok(())
            }
            (Some(a), _) if a == actual => Ok(()),
            (Some(a), _) => Err(format!(
                "recorded version {recorded} was {a} before, now {actual}"
            )),
            (None, Some(r)) => Err(format!(
                "server version {actual} already stands for recorded {r}, now also {recorded}"
            )),
        }
    }
}

/// What is compared of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Everything.
    Full,
    /// A list page: the page's keys and types; items are compared per listing.
    ListPage,
    /// An intentional deviation: status and error code only (checked by the caller).
    HeadersOnly,
}

pub fn is_version(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

const URL_KEYS: &[&str] = &["id", "recoveryId", "kid", "nextLink"];
const TIME_KEYS: &[&str] = &["created", "updated", "deletedDate", "scheduledPurgeDate"];
const EXACT_KEYS: &[&str] = &[
    "value",
    "contentType",
    "tags",
    "enabled",
    "nbf",
    "exp",
    "recoveryLevel",
    "recoverableDays",
    "managed",
    "code",
];

/// Status, headers and body of one response.
pub fn compare(
    exp: &Entry,
    act: &Actual,
    url: &str,
    versions: &mut VersionMap,
    mode: Mode,
) -> Vec<String> {
    let mut errs = Vec::new();
    if exp.status != act.status {
        errs.push(format!("status {} != recorded {}", act.status, exp.status));
        if mode != Mode::HeadersOnly {
            errs.push(format!("body: {}", truncate(&act.body)));
            return errs;
        }
    }
    compare_headers(exp, act, &mut errs);
    match mode {
        Mode::Full => walk(&exp.resp_body, &act.body, "", url, versions, &mut errs),
        Mode::ListPage => compare_page(exp, act, url, versions, &mut errs),
        Mode::HeadersOnly => {}
    }
    errs
}

fn truncate(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 300 {
        format!("{}...", &s[..300])
    } else {
        s
    }
}

fn compare_headers(exp: &Entry, act: &Actual, errs: &mut Vec<String>) {
    let rec_ct = exp.resp_headers.get("content-type");
    match (rec_ct, act.headers.get("content-type")) {
        (Some(_), None) => errs.push("Content-Type missing".into()),
        (None, Some(ct)) => errs.push(format!("unexpected Content-Type {ct}")),
        (Some(r), Some(a))
            if !(r.starts_with("application/json") && a.starts_with("application/json")) =>
        {
            errs.push(format!("Content-Type {a} != recorded {r}"));
        }
        _ => {}
    }
    for banned in ["etag", "location"] {
        if act.headers.contains_key(banned) {
            errs.push(format!("unexpected {banned} header"));
        }
    }
    for name in exp.resp_headers.keys().filter(|k| k.starts_with("x-ms-")) {
        if !act.headers.contains_key(name) {
            errs.push(format!("header {name} missing"));
        }
    }
    if exp.status == 204 && act.body_len != 0 {
        errs.push(format!("204 with a {}-byte body", act.body_len));
    }
    if exp.status == 401 {
        let challenge = act
            .headers
            .get("www-authenticate")
            .map_or("", String::as_str);
        let ok = challenge.starts_with("Bearer ")
            && challenge.contains("authorization=\"https://login.")
            && challenge.contains("resource=\"https://vault.azure.net\"");
        if !ok {
            errs.push(format!(
                "WWW-Authenticate {challenge:?} is not the bearer challenge"
            ));
        }
    }
}

fn compare_page(
    exp: &Entry,
    act: &Actual,
    url: &str,
    versions: &mut VersionMap,
    errs: &mut Vec<String>,
) {
    let keys = |v: &Value| -> BTreeSet<String> {
        v.as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect()
    };
    if keys(&exp.resp_body) != keys(&act.body) {
        errs.push(format!(
            "page keys {:?} != recorded {:?}",
            keys(&act.body),
            keys(&exp.resp_body)
        ));
    }
    if !act.body["value"].is_array() {
        errs.push("page value is not an array".into());
    }
    match (&exp.resp_body["nextLink"], &act.body["nextLink"]) {
        (Value::String(r), Value::String(a)) => check_url("nextLink", r, a, url, versions, errs),
        (_, Value::String(_) | Value::Null) => {}
        (_, other) => errs.push(format!("nextLink is {}", type_name(other))),
    }
}

/// Recursive comparison of two bodies (or list items).
pub fn walk(
    rec: &Value,
    act: &Value,
    path: &str,
    url: &str,
    versions: &mut VersionMap,
    errs: &mut Vec<String>,
) {
    let (Value::Object(r), Value::Object(a)) = (rec, act) else {
        if type_name(rec) != type_name(act) {
            errs.push(format!(
                "{}: {} != recorded {}",
                show(path),
                type_name(act),
                type_name(rec)
            ));
        }
        return;
    };
    for key in r.keys().filter(|k| !a.contains_key(*k)) {
        errs.push(format!("{}: key {key:?} missing", show(path)));
    }
    for key in a.keys().filter(|k| !r.contains_key(*k)) {
        errs.push(format!("{}: unexpected key {key:?}", show(path)));
    }
    for (key, rv) in r {
        let Some(av) = a.get(key) else { continue };
        let sub = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        if type_name(rv) != type_name(av) {
            errs.push(format!(
                "{sub}: {} != recorded {}",
                type_name(av),
                type_name(rv)
            ));
        } else if let (true, Value::String(rs), Value::String(as_)) =
            (URL_KEYS.contains(&key.as_str()), rv, av)
        {
            check_url(key, rs, as_, url, versions, errs);
        } else if key == "message" && path == "error" {
            let rs = rv.as_str().unwrap_or_default();
            // A message naming a vault URL cannot match another vault's.
            if !rs.contains(".vault.azure.net") && rv != av {
                errs.push(format!("{sub}: {av} != recorded {rv}"));
            }
        } else if TIME_KEYS.contains(&key.as_str()) {
            // Type checked above; clock values differ by nature.
        } else if EXACT_KEYS.contains(&key.as_str()) && !rv.is_object() {
            if rv != av {
                errs.push(format!("{sub}: {av} != recorded {rv}"));
            }
        } else if key == "tags" && rv != av {
            errs.push(format!("{sub}: {av} != recorded {rv}"));
        } else {
            walk(rv, av, &sub, url, versions, errs);
        }
    }
    check_purge_date(a, path, errs);
}

fn show(path: &str) -> &str {
    if path.is_empty() { "body" } else { path }
}

/// `scheduledPurgeDate = deletedDate + recoverableDays * 86400`, as in every recording.
fn check_purge_date(a: &serde_json::Map<String, Value>, path: &str, errs: &mut Vec<String>) {
    let (Some(deleted), Some(purge)) = (
        a.get("deletedDate").and_then(Value::as_i64),
        a.get("scheduledPurgeDate").and_then(Value::as_i64),
    ) else {
        return;
    };
    let days = a["attributes"]["recoverableDays"]
        .as_i64()
        .unwrap_or_default();
    if purge != deleted + days * 86_400 {
        errs.push(format!(
            "{}: scheduledPurgeDate {purge} != deletedDate {deleted} + {days} days",
            show(path)
        ));
    }
}

/// A URL must be on the server and have the recorded path structure (names equal,
/// versions mapped); a nextLink must carry the same query parameters.
pub fn check_url(
    key: &str,
    rec: &str,
    act: &str,
    url: &str,
    versions: &mut VersionMap,
    errs: &mut Vec<String>,
) {
    let Some(act_rest) = act.strip_prefix(url).filter(|r| r.starts_with('/')) else {
        errs.push(format!("{key} {act} is not on the server {url}"));
        return;
    };
    let split = |s: &str| -> (String, Vec<String>) {
        let (p, q) = s.split_once('?').unwrap_or((s, ""));
        let mut names: Vec<String> = q
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| kv.split('=').next().unwrap_or_default().to_owned())
            .collect();
        names.sort();
        (p.to_owned(), names)
    };
    let (rec_path, rec_query) = split(strip_origin(rec));
    let (act_path, act_query) = split(act_rest);
    let rs: Vec<&str> = rec_path.split('/').collect();
    let as_: Vec<&str> = act_path.split('/').collect();
    if rs.len() != as_.len() {
        errs.push(format!(
            "{key} {act} does not have the shape of recorded {rec}"
        ));
        return;
    }
    for (r, a) in rs.iter().zip(&as_) {
        if is_version(r) {
            if !is_version(a) || a.bytes().any(|b| b.is_ascii_uppercase()) {
                errs.push(format!("{key} {act}: {a} is not a version id"));
            } else if key != "nextLink"
                && let Err(e) = versions.learn(r, a)
            {
                errs.push(format!("{key} {act}: {e}"));
            }
        } else if r != a {
            errs.push(format!("{key} {act}: segment {a:?} != recorded {r:?}"));
        }
    }
    if rec_query != act_query {
        errs.push(format!(
            "{key} {act}: query parameters {act_query:?} != recorded {rec_query:?}"
        ));
    }
}
