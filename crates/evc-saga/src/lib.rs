//! The `OrderFulfillment` orchestration saga, started by an [`OrderPaid`] event.
//!
//! **Owns:** the saga's steps (reserve inventory → charge payment → create shipment → send
//! confirmation) and their compensations (release inventory, refund payment, cancel shipment,
//! send cancellation, run in reverse order of the completed steps); the saga state persisted
//! after every transition on SQLite or PostgreSQL ([`SagaStore`]); step timeouts; resumption of
//! unfinished sagas after a crash ([`Orchestrator::resume_all`]); and the simulated participants
//! ([`Participants`]) with their persisted effect logs and injectable faults.
//!
//! **Does not own:** consuming `OrderPaid` from Kafka (hand the decoded event to
//! [`Orchestrator::start`] from an `evc-consumer` handler), real inventory, payment, shipping or
//! notification services, or publishing the saga's outcome as events.
//!
//! # Tables (in the connection's schema on PostgreSQL)
//!
//! - `saga_instances`: one row per saga (id = the order id, so a redelivered `OrderPaid` does not
//!   start a second saga): status, current step, completed / compensation plan / compensated
//!   steps, attempts, last error, created/updated times (Unix milliseconds).
//! - `saga_<participant>_effects` (`inventory`, `payment`, `shipping`, `notification`): every
//!   effect a participant applied, with its step key; nothing unique on the key, so a duplicated
//!   side effect would show as two rows.
//! - `saga_<participant>_dedup`: the step keys a participant has seen (`applied`, or `blocked`
//!   when a compensation arrived before its step, so a late step is refused).
//!
//! # Idempotency and resumption
//!
//! A step key is `saga id:step:action` (action `do` or `undo`). The state is written *before* a
//! participant is called (current step, attempts + 1) and after it answers. A process killed
//! between the two leaves the step in flight; [`Orchestrator::resume_all`] calls it again with
//! the same key, and the participant answers from its dedup table without a second effect.
//! A step that fails is not compensated (it did nothing); a step that times out may have
//! happened, so it is compensated too: a compensation of a step that never happened records a
//! `blocked` marker and no effect.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use order_events::OrderPaid;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use uuid::Uuid;

/// Errors of the saga store and orchestrator.
#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    /// The database failed.
    #[error("saga database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A persisted row could not be read back.
    #[error("corrupt saga row {saga_id}: {message}")]
    Corrupt {
        /// The saga.
        saga_id: String,
        /// What was wrong.
        message: String,
    },
    /// No saga with that id.
    #[error("no saga {0}")]
    NotFound(Uuid),
}

/// A forward step of the saga, in execution order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// Inventory: reserve the order's items (compensation: release them).
    ReserveInventory,
    /// Payment: charge the amount (compensation: refund it).
    ChargePayment,
    /// Shipping: create the shipment (compensation: cancel it).
    CreateShipment,
    /// Notification: send the confirmation (compensation: send a cancellation).
    SendConfirmation,
}

impl Step {
    /// Every step, in execution order.
    pub const ALL: [Step; 4] = [
        Step::ReserveInventory,
        Step::ChargePayment,
        Step::CreateShipment,
        Step::SendConfirmation,
    ];

    /// The persisted name.
    pub fn name(self) -> &'static str {
        match self {
            Step::ReserveInventory => "reserve_inventory",
            Step::ChargePayment => "charge_payment",
            Step::CreateShipment => "create_shipment",
            Step::SendConfirmation => "send_confirmation",
        }
    }

    /// The compensation's name.
    pub fn compensation_name(self) -> &'static str {
        match self {
            Step::ReserveInventory => "release_inventory",
            Step::ChargePayment => "refund_payment",
            Step::CreateShipment => "cancel_shipment",
            Step::SendConfirmation => "send_cancellation",
        }
    }

    /// The participant that performs it.
    pub fn participant(self) -> Participant {
        match self {
            Step::ReserveInventory => Participant::Inventory,
            Step::ChargePayment => Participant::Payment,
            Step::CreateShipment => Participant::Shipping,
            Step::SendConfirmation => Participant::Notification,
        }
    }

    fn from_name(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|st| st.name() == s)
    }

    /// The idempotency key of this step's `action` in `saga_id`.
    pub fn key(self, saga_id: Uuid, action: Action) -> String {
        format!("{saga_id}:{}:{}", self.name(), action.name())
    }
}

