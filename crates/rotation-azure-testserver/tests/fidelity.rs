//! Fidelity: every entry of every real Key Vault recording, replayed against a fresh server.
//!
//! The recordings live outside the repository (`shared/fixtures/azure-keyvault`, or
//! `ROTATION_TEST_AZURE_FIXTURES`); a missing directory fails the test. Intentional
//! deviations are listed in [`DEVIATIONS`] and printed; any other difference fails.

mod common;
#[path = "fidelity/compare.rs"]
mod compare;
#[path = "fidelity/recording.rs"]
mod recording;
#[path = "fidelity/replay.rs"]
mod replay;

use std::collections::BTreeMap;

use replay::{Deviation, Expect, Setup};
use serde_json::json;

const ASYNC: &str = "soft delete and recovery are asynchronous in the service (polled: 404 until done); this server completes them synchronously, so every poll gets the run's final answer";

/// Every intentional difference from the recordings. Polls must be listed one by one, so a
/// new recording with a changing answer cannot slip through as a "poll".
const DEVIATIONS: &[Deviation] = &[
    Deviation {
        file: "go-crud-challenge-set-get-patch-delete-purge.json",
        entry: 5,
        expect: Expect::FinalPoll,
        reason: ASYNC,
    },
    Deviation {
        file: "go-delete-recover-secretnotfound.json",
        entry: 3,
        expect: Expect::FinalPoll,
        reason: ASYNC,
    },
    Deviation {
        file: "go-delete-recover-secretnotfound.json",
        entry: 6,
        expect: Expect::FinalPoll,
        reason: ASYNC,
    },
    Deviation {
        file: "net-update-disable-delete-deleted-403-purge.json",
        entry: 5,
        expect: Expect::FinalPoll,
        reason: ASYNC,
    },
    Deviation {
        file: "net-update-replaces-tags-wholesale.json",
        entry: 4,
        expect: Expect::FinalPoll,
        reason: ASYNC,
    },
    Deviation {
        file: "net-update-replaces-tags-wholesale.json",
        entry: 5,
        expect: Expect::FinalPoll,
        reason: ASYNC,
    },
    Deviation {
        file: "net-get-certificate-backed-secret-managed-kid.json",
        entry: 0,
        expect: Expect::Error(404, "SecretNotFound"),
        reason: "certificate-backed secrets (managed, kid) come from the certificates API, which this server does not implement",
    },
    Deviation {
        file: "py-purge-then-restore-409-conflict.json",
        entry: 1,
        expect: Expect::Error(400, "Malformed backup blob"),
        reason: "the blob is the service's encrypted JWE; this server restores only its own backup format (and purges synchronously, so there is no restore race either)",
    },
    Deviation {
        file: "py-purge-then-restore-409-conflict.json",
        entry: 2,
        expect: Expect::Error(400, "Malformed backup blob"),
        reason: "as entry 1: a service JWE backup blob",
    },
];

/// The Python recording was trimmed to its last three entries; the dropped ones had
/// created and soft-deleted the secret that entry 0 purges.
const SETUPS: &[Setup] = &[("py-purge-then-restore-409-conflict.json", |server| {
    server.put("livekvtestsecbak4b252c48", "restored-by-setup");
    server.soft_delete("livekvtestsecbak4b252c48");
})];

