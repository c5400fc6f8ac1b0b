//! Server behaviour the recordings do not cover: fault injection, paging at scale, limits,
//! backup/restore and the test-only state API.

mod common;

use std::time::Duration;

use rotation_azure_testserver::KeyVaultServer;
use serde_json::{Value, json};

const API: &str = "api-version=7.6";

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    fn inner(&self) -> &str {
        self.body["error"]["innererror"]["code"]
            .as_str()
            .unwrap_or_default()
    }

    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

/// A client for one server; `token: None` sends no `Authorization`.
struct Api<'a> {
    server: &'a KeyVaultServer,
    client: reqwest::Client,
    token: Option<&'a str>,
}

impl<'a> Api<'a> {
    fn new(server: &'a KeyVaultServer) -> Self {
        Self {
            server,
            client: common::client(server),
            token: Some("test-token"),
        }
    }

    fn with_token(server: &'a KeyVaultServer, token: Option<&'a str>) -> Self {
        Self {
            token,
            ..Self::new(server)
        }
    }

    /// `path_and_query` without api-version gets `?api-version=7.6` (or `&...`) appended.
    async fn call(&self, method: &str, path_and_query: &str, body: Option<Value>) -> Resp {
        let sep = if path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = if path_and_query.starts_with("https://") {
            path_and_query.to_owned()
        } else if path_and_query.contains("api-version=") {
            format!("{}{path_and_query}", self.server.url())
        } else {
            format!("{}{path_and_query}{sep}{API}", self.server.url())
        };
        let mut req = self.client.request(method.parse().expect("method"), url);
        if let Some(token) = self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON body")
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None).await
    }
}

/// Follows `nextLink` from `first` until it is null; returns each page's items.
async fn pages(api: &Api<'_>, first: &str) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(url) = next {
        let page = api.get(&url).await;
        assert_eq!(page.status, 200, "{}", page.body);
        out.push(page.body["value"].as_array().expect("value array").clone());
        next = page.body["nextLink"].as_str().map(str::to_owned);
        assert!(
            page.body.get("nextLink").is_some(),
            "nextLink is always present"
        );
    }
    out
}

fn version_of(item: &Value) -> String {
    item["id"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn challenge_first_then_bearer() {
    let server = KeyVaultServer::start();
    let anon = Api::with_token(&server, None);
    let r = anon
        .call("PUT", "/secrets/", Some(json!({"value": "v"})))
        .await;
    assert_eq!((r.status, r.code()), (401, "Unauthorized"));
    assert_eq!(
        r.message(),
        "AKV10000: Request is missing a Bearer or PoP token."
    );
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer authorization=\"https://login.microsoftonline.com/"),
        "{challenge}"
    );
    assert!(
        challenge.ends_with("resource=\"https://vault.azure.net\""),
        "{challenge}"
    );

    let api = Api::new(&server);
    let r = api
        .call("PUT", "/secrets/", Some(json!({"value": "v"})))
        .await;
    assert_eq!((r.status, r.message()), (405, "HTTP PUT not allowed"));
    let r = api.get(&format!("{}/secrets/x/", server.url())).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "BadParameter"),
        "missing api-version"
    );
    let r = api.get("/secrets/x?api-version=latest").await;
    assert_eq!(r.status, 400, "not a version");
    let r = api.get("/nothing/here").await;
    assert_eq!((r.status, r.code()), (404, "NotFound"));
    let r = api.get("/secrets/bad_name/").await;
    assert_eq!(
        (r.status, r.message()),
        (400, "The request URI contains an invalid name: bad_name")
    );

    let records = server.requests();
    assert_eq!(records.len(), 6);
    assert_eq!((records[0].status, records[0].authorized), (401, false));
    assert_eq!((records[1].status, records[1].authorized), (405, true));
    assert_eq!(records[1].path, "/secrets/");
    assert_eq!(records[1].query, API);
    assert!(records.windows(2).all(|w| w[0].at <= w[1].at));
}

