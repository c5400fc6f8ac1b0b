//! Every conformance case is run: each `pub async fn` in
//! `crates/rotation-conformance/src/*_cases.rs` is listed in (or called by) a suite macro of
//! `lib.rs`, and every listed name is such a function of the suite module its macro arm calls.
//!
//! A macro arm such as `(@store $make:expr; $($case:ident),*) => { .. $crate::store_cases::$case
//! .. }` maps its list to a module; `$crate::conformance_tests!(@store $make; a, b)` lists `a`
//! and `b` in it; `$crate::crash_cases::name(..)` in any arm lists `name` directly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Problem;
use super::source::{Token, line_of, matching, read, strip, texts, tokens};

const SRC: &str = "crates/rotation-conformance/src";

/// Public functions of a `*_cases.rs` file that are building blocks, not cases.
const HELPERS: &[(&str, &str)] = &[
    // One crash point; `crash_at_every_step` runs it for every point. Public so a backend can
    // reproduce a single point.
    ("crash_cases", "crash_and_recover"),
];

/// A name a macro lists, by suite module: (name, line in lib.rs).
type Listed = BTreeMap<String, Vec<(String, usize)>>;

pub fn check(root: &Path) -> Result<Vec<Problem>> {
    let lib_path = PathBuf::from(SRC).join("lib.rs");
    let lib = read(&root.join(&lib_path))?;
    let (listed, mut problems) = listed(&lib, &lib_path);
    let mut cases = BTreeMap::new();
    for file in super::source::files(&root.join(SRC), "_cases.rs")? {
        let stem = file.file_stem().unwrap_or_default().to_string_lossy();
        cases.insert(stem.into_owned(), public_async_fns(&read(&file)?));
    }
    for (module, fns) in &cases {
        let file = PathBuf::from(SRC).join(format!("{module}.rs"));
        let names = listed.get(module);
        for (name, line) in fns {
            let run = names.is_some_and(|l| l.iter().any(|(n, _)| n == name));
            if run || HELPERS.contains(&(module.as_str(), name.as_str())) {
                continue;
            }
            let how = match names {
                Some(_) => format!(
                    "add `{name}` to the list of the macro arm that calls `$crate::{module}::$case`"
                ),
                None => format!("no macro arm calls `$crate::{module}::$case` yet: add one"),
            };
            problems.push(Problem::new(
                &file,
                Some(*line),
                format!(
                    "conformance case `{module}::{name}` is run by no suite macro: {how} in \
                     {SRC}/lib.rs (or make it private, or, if it is a building block, list it in \
                     HELPERS in xtask/src/tidy/conformance.rs)"
                ),
            ));
        }
    }
    for (module, names) in &listed {
        let fns: BTreeSet<&str> = cases
            .get(module)
            .map(|f| f.iter().map(|(n, _)| n.as_str()).collect())
            .unwrap_or_default();
        for (name, line) in names {
            if !fns.contains(name.as_str()) {
                problems.push(Problem::new(
                    &lib_path,
                    Some(*line),
                    format!(
                        "`{name}` is listed for `{module}` but {SRC}/{module}.rs has no \
                         `pub async fn {name}`: \
                         remove it from the list or restore the case"
                    ),
                ));
            }
        }
    }
    Ok(problems)
}

/// Names `pub async fn NAME` declares, with their lines.
pub fn public_async_fns(src: &str) -> Vec<(String, usize)> {
    let stripped = strip(src);
    let toks = tokens(&stripped);
    toks.windows(4)
        .filter(|w| texts(&w[..3]) == ["pub", "async", "fn"])
        .map(|w| (w[3].text.to_owned(), line_of(&stripped, w[3].offset)))
        .collect()
}

/// One arm of a `macro_rules!`: its `@name` (if any) and its body's token range.
struct Arm {
    name: Option<String>,
    body: (usize, usize),
}

