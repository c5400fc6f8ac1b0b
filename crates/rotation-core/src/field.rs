//! Structured secrets: read or replace one field of a JSON object, preserving the others.

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret::SecretValue;

fn parse_object(doc: &SecretValue, field: &str) -> Result<Map<String, Value>> {
    // serde_json's messages carry positions, not content; we still drop them to be sure.
    match serde_json::from_slice::<Value>(doc.expose()) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::invalid_value(format!(
            "field {field:?} is configured but the secret is not a JSON object"
        ))),
        Err(_) => Err(Error::invalid_value(format!(
            "field {field:?} is configured but the secret is not valid JSON"
        ))),
    }
}

/// The value of `field` inside the JSON object `doc`, as bytes (strings unquoted).
pub fn extract(doc: &SecretValue, field: &str) -> Result<SecretValue> {
    let mut map = parse_object(doc, field)?;
    let value = map.remove(field).ok_or_else(|| {
        Error::invalid_value(format!("field {field:?} is missing from the secret"))
    })?;
    let out = match value {
        Value::String(s) => SecretValue::from_string(s),
        Value::Null | Value::Array(_) | Value::Object(_) | Value::Bool(_) | Value::Number(_) => {
            return Err(Error::invalid_value(format!(
                "field {field:?} is not a string"
            )));
        }
    };
    zeroize_map(map);
    Ok(out)
}

/// `doc` with `field` set to `value` (a UTF-8 string); every other key is preserved.
///
/// `doc = None` creates a new object holding only the field.
pub fn replace(doc: Option<&SecretValue>, field: &str, value: &SecretValue) -> Result<SecretValue> {
    let mut map = match doc {
        Some(doc) => parse_object(doc, field)?,
        None => Map::new(),
    };
    let text = value.expose_str()?.to_owned();
    map.insert(field.to_owned(), Value::String(text));
    let bytes = serde_json::to_vec(&Value::Object(map))
        .map_err(|_| Error::internal("could not serialise the secret document"))?;
    Ok(SecretValue::new(bytes))
}

fn zeroize_map(map: Map<String, Value>) {
    for (_, v) in map {
        if let Value::String(s) = v {
            drop(Zeroizing::new(s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_preserves_other_fields() {
        let doc = SecretValue::from(r#"{"username":"app","password":"old","port":5432}"#);
        let out = replace(Some(&doc), "password", &SecretValue::from("new")).unwrap();
        let v: Value = serde_json::from_slice(out.expose()).unwrap();
        assert_eq!(v["username"], "app");
        assert_eq!(v["port"], 5432);
        assert_eq!(v["password"], "new");
        assert_eq!(extract(&out, "password").unwrap().expose(), b"new");
    }

    #[test]
    fn errors_do_not_quote_the_document() {
        let doc = SecretValue::from("not-json-s3cr3t");
        let err = extract(&doc, "password").unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"));
        let doc = SecretValue::from(r#"{"password":42,"other":"s3cr3t"}"#);
        assert!(
            !extract(&doc, "password")
                .unwrap_err()
                .to_string()
                .contains("s3cr3t")
        );
    }
}