#[tokio::test]
async fn wrong_token_gets_401_when_a_token_is_configured() {
    let server = KeyVaultServer::builder().token("right-token").start();
    let wrong = Api::with_token(&server, Some("wrong-token"));
    let r = wrong.get("/secrets/x/").await;
    assert_eq!((r.status, r.code()), (401, "Unauthorized"));
    assert!(
        r.message().starts_with("AKV10032: Invalid issuer."),
        "{}",
        r.message()
    );
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("resource=\"https://vault.azure.net\"")
    );
    let right = Api::with_token(&server, Some("right-token"));
    assert_eq!(right.get("/secrets/x/").await.status, 404);
    let authorized: Vec<bool> = server.requests().iter().map(|r| r.authorized).collect();
    assert_eq!(authorized, vec![false, true]);
}

#[tokio::test]
async fn throttle_answers_429_with_retry_after() {
    let server = KeyVaultServer::start();
    let id = server.put("thr", "v");
    server.throttle(2, Duration::from_millis(1500));
    let anon = Api::with_token(&server, None);
    assert_eq!(
        anon.get("/secrets/thr/").await.status,
        401,
        "unauthenticated requests are not counted"
    );
    let api = Api::new(&server);
    for _ in 0..2 {
        let r = api.get("/secrets/thr/").await;
        assert_eq!((r.status, r.code()), (429, "Throttled"));
        assert_eq!(
            r.header("retry-after"),
            Some("2"),
            "whole seconds, rounded up"
        );
        assert!(
            r.message()
                .ends_with("Reason: VaultRequestTypeLimitReached")
        );
    }
    let r = api.get(&format!("/secrets/thr/{id}")).await;
    assert_eq!((r.status, r.body["value"].as_str()), (200, Some("v")));
}

#[tokio::test]
async fn write_after_next_get_lands_right_after_the_answer() {
    let server = KeyVaultServer::start();
    let api = Api::new(&server);
    let v1 = server.put("race", "one");
    server.write_after_next_get("RACE", "two");
    let r = api.get(&format!("/secrets/race/{v1}")).await;
    assert_eq!(r.body["value"], "one");
    assert_eq!(
        server.versions("race").len(),
        1,
        "a GET by version does not trigger"
    );
    let r = api.get("/secrets/race/").await;
    assert_eq!(r.body["value"], "one", "answered from the old state");
    let versions = server.versions("race");
    assert_eq!(versions.len(), 2, "written before any further request");
    assert_eq!(versions[1].value, "two");
    assert_eq!(api.get("/secrets/race/").await.body["value"], "two");
    assert_eq!(server.versions("race").len(), 2, "fires once");

    server.write_after_next_get("race", "three");
    assert_eq!(
        api.get("/secrets/race").await.body["value"],
        "two",
        "no trailing slash is latest too"
    );
    assert_eq!(api.get("/secrets/race").await.body["value"], "three");
}

