//! What a saga is: a named, ordered list of steps, each with its compensation, the participant
//! that performs both, and its timeout and retry policy. Nothing here touches a database.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use uuid::Uuid;

/// Do a step or undo it (compensate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The forward step.
    Do,
    /// Its compensation.
    Undo,
}

impl Action {
    /// `do` or `undo`, as in idempotency keys and the step log.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Do => "do",
            Action::Undo => "undo",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The idempotency key of `action` of `step` in saga `saga_id`: `saga_id:step:action`. A
/// participant that applies an effect at most once per key makes retries and resumption safe.
pub fn step_key(saga_id: Uuid, step: &str, action: Action) -> String {
    format!("{saga_id}:{step}:{}", action.as_str())
}

/// What a participant is asked to do.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StepRequest {
    /// The saga.
    pub saga_id: Uuid,
    /// The saga's definition name.
    pub definition: String,
    /// The step's name (also for its compensation).
    pub step: String,
    /// What is performed: the step's name for [`Action::Do`], its compensation's for
    /// [`Action::Undo`].
    pub operation: String,
    /// Do or undo.
    pub action: Action,
    /// `saga_id:step:action`: the same on every attempt, so the participant can deduplicate.
    pub idempotency_key: String,
    /// The saga's input data, as given when it was started.
    pub input: Value,
    /// The outputs of the steps completed before this one, by step name.
    pub outputs: Map<String, Value>,
    /// 1 on the first attempt; attempts cut short by a crash count too.
    pub attempt: u32,
}

impl StepRequest {
    /// A request for `action` of `step` (performed as `operation`) with no input, no earlier
    /// outputs, attempt 1.
    pub fn new(
        definition: &str,
        saga_id: Uuid,
        step: &str,
        operation: &str,
        action: Action,
    ) -> StepRequest {
        StepRequest {
            saga_id,
            definition: definition.to_string(),
            step: step.to_string(),
            operation: operation.to_string(),
            action,
            idempotency_key: step_key(saga_id, step, action),
            input: Value::Null,
            outputs: Map::new(),
            attempt: 1,
        }
    }

    /// With the saga's input data.
    pub fn with_input(mut self, input: Value) -> StepRequest {
        self.input = input;
        self
    }

    /// With the earlier steps' outputs.
    pub fn with_outputs(mut self, outputs: Map<String, Value>) -> StepRequest {
        self.outputs = outputs;
        self
    }

    /// As attempt `attempt`.
    pub fn with_attempt(mut self, attempt: u32) -> StepRequest {
        self.attempt = attempt;
        self
    }
}

/// What a step produced (a payment reference, a tracking number...), as JSON; kept in the
/// saga's outputs under the step's name and handed to later steps and to the hooks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepOutput(pub Value);

impl StepOutput {
    /// No output (`null`).
    pub fn none() -> StepOutput {
        StepOutput(Value::Null)
    }

    /// The output as JSON.
    pub fn value(&self) -> &Value {
        &self.0
    }
}

impl From<Value> for StepOutput {
    fn from(v: Value) -> Self {
        StepOutput(v)
    }
}

/// Why a participant did not complete a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// A definite failure: nothing was applied (a declined card, no stock). A forward step
    /// that is rejected is not compensated, and not retried.
    #[error("rejected: {message}")]
    Rejected {
        /// The participant's reason.
        message: String,
    },
    /// The outcome is unknown: the effect may have been applied (a lost connection, a
    /// database error after the request was sent). Retried with the same idempotency key;
    /// once the attempts are spent, compensated like a completed step.
    #[error("outcome unknown: {message}")]
    Unknown {
        /// What happened.
        message: String,
    },
}

impl StepError {
    /// A [`StepError::Rejected`].
    pub fn rejected(message: impl Into<String>) -> StepError {
        StepError::Rejected {
            message: message.into(),
        }
    }

    /// A [`StepError::Unknown`].
    pub fn unknown(message: impl Into<String>) -> StepError {
        StepError::Unknown {
            message: message.into(),
        }
    }
}

