//! The order domain's `OrderFulfillment` saga, one definition of `evc-saga`'s generic
//! orchestrator: reserve inventory → charge payment → create shipment → send confirmation,
//! compensated in reverse by release inventory, refund payment, cancel shipment, send
//! cancellation.
//!
//! `OrderPlaced` starts it: the saga id is the order id, so an `OrderPlaced` delivered twice
//! starts one saga ([`start_in`] inside the consumer's transaction, committed with the
//! processed-event marker; [`SagaStarter`] is that consumer handler). Its input is
//! [`FulfillmentInput`] as JSON; the participants (inventory, payment, shipping,
//! notification) are whatever implements [`Participant`] (the demo and the tests use
//! `evc_saga::simulated`; fault injection lives there, not here). An `evc_saga::SagaRunner`
//! makes the calls, outside any message handler.
//!
//! The step results enter the order as commands, through [`FulfillmentHooks`] (evc-saga's
//! at-least-once hooks): payment charged → `PayOrder` with the participant's payment
//! reference; shipment created → `ShipOrder` with its tracking number; the saga compensated
//! (every completed step undone in reverse) → `CancelOrder` with the failure and the failed
//! step. Each command's event id is derived from the saga and the step
//! ([`command_event_id`]), and [`OrderService::execute_once`] appends at most one event per
//! id: a redelivered hook appends nothing.

use std::sync::Arc;
use std::time::Duration;

use evc_avro::chrono::{DateTime, Utc};
use evc_consumer::{Handler, HandlerError, MessageMeta};
use evc_saga::{
    Action, HookError, HookFuture, Participant, SagaDefinition, SagaError, SagaHooks, SagaState,
    SagaStatus, SagaStore, StepCompleted, StepSpec,
};
use evc_storage::sqlx::{Postgres, Sqlite, Transaction};
use evc_storage::{StorageError, TxRef};
use order_events::order_paid::v2::PaymentMethod;
use order_events::{OrderEvent, OrderPlaced};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::order::{CancelOrder, Command, EventMeta, PayOrder, ShipOrder};
use crate::service::OrderService;

/// The definition's name, persisted with every fulfillment saga.
pub const DEFINITION: &str = "order-fulfillment";

/// Reserve the order's items (compensation: [`RELEASE_INVENTORY`]).
pub const RESERVE_INVENTORY: &str = "reserve_inventory";
/// Release reserved items.
pub const RELEASE_INVENTORY: &str = "release_inventory";
/// Charge the amount (compensation: [`REFUND_PAYMENT`]).
pub const CHARGE_PAYMENT: &str = "charge_payment";
/// Refund a charge.
pub const REFUND_PAYMENT: &str = "refund_payment";
/// Create the shipment (compensation: [`CANCEL_SHIPMENT`]).
pub const CREATE_SHIPMENT: &str = "create_shipment";
/// Cancel a shipment.
pub const CANCEL_SHIPMENT: &str = "cancel_shipment";
/// Send the confirmation (compensation: [`SEND_CANCELLATION`]).
pub const SEND_CONFIRMATION: &str = "send_confirmation";
/// Tell the customer the order is cancelled.
pub const SEND_CANCELLATION: &str = "send_cancellation";

/// The steps in order, with their compensations.
pub const STEPS: [(&str, &str); 4] = [
    (RESERVE_INVENTORY, RELEASE_INVENTORY),
    (CHARGE_PAYMENT, REFUND_PAYMENT),
    (CREATE_SHIPMENT, CANCEL_SHIPMENT),
    (SEND_CONFIRMATION, SEND_CANCELLATION),
];

/// The compensation of `step`, if it is one of [`STEPS`].
pub fn compensation_of(step: &str) -> Option<&'static str> {
    STEPS
        .iter()
        .find(|(s, _)| *s == step)
        .map(|(_, undo)| *undo)
}

