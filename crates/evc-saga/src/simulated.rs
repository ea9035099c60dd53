//! Simulated participant services for tests and demos (feature `simulated`): each applies an
//! effect at most once per idempotency key, logs every effect it applies, and can be told to
//! fail or hang.
//!
//! Tables (migrations of component `evc-saga-simulated`, in the database given to
//! [`SimulatedServices::open`]):
//! - `saga_sim_effects`: every effect applied, with its service, key, saga, operation and
//!   detail; nothing unique on the key, so a duplicated effect would show as two rows.
//! - `saga_sim_dedup`: the keys a service has seen (`applied`, or `blocked` when an undo
//!   arrived before its do, so a late do is refused). The dedup row and the effect commit in
//!   one transaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use evc_storage::{args, Database, Migration};

use crate::definition::{step_key, Action, Participant, StepError, StepFuture, StepOutput};
use crate::definition::{SagaDefinition, StepRequest, StepSpec};
use crate::state::SagaError;

/// The component the simulated services' migrations are recorded under.
pub const COMPONENT: &str = "evc-saga-simulated";

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "simulated participants: effects and dedup",
    sqlite: "CREATE TABLE saga_sim_effects (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        service       TEXT   NOT NULL,
        step_key      TEXT   NOT NULL,
        saga_id       TEXT   NOT NULL,
        effect        TEXT   NOT NULL,
        detail        TEXT   NOT NULL,
        applied_at_us BIGINT NOT NULL
    );
    CREATE TABLE saga_sim_dedup (
        service  TEXT NOT NULL,
        step_key TEXT NOT NULL,
        state    TEXT NOT NULL,
        PRIMARY KEY (service, step_key)
    )",
    postgres: "CREATE TABLE saga_sim_effects (
        seq           BIGSERIAL PRIMARY KEY,
        service       TEXT   NOT NULL,
        step_key      TEXT   NOT NULL,
        saga_id       TEXT   NOT NULL,
        effect        TEXT   NOT NULL,
        detail        TEXT   NOT NULL,
        applied_at_us BIGINT NOT NULL
    );
    CREATE TABLE saga_sim_dedup (
        service  TEXT NOT NULL,
        step_key TEXT NOT NULL,
        state    TEXT NOT NULL,
        PRIMARY KEY (service, step_key)
    )",
}];

/// The example saga of the tests and of `evc-saga-runner`: a trip booked on four services,
/// as `(step, compensation, service)` for [`SimulatedServices::definition`].
pub const TRIP: [(&str, &str, &str); 4] = [
    ("book_flight", "cancel_flight", "airline"),
    ("book_hotel", "cancel_hotel", "hotel"),
    ("rent_car", "return_car", "car_rental"),
    ("send_itinerary", "send_apology", "mail"),
];

/// An injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer [`StepError::Rejected`]; nothing applied.
    Fail,
    /// Never answer; nothing applied.
    HangBeforeEffect,
    /// Apply the effect (committed), then never answer.
    HangAfterEffect,
}

/// One applied effect in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// The service that applied it.
    pub service: String,
    /// The idempotency key it was applied for.
    pub step_key: String,
    /// The saga.
    pub saga_id: String,
    /// The operation: the step's name, or its compensation's.
    pub effect: String,
    /// The saga's input, as JSON.
    pub detail: String,
    /// When, Unix microseconds.
    pub applied_at_us: i64,
}

type FaultKey = (Option<Uuid>, String, Action);

/// A set of simulated services sharing one database and one fault table; cheap to clone.
#[derive(Debug, Clone)]
pub struct SimulatedServices {
    db: Database,
    faults: Arc<Mutex<HashMap<FaultKey, Fault>>>,
}

impl SimulatedServices {
    /// The services, their tables in `db` (created or migrated).
    pub async fn open(db: Database) -> Result<SimulatedServices, SagaError> {
        db.migrate(COMPONENT, MIGRATIONS).await?;
        Ok(SimulatedServices {
            db,
            faults: Arc::default(),
        })
    }

    /// The participant named `service` (the name in the effect log).
    pub fn participant(&self, service: &str) -> Arc<dyn Participant> {
        Arc::new(SimulatedParticipant {
            service: service.to_string(),
            services: self.clone(),
        })
    }

    /// A definition named `name` whose steps are `(step, compensation, service)`, each with
    /// `timeout`: a quick way to build a saga on these services.
    pub fn definition(
        &self,
        name: &str,
        steps: &[(&str, &str, &str)],
        timeout: Duration,
    ) -> SagaDefinition {
        steps
            .iter()
            .fold(SagaDefinition::new(name), |d, (step, undo, service)| {
                d.step(StepSpec::new(*step, *undo, self.participant(service)).timeout(timeout))
            })
    }

