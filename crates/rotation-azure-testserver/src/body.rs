//! Request bodies of set and update, validated with the service's limits.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::errors::{ApiResult, bad_parameter};
use crate::model::NewVersion;

/// The service's limits: 25 KiB values, 15 tags, 512-char names, 256-char values.
const MAX_VALUE_BYTES: usize = 25 * 1024;
const MAX_TAGS: usize = 15;
const MAX_TAG_NAME: usize = 512;
const MAX_TAG_VALUE: usize = 256;

/// An update: `None` leaves a field alone; `Some(None)` clears `nbf`/`exp` (JSON `null`).
#[derive(Debug, Default)]
pub(crate) struct Update {
    pub content_type: Option<String>,
    pub enabled: Option<bool>,
    pub nbf: Option<Option<i64>>,
    pub exp: Option<Option<i64>>,
    pub tags: Option<BTreeMap<String, String>>,
}

/// Parses a JSON object body; an empty body counts as `{}`.
pub(crate) fn object(bytes: &[u8]) -> ApiResult<Map<String, Value>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad_parameter("The request body must be a JSON object.")),
        Err(_) => Err(bad_parameter("The request body is not valid JSON.")),
    }
}

fn invalid(field: &str) -> crate::errors::ApiError {
    bad_parameter(format!("Invalid value for property '{field}'."))
}

fn string(map: &Map<String, Value>, field: &str) -> ApiResult<Option<String>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(field)),
    }
}

fn tags(map: &Map<String, Value>) -> ApiResult<Option<BTreeMap<String, String>>> {
    let obj = match map.get("tags") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(obj)) => obj,
        Some(_) => return Err(invalid("tags")),
    };
    if obj.len() > MAX_TAGS {
        return Err(bad_parameter(format!(
            "The number of tags ({}) exceeds the maximum of {MAX_TAGS}.",
            obj.len()
        )));
    }
    let mut out = BTreeMap::new();
    for (name, value) in obj {
        let Value::String(value) = value else {
            return Err(invalid("tags"));
        };
        if name.chars().count() > MAX_TAG_NAME {
            return Err(bad_parameter(format!(
                "Tag name exceeds the maximum length of {MAX_TAG_NAME} characters."
            )));
        }
        if value.chars().count() > MAX_TAG_VALUE {
            return Err(bad_parameter(format!(
                "Tag value exceeds the maximum length of {MAX_TAG_VALUE} characters."
            )));
        }
        out.insert(name.clone(), value.clone());
    }
    Ok(Some(out))
}

/// `attributes.{enabled, nbf, exp}`: absent, or `Some(None)` for an explicit `null`.
struct Attrs {
    enabled: Option<bool>,
    nbf: Option<Option<i64>>,
    exp: Option<Option<i64>>,
}

fn attributes(map: &Map<String, Value>) -> ApiResult<Attrs> {
    let mut out = Attrs {
        enabled: None,
        nbf: None,
        exp: None,
    };
    let attrs = match map.get("attributes") {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Object(attrs)) => attrs,
        Some(_) => return Err(invalid("attributes")),
    };
    out.enabled = match attrs.get("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(invalid("attributes.enabled")),
    };
    let time = |field: &str| -> ApiResult<Option<Option<i64>>> {
        match attrs.get(field) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(v) => v
                .as_i64()
                .map(|t| Some(Some(t)))
                .ok_or_else(|| invalid(&format!("attributes.{field}"))),
        }
    };
    out.nbf = time("nbf")?;
    out.exp = time("exp")?;
    Ok(out)
}

/// The body of `PUT /secrets/{name}`.
pub(crate) fn set(bytes: &[u8]) -> ApiResult<NewVersion> {
    let map = object(bytes)?;
    let value = match map.get("value") {
        Some(Value::String(v)) => v.clone(),
        None | Some(Value::Null) => {
            return Err(bad_parameter(
                "The property 'value' is required but was not specified.",
            ));
        }
        Some(_) => return Err(invalid("value")),
    };
    if value.len() > MAX_VALUE_BYTES {
        return Err(bad_parameter(format!(
            "The secret value is too large: {} bytes. The maximum size of a secret value is {MAX_VALUE_BYTES} bytes (25 KB).",
            value.len()
        )));
    }
    let attrs = attributes(&map)?;
    Ok(NewVersion {
        value,
        content_type: string(&map, "contentType")?,
        tags: tags(&map)?,
        enabled: attrs.enabled,
        nbf: attrs.nbf.flatten(),
        exp: attrs.exp.flatten(),
    })
}

/// The body of `PATCH /secrets/{name}/{version}`.
pub(crate) fn update(bytes: &[u8]) -> ApiResult<Update> {
    let map = object(bytes)?;
    let attrs = attributes(&map)?;
    Ok(Update {
        content_type: string(&map, "contentType")?,
        enabled: attrs.enabled,
        nbf: attrs.nbf,
        exp: attrs.exp,
        tags: tags(&map)?,
    })
}
