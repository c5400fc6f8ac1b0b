//! Project automation, reached through the cargo alias `cargo xtask <task>`.
//!
//! - `tidy`: fast checks of the repository's shape (dependency direction, conformance cases
//!   listed, paths in docs/ARCHITECTURE.md, unused dependencies, `//!` docs), see `tidy.rs`.
//! - `ci`: everything CI checks, in order: tidy, rustfmt, clippy (`-D warnings`), the whole
//!   test suite (against a real OpenBao dev server and a moto server, with schemathesis for the
//!   API fuzz test, see `services.rs`; the database targets' tests use the machine's MariaDB
//!   and private PostgreSQL, MariaDB and Redis servers they start themselves), rustdoc (`-D warnings`) and
//!   `cargo deny check bans licenses sources`.
//! - `bench`: the benchmark harnesses (release build, same servers), which print ratios
//!   against a baseline run in the same process: rotations through the engine and the stores,
//!   the server's API under load, and 100 PostgreSQL users through the `postgres` target and
//!   verifier against the raw statements and logins (a private server).
//! - `test [ARGS]`: `cargo test ARGS` with the services `ci` provides (e.g. `cargo xtask test -p
//!   rotation-testkit`).
//! - `deny-advisories`: the advisory check, separate because it needs to download the advisory
//!   database.
//! - `man [DIR]`: the man pages of `rotation` (one per command and subcommand, from its clap
//!   definitions through `clap_mangen`) into DIR, default `target/man`. It runs the CLI's
//!   hidden `manpages` command, so xtask itself depends on no workspace crate.
#![forbid(unsafe_code)]

mod services;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use services::Services;

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

/// The workspace root (xtask lives one level below it).
fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

fn run(name: &str, mut cmd: Command) -> Result<()> {
    eprintln!("==> {name}: {cmd:?}");
    let start = Instant::now();
    let status = cmd
        .status()
        .with_context(|| format!("{name}: cannot start {cmd:?}"))?;
    eprintln!(
        "<== {name}: {status} in {:.1}s",
        start.elapsed().as_secs_f64()
    );
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}

fn ci() -> Result<()> {
    // First: it reads files only, so a layering or doc mistake fails in a second, not after
    // the build.
    tidy::run(&workspace_root())?;

    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run("fmt", fmt)?;

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]);
    run("clippy", clippy)?;

    // Build the binaries first: the end-to-end tests run the real `rotation` executable.
    let mut build = cargo();
    build.args(["build", "--workspace", "--bins", "--locked"]);
    run("build", build)?;

    // Killed when `services` goes out of scope: after the tests, or on any early return.
    let services = Services::start(&workspace_root())?;
    let mut test = cargo();
    // --nocapture: the crash-injection suites print how many kill points they exercised.
    test.args([
        "test",
        "--workspace",
        "--locked",
        "--no-fail-fast",
        "--",
        "--nocapture",
    ]);
    services.configure(&mut test);
    run("test", test)?;
    drop(services);

    // The one feature combination beyond the default: a build with a single remote store
    // compiles (no other store's SDK) and names a left-out store's feature in its config error.
    let mut one_store = cargo();
    one_store.args([
        "test",
        "-p",
        "rotation-config",
        "--no-default-features",
        "--features",
        "vault",
        "--locked",
    ]);
    run("one-store config", one_store)?;
    let mut one_store = cargo();
    one_store.args([
        "check",
        "-p",
        "rotation-cli",
        "-p",
        "rotation-server",
        "--no-default-features",
        "--features",
        "vault",
        "--locked",
    ]);
    run("one-store binaries", one_store)?;

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--no-deps", "--locked"])
        .env("RUSTDOCFLAGS", "-D warnings");
    run("doc", doc)?;

    let mut deny = cargo();
    deny.args(["deny", "--locked", "check", "bans", "licenses", "sources"]);
    run("deny", deny).context(
        "cargo-deny is required: `cargo install --locked cargo-deny` (.ci/run does this)",
    )?;
    eprintln!("ci: all checks passed");
    Ok(())
}

fn bench() -> Result<()> {
    let services = Services::start(&workspace_root())?;
    let mut cmd = cargo();
    cmd.args([
        "bench",
        "--locked",
        "-p",
        "rotation-e2e",
        "--bench",
        "rotate",
    ]);
    services.configure(&mut cmd);
    run("bench", cmd)?;
    // The daemon's API under load (needs no external service).
    let mut api = cargo();
    api.args([
        "bench",
        "--locked",
        "-p",
        "rotation-server",
        "--bench",
        "api",
    ]);
    run("bench api", api)?;
    // 100 PostgreSQL users through the target and verifier against the raw statements (a
    // private server the bench starts itself).
    let mut pg = cargo();
    pg.args([
        "bench",
        "--locked",
        "-p",
        "rotation-postgres",
        "--bench",
        "rotate_users",
    ]);
    run("bench postgres", pg)
}

/// `cargo xtask man [DIR]`: `rotation manpages DIR` (default `target/man` under the target
/// directory in use).
fn man(dir: Option<PathBuf>) -> Result<()> {
    let dir = match dir {
        Some(dir) => dir,
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| workspace_root().join("target"), PathBuf::from)
            .join("man"),
    };
    let mut cmd = cargo();
    cmd.args(["run", "-q", "-p", "rotation-cli", "--", "manpages"])
        .arg(&dir);
    run("man", cmd)
}

fn main() -> Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "ci" => ci(),
        "tidy" => tidy::run(&workspace_root()),
        "bench" => bench(),
        "test" => {
            // `cargo test ARGS` with the same services as `ci`, for working on one crate.
            let services = Services::start(&workspace_root())?;
            let mut cmd = cargo();
            cmd.arg("test").args(std::env::args().skip(2));
            services.configure(&mut cmd);
            run("test", cmd)
        }
        "man" => man(std::env::args().nth(2).map(PathBuf::from)),
        "deny-advisories" => {
            let mut cmd = cargo();
            cmd.args(["deny", "check", "advisories"]);
            run("advisories", cmd)
        }
        _ => {
            eprintln!(
                "usage: cargo xtask <ci|tidy|bench|test [CARGO TEST ARGS]|man [DIR]|deny-advisories>"
            );
            std::process::exit(2);
        }
    }
}
