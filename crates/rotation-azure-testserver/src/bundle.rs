//! Response bodies: SecretBundle, DeletedSecretBundle and list items.
//!
//! Optional fields (`contentType`, `tags`, `nbf`, `exp`) are left out when unset, never
//! `null`, and fields come in the service's order.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::model::{Secret, Version};

/// What every body needs besides the secret: the vault URL and the retention setting.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub url: &'a str,
    pub recoverable_days: i64,
}

impl Ctx<'_> {
    fn recovery_level(&self) -> &'static str {
        if self.recoverable_days >= 90 {
            "Recoverable+Purgeable"
        } else {
            "CustomizedRecoverable+Purgeable"
        }
    }

    fn attributes(&self, v: &Version) -> Attributes {
        Attributes {
            enabled: v.enabled,
            nbf: v.nbf,
            exp: v.exp,
            created: v.created,
            updated: v.updated,
            recovery_level: self.recovery_level(),
            recoverable_days: self.recoverable_days,
        }
    }

    pub fn secret_id(&self, s: &Secret) -> String {
        format!("{}/secrets/{}", self.url, s.name)
    }

    pub fn version_id(&self, s: &Secret, v: &Version) -> String {
        format!("{}/secrets/{}/{}", self.url, s.name, v.id)
    }

    fn purge_date(&self, deleted: i64) -> i64 {
        deleted + self.recoverable_days * 86_400
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Attributes {
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    created: i64,
    updated: i64,
    recovery_level: &'static str,
    recoverable_days: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bundle<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<&'a str>,
    id: String,
    attributes: Attributes,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<&'a BTreeMap<String, String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Deleted<'a> {
    recovery_id: String,
    deleted_date: i64,
    scheduled_purge_date: i64,
    #[serde(flatten)]
    bundle: Bundle<'a>,
}

fn to_value(body: impl Serialize) -> Value {
    serde_json::to_value(body).expect("response bodies serialize")
}

fn bundle<'a>(ctx: &Ctx<'_>, v: &'a Version, id: String, value: bool) -> Bundle<'a> {
    Bundle {
        value: value.then_some(v.value.as_str()),
        content_type: v.content_type.as_deref(),
        id,
        attributes: ctx.attributes(v),
        tags: v.tags.as_ref(),
    }
}

/// A SecretBundle for one version; `value` only for get and set.
pub(crate) fn secret_bundle(ctx: &Ctx<'_>, s: &Secret, v: &Version, value: bool) -> Value {
    to_value(bundle(ctx, v, ctx.version_id(s, v), value))
}

/// A `GET /secrets` item: id without version, the latest version's properties.
pub(crate) fn secret_item(ctx: &Ctx<'_>, s: &Secret) -> Value {
    to_value(bundle(ctx, s.latest(), ctx.secret_id(s), false))
}

/// A `GET /secrets/{name}/versions` item: id with version, no value.
pub(crate) fn version_item(ctx: &Ctx<'_>, s: &Secret, v: &Version) -> Value {
    secret_bundle(ctx, s, v, false)
}

fn deleted<'a>(ctx: &Ctx<'_>, s: &'a Secret, id: String) -> Deleted<'a> {
    let deleted_date = s.deleted.unwrap_or_default();
    Deleted {
        recovery_id: format!("{}/deletedsecrets/{}", ctx.url, s.name),
        deleted_date,
        scheduled_purge_date: ctx.purge_date(deleted_date),
        bundle: bundle(ctx, s.latest(), id, false),
    }
}

/// A DeletedSecretBundle: the latest version's id and properties plus the recovery fields.
pub(crate) fn deleted_bundle(ctx: &Ctx<'_>, s: &Secret) -> Value {
    to_value(deleted(ctx, s, ctx.version_id(s, s.latest())))
}

/// A `GET /deletedsecrets` item: as the bundle, but the id has no version.
pub(crate) fn deleted_item(ctx: &Ctx<'_>, s: &Secret) -> Value {
    to_value(deleted(ctx, s, ctx.secret_id(s)))
}