#[tokio::test]
async fn deny_answers_the_rbac_403_with_the_data_action() {
    let server = KeyVaultServer::start();
    let api = Api::new(&server);
    let version = server.put("rbac", "v");
    server.put("gone", "v");
    server.soft_delete("gone");
    let blob = api.call("POST", "/secrets/rbac/backup", None).await.body["value"].clone();
    let cases: Vec<(&str, &str, String, Option<Value>, &str)> = vec![
        (
            "get",
            "GET",
            "/secrets/rbac/".into(),
            None,
            "secrets/getSecret/action",
        ),
        (
            "set",
            "PUT",
            "/secrets/rbac".into(),
            Some(json!({"value": "x"})),
            "secrets/setSecret/action",
        ),
        (
            "update",
            "PATCH",
            format!("/secrets/rbac/{version}"),
            Some(json!({"tags": {}})),
            "secrets/update/action",
        ),
        (
            "list",
            "GET",
            "/secrets".into(),
            None,
            "secrets/readMetadata/action",
        ),
        (
            "list",
            "GET",
            "/secrets/rbac/versions".into(),
            None,
            "secrets/readMetadata/action",
        ),
        (
            "delete",
            "DELETE",
            "/secrets/rbac".into(),
            None,
            "secrets/delete'",
        ),
        (
            "recover",
            "POST",
            "/deletedsecrets/gone/recover".into(),
            None,
            "secrets/recover/action",
        ),
        (
            "purge",
            "DELETE",
            "/deletedsecrets/gone".into(),
            None,
            "secrets/purge/action",
        ),
        (
            "backup",
            "POST",
            "/secrets/rbac/backup".into(),
            None,
            "secrets/backup/action",
        ),
        (
            "restore",
            "POST",
            "/secrets/restore".into(),
            Some(json!({"value": blob})),
            "secrets/restore/action",
        ),
    ];
    for (op, method, path, body, action) in cases {
        server.deny(op);
        let r = api.call(method, &path, body).await;
        assert_eq!(
            (r.status, r.code(), r.inner()),
            (403, "Forbidden", "ForbiddenByRbac"),
            "{op}"
        );
        let msg = r.message();
        assert!(
            msg.starts_with("Caller is not authorized to perform action on resource.\r\n"),
            "{msg}"
        );
        assert!(
            msg.contains(&format!("Action: 'Microsoft.KeyVault/vaults/{action}")),
            "{op}: {msg}"
        );
        assert!(msg.contains("Assignment: (not found)\r\n"), "{msg}");
        assert!(r.header("x-ms-keyvault-rbac-assignment-id").is_none());
        server.allow_all();
    }
    assert_eq!(
        server.versions("rbac").len(),
        1,
        "denied requests change nothing"
    );
    assert_eq!(api.get("/deletedsecrets/gone").await.status, 200);
    assert!(
        api.get("/secrets/rbac/")
            .await
            .header("x-ms-keyvault-rbac-assignment-id")
            .is_some()
    );
}

#[tokio::test]
async fn soft_deleted_name_conflicts_until_recovered() {
    let server = KeyVaultServer::builder().recoverable_days(7).start();
    let api = Api::new(&server);
    server.put("Deleted-One", "v1");
    server.soft_delete("deleted-one");
    let r = api
        .call("PUT", "/secrets/deleted-one", Some(json!({"value": "v2"})))
        .await;
    assert_eq!(
        (r.status, r.code(), r.inner()),
        (409, "Conflict", "ObjectIsDeletedButRecoverable")
    );
    assert_eq!(
        r.message(),
        "Secret Deleted-One is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."
    );
    assert!(
        server.versions("deleted-one").is_empty(),
        "only live secrets"
    );
    assert_eq!(
        api.get("/secrets/deleted-one/").await.code(),
        "SecretNotFound"
    );

    let d = api.get("/deletedsecrets/deleted-one").await;
    assert_eq!(d.status, 200);
    assert_eq!(
        d.body["recoveryId"],
        format!("{}/deletedsecrets/Deleted-One", server.url())
    );
    assert_eq!(
        d.body["attributes"]["recoveryLevel"],
        "CustomizedRecoverable+Purgeable"
    );
    let purge =
        d.body["scheduledPurgeDate"].as_i64().unwrap() - d.body["deletedDate"].as_i64().unwrap();
    assert_eq!(purge, 7 * 86_400);
    let listed = pages(&api, "/deletedsecrets").await.concat();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0]["id"],
        format!("{}/secrets/Deleted-One", server.url())
    );

    let r = api
        .call("POST", "/deletedsecrets/deleted-one/recover", None)
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("value").is_none());
    assert_eq!(server.versions("deleted-one").len(), 1);
    let r = api
        .call("PUT", "/secrets/deleted-one", Some(json!({"value": "v2"})))
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.body["id"]
            .as_str()
            .unwrap()
            .contains("/secrets/Deleted-One/"),
        "creation case kept"
    );
}

