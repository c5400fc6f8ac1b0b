//! With trace logging and a failing verifier, neither the old nor the new value appears in
//! stdout, stderr, the audit log or error messages; the old value stays byte-identical.

use rotation_e2e::{Sandbox, basic_config, current, describe, seed};

const OLD: &str = "OLD-s3cr3t-9f8e7d6c5b4a";
const NEW: &str = "NEW-s3cr3t-1a2b3c4d5e6f";

fn assert_absent(haystack: &[u8], what: &str) {
    let text = String::from_utf8_lossy(haystack);
    for needle in [OLD, NEW] {
        assert!(
            !text.contains(needle),
            "{what} contains a secret value:\n{text}"
        );
    }
}

#[test]
fn failing_verifier_with_trace_logging_leaks_nothing_and_rolls_back() {
    for log_format in ["text", "json"] {
        for strategy in ["staged", "immediate"] {
            let extra = "";
            let config = basic_config("cat >/dev/null; echo rejected >&2; exit 3", extra).replace(
                "interval = \"30d\"",
                &format!("interval = \"30d\"\nstrategy = \"{strategy}\""),
            );
            let sandbox = Sandbox::new(&config);
            let store = sandbox.store(".rotation/store");
            seed(&store, "app/key", OLD.as_bytes());
            let before = current(&store, "app/key");

            let out = sandbox.run(
                &[
                    "-vvv",
                    "--log-format",
                    log_format,
                    "rotate",
                    "s",
                    "--value-stdin",
                    "--output",
                    "json",
                ],
                Some(NEW.as_bytes()),
            );
            assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
            assert!(
                out.stderr.len() > 200,
                "trace logging produced output: {}",
                describe(&out)
            );
            assert_absent(&out.stdout, "stdout");
            assert_absent(&out.stderr, "stderr");
            let audit = std::fs::read(sandbox.path().join(".rotation/audit.jsonl")).expect("audit");
            assert_absent(&audit, "audit log");

            let results: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
            assert_eq!(results[0]["status"], "rolled_back", "{strategy}");
            assert_eq!(results[0]["rollback_performed"], true);
            assert!(
                results[0]["error"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("exited with status 3")
            );

            let after = current(&store, "app/key");
            assert_eq!(after.1, before.1, "value byte-identical after rollback");

            // Other commands that touch the value leak nothing either.
            for args in [
                &["-vvv", "verify", "s"][..],
                &["-vvv", "history", "s"],
                &["-vvv", "status"],
            ] {
                let out = sandbox.run(args, None);
                assert_absent(&out.stdout, "stdout");
                assert_absent(&out.stderr, "stderr");
            }
        }
    }
}
