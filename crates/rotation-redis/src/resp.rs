//! A minimal RESP2 client: one connection, one command at a time, the few replies Redis sends
//! to the commands this crate uses (`AUTH`, `ACL`, `CLIENT`, `SELECT`, `PING`...).
//!
//! Why not the `redis` crate: see the crate docs. What this keeps safe: a command's bytes (an
//! `AUTH` carries a password) are built in a buffer that is wiped after the write; replies are
//! bounded (line and bulk lengths, array sizes, nesting) so a hostile or broken server cannot
//! make the engine allocate without limit.

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use zeroize::Zeroizing;

/// Longest status, error or length line accepted.
const MAX_LINE: usize = 64 * 1024;
/// Largest bulk string accepted (a `CLIENT LIST` of a busy server is the largest reply here).
const MAX_BULK: usize = 64 * 1024 * 1024;
/// Most elements of one array.
const MAX_ARRAY: usize = 1 << 20;
/// Deepest nesting of arrays (`ACL GETUSER` nests two levels).
const MAX_DEPTH: usize = 8;

/// A stream a connection runs over (TCP, or TLS over TCP).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`.
    Status(String),
    /// `-ERR ...`: the server's error text (code first).
    Error(String),
    /// `:1`.
    Int(i64),
    /// `$n`; `None` for the nil bulk string.
    Bulk(Option<Vec<u8>>),
    /// `*n`; `None` for the nil array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text, for comparing with an expected answer (status, bulk, integer).
    pub fn as_text(&self) -> Option<String> {
        match self {
            Reply::Status(s) => Some(s.clone()),
            Reply::Int(i) => Some(i.to_string()),
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    /// Whether this is the nil bulk string or nil array.
    pub fn is_nil(&self) -> bool {
        matches!(self, Reply::Bulk(None) | Reply::Array(None))
    }
}

/// A protocol or I/O failure (never carries a command's bytes).
#[derive(Debug)]
pub enum RespError {
    /// The connection failed or closed.
    Io(std::io::Error),
    /// The server sent something that is not RESP2 (or over the limits).
    Protocol(String),
}

impl std::fmt::Display for RespError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RespError::Io(e) => write!(f, "{e}"),
            RespError::Protocol(what) => write!(f, "not a Redis reply: {what}"),
        }
    }
}

impl std::error::Error for RespError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RespError::Io(e) => e.source(),
            RespError::Protocol(_) => None,
        }
    }
}

impl From<std::io::Error> for RespError {
    fn from(e: std::io::Error) -> Self {
        RespError::Io(e)
    }
}

/// A connection.
pub struct RespConn {
    io: BufReader<Box<dyn Io>>,
}

impl std::fmt::Debug for RespConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RespConn")
    }
}

impl RespConn {
    /// A connection over `io`.
    pub fn new(io: Box<dyn Io>) -> Self {
        Self {
            io: BufReader::new(io),
        }
    }

    /// Send one command (its arguments as bytes) and read its reply.
    pub async fn call(&mut self, args: &[&[u8]]) -> Result<Reply, RespError> {
        let frame = encode(args);
        self.io.get_mut().write_all(&frame).await?;
        self.io.get_mut().flush().await?;
        drop(frame);
        self.read_reply(0).await
    }

    async fn read_line(&mut self) -> Result<String, RespError> {
        let mut line = Vec::new();
        let n = (&mut self.io)
            .take(MAX_LINE as u64 + 2)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Err(RespError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        if !line.ends_with(b"\r\n") {
            return Err(RespError::Protocol(
                "a line without CRLF or too long".into(),
            ));
        }
        line.truncate(line.len() - 2);
        String::from_utf8(line).map_err(|_| RespError::Protocol("a line that is not UTF-8".into()))
    }

    fn read_reply(
        &mut self,
        depth: usize,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Reply, RespError>> + Send + '_>> {
        Box::pin(async move {
            if depth > MAX_DEPTH {
                return Err(RespError::Protocol("arrays nested too deep".into()));
            }
            let line = self.read_line().await?;
            let (kind, rest) = line
                .split_at_checked(1)
                .ok_or_else(|| RespError::Protocol("an empty line".into()))?;
            match kind {
                "+" => Ok(Reply::Status(rest.to_owned())),
                "-" => Ok(Reply::Error(rest.to_owned())),
                ":" => rest
                    .parse()
                    .map(Reply::Int)
                    .map_err(|_| RespError::Protocol("a bad integer".into())),
                "$" => {
                    let Some(len) = length(rest, MAX_BULK)? else {
                        return Ok(Reply::Bulk(None));
                    };
                    let mut data = vec![0; len + 2];
                    self.io.read_exact(&mut data).await?;
                    if !data.ends_with(b"\r\n") {
                        return Err(RespError::Protocol("a bulk string without CRLF".into()));
                    }
                    data.truncate(len);
                    Ok(Reply::Bulk(Some(data)))
                }
                "*" => {
                    let Some(len) = length(rest, MAX_ARRAY)? else {
                        return Ok(Reply::Array(None));
                    };
                    let mut items = Vec::with_capacity(len.min(1024));
                    for _ in 0..len {
                        items.push(self.read_reply(depth + 1).await?);
                    }
                    Ok(Reply::Array(Some(items)))
                }
                _ => Err(RespError::Protocol(format!(
                    "unknown reply type {:?}",
                    kind.chars().next().unwrap_or(' ')
                ))),
            }
        })
    }
}

/// A length line's value: `None` for -1 (nil), an error above `max`.
fn length(text: &str, max: usize) -> Result<Option<usize>, RespError> {
    let n: i64 = text
        .parse()
        .map_err(|_| RespError::Protocol("a bad length".into()))?;
    if n == -1 {
        return Ok(None);
    }
    usize::try_from(n)
        .ok()
        .filter(|&n| n <= max)
        .map(Some)
        .ok_or_else(|| RespError::Protocol(format!("a length out of bounds ({n})")))
}

/// The RESP2 frame of a command, in a buffer wiped when dropped.
fn encode(args: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let size = 16 + args.iter().map(|a| a.len() + 16).sum::<usize>();
    let mut out = Zeroizing::new(Vec::with_capacity(size));
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &'static [u8]) -> Result<Reply, RespError> {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        client.write_all(bytes).await.expect("write");
        drop(client);
        RespConn::new(Box::new(server)).read_reply(0).await
    }

    #[tokio::test]
    async fn replies_parse() {
        assert_eq!(
            parse(b"+OK\r\n").await.expect("ok"),
            Reply::Status("OK".into())
        );
        assert_eq!(parse(b"$-1\r\n").await.expect("nil"), Reply::Bulk(None));
        assert_eq!(
            parse(b"*2\r\n$3\r\nabc\r\n:5\r\n").await.expect("array"),
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"abc".to_vec())),
                Reply::Int(5)
            ]))
        );
        assert_eq!(
            parse(b"-WRONGPASS invalid\r\n").await.expect("error"),
            Reply::Error("WRONGPASS invalid".into())
        );
    }

    #[tokio::test]
    async fn limits_hold() {
        assert!(parse(b"$99999999999\r\n").await.is_err());
        assert!(parse(b"*-5\r\n").await.is_err());
        assert!(parse(b"?x\r\n").await.is_err());
        assert!(parse(b"+OK").await.is_err(), "no CRLF");
    }

    #[test]
    fn frames_are_resp2() {
        assert_eq!(&encode(&[b"PING"])[..], b"*1\r\n$4\r\nPING\r\n");
    }
}