#[tokio::test]
async fn sixty_versions_page_by_25_and_sorted_by_version_id() {
    let server = KeyVaultServer::start();
    let api = Api::new(&server);
    let mut created: Vec<String> = (0..60)
        .map(|i| server.put("many", &format!("v{i}")))
        .collect();
    let got = pages(&api, "/secrets/many/versions").await;
    assert_eq!(
        got.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![25, 25, 10]
    );
    let ids: Vec<String> = got.concat().iter().map(version_of).collect();
    created.sort();
    assert_eq!(ids, created, "every version once, sorted by version id");
    assert!(got.concat().iter().all(|i| i.get("value").is_none()));

    let by_ten = pages(&api, "/secrets/many/versions?maxresults=10").await;
    assert_eq!(by_ten.iter().map(Vec::len).collect::<Vec<_>>(), vec![10; 6]);
    let first = api.get("/secrets/many/versions?maxresults=10").await;
    let next = first.body["nextLink"].as_str().unwrap();
    assert!(next.starts_with(&format!(
        "{}/secrets/many/versions?api-version=7.6&$skiptoken=",
        server.url()
    )));
    assert!(next.ends_with("&maxresults=10"), "{next}");

    assert_eq!(
        api.get("/secrets/many/versions?maxresults=26").await.code(),
        "BadParameter"
    );
    assert_eq!(
        api.get("/secrets/many/versions?maxresults=0").await.status,
        400
    );
    assert_eq!(
        api.get("/secrets/many/versions?$skiptoken=bm9wZQ")
            .await
            .status,
        400
    );
    server.put("other", "v");
    let secrets_token = api.get("/secrets?maxresults=1").await;
    let foreign = secrets_token.body["nextLink"]
        .as_str()
        .unwrap()
        .replace("/secrets?", "/secrets/many/versions?");
    assert_eq!(
        api.get(&foreign).await.status,
        400,
        "a token is bound to its listing"
    );
    let r = api.get("/secrets/nope/versions").await;
    assert_eq!((r.status, r.code()), (404, "SecretNotFound"));
}

#[tokio::test]
async fn empty_pages_are_interleaved_and_must_be_followed() {
    let server = KeyVaultServer::builder().empty_pages(true).start();
    let api = Api::new(&server);
    let created: Vec<String> = (0..60)
        .map(|i| server.put("paged", &format!("v{i}")))
        .collect();
    let got = pages(&api, "/secrets/paged/versions").await;
    let sizes: Vec<usize> = got.iter().map(Vec::len).collect();
    assert_eq!(sizes.first(), Some(&0), "the first page is empty");
    assert!(
        sizes.windows(2).any(|w| w == [0, 25]) && sizes.contains(&10),
        "{sizes:?}"
    );
    assert_eq!(sizes.iter().sum::<usize>(), 60);
    let mut ids: Vec<String> = got.concat().iter().map(version_of).collect();
    ids.sort();
    let mut created = created;
    created.sort();
    assert_eq!(ids, created);
    let with_max = pages(&api, "/secrets/paged/versions?maxresults=25").await;
    assert_eq!(
        with_max.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![25, 25, 10],
        "no empty pages with maxresults"
    );
}

