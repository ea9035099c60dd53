//! A generic saga orchestrator: sagas of any domain, defined as steps with compensations,
//! persisted on SQLite or PostgreSQL, run by leased runners outside message handlers.
//!
//! **Owns:**
//! - definitions ([`SagaDefinition`], [`StepSpec`]): ordered steps, each with a compensation,
//!   the [`Participant`] that performs both, a timeout, a number of attempts for the step and
//!   for its compensation, and a retry [`Backoff`];
//! - the participant contract ([`Participant`], [`StepRequest`], [`StepOutput`],
//!   [`StepError`]): an idempotency key `saga_id:step:action` per call, the saga's input and the
//!   earlier steps' outputs as JSON, and the difference between a definite failure
//!   ([`StepError::Rejected`]: nothing happened, not compensated) and an unknown outcome
//!   ([`StepError::Unknown`] or a timeout: retried, then compensated);
//! - the state ([`SagaStore`], migrations of component `evc-saga`: `saga_instances`,
//!   `saga_step_log`, `saga_notifications`), started idempotently *inside the caller's
//!   transaction* ([`SagaStore::start_in`], e.g. an `evc-consumer` handler's, so a saga starts
//!   exactly when the processed-event marker commits) or in its own ([`SagaStore::start`]);
//! - the runner ([`SagaRunner`]): claims due sagas under a lease, one step in flight per saga,
//!   counts each attempt before its call, persists a result only while it holds the lease,
//!   retries with backoff, compensates in reverse, gives up to `failed` after a bounded number
//!   of compensation attempts, takes over sagas whose runner died; an observer
//!   ([`SagaRunner::on_persisted`]) and at-least-once hooks ([`SagaHooks`]) for step results
//!   and outcomes;
//! - the runner's telemetry: Prometheus metrics ([`SagaMetrics`]: sagas by status, step
//!   attempts and latencies, compensations, finished sagas), one `saga.step` span per
//!   participant call, one INFO line per saga state change (compensating, completed,
//!   compensated; WARN for failed), per-attempt lines at DEBUG;
//! - simulated participants for tests and demos (module `simulated`, behind the feature
//!   `simulated`).
//!
//! **Does not own:** any domain (a domain crate builds its own definitions from these types),
//! consuming messages (`evc-consumer`; call [`SagaStore::start_in`] from a handler), real
//! participant services, turning step results into events (a [`SagaHooks`] implementation of
//! the application does that).
//!
//! # Design choices
//!
//! - **Participant calls never happen in a message handler.** Starting a saga is one insert in
//!   the handler's transaction; runners make the calls, so a slow participant never holds a
//!   partition, and a redelivered message starts nothing twice.
//! - **Leases, renewed while a call is in flight,** rather than a lease as long as the step's
//!   timeout: a dead runner's sagas are taken over after one lease length whatever the
//!   timeouts are. The lease owner and the attempt count together fence the persist, so a
//!   runner that lost its lease never overwrites the new holder's state.
//! - **At-least-once calls, at-most-once effects.** A crash between a participant's effect and
//!   the persist makes the next runner call again with the same key; participants must
//!   deduplicate by [`StepRequest::idempotency_key`] (the simulated ones show how, including
//!   refusing a late do after its undo).
//! - **Inputs and outputs are JSON** ([`serde_json::Value`]): definitions stay domain-free and
//!   the persisted state is readable in the database.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use evc_saga::{
//!     Participant, RunnerConfig, SagaDefinition, SagaRunner, SagaStatus, SagaStore, StepError,
//!     StepFuture, StepOutput, StepRequest, StepSpec,
//! };
//! use evc_storage::Database;
//! use serde_json::json;
//!
//! /// A participant that books anything, and cancels anything.
//! struct Desk;
//! impl Participant for Desk {
//!     fn call<'a>(&'a self, r: &'a StepRequest) -> StepFuture<'a> {
//!         Box::pin(async move {
//!             // a real one deduplicates by r.idempotency_key
//!             if r.input["guests"].as_u64() == Some(0) {
//!                 return Err(StepError::rejected("nobody to book for"));
//!             }
//!             Ok(StepOutput(json!({ "reference": format!("{}-1", r.operation) })))
//!         })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), evc_saga::SagaError> {
//! let desk: Arc<dyn Participant> = Arc::new(Desk);
//! let trip = SagaDefinition::new("trip")
//!     .step(StepSpec::new("book_flight", "cancel_flight", desk.clone()))
//!     .step(StepSpec::new("book_hotel", "cancel_hotel", desk));
//!
//! let store = SagaStore::open(Database::sqlite_in_memory().await?).await?;
//! let id = uuid::Uuid::new_v4();
//! store.start(id, &trip, &json!({ "guests": 2 })).await?;
//!
//! let runner = SagaRunner::new(store.clone(), RunnerConfig::default()).register(trip)?;
//! runner.run_until_idle().await?;
//! let saga = store.load(id).await?;
//! assert_eq!(saga.status, SagaStatus::Completed);
//! assert_eq!(saga.outputs["book_hotel"]["reference"], "book_hotel-1");
//! # Ok(())
//! # }
//! ```

mod definition;
mod hooks;
mod metrics;
mod runner;
#[cfg(feature = "simulated")]
pub mod simulated;
mod state;
mod store;

pub use definition::{
    step_key, Action, Backoff, DefinitionError, Participant, SagaDefinition, StepError, StepFuture,
    StepOutput, StepRequest, StepSpec,
};
pub use hooks::{HookError, HookFuture, SagaHooks, StepCompleted};
pub use metrics::SagaMetrics;
pub use runner::{RunnerConfig, SagaRunner};
pub use state::{Outcome, SagaError, SagaState, SagaStatus, StepLogEntry};
pub use store::{SagaStore, COMPONENT, MIGRATIONS};