/// Do a step or undo it (compensate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The forward step.
    Do,
    /// Its compensation.
    Undo,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Do => "do",
            Action::Undo => "undo",
        }
    }
}

/// A simulated participant service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Participant {
    /// The inventory service.
    Inventory,
    /// The payment service.
    Payment,
    /// The shipping service.
    Shipping,
    /// The notification service.
    Notification,
}

impl Participant {
    /// Every participant.
    pub const ALL: [Participant; 4] = [
        Participant::Inventory,
        Participant::Payment,
        Participant::Shipping,
        Participant::Notification,
    ];

    /// The name used in table names.
    pub fn name(self) -> &'static str {
        match self {
            Participant::Inventory => "inventory",
            Participant::Payment => "payment",
            Participant::Shipping => "shipping",
            Participant::Notification => "notification",
        }
    }
}

/// Where a saga is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SagaStatus {
    /// Forward steps are being run.
    Running,
    /// Every step completed.
    Completed,
    /// A step failed or timed out; compensations are being run.
    Compensating,
    /// Every compensation ran.
    Compensated,
    /// A compensation kept failing; needs a human.
    Failed,
}

impl SagaStatus {
    /// The persisted name.
    pub fn name(self) -> &'static str {
        match self {
            SagaStatus::Running => "running",
            SagaStatus::Completed => "completed",
            SagaStatus::Compensating => "compensating",
            SagaStatus::Compensated => "compensated",
            SagaStatus::Failed => "failed",
        }
    }

    fn from_name(s: &str) -> Option<SagaStatus> {
        [
            SagaStatus::Running,
            SagaStatus::Completed,
            SagaStatus::Compensating,
            SagaStatus::Compensated,
            SagaStatus::Failed,
        ]
        .into_iter()
        .find(|st| st.name() == s)
    }

    /// Whether the saga is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SagaStatus::Completed | SagaStatus::Compensated | SagaStatus::Failed
        )
    }
}

/// The persisted state of one saga.
#[derive(Debug, Clone, PartialEq)]
pub struct SagaState {
    /// The saga id (the order id).
    pub saga_id: Uuid,
    /// The order.
    pub order_id: Uuid,
    /// Amount paid, minor units.
    pub amount_minor: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// Where it is.
    pub status: SagaStatus,
    /// The step (or, while compensating, the step being compensated) in flight, if any.
    pub current_step: Option<Step>,
    /// Forward steps completed, in order.
    pub completed: Vec<Step>,
    /// The steps to compensate, in the order to compensate them (set when a step fails).
    pub compensation_plan: Vec<Step>,
    /// Compensations done, in order.
    pub compensated: Vec<Step>,
    /// Attempts at the current step or compensation.
    pub attempts: u32,
    /// Why the saga is compensating or failed.
    pub last_error: Option<String>,
    /// Creation time, Unix milliseconds.
    pub created_at_ms: i64,
    /// Last update, Unix milliseconds.
    pub updated_at_ms: i64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn join_steps(steps: &[Step]) -> String {
    steps.iter().map(|s| s.name()).collect::<Vec<_>>().join(",")
}

fn split_steps(saga_id: &str, s: &str) -> Result<Vec<Step>, SagaError> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|n| {
            Step::from_name(n).ok_or_else(|| SagaError::Corrupt {
                saga_id: saga_id.to_string(),
                message: format!("unknown step {n:?}"),
            })
        })
        .collect()
}

#[derive(Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same SQL (with `$N` parameters, which both drivers accept) on either backend.
macro_rules! execute {
    ($db:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $db {
            Db::Sqlite(p) => sqlx::query($sql)$(.bind($arg))*.execute(p).await?.rows_affected(),
            Db::Postgres(p) => sqlx::query($sql)$(.bind($arg))*.execute(p).await?.rows_affected(),
        }
    };
}

macro_rules! fetch_all {
    ($db:expr, $ty:ty, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $db {
            Db::Sqlite(p) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.fetch_all(p).await?,
            Db::Postgres(p) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.fetch_all(p).await?,
        }
    };
}

const SAGA_DDL: &str = "CREATE TABLE IF NOT EXISTS saga_instances (
    saga_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    current_step TEXT,
    completed_steps TEXT NOT NULL,
    compensation_plan TEXT NOT NULL,
    compensated_steps TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
)";

