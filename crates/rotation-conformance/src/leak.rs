//! A probe for secret values in error messages: a random marker to embed in values, every form
//! in which a store might echo it (raw, hex, base64 at each alignment, a `Debug` byte list), and
//! the check that an error's message, `Debug` and source chain contain none of them.

use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use rotation_core::{Error, Result};

/// A distinctive marker and the forms of it to look for.
#[derive(Debug)]
pub struct Probe {
    marker: String,
    forms: Vec<(String, String)>,
    checked: AtomicUsize,
}

impl Default for Probe {
    fn default() -> Self {
        Self::new()
    }
}

impl Probe {
    /// A probe with a fresh random marker (24 bytes: a whole number of base64 groups).
    pub fn new() -> Self {
        let n: u64 = rand::random();
        Self::with_marker(format!("LEAKMARK{n:016x}"))
    }

    /// A probe for `marker` (ASCII, so JSON and URL escaping leave it as it is).
    pub fn with_marker(marker: String) -> Self {
        let bytes = marker.as_bytes();
        let mut forms = vec![
            ("raw".to_owned(), marker.clone()),
            ("hex".to_owned(), hex::encode(bytes)),
            ("upper-case hex".to_owned(), hex::encode_upper(bytes)),
        ];
        let list = format!("{bytes:?}");
        forms.push((
            "Debug byte list".to_owned(),
            list[1..list.len() - 1].to_owned(),
        ));
        for (name, engine) in [("base64", &STANDARD), ("url-safe base64", &URL_SAFE)] {
            for offset in 0..3 {
                // The marker starts `offset` bytes into a base64 group; keep only the groups
                // made of marker bytes alone, which are the same whatever surrounds it.
                let mut shifted = vec![0u8; offset];
                shifted.extend_from_slice(bytes);
                let encoded = engine.encode(&shifted);
                let (first, end) = (offset.div_ceil(3), shifted.len() / 3);
                forms.push((
                    format!("{name} at offset {offset}"),
                    encoded[4 * first..4 * end].to_owned(),
                ));
            }
        }
        Self {
            marker,
            forms,
            checked: AtomicUsize::new(0),
        }
    }

    /// The marker to embed in values.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// Which form of the marker `text` contains, if any.
    pub fn found_in(&self, text: &str) -> Option<&str> {
        self.forms
            .iter()
            .find(|(_, form)| text.contains(form.as_str()))
            .map(|(name, _)| name.as_str())
    }

    /// Where `err` (message, `Debug`, any source's message or `Debug`) shows the marker.
    pub fn leak(&self, err: &Error) -> Option<String> {
        let mut texts = vec![err.to_string(), format!("{err:?}")];
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            texts.extend([s.to_string(), format!("{s:?}")]);
            source = s.source();
        }
        texts
            .iter()
            .find_map(|text| Some(format!("{} in {text:?}", self.found_in(text)?)))
    }

    /// Panic if `err` shows the marker (see [`Probe::leak`]).
    pub fn check(&self, what: &str, err: &Error) {
        self.checked.fetch_add(1, Ordering::SeqCst);
        if let Some(leak) = self.leak(err) {
            panic!("{what}: the error contains the value: {leak}");
        }
    }

    /// `r`'s value; an error is checked (for faults some stores accept and others refuse).
    pub fn maybe<T>(&self, what: &str, r: Result<T>) -> Option<T> {
        r.map_err(|e| self.check(what, &e)).ok()
    }

    /// The error of `r`, checked; panics if `r` is `Ok`.
    pub fn fails<T: std::fmt::Debug>(&self, what: &str, r: Result<T>) -> Error {
        let err = r.expect_err(what);
        self.check(what, &err);
        err
    }

    /// How many errors were checked.
    pub fn checked(&self) -> usize {
        self.checked.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caught(probe: &Probe, message: String) -> bool {
        probe.leak(&Error::internal(message)).is_some()
    }

    #[test]
    fn every_encoding_is_caught_and_clean_errors_pass() {
        let probe = Probe::new();
        let m = probe.marker().as_bytes().to_vec();
        let mut wrapped = b"{\"value\":\"".to_vec();
        wrapped.extend_from_slice(&m);
        for prefix in 0..3 {
            let mut shifted = vec![b'x'; prefix];
            shifted.extend_from_slice(&m);
            shifted.extend_from_slice(b"tail");
            assert!(caught(&probe, format!("b64 {}", STANDARD.encode(&shifted))));
            assert!(caught(&probe, format!("url {}", URL_SAFE.encode(&shifted))));
        }
        assert!(caught(
            &probe,
            format!("json b64 {}", STANDARD.encode(&wrapped))
        ));
        assert!(caught(&probe, format!("hex {}", hex::encode(&m))));
        assert!(caught(&probe, format!("HEX {}", hex::encode_upper(&m))));
        assert!(caught(&probe, format!("bytes {m:?}")));
        assert!(caught(&probe, format!("raw {}", probe.marker())));
        assert!(!caught(&probe, "conflict: version 3 is current".to_owned()));
        probe.check("clean", &Error::internal("version 3 is current"));
        assert_eq!(probe.checked(), 1);
    }

    #[test]
    fn sources_are_searched() {
        let probe = Probe::new();
        let inner = std::io::Error::other(format!("server said {}", probe.marker()));
        let err = Error::internal("request failed").with_source(inner);
        assert!(probe.leak(&err).is_some());
    }
}
