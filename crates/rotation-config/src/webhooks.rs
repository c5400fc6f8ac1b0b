//! Webhooks (`[[webhooks]]`, and the older `[[server.webhooks]]`): where the CLI and the server
//! send notifications. Checked here, so a bad URL or event name fails before anything runs.

use std::time::Duration;

use crate::error::FieldError;
use crate::spec::WebhookSpec;

/// A webhook as configured. `Debug` shows the host only: webhook URLs often carry a token
/// (Slack's do).
#[derive(Clone)]
pub struct WebhookConfig {
    /// Where to POST.
    pub url: String,
    /// `json` or `slack`.
    pub format: String,
    /// Event names (empty: all).
    pub events: Vec<String>,
    /// Per-delivery timeout.
    pub timeout: Duration,
    /// Attempts per delivery.
    pub max_attempts: u32,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = self
            .url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', '?']).next())
            .unwrap_or("?");
        f.debug_struct("WebhookConfig")
            .field("host", &host)
            .field("format", &self.format)
            .field("events", &self.events)
            .finish_non_exhaustive()
    }
}

/// Event names a webhook may subscribe to.
pub const EVENTS: [&str; 6] = [
    "succeeded",
    "failed",
    "rolled_back",
    "quarantined",
    "emergency",
    "reminder",
];

/// Resolve `specs`; errors name the field as `<prefix>[i].<field>`.
pub fn resolve(specs: &[WebhookSpec], prefix: &str) -> Result<Vec<WebhookConfig>, FieldError> {
    let mut webhooks = Vec::new();
    for (i, w) in specs.iter().enumerate() {
        let field = |f: &str| format!("{prefix}[{i}].{f}");
        if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
            return Err(FieldError::new(
                field("url"),
                "must be an http:// or https:// URL",
            ));
        }
        let format = w.format.clone().unwrap_or_else(|| "json".into());
        if format != "json" && format != "slack" {
            return Err(FieldError::new(
                field("format"),
                format!("{format:?} is not json or slack"),
            ));
        }
        if let Some(bad) = w.events.iter().find(|e| !EVENTS.contains(&e.as_str())) {
            return Err(FieldError::new(
                field("events"),
                format!("{bad:?} is not one of {}", EVENTS.join(", ")),
            ));
        }
        let timeout_text = w.timeout.as_deref().unwrap_or("10s");
        let timeout = humantime::parse_duration(timeout_text)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                FieldError::new(
                    field("timeout"),
                    format!("{timeout_text:?} is not a duration greater than zero"),
                )
            })?;
        webhooks.push(WebhookConfig {
            url: w.url.clone(),
            format,
            events: w.events.clone(),
            timeout,
            max_attempts: w.max_attempts.unwrap_or(5).clamp(1, 20),
        });
    }
    Ok(webhooks)
}