fn effects_ddl(p: Participant, sqlite: bool) -> [String; 2] {
    let id = if sqlite {
        "seq INTEGER PRIMARY KEY AUTOINCREMENT"
    } else {
        "seq BIGSERIAL PRIMARY KEY"
    };
    let n = p.name();
    [
        format!(
            "CREATE TABLE IF NOT EXISTS saga_{n}_effects ({id}, step_key TEXT NOT NULL, \
             saga_id TEXT NOT NULL, effect TEXT NOT NULL, detail TEXT NOT NULL, \
             applied_at_us BIGINT NOT NULL)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS saga_{n}_dedup (step_key TEXT PRIMARY KEY, \
             state TEXT NOT NULL)"
        ),
    ]
}

type StateRow = (
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    i64,
    Option<String>,
    i64,
    i64,
);

const SELECT_STATE: &str = "SELECT saga_id, order_id, amount_minor, currency, status, \
    current_step, completed_steps, compensation_plan, compensated_steps, attempts, last_error, \
    created_at_ms, updated_at_ms FROM saga_instances";

fn state_from_row(r: StateRow) -> Result<SagaState, SagaError> {
    let corrupt = |m: String| SagaError::Corrupt {
        saga_id: r.0.clone(),
        message: m,
    };
    let parse_uuid = |s: &str| Uuid::parse_str(s).map_err(|e| corrupt(e.to_string()));
    Ok(SagaState {
        saga_id: parse_uuid(&r.0)?,
        order_id: parse_uuid(&r.1)?,
        amount_minor: r.2,
        currency: r.3.clone(),
        status: SagaStatus::from_name(&r.4)
            .ok_or_else(|| corrupt(format!("unknown status {:?}", r.4)))?,
        current_step: match &r.5 {
            None => None,
            Some(s) => {
                Some(Step::from_name(s).ok_or_else(|| corrupt(format!("unknown step {s:?}")))?)
            }
        },
        completed: split_steps(&r.0, &r.6)?,
        compensation_plan: split_steps(&r.0, &r.7)?,
        compensated: split_steps(&r.0, &r.8)?,
        attempts: u32::try_from(r.9).map_err(|e| corrupt(e.to_string()))?,
        last_error: r.10.clone(),
        created_at_ms: r.11,
        updated_at_ms: r.12,
    })
}

/// The saga database (state and the participants' tables), on SQLite or PostgreSQL.
#[derive(Clone)]
pub struct SagaStore {
    db: Db,
}