#[tokio::test]
async fn disabled_latest_is_forbidden_and_patch_reenables() {
    let server = KeyVaultServer::start();
    let api = Api::new(&server);
    let v1 = server.put("dis", "one");
    let v2 = server.put("dis", "two");
    server.set_enabled("dis", &v2, false);
    let r = api.get("/secrets/dis/").await;
    assert_eq!(
        (r.status, r.code(), r.inner()),
        (403, "Forbidden", "SecretDisabled")
    );
    assert_eq!(
        r.message(),
        "Operation get is not allowed on a disabled secret."
    );
    assert_eq!(
        api.get(&format!("/secrets/dis/{v1}")).await.body["value"],
        "one"
    );
    let listed = pages(&api, "/secrets").await.concat();
    assert_eq!(
        listed[0]["attributes"]["enabled"], false,
        "list shows the latest version"
    );
    assert_eq!(listed[0]["id"], format!("{}/secrets/dis", server.url()));

    let r = api
        .call(
            "PATCH",
            "/secrets/dis/",
            Some(json!({"attributes": {"enabled": true}, "tags": {"k": "v"}})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("value").is_none());
    assert_eq!(r.body["id"], format!("{}/secrets/dis/{v2}", server.url()));
    let versions = server.versions("dis");
    assert!(versions[1].enabled && versions[1].tags["k"] == "v" && versions[0].tags.is_empty());
    assert_eq!(api.get("/secrets/dis/").await.body["value"], "two");
    let missing = api
        .get("/secrets/dis/0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(
        missing.message(),
        "A secret with (name/id) dis/0123456789abcdef0123456789abcdef was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
    );
    assert_eq!(api.get("/secrets/dis/not-a-version").await.status, 404);
}

#[tokio::test]
async fn set_enforces_the_service_limits() {
    let server = KeyVaultServer::start();
    let api = Api::new(&server);
    let put = |body: Value| api.call("PUT", "/secrets/lim", Some(body));
    assert_eq!(
        put(json!({"value": "x".repeat(25 * 1024)})).await.status,
        200
    );
    assert_eq!(
        put(json!({"value": "x".repeat(25 * 1024 + 1)}))
            .await
            .code(),
        "BadParameter"
    );
    assert_eq!(
        put(json!({"value": "é".repeat(12_801)})).await.status,
        400,
        "bytes, not chars"
    );
    assert_eq!(
        put(json!({"contentType": "text/plain"})).await.code(),
        "BadParameter"
    );
    let tags: serde_json::Map<String, Value> =
        (0..16).map(|i| (format!("t{i}"), json!("v"))).collect();
    assert_eq!(put(json!({"value": "v", "tags": tags})).await.status, 400);
    assert_eq!(
        put(json!({"value": "v", "tags": {"k".repeat(513): "v"}}))
            .await
            .status,
        400
    );
    assert_eq!(
        put(json!({"value": "v", "tags": {"k": "v".repeat(257)}}))
            .await
            .status,
        400
    );
    assert_eq!(
        put(json!({"value": "v", "attributes": {"enabled": "yes"}}))
            .await
            .status,
        400
    );
    let r = api
        .client
        .put(format!("{}/secrets/lim?{API}", server.url()))
        .bearer_auth("t")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let r = put(json!({"value": "v", "contentType": "text/plain", "attributes": {"exp": 2_000_000_000}, "tags": {"a": "b"}})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["attributes"]["exp"], 2_000_000_000);
    assert!(
        r.body["attributes"].get("nbf").is_none(),
        "unset fields are left out"
    );
    let latest = server.versions("lim").pop().unwrap();
    assert_eq!(
        (latest.content_type.as_deref(), latest.expires),
        (Some("text/plain"), Some(2_000_000_000))
    );
    let r = api
        .get("/secrets/LIM/?outContentType=application%2Fx-pem-file")
        .await;
    assert_eq!(
        r.message(),
        "The 'Unsupported' to 'PEM' transformation is not supported. Only PFX to PEM transformation is supported."
    );
}

#[tokio::test]
async fn backup_restore_and_purge() {
    let server = KeyVaultServer::start();
    let api = Api::new(&server);
    server.put("bak", "one");
    server.put("bak", "two");
    let before = server.versions("bak");
    let blob = api.call("POST", "/secrets/bak/backup", None).await.body["value"].clone();
    assert!(
        blob.as_str()
            .unwrap()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "base64url"
    );
    let r = api
        .call("POST", "/secrets/restore", Some(json!({"value": blob})))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "Conflict"),
        "the name is in use"
    );

    assert_eq!(api.call("DELETE", "/secrets/bak", None).await.status, 200);
    let purge = api.call("DELETE", "/deletedsecrets/bak", None).await;
    assert_eq!(purge.status, 204);
    assert!(purge.header("content-type").is_none() && purge.body.is_null());
    assert_eq!(
        api.call("DELETE", "/deletedsecrets/bak", None).await.status,
        404
    );

    let r = api
        .call("POST", "/secrets/restore", Some(json!({"value": blob})))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("value").is_none() && r.body["attributes"].is_object());
    let after = server.versions("bak");
    let ids = |v: &[rotation_azure_testserver::VersionView]| {
        v.iter()
            .map(|x| (x.version.clone(), x.value.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&after), ids(&before));

    let r = api
        .call(
            "POST",
            "/secrets/restore",
            Some(json!({"value": "bm9uLWV4aXN0aW5n"})),
        )
        .await;
    assert_eq!(
        (r.status, r.code(), r.message()),
        (400, "Malformed backup blob", "Backup blob is corrupt.")
    );
}