/// The services the saga calls.
#[derive(Clone)]
pub struct FulfillmentParticipants {
    /// Reserves and releases items.
    pub inventory: Arc<dyn Participant>,
    /// Charges and refunds.
    pub payment: Arc<dyn Participant>,
    /// Creates and cancels shipments.
    pub shipping: Arc<dyn Participant>,
    /// Sends confirmations and cancellations.
    pub notification: Arc<dyn Participant>,
}

/// The `OrderFulfillment` definition on `participants`, every call limited to `step_timeout`
/// (evc-saga's default attempts and backoff otherwise).
pub fn definition(participants: FulfillmentParticipants, step_timeout: Duration) -> SagaDefinition {
    let p = participants;
    let who = [p.inventory, p.payment, p.shipping, p.notification];
    STEPS
        .into_iter()
        .zip(who)
        .fold(SagaDefinition::new(DEFINITION), |d, ((step, undo), who)| {
            d.step(StepSpec::new(step, undo, who).timeout(step_timeout))
        })
}

/// What the saga needs to know about the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfillmentInput {
    /// The order (and the saga id).
    pub order_id: Uuid,
    /// The amount to charge, minor units.
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// What to reserve and ship: (sku, quantity).
    pub lines: Vec<(String, i32)>,
}

/// A saga input that is not a [`FulfillmentInput`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fulfillment input: field `{field}` is missing or not a {expected}")]
#[non_exhaustive]
pub struct InputError {
    /// The field.
    pub field: &'static str,
    /// What it should be.
    pub expected: &'static str,
}

impl FulfillmentInput {
    /// The input for the saga of a placed order.
    pub fn from_placed(placed: &OrderPlaced) -> FulfillmentInput {
        FulfillmentInput {
            order_id: placed.order_id,
            amount_minor: placed.total.amount_minor,
            currency: placed.total.currency.clone(),
            lines: placed
                .lines
                .iter()
                .map(|l| (l.sku.clone(), l.quantity))
                .collect(),
        }
    }

    /// As the saga's JSON input.
    pub fn to_json(&self) -> Value {
        json!({
            "order_id": self.order_id.to_string(),
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "lines": self
                .lines
                .iter()
                .map(|(sku, q)| json!({ "sku": sku, "quantity": q }))
                .collect::<Vec<_>>(),
        })
    }

    /// Back from the saga's JSON input.
    pub fn from_json(v: &Value) -> Result<FulfillmentInput, InputError> {
        let err = |field, expected| InputError { field, expected };
        Ok(FulfillmentInput {
            order_id: v["order_id"]
                .as_str()
                .and_then(|s| Uuid::parse_str(s).ok())
                .ok_or(err("order_id", "UUID string"))?,
            amount_minor: v["amount_minor"]
                .as_i64()
                .ok_or(err("amount_minor", "integer"))?,
            currency: v["currency"]
                .as_str()
                .ok_or(err("currency", "string"))?
                .to_string(),
            lines: v["lines"]
                .as_array()
                .ok_or(err("lines", "array"))?
                .iter()
                .map(|l| {
                    let sku = l["sku"].as_str().ok_or(err("lines[].sku", "string"))?;
                    let q = l["quantity"]
                        .as_i64()
                        .and_then(|q| i32::try_from(q).ok())
                        .ok_or(err("lines[].quantity", "32-bit integer"))?;
                    Ok((sku.to_string(), q))
                })
                .collect::<Result<_, InputError>>()?,
        })
    }
}

/// Starts the fulfillment saga of `placed` inside `tx` (an `evc-consumer` handler's
/// transaction); answers false when the order's saga exists already.
pub async fn start_in(
    store: &SagaStore,
    tx: &mut TxRef<'_>,
    definition: &SagaDefinition,
    placed: &OrderPlaced,
) -> Result<bool, SagaError> {
    let input = FulfillmentInput::from_placed(placed).to_json();
    store
        .start_in(tx, placed.order_id, definition, &input)
        .await
}

/// An `evc-consumer` handler of `orders` that starts the fulfillment saga of every
/// `OrderPlaced` inside the consumer's transaction (so the saga exists exactly when the
/// processed-event marker commits, and a redelivered `OrderPlaced` starts nothing); other
/// events are ignored. The store's tables must be in the consumer's database. A
/// `evc_saga::SagaRunner` runs the sagas.
#[derive(Debug, Clone)]
pub struct SagaStarter {
    store: SagaStore,
    definition: SagaDefinition,
}

