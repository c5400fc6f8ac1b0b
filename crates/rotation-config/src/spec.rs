//! The config file's shape, as serde types. Unknown keys are errors.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rotation_command::CommandSpec;
use rotation_core::{GeneratorSpec, NotifyFlags, RotationStrategy};
use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Audit log settings.
    #[serde(default)]
    pub audit: AuditSpec,
    /// State database settings.
    #[serde(default)]
    pub state: StateSpec,
    /// `[stores.<name>]`.
    #[serde(default)]
    pub stores: BTreeMap<String, Spanned<StoreSpec>>,
    /// `[generators.<name>]`.
    #[serde(default)]
    pub generators: BTreeMap<String, Spanned<GeneratorSpec>>,
    /// `[verifiers.<name>]`.
    #[serde(default)]
    pub verifiers: BTreeMap<String, Spanned<PluginSpec>>,
    /// `[targets.<name>]`.
    #[serde(default)]
    pub targets: BTreeMap<String, Spanned<PluginSpec>>,
    /// `[policies.<name>]`.
    #[serde(default)]
    pub policies: BTreeMap<String, Spanned<PolicySpec>>,
    /// `[[secrets]]`.
    #[serde(default)]
    pub secrets: Vec<Spanned<SecretSpec>>,
    /// `[server]`: only `rotation-server` reads it.
    pub server: Option<Spanned<ServerSpec>>,
    /// `[[webhooks]]`: notifications sent by `rotation` and `rotation-server` alike.
    #[serde(default)]
    pub webhooks: Vec<WebhookSpec>,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSpec {
    /// Listen address (default "127.0.0.1:8080").
    pub listen: Option<String>,
    /// How often the scheduler looks for due rotations (default "5s").
    pub tick: Option<String>,
    /// Rotations running at once (default 4).
    pub concurrency: Option<usize>,
    /// Per-request timeout (default "30s"; `?wait=true` rotations are bounded by it too).
    pub request_timeout: Option<String>,
    /// Largest request body in bytes (default 65536).
    pub body_limit: Option<usize>,
    /// How long shutdown waits for in-flight rotations (default "30s").
    pub shutdown_timeout: Option<String>,
    /// TLS certificate chain (PEM); with `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM; must not be group/world readable).
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (behind a TLS-terminating proxy); default
    /// false: such a `listen` without TLS is refused.
    pub allow_insecure_listen: Option<bool>,
    /// API tokens.
    #[serde(default)]
    pub tokens: Vec<TokenSpec>,
    /// Notification webhooks.
    #[serde(default)]
    pub webhooks: Vec<WebhookSpec>,
}

/// `[[server.tokens]]`: a bearer token, configured by its SHA-256 or a private file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// Who holds it (logged, never the token).
    pub name: String,
    /// `reader` or `operator`.
    pub role: String,
    /// Hex SHA-256 of the token.
    pub sha256: Option<String>,
    /// File holding the token (must not be group/world readable).
    pub file: Option<PathBuf>,
}

/// `[[server.webhooks]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// Where to POST.
    pub url: String,
    /// `json` (default) or `slack`.
    pub format: Option<String>,
    /// Events to send (default all): succeeded, failed, rolled_back, quarantined, emergency,
    /// reminder.
    #[serde(default)]
    pub events: Vec<String>,
    /// Per-delivery timeout (default "10s").
    pub timeout: Option<String>,
    /// Attempts per delivery (default 5).
    pub max_attempts: Option<u32>,
}

/// `[audit]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSpec {
    /// JSON-lines audit log (default `.rotation/audit.jsonl` beside the config).
    pub path: Option<PathBuf>,
}

/// `[state]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    /// SQLite state database (default `.rotation/state.db` beside the config).
    pub path: Option<PathBuf>,
    /// How long a rotation's lease lasts without renewal (default "60s"); a crashed process's
    /// rotations are recovered once it has expired.
    pub lease_ttl: Option<String>,
}

/// `[stores.<name>]`, tagged by `kind`.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StoreSpec {
    /// The local file store.
    File {
        /// Directory (relative paths are relative to the config file).
        root: PathBuf,
        /// Versions kept per secret (default 10).
        max_versions: Option<usize>,
    },
    /// HashiCorp Vault / OpenBao KV v2.
    Vault(Box<VaultSpec>),
    /// AWS Secrets Manager (credentials from the standard AWS chain).
    Aws(AwsSpec),
    /// Azure Key Vault (credentials from the standard Azure chain, or a token variable).
    Azure(Box<AzureSpec>),
}

impl StoreSpec {
    /// The `kind` value.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreSpec::File { .. } => "file",
            StoreSpec::Vault(_) => "vault",
            StoreSpec::Aws(_) => "aws",
            StoreSpec::Azure(_) => "azure",
        }
    }
}

/// `[stores.<name>]` with `kind = "aws"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSpec {
    /// Region (default: the AWS chain's, e.g. AWS_REGION).
    pub region: Option<String>,
    /// Endpoint override (VPC endpoint, test server).
    pub endpoint_url: Option<String>,
    /// Extra CA certificates (PEM) to trust (default `AWS_CA_BUNDLE`).
    pub ca_bundle: Option<PathBuf>,
    /// SDK retry attempts (default 3).
    pub max_attempts: Option<u32>,
    /// Operation timeout, e.g. "30s".
    pub timeout: Option<String>,
}

