//! The operations: each route applied to the vault, giving the service's answer.

use serde_json::{Value, json};

use crate::backup;
use crate::body;
use crate::bundle::{self, Ctx};
use crate::errors::{self, ApiResult, bad_parameter};
use crate::model::{self, Secret, Vault};
use crate::paging::{self, Paging};
use crate::routes::Route;
use crate::state::Config;

/// The query parameters, looked up case-insensitively (first occurrence wins).
#[derive(Debug, Default)]
pub(crate) struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a route needs from the request besides the route itself.
pub(crate) struct Request<'a> {
    pub path: &'a str,
    pub api_version: &'a str,
    pub query: &'a Query,
    pub body: &'a [u8],
}

/// A successful answer: a JSON body, or `204` without one (purge).
#[derive(Debug)]
pub(crate) enum Reply {
    Json(Value),
    NoContent,
}

pub(crate) fn handle(
    vault: &mut Vault,
    cfg: &Config,
    route: Route<'_>,
    req: &Request<'_>,
) -> ApiResult<Reply> {
    let ctx = cfg.ctx();
    let json = |v: Value| Ok(Reply::Json(v));
    match route {
        Route::Get(name, version) => get(vault, &ctx, name, version, req),
        Route::Set(name) => {
            let new = body::set(req.body)?;
            let secret = vault.add_version(name, new)?;
            json(bundle::secret_bundle(&ctx, secret, secret.latest(), true))
        }
        Route::Update(name, version) => update(vault, &ctx, name, version, req),
        Route::Delete(name) => {
            let secret = vault
                .live_mut(name)
                .ok_or_else(|| errors::secret_not_found(name))?;
            secret.deleted = Some(model::now());
            json(bundle::deleted_bundle(&ctx, secret))
        }
        Route::ListSecrets => {
            let live: Vec<&Secret> = vault
                .secrets
                .values()
                .filter(|s| s.deleted.is_none())
                .collect();
            let item = |s: &&Secret| bundle::secret_item(&ctx, s);
            list(cfg, req, "secrets", &live, |s| model::key(&s.name), item)
        }
        Route::ListVersions(name) => {
            // The service may answer an empty page for an unknown name; the store expects 404.
            let secret = vault
                .live(name)
                .ok_or_else(|| errors::secret_not_found(name))?;
            let mut versions: Vec<_> = secret.versions.iter().collect();
            versions.sort_by_key(|v| v.id.to_ascii_lowercase());
            let scope = format!("versions:{}", model::key(name));
            let item = |v: &&model::Version| bundle::version_item(&ctx, secret, v);
            list(
                cfg,
                req,
                &scope,
                &versions,
                |v| v.id.to_ascii_lowercase(),
                item,
            )
        }
        Route::ListDeleted => {
            let deleted: Vec<&Secret> = vault
                .secrets
                .values()
                .filter(|s| s.deleted.is_some())
                .collect();
            let item = |s: &&Secret| bundle::deleted_item(&ctx, s);
            list(cfg, req, "deleted", &deleted, |s| model::key(&s.name), item)
        }
        Route::GetDeleted(name) => {
            let secret = vault
                .deleted(name)
                .ok_or_else(|| errors::deleted_not_found(name))?;
            if !secret.latest().enabled {
                return Err(errors::disabled());
            }
            json(bundle::deleted_bundle(&ctx, secret))
        }
        Route::Recover(name) => {
            let secret = vault
                .deleted_mut(name)
                .ok_or_else(|| errors::deleted_not_found(name))?;
            secret.deleted = None;
            json(bundle::secret_bundle(&ctx, secret, secret.latest(), false))
        }
        Route::Purge(name) => {
            vault
                .deleted(name)
                .ok_or_else(|| errors::deleted_not_found(name))?;
            vault.secrets.remove(&model::key(name));
            Ok(Reply::NoContent)
        }
        Route::Backup(name) => {
            let secret = vault
                .live(name)
                .ok_or_else(|| errors::secret_not_found(name))?;
            json(json!({ "value": backup::encode(secret) }))
        }
        Route::Restore => restore(vault, &ctx, req),
    }
}