/// The future a [`Participant`] returns.
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<StepOutput, StepError>> + Send + 'a>>;

/// A service a saga step calls: performs a step ([`Action::Do`]) or its compensation
/// ([`Action::Undo`]).
///
/// Implementations must be idempotent per [`StepRequest::idempotency_key`]: the runner calls
/// again with the same key after a timeout, an unknown outcome or a crash, and expects the
/// effect at most once (and the same output). An undo may arrive for a step that never
/// happened (it timed out before reaching the participant): it must then apply nothing, and
/// a late do for that key must be refused.
pub trait Participant: Send + Sync + 'static {
    /// Performs `request`.
    fn call<'a>(&'a self, request: &'a StepRequest) -> StepFuture<'a>;
}

/// How long to wait between attempts: `initial`, doubled after each attempt, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failed attempt.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// The wait after attempt `attempt` (1-based) failed.
    pub fn after(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        }
    }
}

/// One step of a saga: its name, its compensation's name, who performs both, and its
/// timeout and retry policy.
#[derive(Clone)]
pub struct StepSpec {
    name: String,
    compensation: String,
    participant: Arc<dyn Participant>,
    timeout: Duration,
    max_attempts: u32,
    max_compensation_attempts: u32,
    backoff: Backoff,
}

impl fmt::Debug for StepSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepSpec")
            .field("name", &self.name)
            .field("compensation", &self.compensation)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("max_compensation_attempts", &self.max_compensation_attempts)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl StepSpec {
    /// A step `name` compensated by `compensation`, both performed by `participant`; a 5 s
    /// timeout, 3 attempts for the step and 3 for its compensation, [`Backoff::default`].
    pub fn new(
        name: impl Into<String>,
        compensation: impl Into<String>,
        participant: Arc<dyn Participant>,
    ) -> StepSpec {
        StepSpec {
            name: name.into(),
            compensation: compensation.into(),
            participant,
            timeout: Duration::from_secs(5),
            max_attempts: 3,
            max_compensation_attempts: 3,
            backoff: Backoff::default(),
        }
    }

    /// How long one call (do or undo) may take before it counts as an unknown outcome.
    pub fn timeout(mut self, timeout: Duration) -> StepSpec {
        self.timeout = timeout;
        self
    }

    /// Attempts at the step (at least 1) before an unknown outcome turns into compensation.
    pub fn max_attempts(mut self, n: u32) -> StepSpec {
        self.max_attempts = n.max(1);
        self
    }

    /// Attempts at the compensation (at least 1) before the saga is `failed`.
    pub fn max_compensation_attempts(mut self, n: u32) -> StepSpec {
        self.max_compensation_attempts = n.max(1);
        self
    }

    /// The wait between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> StepSpec {
        self.backoff = backoff;
        self
    }

    /// The step's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The compensation's name.
    pub fn compensation(&self) -> &str {
        &self.compensation
    }

    /// The participant.
    pub fn participant(&self) -> &Arc<dyn Participant> {
        &self.participant
    }

    /// The call timeout.
    pub fn call_timeout(&self) -> Duration {
        self.timeout
    }

    /// Attempts at the step, or at its compensation.
    pub fn attempts_for(&self, action: Action) -> u32 {
        match action {
            Action::Do => self.max_attempts,
            Action::Undo => self.max_compensation_attempts,
        }
    }

    /// The retry backoff.
    pub fn retry_backoff(&self) -> Backoff {
        self.backoff
    }

    /// The name of `action` of this step.
    pub fn operation(&self, action: Action) -> &str {
        match action {
            Action::Do => &self.name,
            Action::Undo => &self.compensation,
        }
    }
}

