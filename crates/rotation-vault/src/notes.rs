//! What the store writes into a secret's `custom_metadata`, since KV v2 keeps no per-version
//! metadata: for each version it wrote, `rotation.v<N> = "r=<rotation id>;p=<previous>;f=<restored from>"`,
//! plus `rotation.last`, `rotation.status` and `rotation.at` for people reading the secret in
//! the UI. Only the newest [`KEEP`] version notes are kept (Vault allows 64 keys).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Version notes kept.
pub(crate) const KEEP: usize = 20;
const PREFIX: &str = "rotation.v";

/// What the store knows about one version it wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Note {
    /// The rotation that wrote it (none for restores).
    pub rotation_id: Option<String>,
    /// The version that was current before it: what `previous` means while it is current.
    pub previous: Option<u64>,
    /// For restores: the version whose data it copies.
    pub restored_from: Option<u64>,
}

impl Note {
    fn encode(&self) -> String {
        let num = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
        format!(
            "r={};p={};f={}",
            self.rotation_id.as_deref().unwrap_or(""),
            num(self.previous),
            num(self.restored_from)
        )
    }

    fn decode(text: &str) -> Self {
        let mut note = Note::default();
        for part in text.split(';') {
            match part.split_once('=') {
                Some(("r", v)) if !v.is_empty() => note.rotation_id = Some(v.to_owned()),
                Some(("p", v)) => note.previous = v.parse().ok(),
                Some(("f", v)) => note.restored_from = v.parse().ok(),
                _ => {}
            }
        }
        note
    }
}

/// Notes by version, read from `custom_metadata`.
pub(crate) fn read(custom: Option<&Value>) -> BTreeMap<u64, Note> {
    custom
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    let n = k.strip_prefix(PREFIX)?.parse().ok()?;
                    Some((n, Note::decode(v.as_str()?)))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The merge-patch that records `note` for `version` and drops notes beyond [`KEEP`].
pub(crate) fn patch(
    existing: &BTreeMap<u64, Note>,
    version: u64,
    note: &Note,
    status: &str,
) -> Value {
    let mut custom = Map::new();
    custom.insert(format!("{PREFIX}{version}"), Value::String(note.encode()));
    let mut versions: Vec<u64> = existing.keys().copied().chain([version]).collect();
    versions.sort_unstable();
    versions.dedup();
    let excess = versions.len().saturating_sub(KEEP);
    for old in &versions[..excess] {
        custom.insert(format!("{PREFIX}{old}"), Value::Null);
    }
    if let Some(rid) = &note.rotation_id {
        custom.insert("rotation.last".into(), Value::String(rid.clone()));
    }
    custom.insert("rotation.status".into(), Value::String(status.to_owned()));
    custom.insert(
        "rotation.at".into(),
        Value::String(chrono::Utc::now().to_rfc3339()),
    );
    serde_json::json!({ "custom_metadata": custom })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_pruning() {
        let note = Note {
            rotation_id: Some("abc".into()),
            previous: Some(4),
            restored_from: None,
        };
        assert_eq!(Note::decode(&note.encode()), note);
        let existing: BTreeMap<u64, Note> =
            (1..=KEEP as u64).map(|n| (n, Note::default())).collect();
        let p = patch(&existing, 21, &note, "promoted");
        let custom = &p["custom_metadata"];
        assert_eq!(custom["rotation.v1"], Value::Null, "oldest note dropped");
        assert!(
            custom["rotation.v21"]
                .as_str()
                .unwrap()
                .starts_with("r=abc;p=4")
        );
        let m = custom.as_object().unwrap().clone();
        assert_eq!(read(Some(&Value::Object(m))).get(&21), Some(&note));
    }
}
