//! The data-plane routes and the operation each one is.
//!
//! One trailing slash is ignored, as the service's routing does: `GET /secrets/{name}/`
//! is "get latest", and `PUT /secrets/` is a PUT on the list route, hence 405.

use crate::errors::{self, ApiResult};
use crate::model::valid_name;
use crate::rbac::Op;

/// A recognised request; names are validated, versions are not (a bad one is a 404).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    ListSecrets,
    Set(&'a str),
    /// `None` is the latest version.
    Get(&'a str, Option<&'a str>),
    Update(&'a str, Option<&'a str>),
    Delete(&'a str),
    ListVersions(&'a str),
    Backup(&'a str),
    Restore,
    ListDeleted,
    GetDeleted(&'a str),
    Purge(&'a str),
    Recover(&'a str),
}

impl<'a> Route<'a> {
    pub fn parse(method: &str, path: &'a str) -> ApiResult<Route<'a>> {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let segments: Vec<&str> = trimmed.split('/').collect();
        let not_allowed = || Err(errors::method_not_allowed(method));
        let route = match (segments.as_slice(), method) {
            (["secrets"], "GET") => Route::ListSecrets,
            (["secrets"], _) => return not_allowed(),
            (["secrets", "restore"], "POST") => Route::Restore,
            (["secrets", name], m) => match m {
                "GET" => Route::Get(name, None),
                "PUT" => Route::Set(name),
                "PATCH" => Route::Update(name, None),
                "DELETE" => Route::Delete(name),
                _ => return not_allowed(),
            },
            (["secrets", name, "versions"], "GET") => Route::ListVersions(name),
            (["secrets", name, "backup"], "POST") => Route::Backup(name),
            (["secrets", name, version], m) => match m {
                "GET" => Route::Get(name, Some(version)),
                "PATCH" => Route::Update(name, Some(version)),
                _ => return not_allowed(),
            },
            (["deletedsecrets"], "GET") => Route::ListDeleted,
            (["deletedsecrets"], _) => return not_allowed(),
            (["deletedsecrets", name], m) => match m {
                "GET" => Route::GetDeleted(name),
                "DELETE" => Route::Purge(name),
                _ => return not_allowed(),
            },
            (["deletedsecrets", name, "recover"], "POST") => Route::Recover(name),
            (["deletedsecrets", _, "recover"], _) => return not_allowed(),
            _ => return Err(errors::unknown_route(path)),
        };
        match route.name() {
            Some(name) if !valid_name(name) => Err(errors::invalid_name(name)),
            _ => Ok(route),
        }
    }

    /// The secret the route addresses, if any.
    pub fn name(&self) -> Option<&'a str> {
        match *self {
            Route::ListSecrets | Route::Restore | Route::ListDeleted => None,
            Route::Set(n)
            | Route::Get(n, _)
            | Route::Update(n, _)
            | Route::Delete(n)
            | Route::ListVersions(n)
            | Route::Backup(n)
            | Route::GetDeleted(n)
            | Route::Purge(n)
            | Route::Recover(n) => Some(n),
        }
    }

    pub fn op(&self) -> Op {
        match self {
            Route::Get(..) => Op::Get,
            Route::Set(_) => Op::Set,
            Route::Update(..) => Op::Update,
            Route::ListSecrets | Route::ListVersions(_) | Route::ListDeleted => Op::List,
            Route::GetDeleted(_) => Op::List,
            Route::Delete(_) => Op::Delete,
            Route::Recover(_) => Op::Recover,
            Route::Purge(_) => Op::Purge,
            Route::Backup(_) => Op::Backup,
            Route::Restore => Op::Restore,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            Route::parse("GET", "/secrets/a/").unwrap(),
            Route::Get("a", None)
        );
        assert_eq!(
            Route::parse("GET", "/secrets/a/0123").unwrap(),
            Route::Get("a", Some("0123"))
        );
        assert_eq!(Route::parse("PUT", "/secrets/").unwrap_err().status, 405);
        assert_eq!(Route::parse("PUT", "/secrets/a_b").unwrap_err().status, 400);
        assert_eq!(Route::parse("GET", "/keys/a").unwrap_err().status, 404);
        assert_eq!(
            Route::parse("PUT", "/secrets/restore").unwrap(),
            Route::Set("restore")
        );
        assert_eq!(
            Route::parse("DELETE", "/secrets/a/v").unwrap_err().status,
            405
        );
    }
}
