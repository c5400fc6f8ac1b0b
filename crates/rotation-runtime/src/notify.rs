//! Webhook notifications, sent by the CLI (`rotate`, `run`) and the server alike.
//!
//! A [`Notifier`] holds the configured [`Webhook`]s and one HTTP client. [`Notifier::notify`]
//! never blocks the caller: every subscribed webhook gets its own spawned delivery task that
//! POSTs a JSON body ([`WebhookFormat::Json`]: the [`Event`] itself; [`WebhookFormat::Slack`]: an
//! incoming-webhook message) and retries transient failures with exponential backoff.
//! [`Notifier::flush`] waits for the queued deliveries, for tests and graceful shutdown.
//!
//! Events carry identifiers, statuses and error text only, never a secret value. Webhook URLs
//! are treated as credentials (Slack puts its token in the path): logs name the host only.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rotation_config::WebhookConfig;
use rotation_core::{
    ErrorKind, RotationId, RotationPolicy, RotationResult, RotationStatus, SecretId,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Delay before the first retry; doubled for every further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// Upper bound of one backoff step, so a large `max_attempts` cannot sleep for hours.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Error text longer than this is cut in event messages (they are one-line summaries).
const MAX_ERROR_CHARS: usize = 300;
/// Slack rejects section texts longer than 3000 characters.
const MAX_SLACK_SECTION_CHARS: usize = 2900;

/// What happened, as far as subscribers are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A rotation finished with the new value current and verified.
    Succeeded,
    /// A rotation failed and the previous value was not (or could not be) restored.
    Failed,
    /// A rotation failed and the previous value is current again.
    RolledBack,
    /// A secret was taken out of scheduled rotation after repeated failures.
    Quarantined,
    /// An emergency rotation was requested.
    Emergency,
    /// A secret is overdue or due within its policy's `remind_before` (once per due time).
    Reminder,
}

impl EventKind {
    /// Human wording, used in Slack messages.
    fn label(self) -> &'static str {
        match self {
            Self::Succeeded => "Rotation succeeded",
            Self::Failed => "Rotation failed",
            Self::RolledBack => "Rotation rolled back",
            Self::Quarantined => "Secret quarantined",
            Self::Emergency => "Emergency rotation",
            Self::Reminder => "Rotation reminder",
        }
    }

    /// Slack emoji shortcode, so the kind is recognisable at a glance.
    fn emoji(self) -> &'static str {
        match self {
            Self::Succeeded => ":white_check_mark:",
            Self::Failed => ":x:",
            Self::RolledBack => ":leftwards_arrow_with_hook:",
            Self::Quarantined => ":no_entry:",
            Self::Emergency => ":rotating_light:",
            Self::Reminder => ":alarm_clock:",
        }
    }
}

/// The body shape a webhook expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// The [`Event`] serialised as JSON.
    Json,
    /// A Slack incoming-webhook message (`text` plus one mrkdwn section block).
    Slack,
}

/// One configured webhook. `Debug` omits the URL (Slack's carry a token).
#[derive(Clone)]
pub struct Webhook {
    /// Endpoint (`http` or `https`). May embed a token: never logged in full.
    pub url: String,
    /// Body shape.
    pub format: WebhookFormat,
    /// Kinds this webhook receives; empty means all.
    pub events: Vec<EventKind>,
    /// Timeout of one delivery attempt (connect, send and response headers).
    pub timeout: Duration,
    /// Attempts per event, including the first (at least 1).
    pub max_attempts: u32,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("format", &self.format)
            .field("events", &self.events)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// A notification. Has no value field by construction: payloads are built from it alone.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The secret concerned, if any.
    pub secret: Option<SecretId>,
    /// The rotation concerned, if any.
    pub rotation_id: Option<RotationId>,
    /// Final status of the rotation, if the event is about one.
    pub status: Option<RotationStatus>,
    /// Machine-readable kind of the failure, if any.
    pub error_kind: Option<ErrorKind>,
    /// Short human summary.
    pub message: String,
    /// When it happened.
    pub at: DateTime<Utc>,
}