#[tokio::test]
async fn common_headers_and_list_items() {
    let server = KeyVaultServer::start();
    let api = Api::new(&server);
    api.call(
        "PUT",
        "/secrets/b-item",
        Some(json!({"value": "v", "contentType": "ct"})),
    )
    .await;
    server.put("a-item", "v");
    server.put("gone", "v");
    server.soft_delete("gone");
    let r = api
        .client
        .get(format!("{}/secrets?{API}", server.url()))
        .bearer_auth("t")
        .header("x-ms-client-request-id", "abc")
        .send()
        .await
        .unwrap();
    let h = r.headers().clone();
    for (name, value) in [
        ("cache-control", "no-cache"),
        ("pragma", "no-cache"),
        ("expires", "-1"),
        ("x-content-type-options", "nosniff"),
        ("x-ms-client-request-id", "abc"),
        ("content-type", "application/json; charset=utf-8"),
    ] {
        assert_eq!(
            h.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{name}"
        );
    }
    for name in [
        "strict-transport-security",
        "x-ms-keyvault-region",
        "x-ms-keyvault-service-version",
        "x-ms-keyvault-network-info",
        "x-ms-request-id",
    ] {
        assert!(h.contains_key(name), "{name}");
    }
    assert!(!h.contains_key("etag") && !h.contains_key("location"));
    let body: Value = r.json().await.unwrap();
    let items = body["value"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        vec![
            format!("{}/secrets/a-item", server.url()),
            format!("{}/secrets/b-item", server.url())
        ]
    );
    assert_eq!(items[1]["contentType"], "ct");
    assert!(body["nextLink"].is_null());
}

#[tokio::test]
async fn drop_stops_the_server() {
    let server = KeyVaultServer::start();
    let url = format!("{}/secrets?{API}", server.url());
    let ca = reqwest::Certificate::from_pem(server.ca_pem().as_bytes()).unwrap();
    let fresh = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    assert_eq!(
        common::client(&server)
            .get(&url)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    drop(server);
    assert!(
        fresh.get(&url).send().await.is_err(),
        "nothing listens after drop"
    );
}

#[test]
fn shared_server_works_from_sync_code_and_other_runtimes() {
    let url = std::thread::spawn(|| rotation_azure_testserver::shared().url())
        .join()
        .unwrap();
    assert_eq!(url, rotation_azure_testserver::shared().url());
    let version = rotation_azure_testserver::shared().put("shared-sync", "v");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let api = Api::new(rotation_azure_testserver::shared());
        let r = api.get(&format!("/secrets/shared-sync/{version}")).await;
        assert_eq!(r.body["value"], "v");
    });
}
