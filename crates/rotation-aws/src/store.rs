//! [`AwsStore`]: the [`SecretStore`] contract on Secrets Manager's staging labels.
//!
//! - A secret is a secret id (name or ARN); its value is `SecretString` (whole, or one `field`
//!   of a JSON object through the engine) or `SecretBinary` (values that are not UTF-8, or secrets
//!   whose current version is binary).
//! - Version ids written by the engine are `rotation-<rotation id>` (the `ClientRequestToken`),
//!   so a pending version tells which rotation owns it; versions created by others (an AWS
//!   rotation Lambda, a console edit) carry no rotation id.
//! - Stage: `PutSecretValue` with that token and `VersionStages = [AWSPENDING]`; a retried stage
//!   finds the token and writes nothing. An `AWSPENDING` on a version that is not this
//!   rotation's means another rotation is in progress: refused, naming the version.
//! - Promote: `UpdateSecretVersionStage(AWSCURRENT, move to pending, remove from the version read
//!   at the start)`, refused with a conflict if `AWSCURRENT` is no longer there; `AWSPREVIOUS`
//!   is set on the old version if the service did not move it; then `AWSPENDING` is removed.
//! - Immediate writes use a private `ROTATIONWRITE` label until `AWSCURRENT` moves to them.
//! - Restore moves `AWSCURRENT` back (CAS the same way) and clears `AWSPREVIOUS`: the service
//!   keeps no label history, and an undone version must never become "previous".
//! - moto deviations handled explicitly: the current version is always read with
//!   `VersionStage = AWSCURRENT` (moto returns the old version without it); if two versions
//!   carry `AWSCURRENT` (moto, after a plain put) the one `GetSecretValue(AWSCURRENT)` returns
//!   is current; a token is never reused with another value (moto overwrites silently).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::primitives::Blob;
use rotation_core::{
    Capabilities, Error, ErrorKind, Result, RotationId, SecretPath, SecretStore, SecretValue,
    VersionId, VersionInfo, VersionState, VersionedSecret,
};
use tokio::sync::OnceCell;

use crate::builder::AwsStoreBuilder;
use crate::errors::{Where, map};

const CURRENT: &str = "AWSCURRENT";
const PENDING: &str = "AWSPENDING";
const PREVIOUS: &str = "AWSPREVIOUS";
/// Private label of a version written by the immediate strategy until it becomes current.
const WRITING: &str = "ROTATIONWRITE";
const TOKEN_PREFIX: &str = "rotation-";
/// Secrets Manager's limit for SecretString and SecretBinary.
pub const MAX_VALUE_BYTES: usize = 65_536;

/// Secrets Manager as a rotation store.
pub struct AwsStore {
    config: AwsStoreBuilder,
    client: OnceCell<Conn>,
    /// Whether a secret's current value is binary, learnt from the last read (saves a call per
    /// stage: the engine always reads the current value first).
    binary: Mutex<HashMap<String, bool>>,
    /// Tokens this store promoted and removed AWSPENDING from (cleanup needs no call for them).
    promoted: Mutex<HashSet<String>>,
    /// Whether the service moves AWSPREVIOUS by itself (checked on the first promotion).
    auto_previous: Mutex<Option<bool>>,
}

impl fmt::Debug for AwsStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn check_size(value: &SecretValue) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::invalid_value(format!(
            "aws: the value is {} bytes; Secrets Manager accepts at most {MAX_VALUE_BYTES}",
            value.len()
        )));
    }
    Ok(())
}

fn token(rid: &RotationId) -> String {
    format!("{TOKEN_PREFIX}{rid}")
}

fn rotation_of(version: &str) -> Option<RotationId> {
    version
        .strip_prefix(TOKEN_PREFIX)
        .and_then(|r| RotationId::parse(r).ok())
}

