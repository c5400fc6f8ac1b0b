//! The one claim registry of a process: which secrets are rotating (or waiting for a permit)
//! here, under which rotation id. Cross-process exclusion is the state store's lease; this
//! registry answers "busy?" without I/O, lets a caller choose the rotation id before the work
//! starts (an API answers 202 with it), and lets shutdown wait for the work in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use crate::secret::{RotationId, SecretId};

/// Secrets claimed in this process.
#[derive(Debug, Default)]
pub(super) struct Claims {
    running: Mutex<HashMap<SecretId, RotationId>>,
    idle: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Claims {
    /// Claim `secret` for `rotation_id`; the id already running when it is taken.
    pub(super) fn claim(
        self: &Arc<Self>,
        secret: &SecretId,
        rotation_id: RotationId,
    ) -> std::result::Result<Claim, RotationId> {
        let mut running = lock(&self.running);
        if let Some(other) = running.get(secret) {
            return Err(other.clone());
        }
        running.insert(secret.clone(), rotation_id.clone());
        Ok(Claim {
            claims: self.clone(),
            secret: secret.clone(),
            rotation_id,
        })
    }

    pub(super) fn running(&self, secret: &SecretId) -> Option<RotationId> {
        lock(&self.running).get(secret).cloned()
    }

    pub(super) fn secret_of(&self, rotation_id: &RotationId) -> Option<SecretId> {
        lock(&self.running)
            .iter()
            .find(|(_, r)| *r == rotation_id)
            .map(|(s, _)| s.clone())
    }

    pub(super) fn count(&self) -> usize {
        lock(&self.running).len()
    }

    /// Wait until nothing is claimed, at most `within`; whether it got there.
    pub(super) async fn drain(&self, within: Duration) -> bool {
        let wait = async {
            loop {
                let idle = self.idle.notified();
                if self.count() == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(within, wait).await.is_ok()
    }
}

/// A secret claimed for one rotation in this process. Dropping it (also when the task running
/// the rotation panics) releases the claim.
#[derive(Debug)]
pub struct Claim {
    claims: Arc<Claims>,
    secret: SecretId,
    rotation_id: RotationId,
}

impl Claim {
    /// The claimed secret.
    pub fn secret(&self) -> &SecretId {
        &self.secret
    }
    /// The id the rotation will have.
    pub fn rotation_id(&self) -> &RotationId {
        &self.rotation_id
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let empty = {
            let mut running = lock(&self.claims.running);
            running.remove(&self.secret);
            running.is_empty()
        };
        if empty {
            self.claims.idle.notify_waiters();
        }
    }
}
