//! Counters of what the consumer did.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use evc_telemetry::prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use evc_transport::SubscriptionStats;

/// Seconds each handler attempt took (the handler and its transaction's commit).
#[derive(Debug)]
pub(crate) struct HandlerTimes(pub Histogram);

impl Default for HandlerTimes {
    fn default() -> Self {
        // 0.5 ms .. ~16 s
        HandlerTimes(Histogram::new(exponential_buckets(0.0005, 2.0, 16)))
    }
}

impl HandlerTimes {
    pub fn observe(&self, seconds: f64) {
        self.0.observe(seconds);
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub processed: AtomicU64,
    pub duplicates: AtomicU64,
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub transient_retries: AtomicU64,
    pub handler_seconds: HandlerTimes,
    /// The subscriptions' own counters (commits), read on each snapshot.
    pub subscriptions: Mutex<Vec<Arc<SubscriptionStats>>>,
}

impl Counters {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn watch(&self, stats: Arc<SubscriptionStats>) {
        self.subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(stats);
    }
}

/// A snapshot of a consumer's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Events handled successfully (handler and marker committed).
    pub processed: u64,
    /// Events skipped because the group had processed them already.
    pub duplicates: u64,
    /// Handler retries (a failed attempt followed by another).
    pub retried: u64,
    /// Messages written to the dead-letter destination.
    pub dead_lettered: u64,
    /// Waits on a transient failure: registry, database or broker unreachable, dead letter
    /// not writable. The message was neither handled nor dead-lettered and was tried again.
    pub transient_retries: u64,
    /// Kafka: successful offset commits (periodic, on revoke and on shutdown). Redis and
    /// RabbitMQ record each ack on its own: 0 there.
    pub commits: u64,
    /// Of those, commits made when partitions were revoked.
    pub revoke_commits: u64,
    /// Kafka: commits on revoke that the group coordinator refused; the next owner redelivers
    /// what was acked since the last commit, and the idempotent store skips it.
    pub revoke_commit_refusals: u64,
}

/// Reads a consumer's counters while it runs (cheap to clone, shareable across tasks).
#[derive(Debug, Clone)]
pub struct MetricsHandle(pub(crate) Arc<Counters>);

impl MetricsHandle {
    /// The group's lag on each shard of `topic` this consumer holds, as its subscription
    /// last measured it (see `evc_transport::SubscriptionStats::lag`); the newest subscription
    /// to the topic counts (one run after another re-subscribes). Empty until measured.
    pub fn lag(&self, topic: &str) -> BTreeMap<u32, u64> {
        let subs = self
            .0
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        subs.iter()
            .rev()
            .find(|s| s.topic() == topic)
            .map(|s| s.lag())
            .unwrap_or_default()
    }

    pub fn snapshot(&self) -> Metrics {
        let c = &self.0;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let subs = c.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        Metrics {
            processed: get(&c.processed),
            duplicates: get(&c.duplicates),
            retried: get(&c.retried),
            dead_lettered: get(&c.dead_lettered),
            transient_retries: get(&c.transient_retries),
            commits: subs.iter().map(|s| s.commits()).sum(),
            revoke_commits: subs.iter().map(|s| s.revoke_commits()).sum(),
            revoke_commit_refusals: subs.iter().map(|s| s.revoke_commit_refusals()).sum(),
        }
    }
}