/// `[stores.<name>]` with `kind = "azure"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureSpec {
    /// Vault URL (default `AZURE_KEYVAULT_URL`).
    pub vault_url: Option<String>,
    /// Extra CA certificate PEM (private endpoints).
    pub ca_cert: Option<PathBuf>,
    /// Per-request timeout (default "30s").
    pub timeout: Option<String>,
    /// Retries after throttling or unsent requests (default 3).
    pub max_retries: Option<u32>,
    /// Set `exp` on written versions to now + this, e.g. "90d".
    pub expires_after: Option<String>,
    /// Environment variable holding a bearer token, instead of the credential chain.
    pub token_env: Option<String>,
    /// Check the challenge's resource is a Key Vault domain (default true).
    pub verify_challenge_resource: Option<bool>,
}

/// `[stores.<name>]` with `kind = "vault"`. Credentials never go in the file: the token comes
/// from an environment variable or a private file, or from an AppRole, JWT or Kubernetes login.
/// Every field left out falls back to the Vault CLI's variables (`BAO_*` before `VAULT_*`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultSpec {
    /// Server address (default `BAO_ADDR`, `VAULT_ADDR`).
    pub address: Option<String>,
    /// KV v2 mount (default `secret`).
    pub mount: Option<String>,
    /// Namespace (default `BAO_NAMESPACE`, `VAULT_NAMESPACE`).
    pub namespace: Option<String>,
    /// CA certificate PEM (default `BAO_CACERT`, `VAULT_CACERT`).
    pub ca_cert: Option<PathBuf>,
    /// Directory of CA certificate PEM files (default `BAO_CAPATH`, `VAULT_CAPATH`).
    pub ca_path: Option<PathBuf>,
    /// Client certificate PEM for mutual TLS (default `BAO_CLIENT_CERT`, `VAULT_CLIENT_CERT`).
    pub client_cert: Option<PathBuf>,
    /// Client key PEM for mutual TLS (default `BAO_CLIENT_KEY`, `VAULT_CLIENT_KEY`).
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate (default `BAO_SKIP_VERIFY`, `VAULT_SKIP_VERIFY`; warned).
    pub tls_skip_verify: Option<bool>,
    /// Per-request timeout (default "30s").
    pub timeout: Option<String>,
    /// Environment variable holding the token (default `BAO_TOKEN`, then `VAULT_TOKEN`, then
    /// `~/.vault-token`).
    pub token_env: Option<String>,
    /// File holding the token (must not be group/world readable).
    pub token_file: Option<PathBuf>,
    /// AppRole login.
    pub approle: Option<AppRoleSpec>,
    /// JWT login.
    pub jwt: Option<JwtSpec>,
    /// Kubernetes service account login.
    pub kubernetes: Option<KubernetesSpec>,
    /// Where pending values are staged inside the mount (default `.rotation-pending`).
    pub staging_prefix: Option<String>,
    /// Largest value accepted (default 524288).
    pub max_value_bytes: Option<usize>,
}

/// `approle = { ... }` of a Vault store.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppRoleSpec {
    /// Auth mount (default `approle`).
    pub mount: Option<String>,
    /// Role id.
    pub role_id: String,
    /// Environment variable holding the secret id (default `VAULT_SECRET_ID`).
    pub secret_id_env: Option<String>,
    /// File holding the secret id (must not be group/world readable).
    pub secret_id_file: Option<PathBuf>,
}

/// `jwt = { ... }` of a Vault store.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSpec {
    /// Auth mount (default `jwt`).
    pub mount: Option<String>,
    /// Role name.
    pub role: String,
    /// File holding the JWT, read at each login.
    pub jwt_file: PathBuf,
}

/// `kubernetes = { ... }` of a Vault store.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSpec {
    /// Auth mount (default `kubernetes`).
    pub mount: Option<String>,
    /// Role name.
    pub role: String,
    /// Service account token, read at each login (default
    /// `/var/run/secrets/kubernetes.io/serviceaccount/token`).
    pub token_file: Option<PathBuf>,
}

/// `[verifiers.<name>]` and `[targets.<name>]`, tagged by `kind`.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PluginSpec {
    /// Run a program.
    Command(CommandSpec),
    /// PostgreSQL: `ALTER ROLE` with a client-side SCRAM verifier; a verifier logs in.
    Postgres(DatabaseSpec),
    /// MariaDB / MySQL: `ALTER USER` with a client-side password hash; a verifier logs in.
    Mysql(DatabaseSpec),
    /// Redis ACL users: passwords by their SHA-256 hashes; a verifier AUTHs and PINGs.
    Redis(DatabaseSpec),
    /// An HTTP endpoint that must accept the credential (verifiers only).
    Http(HttpSpec),
}