#[tokio::test]
async fn every_recording_replays_faithfully() {
    let dir = recording::fixtures_dir();
    let recordings = recording::load_all(&dir.join("recordings"));
    println!("fixtures: {}", dir.display());
    let mut failures = Vec::new();
    let mut totals = BTreeMap::<&str, usize>::new();
    for rec in &recordings {
        let out = replay::replay(rec, DEVIATIONS, SETUPS).await;
        println!(
            "{:<60} entries {:>2}  requests {:>2}  absorbed pages {}  deviations {}  auth restored {}  failures {}",
            rec.file,
            rec.entries.len(),
            out.replayed,
            out.absorbed,
            out.deviations,
            out.auth_restored,
            out.failures.len()
        );
        *totals.entry("entries").or_default() += rec.entries.len();
        *totals.entry("requests").or_default() += out.replayed;
        *totals.entry("deviations").or_default() += out.deviations;
        failures.extend(out.failures);
    }
    for d in DEVIATIONS {
        assert!(
            recordings
                .iter()
                .any(|r| r.file == d.file && d.entry < r.entries.len()),
            "deviation for a missing entry: {} #{}",
            d.file,
            d.entry
        );
        println!(
            "deviation {} #{}: {:?}: {}",
            d.file, d.entry, d.expect, d.reason
        );
    }
    println!("summary: {} recordings, {totals:?}", recordings.len());
    assert!(
        recordings.len() >= 14,
        "only {} recordings in {}",
        recordings.len(),
        dir.display()
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The comparator itself must catch a wrong status, a missing key and a wrong type.
#[test]
fn comparator_catches_mismatches() {
    let url = "https://127.0.0.1:1";
    let recorded_id = "https://v.vault.azure.net/secrets/n/0d412fa0f62746cb8f46a98ed9f2424e";
    let server_id = format!("{url}/secrets/n/be6b39b1fb3f46a78c2e1f4d36903b4d");
    let headers: BTreeMap<String, String> = [
        ("content-type", "application/json; charset=utf-8"),
        ("x-ms-request-id", "x"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let entry = recording::Entry {
        index: 0,
        uri: "https://v.vault.azure.net/secrets/n/?api-version=7.6".into(),
        method: "GET".into(),
        req_headers: BTreeMap::new(),
        req_body: json!(null),
        status: 200,
        resp_headers: headers.clone(),
        resp_body: json!({"value": "v", "id": recorded_id, "attributes": {"enabled": true, "created": 1}}),
    };
    let actual = |status: u16, body: serde_json::Value| compare::Actual {
        status,
        headers: headers.clone(),
        body_len: 1,
        body,
    };
    let check = |a: &compare::Actual| {
        compare::compare(
            &entry,
            a,
            url,
            &mut compare::VersionMap::default(),
            compare::Mode::Full,
        )
    };

    let good = actual(
        200,
        json!({"value": "v", "id": server_id, "attributes": {"enabled": true, "created": 5}}),
    );
    assert_eq!(check(&good), Vec::<String>::new());
    let wrong_status = check(&actual(404, good.body.clone()));
    assert!(
        wrong_status.iter().any(|e| e.contains("status 404")),
        "{wrong_status:?}"
    );
    let missing = check(&actual(200, json!({"value": "v", "id": server_id})));
    assert!(
        missing.iter().any(|e| e.contains("\"attributes\" missing")),
        "{missing:?}"
    );
    let wrong_type = check(&actual(
        200,
        json!({"value": "v", "id": server_id, "attributes": {"enabled": "yes", "created": 5}}),
    ));
    assert!(
        wrong_type
            .iter()
            .any(|e| e.contains("attributes.enabled: string != recorded bool")),
        "{wrong_type:?}"
    );
    let wrong_value = check(&actual(
        200,
        json!({"value": "other", "id": server_id, "attributes": {"enabled": true, "created": 5}}),
    ));
    assert!(
        wrong_value.iter().any(|e| e.starts_with("value:")),
        "{wrong_value:?}"
    );
    let wrong_host = check(&actual(
        200,
        json!({"value": "v", "id": recorded_id, "attributes": {"enabled": true, "created": 5}}),
    ));
    assert!(
        wrong_host.iter().any(|e| e.contains("not on the server")),
        "{wrong_host:?}"
    );
    let mut no_ct = actual(200, good.body.clone());
    no_ct.headers.remove("content-type");
    assert!(
        check(&no_ct)
            .iter()
            .any(|e| e.contains("Content-Type missing"))
    );
}