impl SagaStarter {
    /// Starts sagas of `definition` in `store`.
    pub fn new(store: SagaStore, definition: SagaDefinition) -> SagaStarter {
        SagaStarter { store, definition }
    }

    async fn start(&self, mut tx: TxRef<'_>, event: &OrderEvent) -> Result<(), HandlerError> {
        let OrderEvent::OrderPlaced(placed) = event else {
            return Ok(());
        };
        match start_in(&self.store, &mut tx, &self.definition, placed).await {
            Ok(_) => Ok(()),
            // a database failure stays transient for the consumer (retried, never
            // dead-lettered)
            Err(SagaError::Storage(StorageError::Database(e))) => Err(e.into_sqlx().into()),
            Err(e) => Err(HandlerError::new("evc_saga::SagaError", e.to_string()).permanent()),
        }
    }
}

impl Handler<OrderEvent, Sqlite> for SagaStarter {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        event: &OrderEvent,
        _meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        self.start(TxRef::from(tx), event).await
    }
}

impl Handler<OrderEvent, Postgres> for SagaStarter {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        event: &OrderEvent,
        _meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        self.start(TxRef::from(tx), event).await
    }
}

/// The id of the event the hooks' command `purpose` (`pay`, `ship`, `cancel`) produces for
/// saga `saga_id`: the same on every delivery of the hook, different per saga and purpose (a
/// 128-bit FNV-1a of `saga_id:purpose`, as a version 8 UUID).
pub fn command_event_id(saga_id: Uuid, purpose: &str) -> Uuid {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in format!("{saga_id}:{purpose}").bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    uuid::Builder::from_custom_bytes(h.to_be_bytes()).into_uuid()
}

/// Turns the fulfillment saga's results into order commands (an `evc_saga::SagaHooks` for the
/// runner of [`DEFINITION`]):
///
/// | notification          | command                                                      |
/// |-----------------------|--------------------------------------------------------------|
/// | `charge_payment` done | `PayOrder`: the placed total, output `reference` as payment reference |
/// | `create_shipment` done| `ShipOrder`: output `tracking_number` (else `reference`), `carrier` (else `service`) |
/// | saga `compensated`    | `CancelOrder`: the saga's last error as reason, the failed step |
///
/// Other notifications change nothing (a saga that `failed` to compensate needs a human; its
/// order stays as it is). Every command runs through [`OrderService::execute_once`] with
/// [`command_event_id`], so a redelivery appends nothing; a refused command is a
/// [`HookError`] (delivered again later, and the saga's later notifications wait).
#[derive(Debug, Clone)]
pub struct FulfillmentHooks {
    orders: Arc<OrderService>,
}

impl FulfillmentHooks {
    /// Hooks that run the commands on `orders`.
    pub fn new(orders: Arc<OrderService>) -> FulfillmentHooks {
        FulfillmentHooks { orders }
    }

    async fn run(&self, saga_id: Uuid, purpose: &str, command: Command) -> Result<(), HookError> {
        let meta = EventMeta {
            event_id: command_event_id(saga_id, purpose),
            occurred_at: now_millis(),
        };
        match self.orders.execute_once(&command, meta).await {
            Ok(_) => Ok(()),
            Err(e) => Err(HookError::new(format!("order {saga_id}: {purpose}: {e}"))),
        }
    }