/// The SDK's own HTTPS client (rustls, aws-lc) trusting `pem` besides the system's roots.
fn https_client(pem: &[u8]) -> aws_sdk_secretsmanager::config::SharedHttpClient {
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::default().with_pem_certificate(pem.to_vec());
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap_or_default();
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https()
}

/// The SDK client and what error messages say about where it sends.
struct Conn {
    client: Client,
    at: Where,
}

impl Conn {
    fn map<E>(&self, action: &str, id: &str) -> impl FnOnce(SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        move |e| map(&self.at, action, id, e)
    }
}

/// One version as `DescribeSecret` / `ListSecretVersionIds` report it.
#[derive(Debug, Clone)]
struct Version {
    id: String,
    stages: Vec<String>,
    created: Option<chrono::DateTime<chrono::Utc>>,
}

impl Version {
    fn has(&self, stage: &str) -> bool {
        self.stages.iter().any(|s| s == stage)
    }
}

impl AwsStore {
    /// A builder.
    pub fn builder() -> AwsStoreBuilder {
        AwsStoreBuilder::new()
    }

    pub(crate) fn new(config: AwsStoreBuilder) -> Self {
        Self {
            config,
            client: OnceCell::new(),
            binary: Mutex::default(),
            promoted: Mutex::default(),
            auto_previous: Mutex::default(),
        }
    }

