//! [`PrivateMariadb`]: a MariaDB server of one test, for settings the shared server
//! (127.0.0.1:3306) must not get: the general log (every statement written to a file), which a
//! test reads to prove that no password reaches the server in clear.
//!
//! `mariadb-install-db` makes a data directory in a temporary directory and `mariadbd` serves
//! it on a free port of 127.0.0.1 (`--no-defaults`: nothing from `/etc/mysql` applies;
//! `--skip-name-resolve`, as on the shared server, so TCP logins from loopback match
//! `'u'@'%'`). Root logs in over the server's unix socket without a password (used by
//! [`PrivateMariadb::sql`]); [`PrivateMariadb::admin_user`] is an admin with a password that
//! logs in over TCP. The binaries come from `PATH` (or `/usr/sbin`, `/usr/bin`): Debian's
//! `mariadb-server`. Without them, [`PrivateMariadb::start`] panics: there is no skipping.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::{TIMEOUT, free_port, tail, unique};

/// A private MariaDB server; killed and its files removed when dropped.
pub struct PrivateMariadb {
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// An admin (ALL PRIVILEGES WITH GRANT OPTION) that logs in over TCP as `'<user>'@'%'`.
    pub admin_user: String,
    /// Its password (test-only).
    pub admin_password: String,
    client: PathBuf,
    socket: PathBuf,
    general_log: PathBuf,
    child: Child,
    dir: tempfile::TempDir,
}

/// Where `name` is: `PATH`, then the usual Debian places.
fn binary(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found in PATH, /usr/sbin or /usr/bin: install MariaDB \
                 (`apt-get install mariadb-server mariadb-client`)"
            )
        })
}

impl PrivateMariadb {
    /// Creates the data directory, starts the server with the general log on, waits until it
    /// answers and creates the admin.
    ///
    /// # Panics
    /// If a binary is missing or the server does not come up within 30 s (with its log).
    pub fn start() -> PrivateMariadb {
        Self::start_with(&[])
    }

    /// [`PrivateMariadb::start`] with more `mariadbd` options (`--ssl-cert=...`,
    /// `--plugin-load-add=simple_password_check`, ...).
    ///
    /// # Panics
    /// As [`PrivateMariadb::start`].
    pub fn start_with(options: &[String]) -> PrivateMariadb {
        let (install, server, client) = (
            binary("mariadb-install-db"),
            binary("mariadbd"),
            binary("mariadb"),
        );
        let dir = tempfile::Builder::new()
            .prefix("rotation-mariadb-")
            .tempdir()
            .expect("create a temporary directory");
        let data = dir.path().join("data");
        let install_log = dir.path().join("install.log");
        // A private tmpdir: a starting server removes the `#sql*` temporary files it finds in
        // its tmpdir, which broke another test's install running beside it in a shared /tmp.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).expect("create the server's tmpdir");
        let log = File::create(&install_log).expect("create the install log");
        let status = Command::new(&install)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--user=root",
            ])
            .stdin(Stdio::null())
            // One handle for both: two would overwrite each other's lines.
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .status()
            .unwrap_or_else(|err| panic!("cannot run {}: {err}", install.display()));
        assert!(
            status.success(),
            "{} failed ({status}):\n{}",
            install.display(),
            tail(&install_log)
        );
        let port = free_port();
        let socket = dir.path().join("sock");
        let general_log = dir.path().join("general.log");
        let error_log = dir.path().join("error.log");
        let child = Command::new(&server)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--port={port}"))
            .arg(format!("--socket={}", socket.display()))
            .arg("--bind-address=127.0.0.1")
            .arg("--general-log=1")
            .arg(format!("--general-log-file={}", general_log.display()))
            .arg(format!("--log-error={}", error_log.display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .args([
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                // CI runs as root; mariadbd refuses to unless told so.
                "--user=root",
            ])
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", server.display()));
        let admin_user = format!("rt_admin_{}", unique("").replace('-', "_"));
        let mut db = PrivateMariadb {
            port,
            admin_user,
            // Upper and lower case, a digit and a `-`: what a password validation plugin
            // loaded through `options` (`simple_password_check`) asks for.
            admin_password: format!("Pw1-{}", unique("admin")),
            client,
            socket,
            general_log,
            child,
            dir,
        };
        db.wait_ready(&error_log);
        db.sql(&format!(
            "CREATE USER '{u}'@'%' IDENTIFIED BY '{p}'; \
             GRANT ALL PRIVILEGES ON *.* TO '{u}'@'%' WITH GRANT OPTION;",
            u = db.admin_user,
            p = db.admin_password
        ));
        db
    }

    fn wait_ready(&mut self, error_log: &Path) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("mariadbd exited ({status}); log tail:\n{}", tail(error_log));
            }
            if self.try_sql("SELECT 1").is_ok() {
                return;
            }
            assert!(
                start.elapsed() < TIMEOUT,
                "mariadbd on port {} did not start within {TIMEOUT:?}; log tail:\n{}",
                self.port,
                tail(error_log)
            );
            sleep(Duration::from_millis(100));
        }
    }

    fn try_sql(&self, statements: &str) -> Result<String, String> {
        let output = Command::new(&self.client)
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.socket.display()))
            .args([
                "-u",
                "root",
                "--batch",
                "--skip-column-names",
                "-e",
                statements,
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|err| format!("cannot run {}: {err}", self.client.display()))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// Runs `statements` as root over the unix socket; their output (tab-separated, no
    /// header).
    ///
    /// # Panics
    /// If they fail (with the client's stderr).
    pub fn sql(&self, statements: &str) -> String {
        self.try_sql(statements)
            .unwrap_or_else(|err| panic!("`{statements}` failed on the private MariaDB: {err}"))
    }

    /// The general log so far: every statement the server received.
    pub fn general_log(&self) -> String {
        std::fs::read_to_string(&self.general_log)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", self.general_log.display()))
    }

    /// The temporary directory holding the data, the socket and the logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrivateMariadb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
