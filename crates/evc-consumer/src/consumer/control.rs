//! Stopping a running consumer from another task, and the test hooks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RunState {
    Running,
    Stopping,
    Crashing,
}

/// Where a batch is (for the hook of [`Control::on_batch`], feature `test-hooks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchPoint {
    /// Every handler of the batch's transaction has run; it is about to commit.
    BeforeCommit { events: usize },
    /// The transaction committed; nothing of it is acked yet.
    AfterCommit { events: usize },
    /// `acked` of the batch's `events` deliveries are settled.
    Settled { acked: usize, events: usize },
}

type BatchHook = Arc<dyn Fn(BatchPoint) + Send + Sync>;

/// Stops a running [`EventConsumer`] from another task.
#[derive(Clone)]
pub struct Control(
    pub(super) Arc<watch::Sender<RunState>>,
    Arc<AtomicBool>,
    Arc<std::sync::OnceLock<BatchHook>>,
);

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Control").field(&self.state()).finish()
    }
}

impl Control {
    pub(super) fn new() -> Control {
        Control(
            Arc::new(watch::channel(RunState::Running).0),
            Arc::new(AtomicBool::new(false)),
            Arc::new(std::sync::OnceLock::new()),
        )
    }

    /// For tests (feature `test-hooks`): `hook` is called at each [`BatchPoint`] of every
    /// batch of more than one event (a kill test stops the process there). Set once.
    #[cfg(feature = "test-hooks")]
    pub fn on_batch(&self, hook: impl Fn(BatchPoint) + Send + Sync + 'static) {
        let _ = self.2.set(Arc::new(hook));
    }

    pub(super) fn at(&self, point: BatchPoint) {
        if let Some(hook) = self.2.get() {
            hook(point);
        }
    }

    /// For tests (feature `test-hooks`): the next delivery that is done (its transaction
    /// committed, or found a duplicate) is not acked: the consumer stops there as a killed
    /// process would ([`Control::simulate_crash`]), between the database commit and the ack.
    #[cfg(feature = "test-hooks")]
    pub fn crash_before_next_ack(&self) {
        self.1.store(true, Ordering::SeqCst);
    }

    /// Whether the crash before the next ack is armed; disarms it.
    pub(super) fn take_crash_before_ack(&self) -> bool {
        self.1.swap(false, Ordering::SeqCst)
    }

    /// Graceful shutdown: the message being processed is finished (a backoff wait is cut
    /// short, leaving its message unsettled, to be redelivered), what was acked is recorded
    /// (Kafka: the stored offsets are committed), the group is left, and
    /// [`EventConsumer::run`] returns.
    pub fn shutdown(&self) {
        self.0.send_if_modified(|s| {
            let running = *s == RunState::Running;
            if running {
                *s = RunState::Stopping;
            }
            running
        });
    }

    /// For tests (feature `test-hooks`): stops like a killed process would, at the next point
    /// the loop waits, with nothing further settled and nothing committed: the subscription is
    /// dropped as a dead member's would be.
    #[cfg(feature = "test-hooks")]
    pub fn simulate_crash(&self) {
        self.0.send_replace(RunState::Crashing);
    }

    pub fn is_stopping(&self) -> bool {
        *self.0.borrow() != RunState::Running
    }

    pub(super) fn state(&self) -> RunState {
        *self.0.borrow()
    }

    pub(super) async fn stopped(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|s| *s != RunState::Running).await;
    }
}