    /// The client, and where it sends (for messages); built on first use.
    async fn conn(&self) -> &Conn {
        self.client
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(BehaviorVersion::latest());
                if let Some(region) = &self.config.region {
                    loader = loader.region(aws_config::Region::new(region.clone()));
                }
                if let Some(url) = &self.config.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                if let Some(pem) = &self.config.ca_pem {
                    loader = loader.http_client(https_client(pem));
                }
                if let Some(attempts) = self.config.max_attempts {
                    loader = loader.retry_config(
                        aws_config::retry::RetryConfig::standard().with_max_attempts(attempts),
                    );
                }
                if let Some(t) = self.config.timeout {
                    loader = loader.timeout_config(
                        aws_config::timeout::TimeoutConfig::builder()
                            .operation_timeout(t)
                            .build(),
                    );
                }
                let sdk = loader.load().await;
                // AWS_ENDPOINT_URL counts too: the SDK config holds the endpoint it will use.
                let endpoint = match (sdk.endpoint_url(), sdk.region()) {
                    (Some(url), _) => url.to_owned(),
                    (None, Some(region)) => {
                        format!("https://secretsmanager.{region}.amazonaws.com")
                    }
                    (None, None) => "the regional endpoint (no region is set)".to_owned(),
                };
                Conn {
                    client: Client::new(&sdk),
                    at: Where {
                        name: self.config.name.clone(),
                        endpoint,
                    },
                }
            })
            .await
    }

    /// One version by label or id: its id, value, and whether it is a SecretBinary.
    async fn get(
        &self,
        id: &str,
        stage: Option<&str>,
        version: Option<&str>,
    ) -> Result<(String, SecretValue, bool)> {
        let conn = self.conn().await;
        let out = conn
            .client
            .get_secret_value()
            .secret_id(id)
            .set_version_stage(stage.map(str::to_owned))
            .set_version_id(version.map(str::to_owned))
            .send()
            .await
            .map_err(conn.map("GetSecretValue", id))?;
        let found = out.version_id().unwrap_or_default().to_owned();
        let (value, binary) = match (out.secret_string(), out.secret_binary()) {
            (Some(s), _) => (SecretValue::from(s), false),
            (None, Some(b)) => (SecretValue::new(b.as_ref().to_vec()), true),
            (None, None) => {
                return Err(Error::invalid_value(format!(
                    "aws: version {found} of {id} has no value"
                )));
            }
        };
        Ok((found, value, binary))
    }

    /// Current version id and value, always by the `AWSCURRENT` label (moto returns the old
    /// version without it); remembers whether the secret is binary.
    async fn current(&self, id: &str) -> Result<(String, SecretValue, bool)> {
        let current = self.get(id, Some(CURRENT), None).await?;
        lock(&self.binary).insert(id.to_owned(), current.2);
        Ok(current)
    }

    async fn value_of(&self, id: &str, version: &str) -> Result<SecretValue> {
        Ok(self.get(id, None, Some(version)).await?.1)
    }

    async fn describe(&self, id: &str) -> Result<DescribeSecretOutput> {
        let conn = self.conn().await;
        conn.client
            .describe_secret()
            .secret_id(id)
            .send()
            .await
            .map_err(conn.map("DescribeSecret", id))
    }

    /// Labelled versions (`DescribeSecret`: one call); refuses secrets scheduled for deletion.
    async fn labels(&self, id: &str) -> Result<Vec<Version>> {
        let desc = self.describe(id).await?;
        if desc.deleted_date().is_some() {
            return Err(Error::invalid_value(format!(
                "aws: {id} is scheduled for deletion; restore it (aws secretsmanager restore-secret) first"
            )));
        }
        Ok(desc
            .version_ids_to_stages()
            .into_iter()
            .flatten()
            .map(|(v, stages)| Version {
                id: v.clone(),
                stages: stages.clone(),
                created: None,
            })
            .collect())
    }

    /// Every version, labelled or not, with creation dates (for listings).
    async fn versions(&self, id: &str) -> Result<Vec<Version>> {
        self.labels(id).await?;
        let conn = self.conn().await;
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = conn
                .client
                .list_secret_version_ids()
                .secret_id(id)
                .include_deprecated(true)
                .set_next_token(next.clone())
                .send()
                .await
                .map_err(conn.map("ListSecretVersionIds", id))?;
            for v in page.versions() {
                out.push(Version {
                    id: v.version_id().unwrap_or_default().to_owned(),
                    stages: v.version_stages().to_vec(),
                    created: v
                        .created_date()
                        .and_then(|d| chrono::DateTime::from_timestamp(d.secs(), d.subsec_nanos())),
                });
            }
            // moto answers a NextToken even on the last page; an empty page or a repeated token
            // ends the listing as well.
            match page.next_token() {
                Some(t)
                    if !t.is_empty()
                        && !page.versions().is_empty()
                        && next.as_deref() != Some(t) =>
                {
                    next = Some(t.to_owned());
                }
                _ => break,
            }
        }
        Ok(out)
    }

    async fn move_stage(
        &self,
        id: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<()> {
        let conn = self.conn().await;
        conn.client
            .update_secret_version_stage()
            .secret_id(id)
            .version_stage(stage)
            .set_move_to_version_id(to.map(str::to_owned))
            .set_remove_from_version_id(from.map(str::to_owned))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let err = conn.map("UpdateSecretVersionStage", id)(e);
                // Removing a label from a version that no longer has it: someone moved it.
                if err.kind() == ErrorKind::InvalidValue {
                    Error::conflict(format!(
                        "{} (the label moved since the rotation read it)",
                        err.message()
                    ))
                } else {
                    err
                }
            })
    }

    /// Refuse an `AWSPENDING` that belongs to someone else.
    fn foreign_pending(id: &str, versions: &[Version], mine: &str) -> Result<()> {
        // A version that carries AWSCURRENT too is a finished rotation (AWS treats it so).
        match versions
            .iter()
            .find(|v| v.has(PENDING) && !v.has(CURRENT) && v.id != mine)
        {
            Some(v) => Err(Error::new(
                ErrorKind::InProgress,
                format!(
                    "aws: another rotation is in progress on {id}: version {} carries AWSPENDING{}; finish it or \
                     remove the label (aws secretsmanager update-secret-version-stage --secret-id {id} \
                     --version-stage AWSPENDING --remove-from-version-id {})",
                    v.id,
                    if rotation_of(&v.id).is_some() {
                        " (left by an interrupted rotation of this engine: run `rotation recover`)"
                    } else {
                        ""
                    },
                    v.id
                ),
            )),
            None => Ok(()),
        }
    }

    async fn put(
        &self,
        id: &str,
        token: &str,
        value: &SecretValue,
        binary: bool,
        stage: &str,
    ) -> Result<()> {
        check_size(value)?;
        let conn = self.conn().await;
        let req = conn
            .client
            .put_secret_value()
            .secret_id(id)
            .client_request_token(token)
            .version_stages(stage);
        let req = match (binary, value.expose_str()) {
            (false, Ok(s)) => req.secret_string(s),
            _ => req.secret_binary(Blob::new(value.expose().to_vec())),
        };
        req.send()
            .await
            .map(|_| ())
            .map_err(conn.map("PutSecretValue", id))
    }

    /// Whether the secret's current value is binary (so new values stay binary).
    async fn is_binary(&self, id: &str) -> Result<bool> {
        let known = lock(&self.binary).get(id).copied();
        match known {
            Some(b) => Ok(b),
            None => Ok(self.current(id).await?.2),
        }
    }

    /// After `AWSCURRENT` moved to `now` from `from`: `AWSPREVIOUS` must be on `previous`.
    async fn set_previous(&self, id: &str, previous: Option<&str>) -> Result<bool> {
        let versions = self.labels(id).await?;
        let holder = versions
            .iter()
            .find(|v| v.has(PREVIOUS))
            .map(|v| v.id.clone());
        match (previous, holder.as_deref()) {
            (Some(p), Some(h)) if p == h => return Ok(false),
            (Some(p), h) => self.move_stage(id, PREVIOUS, Some(p), h).await?,
            (None, Some(h)) => self.move_stage(id, PREVIOUS, None, Some(h)).await?,
            (None, None) => return Ok(false),
        }
        Ok(true)
    }

    /// After promoting: make sure `AWSPREVIOUS` is on `old`. The service moves it by itself; that
    /// is checked on the first promotion of this process and trusted afterwards (one call less
    /// per rotation), and set explicitly every time if it ever was not moved.
    async fn ensure_previous(&self, id: &str, old: &str) -> Result<()> {
        let trusted = *lock(&self.auto_previous);
        if trusted == Some(true) {
            return Ok(());
        }
        let fixed = self.set_previous(id, Some(old)).await?;
        // Trust only a service that moved it the first time; once it had to be fixed, always check.
        *lock(&self.auto_previous) = Some(!fixed && trusted.is_none());
        Ok(())
    }
}

