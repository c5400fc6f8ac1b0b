//! [`PrivatePostgres`]: a PostgreSQL server of one test, with password (SCRAM) logins.
//!
//! The shared server on 127.0.0.1:5432 trusts every login, so a wrong password passes there:
//! useless for testing passwords. This one is initialised with `-A scram-sha-256` in a
//! temporary directory (`initdb --no-sync`, `fsync=off`: about a second), listens on a free
//! port of 127.0.0.1 and on a unix socket inside that directory, and logs every statement
//! (`log_statement=all`) to a file the test reads with [`PrivatePostgres::log`]. Its superuser
//! is `admin` with a random password.
//!
//! PostgreSQL refuses to run as root, so as root (CI) every server program runs as the
//! `postgres` user through `runuser`. The binaries are found in the newest
//! `/usr/lib/postgresql/<version>/bin` (or `ROTATION_TEST_PG_BIN`); without them this panics.
//!
//! Dropping it stops the server (`pg_ctl stop -m fast`) and removes the directory.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The superuser's name.
pub const ADMIN: &str = "admin";

/// A private PostgreSQL server (see the module docs).
pub struct PrivatePostgres {
    /// `postgres://admin@127.0.0.1:PORT/postgres` (no password: see [`Self::admin_password`]).
    pub url: String,
    /// 127.0.0.1.
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// The superuser `admin`'s password.
    pub admin_password: String,
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    running: bool,
    // Removed after `drop` has stopped the server.
    dir: tempfile::TempDir,
}

/// Settings and files for [`PrivatePostgres::start_with`].
#[derive(Default, Debug, Clone)]
pub struct PostgresOptions {
    settings: Vec<(String, String)>,
    files: Vec<(String, Vec<u8>)>,
}

impl PostgresOptions {
    /// A server setting (`-c name=value`); `{dir}` in the value becomes the server's
    /// directory (where [`PostgresOptions::file`] puts files).
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A file written into the server's directory before it starts, readable only by the
    /// server's user (mode 0600, as PostgreSQL wants for a TLS key).
    pub fn file(mut self, name: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((name.to_owned(), contents.into()));
        self
    }
}

impl PrivatePostgres {
    /// A new server with the default settings.
    ///
    /// # Panics
    /// If the PostgreSQL binaries are missing or the server does not start (with its output).
    pub fn start() -> PrivatePostgres {
        Self::start_with(PostgresOptions::default())
    }

    /// A new server with extra settings and files (TLS, preloaded modules).
    ///
    /// # Panics
    /// As [`PrivatePostgres::start`].
    pub fn start_with(options: PostgresOptions) -> PrivatePostgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("rotation-pg-")
            .tempdir()
            .expect("create a temporary directory");
        let owner = server_user();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("give the server's directory to postgres");
        }
        let admin_password = random_hex(16);
        let pwfile = dir.path().join("pwfile");
        write_private(&pwfile, admin_password.as_bytes(), owner);
        for (name, contents) in &options.files {
            write_private(&dir.path().join(name), contents, owner);
        }
        let data = dir.path().join("data");
        run_checked(
            server_command(&bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args([
                    "-A",
                    "scram-sha-256",
                    "-U",
                    ADMIN,
                    "-E",
                    "UTF8",
                    "--no-locale",
                ])
                .arg(format!("--pwfile={}", pwfile.display()))
                .arg("--no-sync"),
            "initdb",
        );
        fs::remove_file(&pwfile).expect("remove the password file");

        let port = crate::free_port();
        let socket_dir = dir.path().to_string_lossy().into_owned();
        let mut opts = format!(
            "-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c log_statement=all -c log_connections=on -c log_line_prefix='%m [%p] %u '"
        );
        for (name, value) in &options.settings {
            let value = value.replace("{dir}", &socket_dir);
            opts.push_str(&format!(" -c {name}='{value}'"));
        }
        let log = dir.path().join("server.log");
        let mut server = PrivatePostgres {
            url: format!("postgres://{ADMIN}@127.0.0.1:{port}/postgres"),
            host: "127.0.0.1".to_owned(),
            port,
            admin_password,
            bin,
            data,
            log,
            running: false,
            dir,
        };
        let out = server_command(&server.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&server.data)
            .arg("-l")
            .arg(&server.log)
            .args(["-w", "-t", "30", "-o", &opts, "start"])
            .output()
            .expect("run pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start failed ({}):\n{}{}\nserver log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            server.log()
        );
        server.running = true;
        server
    }

    /// The admin's database secret (AWS's keys), TLS off.
    pub fn admin_document(&self) -> String {
        self.document(ADMIN, &self.admin_password)
    }

    /// A database secret for `username` / `password` on this server (TLS off).
    pub fn document(&self, username: &str, password: &str) -> String {
        serde_json::json!({
            "engine": "postgres",
            "host": self.host,
            "port": self.port,
            "username": username,
            "password": password,
            "dbname": "postgres",
            "sslmode": "disable",
        })
        .to_string()
    }

    /// The server's log so far (every statement, connection and error).
    pub fn log(&self) -> String {
        let mut text = String::new();
        let _ = fs::File::open(&self.log).and_then(|mut f| f.read_to_string(&mut text));
        text
    }

    /// The directory holding the socket, the data and the files given at start.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `sql` as `admin` with `psql` (fed on stdin, so nothing lands in argv; stops at the
    /// first error) and returns its unaligned, tuples-only output, or its stderr.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        let mut child = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(self.dir.path())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", ADMIN, "-d", "postgres", "-f", "-"])
            .env("PGPASSWORD", &self.admin_password)
            .env_remove("PGSERVICE")
            .env_remove("PGSSLMODE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run psql");
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(sql.as_bytes())
            .expect("write to psql");
        let out = child.wait_with_output().expect("wait for psql");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// [`PrivatePostgres::try_sql`] that must succeed.
    ///
    /// # Panics
    /// If psql fails (with its stderr).
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|err| panic!("psql failed on {sql:?}:\n{err}"))
    }

    /// Stops the server (`pg_ctl stop -m fast`). Idempotent.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let _ = server_command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The newest installed version's `bin` directory with `initdb` and `pg_ctl`.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ROTATION_TEST_PG_BIN").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let root = Path::new("/usr/lib/postgresql");
    let newest = fs::read_dir(root)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version);
    match newest {
        Some((_, bin)) => bin,
        None => panic!(
            "no PostgreSQL server binaries (initdb, pg_ctl) under {}/<version>/bin: install the \
             server (apt-get install postgresql) or set ROTATION_TEST_PG_BIN",
            root.display()
        ),
    }
}

/// As root: the `postgres` user's uid and gid (the server refuses to run as root).
fn server_user() -> Option<(u32, u32)> {
    if id(&["-u"]) != 0 {
        return None;
    }
    Some((id(&["-u", "postgres"]), id(&["-g", "postgres"])))
}

fn id(args: &[&str]) -> u32 {
    let out = Command::new("id").args(args).output().expect("run id");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| {
            panic!(
                "`id {}` failed: {} (running as root needs a postgres user)",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// `program`, run as `postgres` when we are root.
fn server_command(program: &Path) -> Command {
    if server_user().is_some() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run_checked(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write_private(path: &Path, contents: &[u8], owner: Option<(u32, u32)>) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod 0600");
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown to postgres");
    }
}

/// `bytes` random bytes from the kernel, as hex.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
