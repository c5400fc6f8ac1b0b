//! Replaying one recording against a fresh server, translating what is vault-specific.
//!
//! Translation: the URI's host becomes the server's; recorded version ids become the
//! server's (learned from response ids); a recorded `nextLink` request becomes the server's
//! own last `nextLink` of that listing; `Authorization: Sanitized` becomes a test bearer
//! token, and a request recorded without it is sent without it (the challenge). The Python
//! recorder strips `Authorization` from every request, so a request recorded without it
//! whose answer was not a 401 is sent with the token.

use std::collections::BTreeMap;

use rotation_azure_testserver::KeyVaultServer;
use serde_json::Value;

use crate::compare::{Actual, Mode, VersionMap, compare, is_version, walk};
use crate::recording::{Entry, Recording, strip_origin};

/// What an intentional deviation expects instead of the recorded answer.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// A poll of an asynchronous delete/recover: this server is synchronous, so every poll
    /// gets the final answer of the run.
    FinalPoll,
    /// This status and `error.code`.
    Error(u16, &'static str),
}

#[derive(Debug)]
pub struct Deviation {
    pub file: &'static str,
    pub entry: usize,
    pub expect: Expect,
    pub reason: &'static str,
}

/// State the recording needs but was trimmed away (file, setup).
pub type Setup = (&'static str, fn(&KeyVaultServer));

#[derive(Debug, Default)]
pub struct Outcome {
    pub replayed: usize,
    /// Recorded pages past the end of the server's (shorter) listing.
    pub absorbed: usize,
    pub deviations: usize,
    pub auth_restored: usize,
    pub failures: Vec<String>,
}

struct Listing {
    next: Option<String>,
    maxresults: bool,
    recorded: Vec<Value>,
    actual: Vec<Value>,
    recorded_pages: usize,
    actual_pages: usize,
}

struct Replay<'a> {
    rec: &'a Recording,
    server: KeyVaultServer,
    client: reqwest::Client,
    versions: VersionMap,
    listings: BTreeMap<String, Listing>,
    out: Outcome,
}

fn find_days(v: &Value) -> Option<i64> {
    match v {
        Value::Object(m) => m
            .get("recoverableDays")
            .and_then(Value::as_i64)
            .or_else(|| m.values().find_map(find_days)),
        Value::Array(a) => a.iter().find_map(find_days),
        _ => None,
    }
}

/// Entries of a poll run after DELETE or recover whose recorded answer is not the run's last.
fn polls(entries: &[Entry]) -> BTreeMap<usize, usize> {
    let mut out = BTreeMap::new();
    let mut i = 1;
    while i < entries.len() {
        let prev = &entries[i - 1];
        let after_change = prev.method == "DELETE" && prev.path().starts_with("/secrets/")
            || prev.method == "POST" && prev.path().ends_with("/recover");
        let mut j = i;
        while j + 1 < entries.len()
            && entries[j + 1].method == "GET"
            && entries[j + 1].uri == entries[i].uri
        {
            j += 1;
        }
        if after_change && entries[i].method == "GET" && j > i {
            for k in i..j {
                if entries[k].status != entries[j].status {
                    out.insert(k, j);
                }
            }
        }
        i = j + 1;
    }
    out
}

pub async fn replay(rec: &Recording, deviations: &[Deviation], setups: &[Setup]) -> Outcome {
    let empty_pages = rec.entries.iter().any(|e| {
        e.is_list_page()
            && e.resp_body["value"].as_array().is_some_and(Vec::is_empty)
            && e.resp_body["nextLink"].is_string()
    });
    let days = rec
        .entries
        .iter()
        .find_map(|e| find_days(&e.resp_body))
        .unwrap_or(90);
    let server = KeyVaultServer::builder()
        .recoverable_days(days)
        .empty_pages(empty_pages)
        .start();
    for (_, setup) in setups.iter().filter(|(f, _)| *f == rec.file) {
        setup(&server);
    }
    let client = crate::common::client(&server);
    let mut r = Replay {
        rec,
        server,
        client,
        versions: VersionMap::default(),
        listings: BTreeMap::new(),
        out: Outcome::default(),
    };
    let polls = polls(&rec.entries);
    for e in &rec.entries {
        let dev = deviations
            .iter()
            .find(|d| d.file == rec.file && d.entry == e.index);
        let poll = polls.get(&e.index).map(|&last| &rec.entries[last]);
        r.entry(e, dev, poll).await;
    }
    for (path, l) in &r.listings {
        if l.next.is_some() || l.recorded_pages == 0 {
            r.out.failures.push(format!(
                "{}: listing {path} never reached its last page",
                rec.file
            ));
        }
    }
    r.out
}

