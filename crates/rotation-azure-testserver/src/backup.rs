//! This server's backup blob: base64url of a magic line and the secret's versions as JSON.
//!
//! The service's blobs are encrypted JWEs that only it can open; this format is the
//! server's own, so a service blob (or anything else) is a "Malformed backup blob".

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::errors::{ApiResult, malformed_backup};
use crate::model::{Secret, Version, valid_name, valid_version};

const MAGIC: &[u8] = b"rotation-azure-testserver secret backup v1\n";

#[derive(Serialize, Deserialize)]
struct Blob {
    name: String,
    versions: Vec<Version>,
}

pub(crate) fn encode(secret: &Secret) -> String {
    let blob = Blob {
        name: secret.name.clone(),
        versions: secret.versions.clone(),
    };
    let mut bytes = MAGIC.to_vec();
    bytes.extend(serde_json::to_vec(&blob).expect("backup blobs serialize"));
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The name and versions (oldest first) in a blob of this server's format.
pub(crate) fn decode(blob: &str) -> ApiResult<(String, Vec<Version>)> {
    let bytes = URL_SAFE_NO_PAD
        .decode(blob)
        .or_else(|_| URL_SAFE.decode(blob))
        .map_err(|_| malformed_backup())?;
    let json = bytes.strip_prefix(MAGIC).ok_or_else(malformed_backup)?;
    let blob: Blob = serde_json::from_slice(json).map_err(|_| malformed_backup())?;
    let sound = valid_name(&blob.name)
        && !blob.versions.is_empty()
        && blob.versions.iter().all(|v| valid_version(&v.id));
    if !sound {
        return Err(malformed_backup());
    }
    Ok((blob.name, blob.versions))
}