impl SagaStore {
    /// Opens (creating it if missing) the SQLite database at `path`: WAL, `synchronous=FULL`,
    /// a 10 s busy timeout; creates the tables.
    pub async fn open_sqlite(path: impl AsRef<Path>) -> Result<SagaStore, SagaError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        SagaStore::sqlite_with_pool(pool).await
    }

    /// A store on a private in-memory SQLite database (one connection).
    pub async fn sqlite_in_memory() -> Result<SagaStore, SagaError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(SqliteConnectOptions::from_str("sqlite::memory:")?)
            .await?;
        SagaStore::sqlite_with_pool(pool).await
    }

    /// A store on your SQLite pool; creates the tables.
    pub async fn sqlite_with_pool(pool: SqlitePool) -> Result<SagaStore, SagaError> {
        let store = SagaStore {
            db: Db::Sqlite(pool),
        };
        store.migrate(true).await?;
        Ok(store)
    }

    /// Connects to PostgreSQL at `url`; creates the tables in `schema` (which must exist) or,
    /// without one, in the default schema.
    pub async fn connect_postgres(url: &str, schema: Option<&str>) -> Result<SagaStore, SagaError> {
        let mut options = PgConnectOptions::from_str(url)?;
        if let Some(schema) = schema {
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        SagaStore::postgres_with_pool(pool).await
    }

    /// A store on your PostgreSQL pool; creates the tables in the connections' current schema
    /// (set `search_path` to use another).
    pub async fn postgres_with_pool(pool: PgPool) -> Result<SagaStore, SagaError> {
        let store = SagaStore {
            db: Db::Postgres(pool),
        };
        store.migrate(false).await?;
        Ok(store)
    }

    async fn migrate(&self, sqlite: bool) -> Result<(), SagaError> {
        execute!(&self.db, SAGA_DDL);
        for p in Participant::ALL {
            for ddl in effects_ddl(p, sqlite) {
                execute!(&self.db, ddl.as_str());
            }
        }
        Ok(())
    }

    /// Inserts a new saga unless one with its id exists; answers whether it was inserted.
    async fn insert(&self, s: &SagaState) -> Result<bool, SagaError> {
        let n = execute!(
            &self.db,
            "INSERT INTO saga_instances (saga_id, order_id, amount_minor, currency, status, \
             current_step, completed_steps, compensation_plan, compensated_steps, attempts, \
             last_error, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, NULL, '', '', '', 0, NULL, $6, $6) \
             ON CONFLICT (saga_id) DO NOTHING",
            s.saga_id.to_string(),
            s.order_id.to_string(),
            s.amount_minor,
            s.currency.clone(),
            s.status.name(),
            s.created_at_ms,
        );
        Ok(n == 1)
    }

    /// Writes the whole state (durably, before returning).
    pub async fn save(&self, s: &mut SagaState) -> Result<(), SagaError> {
        s.updated_at_ms = now_ms();
        execute!(
            &self.db,
            "UPDATE saga_instances SET status = $2, current_step = $3, completed_steps = $4, \
             compensation_plan = $5, compensated_steps = $6, attempts = $7, last_error = $8, \
             updated_at_ms = $9 WHERE saga_id = $1",
            s.saga_id.to_string(),
            s.status.name(),
            s.current_step.map(Step::name),
            join_steps(&s.completed),
            join_steps(&s.compensation_plan),
            join_steps(&s.compensated),
            i64::from(s.attempts),
            s.last_error.clone(),
            s.updated_at_ms,
        );
        Ok(())
    }

    /// The saga `saga_id`.
    pub async fn load(&self, saga_id: Uuid) -> Result<SagaState, SagaError> {
        let sql = format!("{SELECT_STATE} WHERE saga_id = $1");
        let rows = fetch_all!(&self.db, StateRow, sql.as_str(), saga_id.to_string());
        match rows.into_iter().next() {
            Some(r) => state_from_row(r),
            None => Err(SagaError::NotFound(saga_id)),
        }
    }

    /// Every saga not in a final state, oldest first.
    pub async fn unfinished(&self) -> Result<Vec<SagaState>, SagaError> {
        let sql = format!(
            "{SELECT_STATE} WHERE status IN ('running', 'compensating') \
             ORDER BY created_at_ms, saga_id"
        );
        fetch_all!(&self.db, StateRow, sql.as_str())
            .into_iter()
            .map(state_from_row)
            .collect()
    }

    /// A participant's effect log, in the order the effects were applied.
    pub async fn effects(&self, p: Participant) -> Result<Vec<Effect>, SagaError> {
        let sql = format!(
            "SELECT step_key, saga_id, effect, detail, applied_at_us FROM saga_{}_effects \
             ORDER BY seq",
            p.name()
        );
        let rows = fetch_all!(
            &self.db,
            (String, String, String, String, i64),
            sql.as_str()
        );
        Ok(rows
            .into_iter()
            .map(
                |(step_key, saga_id, effect, detail, applied_at_us)| Effect {
                    participant: p,
                    step_key,
                    saga_id,
                    effect,
                    detail,
                    applied_at_us,
                },
            )
            .collect())
    }
}

/// One applied effect in a participant's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// Whose log.
    pub participant: Participant,
    /// The step key it was applied for.
    pub step_key: String,
    /// The saga.
    pub saga_id: String,
    /// The step or compensation name (`reserve_inventory`, `refund_payment`, ...).
    pub effect: String,
    /// What it did (`charge 1999 EUR`, ...).
    pub detail: String,
    /// When, Unix microseconds.
    pub applied_at_us: i64,
}

/// An injected fault of a participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with an error; nothing applied.
    Fail,
    /// Never answer; nothing applied.
    HangBeforeEffect,
    /// Apply the effect (committed), then never answer.
    HangAfterEffect,
}

/// A participant's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParticipantError {
    /// The participant refused or failed (a definite failure: nothing was applied).
    #[error("{participant} failed {step_key}: {message}")]
    Failed {
        /// Who.
        participant: &'static str,
        /// The request.
        step_key: String,
        /// Why.
        message: String,
    },
    /// The participant's database failed (the outcome is unknown).
    #[error("{0}")]
    Db(String),
}