impl PluginSpec {
    /// The `kind` value.
    pub fn kind(&self) -> &'static str {
        match self {
            PluginSpec::Command(_) => "command",
            PluginSpec::Postgres(_) => "postgres",
            PluginSpec::Mysql(_) => "mysql",
            PluginSpec::Redis(_) => "redis",
            PluginSpec::Http(_) => "http",
        }
    }
    /// Whether it works on database secrets (JSON with `username`, `password`, `host`, ...):
    /// secrets using it rotate their `password` field unless they name another `field`.
    pub fn is_database(&self) -> bool {
        matches!(
            self,
            PluginSpec::Postgres(_) | PluginSpec::Mysql(_) | PluginSpec::Redis(_)
        )
    }
}

/// `[targets.<name>]` / `[verifiers.<name>]` with `kind = "postgres" | "mysql" | "redis"`.
/// Where to connect; what the config sets wins over the secret's own keys (`host`, `port`,
/// `dbname`, `sslmode`, ...). Never a password: the admin's comes from `admin_secret`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSpec {
    /// Targets: the id of a configured secret holding the admin login (a database secret:
    /// `username`, `password`, optionally `host`/`port`), read from its store at rotation
    /// time. Without it the target logs in as the secret's own user (single-user).
    pub admin_secret: Option<String>,
    /// Server host.
    pub host: Option<String>,
    /// Server port (default 5432, 3306 or 6379).
    pub port: Option<u16>,
    /// Database to connect to (Redis: logical database number).
    pub dbname: Option<String>,
    /// User whose password rotates, instead of the secret's `username`.
    pub username: Option<String>,
    /// `disable`, `prefer`, `require`, `verify-ca` or `verify-full` (default: the secret's
    /// `sslmode`, else `verify-full`).
    pub tls: Option<String>,
    /// CA bundle (PEM) the server's certificate chains to.
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM).
    pub client_cert: Option<PathBuf>,
    /// Client key (PEM).
    pub client_key: Option<PathBuf>,
    /// Connect and statement timeout (default "10s").
    pub timeout: Option<String>,
    /// Verifiers: the query (Redis: the command) run after logging in (default `SELECT 1`,
    /// Redis `PING`).
    pub query: Option<String>,
    /// Verifiers: the expected first column of the first row (default "1", Redis "PONG").
    pub expect: Option<String>,
    /// MySQL targets: the account host parts changed (default `["%"]`).
    pub user_hosts: Option<Vec<String>>,
    /// Redis targets: `ACL SAVE` after a change (servers with an ACL file).
    pub acl_save: Option<bool>,
}

/// `[verifiers.<name>]` with `kind = "http"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// The URL requested.
    pub url: String,
    /// Method (default GET).
    pub method: Option<String>,
    /// Where the value goes: `bearer` (default), `basic` (with `username` or the secret's),
    /// or `header` (the header named by `header`).
    pub credential: Option<String>,
    /// The header for `credential = "header"`.
    pub header: Option<String>,
    /// The user name for `credential = "basic"` (default: the secret's `username`).
    pub username: Option<String>,
    /// Statuses that mean accepted (default `[200]`).
    pub expect_status: Option<Vec<u16>>,
    /// CA bundle (PEM) to trust.
    pub ca: Option<PathBuf>,
    /// Request timeout (default "10s").
    pub timeout: Option<String>,
}

/// `[policies.<name>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// `"30d"`, `"12h"`; `"0"` or `"manual"`: manual only (default).
    pub interval: Option<String>,
    /// Cron expression (5 fields), instead of `interval`.
    pub cron: Option<String>,
    /// IANA time zone of `cron` and `window` (default UTC).
    pub timezone: Option<String>,
    /// Daily window `"HH:MM-HH:MM"` in which rotations start.
    pub window: Option<String>,
    /// Deterministic per-secret spread, e.g. `"1h"`.
    pub jitter: Option<String>,
    /// First retry delay after a failed scheduled rotation (doubles each time; default 1m).
    pub retry_backoff: Option<String>,
    /// Strategy (default staged).
    #[serde(default)]
    pub strategy: RotationStrategy,
    /// Default true.
    pub require_verification: Option<bool>,
    /// Verifier names.
    #[serde(default)]
    pub verifiers: Vec<String>,
    /// Default true.
    pub auto_rollback: Option<bool>,
    /// 0..=10, default 3.
    pub max_retries: Option<i64>,
    /// Notification flags.
    #[serde(default)]
    pub notify: NotifyFlags,
    /// Warning period before the due time, e.g. `"7d"`: `status`, the server's metric and a
    /// `reminder` webhook report the secret as due soon (overdue secrets always are).
    pub remind_before: Option<String>,
}

/// `[[secrets]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// Unique id.
    pub id: String,
    /// Store name.
    pub store: String,
    /// Path in the store.
    pub path: String,
    /// JSON field holding the credential.
    pub field: Option<String>,
    /// Policy name.
    pub policy: String,
    /// Generator name (default: 32 random alphanumerics).
    pub generator: Option<String>,
    /// Verifiers run in addition to the policy's.
    #[serde(default)]
    pub verifiers: Vec<String>,
    /// Target name.
    pub target: Option<String>,
    /// Create the secret on first rotation if missing (default false).
    #[serde(default)]
    pub create_if_missing: bool,
}
