//! [`RedisLogin`]: a tiny RESP2 client over a tokio `TcpStream`: `AUTH <user> <password>`
//! must answer `+OK` (the two-argument form never falls back to the `default` user), and the
//! check is `PING` answering `+PONG`.

use async_trait::async_trait;
use rotation_core::SecretValue;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{Login, Session};

/// Logs in to Redis at `host:port` (plain TCP) as an ACL user.
#[derive(Debug, Clone)]
pub struct RedisLogin {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

#[async_trait]
impl Login for RedisLogin {
    fn describe(&self) -> String {
        format!("redis {}:{}", self.host, self.port)
    }

    async fn login(
        &self,
        username: &str,
        password: &SecretValue,
    ) -> Result<Box<dyn Session>, String> {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut session = RedisSession {
            conn: BufReader::new(stream),
        };
        let answer = session
            .call(&[b"AUTH", username.as_bytes(), password.expose()])
            .await?;
        if answer != "+OK" {
            return Err(format!("AUTH answered {answer:?}"));
        }
        Ok(Box::new(session))
    }
}

struct RedisSession {
    conn: BufReader<TcpStream>,
}

impl RedisSession {
    /// Sends `args` as one command; the reply's first line (a status or an error: the only
    /// replies AUTH and PING give), an error reply as `Err`.
    async fn call(&mut self, args: &[&[u8]]) -> Result<String, String> {
        let mut frame = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            frame.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            frame.extend_from_slice(arg);
            frame.extend_from_slice(b"\r\n");
        }
        let written = self.conn.get_mut().write_all(&frame).await;
        // The frame held the password: wipe it.
        zeroize::Zeroize::zeroize(&mut frame);
        written.map_err(|e| format!("send: {e}"))?;
        let mut line = String::new();
        let n = self
            .conn
            .read_line(&mut line)
            .await
            .map_err(|e| format!("receive: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".to_owned());
        }
        let line = line.trim_end_matches("\r\n");
        match line.strip_prefix('-') {
            Some(error) => Err(error.to_owned()),
            None => Ok(line.to_owned()),
        }
    }
}

#[async_trait]
impl Session for RedisSession {
    async fn check(&mut self) -> Result<(), String> {
        match self.call(&[b"PING"]).await?.as_str() {
            "+PONG" => Ok(()),
            other => Err(format!("PING answered {other:?}")),
        }
    }

    async fn close(mut self: Box<Self>) {
        let _ = self.conn.get_mut().shutdown().await;
    }
}