impl Event {
    /// The event of a finished rotation: Succeeded / RolledBack / Failed by result.status (None
    /// for non-terminal statuses); message is a short human summary built from the result's
    /// secret id, status and error text (the error text never holds a value, by the engine's
    /// invariant).
    pub fn from_result(result: &RotationResult) -> Option<Event> {
        let (kind, outcome) = match result.status {
            RotationStatus::Success => (EventKind::Succeeded, "succeeded"),
            RotationStatus::Failed => (EventKind::Failed, "failed"),
            RotationStatus::RolledBack => (EventKind::RolledBack, "failed and was rolled back"),
            RotationStatus::Pending | RotationStatus::InProgress | RotationStatus::Verifying => {
                return None;
            }
        };
        let mut message = format!("rotation of {} {outcome}", result.secret);
        if let Some(error) = result
            .error
            .as_deref()
            .map(one_line)
            .filter(|e| !e.is_empty())
        {
            message.push_str(": ");
            message.push_str(&truncate(&error, MAX_ERROR_CHARS));
        }
        Some(Event {
            kind,
            secret: Some(result.secret.clone()),
            rotation_id: Some(result.rotation_id.clone()),
            status: Some(result.status),
            error_kind: result.error_kind,
            message,
            at: result.completed_at,
        })
    }
}

/// Delivers [`Event`]s to webhooks in the background. `Send + Sync`; share it behind an `Arc`.
pub struct Notifier {
    shared: Arc<Shared>,
}

/// State shared by the notifier and its delivery tasks.
struct Shared {
    hooks: Vec<Hook>,
    client: reqwest::Client,
    /// Deliveries queued or running.
    in_flight: AtomicUsize,
    /// Woken whenever `in_flight` drops to zero.
    idle: tokio::sync::Notify,
}

/// A validated [`Webhook`].
struct Hook {
    url: reqwest::Url,
    /// The only part of the URL that is ever logged.
    host: String,
    format: WebhookFormat,
    events: Vec<EventKind>,
    timeout: Duration,
    max_attempts: u32,
}

impl Hook {
    fn wants(&self, kind: EventKind) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Hosts only: the full URLs may embed tokens.
        let hosts: Vec<&str> = self.shared.hooks.iter().map(|h| h.host.as_str()).collect();
        f.debug_struct("Notifier")
            .field("hosts", &hosts)
            .field("in_flight", &self.shared.in_flight.load(Ordering::Acquire))
            .finish()
    }
}

