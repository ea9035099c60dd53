//! The runner: takes due sagas from the store and runs one step (or compensation) of one saga
//! at a time, outside any message handler.
//!
//! One `run_once`:
//! 1. In a serialized transaction ([`evc_storage::Database::serialized`]: an advisory lock on
//!    PostgreSQL, `BEGIN IMMEDIATE` on SQLite), take the oldest saga that is running or
//!    compensating, due (`next_run_at_ms <= now`) and not leased (no lease, or an expired
//!    one). Decide its next step; count the attempt and take the lease (owner, until) *before*
//!    the call, and commit. A crash during the call therefore counts as an attempt.
//! 2. Call the participant with the step's timeout, renewing the lease every third of its
//!    length. If a renewal finds the lease taken, the call is abandoned.
//! 3. In a serialized transaction, persist the result only if the runner still holds the lease
//!    for this attempt (same owner, same attempt count); release the lease.
//!
//! The lease is the fence: two runners never hold one saga at once, so one step is in flight
//! per saga. A runner that dies stops renewing; its lease expires and another runner takes the
//! saga over, calling the step again with the same idempotency key.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument as _;
use uuid::Uuid;

use crate::definition::{Action, SagaDefinition, StepError, StepRequest, StepSpec};
use crate::hooks::SagaHooks;
use crate::metrics::SagaMetrics;
use crate::state::{now_ms, Outcome, SagaError, SagaState, SagaStatus};
use crate::store::runner_ops as ops;
use crate::store::SagaStore;

const LOCK: &str = "evc-saga:runner";

/// Runner settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunnerConfig {
    /// This runner's name in `lease_owner` and the step log; unique per runner.
    pub owner: String,
    /// How long a lease holds without renewal: how soon another runner takes over the sagas
    /// of a runner that died. Renewed every third of it while a call is in flight.
    pub lease: Duration,
    /// How long [`SagaRunner::run`] sleeps when nothing is due.
    pub poll_interval: Duration,
}

impl RunnerConfig {
    /// A runner named `owner`: a 30 s lease, a 200 ms poll interval.
    pub fn new(owner: impl Into<String>) -> RunnerConfig {
        RunnerConfig {
            owner: owner.into(),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(200),
        }
    }

    /// The lease length (at least 30 ms).
    pub fn lease(mut self, lease: Duration) -> RunnerConfig {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// The idle poll interval.
    pub fn poll_interval(mut self, poll: Duration) -> RunnerConfig {
        self.poll_interval = poll;
        self
    }
}

impl Default for RunnerConfig {
    /// A runner named `runner-<uuid>`.
    fn default() -> Self {
        RunnerConfig::new(format!("runner-{}", Uuid::new_v4().simple()))
    }
}

type Observer = Arc<dyn Fn(&SagaState) + Send + Sync>;

/// Runs the sagas of its registered definitions; cheap to clone.
#[derive(Clone)]
pub struct SagaRunner {
    pub(crate) store: SagaStore,
    definitions: Arc<HashMap<String, SagaDefinition>>,
    names: Arc<Vec<String>>,
    config: RunnerConfig,
    pub(crate) hooks: Option<Arc<dyn SagaHooks>>,
    observer: Option<Observer>,
    metrics: Option<SagaMetrics>,
}

impl fmt::Debug for SagaRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SagaRunner")
            .field("definitions", &self.names)
            .field("config", &self.config)
            .field("hooks", &self.hooks.is_some())
            .finish_non_exhaustive()
    }
}

/// What to do with a claimed saga.
enum Next<'d> {
    Call(&'d StepSpec, Action),
    Settle,
}

impl SagaRunner {
    /// A runner on `store` with no definitions yet.
    pub fn new(store: SagaStore, config: RunnerConfig) -> SagaRunner {
        SagaRunner {
            store,
            definitions: Arc::default(),
            names: Arc::default(),
            config,
            hooks: None,
            observer: None,
            metrics: None,
        }
    }

    /// Runs the sagas of `definition` too (it must validate; names are unique per runner).
    pub fn register(mut self, definition: SagaDefinition) -> Result<SagaRunner, SagaError> {
        definition.validate()?;
        let name = definition.name().to_string();
        let defs = Arc::make_mut(&mut self.definitions);
        if defs.contains_key(&name) {
            return Err(crate::DefinitionError::DuplicateDefinition(name).into());
        }
        defs.insert(name.clone(), definition);
        Arc::make_mut(&mut self.names).push(name);
        Ok(self)
    }

    /// Delivers step results and outcomes to `hooks` (see [`SagaHooks`] for the guarantee).
    pub fn with_hooks(mut self, hooks: Arc<dyn SagaHooks>) -> SagaRunner {
        self.hooks = Some(hooks);
        self
    }

