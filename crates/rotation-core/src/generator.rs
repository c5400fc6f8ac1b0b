//! Secret generators: random strings with character classes, UUID v4, hex and base64url tokens.
//!
//! Every generator draws from the thread-local CSPRNG of `rand` (ChaCha, seeded and reseeded
//! from the operating system). Specs are validated by [`GeneratorSpec::build`], so an empty
//! charset or impossible class minimums fail when the config is loaded, never at generate time.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::SecretValue;

/// Produces new secret values. Implement it for custom formats.
///
/// # Contract
/// - Uses a cryptographically secure random source.
/// - Never fails for a generator that was successfully constructed, except for an unavailable
///   random source.
/// - `describe` returns a value-free description for plans and logs.
pub trait SecretGenerator: Send + Sync + fmt::Debug {
    /// A fresh value.
    fn generate(&self) -> Result<SecretValue>;
    /// A short description such as `random(32, classes: lower,upper,digit)`.
    fn describe(&self) -> String;
}

/// Longest value a built-in generator produces.
pub const MAX_LENGTH: usize = 4096;

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGIT: &str = "0123456789";
const SYMBOL: &str = "!#$%&()*+,-./:;<=>?@[]^_{|}~";

/// Minimum counts per character class; a class that is present (even with 0) is part of the
/// alphabet, a class that is absent is not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharClasses {
    /// `a-z`.
    pub lower: Option<usize>,
    /// `A-Z`.
    pub upper: Option<usize>,
    /// `0-9`.
    pub digit: Option<usize>,
    /// Printable ASCII punctuation without quotes, backslash or backtick.
    pub symbol: Option<usize>,
}

/// A generator as written in the config (`[generators.<name>]`, tagged by `kind`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum GeneratorSpec {
    /// Random characters from a charset or from character classes.
    Random {
        /// Number of characters.
        length: usize,
        /// Explicit alphabet (mutually exclusive with `classes`).
        charset: Option<String>,
        /// Character classes with minimum counts (default: lower, upper, digit, one each).
        classes: Option<CharClasses>,
        /// Characters never used (e.g. look-alikes `O0l1`).
        #[serde(default)]
        exclude: String,
    },
    /// A UUID v4 in its hyphenated form.
    Uuid,
    /// Lower-case hex of exactly `length` characters (odd lengths allowed).
    Hex {
        /// Number of hex characters.
        length: usize,
    },
    /// URL-safe base64 without padding of `bytes` random bytes.
    Base64url {
        /// Random bytes before encoding.
        bytes: usize,
    },
}

impl GeneratorSpec {
    /// The default generator: 32 random characters, at least one lower, upper and digit.
    pub fn default_random() -> Self {
        GeneratorSpec::Random {
            length: 32,
            charset: None,
            classes: None,
            exclude: String::new(),
        }
    }

    /// Validate and build. `name` is used in error messages (`generators.<name>.<field>`).
    pub fn build(&self, name: &str) -> Result<Arc<dyn SecretGenerator>> {
        let field = |f: &str| format!("generators.{name}.{f}");
        let check_len = |len: usize, f: &str| {
            if len == 0 || len > MAX_LENGTH {
                Err(Error::config(
                    field(f),
                    format!("must be between 1 and {MAX_LENGTH}"),
                ))
            } else {
                Ok(())
            }
        };
        match self {
            GeneratorSpec::Uuid => Ok(Arc::new(UuidGenerator)),
            GeneratorSpec::Hex { length } => {
                check_len(*length, "length")?;
                Ok(Arc::new(HexGenerator { length: *length }))
            }
            GeneratorSpec::Base64url { bytes } => {
                check_len(*bytes, "bytes")?;
                Ok(Arc::new(Base64UrlGenerator { bytes: *bytes }))
            }
            GeneratorSpec::Random {
                length,
                charset,
                classes,
                exclude,
            } => {
                check_len(*length, "length")?;
                let keep = |set: &str| -> Vec<char> {
                    let mut out: Vec<char> =
                        set.chars().filter(|c| !exclude.contains(*c)).collect();
                    out.sort_unstable();
                    out.dedup();
                    out
                };
                let groups: Vec<(Vec<char>, usize, &str)> = match (charset, classes) {
                    (Some(_), Some(_)) => {
                        return Err(Error::config(
                            field("charset"),
                            "set either charset or classes, not both",
                        ));
                    }
                    (Some(set), None) => vec![(keep(set), 0, "charset")],
                    (None, classes) => {
                        let c = classes.clone().unwrap_or(CharClasses {
                            lower: Some(1),
                            upper: Some(1),
                            digit: Some(1),
                            symbol: None,
                        });
                        [
                            (LOWER, c.lower, "classes.lower"),
                            (UPPER, c.upper, "classes.upper"),
                        ]
                        .into_iter()
                        .chain([
                            (DIGIT, c.digit, "classes.digit"),
                            (SYMBOL, c.symbol, "classes.symbol"),
                        ])
                        .filter_map(|(set, min, f)| min.map(|m| (keep(set), m, f)))
                        .collect()
                    }
                };
                for (set, min, f) in &groups {
                    if *min > 0 && set.is_empty() {
                        return Err(Error::config(
                            field(f),
                            "every character of this class is excluded but a minimum is set",
                        ));
                    }
                }
                let mut alphabet: Vec<char> =
                    groups.iter().flat_map(|g| g.0.iter().copied()).collect();
                alphabet.sort_unstable();
                alphabet.dedup();
                if alphabet.is_empty() {
                    let f = if charset.is_some() {
                        "charset"
                    } else {
                        "classes"
                    };
                    return Err(Error::config(
                        field(f),
                        "the character set is empty (after exclusions)",
                    ));
                }
                let min_total: usize = groups.iter().map(|g| g.1).sum();
                if min_total > *length {
                    return Err(Error::config(
                        field("classes"),
                        format!("class minimums add up to {min_total}, more than length {length}"),
                    ));
                }
                Ok(Arc::new(RandomGenerator {
                    length: *length,
                    alphabet,
                    minimums: groups
                        .into_iter()
                        .filter(|g| g.1 > 0)
                        .map(|g| (g.0, g.1))
                        .collect(),
                }))
            }
        }
    }
}