impl From<sqlx::Error> for ParticipantError {
    fn from(e: sqlx::Error) -> Self {
        ParticipantError::Db(e.to_string())
    }
}

/// The simulated inventory, payment, shipping and notification services. Each applies an
/// effect at most once per step key (its dedup table and effect log commit in one
/// transaction) and can be told to fail or hang on a step.
#[derive(Clone)]
pub struct Participants {
    store: SagaStore,
    faults: Arc<Mutex<HashMap<(Step, Action), Fault>>>,
}

impl Participants {
    /// Participants keeping their logs in `store`'s database.
    pub fn new(store: SagaStore) -> Participants {
        Participants {
            store,
            faults: Arc::default(),
        }
    }

    /// Injects `fault` whenever `action` of `step` is requested.
    pub fn inject(&self, step: Step, action: Action, fault: Fault) {
        self.lock_faults().insert((step, action), fault);
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.lock_faults().clear();
    }

    fn lock_faults(&self) -> std::sync::MutexGuard<'_, HashMap<(Step, Action), Fault>> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Performs `action` of `step` for `saga`, at most once per step key.
    pub async fn handle(
        &self,
        saga: &SagaState,
        step: Step,
        action: Action,
    ) -> Result<(), ParticipantError> {
        let fault = self.lock_faults().get(&(step, action)).copied();
        let key = step.key(saga.saga_id, action);
        let participant = step.participant().name();
        match fault {
            Some(Fault::Fail) => {
                return Err(ParticipantError::Failed {
                    participant,
                    step_key: key,
                    message: "injected failure".to_string(),
                })
            }
            Some(Fault::HangBeforeEffect) => hang().await,
            _ => {}
        }
        let (effect, detail) = describe(saga, step, action);
        match action {
            Action::Do => self.apply_do(step, saga, &key, effect, &detail).await?,
            Action::Undo => {
                let do_key = step.key(saga.saga_id, Action::Do);
                self.apply_undo(step, saga, &do_key, &key, effect, &detail)
                    .await?
            }
        }
        if fault == Some(Fault::HangAfterEffect) {
            hang().await;
        }
        Ok(())
    }

    async fn apply_do(
        &self,
        step: Step,
        saga: &SagaState,
        key: &str,
        effect: &str,
        detail: &str,
    ) -> Result<(), ParticipantError> {
        let n = step.participant().name();
        let claim = format!(
            "INSERT INTO saga_{n}_dedup (step_key, state) VALUES ($1, 'applied') \
             ON CONFLICT (step_key) DO NOTHING"
        );
        let log = format!(
            "INSERT INTO saga_{n}_effects (step_key, saga_id, effect, detail, applied_at_us) \
             VALUES ($1, $2, $3, $4, $5)"
        );
        let read = format!("SELECT state FROM saga_{n}_dedup WHERE step_key = $1");
        let saga_id = saga.saga_id.to_string();
        macro_rules! run {
            ($pool:expr) => {{
                let mut tx = $pool.begin().await?;
                let claimed = sqlx::query(&claim)
                    .bind(key)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                if claimed {
                    sqlx::query(&log)
                        .bind(key)
                        .bind(&saga_id)
                        .bind(effect)
                        .bind(detail)
                        .bind(now_us())
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    None
                } else {
                    let (state,): (String,) =
                        sqlx::query_as(&read).bind(key).fetch_one(&mut *tx).await?;
                    tx.commit().await?;
                    Some(state)
                }
            }};
        }
        let seen = match &self.store.db {
            Db::Sqlite(p) => run!(p),
            Db::Postgres(p) => run!(p),
        };
        match seen.as_deref() {
            // first time, or a duplicate of an applied step: the same answer
            None | Some("applied") => Ok(()),
            Some(_) => Err(ParticipantError::Failed {
                participant: n,
                step_key: key.to_string(),
                message: "already compensated".to_string(),
            }),
        }
    }