/// What the macros of `lib` list, by suite module, and the problems found reading them.
pub fn listed(lib: &str, lib_path: &Path) -> (Listed, Vec<Problem>) {
    let stripped = strip(lib);
    let t = tokens(&stripped);
    let line = |tok: &Token<'_>| line_of(&stripped, tok.offset);
    let mut problems = Vec::new();
    // (macro, arm) -> the `*_cases` module its body calls with `$case`.
    let mut modules: BTreeMap<(String, String), String> = BTreeMap::new();
    // (macro, arm, names) of every `$crate::macro!(@arm $make; names)`.
    let mut lists = Vec::new();
    let mut out = Listed::new();
    for (mac, arms) in macros(&t) {
        for arm in arms {
            let body = &t[arm.body.0..arm.body.1];
            let txt = texts(body);
            for i in 0..body.len() {
                // `$crate :: MODULE :: $case` or `$crate :: MODULE :: NAME (`
                if txt[i..].starts_with(&["$", "crate", "::"])
                    && txt.get(i + 3).is_some_and(|m| m.ends_with("_cases"))
                    && txt.get(i + 4) == Some(&"::")
                {
                    let module = txt[i + 3].to_owned();
                    if txt.get(i + 5) == Some(&"$") {
                        if let Some(arm) = &arm.name {
                            modules.insert((mac.clone(), arm.clone()), module);
                        }
                    } else if txt.get(i + 6) == Some(&"(") {
                        let name = &body[i + 5];
                        out.entry(module)
                            .or_default()
                            .push((name.text.to_owned(), line(name)));
                    }
                }
                // `$crate :: MACRO ! ( @ ARM ... ; names )`
                if txt[i..].starts_with(&["$", "crate", "::"])
                    && txt.get(i + 4) == Some(&"!")
                    && txt.get(i + 6) == Some(&"@")
                {
                    let open = arm.body.0 + i + 5;
                    let Some(close) = matching(&t, open) else {
                        continue;
                    };
                    let group = &t[open + 1..close];
                    let names: Vec<_> = group
                        .iter()
                        .skip_while(|tok| tok.text != ";")
                        .skip(1)
                        .filter(|tok| tok.text != ",")
                        .map(|tok| (tok.text.to_owned(), line(tok)))
                        .collect();
                    lists.push((
                        txt[i + 3].to_owned(),
                        txt[i + 7].to_owned(),
                        names,
                        line(&body[i]),
                    ));
                }
            }
        }
    }
    for (mac, arm, names, at) in lists {
        match modules.get(&(mac.clone(), arm.clone())) {
            Some(module) => out.entry(module.clone()).or_default().extend(names),
            None => problems.push(Problem::new(
                lib_path,
                Some(at),
                format!(
                    "`{mac}!(@{arm} ..)` lists cases but no arm `@{arm}` of `{mac}!` calls \
                     `$crate::<suite>_cases::$case`: \
                     the tidy check cannot tell which suite they belong to"
                ),
            )),
        }
    }
    (out, problems)
}

/// Every `macro_rules! NAME { arms }` in `t`.
fn macros(t: &[Token<'_>]) -> Vec<(String, Vec<Arm>)> {
    let mut out = Vec::new();
    for i in 0..t.len().saturating_sub(3) {
        if t[i].text != "macro_rules" || t[i + 1].text != "!" || t[i + 3].text != "{" {
            continue;
        }
        let Some(end) = matching(t, i + 3) else {
            continue;
        };
        let mut arms = Vec::new();
        let mut j = i + 4;
        // `( pattern ) => { body } ;`
        while j < end {
            let Some(pat_end) = matching(t, j) else { break };
            let name = (t.get(j + 1).map(|x| x.text) == Some("@"))
                .then(|| t.get(j + 2).map(|x| x.text.to_owned()))
                .flatten();
            let body_open = pat_end + 3;
            let Some(body_end) = matching(t, body_open) else {
                break;
            };
            arms.push(Arm {
                name,
                body: (body_open + 1, body_end),
            });
            j = body_end + 1;
            if t.get(j).map(|x| x.text) == Some(";") {
                j += 1;
            }
        }
        out.push((t[i + 2].text.to_owned(), arms));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB: &str = r#"
        /// Docs mentioning $crate::store_cases::not_a_case(x) are comments.
        #[macro_export]
        macro_rules! suite {
            ($make:expr) => {
                $crate::suite!(@store $make;
                    round_trip,
                    // a comment in the list
                    gone,);
                fn direct() { $crate::crash_cases::every_step(x).await; }
            };
            (@store $make:expr; $($case:ident),* $(,)?) => {
                $( async fn $case() { $crate::store_cases::$case(&*s).await; } )*
            };
            (@orphan $make:expr; $($case:ident),*) => {};
        }
        macro_rules! other { () => { $crate::other!(@orphan m; a) } }
    "#;

    #[test]
    fn macro_lists_are_mapped_to_their_suite() {
        let (listed, problems) = listed(LIB, Path::new("lib.rs"));
        let names = |m: &str| -> Vec<&str> { listed[m].iter().map(|(n, _)| n.as_str()).collect() };
        assert_eq!(names("store_cases"), ["round_trip", "gone"]);
        assert_eq!(names("crash_cases"), ["every_step"]);
        assert_eq!(listed["store_cases"][1].1, 9);
        assert_eq!(listed.len(), 2);
        // `other!(@orphan ..)`: `other!` has no such arm.
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].message.contains("`other!(@orphan ..)`"));
    }

    #[test]
    fn finds_public_async_fns_across_line_breaks() {
        let src = "async fn helper() {}\npub async fn\n    long_case_name(\n) {}\n\
                   pub fn sync() {}\n// pub async fn commented() {}\npub async fn b(s: &str) {}";
        let got = public_async_fns(src);
        assert_eq!(got, [("long_case_name".to_owned(), 3), ("b".to_owned(), 7)]);
    }
}
