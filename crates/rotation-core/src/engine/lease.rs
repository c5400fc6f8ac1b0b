//! Holding a secret's lease for the length of a rotation: acquired before the first step,
//! renewed in the background (so a slow verifier does not lose it), released at the end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::Clock;
use crate::error::Result;
use crate::secret::SecretId;
use crate::state::{Lease, StateStore};

/// A held lease with its renewal task.
pub(super) struct LeaseKeeper {
    lease: Lease,
    state: Arc<dyn StateStore>,
    lost: Arc<AtomicBool>,
    /// Monotonic end of validity (minus a margin), moved on every successful renewal: a lease
    /// whose renewals keep failing temporarily is treated as lost once it may have expired,
    /// whatever the wall clock says.
    valid_until: Arc<Mutex<Instant>>,
    stop: Option<oneshot::Sender<()>>,
    renewal: JoinHandle<()>,
}

impl LeaseKeeper {
    /// Take the lease of `secret`; `Ok(Err(holder))` when someone else holds it.
    pub(super) async fn acquire(
        state: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
        secret: &SecretId,
        holder: &str,
        ttl: Duration,
    ) -> Result<std::result::Result<Self, Option<Lease>>> {
        let Some(lease) = state
            .acquire_lease(secret, holder, ttl, clock.now())
            .await?
        else {
            return Ok(Err(state.lease(secret).await?));
        };
        let lost = Arc::new(AtomicBool::new(false));
        let margin = ttl / 10;
        let valid_until = Arc::new(Mutex::new(Instant::now() + ttl - margin));
        let (stop, mut stopped) = oneshot::channel();
        let renewal = {
            let (state, lost, mut held, until) = (
                state.clone(),
                lost.clone(),
                lease.clone(),
                valid_until.clone(),
            );
            tokio::spawn(async move {
                let period = ttl / 3;
                loop {
                    tokio::select! {
                        _ = &mut stopped => return,
                        _ = tokio::time::sleep(period) => {}
                    }
                    let asked = Instant::now();
                    match state.renew_lease(&held, ttl, clock.now()).await {
                        Ok(renewed) => {
                            held = renewed;
                            *lock(&until) = asked + ttl - margin;
                        }
                        Err(err) if err.is_temporary() => {
                            tracing::warn!(secret = %held.secret, error = %err, "lease renewal failed; retrying");
                        }
                        Err(err) => {
                            tracing::error!(secret = %held.secret, error = %err, "lease lost");
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                    }
                }
            })
        };
        Ok(Ok(Self {
            lease,
            state,
            lost,
            valid_until,
            stop: Some(stop),
            renewal,
        }))
    }

    /// Whether renewal failed: forward steps must stop.
    pub(super) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst) || Instant::now() >= *lock(&self.valid_until)
    }

    /// The fencing token.
    pub(super) fn token(&self) -> u64 {
        self.lease.token
    }

    /// Stop renewing and give the lease back.
    pub(super) async fn release(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.renewal).await;
        if let Err(err) = self.state.release_lease(&self.lease).await {
            tracing::warn!(secret = %self.lease.secret, error = %err, "lease release failed; it expires by itself");
        }
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