#[async_trait]
impl SecretStore for AwsStore {
    fn kind(&self) -> &'static str {
        "aws"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            binary: true,
            max_value_bytes: MAX_VALUE_BYTES,
            json_objects: false,
            single_pending: true,
        }
    }

    async fn read_current(&self, path: &SecretPath) -> Result<VersionedSecret> {
        let (version, value, _) = self.current(path.as_str()).await?;
        Ok(VersionedSecret {
            version: VersionId::new(version),
            value,
        })
    }

    async fn read_previous(&self, path: &SecretPath) -> Result<Option<VersionedSecret>> {
        let id = path.as_str();
        let versions = self.versions(id).await?;
        let Some(prev) = versions.iter().find(|v| v.has(PREVIOUS)) else {
            return Ok(None);
        };
        let value = self.value_of(id, &prev.id).await?;
        Ok(Some(VersionedSecret {
            version: VersionId::new(prev.id.clone()),
            value,
        }))
    }

    async fn read_version(
        &self,
        path: &SecretPath,
        version: &VersionId,
    ) -> Result<VersionedSecret> {
        let value = self.value_of(path.as_str(), version.as_str()).await?;
        Ok(VersionedSecret {
            version: version.clone(),
            value,
        })
    }

    async fn read_pending(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
    ) -> Result<Option<VersionedSecret>> {
        let id = path.as_str();
        let mine = token(rotation_id);
        let versions = self.labels(id).await?;
        if !versions.iter().any(|v| v.id == mine && v.has(PENDING)) {
            return Ok(None);
        }
        let value = self.value_of(id, &mine).await?;
        Ok(Some(VersionedSecret {
            version: VersionId::new(mine),
            value,
        }))
    }

    async fn stage(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
    ) -> Result<VersionId> {
        let id = path.as_str();
        let mine = token(rotation_id);
        let versions = self.labels(id).await?;
        if versions.iter().any(|v| v.id == mine) {
            // Idempotent: the first value wins (moto would silently overwrite it).
            return Ok(VersionId::new(mine));
        }
        Self::foreign_pending(id, &versions, &mine)?;
        let binary = self.is_binary(id).await?;
        self.put(id, &mine, value, binary, PENDING).await?;
        Ok(VersionId::new(mine))
    }

    async fn promote(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        expected_current: &VersionId,
    ) -> Result<VersionId> {
        let id = path.as_str();
        let mine = token(rotation_id);
        let expected = expected_current.as_str();
        let labels = self.labels(id).await?;
        let holders: Vec<&Version> = labels.iter().filter(|v| v.has(CURRENT)).collect();
        if holders.iter().any(|v| v.id == mine) && holders.len() == 1 {
            // Already promoted (a retry): finish what the first attempt may not have.
            if holders[0].has(PENDING) {
                self.move_stage(id, PENDING, None, Some(&mine)).await?;
            }
            return Ok(VersionId::new(mine));
        }
        if !labels.iter().any(|v| v.id == mine && v.has(PENDING)) {
            return Err(Error::not_found(format!(
                "aws: no pending version for rotation {rotation_id} on {id}"
            )));
        }
        // moto can leave AWSCURRENT on two versions after a plain put: GetSecretValue decides.
        let actual = match holders.as_slice() {
            [only] => only.id.clone(),
            _ => self.current(id).await?.0,
        };
        if actual != expected {
            return Err(Error::conflict(format!(
                "aws: AWSCURRENT of {id} is on {actual}, not on {expected} where the rotation started"
            )));
        }
        // RemoveFromVersionId makes the service refuse if AWSCURRENT moved since the check.
        self.move_stage(id, CURRENT, Some(&mine), Some(expected))
            .await?;
        self.move_stage(id, PENDING, None, Some(&mine)).await?;
        self.ensure_previous(id, expected).await?;
        lock(&self.promoted).insert(mine.clone());
        Ok(VersionId::new(mine))
    }

    async fn discard_pending(&self, path: &SecretPath, rotation_id: &RotationId) -> Result<()> {
        let id = path.as_str();
        let mine = token(rotation_id);
        if lock(&self.promoted).remove(&mine) {
            return Ok(()); // promote already removed AWSPENDING from it
        }
        let versions = match self.labels(id).await {
            Ok(v) => v,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if versions.iter().any(|v| v.id == mine && v.has(PENDING)) {
            self.move_stage(id, PENDING, None, Some(&mine)).await?;
        }
        Ok(())
    }

    async fn write_current(
        &self,
        path: &SecretPath,
        rotation_id: &RotationId,
        value: &SecretValue,
        expected_current: Option<&VersionId>,
    ) -> Result<VersionId> {
        let id = path.as_str();
        let mine = token(rotation_id);
        let Some(expected) = expected_current else {
            check_size(value)?;
            let conn = self.conn().await;
            let req = conn
                .client
                .create_secret()
                .name(id)
                .client_request_token(&mine);
            let req = match value.expose_str() {
                Ok(s) => req.secret_string(s),
                Err(_) => req.secret_binary(Blob::new(value.expose().to_vec())),
            };
            return match req.send().await {
                Ok(_) => Ok(VersionId::new(mine)),
                Err(e) => {
                    let err = conn.map("CreateSecret", id)(e);
                    if err.kind() == ErrorKind::Conflict
                        && self.current(id).await.is_ok_and(|(v, _, _)| v == mine)
                    {
                        return Ok(VersionId::new(mine));
                    }
                    Err(err)
                }
            };
        };
        // Immediate: write under our token with a private label (so an AWSPENDING of a staged
        // rotation in flight is neither needed nor disturbed), then move AWSCURRENT to it only
        // if it is still on `expected` (the same check as promote).
        let (actual, _, binary) = self.current(id).await?;
        if actual == mine {
            return Ok(VersionId::new(mine));
        }
        if actual != expected.as_str() {
            return Err(Error::conflict(format!(
                "aws: AWSCURRENT of {id} is on {actual}, not on {expected}"
            )));
        }
        let versions = self.versions(id).await?;
        if !versions.iter().any(|v| v.id == mine) {
            self.put(id, &mine, value, binary, WRITING).await?;
        }
        self.move_stage(id, CURRENT, Some(&mine), Some(expected.as_str()))
            .await?;
        self.ensure_previous(id, expected.as_str()).await?;
        self.move_stage(id, WRITING, None, Some(&mine)).await?;
        Ok(VersionId::new(mine))
    }

    async fn restore(
        &self,
        path: &SecretPath,
        version: &VersionId,
        expected_current: &VersionId,
    ) -> Result<VersionId> {
        let id = path.as_str();
        let (actual, _, _) = self.current(id).await?;
        if actual == version.as_str() {
            // Retried after the move: the service put AWSPREVIOUS on the undone version.
            let labels = self.labels(id).await?;
            if labels
                .iter()
                .any(|v| v.id == expected_current.as_str() && v.has(PREVIOUS))
            {
                self.set_previous(id, None).await?;
            }
            return Ok(version.clone());
        }
        if actual != expected_current.as_str() {
            return Err(Error::conflict(format!(
                "aws: AWSCURRENT of {id} is on {actual}, not on {expected_current}"
            )));
        }
        let versions = self.versions(id).await?;
        if !versions.iter().any(|v| v.id == version.as_str()) {
            return Err(Error::not_found(format!(
                "aws: version {version} of {id} does not exist"
            )));
        }
        self.move_stage(
            id,
            CURRENT,
            Some(version.as_str()),
            Some(expected_current.as_str()),
        )
        .await?;
        // Secrets Manager keeps no label history, so what preceded the restored version is
        // unknown: clear AWSPREVIOUS rather than leave it on the undone version.
        self.set_previous(id, None).await?;
        Ok(version.clone())
    }

    async fn advisories(&self, path: &SecretPath) -> Result<Vec<String>> {
        let id = path.as_str();
        let desc = self.describe(id).await?;
        let lambda = desc.rotation_lambda_arn().unwrap_or_default();
        if desc.rotation_enabled() == Some(true) || !lambda.is_empty() {
            return Ok(vec![format!(
                "AWS-native rotation is enabled on {id} (Lambda {}): two rotation systems would fight over \
                 AWSPENDING; disable it with `aws secretsmanager cancel-rotate-secret --secret-id {id}`",
                if lambda.is_empty() { "unknown" } else { lambda }
            )]);
        }
        Ok(Vec::new())
    }

    async fn list_versions(&self, path: &SecretPath) -> Result<Vec<VersionInfo>> {
        let id = path.as_str();
        let (actual, _, _) = self.current(id).await?;
        let mut versions = self.versions(id).await?;
        versions.sort_by_key(|v| std::cmp::Reverse(v.created));
        Ok(versions
            .into_iter()
            .map(|v| VersionInfo {
                state: if v.id == actual {
                    VersionState::Current
                } else if v.has(PENDING) {
                    VersionState::Pending
                } else if v.has(PREVIOUS) {
                    VersionState::Previous
                } else {
                    VersionState::Deprecated
                },
                rotation_id: rotation_of(&v.id),
                created_at: v.created,
                version: VersionId::new(v.id),
            })
            .collect())
    }
}
