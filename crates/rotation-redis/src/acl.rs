//! Redis ACL facts: password hashes (SHA-256, lowercase hex: what `ACL GETUSER` lists and
//! `ACL SETUSER u #<hash>` takes), the `ACL GETUSER` and `CLIENT LIST` replies, and keeping
//! values and their hashes out of server text.

use rotation_core::{SecretValue, Session};
use sha2::{Digest, Sha256};

use crate::resp::Reply;

/// The hash Redis keeps of `value`.
pub fn password_hash(value: &SecretValue) -> String {
    hex::encode(Sha256::digest(value.expose()))
}

/// The `passwords` of an `ACL GETUSER` reply; `None` when the user does not exist (nil).
/// RESP2 gives the user as a flat array of name, value pairs.
pub fn passwords(reply: &Reply) -> Option<Result<Vec<String>, &'static str>> {
    let items = match reply {
        Reply::Array(None) | Reply::Bulk(None) => return None,
        Reply::Array(Some(items)) => items,
        _ => return Some(Err("ACL GETUSER did not answer an array")),
    };
    let mut pairs = items.chunks(2);
    let found = pairs.find(|pair| {
        matches!(pair.first(), Some(Reply::Bulk(Some(name))) if name == b"passwords")
            || matches!(pair.first(), Some(Reply::Status(name)) if name == "passwords")
    });
    Some(match found.and_then(|pair| pair.get(1)) {
        Some(Reply::Array(Some(list))) => list
            .iter()
            .map(|h| match h {
                Reply::Bulk(Some(b)) => Ok(String::from_utf8_lossy(b).to_ascii_lowercase()),
                Reply::Status(s) => Ok(s.to_ascii_lowercase()),
                _ => Err("a password hash that is not a string"),
            })
            .collect(),
        Some(Reply::Array(None)) => Ok(Vec::new()),
        _ => Err("ACL GETUSER gave no passwords list"),
    })
}

/// The sessions of `user` in a `CLIENT LIST` text (one line per client, `key=value` fields),
/// leaving out the client `skip_id` (the connection asking).
pub fn sessions_of(list: &str, user: &str, skip_id: Option<&str>) -> Vec<Session> {
    list.lines()
        .filter_map(|line| {
            let field = |key: &str| {
                line.split(' ')
                    .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
            };
            let id = field("id")?;
            (field("user")? == user && Some(id) != skip_id).then(|| Session {
                id: id.to_owned(),
                user: user.to_owned(),
                client: field("addr").map(str::to_owned),
            })
        })
        .collect()
}

/// `text` with every value of `values`, and its hash, replaced by `[redacted]`.
pub fn redact(text: &str, values: &[&SecretValue]) -> String {
    let mut out = text.to_owned();
    for v in values {
        if v.is_empty() {
            continue;
        }
        let raw = String::from_utf8_lossy(v.expose()).into_owned();
        out = out.replace(&raw, "[redacted]");
        out = out.replace(&password_hash(v), "[redacted]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Some(s.as_bytes().to_vec()))
    }

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            password_hash(&SecretValue::from("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn getuser_passwords_are_found() {
        let reply = Reply::Array(Some(vec![
            bulk("flags"),
            Reply::Array(Some(vec![bulk("on")])),
            bulk("passwords"),
            Reply::Array(Some(vec![bulk("AB12"), bulk("cd34")])),
        ]));
        assert_eq!(
            passwords(&reply),
            Some(Ok(vec!["ab12".to_owned(), "cd34".to_owned()]))
        );
        assert_eq!(passwords(&Reply::Bulk(None)), None);
        assert!(matches!(passwords(&bulk("x")), Some(Err(_))));
    }

    #[test]
    fn client_list_is_filtered_by_user() {
        let list = "id=3 addr=127.0.0.1:5000 laddr=x fd=8 name= user=app cmd=ping\n\
                    id=4 addr=127.0.0.1:5001 fd=9 user=other cmd=ping\n\
                    id=5 addr=127.0.0.1:5002 fd=10 user=app cmd=client|list\n";
        let found = sessions_of(list, "app", Some("5"));
        assert_eq!(
            found,
            vec![Session {
                id: "3".into(),
                user: "app".into(),
                client: Some("127.0.0.1:5000".into())
            }]
        );
    }

    #[test]
    fn values_and_hashes_are_redacted() {
        let v = SecretValue::from("hunter2");
        let text = format!("bad hunter2 and {}", password_hash(&v));
        assert_eq!(redact(&text, &[&v]), "bad [redacted] and [redacted]");
    }
}
