//! Helpers for the end-to-end tests: locate the built `rotation` binary, lay out a config in a
//! temporary directory, run the binary and read the file store directly; [`load`] is the
//! zero-downtime load harness (clients logging in with the store's credential during
//! rotations).
#![forbid(unsafe_code)]

pub mod load;
pub mod pty;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rotation_core::{RotationId, SecretPath, SecretStore, SecretValue};
use rotation_file::FileStore;

/// Path of the `rotation` binary built in this target directory.
///
/// # Panics
/// If it has not been built (`cargo build -p rotation-cli`; `cargo xtask ci` does it): the tests
/// fail loudly instead of passing without running anything.
pub fn rotation_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile dir");
    let bin = dir.join("rotation");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p rotation-cli` first",
        bin.display()
    );
    bin
}

/// A temporary directory with a config file and a file store.
pub struct Sandbox {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    /// A new sandbox whose `rotation.toml` is `config`.
    pub fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("rotation.toml"), config).expect("write config");
        Self { dir }
    }

    /// The sandbox root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.path().join("rotation.toml")
    }

    /// A command running `rotation --config <sandbox>/rotation.toml <args>`.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(rotation_bin());
        cmd.arg("--config")
            .arg(self.config())
            .args(args)
            .env_remove("ROTATION_LOG")
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .env_remove("ROTATION_CONFIG");
        cmd
    }

    /// Run `rotation` with optional stdin.
    pub fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        run_command(self.command(args), stdin)
    }

    /// The file store at `<sandbox>/<root>`.
    pub fn store(&self, root: &str) -> FileStore {
        FileStore::builder(self.path().join(root))
            .max_versions(1000)
            .build()
            .expect("open store")
    }
}

/// Run a prepared command, feeding `stdin`.
pub fn run_command(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn rotation");
    if let Some(bytes) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(bytes)
            .expect("write stdin");
    }
    child.wait_with_output().expect("wait rotation")
}

/// Create `path` in `store` with `value`.
pub fn seed(store: &FileStore, path: &str, value: &[u8]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(store.write_current(
        &SecretPath::new(path),
        &RotationId::generate(),
        &SecretValue::new(value.to_vec()),
        None,
    ))
    .expect("seed secret");
}

/// Current version and value of `path`.
pub fn current(store: &FileStore, path: &str) -> (String, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let c = rt
        .block_on(store.read_current(&SecretPath::new(path)))
        .expect("read current");
    (c.version.to_string(), c.value.expose().to_vec())
}

/// Stdout, stderr and exit code as text for assertions.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A config with one file store at `.rotation/store`, one secret `s` at path `app/key`, the
/// given verifier command, and extra TOML appended.
pub fn basic_config(verifier_cmd: &str, extra: &str) -> String {
    format!(
        r#"
[stores.local]
kind = "file"
root = ".rotation/store"
max_versions = 1000

[verifiers.check]
kind = "command"
command = ["sh", "-c", {verifier_cmd:?}]
timeout = "20s"

[policies.default]
interval = "30d"
verifiers = ["check"]

[[secrets]]
id = "s"
store = "local"
path = "app/key"
policy = "default"
{extra}
"#
    )
}

/// A `[targets.app]` section running `script` with `sh -c` (pair with `target = "app"` on the
/// secret, e.g. as `basic_config`'s `extra`).
pub fn command_target(script: &str) -> String {
    format!(
        "\n[targets.app]\nkind = \"command\"\ncommand = [\"sh\", \"-c\", {script:?}]\ntimeout = \"60s\"\n"
    )
}