    /// The command a completed step asks for, if any. The amount paid is the placed order's
    /// total, which is what the saga's input asked the payment participant to charge.
    pub async fn command_for_step(
        &self,
        event: &StepCompleted,
    ) -> Result<Option<(&'static str, Command)>, HookError> {
        if event.definition != DEFINITION || event.action != Action::Do {
            return Ok(None);
        }
        let out = &event.output;
        let text = |key: &str| out[key].as_str().map(str::to_string);
        match event.step.as_str() {
            CHARGE_PAYMENT => {
                let order = self.orders.load(event.saga_id).await.map_err(|e| {
                    HookError::new(format!("order {}: loading: {e}", event.saga_id))
                })?;
                let state = order.state().ok_or_else(|| {
                    HookError::new(format!("order {} does not exist", event.saga_id))
                })?;
                Ok(Some((
                    "pay",
                    Command::Pay(PayOrder {
                        order_id: event.saga_id,
                        amount_minor: state.total_minor,
                        currency: state.currency.clone(),
                        method: PaymentMethod::Card,
                        payment_reference: text("reference"),
                    }),
                )))
            }
            CREATE_SHIPMENT => {
                let tracking = text("tracking_number")
                    .or_else(|| text("reference"))
                    .ok_or_else(|| {
                        HookError::new(format!(
                            "order {}: create_shipment answered neither tracking_number nor \
                             reference: {out}",
                            event.saga_id
                        ))
                    })?;
                Ok(Some((
                    "ship",
                    Command::Ship(ShipOrder {
                        order_id: event.saga_id,
                        carrier: text("carrier")
                            .or_else(|| text("service"))
                            .unwrap_or_else(|| "unknown".into()),
                        tracking_number: tracking,
                        estimated_delivery: None,
                    }),
                )))
            }
            _ => Ok(None),
        }
    }

    /// The command a finished saga asks for, if any.
    pub fn command_for_outcome(saga: &SagaState) -> Option<(&'static str, Command)> {
        if saga.definition != DEFINITION || saga.status != SagaStatus::Compensated {
            return None;
        }
        // the step that failed is the one after the completed ones (an uncertain step is
        // compensated but never counted as completed)
        let failed = STEPS.get(saga.completed.len()).map(|(s, _)| s.to_string());
        Some((
            "cancel",
            Command::Cancel(CancelOrder {
                order_id: saga.saga_id,
                reason: saga
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "fulfillment failed".into()),
                failed_step: failed,
                shipment_cancelled: saga.compensated.iter().any(|s| s == CREATE_SHIPMENT),
            }),
        ))
    }
}

fn now_millis() -> DateTime<Utc> {
    EventMeta::now().occurred_at
}

impl SagaHooks for FulfillmentHooks {
    fn step_completed<'a>(&'a self, event: &'a StepCompleted) -> HookFuture<'a> {
        Box::pin(async move {
            match self.command_for_step(event).await? {
                Some((purpose, command)) => self.run(event.saga_id, purpose, command).await,
                None => Ok(()),
            }
        })
    }

    fn saga_finished<'a>(&'a self, saga: &'a SagaState) -> HookFuture<'a> {
        Box::pin(async move {
            match Self::command_for_outcome(saga) {
                Some((purpose, command)) => self.run(saga.saga_id, purpose, command).await,
                None => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_event_ids_are_stable_and_distinct() {
        let a = Uuid::from_u128(1);
        assert_eq!(command_event_id(a, "pay"), command_event_id(a, "pay"));
        assert_ne!(command_event_id(a, "pay"), command_event_id(a, "ship"));
        assert_ne!(
            command_event_id(a, "pay"),
            command_event_id(Uuid::from_u128(2), "pay")
        );
    }

    #[test]
    fn input_round_trips_and_names_a_bad_field() {
        let input = FulfillmentInput {
            order_id: Uuid::new_v4(),
            amount_minor: 1999,
            currency: "EUR".into(),
            lines: vec![("BOOK".into(), 2)],
        };
        assert_eq!(FulfillmentInput::from_json(&input.to_json()), Ok(input));
        let err = FulfillmentInput::from_json(&json!({ "order_id": "x" })).unwrap_err();
        assert_eq!(err.field, "order_id");
        assert!(err.to_string().contains("UUID"), "{err}");
    }

    #[test]
    fn every_step_has_its_compensation() {
        assert_eq!(compensation_of(CHARGE_PAYMENT), Some(REFUND_PAYMENT));
        assert_eq!(compensation_of("teleport"), None);
    }
}
