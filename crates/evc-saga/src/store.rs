//! The saga tables on `evc-storage`: starting sagas (in the caller's transaction or in one of
//! their own), reading their state and step log, and the writes the runner composes.

use serde_json::Value;
use uuid::Uuid;

use evc_storage::{args, Database, Migration, Row, Tx, TxRef};

use crate::definition::{Action, SagaDefinition};
use crate::state::{now_ms, Outcome, SagaError, SagaState, SagaStatus, StepLogEntry};

/// The component the saga tables' migrations are recorded under in `evc_migrations`.
pub const COMPONENT: &str = "evc-saga";

/// The saga tables. The first migration uses a plain `CREATE TABLE`: a database holding the
/// `saga_instances` table of evc-saga before migrations (a different shape) is refused with
/// the database's "already exists" error instead of being adopted.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "saga instances, step log, hook notifications",
    sqlite: "CREATE TABLE saga_instances (
        saga_id           TEXT    PRIMARY KEY,
        definition        TEXT    NOT NULL,
        status            TEXT    NOT NULL CHECK (status IN ('running', 'compensating', 'completed', 'compensated', 'failed')),
        current_step      TEXT,
        completed_steps   TEXT    NOT NULL,
        compensation_plan TEXT    NOT NULL,
        compensated_steps TEXT    NOT NULL,
        attempts          BIGINT  NOT NULL,
        input             TEXT    NOT NULL,
        outputs           TEXT    NOT NULL,
        last_error        TEXT,
        lease_owner       TEXT,
        lease_until_ms    BIGINT,
        next_run_at_ms    BIGINT  NOT NULL,
        created_at_ms     BIGINT  NOT NULL,
        updated_at_ms     BIGINT  NOT NULL
    );
    CREATE INDEX saga_instances_due ON saga_instances (status, next_run_at_ms);
    CREATE TABLE saga_step_log (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        saga_id  TEXT    NOT NULL,
        step     TEXT    NOT NULL,
        action   TEXT    NOT NULL,
        attempt  BIGINT  NOT NULL,
        outcome  TEXT    NOT NULL,
        error    TEXT,
        runner   TEXT    NOT NULL,
        at_ms    BIGINT  NOT NULL
    );
    CREATE INDEX saga_step_log_saga ON saga_step_log (saga_id, seq);
    CREATE TABLE saga_notifications (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        saga_id  TEXT    NOT NULL,
        definition TEXT  NOT NULL,
        kind     TEXT    NOT NULL,
        step     TEXT,
        action   TEXT,
        output   TEXT,
        at_ms    BIGINT  NOT NULL
    )",
    postgres: "CREATE TABLE saga_instances (
        saga_id           TEXT    PRIMARY KEY,
        definition        TEXT    NOT NULL,
        status            TEXT    NOT NULL CHECK (status IN ('running', 'compensating', 'completed', 'compensated', 'failed')),
        current_step      TEXT,
        completed_steps   TEXT    NOT NULL,
        compensation_plan TEXT    NOT NULL,
        compensated_steps TEXT    NOT NULL,
        attempts          BIGINT  NOT NULL,
        input             TEXT    NOT NULL,
        outputs           TEXT    NOT NULL,
        last_error        TEXT,
        lease_owner       TEXT,
        lease_until_ms    BIGINT,
        next_run_at_ms    BIGINT  NOT NULL,
        created_at_ms     BIGINT  NOT NULL,
        updated_at_ms     BIGINT  NOT NULL
    );
    CREATE INDEX saga_instances_due ON saga_instances (status, next_run_at_ms);
    CREATE TABLE saga_step_log (
        seq      BIGSERIAL PRIMARY KEY,
        saga_id  TEXT    NOT NULL,
        step     TEXT    NOT NULL,
        action   TEXT    NOT NULL,
        attempt  BIGINT  NOT NULL,
        outcome  TEXT    NOT NULL,
        error    TEXT,
        runner   TEXT    NOT NULL,
        at_ms    BIGINT  NOT NULL
    );
    CREATE INDEX saga_step_log_saga ON saga_step_log (saga_id, seq);
    CREATE TABLE saga_notifications (
        seq      BIGSERIAL PRIMARY KEY,
        saga_id  TEXT    NOT NULL,
        definition TEXT  NOT NULL,
        kind     TEXT    NOT NULL,
        step     TEXT,
        action   TEXT,
        output   TEXT,
        at_ms    BIGINT  NOT NULL
    )",
}, Migration::portable(
    2,
    "the W3C traceparent of the span that started the saga",
    "ALTER TABLE saga_instances ADD COLUMN trace_parent TEXT",
)];