impl Replay<'_> {
    fn fail(&mut self, e: &Entry, what: impl std::fmt::Display) {
        let msg = format!(
            "{} #{} {} {}: {what}",
            self.rec.file,
            e.index,
            e.method,
            e.path_and_query()
        );
        self.out.failures.push(msg);
    }

    async fn entry(&mut self, e: &Entry, dev: Option<&Deviation>, poll: Option<&Entry>) {
        match (dev.map(|d| d.expect), poll) {
            (Some(Expect::FinalPoll), None) => {
                return self.fail(
                    e,
                    "listed as a poll deviation but is not a poll with a changing answer",
                );
            }
            (Some(Expect::Error(..)) | None, Some(_)) => {
                return self.fail(
                    e,
                    "a poll with a changing answer must be listed as Expect::FinalPoll",
                );
            }
            _ => {}
        }
        if dev.is_some() {
            self.out.deviations += 1;
        }
        if e.is_list_page() && dev.is_none() {
            return self.list_page(e).await;
        }
        let url = format!(
            "{}{}",
            self.server.url(),
            self.translate_path(e.path_and_query())
        );
        let (act, sent_id) = self.send(e, &url).await;
        self.out.replayed += 1;
        let expected = poll.unwrap_or(e);
        let mode = if matches!(dev.map(|d| d.expect), Some(Expect::Error(..))) {
            Mode::HeadersOnly
        } else {
            Mode::Full
        };
        let mut errs = compare(expected, &act, &self.server.url(), &mut self.versions, mode);
        if let Some(Deviation {
            expect: Expect::Error(status, code),
            ..
        }) = dev
        {
            errs.retain(|m| !m.starts_with("status "));
            if act.status != *status || act.body["error"]["code"] != *code {
                errs.push(format!(
                    "deviation expects {status} {code}, got {} {}",
                    act.status, act.body["error"]["code"]
                ));
            }
        }
        check_echo(expected, &act, sent_id.as_deref(), &mut errs);
        for err in errs {
            self.fail(e, err);
        }
    }

    fn translate_path(&self, pq: &str) -> String {
        let (path, query) = pq.split_once('?').map_or((pq, None), |(p, q)| (p, Some(q)));
        let path: Vec<String> = path
            .split('/')
            .map(|s| {
                self.versions
                    .get(s)
                    .filter(|_| is_version(s))
                    .unwrap_or(s)
                    .to_owned()
            })
            .collect();
        match query {
            Some(q) => format!("{}?{q}", path.join("/")),
            None => path.join("/"),
        }
    }

    async fn send(&mut self, e: &Entry, url: &str) -> (Actual, Option<String>) {
        let method = reqwest::Method::from_bytes(e.method.as_bytes()).expect("recorded method");
        let mut req = self.client.request(method, url);
        let recorded_auth = e.req_headers.contains_key("authorization");
        if recorded_auth || e.status != 401 {
            if !recorded_auth {
                self.out.auth_restored += 1;
            }
            req = req.header("authorization", "Bearer test-token");
        }
        let sent_id = e
            .req_headers
            .contains_key("x-ms-client-request-id")
            .then(|| uuid::Uuid::new_v4().to_string());
        if let Some(id) = &sent_id {
            req = req.header("x-ms-client-request-id", id);
        }
        // The challenge request goes without a body, as recorded (Content-Length: 0).
        if !e.req_body.is_null() && (recorded_auth || e.status != 401) {
            req = req
                .header("content-type", "application/json")
                .body(e.req_body.to_string());
        } else if matches!(e.method.as_str(), "PUT" | "POST" | "PATCH") {
            req = req.body(Vec::new());
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|err| panic!("{} #{}: request failed: {err}", self.rec.file, e.index));
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let bytes = resp.bytes().await.expect("response body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (
            Actual {
                status,
                headers,
                body,
                body_len: bytes.len(),
            },
            sent_id,
        )
    }

    /// One recorded list page: the server's corresponding page, if its listing is not over.
    async fn list_page(&mut self, e: &Entry) {
        let path = e.path().trim_end_matches('/').to_owned();
        let continuation = e.query_param("$skiptoken").is_some();
        if !continuation {
            if self.listings.get(&path).is_some_and(|l| l.next.is_some()) {
                self.fail(e, "a new listing started before the previous one ended");
            }
            let first = Listing {
                next: None,
                maxresults: e.query_param("maxresults").is_some(),
                recorded: Vec::new(),
                actual: Vec::new(),
                recorded_pages: 0,
                actual_pages: 0,
            };
            self.listings.insert(path.clone(), first);
        }
        let Some(listing) = self.listings.get_mut(&path) else {
            return self.fail(e, "a nextLink request without a listing");
        };
        listing.recorded_pages += 1;
        listing.recorded.extend(
            e.resp_body["value"]
                .as_array()
                .into_iter()
                .flatten()
                .cloned(),
        );
        let recorded_last = e.resp_body["nextLink"].is_null();
        let url = match (continuation, listing.next.take()) {
            (false, _) => Some(format!(
                "{}{}",
                self.server.url(),
                self.translate_path(e.path_and_query())
            )),
            (true, next) => next,
        };
        match url {
            Some(url) => self.fetch_page(e, &path, &url, recorded_last).await,
            None if self.listings[&path].maxresults => self.fail(
                e,
                "with maxresults the server must have as many pages as recorded",
            ),
            None => self.out.absorbed += 1,
        }
        if recorded_last {
            self.finish_listing(e, &path).await;
        }
    }

    async fn fetch_page(&mut self, e: &Entry, path: &str, url: &str, recorded_last: bool) {
        let (act, sent_id) = self.send(e, url).await;
        self.out.replayed += 1;
        let mut errs = compare(
            e,
            &act,
            &self.server.url(),
            &mut self.versions,
            Mode::ListPage,
        );
        check_echo(e, &act, sent_id.as_deref(), &mut errs);
        let items = act.body["value"].as_array().cloned().unwrap_or_default();
        let listing = self.listings.get_mut(path).expect("listing");
        if listing.maxresults {
            let recorded = e.resp_body["value"].as_array().map_or(0, Vec::len);
            if items.len() != recorded {
                errs.push(format!(
                    "{} items on the page, recorded {recorded} (maxresults)",
                    items.len()
                ));
            }
            if act.body["nextLink"].is_null() != recorded_last {
                errs.push("nextLink nullness differs from the recording (maxresults)".into());
            }
        }
        listing.actual_pages += 1;
        listing.actual.extend(items);
        listing.next = act.body["nextLink"].as_str().map(str::to_owned);
        for err in errs {
            self.fail(e, err);
        }
    }

    /// Follows the server's remaining pages, then compares the items of the whole listing.
    async fn finish_listing(&mut self, e: &Entry, path: &str) {
        while let Some(url) = self.listings.get_mut(path).and_then(|l| l.next.take()) {
            self.fetch_page(e, path, &url, true).await;
        }
        let listing = self.listings.get(path).expect("listing");
        let url = self.server.url();
        let key = |v: &Value, on_server: bool, map: &VersionMap| -> String {
            let id = v["id"].as_str().unwrap_or_default();
            let rest = if on_server {
                id.strip_prefix(url.as_str()).unwrap_or(id)
            } else {
                strip_origin(id)
            };
            rest.split('/')
                .map(|s| {
                    if on_server || !is_version(s) {
                        s.to_owned()
                    } else {
                        map.get(s)
                            .map_or_else(|| format!("<unmapped {s}>"), str::to_owned)
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        };
        let recorded: BTreeMap<String, Value> = listing
            .recorded
            .iter()
            .map(|v| (key(v, false, &self.versions), v.clone()))
            .collect();
        let actual_keys: Vec<String> = listing
            .actual
            .iter()
            .map(|v| key(v, true, &self.versions))
            .collect();
        let actual: BTreeMap<String, Value> = actual_keys
            .iter()
            .cloned()
            .zip(listing.actual.iter().cloned())
            .collect();
        let mut errs = Vec::new();
        if actual.len() != actual_keys.len() {
            errs.push(format!("duplicate items across pages: {actual_keys:?}"));
        }
        let mut sorted = actual_keys.clone();
        sorted.sort_by_key(|k| k.to_ascii_lowercase());
        if sorted != actual_keys {
            errs.push(format!("items are not sorted by id: {actual_keys:?}"));
        }
        if listing.maxresults && listing.actual_pages != listing.recorded_pages {
            errs.push(format!(
                "{} pages, recorded {} (maxresults)",
                listing.actual_pages, listing.recorded_pages
            ));
        }
        for k in recorded.keys().filter(|k| !actual.contains_key(*k)) {
            errs.push(format!("listing lacks recorded item {k}"));
        }
        for k in actual.keys().filter(|k| !recorded.contains_key(*k)) {
            errs.push(format!("listing has unrecorded item {k}"));
        }
        for (k, rv) in &recorded {
            if let Some(av) = actual.get(k) {
                walk(
                    rv,
                    av,
                    &format!("item {k}"),
                    &url,
                    &mut self.versions,
                    &mut errs,
                );
            }
        }
        for err in errs {
            self.fail(e, err);
        }
    }
}

/// `x-ms-client-request-id` is echoed when sent.
fn check_echo(exp: &Entry, act: &Actual, sent: Option<&str>, errs: &mut Vec<String>) {
    if exp.resp_headers.contains_key("x-ms-client-request-id")
        && act
            .headers
            .get("x-ms-client-request-id")
            .map(String::as_str)
            != sent
    {
        errs.push("x-ms-client-request-id not echoed".into());
    }
}
