//! A saga's persisted state, its status, its step log, and the crate's error.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::definition::{Action, DefinitionError};
use evc_storage::StorageError;

/// Errors of the saga store and runner.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SagaError {
    /// The database failed.
    #[error("saga database: {0}")]
    Storage(#[from] StorageError),
    /// A persisted row could not be read back (an edited database).
    #[error("corrupt saga row {saga_id}: column {column}: {problem}")]
    Corrupt {
        /// The saga id as stored.
        saga_id: String,
        /// The column.
        column: &'static str,
        /// What was wrong with it.
        problem: String,
    },
    /// No saga with that id.
    #[error("no saga {0}")]
    NotFound(Uuid),
    /// A definition that cannot run.
    #[error(transparent)]
    Definition(#[from] DefinitionError),
}

/// Where a saga is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SagaStatus {
    /// Forward steps are being run.
    Running,
    /// A step failed; compensations are being run.
    Compensating,
    /// Every step completed.
    Completed,
    /// Every compensation ran.
    Compensated,
    /// A compensation kept failing (or the saga no longer matches its definition); needs a
    /// human.
    Failed,
}

impl SagaStatus {
    /// Every status.
    pub const ALL: [SagaStatus; 5] = [
        SagaStatus::Running,
        SagaStatus::Compensating,
        SagaStatus::Completed,
        SagaStatus::Compensated,
        SagaStatus::Failed,
    ];

    /// The persisted name.
    pub fn name(self) -> &'static str {
        match self {
            SagaStatus::Running => "running",
            SagaStatus::Compensating => "compensating",
            SagaStatus::Completed => "completed",
            SagaStatus::Compensated => "compensated",
            SagaStatus::Failed => "failed",
        }
    }

    /// The status persisted as `name`.
    pub fn from_name(name: &str) -> Option<SagaStatus> {
        SagaStatus::ALL.into_iter().find(|s| s.name() == name)
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
#[non_exhaustive]
pub struct SagaState {
    /// The saga id.
    pub saga_id: Uuid,
    /// Its definition's name.
    pub definition: String,
    /// Where it is.
    pub status: SagaStatus,
    /// The step (while compensating: the step being compensated) the attempts count for.
    pub current_step: Option<String>,
    /// Forward steps completed, in order.
    pub completed: Vec<String>,
    /// The steps to compensate, in the order to compensate them (set when a step fails).
    pub compensation_plan: Vec<String>,
    /// Compensations done, in order.
    pub compensated: Vec<String>,
    /// Attempts at the current step or compensation, counted before each call.
    pub attempts: u32,
    /// The input data the saga was started with.
    pub input: Value,
    /// The outputs of completed steps, by step name.
    pub outputs: Map<String, Value>,
    /// Why the saga is compensating or failed, or the last retried error.
    pub last_error: Option<String>,
    /// The runner holding the saga while a call is in flight.
    pub lease_owner: Option<String>,
    /// Until when (Unix ms) the lease holds unless renewed.
    pub lease_until_ms: Option<i64>,
    /// When (Unix ms) the saga is due again (after a retry backoff).
    pub next_run_at_ms: i64,
    /// Creation time, Unix ms.
    pub created_at_ms: i64,
    /// Last update, Unix ms.
    pub updated_at_ms: i64,
    /// The W3C `traceparent` of the span the saga was started in, if it had one; the steps'
    /// spans continue its trace.
    pub trace_parent: Option<String>,
}

/// How one attempt ended, in the step log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// The participant answered with success.
    Succeeded,
    /// A definite failure.
    Rejected,
    /// An unknown outcome reported by the participant.
    Unknown,
    /// No answer within the step's timeout.
    TimedOut,
    /// The runner lost its lease during the call; the result was discarded.
    LeaseLost,
    /// The attempts were spent before a call (attempts cut short by crashes).
    AttemptsSpent,
}

impl Outcome {
    /// The persisted name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Rejected => "rejected",
            Outcome::Unknown => "unknown",
            Outcome::TimedOut => "timed_out",
            Outcome::LeaseLost => "lease_lost",
            Outcome::AttemptsSpent => "attempts_spent",
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<Outcome> {
        [
            Outcome::Succeeded,
            Outcome::Rejected,
            Outcome::Unknown,
            Outcome::TimedOut,
            Outcome::LeaseLost,
            Outcome::AttemptsSpent,
        ]
        .into_iter()
        .find(|o| o.name() == s)
    }
}

/// One entry of a saga's step log: an attempt and how it ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StepLogEntry {
    /// The saga.
    pub saga_id: Uuid,
    /// The step.
    pub step: String,
    /// Do or undo.
    pub action: Action,
    /// The attempt number.
    pub attempt: u32,
    /// How it ended.
    pub outcome: Outcome,
    /// The error, if any.
    pub error: Option<String>,
    /// The runner that made the attempt.
    pub runner: String,
    /// When, Unix ms.
    pub at_ms: i64,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
