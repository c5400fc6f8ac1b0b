//! One fresh connection (never a pool: a verifier must prove a new login works, and a target
//! holds its admin login only for one call), with TLS per [`TlsMode`] and every failure sorted
//! into what the caller reports ([`Failure`]).

use std::time::Duration;

use mysql_async::{
    ClientIdentity, Conn, DriverError, Error as MyError, IoError, OptsBuilder, SslOpts,
};
use rotation_core::{Connection, Error, Result, SecretValue, Tls, TlsMode};

/// A login to make.
pub struct Login<'a> {
    /// Where.
    pub connection: &'a Connection,
    /// As whom.
    pub user: &'a str,
    /// With what.
    pub password: &'a SecretValue,
    /// Database to select (the verifier's `dbname`); targets select none.
    pub dbname: Option<&'a str>,
}

/// Why a connection or a statement failed.
#[derive(Debug)]
pub enum Failure {
    /// The server refused the login (SQLSTATE 28000: 1045, 1698; MariaDB answers either for a
    /// user that does not exist). The server's text.
    Refused(String),
    /// TLS was asked for and the server does not offer it.
    NoTls,
    /// The TLS handshake failed (certificate not trusted, wrong host name...). The reason.
    Tls(String),
    /// Could not reach the server, or it did not answer in time. The reason.
    Unreachable(String),
    /// The server answered a statement with an error.
    Server {
        /// Its error number (1396, 1227...).
        code: u16,
        /// Its text as `ERROR code (SQLSTATE): message`.
        text: String,
    },
}

impl Failure {
    /// Sort a driver error. The server's text is kept as is (it quotes names, not values;
    /// callers scrub statements' secrets from it).
    pub fn of(err: &MyError) -> Failure {
        match err {
            MyError::Server(e) if e.state == "28000" || matches!(e.code, 1045 | 1698) => {
                Failure::Refused(e.to_string())
            }
            MyError::Server(e) => Failure::Server {
                code: e.code,
                text: e.to_string(),
            },
            MyError::Driver(DriverError::NoClientSslFlagFromServer) => Failure::NoTls,
            MyError::Io(IoError::Tls(e)) => Failure::Tls(e.to_string()),
            // tokio-rustls reports handshake failures as I/O errors around rustls's.
            MyError::Io(IoError::Io(e)) if rustls_error(err).is_some() => {
                Failure::Tls(e.to_string())
            }
            MyError::Io(IoError::Io(e)) => Failure::Unreachable(e.to_string()),
            other => Failure::Unreachable(other.to_string()),
        }
    }

    /// The failure as text for an error message (`what` is the operation: "connecting").
    pub fn describe(&self) -> String {
        match self {
            Failure::Refused(text) => format!("login refused: {text}"),
            Failure::NoTls => "the server does not offer TLS: enable TLS on the server, or set \
                               sslmode to prefer or disable"
                .to_owned(),
            Failure::Tls(reason) => format!("TLS handshake failed: {reason}"),
            Failure::Unreachable(reason) => format!("cannot connect: {reason}"),
            Failure::Server { text, .. } => text.clone(),
        }
    }
}

/// Opens a connection for `login` within `timeout`. `prefer` tries TLS, then plain when the
/// server offers no TLS (before any password is sent: the server's greeting says so).
pub async fn open(login: &Login<'_>, timeout: Duration) -> std::result::Result<Conn, Failure> {
    let Ok(password) = login.password.expose_str() else {
        // The driver takes UTF-8 only; never sent, refused here.
        return Err(Failure::Refused(
            "the password is not valid UTF-8".to_owned(),
        ));
    };
    let failure = |err: Option<MyError>| match err {
        Some(err) => Failure::of(&err),
        None => Failure::Unreachable(format!("no answer within {}", humantime_secs(timeout))),
    };
    let tls = &login.connection.tls;
    let ssl = ssl_opts(tls).map_err(|e| Failure::Tls(e.message().to_owned()))?;
    let first = connect(login, password, ssl.clone(), timeout).await;
    match (&first, tls.mode, ssl) {
        (Err(Some(err)), TlsMode::Prefer, _) if matches!(Failure::of(err), Failure::NoTls) => {
            connect(login, password, None, timeout)
                .await
                .map_err(failure)
        }
        // mysql_async 0.37.1 ignores `skip_domain_validation` with current rustls (it looks
        // for "NotValidForName" in the error's text: blackbeam/mysql_async#404, fixed after
        // that release). A name mismatch is reported only once the chain was verified against
        // the CA, so for verify-ca connect again checking a name the certificate presents.
        (Err(Some(err)), TlsMode::VerifyCa, Some(ssl)) => match presented_name(err) {
            Some(name) => {
                let ssl = ssl.with_danger_tls_hostname_override(Some(name));
                connect(login, password, Some(ssl), timeout)
                    .await
                    .map_err(failure)
            }
            None => first.map_err(failure),
        },
        _ => first.map_err(failure),
    }
}

/// A failed [`connect`]: the driver's error, or `None` for a timeout.
type Attempt = std::result::Result<Conn, Option<MyError>>;

