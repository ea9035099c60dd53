//! The saga runner's Prometheus metrics ([`SagaMetrics`]).
//!
//! | series | type | meaning |
//! |---|---|---|
//! | `evc_saga_sagas{definition,status}` | gauge | sagas in the store by status (counted at scrape time) |
//! | `evc_saga_step_attempts_total{definition,step,action,outcome}` | counter | participant calls and how they ended (`action`: do, undo) |
//! | `evc_saga_step_duration_seconds{definition,step,action}` | histogram | time a participant call took |
//! | `evc_saga_compensations_total{definition}` | counter | sagas that began compensating |
//! | `evc_saga_finished_total{definition,status}` | counter | sagas this runner moved to a final status |

use std::time::Duration;

use evc_telemetry::MetricsRegistry;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Unit;

use crate::definition::Action;
use crate::state::{Outcome, SagaError, SagaStatus};
use crate::store::SagaStore;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    definition: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    definition: String,
    step: String,
    action: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    definition: String,
    step: String,
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DefinitionLabels {
    definition: String,
}

fn step_histogram() -> Histogram {
    // 1 ms .. ~65 s
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The runner's metrics, registered in a [`MetricsRegistry`]; give them to runners with
/// [`crate::SagaRunner::with_metrics`] (several runners of one process share one).
#[derive(Clone, Debug)]
pub struct SagaMetrics {
    sagas: Family<StatusLabels, Gauge>,
    attempts: Family<AttemptLabels, Counter>,
    durations: Family<StepLabels, Histogram, fn() -> Histogram>,
    compensations: Family<DefinitionLabels, Counter>,
    finished: Family<StatusLabels, Counter>,
}

impl SagaMetrics {
    /// Registers the `evc_saga_*` series in `registry`; `evc_saga_sagas` is counted from
    /// `store` at each scrape.
    pub fn register(registry: &MetricsRegistry, store: &SagaStore) -> SagaMetrics {
        let m = SagaMetrics {
            sagas: Family::default(),
            attempts: Family::default(),
            durations: Family::new_with_constructor(step_histogram),
            compensations: Family::default(),
            finished: Family::default(),
        };
        registry.register(
            "evc_saga_sagas",
            "Sagas in the store by definition and status",
            m.sagas.clone(),
        );
        registry.register(
            "evc_saga_step_attempts",
            "Participant calls (do and undo) and how they ended",
            m.attempts.clone(),
        );
        registry.register_with_unit(
            "evc_saga_step_duration",
            "Time a participant call took",
            Unit::Seconds,
            m.durations.clone(),
        );
        registry.register(
            "evc_saga_compensations",
            "Sagas that began compensating",
            m.compensations.clone(),
        );
        registry.register(
            "evc_saga_finished",
            "Sagas moved to a final status (completed, compensated, failed) by this process",
            m.finished.clone(),
        );
        let gauge = m.sagas.clone();
        let store = store.clone();
        registry.on_scrape("evc_saga_sagas", move || {
            let gauge = gauge.clone();
            let store = store.clone();
            async move {
                match store.count_by_status().await {
                    Ok(counts) => {
                        gauge.clear();
                        for (definition, status, n) in counts {
                            gauge
                                .get_or_create(&StatusLabels {
                                    definition,
                                    status: status.name().to_string(),
                                })
                                .set(n);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot count sagas for evc_saga_sagas")
                    }
                }
            }
        });
        m
    }

    pub(crate) fn attempt(
        &self,
        definition: &str,
        step: &str,
        action: Action,
        outcome: Outcome,
        took: Option<Duration>,
    ) {
        self.attempts
            .get_or_create(&AttemptLabels {
                definition: definition.to_string(),
                step: step.to_string(),
                action: action.to_string(),
                outcome: outcome.name().to_string(),
            })
            .inc();
        if let Some(took) = took {
            self.durations
                .get_or_create(&StepLabels {
                    definition: definition.to_string(),
                    step: step.to_string(),
                    action: action.to_string(),
                })
                .observe(took.as_secs_f64());
        }
    }

    pub(crate) fn compensating(&self, definition: &str) {
        self.compensations
            .get_or_create(&DefinitionLabels {
                definition: definition.to_string(),
            })
            .inc();
    }

    pub(crate) fn finished(&self, definition: &str, status: SagaStatus) {
        self.finished
            .get_or_create(&StatusLabels {
                definition: definition.to_string(),
                status: status.name().to_string(),
            })
            .inc();
    }
}

impl SagaStore {
    /// How many sagas there are per definition and status.
    pub async fn count_by_status(&self) -> Result<Vec<(String, SagaStatus, i64)>, SagaError> {
        let mut tx = self.database().read().await?;
        let rows = tx
            .rows(
                "SELECT definition, status, COUNT(*) FROM saga_instances \
                 GROUP BY definition, status ORDER BY definition, status",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let status = r.str(1)?;
                let definition = r.str(0)?;
                let status = SagaStatus::from_name(&status).ok_or_else(|| SagaError::Corrupt {
                    saga_id: format!("(definition {definition})"),
                    column: "status",
                    problem: format!("unknown status `{status}`"),
                })?;
                Ok((definition, status, r.i64(2)?))
            })
            .collect()
    }
}