fn get(
    vault: &Vault,
    ctx: &Ctx<'_>,
    name: &str,
    version: Option<&str>,
    req: &Request<'_>,
) -> ApiResult<Reply> {
    let secret = vault
        .live(name)
        .ok_or_else(|| errors::not_found(name, version))?;
    let v = match version {
        None => secret.latest(),
        Some(id) => secret
            .versions
            .iter()
            .find(|v| v.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| errors::version_not_found(name, id))?,
    };
    if !v.enabled {
        return Err(errors::disabled());
    }
    if req.query.get("outContentType").is_some() {
        // Only PFX converts to PEM, and this server does not implement the conversion.
        return Err(
            if v.content_type.as_deref() == Some("application/x-pkcs12") {
                bad_parameter("PFX to PEM conversion is not implemented by this test server.")
            } else {
                bad_parameter(
                    "The 'Unsupported' to 'PEM' transformation is not supported. Only PFX to PEM transformation is supported.",
                )
            },
        );
    }
    Ok(Reply::Json(bundle::secret_bundle(ctx, secret, v, true)))
}

fn update(
    vault: &mut Vault,
    ctx: &Ctx<'_>,
    name: &str,
    version: Option<&str>,
    req: &Request<'_>,
) -> ApiResult<Reply> {
    let patch = body::update(req.body)?;
    let secret = vault
        .live_mut(name)
        .ok_or_else(|| errors::not_found(name, version))?;
    let v = match version {
        None => secret.latest_mut(),
        Some(id) => secret
            .version_mut(id)
            .ok_or_else(|| errors::version_not_found(name, id))?,
    };
    if let Some(ct) = patch.content_type {
        v.content_type = Some(ct);
    }
    if let Some(enabled) = patch.enabled {
        v.enabled = enabled;
    }
    if let Some(nbf) = patch.nbf {
        v.nbf = nbf;
    }
    if let Some(exp) = patch.exp {
        v.exp = exp;
    }
    if let Some(tags) = patch.tags {
        // Tags are replaced as a whole, not merged (recorded).
        v.tags = Some(tags);
    }
    v.updated = model::now();
    let id = v.id.clone();
    let secret = &*secret;
    let v = secret
        .versions
        .iter()
        .find(|x| x.id == id)
        .expect("the version just updated");
    Ok(Reply::Json(bundle::secret_bundle(ctx, secret, v, false)))
}

fn restore(vault: &mut Vault, ctx: &Ctx<'_>, req: &Request<'_>) -> ApiResult<Reply> {
    let map = body::object(req.body)?;
    let Some(Value::String(blob)) = map.get("value") else {
        return Err(bad_parameter(
            "The property 'value' is required but was not specified.",
        ));
    };
    let (name, versions) = backup::decode(blob)?;
    let latest = versions.last().map(|v| v.id.clone()).unwrap_or_default();
    if let Some(existing) = vault.secrets.get(&model::key(&name)) {
        if existing.deleted.is_some() {
            return Err(errors::deleted_but_recoverable(&existing.name));
        }
        return Err(errors::restore_conflict(&format!(
            "{}/secrets/{name}/{latest}",
            ctx.url
        )));
    }
    let secret = Secret {
        name,
        versions,
        deleted: None,
    };
    let body = bundle::secret_bundle(ctx, &secret, secret.latest(), false);
    vault.secrets.insert(model::key(&secret.name), secret);
    Ok(Reply::Json(body))
}

/// One page of a listing of `items` (sorted by `key`), with its `nextLink`.
fn list<T>(
    cfg: &Config,
    req: &Request<'_>,
    scope: &str,
    items: &[T],
    key: impl Fn(&T) -> String,
    item: impl Fn(&T) -> Value,
) -> ApiResult<Reply> {
    let maxresults = paging::maxresults(req.query.get("maxresults"))?;
    let keys: Vec<String> = items.iter().map(key).collect();
    let p = Paging {
        scope,
        maxresults,
        page_size: cfg.page_size,
        empty_pages: cfg.empty_pages,
    };
    let page = paging::page(&keys, &p, req.query.get("$skiptoken"))?;
    let value: Vec<Value> = items[page.range].iter().map(item).collect();
    let next_link = page.next.map(|token| {
        let mut link = format!(
            "{}{}?api-version={}&$skiptoken={token}",
            cfg.url,
            req.path.trim_end_matches('/'),
            req.api_version
        );
        if let Some(n) = maxresults {
            link.push_str(&format!("&maxresults={n}"));
        }
        link
    });
    Ok(Reply::Json(
        json!({ "value": value, "nextLink": next_link }),
    ))
}