async fn connect(
    login: &Login<'_>,
    password: &str,
    ssl: Option<SslOpts>,
    timeout: Duration,
) -> Attempt {
    let opts = OptsBuilder::default()
        .ip_or_hostname(login.connection.host.clone())
        .tcp_port(login.connection.port)
        .user(Some(login.user))
        // The driver keeps this copy in a plain String until the connection is dropped (its
        // API has no secret type).
        .pass(Some(password))
        .db_name(login.dbname)
        // mysql_async would otherwise reconnect over the server's unix socket when it is
        // local, which changes the account the login matches ('u'@'localhost').
        .prefer_socket(false)
        .ssl_opts(ssl);
    match tokio::time::timeout(timeout, Conn::new(opts)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(err)) => Err(Some(err)),
        Err(_) => Err(None),
    }
}

/// The rustls error under a driver error, if it is one.
fn rustls_error(err: &MyError) -> Option<&rustls::Error> {
    match err {
        MyError::Io(IoError::Io(e)) => e.get_ref()?.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

/// For a certificate that does not name the host: a name it does present (rustls gives them
/// as `DnsName("db.internal")` / `IpAddress(10.0.0.5)`; a wildcard's label is filled in).
fn presented_name(err: &MyError) -> Option<String> {
    let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
        presented,
        ..
    })) = rustls_error(err)
    else {
        return None;
    };
    presented.iter().find_map(|name| {
        let dns = name
            .strip_prefix("DnsName(\"")
            .and_then(|n| n.strip_suffix("\")"))
            .map(|n| n.replacen("*.", "any.", 1));
        let ip = name
            .strip_prefix("IpAddress(")
            .and_then(|n| n.strip_suffix(')'))
            .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
            .map(str::to_owned);
        dns.or(ip)
            .filter(|n| rustls::pki_types::ServerName::try_from(n.as_str()).is_ok())
    })
}

/// "10 s", "1.5 s".
pub fn humantime_secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// The driver's TLS options for `tls` (`None`: plain).
fn ssl_opts(tls: &Tls) -> Result<Option<SslOpts>> {
    let identity = match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            Some(ClientIdentity::new(cert.clone().into(), key.clone().into()))
        }
        (None, None) => None,
        _ => {
            return Err(Error::invalid_value(
                "a client certificate needs both sslcert and sslkey",
            ));
        }
    };
    let base = SslOpts::default().with_client_identity(identity);
    let with_ca = |opts: SslOpts| match &tls.ca {
        // A configured CA is the only trust: no built-in roots beside it.
        Some(ca) => opts
            .with_root_certs(vec![ca.clone().into()])
            .with_disable_built_in_roots(true),
        None => opts,
    };
    Ok(match tls.mode {
        TlsMode::Disable => None,
        TlsMode::Prefer | TlsMode::Require => Some(
            base.with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        TlsMode::VerifyCa => Some(with_ca(base).with_danger_skip_domain_validation(true)),
        TlsMode::VerifyFull => Some(with_ca(base)),
    })
}

/// Closes `conn`, ignoring errors (the work is done; a failed goodbye changes nothing).
pub async fn close(conn: Conn) {
    let _ = conn.disconnect().await;
}

/// Static checks of the configured TLS files (`section`: `targets.<name>`): each exists, and a
/// client certificate comes with its key.
pub fn check_files(section: &str, spec: &rotation_core::ConnectionSpec) -> Result<()> {
    let files = [
        ("ca", &spec.ca),
        ("client_cert", &spec.client_cert),
        ("client_key", &spec.client_key),
    ];
    for (key, path) in files {
        if let Some(path) = path
            && !path.is_file()
        {
            return Err(Error::config(
                format!("{section}.{key}"),
                format!("{} is not a readable file", path.display()),
            ));
        }
    }
    if spec.client_cert.is_some() != spec.client_key.is_some() {
        return Err(Error::config(
            format!("{section}.client_key"),
            "a client certificate needs both client_cert and client_key",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mismatch(presented: &[&str]) -> MyError {
        let tls =
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
                expected: rustls::pki_types::ServerName::try_from("127.0.0.1")
                    .expect("name")
                    .to_owned(),
                presented: presented.iter().map(|n| (*n).to_owned()).collect(),
            });
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        MyError::Io(IoError::Io(io))
    }

    #[test]
    fn a_presented_name_is_read_from_rustls() {
        assert_eq!(
            presented_name(&mismatch(&["DnsName(\"localhost\")"])).as_deref(),
            Some("localhost")
        );
        assert_eq!(
            presented_name(&mismatch(&["DnsName(\"*.db.internal\")"])).as_deref(),
            Some("any.db.internal")
        );
        assert_eq!(
            presented_name(&mismatch(&["DirectoryName", "IpAddress(10.0.0.5)"])).as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(presented_name(&mismatch(&["DirectoryName"])), None);
        assert!(matches!(Failure::of(&mismatch(&[])), Failure::Tls(_)));
    }
}
