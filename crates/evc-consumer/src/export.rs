//! Consumers' counters as Prometheus metrics ([`ConsumerExporter`]).
//!
//! | series | type | meaning |
//! |---|---|---|
//! | `evc_consumer_processed_total{group,topic}` | counter | events handled (handler and processed marker committed) |
//! | `evc_consumer_duplicates_total{group,topic}` | counter | redeliveries skipped: the group had processed the event already |
//! | `evc_consumer_retries_total{group,topic}` | counter | handler attempts that failed and were tried again |
//! | `evc_consumer_dead_letters_total{group,topic}` | counter | messages written to the dead-letter topic |
//! | `evc_consumer_transient_retries_total{group,topic}` | counter | waits on a registry, database or dead-letter outage |
//! | `evc_consumer_commits_total{group,topic}` | counter | offset commits (periodic, on revoke, on shutdown) |
//! | `evc_consumer_revoke_commits_total{group,topic}` | counter | of those, commits made when partitions were revoked |
//! | `evc_consumer_handler_duration_seconds{group,topic}` | histogram | time a handler attempt took (handler and its transaction's commit) |
//! | `evc_consumer_lag_messages{group,topic,shard}` | gauge | messages of a shard this consumer holds that the group has not acked yet, as last measured |

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use evc_telemetry::prometheus_client::collector::Collector;
use evc_telemetry::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use evc_telemetry::prometheus_client::metrics::counter::ConstCounter;
use evc_telemetry::prometheus_client::metrics::gauge::ConstGauge;
use evc_telemetry::prometheus_client::metrics::MetricType;
use evc_telemetry::prometheus_client::registry::Unit;
use evc_telemetry::MetricsRegistry;

use crate::metrics::{Metrics, MetricsHandle};

type Read = fn(&Metrics) -> u64;

const SERIES: &[(&str, &str, Read)] = &[
    (
        "evc_consumer_processed",
        "Events handled (handler and processed marker committed)",
        |m| m.processed,
    ),
    (
        "evc_consumer_duplicates",
        "Redeliveries skipped because the group had processed the event already",
        |m| m.duplicates,
    ),
    (
        "evc_consumer_retries",
        "Handler attempts that failed and were tried again",
        |m| m.retried,
    ),
    (
        "evc_consumer_dead_letters",
        "Messages written to the dead-letter topic",
        |m| m.dead_lettered,
    ),
    (
        "evc_consumer_transient_retries",
        "Waits on a transient failure (registry, database or dead-letter topic unreachable)",
        |m| m.transient_retries,
    ),
    (
        "evc_consumer_commits",
        "Offset commits (periodic, on revoke and on shutdown)",
        |m| m.commits,
    ),
    (
        "evc_consumer_revoke_commits",
        "Offset commits made when partitions were revoked",
        |m| m.revoke_commits,
    ),
];

/// Exports the counters of the consumers added to it (each labelled with its group and
/// topic), read at scrape time from their [`MetricsHandle`]s. Register one per
/// [`MetricsRegistry`]; add every consumer of the process to it. The families are described
/// (`# HELP`, `# TYPE`) before any consumer is added, so a scrape always shows what exists.
#[derive(Debug, Clone, Default)]
pub struct ConsumerExporter {
    /// (group, topic, handle) of every consumer added.
    consumers: Arc<Mutex<Vec<(String, String, MetricsHandle)>>>,
}

impl ConsumerExporter {
    /// An exporter registered in `registry` (its series appear once a consumer is added).
    pub fn register(registry: &MetricsRegistry) -> ConsumerExporter {
        let exporter = ConsumerExporter::default();
        registry.register_collector(Box::new(exporter.clone()));
        exporter
    }

    /// Exports the counters of the consumer of `group` on `topic`.
    pub fn add(&self, group: &str, topic: &str, handle: MetricsHandle) {
        self.lock()
            .push((group.to_string(), topic.to_string(), handle));
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(String, String, MetricsHandle)>> {
        // a panic while holding this lock cannot leave the list half-written
        self.consumers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Collector for ConsumerExporter {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        type Labels = Vec<(&'static str, String)>;
        let consumers: Vec<(Labels, MetricsHandle)> = self
            .lock()
            .iter()
            .map(|(g, t, h)| {
                let labels = vec![("group", g.clone()), ("topic", t.clone())];
                (labels, h.clone())
            })
            .collect();
        let snapshots: Vec<(&Labels, Metrics)> =
            consumers.iter().map(|(l, h)| (l, h.snapshot())).collect();
        for (name, help, read) in SERIES {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                ConstCounter::new(0u64).metric_type(),
            )?;
            for (labels, m) in &snapshots {
                let counter = ConstCounter::new(read(m));
                counter.encode(family.encode_family(*labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "evc_consumer_handler_duration",
            "Time a handler attempt took (the handler and its transaction's commit)",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (labels, h) in &consumers {
            h.0.handler_seconds
                .0
                .encode(family.encode_family(labels)?)?;
        }
        let messages = Unit::Other("messages".into());
        let mut family = encoder.encode_descriptor(
            "evc_consumer_lag",
            "Messages of a shard this consumer holds that the group has not acked yet (measured every lag interval)",
            Some(&messages),
            MetricType::Gauge,
        )?;
        for (labels, h) in &consumers {
            let topic = &labels[1].1;
            for (shard, lag) in h.lag(topic) {
                let mut labels = labels.clone();
                labels.push(("shard", shard.to_string()));
                let gauge = ConstGauge::new(i64::try_from(lag).unwrap_or(i64::MAX));
                gauge.encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}
