//! [`PrivateRedis`]: a Redis server of one test, with an ACL file (an `admin` user with a
//! password, the `default` user off), nothing persisted but the ACL file (`ACL SAVE`), and a
//! tiny blocking RESP client to drive it (no `redis-cli`: a wrong password there falls back to
//! the default user, and its arguments would put passwords in argv).
//!
//! The shared Redis at 127.0.0.1:6379 is never used here: a private server cannot disturb the
//! other tests, and only it can have an ACL file.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::{TIMEOUT, free_port, tail, unique};

/// A private `redis-server` (see the module docs). Dropping it stops the server.
pub struct PrivateRedis {
    /// Its port on 127.0.0.1 (plain TCP).
    pub port: u16,
    /// Its TLS port, for a server from [`PrivateRedis::start_tls`].
    pub tls_port: Option<u16>,
    /// The admin user (`+@all`).
    pub admin_user: String,
    /// Its password.
    pub admin_password: String,
    /// The server's ACL file (absent for [`PrivateRedis::start_without_acl_file`]).
    pub acl_file: PathBuf,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl PrivateRedis {
    /// Start a server on a free port and wait until the admin's `PING` answers.
    ///
    /// # Panics
    /// If `redis-server` is missing (install Debian's `redis-server`) or does not start.
    pub fn start() -> PrivateRedis {
        Self::start_with(None, true)
    }

    /// A server without an ACL file (`ACL SAVE` fails): the admin is the `default` user with
    /// a password (`--requirepass`).
    pub fn start_without_acl_file() -> PrivateRedis {
        Self::start_with(None, false)
    }

    /// Like [`PrivateRedis::start`], also serving TLS on [`PrivateRedis::tls_port`] with the
    /// PEM files `cert` and `key`; clients must present a certificate signed by `ca`.
    pub fn start_tls(cert: &Path, key: &Path, ca: &Path) -> PrivateRedis {
        Self::start_with(Some((cert, key, ca)), true)
    }

    fn start_with(tls: Option<(&Path, &Path, &Path)>, with_acl_file: bool) -> PrivateRedis {
        let dir = tempfile::Builder::new()
            .prefix("rotation-redis-")
            .tempdir()
            .expect("create a temporary directory");
        let admin_password = unique("admin-pw");
        let acl_file = dir.path().join("users.acl");
        if with_acl_file {
            std::fs::write(
                &acl_file,
                format!("user admin on >{admin_password} ~* &* +@all\nuser default off\n"),
            )
            .expect("write the ACL file");
        }
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log).expect("create the server log");
        let port = free_port();
        let tls_port = tls.map(|_| {
            std::iter::repeat_with(free_port)
                .find(|&p| p != port)
                .expect("a second free port")
        });
        // The password goes in a config file, not in argv (`redis-server FILE` must come
        // first, the other options after it).
        let conf = dir.path().join("redis.conf");
        let setting = if with_acl_file {
            format!("aclfile {}\n", acl_file.display())
        } else {
            format!("requirepass {admin_password}\n")
        };
        std::fs::write(&conf, setting).expect("write the config file");
        let mut cmd = Command::new("redis-server");
        cmd.arg(&conf);
        if let (Some((cert, key, ca)), Some(tls_port)) = (tls, tls_port) {
            cmd.args(["--tls-port", &tls_port.to_string()])
                .arg("--tls-cert-file")
                .arg(cert)
                .arg("--tls-key-file")
                .arg(key)
                .arg("--tls-ca-cert-file")
                .arg(ca)
                .args(["--tls-auth-clients", "yes"]);
        }
        let child = cmd
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone the log handle"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot start redis-server ({err}): install it (Debian: apt-get install \
                     redis-server); the Redis tests need a real server"
                )
            });
        let mut server = PrivateRedis {
            port,
            tls_port,
            admin_user: if with_acl_file { "admin" } else { "default" }.to_owned(),
            admin_password,
            acl_file,
            child,
            log,
            _dir: dir,
        };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "redis-server exited ({status}); log tail:\n{}",
                    tail(&server.log)
                );
            }
            if server.try_admin(&["PING"]).as_deref() == Ok("PONG") {
                return server;
            }
            assert!(
                start.elapsed() < TIMEOUT,
                "redis-server on port {port} did not answer within {TIMEOUT:?}; log tail:\n{}",
                tail(&server.log)
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// The admin's `args`: the reply as text (arrays one element a line).
    ///
    /// # Panics
    /// On an error reply.
    pub fn admin(&self, args: &[&str]) -> String {
        self.try_admin(args)
            .unwrap_or_else(|err| panic!("redis {:?}: {err}", args.first()))
    }

    /// The admin's `args`, an error reply as `Err`.
    pub fn try_admin(&self, args: &[&str]) -> Result<String, String> {
        self.call_as(Some((&self.admin_user, &self.admin_password)), args)
    }

    /// `args` on a fresh connection logged in as `login` (if any); the login refused or an
    /// error reply as `Err`.
    pub fn call_as(&self, login: Option<(&str, &str)>, args: &[&str]) -> Result<String, String> {
        let mut conn = RespLine::connect(self.port).map_err(|e| e.to_string())?;
        if let Some((user, password)) = login {
            conn.call(&["AUTH", user, password])?;
        }
        conn.call(args)
    }

    /// Whether `user` logs in with `password` on a fresh connection: `AUTH` answers `OK` and
    /// `ACL WHOAMI` names the user (so the user needs `+acl|whoami`).
    pub fn logs_in(&self, user: &str, password: &str) -> bool {
        self.call_as(Some((user, password)), &["ACL", "WHOAMI"])
            .is_ok_and(|who| who == user)
    }

    /// A connection logged in as `user` that stays open (for session listings), or the error.
    pub fn open_session(&self, user: &str, password: &str) -> Result<RespLine, String> {
        let mut conn = RespLine::connect(self.port).map_err(|e| e.to_string())?;
        conn.call(&["AUTH", user, password])?;
        Ok(conn)
    }

    /// The ACL file's text.
    pub fn acl_text(&self) -> String {
        std::fs::read_to_string(&self.acl_file).expect("read the ACL file")
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking RESP2 connection (test use only).
pub struct RespLine {
    reader: BufReader<TcpStream>,
}

impl RespLine {
    /// Connect to 127.0.0.1:`port`.
    pub fn connect(port: u16) -> std::io::Result<RespLine> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(RespLine {
            reader: BufReader::new(stream),
        })
    }

    /// Send `args`; the reply as text, an error reply (or I/O failure) as `Err`.
    pub fn call(&mut self, args: &[&str]) -> Result<String, String> {
        let mut frame = format!("*{}\r\n", args.len());
        for a in args {
            frame.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.reader
            .get_mut()
            .write_all(frame.as_bytes())
            .map_err(|e| e.to_string())?;
        self.reply().map_err(|e| e.to_string())?
    }

    fn reply(&mut self) -> std::io::Result<Result<String, String>> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let line = line.trim_end_matches("\r\n");
        let (kind, rest) = line.split_at_checked(1).unwrap_or(("", ""));
        Ok(match kind {
            "+" | ":" => Ok(rest.to_owned()),
            "-" => Err(rest.to_owned()),
            "$" if rest == "-1" => Ok("(nil)".to_owned()),
            "$" => {
                let len: usize = rest.parse().map_err(std::io::Error::other)?;
                let mut data = vec![0; len + 2];
                self.reader.read_exact(&mut data)?;
                data.truncate(len);
                Ok(String::from_utf8_lossy(&data).into_owned())
            }
            "*" if rest == "-1" => Ok("(nil)".to_owned()),
            "*" => {
                let len: usize = rest.parse().map_err(std::io::Error::other)?;
                let mut items = Vec::with_capacity(len);
                for _ in 0..len {
                    items.push(self.reply()?.unwrap_or_else(|e| format!("(error) {e}")));
                }
                Ok(items.join("\n"))
            }
            _ => Err(format!("not a RESP reply: {line:?}")),
        })
    }
}
