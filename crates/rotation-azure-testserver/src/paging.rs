//! List paging: opaque `$skiptoken`s and, optionally, the service's empty pages.
//!
//! A token names the listing it belongs to and the last key already returned, so it stays
//! valid (and skips nothing) when items are added or removed between pages. It is
//! base64url so clients cannot rely on its content.

use std::ops::Range;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::errors::{ApiResult, bad_parameter};

/// The service's largest page, and the bounds of `maxresults`.
pub(crate) const MAX_RESULTS: usize = 25;

const MAGIC: &str = "kvts1";

/// One page: which of the sorted keys it holds, and the token of the next page if any.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Page {
    pub range: Range<usize>,
    pub next: Option<String>,
}

/// How the listing is paged.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Paging<'a> {
    /// Which listing tokens belong to, e.g. `secrets` or `versions:name`.
    pub scope: &'a str,
    pub maxresults: Option<usize>,
    pub page_size: usize,
    pub empty_pages: bool,
}

struct Token {
    empty: bool,
    after: String,
}

fn encode(scope: &str, empty: bool, after: &str) -> String {
    let phase = if empty { "e" } else { "d" };
    URL_SAFE_NO_PAD.encode(format!("{MAGIC}|{scope}|{phase}|{after}"))
}

fn decode(token: &str, scope: &str) -> ApiResult<Token> {
    let bad = || bad_parameter("The specified skiptoken is invalid.");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let parts: Vec<&str> = text.split('|').collect();
    match parts.as_slice() {
        [MAGIC, s, phase @ ("e" | "d"), after] if *s == scope => Ok(Token {
            empty: *phase == "e",
            after: (*after).to_owned(),
        }),
        _ => Err(bad()),
    }
}

/// Parses `maxresults`: 1..=25, as the service enforces.
pub(crate) fn maxresults(raw: Option<&str>) -> ApiResult<Option<usize>> {
    let Some(raw) = raw else { return Ok(None) };
    match raw.parse::<usize>() {
        Ok(n) if (1..=MAX_RESULTS).contains(&n) => Ok(Some(n)),
        _ => Err(bad_parameter(format!(
            "Invalid value '{raw}' for parameter maxresults. The value must be between 1 and {MAX_RESULTS}."
        ))),
    }
}

/// The page of `keys` (sorted, unique) that `skiptoken` asks for.
///
/// With empty pages on (and no `maxresults`, as observed), the first page is empty, an empty
/// page separates data pages and an empty page with a null `nextLink` ends the listing.
pub(crate) fn page(keys: &[String], p: &Paging<'_>, skiptoken: Option<&str>) -> ApiResult<Page> {
    let empty_pages = p.empty_pages && p.maxresults.is_none();
    let size = p.maxresults.unwrap_or(p.page_size);
    let start_after = |after: &str| {
        if after.is_empty() {
            0
        } else {
            keys.partition_point(|k| k.as_str() <= after)
        }
    };
    let token = skiptoken.map(|t| decode(t, p.scope)).transpose()?;
    let (start, after) = match token {
        None if empty_pages => {
            return Ok(Page {
                range: 0..0,
                next: Some(encode(p.scope, false, "")),
            });
        }
        None => (0, String::new()),
        Some(t) if t.empty => {
            let more = start_after(&t.after) < keys.len();
            return Ok(Page {
                range: 0..0,
                next: more.then(|| encode(p.scope, false, &t.after)),
            });
        }
        Some(t) => (start_after(&t.after), t.after),
    };
    let end = (start + size).min(keys.len());
    let last = if end > start { &keys[end - 1] } else { &after };
    let next = if end < keys.len() || empty_pages {
        Some(encode(p.scope, empty_pages, last))
    } else {
        None
    };
    Ok(Page {
        range: start..end,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("k{i:03}")).collect()
    }

    fn walk(keys: &[String], p: &Paging<'_>) -> Vec<usize> {
        let (mut sizes, mut token) = (Vec::new(), None::<String>);
        loop {
            let page = page(keys, p, token.as_deref()).unwrap();
            sizes.push(page.range.len());
            match page.next {
                Some(next) => token = Some(next),
                None => return sizes,
            }
        }
    }

    fn paging(maxresults: Option<usize>, empty_pages: bool) -> Paging<'static> {
        Paging {
            scope: "secrets",
            maxresults,
            page_size: 25,
            empty_pages,
        }
    }

    #[test]
    fn pages_cover_every_key_once() {
        assert_eq!(walk(&keys(60), &paging(None, false)), vec![25, 25, 10]);
        assert_eq!(walk(&keys(3), &paging(Some(1), true)), vec![1, 1, 1]);
        assert_eq!(
            walk(&keys(60), &paging(None, true)),
            vec![0, 25, 0, 25, 0, 10, 0]
        );
        assert_eq!(walk(&[], &paging(None, false)), vec![0]);
        assert_eq!(walk(&[], &paging(None, true)), vec![0, 0, 0]);
    }

    #[test]
    fn tokens_are_checked() {
        let p = paging(None, false);
        assert!(page(&keys(3), &p, Some("garbage!")).is_err());
        let other = encode("versions:x", false, "k000");
        assert!(page(&keys(3), &p, Some(&other)).is_err());
        assert!(maxresults(Some("0")).is_err());
        assert!(maxresults(Some("26")).is_err());
        assert_eq!(maxresults(Some("25")).unwrap(), Some(25));
    }
}