    /// Calls `f` with the state after every committed save (for logs and tests).
    pub fn on_persisted(mut self, f: impl Fn(&SagaState) + Send + Sync + 'static) -> SagaRunner {
        self.observer = Some(Arc::new(f));
        self
    }

    /// Records this runner's calls, compensations and finished sagas in `metrics`.
    pub fn with_metrics(mut self, metrics: SagaMetrics) -> SagaRunner {
        self.metrics = Some(metrics);
        self
    }

    /// The store.
    pub fn store(&self) -> &SagaStore {
        &self.store
    }

    /// The definition named `name`, if registered.
    pub fn definition(&self, name: &str) -> Option<&SagaDefinition> {
        self.definitions.get(name)
    }

    /// This runner's settings.
    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// Runs one step or compensation of one due saga (or settles a saga that needs no call);
    /// answers its state afterwards, or `None` when no saga was due.
    pub async fn run_once(&self) -> Result<Option<SagaState>, SagaError> {
        self.deliver_notifications().await?;
        let db = self.store.database();
        let now = now_ms();
        let mut tx = db.serialized(LOCK).await?;
        let Some(mut s) = ops::due(&mut tx, &self.names, now).await? else {
            return Ok(None);
        };
        let def = &self.definitions[&s.definition];
        let (spec, action) = match self.next(def, &mut s) {
            Next::Settle => {
                self.settle(&mut tx, def, &mut s).await?;
                ops::save(&mut tx, &mut s).await?;
                tx.commit().await?;
                self.persisted(&s).await?;
                return Ok(Some(s));
            }
            Next::Call(spec, action) => (spec, action),
        };
        if s.current_step.as_deref() != Some(spec.name()) {
            s.current_step = Some(spec.name().to_string());
            s.attempts = 0;
        }
        let max = spec.attempts_for(action);
        if s.attempts >= max {
            // attempts cut short by crashes (counted before each call) spent the budget
            let error = format!(
                "{} {} was attempted {} times without an answer",
                spec.operation(action),
                action,
                s.attempts
            );
            ops::log(
                &mut tx,
                s.saga_id,
                spec.name(),
                action,
                s.attempts,
                Outcome::AttemptsSpent,
                Some(&error),
                &self.config.owner,
            )
            .await?;
            if let Some(m) = &self.metrics {
                m.attempt(
                    def.name(),
                    spec.name(),
                    action,
                    Outcome::AttemptsSpent,
                    None,
                );
            }
            match action {
                Action::Do => self.begin_compensation(&mut s, Some(spec.name()), error),
                Action::Undo => fail(&mut s, error),
            }
            self.settle(&mut tx, def, &mut s).await?;
            ops::save(&mut tx, &mut s).await?;
            tx.commit().await?;
            self.persisted(&s).await?;
            return Ok(Some(s));
        }
        s.attempts += 1;
        s.lease_owner = Some(self.config.owner.clone());
        s.lease_until_ms = Some(now_ms() + millis(self.config.lease));
        ops::save(&mut tx, &mut s).await?;
        tx.commit().await?;
        if let Some(f) = &self.observer {
            f(&s);
        }

        let request = StepRequest::new(
            def.name(),
            s.saga_id,
            spec.name(),
            spec.operation(action),
            action,
        )
        .with_input(s.input.clone())
        .with_outputs(s.outputs.clone())
        .with_attempt(s.attempts);
        let span = tracing::info_span!(
            "saga.step",
            saga_id = %s.saga_id,
            definition = def.name(),
            step = spec.name(),
            action = %action,
            attempt = s.attempts,
        );
        if let Some(parent) = &s.trace_parent {
            match evc_telemetry::TraceContext::parse(parent, None) {
                Ok(ctx) => {
                    ctx.set_parent_of(&span);
                }
                Err(e) => {
                    tracing::debug!(saga_id = %s.saga_id, error = %e, "saga trace context ignored")
                }
            }
        }
        let started = std::time::Instant::now();
        let answer = self.call(spec, &request, s.attempts).instrument(span).await;
        let took = started.elapsed();

        let mut tx = db.serialized(LOCK).await?;
        let Some(mut cur) = ops::get(&mut tx, s.saga_id).await? else {
            return Err(SagaError::NotFound(s.saga_id));
        };
        let (outcome, error) = match &answer {
            None => (
                Outcome::LeaseLost,
                Some("lease lost during the call".to_string()),
            ),
            Some(Ok(_)) => (Outcome::Succeeded, None),
            Some(Err(Failure::Step(e @ StepError::Rejected { .. }))) => (
                Outcome::Rejected,
                Some(format!("{}: {e}", spec.operation(action))),
            ),
            Some(Err(Failure::Step(e))) => (
                Outcome::Unknown,
                Some(format!("{}: {e}", spec.operation(action))),
            ),
            Some(Err(Failure::Timeout)) => (
                Outcome::TimedOut,
                Some(format!(
                    "{} {action} timed out after {:?}",
                    spec.operation(action),
                    spec.call_timeout()
                )),
            ),
        };
        let held = cur.lease_owner.as_deref() == Some(self.config.owner.as_str())
            && cur.attempts == s.attempts
            && cur.current_step == s.current_step
            && cur.status == s.status;
        let logged = if held { outcome } else { Outcome::LeaseLost };
        if let Some(m) = &self.metrics {
            m.attempt(def.name(), spec.name(), action, logged, Some(took));
        }
        tracing::debug!(
            saga_id = %s.saga_id,
            definition = def.name(),
            step = spec.name(),
            action = %action,
            attempt = s.attempts,
            outcome = logged.name(),
            error = error.as_deref(),
            "saga step attempt"
        );
        ops::log(
            &mut tx,
            s.saga_id,
            spec.name(),
            action,
            s.attempts,
            logged,
            error.as_deref(),
            &self.config.owner,
        )
        .await?;
        if !held || answer.is_none() {
            tx.commit().await?;
            return Ok(Some(cur));
        }
        cur.lease_owner = None;
        cur.lease_until_ms = None;
        cur.next_run_at_ms = now_ms();
        let error = error.unwrap_or_default();
        match (answer, action) {
            (Some(Ok(output)), _) => {
                let output = output.0;
                if action == Action::Do {
                    cur.completed.push(spec.name().to_string());
                    cur.outputs.insert(spec.name().to_string(), output.clone());
                    cur.last_error = None;
                } else {
                    cur.compensated.push(spec.name().to_string());
                }
                cur.current_step = None;
                cur.attempts = 0;
                if self.hooks.is_some() {
                    let step = Some((spec.name(), action));
                    ops::notify(
                        &mut tx,
                        cur.saga_id,
                        def.name(),
                        "step",
                        step,
                        Some(&output),
                    )
                    .await?;
                }
            }
            (_, Action::Do) if outcome == Outcome::Rejected => {
                // a definite failure: nothing happened, so this step is not compensated
                self.begin_compensation(&mut cur, None, error);
            }
            (_, Action::Do) if cur.attempts < spec.attempts_for(Action::Do) => {
                cur.next_run_at_ms += millis(spec.retry_backoff().after(cur.attempts));
                cur.last_error = Some(error);
            }
            // the step may have happened: compensate it too
            (_, Action::Do) => self.begin_compensation(&mut cur, Some(spec.name()), error),
            (_, Action::Undo) if cur.attempts < spec.attempts_for(Action::Undo) => {
                cur.next_run_at_ms += millis(spec.retry_backoff().after(cur.attempts));
                cur.last_error = Some(error);
            }
            (_, Action::Undo) => fail(&mut cur, error),
        }
        self.settle(&mut tx, def, &mut cur).await?;
        ops::save(&mut tx, &mut cur).await?;
        tx.commit().await?;
        self.persisted(&cur).await?;
        Ok(Some(cur))
    }