/// A definition that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DefinitionError {
    /// The definition has no name.
    #[error("a saga definition needs a name")]
    NoName,
    /// The definition has no steps.
    #[error("saga definition `{0}` has no steps")]
    NoSteps(String),
    /// Two steps share a name (step names key the state, the outputs and idempotency keys).
    #[error("saga definition `{definition}` has two steps named `{step}`")]
    DuplicateStep {
        /// The definition.
        definition: String,
        /// The name.
        step: String,
    },
    /// A step name is empty or holds `:` (the idempotency key's separator).
    #[error("saga definition `{definition}`: invalid step name `{step}` (non-empty, no `:`)")]
    InvalidStepName {
        /// The definition.
        definition: String,
        /// The name.
        step: String,
    },
    /// Two definitions registered with one runner share a name.
    #[error("saga definition `{0}` is registered twice")]
    DuplicateDefinition(String),
}

/// A saga: a name and its steps, run in order; on a failure the completed steps are
/// compensated in reverse.
#[derive(Debug, Clone)]
pub struct SagaDefinition {
    name: String,
    steps: Vec<StepSpec>,
}

impl SagaDefinition {
    /// An empty definition named `name` (persisted with every saga of it).
    pub fn new(name: impl Into<String>) -> SagaDefinition {
        SagaDefinition {
            name: name.into(),
            steps: Vec::new(),
        }
    }

    /// Appends a step.
    pub fn step(mut self, step: StepSpec) -> SagaDefinition {
        self.steps.push(step);
        self
    }

    /// The definition's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[StepSpec] {
        &self.steps
    }

    /// The step named `name`.
    pub fn get(&self, name: &str) -> Option<&StepSpec> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// Checks the definition can run: a name, at least one step, unique valid step names.
    pub fn validate(&self) -> Result<(), DefinitionError> {
        if self.name.is_empty() {
            return Err(DefinitionError::NoName);
        }
        if self.steps.is_empty() {
            return Err(DefinitionError::NoSteps(self.name.clone()));
        }
        let mut seen = HashSet::new();
        for s in &self.steps {
            if s.name.is_empty() || s.name.contains(':') {
                return Err(DefinitionError::InvalidStepName {
                    definition: self.name.clone(),
                    step: s.name.clone(),
                });
            }
            if !seen.insert(s.name.as_str()) {
                return Err(DefinitionError::DuplicateStep {
                    definition: self.name.clone(),
                    step: s.name.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nobody;
    impl Participant for Nobody {
        fn call<'a>(&'a self, _: &'a StepRequest) -> StepFuture<'a> {
            Box::pin(async { Ok(StepOutput::none()) })
        }
    }

    fn spec(name: &str) -> StepSpec {
        StepSpec::new(name, format!("undo_{name}"), Arc::new(Nobody))
    }

    #[test]
    fn validation_names_what_is_wrong() {
        assert_eq!(
            SagaDefinition::new("").step(spec("a")).validate(),
            Err(DefinitionError::NoName)
        );
        assert_eq!(
            SagaDefinition::new("d").validate(),
            Err(DefinitionError::NoSteps("d".into()))
        );
        assert_eq!(
            SagaDefinition::new("d")
                .step(spec("a"))
                .step(spec("a"))
                .validate(),
            Err(DefinitionError::DuplicateStep {
                definition: "d".into(),
                step: "a".into()
            })
        );
        assert!(matches!(
            SagaDefinition::new("d").step(spec("a:b")).validate(),
            Err(DefinitionError::InvalidStepName { .. })
        ));
        assert!(SagaDefinition::new("d")
            .step(spec("a"))
            .step(spec("b"))
            .validate()
            .is_ok());
    }

    #[test]
    fn backoff_doubles_up_to_its_max() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(350),
        };
        assert_eq!(b.after(1), Duration::from_millis(100));
        assert_eq!(b.after(2), Duration::from_millis(200));
        assert_eq!(b.after(3), Duration::from_millis(350));
        assert_eq!(b.after(60), Duration::from_millis(350));
    }

    #[test]
    fn keys_and_requests() {
        let id = Uuid::nil();
        assert_eq!(step_key(id, "pay", Action::Undo), format!("{id}:pay:undo"));
        let r = StepRequest::new("d", id, "pay", "refund", Action::Undo);
        assert_eq!(r.idempotency_key, format!("{id}:pay:undo"));
        assert_eq!(r.attempt, 1);
    }
}
