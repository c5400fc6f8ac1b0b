//! Finding the line of an error from its dotted field: the field names a table of the parsed
//! file (`stores.<name>`, `secrets[<i>] (id ..)`, `server`, ...), whose span gives the start,
//! and the key after it is looked for inside that table.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use crate::spec::ConfigFile;

/// 1-based line of byte `offset`.
pub fn line_of(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())].matches('\n').count() + 1
}

/// The field path of the `i`th `[[secrets]]` table (one place, so errors and lookups agree).
pub fn secret_table(i: usize, id: &str) -> String {
    format!("secrets[{i}] (id {id:?})")
}

/// The line of `field`'s key if it appears in its table, else the table's first line; `None`
/// when the field names no spanned table (`state.*` and `audit.*` are not spanned).
pub fn line(file: &ConfigFile, source: &str, field: &str) -> Option<usize> {
    let (span, rest) = table(file, field)?;
    // The key inside the table: `approle` of `.approle.secret_id_file`, `tokens` of
    // `.tokens[0].role` (a nested table's own lines are not spanned).
    let key = rest
        .strip_prefix('.')
        .and_then(|r| r.split(['.', '[']).next())
        .filter(|k| !k.is_empty());
    Some(key_line(source, span.clone(), key).unwrap_or_else(|| line_of(source, span.start)))
}

/// The span of the table `field` lies in, and the rest of the field after the table's path.
fn table<'a>(file: &ConfigFile, field: &'a str) -> Option<(Range<usize>, &'a str)> {
    let section = field.split(['.', '[']).next().unwrap_or_default();
    match section {
        "stores" => named(&file.stores, section, field),
        "generators" => named(&file.generators, section, field),
        "verifiers" => named(&file.verifiers, section, field),
        "targets" => named(&file.targets, section, field),
        "policies" => named(&file.policies, section, field),
        "secrets" => {
            let index = field.strip_prefix("secrets[")?.split(']').next()?;
            let i: usize = index.parse().ok()?;
            let secret = file.secrets.get(i)?;
            let rest = field.strip_prefix(&secret_table(i, &secret.get_ref().id))?;
            Some((secret.span(), rest))
        }
        "server" => Some((file.server.as_ref()?.span(), &field[section.len()..])),
        _ => None,
    }
}

/// The entry of `map` that `field` (`<section>.<name>...`) names: the longest matching name,
/// since names may themselves hold dots.
fn named<'a, T>(
    map: &BTreeMap<String, Spanned<T>>,
    section: &str,
    field: &'a str,
) -> Option<(Range<usize>, &'a str)> {
    let after = field.strip_prefix(section)?.strip_prefix('.')?;
    map.iter()
        .filter_map(|(name, spec)| {
            let rest = after.strip_prefix(name.as_str())?;
            (rest.is_empty() || rest.starts_with(['.', '['])).then_some((name.len(), spec, rest))
        })
        .max_by_key(|(len, _, _)| *len)
        .map(|(_, spec, rest)| (spec.span(), rest))
}

/// The line of `key = ...` (or `key.sub = ...`) in the table at `span`.
///
/// The search runs from the table's start to the next table header (spans of `[table]`
/// values may cover the header only).
fn key_line(source: &str, span: Range<usize>, key: Option<&str>) -> Option<usize> {
    let key = key?;
    let start = span.start.min(source.len());
    let mut offset = start;
    for (i, line) in source[start..].split_inclusive('\n').enumerate() {
        let trimmed = line.trim_start();
        if i > 0 && trimmed.starts_with('[') && offset >= span.end {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with(['=', '.'])
        {
            return Some(line_of(source, offset));
        }
        offset += line.len();
    }
    None
}