    /// Runs sagas until none of the registered definitions is unfinished, waiting for retry
    /// backoffs and for other runners' leases (a dead runner's expire); answers how many
    /// transitions this runner made. Hook notifications that keep failing do not keep it
    /// running.
    pub async fn run_until_idle(&self) -> Result<usize, SagaError> {
        let mut n = 0;
        loop {
            if self.run_once().await?.is_some() {
                n += 1;
                continue;
            }
            let (unfinished, wake) = ops::pending(self.store.database(), &self.names).await?;
            if unfinished == 0 {
                return Ok(n);
            }
            let wait = wake.map_or(0, |w| w - now_ms()).max(1) as u64;
            let wait = Duration::from_millis(wait).min(self.config.poll_interval);
            tokio::time::sleep(wait).await;
        }
    }

    /// Runs sagas until `stop` completes (a background task). A step in flight when `stop`
    /// completes finishes first. Transient database errors are retried after the poll
    /// interval; other errors end the loop.
    pub async fn run(&self, stop: impl Future<Output = ()>) -> Result<(), SagaError> {
        let mut stop = std::pin::pin!(stop);
        loop {
            let worked = match self.run_once().await {
                Ok(s) => s.is_some(),
                Err(e) if e.is_transient() => false,
                Err(e) => return Err(e),
            };
            let pause = if worked {
                Duration::ZERO
            } else {
                self.config.poll_interval
            };
            tokio::select! {
                biased;
                _ = &mut stop => return Ok(()),
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    fn next<'d>(&self, def: &'d SagaDefinition, s: &mut SagaState) -> Next<'d> {
        let mismatch = |s: &mut SagaState, what: String| {
            fail(
                s,
                format!("saga no longer matches definition `{}`: {what}", def.name()),
            );
            Next::Settle
        };
        match s.status {
            SagaStatus::Running => {
                for (i, done) in s.completed.iter().enumerate() {
                    if def.steps().get(i).map(|st| st.name()) != Some(done.as_str()) {
                        return mismatch(s, format!("completed step {i} is `{done}`"));
                    }
                }
                match def.steps().get(s.completed.len()) {
                    Some(spec) => Next::Call(spec, Action::Do),
                    None => Next::Settle,
                }
            }
            SagaStatus::Compensating => {
                let next = s
                    .compensation_plan
                    .iter()
                    .find(|st| !s.compensated.contains(st))
                    .cloned();
                match next {
                    None => Next::Settle,
                    Some(name) => match def.get(&name) {
                        Some(spec) => Next::Call(spec, Action::Undo),
                        None => mismatch(s, format!("no step `{name}` to compensate")),
                    },
                }
            }
            _ => Next::Settle,
        }
    }

    fn begin_compensation(&self, s: &mut SagaState, uncertain: Option<&str>, error: String) {
        tracing::info!(saga_id = %s.saga_id, definition = %s.definition, error = %error, "saga compensating");
        if let Some(m) = &self.metrics {
            m.compensating(&s.definition);
        }
        let mut plan: Vec<String> = uncertain.map(str::to_string).into_iter().collect();
        plan.extend(s.completed.iter().rev().cloned());
        s.status = SagaStatus::Compensating;
        s.compensation_plan = plan;
        s.current_step = None;
        s.attempts = 0;
        s.last_error = Some(error);
        s.next_run_at_ms = now_ms();
    }

    /// Moves a saga with nothing left to do to its final state, and records the notification.
    async fn settle(
        &self,
        tx: &mut evc_storage::Tx,
        def: &SagaDefinition,
        s: &mut SagaState,
    ) -> Result<(), SagaError> {
        match s.status {
            SagaStatus::Running if s.completed.len() == def.steps().len() => {
                s.status = SagaStatus::Completed;
            }
            SagaStatus::Compensating
                if s.compensation_plan
                    .iter()
                    .all(|st| s.compensated.contains(st)) =>
            {
                s.status = SagaStatus::Compensated;
            }
            _ => {}
        }
        if s.status.is_final() {
            if let Some(m) = &self.metrics {
                m.finished(def.name(), s.status);
            }
            match s.status {
                SagaStatus::Failed => tracing::warn!(
                    saga_id = %s.saga_id,
                    definition = def.name(),
                    error = s.last_error.as_deref(),
                    "saga failed; it needs a human"
                ),
                status => tracing::info!(
                    saga_id = %s.saga_id,
                    definition = def.name(),
                    status = status.name(),
                    "saga {}",
                    status.name()
                ),
            }
            s.lease_owner = None;
            s.lease_until_ms = None;
            if s.status != SagaStatus::Failed {
                s.current_step = None;
                s.attempts = 0;
            }
            // only claimed (unfinished) sagas get here: this is the transition to final
            if self.hooks.is_some() {
                ops::notify(tx, s.saga_id, def.name(), "finished", None, None).await?;
            }
        }
        Ok(())
    }

    async fn persisted(&self, s: &SagaState) -> Result<(), SagaError> {
        if let Some(f) = &self.observer {
            f(s);
        }
        self.deliver_notifications().await?;
        Ok(())
    }

    /// Calls the participant with the step's timeout while renewing the lease; `None` when the
    /// lease was lost.
    async fn call(
        &self,
        spec: &StepSpec,
        request: &StepRequest,
        attempts: u32,
    ) -> Option<Result<crate::StepOutput, Failure>> {
        let call = tokio::time::timeout(spec.call_timeout(), spec.participant().call(request));
        let renew_every = self.config.lease / 3;
        let db = self.store.database();
        let heartbeat = async {
            loop {
                tokio::time::sleep(renew_every).await;
                let until = now_ms() + millis(self.config.lease);
                let renewed =
                    ops::renew(db, request.saga_id, &self.config.owner, attempts, until).await;
                // a database error is retried at the next beat; the persist will tell
                if let Ok(false) = renewed {
                    return;
                }
            }
        };
        tokio::select! {
            r = call => Some(match r {
                Ok(Ok(out)) => Ok(out),
                Ok(Err(e)) => Err(Failure::Step(e)),
                Err(_) => Err(Failure::Timeout),
            }),
            _ = heartbeat => None,
        }
    }
}

enum Failure {
    Step(StepError),
    Timeout,
}

fn fail(s: &mut SagaState, error: String) {
    s.status = SagaStatus::Failed;
    s.last_error = Some(error);
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

impl SagaError {
    /// True for failures that may pass by themselves (see
    /// [`evc_storage::StorageError::is_transient`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, SagaError::Storage(e) if e.is_transient())
    }
}
