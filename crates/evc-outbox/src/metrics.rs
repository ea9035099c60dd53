//! The relay's Prometheus metrics ([`RelayMetrics`]), read from the database at scrape time.
//!
//! | series | type | meaning |
//! |---|---|---|
//! | `evc_outbox_backlog_events{relay}` | gauge | events committed to the store and not yet published (head position − checkpoint) |
//! | `evc_outbox_oldest_unpublished_age_seconds{relay}` | gauge | age of the oldest unpublished event, by its `occurred_at` (0 when none waits) |
//! | `evc_outbox_checkpoint_position{relay}` | gauge | global position of the last event the broker acknowledged; its rate is the publish rate |

use evc_eventstore::EventStore;
use evc_storage::args;
use evc_telemetry::prometheus_client;
use evc_telemetry::prometheus_client::encoding::EncodeLabelSet;
use evc_telemetry::prometheus_client::metrics::family::Family;
use evc_telemetry::prometheus_client::metrics::gauge::Gauge;
use evc_telemetry::MetricsRegistry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RelayLabels {
    relay: String,
}

/// The `evc_outbox_*` series of a registry; add each relay with [`RelayMetrics::watch`].
#[derive(Clone, Debug)]
pub struct RelayMetrics {
    registry: MetricsRegistry,
    backlog: Family<RelayLabels, Gauge>,
    age: Family<RelayLabels, Gauge<f64, AtomicU64>>,
    checkpoint: Family<RelayLabels, Gauge>,
}

impl RelayMetrics {
    /// Registers the `evc_outbox_*` series in `registry`.
    pub fn register(registry: &MetricsRegistry) -> RelayMetrics {
        let m = RelayMetrics {
            registry: registry.clone(),
            backlog: Family::default(),
            age: Family::default(),
            checkpoint: Family::default(),
        };
        registry.register(
            "evc_outbox_backlog_events",
            "Events committed to the store and not yet published by the relay",
            m.backlog.clone(),
        );
        registry.register(
            "evc_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished event by its occurred_at (0 when none waits)",
            m.age.clone(),
        );
        registry.register(
            "evc_outbox_checkpoint_position",
            "Global position of the last event the broker acknowledged",
            m.checkpoint.clone(),
        );
        m
    }

    /// Measures the relay named `relay` over `store` at every scrape (three small queries:
    /// the checkpoint, the head position, the oldest unpublished event). Creates the
    /// checkpoint table if it is missing (the relay's own migrations), so a backlog shows
    /// before the relay first ran.
    pub async fn watch(&self, store: &EventStore, relay: &str) -> Result<(), crate::RelayError> {
        store
            .database()
            .migrate("evc-outbox", crate::MIGRATIONS)
            .await?;
        let labels = RelayLabels {
            relay: relay.to_string(),
        };
        let (store, m) = (store.clone(), self.clone());
        self.registry
            .on_scrape(format!("evc_outbox relay {relay}"), move || {
                let (store, m, labels) = (store.clone(), m.clone(), labels.clone());
                async move {
                    match measure(&store, &labels.relay).await {
                        Ok((checkpoint, head, age)) => {
                            m.checkpoint.get_or_create(&labels).set(checkpoint as i64);
                            m.backlog
                                .get_or_create(&labels)
                                .set(head.saturating_sub(checkpoint) as i64);
                            m.age.get_or_create(&labels).set(age);
                        }
                        Err(e) => tracing::warn!(relay = %labels.relay, error = %e, "cannot measure the outbox backlog"),
                    }
                }
            });
        Ok(())
    }
}

/// (checkpoint, head position, age in seconds of the oldest unpublished event).
async fn measure(store: &EventStore, relay: &str) -> Result<(u64, u64, f64), crate::RelayError> {
    let checkpoint = {
        let mut tx = store.database().read().await?;
        tx.row(
            "SELECT position FROM relay_checkpoint WHERE relay = $1",
            &args![relay],
        )
        .await?
        .map(|r| r.i64(0))
        .transpose()?
        .map_or(0, |p| p.max(0) as u64)
    };
    let head = store.last_position().await?;
    let age = match store.read_all(checkpoint + 1, 1).await?.first() {
        Some(oldest) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            ((now - oldest.occurred_at.timestamp_millis()).max(0) as f64) / 1000.0
        }
        None => 0.0,
    };
    Ok((checkpoint, head, age))
}