/// Random characters with per-class minimums.
#[derive(Debug)]
struct RandomGenerator {
    length: usize,
    alphabet: Vec<char>,
    minimums: Vec<(Vec<char>, usize)>,
}

impl SecretGenerator for RandomGenerator {
    fn generate(&self) -> Result<SecretValue> {
        let mut rng = rand::rng();
        let mut chars: Zeroizing<Vec<char>> = Zeroizing::new(Vec::with_capacity(self.length));
        for (set, min) in &self.minimums {
            for _ in 0..*min {
                chars.push(*set.choose(&mut rng).expect("validated non-empty"));
            }
        }
        while chars.len() < self.length {
            chars.push(*self.alphabet.choose(&mut rng).expect("validated non-empty"));
        }
        chars.shuffle(&mut rng);
        Ok(SecretValue::from_string(chars.iter().collect()))
    }

    fn describe(&self) -> String {
        format!(
            "random({} chars from an alphabet of {})",
            self.length,
            self.alphabet.len()
        )
    }
}

#[derive(Debug)]
struct UuidGenerator;

impl SecretGenerator for UuidGenerator {
    fn generate(&self) -> Result<SecretValue> {
        let mut bytes = [0u8; 16];
        rand::rng().fill(&mut bytes);
        let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
        Ok(SecretValue::from_string(id.hyphenated().to_string()))
    }

    fn describe(&self) -> String {
        "uuid(v4)".into()
    }
}

#[derive(Debug)]
struct HexGenerator {
    length: usize,
}

impl SecretGenerator for HexGenerator {
    fn generate(&self) -> Result<SecretValue> {
        let mut bytes = Zeroizing::new(vec![0u8; self.length.div_ceil(2)]);
        rand::rng().fill(bytes.as_mut_slice());
        let mut text = hex::encode(bytes.as_slice());
        text.truncate(self.length);
        Ok(SecretValue::from_string(text))
    }

    fn describe(&self) -> String {
        format!("hex({} chars)", self.length)
    }
}

#[derive(Debug)]
struct Base64UrlGenerator {
    bytes: usize,
}

impl SecretGenerator for Base64UrlGenerator {
    fn generate(&self) -> Result<SecretValue> {
        let mut bytes = Zeroizing::new(vec![0u8; self.bytes]);
        rand::rng().fill(bytes.as_mut_slice());
        Ok(SecretValue::from_string(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.as_slice()),
        ))
    }

    fn describe(&self) -> String {
        format!("base64url({} random bytes)", self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_like: GeneratorSpec) -> Result<Arc<dyn SecretGenerator>> {
        toml_like.build("g")
    }

    #[test]
    fn random_respects_class_minimums_and_exclusions() {
        let g = spec(GeneratorSpec::Random {
            length: 12,
            charset: None,
            classes: Some(CharClasses {
                lower: Some(2),
                upper: None,
                digit: Some(10),
                symbol: None,
            }),
            exclude: "0".into(),
        })
        .unwrap();
        for _ in 0..200 {
            let v = g.generate().unwrap();
            let s = v.expose_str().unwrap();
            assert_eq!(s.chars().count(), 12);
            assert!(s.chars().filter(|c| c.is_ascii_digit()).count() >= 10);
            assert!(s.chars().filter(|c| c.is_ascii_lowercase()).count() >= 2);
            assert!(!s.contains('0'));
        }
    }

    #[test]
    fn construction_rejects_impossible_specs() {
        let empty = GeneratorSpec::Random {
            length: 8,
            charset: Some("ab".into()),
            classes: None,
            exclude: "ab".into(),
        };
        assert!(
            spec(empty)
                .unwrap_err()
                .to_string()
                .contains("generators.g.charset")
        );
        let too_many = GeneratorSpec::Random {
            length: 3,
            charset: None,
            classes: Some(CharClasses {
                lower: Some(2),
                upper: Some(2),
                ..Default::default()
            }),
            exclude: String::new(),
        };
        assert!(spec(too_many).unwrap_err().to_string().contains("classes"));
        assert!(spec(GeneratorSpec::Hex { length: 0 }).is_err());
    }

    #[test]
    fn hex_handles_odd_lengths_and_uuid_is_v4() {
        let v = spec(GeneratorSpec::Hex { length: 7 })
            .unwrap()
            .generate()
            .unwrap();
        assert_eq!(v.len(), 7);
        assert!(
            v.expose_str()
                .unwrap()
                .chars()
                .all(|c| c.is_ascii_hexdigit())
        );
        let u = spec(GeneratorSpec::Uuid).unwrap().generate().unwrap();
        let parsed = uuid::Uuid::parse_str(u.expose_str().unwrap()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
        let b = spec(GeneratorSpec::Base64url { bytes: 32 })
            .unwrap()
            .generate()
            .unwrap();
        assert_eq!(b.len(), 43);
    }

    #[test]
    fn values_are_unique() {
        let g = GeneratorSpec::default_random().build("d").unwrap();
        let set: std::collections::HashSet<Vec<u8>> = (0..1000)
            .map(|_| g.generate().unwrap().expose().to_vec())
            .collect();
        assert_eq!(set.len(), 1000);
    }
}
