//! [`PrivateMoto`]: a moto server of one test, for what must not touch the shared one: moto's
//! IAM enforcement (`/moto-api/reset-auth`) is global to a server, so a test that turns it on
//! runs its own server. The IAM and Secrets Manager set-up calls are raw HTTP (moto does not
//! check signatures until enforcement is on), so no IAM SDK is needed.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::{HOW_TO_RUN, TIMEOUT, free_port, tail};

/// An IAM user's access key, created with [`PrivateMoto::user`].
#[derive(Clone, Debug)]
pub struct AccessKey {
    /// `AKIA...`
    pub id: String,
    /// The secret access key (test-only).
    pub secret: String,
}

/// A moto server started for one test on a free port; killed when dropped.
pub struct PrivateMoto {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub endpoint: String,
    authority: String,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl PrivateMoto {
    /// Starts `moto_server` from the venv that holds the `bao` of `ROTATION_TEST_BAO` (the one
    /// `cargo xtask test` installs moto into) and waits until it answers.
    ///
    /// # Panics
    /// If `ROTATION_TEST_BAO` is missing or the server does not answer within 30 s.
    pub fn start() -> PrivateMoto {
        let bao = std::env::var_os("ROTATION_TEST_BAO")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("ROTATION_TEST_BAO is not set: {HOW_TO_RUN}"));
        let bin = bao
            .parent()
            .expect("the venv's bin directory")
            .join("moto_server");
        let dir = tempfile::Builder::new()
            .prefix("rotation-private-moto-")
            .tempdir()
            .expect("create a temporary directory");
        let log = dir.path().join("moto.log");
        let out = File::create(&log).expect("create the moto log");
        let port = free_port();
        let mut cmd = Command::new(&bin);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(&key);
            }
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", bin.display()));
        let authority = format!("127.0.0.1:{port}");
        let mut moto = PrivateMoto {
            endpoint: format!("http://{authority}"),
            authority,
            child,
            log,
            _dir: dir,
        };
        moto.wait_ready();
        moto
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if self.request("GET", "/moto-api/", &[], "").is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("moto_server exited ({status}):\n{}", tail(&self.log));
            }
            if start.elapsed() > TIMEOUT {
                panic!(
                    "moto_server at {} did not answer in {TIMEOUT:?}:\n{}",
                    self.endpoint,
                    tail(&self.log)
                );
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// From now on every request must be signed with the keys of an IAM user of this server,
    /// and IAM policies are enforced.
    pub fn enforce_auth(&self) {
        let (code, body) = self
            .request(
                "POST",
                "/moto-api/reset-auth",
                &[("Content-Type", "text/plain")],
                "0",
            )
            .expect("POST /moto-api/reset-auth");
        assert_eq!(code, 200, "reset-auth answered: {body}");
    }

    /// Creates IAM user `name` with an access key; `policy` (a JSON policy document) becomes its
    /// only inline policy. Call before [`PrivateMoto::enforce_auth`].
    pub fn user(&self, name: &str, policy: Option<&str>) -> AccessKey {
        self.iam(&[("Action", "CreateUser"), ("UserName", name)]);
        if let Some(doc) = policy {
            self.iam(&[
                ("Action", "PutUserPolicy"),
                ("UserName", name),
                ("PolicyName", "test"),
                ("PolicyDocument", doc),
            ]);
        }
        let body = self.iam(&[("Action", "CreateAccessKey"), ("UserName", name)]);
        AccessKey {
            id: xml(&body, "AccessKeyId"),
            secret: xml(&body, "SecretAccessKey"),
        }
    }

    /// Creates a Secrets Manager secret holding `value`. Call before
    /// [`PrivateMoto::enforce_auth`].
    pub fn create_secret(&self, name: &str, value: &str) {
        let body = serde_json::json!({ "Name": name, "SecretString": value }).to_string();
        let (code, reply) = self
            .request(
                "POST",
                "/",
                &[
                    ("Authorization", &fake_auth("secretsmanager")),
                    ("X-Amz-Target", "secretsmanager.CreateSecret"),
                    ("Content-Type", "application/x-amz-json-1.1"),
                ],
                &body,
            )
            .expect("CreateSecret");
        assert_eq!(code, 200, "CreateSecret answered: {reply}");
    }

    fn iam(&self, params: &[(&str, &str)]) -> String {
        let mut form: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        form.push("Version=2010-05-08".to_owned());
        let (code, body) = self
            .request(
                "POST",
                "/",
                &[
                    ("Authorization", &fake_auth("iam")),
                    ("Content-Type", "application/x-www-form-urlencoded"),
                ],
                &form.join("&"),
            )
            .expect("IAM request");
        assert_eq!(code, 200, "IAM {params:?} answered: {body}");
        body
    }

    /// One HTTP/1.0 request (the server closes the connection after the response).
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        let mut stream = TcpStream::connect(&self.authority)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut head = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.authority,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        write!(stream, "{head}\r\n{body}")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let code = response
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not HTTP: {response:.80}")))?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((code, body))
    }
}

impl Drop for PrivateMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto picks the service from the credential scope of the `Authorization` header and checks
/// no signature while enforcement is off.
fn fake_auth(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, \
         SignedHeaders=host, Signature=0"
    )
}

fn xml(body: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = body
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {body}"))
        + open.len();
    let len = body[start..].find('<').expect("closing tag");
    body[start..start + len].to_owned()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