    async fn apply_undo(
        &self,
        step: Step,
        saga: &SagaState,
        do_key: &str,
        key: &str,
        effect: &str,
        detail: &str,
    ) -> Result<(), ParticipantError> {
        let n = step.participant().name();
        let block = format!(
            "INSERT INTO saga_{n}_dedup (step_key, state) VALUES ($1, 'blocked') \
             ON CONFLICT (step_key) DO NOTHING"
        );
        let claim = format!(
            "INSERT INTO saga_{n}_dedup (step_key, state) VALUES ($1, 'applied') \
             ON CONFLICT (step_key) DO NOTHING"
        );
        let log = format!(
            "INSERT INTO saga_{n}_effects (step_key, saga_id, effect, detail, applied_at_us) \
             VALUES ($1, $2, $3, $4, $5)"
        );
        let saga_id = saga.saga_id.to_string();
        macro_rules! run {
            ($pool:expr) => {{
                let mut tx = $pool.begin().await?;
                // Claim the step's own key first: if that succeeds, the step never happened
                // and now never will; there is nothing to undo.
                let never_happened = sqlx::query(&block)
                    .bind(do_key)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                let claimed = sqlx::query(&claim)
                    .bind(key)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                if claimed && !never_happened {
                    sqlx::query(&log)
                        .bind(key)
                        .bind(&saga_id)
                        .bind(effect)
                        .bind(detail)
                        .bind(now_us())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }};
        }
        match &self.store.db {
            Db::Sqlite(p) => run!(p),
            Db::Postgres(p) => run!(p),
        }
        Ok(())
    }
}

async fn hang() {
    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
}

fn describe(saga: &SagaState, step: Step, action: Action) -> (&'static str, String) {
    let money = format!("{} {}", saga.amount_minor, saga.currency);
    let order = saga.order_id;
    match action {
        Action::Do => (
            step.name(),
            match step {
                Step::ReserveInventory => format!("reserve items of order {order}"),
                Step::ChargePayment => format!("charge {money}"),
                Step::CreateShipment => format!("ship order {order}"),
                Step::SendConfirmation => format!("confirm order {order}"),
            },
        ),
        Action::Undo => (
            step.compensation_name(),
            match step {
                Step::ReserveInventory => format!("release items of order {order}"),
                Step::ChargePayment => format!("refund {money}"),
                Step::CreateShipment => format!("cancel shipment of order {order}"),
                Step::SendConfirmation => format!("cancel order {order}"),
            },
        ),
    }
}

/// Orchestrator settings.
#[derive(Debug, Clone)]
pub struct SagaConfig {
    /// How long a step or compensation may take before it counts as failed.
    pub step_timeout: Duration,
    /// Attempts at a forward step (counting attempts cut short by a crash) before it counts
    /// as failed with an unknown outcome (and is compensated).
    pub max_step_attempts: u32,
    /// Attempts at a compensation before the saga is `failed`.
    pub max_compensation_attempts: u32,
}

impl Default for SagaConfig {
    fn default() -> Self {
        SagaConfig {
            step_timeout: Duration::from_secs(5),
            max_step_attempts: 3,
            max_compensation_attempts: 3,
        }
    }
}

type Observer = Arc<dyn Fn(&SagaState) + Send + Sync>;

/// Runs `OrderFulfillment` sagas.
#[derive(Clone)]
pub struct Orchestrator {
    store: SagaStore,
    participants: Participants,
    config: SagaConfig,
    observer: Option<Observer>,
}

impl Orchestrator {
    /// An orchestrator persisting to `store` and calling `participants`.
    pub fn new(store: SagaStore, participants: Participants, config: SagaConfig) -> Orchestrator {
        Orchestrator {
            store,
            participants,
            config,
            observer: None,
        }
    }

    /// Calls `f` with the state after every durable save.
    pub fn on_persisted(mut self, f: impl Fn(&SagaState) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(f));
        self
    }

    /// Starts (or, if this order's saga exists, continues) the saga of `paid` and runs it to a
    /// final state.
    pub async fn start(&self, paid: &OrderPaid) -> Result<SagaState, SagaError> {
        let now = now_ms();
        let fresh = SagaState {
            saga_id: paid.order_id,
            order_id: paid.order_id,
            amount_minor: paid.amount.amount_minor,
            currency: paid.amount.currency.clone(),
            status: SagaStatus::Running,
            current_step: None,
            completed: Vec::new(),
            compensation_plan: Vec::new(),
            compensated: Vec::new(),
            attempts: 0,
            last_error: None,
            created_at_ms: now,
            updated_at_ms: now,
        };
        self.store.insert(&fresh).await?;
        let state = self.store.load(fresh.saga_id).await?;
        self.drive(state).await
    }

