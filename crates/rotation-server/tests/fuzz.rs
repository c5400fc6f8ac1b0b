//! The API fuzzed from its own OpenAPI document with schemathesis (installed by `cargo xtask ci`
//! into `target/venv`, found through `ROTATION_TEST_SCHEMATHESIS`): no 5xx, status codes,
//! content types and bodies as documented, with an operator token and without.

mod common;

use sha2::{Digest, Sha256};

const TOKEN: &str = "fuzz-operator-token-0123456789";

#[test]
fn schemathesis_finds_no_server_error_and_no_undocumented_answer() {
    let bin = std::env::var("ROTATION_TEST_SCHEMATHESIS")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            panic!("ROTATION_TEST_SCHEMATHESIS is not set: run the tests through `cargo xtask ci`")
        });
    let hash = hex::encode(Sha256::digest(TOKEN.as_bytes()));
    let server = common::start(&format!(
        r#"
[stores.local]
kind = "file"
root = "store"

[policies.manual]
interval = "0"
require_verification = false

[[server.tokens]]
name = "fuzz"
role = "operator"
sha256 = "{hash}"

[[secrets]]
id = "a"
store = "local"
path = "a"
policy = "manual"
create_if_missing = true
"#
    ));
    // schemathesis keeps a cache in its working directory: not in the source tree.
    let scratch = tempfile::tempdir().expect("scratch");
    let out = std::process::Command::new(bin)
        .current_dir(scratch.path())
        .arg("run")
        .arg(format!("{}/openapi.json", server.base))
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "40",
            "--seed",
            "20261201",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "Selected: 11/11" (schemathesis leaves out the document itself) and "Tested: 11".
    let number = |label: &str| {
        report
            .lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(|rest| {
                rest.trim()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
    };
    let selected = number("Selected:").expect("Selected: in the report");
    assert_eq!(
        number("Tested:"),
        Some(selected),
        "every operation was tested:\n{report}"
    );
}
