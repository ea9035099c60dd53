//! Hooks: step results and final outcomes handed to the application, at least once.
//!
//! A transition's notification (`saga_notifications`) is written in the transition's own
//! transaction and removed only after the hook answered `Ok`, so no result is lost and none is
//! delivered before its transition committed.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use serde_json::Value;
use uuid::Uuid;

use crate::definition::Action;
use crate::runner::SagaRunner;
use crate::state::{SagaError, SagaState};
use crate::store::runner_ops as ops;

/// A step or compensation that completed, as the hooks see it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StepCompleted {
    /// The saga.
    pub saga_id: Uuid,
    /// Its definition.
    pub definition: String,
    /// The step.
    pub step: String,
    /// Do (the step) or undo (its compensation).
    pub action: Action,
    /// What the participant answered.
    pub output: Value,
}

/// A hook refused a notification; it is delivered again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("saga hook failed: {message}")]
#[non_exhaustive]
pub struct HookError {
    /// Why.
    pub message: String,
}

impl HookError {
    /// A hook failure.
    pub fn new(message: impl Into<String>) -> HookError {
        HookError {
            message: message.into(),
        }
    }
}

/// The future a hook returns.
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = Result<(), HookError>> + Send + 'a>>;

/// Called with step results and final outcomes, to turn them into the application's commands.
///
/// **Delivery is at least once, in order per saga.** A transition's notification is written
/// in the same transaction as the transition, and removed only after the hook answered `Ok`;
/// the runner delivers pending notifications after each transition and at the start of each
/// [`SagaRunner::run_once`]. A hook that fails, or a process that dies before the removal,
/// gets the notification again (a runner delivers a saga's notifications oldest first and
/// stops at a failed one); two runners may deliver one notification twice, so a duplicate can
/// arrive after a later notification. Hooks must therefore be idempotent (for
/// example a command keyed by saga and step). Notifications are recorded only by runners that
/// have hooks: give every runner of a database the same hooks.
pub trait SagaHooks: Send + Sync + 'static {
    /// A step or compensation completed.
    fn step_completed<'a>(&'a self, _event: &'a StepCompleted) -> HookFuture<'a> {
        Box::pin(async { Ok(()) })
    }

    /// A saga reached a final state (completed, compensated or failed).
    fn saga_finished<'a>(&'a self, _saga: &'a SagaState) -> HookFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

impl SagaRunner {
    /// Delivers pending hook notifications (oldest first, at most 100); answers how many were
    /// delivered. A failed one stops its saga's later notifications until the next call.
    pub async fn deliver_notifications(&self) -> Result<usize, SagaError> {
        let Some(hooks) = &self.hooks else {
            return Ok(0);
        };
        let db = self.store.database();
        let mut blocked = HashSet::new();
        let mut delivered = 0;
        for p in ops::pending_notifications(db, 100).await? {
            if blocked.contains(&p.saga_id) {
                continue;
            }
            let result = match (p.kind.as_str(), p.step, p.action) {
                ("step", Some(step), Some(action)) => {
                    let event = StepCompleted {
                        saga_id: p.saga_id,
                        definition: p.definition,
                        step,
                        action,
                        output: p.output.unwrap_or(Value::Null),
                    };
                    hooks.step_completed(&event).await
                }
                ("finished", _, _) => match self.store.find(p.saga_id).await? {
                    Some(s) => hooks.saga_finished(&s).await,
                    None => Ok(()),
                },
                // a kind this build does not know (written by a newer one): leave it
                _ => Err(HookError::new(format!("unknown notification `{}`", p.kind))),
            };
            match result {
                Ok(()) => {
                    ops::delivered(db, p.seq).await?;
                    delivered += 1;
                }
                Err(_) => {
                    blocked.insert(p.saga_id);
                }
            }
        }
        Ok(delivered)
    }
}
