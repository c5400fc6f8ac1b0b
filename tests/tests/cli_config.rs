//! Config ergonomics through the binary: `-c` honoured by `init`, the config found in a parent
//! directory or through `ROTATION_CONFIG`, a hint when there is none, flags that need each
//! other, EXAMPLES in every `--help`, and one man page per command.

use std::path::Path;
use std::process::{Command, Output};

use rotation_e2e::{describe, rotation_bin, run_command};

/// `rotation <args>` in `cwd`, with no config variable.
fn rotation_in(cwd: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(rotation_bin());
    cmd.current_dir(cwd)
        .args(args)
        .env_remove("ROTATION_CONFIG")
        .env_remove("ROTATION_LOG")
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_command(cmd, None)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn init_writes_the_config_given_with_c() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = rotation_in(dir.path(), &["-c", "ops/custom.toml", "init"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(dir.path().join("ops/custom.toml").is_file());
    assert!(!dir.path().join("rotation.toml").exists());
    assert!(!dir.path().join("ops/rotation.toml").exists());
    // Its store lives beside it, and the other commands read it with the same -c.
    assert!(dir.path().join("ops/.rotation/store").is_dir());
    let out = rotation_in(
        dir.path(),
        &["-c", "ops/custom.toml", "rotate", "--all"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    let out = rotation_in(dir.path(), &["init", "--dir", "elsewhere"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(dir.path().join("elsewhere/rotation.toml").is_file());
    let out = rotation_in(dir.path(), &["-c", "x.toml", "init", "--dir", "d"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(!dir.path().join("x.toml").exists() && !dir.path().join("d").exists());
}

#[test]
fn the_config_is_found_in_a_parent_then_through_rotation_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("project");
    let deep = project.join("src/deeper");
    std::fs::create_dir_all(&deep).expect("dirs");
    let out = rotation_in(&project, &["init"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = rotation_in(&deep, &["config", "check"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let expected = project.join("rotation.toml");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&expected.display().to_string()),
        "{}",
        describe(&out)
    );

    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("dir");
    if outside
        .ancestors()
        .any(|d| d.join("rotation.toml").is_file())
    {
        return; // a rotation.toml above the temporary directory would be found first
    }
    let out = rotation_in(&outside, &["status"], &[("ROTATION_CONFIG", &expected)]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));

    let out = rotation_in(&outside, &["status"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains(&outside.display().to_string()), "{err}");
    assert!(err.contains("ROTATION_CONFIG"), "{err}");
    assert!(err.contains("rotation init"), "{err}");
}

#[test]
fn flags_that_need_each_other_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = rotation_in(dir.path(), &["run", "--tick", "5s"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("--watch"), "{}", describe(&out));

    let out = rotation_in(dir.path(), &["rotate"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("--all"), "{}", describe(&out));

    for args in [
        &["rotate", "--all", "--value-stdin"][..],
        &["rotate", "s", "--value-stdin", "--dry-run"],
        &["rotate", "s", "--all"],
    ] {
        let out = rotation_in(dir.path(), args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert!(
            stderr(&out).contains("cannot be used with"),
            "{args:?}: {}",
            describe(&out)
        );
    }
}

/// Every command path (`rotate`, `audit verify`, ...) of the CLI, from its man pages' names.
fn commands(man: &Path) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = std::fs::read_dir(man)
        .expect("man dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".1").map(str::to_owned))
        .map(|n| n.split('-').skip(1).map(str::to_owned).collect())
        .collect();
    out.sort();
    out
}

#[test]
fn a_man_page_per_command_and_examples_in_every_help() {
    let dir = tempfile::tempdir().expect("tempdir");
    let man = dir.path().join("man");
    let out = rotation_in(dir.path(), &["manpages", man.to_str().expect("utf-8")], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let pages = commands(&man);
    for expected in [
        vec![],
        vec!["rotate".to_owned()],
        vec!["audit".to_owned(), "verify".to_owned()],
        vec!["audit".to_owned(), "repair".to_owned()],
        vec!["schedule".to_owned(), "pause".to_owned()],
        vec!["completions".to_owned()],
    ] {
        assert!(
            pages.contains(&expected),
            "no page for {expected:?}: {pages:?}"
        );
    }
    assert!(
        !pages.contains(&vec!["manpages".to_owned()]),
        "hidden command got a page"
    );
    let rotate = std::fs::read_to_string(man.join("rotation-rotate.1")).expect("page");
    assert!(rotate.contains("value\\-stdin"), "{rotate}");

    // Every command's --help (pages are named after every command) ends with examples.
    for path in &pages {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = rotation_in(dir.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", describe(&out));
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Examples:\n  rotation"), "{args:?}: {help}");
    }
}
