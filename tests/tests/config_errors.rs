//! Invalid configs exit 2, name the file, line and field, and change nothing.

use std::collections::BTreeMap;
use std::path::Path;

use rotation_e2e::{Sandbox, basic_config, describe, seed};

fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.display().to_string(),
                    std::fs::read(&path).expect("read"),
                );
            }
        }
    }
    out
}

fn check(config: &str, expect_in_error: &[&str]) {
    let sandbox = Sandbox::new(config);
    seed(&sandbox.store(".rotation/store"), "app/key", b"value");
    let before = snapshot(sandbox.path());
    for args in [
        &["rotate", "s"][..],
        &["rotate", "--all"],
        &["config", "check"],
        &["status"],
    ] {
        let out = sandbox.run(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("rotation.toml:"),
            "file and line named: {stderr}"
        );
        for needle in expect_in_error {
            assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
        }
    }
    assert_eq!(
        snapshot(sandbox.path()),
        before,
        "an invalid config changed files"
    );
}

fn line_of(config: &str, needle: &str) -> String {
    let n = config
        .lines()
        .position(|l| l.contains(needle))
        .expect("needle in config")
        + 1;
    format!("rotation.toml:{n}:")
}

#[test]
fn unknown_verifier() {
    let config =
        basic_config("true", "").replace("verifiers = [\"check\"]", "verifiers = [\"nope\"]");
    check(
        &config,
        &[
            "policies.default.verifiers",
            "unknown verifier \"nope\"",
            &line_of(&config, "\"nope\""),
        ],
    );
}

#[test]
fn empty_charset() {
    let config = basic_config("true", "generator = \"g\"")
        + "\n[generators.g]\nkind = \"random\"\nlength = 16\ncharset = \"\"\n";
    check(
        &config,
        &[
            "generators.g.charset",
            "empty",
            &line_of(&config, "charset = \"\""),
        ],
    );
}

#[test]
fn max_retries_out_of_range() {
    let config = basic_config("true", "")
        .replace("interval = \"30d\"", "interval = \"30d\"\nmax_retries = 11");
    check(
        &config,
        &[
            "policies.default.max_retries",
            &line_of(&config, "max_retries = 11"),
        ],
    );
}

#[test]
fn unknown_store() {
    let config = basic_config("true", "").replace("store = \"local\"", "store = \"elsewhere\"");
    check(
        &config,
        &[
            "store",
            "unknown store \"elsewhere\"",
            &line_of(&config, "store = \"elsewhere\""),
        ],
    );
}

#[test]
fn two_ids_on_one_store_path() {
    let config = basic_config("true", "")
        + "\n[[secrets]]\nid = \"t\"\nstore = \"local\"\npath = \"app/key\"\npolicy = \"default\"\n";
    let lines: Vec<&str> = config.lines().collect();
    let second = lines
        .iter()
        .rposition(|l| *l == "path = \"app/key\"")
        .expect("second path")
        + 1;
    check(
        &config,
        &[
            "secrets[1] (id \"t\").path",
            "\"app/key\" in store \"local\" is already the path of secret \"s\"",
            &format!("rotation.toml:{second}:"),
        ],
    );
}

#[test]
fn unsupported_strategy_and_unknown_generator_type() {
    let config = basic_config("true", "").replace(
        "interval = \"30d\"",
        "interval = \"30d\"\nstrategy = \"blue_green\"",
    );
    check(&config, &["policies.default.strategy", "blue_green"]);
    let config =
        basic_config("true", "generator = \"g\"") + "\n[generators.g]\nkind = \"mystery\"\n";
    check(&config, &["mystery"]);
}

#[test]
fn require_verification_without_verifier_fails_closed() {
    let config = basic_config("true", "").replace("verifiers = [\"check\"]", "verifiers = []");
    check(
        &config,
        &["policies.default.verifiers", "require_verification"],
    );
}

#[test]
fn bad_schedule_inputs() {
    let with =
        |policy_lines: &str| basic_config("true", "").replace("interval = \"30d\"", policy_lines);
    let cases = [
        ("interval = \"-1d\"", "policies.default.interval"),
        ("cron = \"61 * * * *\"", "policies.default.cron"),
        (
            "cron = \"0 3 * * *\"\ntimezone = \"Mars/Olympus\"",
            "policies.default.timezone",
        ),
        (
            "interval = \"1h\"\nwindow = \"01:00-03:00\"",
            "policies.default.window",
        ),
        (
            "interval = \"1h\"\njitter = \"2h\"",
            "policies.default.jitter",
        ),
    ];
    for (lines, field) in cases {
        let config = with(lines);
        let first = lines.lines().last().expect("line");
        check(&config, &[field, &line_of(&config, first)]);
    }
}

#[test]
fn unsafe_file_store_directories_are_refused_and_nothing_is_written() {
    use std::os::unix::fs::PermissionsExt;
    // A world-writable root: a config error before anything runs.
    let sandbox = Sandbox::new(&basic_config("cat >/dev/null", ""));
    let root = sandbox.path().join(".rotation/store");
    seed(&sandbox.store(".rotation/store"), "app/key", b"value");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let before = snapshot(sandbox.path());
    let out = sandbox.run(&["rotate", "s"], None);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("world-writable"),
        "{}",
        describe(&out)
    );
    assert_eq!(snapshot(sandbox.path()), before, "nothing written");

    // A secret directory that is a symlink out of the root: refused, the outside untouched.
    let sandbox = Sandbox::new(&basic_config("cat >/dev/null", ""));
    let root = sandbox.path().join(".rotation/store");
    seed(&sandbox.store(".rotation/store"), "other", b"value");
    let outside = tempfile::tempdir().expect("outside");
    std::os::unix::fs::symlink(outside.path(), root.join("app%2Fkey")).expect("symlink");
    let out = sandbox.run(&["rotate", "s", "--value-stdin"], Some(b"new"));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("symlink")
            || String::from_utf8_lossy(&out.stderr).contains("symlink"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        std::fs::read_dir(outside.path()).expect("outside").count(),
        0,
        "nothing written through the symlink"
    );
}