    /// Injects `fault` whenever `action` of `step` is requested, in any saga.
    pub fn inject(&self, step: &str, action: Action, fault: Fault) {
        self.lock().insert((None, step.to_string(), action), fault);
    }

    /// Injects `fault` for `action` of `step` in saga `saga_id` only.
    pub fn inject_for(&self, saga_id: Uuid, step: &str, action: Action, fault: Fault) {
        self.lock()
            .insert((Some(saga_id), step.to_string(), action), fault);
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<FaultKey, Fault>> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fault(&self, r: &StepRequest) -> Option<Fault> {
        let faults = self.lock();
        faults
            .get(&(Some(r.saga_id), r.step.clone(), r.action))
            .or_else(|| faults.get(&(None, r.step.clone(), r.action)))
            .copied()
    }

    /// Every effect applied, in the order applied; of one service with `Some`.
    pub async fn effects(&self, service: Option<&str>) -> Result<Vec<Effect>, SagaError> {
        let mut tx = self.db.read().await?;
        let rows = tx
            .rows(
                "SELECT service, step_key, saga_id, effect, detail, applied_at_us \
                 FROM saga_sim_effects WHERE $1 = '' OR service = $1 ORDER BY seq",
                &args![service.unwrap_or("")],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Effect {
                    service: r.str(0)?,
                    step_key: r.str(1)?,
                    saga_id: r.str(2)?,
                    effect: r.str(3)?,
                    detail: r.str(4)?,
                    applied_at_us: r.i64(5)?,
                })
            })
            .collect()
    }

    /// Applies `r` at most once per key; `Ok(true)` when the do was refused because its undo
    /// came first.
    async fn apply(&self, service: &str, r: &StepRequest) -> Result<bool, SagaError> {
        let mut tx = self.db.write().await?;
        let claim = "INSERT INTO saga_sim_dedup (service, step_key, state) VALUES ($1, $2, $3) \
                     ON CONFLICT (service, step_key) DO NOTHING";
        let mut refused = false;
        let apply = match r.action {
            Action::Do => {
                let first = tx
                    .exec(
                        claim,
                        &args![service, r.idempotency_key.as_str(), "applied"],
                    )
                    .await?
                    == 1;
                if !first {
                    let state = tx
                        .row(
                            "SELECT state FROM saga_sim_dedup WHERE service = $1 AND step_key = $2",
                            &args![service, r.idempotency_key.as_str()],
                        )
                        .await?
                        .map(|row| row.str(0))
                        .transpose()?;
                    refused = state.as_deref() != Some("applied");
                }
                first
            }
            Action::Undo => {
                // Claim the do's key first: if that succeeds, the step never happened and now
                // never will; there is nothing to undo.
                let do_key = step_key(r.saga_id, &r.step, Action::Do);
                let never_happened = tx.exec(claim, &args![service, do_key, "blocked"]).await? == 1;
                let first = tx
                    .exec(
                        claim,
                        &args![service, r.idempotency_key.as_str(), "applied"],
                    )
                    .await?
                    == 1;
                first && !never_happened
            }
        };
        if apply {
            let now_us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0);
            tx.exec(
                "INSERT INTO saga_sim_effects (service, step_key, saga_id, effect, detail, \
                 applied_at_us) VALUES ($1, $2, $3, $4, $5, $6)",
                &args![
                    service,
                    r.idempotency_key.as_str(),
                    r.saga_id.to_string(),
                    r.operation.as_str(),
                    r.input.to_string(),
                    now_us
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(refused)
    }
}

/// One simulated service.
struct SimulatedParticipant {
    service: String,
    services: SimulatedServices,
}

impl Participant for SimulatedParticipant {
    fn call<'a>(&'a self, r: &'a StepRequest) -> StepFuture<'a> {
        Box::pin(async move {
            let fault = self.services.fault(r);
            match fault {
                Some(Fault::Fail) => return Err(StepError::rejected("injected failure")),
                Some(Fault::HangBeforeEffect) => hang().await,
                _ => {}
            }
            let refused = self
                .services
                .apply(&self.service, r)
                .await
                .map_err(|e| StepError::unknown(e.to_string()))?;
            if refused {
                return Err(StepError::rejected(format!(
                    "{} refuses {}: already compensated",
                    self.service, r.idempotency_key
                )));
            }
            if fault == Some(Fault::HangAfterEffect) {
                hang().await;
            }
            // the same reference on every attempt: derived from the key, not stored
            let short = &r.saga_id.simple().to_string()[..8];
            Ok(StepOutput(json!({
                "service": self.service,
                "reference": format!("{}-{}-{}", self.service, r.operation, short),
            })))
        })
    }
}

async fn hang() {
    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
}