const COLUMNS: &str = "saga_id, definition, status, current_step, completed_steps, \
    compensation_plan, compensated_steps, attempts, input, outputs, last_error, lease_owner, \
    lease_until_ms, next_run_at_ms, created_at_ms, updated_at_ms, trace_parent";

/// The saga tables of one database (state, step log, hook notifications).
#[derive(Debug, Clone)]
pub struct SagaStore {
    db: Database,
}

impl SagaStore {
    /// The saga tables in `db`, created or migrated. To start sagas from a consumer handler,
    /// `db` must be the database of that consumer's processed-events store.
    pub async fn open(db: Database) -> Result<SagaStore, SagaError> {
        db.migrate(COMPONENT, MIGRATIONS).await?;
        Ok(SagaStore { db })
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Starts a saga of `definition` with `input`, inside `tx` (a transaction somebody else
    /// owns and commits, such as an `evc-consumer` handler's): the saga exists exactly when
    /// `tx` commits. Idempotent: a saga with this id already there is left as it is (answers
    /// false), so a redelivered message starts nothing twice. No participant is called here;
    /// a [`crate::SagaRunner`] runs the steps. The current span's trace context (W3C
    /// `traceparent`, e.g. of the consumer handling the message that started the saga) is
    /// kept with the saga, and its steps' `saga.step` spans continue that trace.
    pub async fn start_in(
        &self,
        tx: &mut TxRef<'_>,
        saga_id: Uuid,
        definition: &SagaDefinition,
        input: &Value,
    ) -> Result<bool, SagaError> {
        definition.validate()?;
        let now = now_ms();
        let n = tx
            .exec(
                "INSERT INTO saga_instances (saga_id, definition, status, current_step, \
                 completed_steps, compensation_plan, compensated_steps, attempts, input, outputs, \
                 last_error, lease_owner, lease_until_ms, next_run_at_ms, created_at_ms, \
                 updated_at_ms, trace_parent) VALUES ($1, $2, 'running', NULL, '[]', '[]', '[]', \
                 0, $3, '{}', NULL, NULL, NULL, $4, $4, $4, $5) ON CONFLICT (saga_id) DO NOTHING",
                &args![
                    saga_id.to_string(),
                    definition.name(),
                    input.to_string(),
                    now,
                    evc_telemetry::TraceContext::current().map(|c| c.traceparent())
                ],
            )
            .await?;
        Ok(n == 1)
    }

    /// [`SagaStore::start_in`] in a transaction of its own.
    pub async fn start(
        &self,
        saga_id: Uuid,
        definition: &SagaDefinition,
        input: &Value,
    ) -> Result<bool, SagaError> {
        let mut tx = self.db.write().await?;
        let started = self
            .start_in(&mut tx.as_ref(), saga_id, definition, input)
            .await?;
        tx.commit().await?;
        Ok(started)
    }

    /// The saga `saga_id`, if it exists.
    pub async fn find(&self, saga_id: Uuid) -> Result<Option<SagaState>, SagaError> {
        let mut tx = self.db.read().await?;
        let row = tx
            .row(
                &format!("SELECT {COLUMNS} FROM saga_instances WHERE saga_id = $1"),
                &args![saga_id.to_string()],
            )
            .await?;
        row.as_ref().map(state_from_row).transpose()
    }

    /// The saga `saga_id`, or [`SagaError::NotFound`].
    pub async fn load(&self, saga_id: Uuid) -> Result<SagaState, SagaError> {
        self.find(saga_id)
            .await?
            .ok_or(SagaError::NotFound(saga_id))
    }

    /// Every saga not in a final state, oldest first.
    pub async fn unfinished(&self) -> Result<Vec<SagaState>, SagaError> {
        let mut tx = self.db.read().await?;
        let rows = tx
            .rows(
                &format!(
                    "SELECT {COLUMNS} FROM saga_instances \
                     WHERE status IN ('running', 'compensating') ORDER BY created_at_ms, saga_id"
                ),
                &[],
            )
            .await?;
        rows.iter().map(state_from_row).collect()
    }

    /// The step log of `saga_id`: every attempt and how it ended, in order.
    pub async fn step_log(&self, saga_id: Uuid) -> Result<Vec<StepLogEntry>, SagaError> {
        let mut tx = self.db.read().await?;
        let rows = tx
            .rows(
                "SELECT step, action, attempt, outcome, error, runner, at_ms FROM saga_step_log \
                 WHERE saga_id = $1 ORDER BY seq",
                &args![saga_id.to_string()],
            )
            .await?;
        let id = saga_id.to_string();
        rows.iter()
            .map(|r| {
                let action = r.str(1)?;
                let outcome = r.str(3)?;
                Ok(StepLogEntry {
                    saga_id,
                    step: r.str(0)?,
                    action: parse_action(&action)
                        .ok_or_else(|| corrupt(&id, "action", format!("`{action}`")))?,
                    attempt: r.i64(2)?.try_into().unwrap_or(u32::MAX),
                    outcome: Outcome::from_name(&outcome)
                        .ok_or_else(|| corrupt(&id, "outcome", format!("`{outcome}`")))?,
                    error: r.opt_str(4)?,
                    runner: r.str(5)?,
                    at_ms: r.i64(6)?,
                })
            })
            .collect()
    }
}

pub(crate) fn parse_action(s: &str) -> Option<Action> {
    match s {
        "do" => Some(Action::Do),
        "undo" => Some(Action::Undo),
        _ => None,
    }
}

fn corrupt(saga_id: &str, column: &'static str, problem: String) -> SagaError {
    SagaError::Corrupt {
        saga_id: saga_id.to_string(),
        column,
        problem,
    }
}

fn steps_from(id: &str, column: &'static str, json: &str) -> Result<Vec<String>, SagaError> {
    serde_json::from_str(json).map_err(|e| corrupt(id, column, e.to_string()))
}

fn steps_to(steps: &[String]) -> String {
    Value::from(steps.to_vec()).to_string()
}

pub(crate) fn state_from_row(r: &Row) -> Result<SagaState, SagaError> {
    let id = r.str(0)?;
    let status = r.str(2)?;
    let outputs: Value =
        serde_json::from_str(&r.str(9)?).map_err(|e| corrupt(&id, "outputs", e.to_string()))?;
    let Value::Object(outputs) = outputs else {
        return Err(corrupt(&id, "outputs", "not a JSON object".into()));
    };
    Ok(SagaState {
        saga_id: Uuid::parse_str(&id).map_err(|e| corrupt(&id, "saga_id", e.to_string()))?,
        definition: r.str(1)?,
        status: SagaStatus::from_name(&status)
            .ok_or_else(|| corrupt(&id, "status", format!("unknown status `{status}`")))?,
        current_step: r.opt_str(3)?,
        completed: steps_from(&id, "completed_steps", &r.str(4)?)?,
        compensation_plan: steps_from(&id, "compensation_plan", &r.str(5)?)?,
        compensated: steps_from(&id, "compensated_steps", &r.str(6)?)?,
        attempts: u32::try_from(r.i64(7)?).map_err(|e| corrupt(&id, "attempts", e.to_string()))?,
        input: serde_json::from_str(&r.str(8)?)
            .map_err(|e| corrupt(&id, "input", e.to_string()))?,
        outputs,
        last_error: r.opt_str(10)?,
        lease_owner: r.opt_str(11)?,
        lease_until_ms: r.opt_i64(12)?,
        next_run_at_ms: r.i64(13)?,
        created_at_ms: r.i64(14)?,
        updated_at_ms: r.i64(15)?,
        trace_parent: r.opt_str(16)?,
    })
}

/// The writes and reads the runner composes inside its own serialized transactions.
pub(crate) mod runner_ops {
    use super::*;

    /// The oldest saga of `definitions` that is due at `now` and not leased.
    pub async fn due(
        tx: &mut Tx,
        definitions: &[String],
        now: i64,
    ) -> Result<Option<SagaState>, SagaError> {
        if definitions.is_empty() {
            return Ok(None);
        }
        let list = placeholders(2, definitions.len());
        let mut a = vec![now.into()];
        a.extend(definitions.iter().map(|d| d.as_str().into()));
        let row = tx
            .row(
                &format!(
                    "SELECT {COLUMNS} FROM saga_instances \
                     WHERE status IN ('running', 'compensating') AND next_run_at_ms <= $1 \
                     AND (lease_until_ms IS NULL OR lease_until_ms <= $1) \
                     AND definition IN ({list}) \
                     ORDER BY next_run_at_ms, created_at_ms, saga_id LIMIT 1"
                ),
                &a,
            )
            .await?;
        row.as_ref().map(state_from_row).transpose()
    }

    /// How many sagas of `definitions` are unfinished, and the earliest time (Unix ms) one of
    /// them is due and free.
    pub async fn pending(
        db: &Database,
        definitions: &[String],
    ) -> Result<(i64, Option<i64>), SagaError> {
        if definitions.is_empty() {
            return Ok((0, None));
        }
        let list = placeholders(1, definitions.len());
        let a: Vec<evc_storage::Arg> = definitions.iter().map(|d| d.as_str().into()).collect();
        let mut tx = db.read().await?;
        let row = tx
            .row(
                &format!(
                    "SELECT COUNT(*), MIN(CASE WHEN lease_until_ms IS NOT NULL \
                     AND lease_until_ms > next_run_at_ms THEN lease_until_ms \
                     ELSE next_run_at_ms END) FROM saga_instances \
                     WHERE status IN ('running', 'compensating') AND definition IN ({list})"
                ),
                &a,
            )
            .await?;
        match row {
            Some(r) => Ok((r.i64(0)?, r.opt_i64(1)?)),
            None => Ok((0, None)),
        }
    }

    /// The saga, read inside `tx`.
    pub async fn get(tx: &mut Tx, saga_id: Uuid) -> Result<Option<SagaState>, SagaError> {
        let row = tx
            .row(
                &format!("SELECT {COLUMNS} FROM saga_instances WHERE saga_id = $1"),
                &args![saga_id.to_string()],
            )
            .await?;
        row.as_ref().map(state_from_row).transpose()
    }

    /// Writes every mutable column of `s` (stamping `updated_at_ms`).
    pub async fn save(tx: &mut Tx, s: &mut SagaState) -> Result<(), SagaError> {
        s.updated_at_ms = now_ms();
        tx.exec(
            "UPDATE saga_instances SET status = $2, current_step = $3, completed_steps = $4, \
             compensation_plan = $5, compensated_steps = $6, attempts = $7, outputs = $8, \
             last_error = $9, lease_owner = $10, lease_until_ms = $11, next_run_at_ms = $12, \
             updated_at_ms = $13 WHERE saga_id = $1",
            &args![
                s.saga_id.to_string(),
                s.status.name(),
                s.current_step.clone(),
                steps_to(&s.completed),
                steps_to(&s.compensation_plan),
                steps_to(&s.compensated),
                s.attempts,
                Value::Object(s.outputs.clone()).to_string(),
                s.last_error.clone(),
                s.lease_owner.clone(),
                s.lease_until_ms,
                s.next_run_at_ms,
                s.updated_at_ms
            ],
        )
        .await?;
        Ok(())
    }

    /// Extends the lease of `owner` on `saga_id` for attempt `attempts`; answers whether the
    /// lease was still held.
    pub async fn renew(
        db: &Database,
        saga_id: Uuid,
        owner: &str,
        attempts: u32,
        until: i64,
    ) -> Result<bool, SagaError> {
        let mut tx = db.write().await?;
        let n = tx
            .exec(
                "UPDATE saga_instances SET lease_until_ms = $4 \
                 WHERE saga_id = $1 AND lease_owner = $2 AND attempts = $3",
                &args![saga_id.to_string(), owner, attempts, until],
            )
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Appends an attempt to the step log.
    #[allow(clippy::too_many_arguments)]
    pub async fn log(
        tx: &mut Tx,
        saga_id: Uuid,
        step: &str,
        action: Action,
        attempt: u32,
        outcome: Outcome,
        error: Option<&str>,
        runner: &str,
    ) -> Result<(), SagaError> {
        tx.exec(
            "INSERT INTO saga_step_log (saga_id, step, action, attempt, outcome, error, runner, \
             at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &args![
                saga_id.to_string(),
                step,
                action.as_str(),
                attempt,
                outcome.name(),
                error,
                runner,
                now_ms()
            ],
        )
        .await?;
        Ok(())
    }

    /// Records a notification for the hooks, in the transition's transaction.
    pub async fn notify(
        tx: &mut Tx,
        saga_id: Uuid,
        definition: &str,
        kind: &str,
        step: Option<(&str, Action)>,
        output: Option<&Value>,
    ) -> Result<(), SagaError> {
        tx.exec(
            "INSERT INTO saga_notifications (saga_id, definition, kind, step, action, output, \
             at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &args![
                saga_id.to_string(),
                definition,
                kind,
                step.map(|(s, _)| s),
                step.map(|(_, a)| a.as_str()),
                output.map(|o| o.to_string()),
                now_ms()
            ],
        )
        .await?;
        Ok(())
    }

    /// A pending notification.
    pub struct Pending {
        pub seq: i64,
        pub saga_id: Uuid,
        pub definition: String,
        pub kind: String,
        pub step: Option<String>,
        pub action: Option<Action>,
        pub output: Option<Value>,
    }

    /// Up to `limit` pending notifications, oldest first.
    pub async fn pending_notifications(
        db: &Database,
        limit: i64,
    ) -> Result<Vec<Pending>, SagaError> {
        let mut tx = db.read().await?;
        let rows = tx
            .rows(
                "SELECT seq, saga_id, definition, kind, step, action, output \
                 FROM saga_notifications \
                 ORDER BY seq LIMIT $1",
                &args![limit],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let id = r.str(1)?;
                Ok(Pending {
                    seq: r.i64(0)?,
                    saga_id: Uuid::parse_str(&id)
                        .map_err(|e| corrupt(&id, "saga_id", e.to_string()))?,
                    definition: r.str(2)?,
                    kind: r.str(3)?,
                    step: r.opt_str(4)?,
                    action: r.opt_str(5)?.as_deref().and_then(parse_action),
                    output: r
                        .opt_str(6)?
                        .map(|o| serde_json::from_str(&o))
                        .transpose()
                        .map_err(|e| corrupt(&id, "output", e.to_string()))?,
                })
            })
            .collect()
    }

    /// Removes a delivered notification.
    pub async fn delivered(db: &Database, seq: i64) -> Result<(), SagaError> {
        let mut tx = db.write().await?;
        tx.exec("DELETE FROM saga_notifications WHERE seq = $1", &args![seq])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    fn placeholders(first: usize, n: usize) -> String {
        (first..first + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