    /// Finishes or compensates every unfinished saga (one after the other); returns their
    /// final states.
    pub async fn resume_all(&self) -> Result<Vec<SagaState>, SagaError> {
        let mut done = Vec::new();
        for state in self.store.unfinished().await? {
            done.push(self.drive(state).await?);
        }
        Ok(done)
    }

    async fn save(&self, s: &mut SagaState) -> Result<(), SagaError> {
        self.store.save(s).await?;
        if let Some(f) = &self.observer {
            f(s);
        }
        Ok(())
    }

    async fn call(&self, s: &SagaState, step: Step, action: Action) -> Result<(), String> {
        match tokio::time::timeout(
            self.config.step_timeout,
            self.participants.handle(s, step, action),
        )
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "{} {} timed out after {:?}",
                step.name(),
                action.name(),
                self.config.step_timeout
            )),
        }
    }

    fn begin_compensation(&self, s: &mut SagaState, unknown: Option<Step>, error: String) {
        let mut plan: Vec<Step> = unknown.into_iter().collect();
        plan.extend(s.completed.iter().rev().copied());
        s.status = SagaStatus::Compensating;
        s.compensation_plan = plan;
        s.current_step = None;
        s.attempts = 0;
        s.last_error = Some(error);
    }

    async fn drive(&self, mut s: SagaState) -> Result<SagaState, SagaError> {
        loop {
            match s.status {
                SagaStatus::Running => {
                    let Some(step) = Step::ALL.into_iter().find(|st| !s.completed.contains(st))
                    else {
                        s.status = SagaStatus::Completed;
                        s.current_step = None;
                        s.attempts = 0;
                        self.save(&mut s).await?;
                        continue;
                    };
                    if s.current_step != Some(step) {
                        s.current_step = Some(step);
                        s.attempts = 0;
                    }
                    if s.attempts >= self.config.max_step_attempts {
                        let e =
                            format!("{} gave no answer in {} attempts", step.name(), s.attempts);
                        self.begin_compensation(&mut s, Some(step), e);
                        self.save(&mut s).await?;
                        continue;
                    }
                    s.attempts += 1;
                    self.save(&mut s).await?;
                    match tokio::time::timeout(
                        self.config.step_timeout,
                        self.participants.handle(&s, step, Action::Do),
                    )
                    .await
                    {
                        Ok(Ok(())) => {
                            s.completed.push(step);
                            s.current_step = None;
                            s.attempts = 0;
                        }
                        // a definite failure: nothing happened, nothing to undo for this step
                        Ok(Err(e @ ParticipantError::Failed { .. })) => {
                            self.begin_compensation(&mut s, None, e.to_string());
                        }
                        // unknown outcome: the step may have happened, so undo it too
                        Ok(Err(e)) => self.begin_compensation(&mut s, Some(step), e.to_string()),
                        Err(_) => {
                            let e = format!(
                                "{} timed out after {:?}",
                                step.name(),
                                self.config.step_timeout
                            );
                            self.begin_compensation(&mut s, Some(step), e);
                        }
                    }
                    self.save(&mut s).await?;
                }
                SagaStatus::Compensating => {
                    let Some(step) = s
                        .compensation_plan
                        .iter()
                        .copied()
                        .find(|st| !s.compensated.contains(st))
                    else {
                        s.status = SagaStatus::Compensated;
                        s.current_step = None;
                        s.attempts = 0;
                        self.save(&mut s).await?;
                        continue;
                    };
                    if s.current_step != Some(step) {
                        s.current_step = Some(step);
                        s.attempts = 0;
                    }
                    if s.attempts >= self.config.max_compensation_attempts {
                        s.status = SagaStatus::Failed;
                        self.save(&mut s).await?;
                        continue;
                    }
                    s.attempts += 1;
                    self.save(&mut s).await?;
                    match self.call(&s, step, Action::Undo).await {
                        Ok(()) => {
                            s.compensated.push(step);
                            s.current_step = None;
                            s.attempts = 0;
                        }
                        Err(e) => s.last_error = Some(e),
                    }
                    self.save(&mut s).await?;
                }
                SagaStatus::Completed | SagaStatus::Compensated | SagaStatus::Failed => {
                    return Ok(s)
                }
            }
        }
    }
}