impl Notifier {
    /// Validate the webhooks (absolute `http`/`https` URLs with a host, `max_attempts >= 1`,
    /// non-zero timeout) and build the shared HTTP client. Errors name the webhook by position
    /// and never quote its URL.
    pub fn new(hooks: Vec<Webhook>) -> Result<Notifier, String> {
        let hooks = hooks
            .into_iter()
            .enumerate()
            .map(|(i, hook)| validate(hook).map_err(|e| format!("webhook {}: {e}", i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        let client = reqwest::Client::builder()
            // A redirected POST would be replayed as GET, or sent to a host nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("rotation/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the webhook HTTP client: {e}"))?;
        Ok(Notifier {
            shared: Arc::new(Shared {
                hooks,
                client,
                in_flight: AtomicUsize::new(0),
                idle: tokio::sync::Notify::new(),
            }),
        })
    }

    /// The notifier of the configured webhooks (`[[webhooks]]` and `[[server.webhooks]]`).
    pub fn from_config(hooks: &[WebhookConfig]) -> Result<Notifier, String> {
        let hooks = hooks
            .iter()
            .map(|w| {
                let events = w
                    .events
                    .iter()
                    .map(|e| serde_json::from_value::<EventKind>(Value::String(e.clone())))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("webhook events: {e}"))?;
                Ok(Webhook {
                    url: w.url.clone(),
                    format: if w.format == "slack" {
                        WebhookFormat::Slack
                    } else {
                        WebhookFormat::Json
                    },
                    events,
                    timeout: w.timeout,
                    max_attempts: w.max_attempts,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Notifier::new(hooks)
    }

    /// Whether any webhook is configured (front ends skip building events otherwise).
    pub fn is_empty(&self) -> bool {
        self.shared.hooks.is_empty()
    }

    /// Whether any webhook is subscribed to `kind` (a reminder nobody receives is not marked
    /// sent).
    pub fn wants(&self, kind: EventKind) -> bool {
        self.shared.hooks.iter().any(|h| h.wants(kind))
    }

    /// Notify the end of a rotation if its policy's `notify` flags ask for it (`on_success`,
    /// `on_failure`, `on_rollback`); the one rule every front end applies.
    pub fn rotation_finished(&self, policy: &RotationPolicy, result: &RotationResult) {
        let flags = policy.notify();
        let wanted = match result.status {
            RotationStatus::Success => flags.on_success,
            RotationStatus::RolledBack => flags.on_rollback,
            _ => flags.on_failure,
        };
        if wanted && let Some(event) = Event::from_result(result) {
            self.notify(event);
        }
    }

    /// Queue `event` for every webhook subscribed to its kind; returns at once. Delivery runs on
    /// spawned tokio tasks: POST with JSON body, retried with exponential backoff (200 ms,
    /// 400 ms, ... up to max_attempts) on connection errors, 429 and 5xx; 4xx other than 429 is
    /// not retried; each failure is logged with tracing::warn (url host and status only, never
    /// the body).
    ///
    /// Outside a tokio runtime the event is dropped with a warning rather than panicking.
    pub fn notify(&self, event: Event) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(kind = ?event.kind, "webhook event dropped: no tokio runtime");
            return;
        };
        // Each body is built at most once per event, whatever the number of webhooks.
        let mut json_body: Option<Arc<Value>> = None;
        let mut slack_body: Option<Arc<Value>> = None;
        for (index, hook) in self.shared.hooks.iter().enumerate() {
            if !hook.wants(event.kind) {
                continue;
            }
            let body = match hook.format {
                WebhookFormat::Json => match &json_body {
                    Some(body) => body.clone(),
                    None => match serde_json::to_value(&event) {
                        Ok(value) => json_body.insert(Arc::new(value)).clone(),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot serialise webhook event");
                            continue;
                        }
                    },
                },
                WebhookFormat::Slack => slack_body
                    .get_or_insert_with(|| Arc::new(slack_payload(&event)))
                    .clone(),
            };
            // Counted before spawning so a `flush` right after `notify` waits for it; the guard
            // lives in the task, so a cancelled or panicking task still uncounts itself.
            let guard = InFlight::enter(&self.shared);
            let shared = self.shared.clone();
            runtime.spawn(async move {
                let _guard = guard;
                deliver(&shared.client, &shared.hooks[index], &body).await;
            });
        }
    }

    /// Deliveries queued and not finished yet.
    pub fn pending(&self) -> usize {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    /// Wait until every queued delivery finished (delivered or given up), at most `within`. For
    /// tests and graceful shutdown.
    pub async fn flush(&self, within: Duration) {
        let idle = async {
            loop {
                let notified = self.shared.idle.notified();
                tokio::pin!(notified);
                // Registered before the check, so a drop to zero in between is not missed.
                notified.as_mut().enable();
                if self.shared.in_flight.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(within, idle).await.is_err() {
            tracing::warn!(
                pending = self.shared.in_flight.load(Ordering::Acquire),
                "webhook deliveries still pending after flush timeout"
            );
        }
    }
}

/// Counts one delivery as in flight until dropped.
struct InFlight(Arc<Shared>);

impl InFlight {
    fn enter(shared: &Arc<Shared>) -> Self {
        shared.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

fn validate(hook: Webhook) -> Result<Hook, String> {
    // The parse error is reqwest/url's own wording, which does not echo the input.
    let url = reqwest::Url::parse(&hook.url).map_err(|e| format!("invalid url: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("url scheme must be http or https".into());
    }
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => return Err("url has no host".into()),
    };
    if hook.max_attempts == 0 {
        return Err("max_attempts must be at least 1".into());
    }
    if hook.timeout.is_zero() {
        return Err("timeout must be greater than zero".into());
    }
    Ok(Hook {
        url,
        host,
        format: hook.format,
        events: hook.events,
        timeout: hook.timeout,
        max_attempts: hook.max_attempts,
    })
}

/// What one attempt says about the next.
enum Attempt {
    Delivered,
    Retry,
    GiveUp,
}

/// POST `body` to `hook` until delivered, a permanent failure, or `max_attempts` is reached.
async fn deliver(client: &reqwest::Client, hook: &Hook, body: &Value) {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=hook.max_attempts {
        match attempt_once(client, hook, body, attempt).await {
            Attempt::Delivered => {
                tracing::debug!(host = %hook.host, attempt, "webhook delivered");
                return;
            }
            Attempt::GiveUp => return,
            Attempt::Retry if attempt < hook.max_attempts => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Attempt::Retry => {
                tracing::warn!(
                    host = %hook.host,
                    attempts = hook.max_attempts,
                    "webhook delivery given up after the last attempt"
                );
            }
        }
    }
}

async fn attempt_once(
    client: &reqwest::Client,
    hook: &Hook,
    body: &Value,
    attempt: u32,
) -> Attempt {
    let sent = client
        .post(hook.url.clone())
        .timeout(hook.timeout)
        .json(body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status();
            if status.is_success() {
                return Attempt::Delivered;
            }
            let retry =
                status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            tracing::warn!(
                host = %hook.host,
                status = status.as_u16(),
                attempt,
                max_attempts = hook.max_attempts,
                retry = retry && attempt < hook.max_attempts,
                "webhook delivery failed"
            );
            if retry {
                Attempt::Retry
            } else {
                Attempt::GiveUp
            }
        }
        Err(e) => {
            // A classification, not `e`'s Display: that would carry the full URL.
            let error = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connect"
            } else if e.is_builder() {
                "request build"
            } else {
                "transport"
            };
            let retry = !e.is_builder();
            tracing::warn!(
                host = %hook.host,
                error,
                attempt,
                max_attempts = hook.max_attempts,
                retry = retry && attempt < hook.max_attempts,
                "webhook delivery failed"
            );
            if retry {
                Attempt::Retry
            } else {
                Attempt::GiveUp
            }
        }
    }
}

/// A Slack incoming-webhook body: a one-line `text` (also the notification fallback) and one
/// mrkdwn section with the details.
fn slack_payload(event: &Event) -> Value {
    let message = one_line(&event.message);
    // Messages from `Event::from_result` already name the secret; hand-built ones may not.
    let summary = match &event.secret {
        Some(secret) if !message.contains(secret.as_str()) => format!("{secret}: {message}"),
        _ => message.clone(),
    };
    let text = format!(
        "{} {}: {}",
        event.kind.emoji(),
        event.kind.label(),
        slack_escape(&summary)
    );

    let mut details = format!(
        "{} *{}*\n{}",
        event.kind.emoji(),
        event.kind.label(),
        slack_escape(&message)
    );
    let mut facts = Vec::new();
    if let Some(secret) = &event.secret {
        facts.push(format!("*Secret:* {}", slack_code(secret.as_str())));
    }
    if let Some(status) = event.status {
        facts.push(format!("*Status:* {}", slack_code(status.as_str())));
    }
    if let Some(kind) = event.error_kind {
        facts.push(format!("*Error kind:* {}", slack_code(kind.as_str())));
    }
    if let Some(id) = &event.rotation_id {
        facts.push(format!("*Rotation:* {}", slack_code(id.as_str())));
    }
    facts.push(format!(
        "*At:* {}",
        event.at.format("%Y-%m-%d %H:%M:%S UTC")
    ));
    details.push('\n');
    details.push_str(&facts.join("\n"));

    json!({
        "text": text,
        "blocks": [{
            "type": "section",
            "text": { "type": "mrkdwn", "text": truncate(&details, MAX_SLACK_SECTION_CHARS) },
        }],
    })
}

/// Slack requires `&`, `<` and `>` escaped in mrkdwn; `<...>` would otherwise become a link or a
/// mention.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Inline code span; a backtick inside would end it early.
fn slack_code(text: &str) -> String {
    format!("`{}`", slack_escape(&text.replace('`', "'")))
}

/// Collapse all whitespace runs (newlines included) into single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` characters, with an ellipsis when cut (on a char boundary).
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::net::SocketAddr;
    use std::sync::Mutex;
    use std::time::Instant;

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;
    use rotation_core::{RotationStrategy, VersionId};

    use super::*;

    /// What the local receiver saw and what it answers next.
    #[derive(Default)]
    struct Seen {
        bodies: Vec<Value>,
        content_types: Vec<String>,
        /// Statuses to answer, in order; 200 once exhausted.
        script: VecDeque<u16>,
    }

    type Recorder = Arc<Mutex<Seen>>;

    async fn record(State(seen): State<Recorder>, headers: HeaderMap, body: Bytes) -> StatusCode {
        let mut seen = seen.lock().unwrap();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        seen.content_types.push(content_type);
        seen.bodies
            .push(serde_json::from_slice(&body).expect("body is JSON"));
        let status = seen.script.pop_front().unwrap_or(200);
        StatusCode::from_u16(status).unwrap()
    }

    async fn slow() -> StatusCode {
        tokio::time::sleep(Duration::from_secs(5)).await;
        StatusCode::OK
    }

    /// A local HTTP receiver on 127.0.0.1 answering `script` in order on `/hook`.
    async fn receiver(script: &[u16]) -> (String, Recorder) {
        let seen: Recorder = Arc::new(Mutex::new(Seen {
            script: script.iter().copied().collect(),
            ..Seen::default()
        }));
        let app = Router::new()
            .route("/hook", post(record))
            .route("/slow", post(slow))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), seen)
    }

    fn hook(url: String, format: WebhookFormat, max_attempts: u32) -> Webhook {
        Webhook {
            url,
            format,
            events: Vec::new(),
            timeout: Duration::from_secs(5),
            max_attempts,
        }
    }

    fn event(kind: EventKind) -> Event {
        Event {
            kind,
            secret: Some(SecretId::new("db-password")),
            rotation_id: Some(RotationId::parse("0b6c9a1e-4f0e-4c1a-9d55-2f1f3a7c8e11").unwrap()),
            status: Some(RotationStatus::RolledBack),
            error_kind: Some(ErrorKind::Verification),
            message: "rotation of db-password failed and was rolled back: verifier <psql> rejected"
                .into(),
            at: DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    fn result(status: RotationStatus, error: Option<&str>) -> RotationResult {
        let at = DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        RotationResult {
            rotation_id: RotationId::generate(),
            secret: SecretId::new("api-key"),
            success: status == RotationStatus::Success,
            status,
            strategy: RotationStrategy::Staged,
            old_version: Some(VersionId::new("1")),
            new_version: Some(VersionId::new("2")),
            started_at: at,
            completed_at: at,
            duration_ms: 12.5,
            verification_passed: status == RotationStatus::Success,
            rollback_performed: status == RotationStatus::RolledBack,
            attempts: 1,
            error: error.map(str::to_owned),
            error_kind: error.map(|_| ErrorKind::Target),
            revoked: false,
            revoke_error: None,
        }
    }

    const FLUSH: Duration = Duration::from_secs(10);

    #[test]
    fn notifier_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Notifier>();
    }

    #[tokio::test]
    async fn json_delivery_carries_the_event_fields() {
        let (base, seen) = receiver(&[]).await;
        let notifier =
            Notifier::new(vec![hook(format!("{base}/hook"), WebhookFormat::Json, 1)]).unwrap();
        notifier.notify(event(EventKind::RolledBack));
        notifier.flush(FLUSH).await;

        let seen = seen.lock().unwrap();
        assert_eq!(seen.bodies.len(), 1);
        assert!(seen.content_types[0].starts_with("application/json"));
        let body = seen.bodies[0].as_object().unwrap();
        let mut keys: Vec<&str> = body.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "at",
                "error_kind",
                "kind",
                "message",
                "rotation_id",
                "secret",
                "status"
            ]
        );
        assert_eq!(body["kind"], "rolled_back");
        assert_eq!(body["secret"], "db-password");
        assert_eq!(body["rotation_id"], "0b6c9a1e-4f0e-4c1a-9d55-2f1f3a7c8e11");
        assert_eq!(body["status"], "rolled_back");
        assert_eq!(body["error_kind"], "verification");
        assert!(body["message"].as_str().unwrap().contains("db-password"));
        assert!(
            body["at"]
                .as_str()
                .unwrap()
                .starts_with("2025-01-02T03:04:05")
        );
    }

    #[tokio::test]
    async fn slack_body_has_text_and_a_mrkdwn_section() {
        let (base, seen) = receiver(&[]).await;
        let notifier =
            Notifier::new(vec![hook(format!("{base}/hook"), WebhookFormat::Slack, 1)]).unwrap();
        notifier.notify(event(EventKind::RolledBack));
        notifier.flush(FLUSH).await;

        let seen = seen.lock().unwrap();
        assert_eq!(seen.bodies.len(), 1);
        let body = &seen.bodies[0];
        let text = body["text"].as_str().unwrap();
        assert!(text.contains("db-password"));
        assert!(!text.contains('\n'));
        // `<psql>` must not reach Slack unescaped, where it would parse as a link.
        assert!(text.contains("&lt;psql&gt;"));
        let blocks = body["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0]["type"], "section");
        assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
        let section = blocks[0]["text"]["text"].as_str().unwrap();
        assert!(section.contains("`db-password`"));
        assert!(section.contains("`rolled_back`"));
        assert!(section.contains("`verification`"));
    }

    #[tokio::test]
    async fn webhooks_receive_only_subscribed_kinds() {
        let (base, seen) = receiver(&[]).await;
        let mut failures_only = hook(format!("{base}/hook"), WebhookFormat::Json, 1);
        failures_only.events = vec![EventKind::Failed, EventKind::Emergency];
        let everything = hook(format!("{base}/hook"), WebhookFormat::Slack, 1);
        let notifier = Notifier::new(vec![failures_only, everything]).unwrap();

        notifier.notify(event(EventKind::Succeeded));
        notifier.notify(event(EventKind::Failed));
        notifier.flush(FLUSH).await;

        let seen = seen.lock().unwrap();
        // Succeeded: Slack only; Failed: both.
        assert_eq!(seen.bodies.len(), 3);
        let json_kinds: Vec<&Value> = seen
            .bodies
            .iter()
            .filter(|b| b.get("kind").is_some())
            .map(|b| &b["kind"])
            .collect();
        assert_eq!(json_kinds, [&Value::from("failed")]);
        assert_eq!(
            seen.bodies
                .iter()
                .filter(|b| b.get("text").is_some())
                .count(),
            2
        );
    }

    #[tokio::test]
    async fn server_errors_are_retried_until_delivered() {
        let (base, seen) = receiver(&[500, 500]).await;
        let notifier =
            Notifier::new(vec![hook(format!("{base}/hook"), WebhookFormat::Json, 3)]).unwrap();
        let started = Instant::now();
        notifier.notify(event(EventKind::Failed));
        notifier.flush(FLUSH).await;

        assert_eq!(seen.lock().unwrap().bodies.len(), 3);
        // 200 ms + 400 ms of backoff.
        assert!(started.elapsed() >= Duration::from_millis(600));
    }

    #[tokio::test]
    async fn retries_stop_at_max_attempts() {
        let (base, seen) = receiver(&[503, 429, 500, 500]).await;
        let notifier =
            Notifier::new(vec![hook(format!("{base}/hook"), WebhookFormat::Json, 2)]).unwrap();
        notifier.notify(event(EventKind::Failed));
        notifier.flush(FLUSH).await;
        assert_eq!(seen.lock().unwrap().bodies.len(), 2);
    }

    #[tokio::test]
    async fn too_many_requests_is_retried() {
        let (base, seen) = receiver(&[429]).await;
        let notifier =
            Notifier::new(vec![hook(format!("{base}/hook"), WebhookFormat::Json, 3)]).unwrap();
        notifier.notify(event(EventKind::Failed));
        notifier.flush(FLUSH).await;
        assert_eq!(seen.lock().unwrap().bodies.len(), 2);
    }

    #[tokio::test]
    async fn client_errors_are_not_retried() {
        let (base, seen) = receiver(&[400, 400, 400]).await;
        let notifier =
            Notifier::new(vec![hook(format!("{base}/hook"), WebhookFormat::Json, 3)]).unwrap();
        notifier.notify(event(EventKind::Failed));
        notifier.flush(FLUSH).await;
        assert_eq!(seen.lock().unwrap().bodies.len(), 1);
    }

    #[tokio::test]
    async fn refused_connections_are_given_up() {
        // A port that was just free: connections are refused.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let notifier = Notifier::new(vec![hook(
            format!("http://{addr}/hook"),
            WebhookFormat::Json,
            2,
        )])
        .unwrap();
        let started = Instant::now();
        notifier.notify(event(EventKind::Failed));
        notifier.flush(FLUSH).await;
        assert!(
            started.elapsed() < FLUSH,
            "flush returned: the delivery ended"
        );
        assert_eq!(notifier.shared.in_flight.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn timeouts_are_retried_then_given_up() {
        // Bound but never accepting: the connection opens, no answer ever comes.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut webhook = hook(format!("http://{addr}/hook"), WebhookFormat::Json, 2);
        webhook.timeout = Duration::from_millis(300);
        let notifier = Notifier::new(vec![webhook]).unwrap();
        let started = Instant::now();
        notifier.notify(event(EventKind::Failed));
        notifier.flush(FLUSH).await;
        let elapsed = started.elapsed();
        // Two timed-out attempts and one backoff in between.
        assert!(elapsed >= Duration::from_millis(800), "{elapsed:?}");
        assert!(elapsed < FLUSH, "{elapsed:?}");
        assert_eq!(notifier.shared.in_flight.load(Ordering::Acquire), 0);
        drop(listener);
    }

    #[tokio::test]
    async fn flush_is_bounded_by_within() {
        let (base, _seen) = receiver(&[]).await;
        let notifier =
            Notifier::new(vec![hook(format!("{base}/slow"), WebhookFormat::Json, 1)]).unwrap();
        notifier.notify(event(EventKind::Failed));
        let started = Instant::now();
        notifier.flush(Duration::from_millis(200)).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(notifier.shared.in_flight.load(Ordering::Acquire), 1);
    }

    #[tokio::test]
    async fn flush_without_deliveries_returns_at_once() {
        let notifier = Notifier::new(Vec::new()).unwrap();
        notifier.notify(event(EventKind::Emergency));
        let started = Instant::now();
        notifier.flush(FLUSH).await;
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn notify_outside_a_runtime_drops_the_event() {
        let notifier = Notifier::new(vec![hook(
            "http://127.0.0.1:9/hook".into(),
            WebhookFormat::Json,
            1,
        )])
        .unwrap();
        notifier.notify(event(EventKind::Failed));
        assert_eq!(notifier.shared.in_flight.load(Ordering::Acquire), 0);
    }

    #[test]
    fn new_validates_webhooks_without_quoting_urls() {
        let bad = |url: &str, max_attempts: u32| {
            Notifier::new(vec![hook(url.into(), WebhookFormat::Json, max_attempts)]).unwrap_err()
        };
        let err = bad("ftp://hooks.example/T0KEN", 1);
        assert!(err.contains("http or https"), "{err}");
        assert!(!err.contains("T0KEN"), "{err}");
        assert!(bad("not a url", 1).starts_with("webhook 1:"));
        assert!(bad("https://hooks.example/x", 0).contains("max_attempts"));
        let mut zero = hook("https://hooks.example/x".into(), WebhookFormat::Json, 1);
        zero.timeout = Duration::ZERO;
        assert!(Notifier::new(vec![zero]).unwrap_err().contains("timeout"));
        assert!(
            Notifier::new(vec![hook(
                "https://hooks.example/x".into(),
                WebhookFormat::Slack,
                1
            )])
            .is_ok()
        );
    }

    #[test]
    fn from_result_maps_terminal_statuses() {
        let ok = Event::from_result(&result(RotationStatus::Success, None)).unwrap();
        assert_eq!(ok.kind, EventKind::Succeeded);
        assert_eq!(ok.status, Some(RotationStatus::Success));
        assert_eq!(ok.secret, Some(SecretId::new("api-key")));
        assert_eq!(ok.error_kind, None);
        assert_eq!(ok.message, "rotation of api-key succeeded");

        let failed = Event::from_result(&result(
            RotationStatus::Failed,
            Some("target refused\nthe key"),
        ))
        .unwrap();
        assert_eq!(failed.kind, EventKind::Failed);
        assert_eq!(failed.error_kind, Some(ErrorKind::Target));
        assert_eq!(
            failed.message,
            "rotation of api-key failed: target refused the key"
        );

        let source = result(RotationStatus::RolledBack, Some("verifier rejected"));
        let rolled = Event::from_result(&source).unwrap();
        assert_eq!(rolled.kind, EventKind::RolledBack);
        assert_eq!(rolled.rotation_id, Some(source.rotation_id.clone()));
        assert_eq!(rolled.at, source.completed_at);
        assert!(rolled.message.contains("rolled back: verifier rejected"));

        for status in [
            RotationStatus::Pending,
            RotationStatus::InProgress,
            RotationStatus::Verifying,
        ] {
            assert!(
                Event::from_result(&result(status, None)).is_none(),
                "{status}"
            );
        }
    }

    #[test]
    fn long_error_text_is_cut() {
        let long = "x".repeat(1000);
        let event = Event::from_result(&result(RotationStatus::Failed, Some(&long))).unwrap();
        assert!(event.message.chars().count() < 400);
        assert!(event.message.ends_with('…'));
    }
}
