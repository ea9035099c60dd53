//! The order domain's `OrderFulfillment` saga, one definition of `evc-saga`'s generic
//! orchestrator: reserve inventory → charge payment → create shipment → send confirmation,
//! compensated in reverse by release inventory, refund payment, cancel shipment, send
//! cancellation.
//!
//! The saga id is the order id, so an `OrderPaid` delivered twice starts one saga
//! ([`start_in`] inside the consumer's transaction). Its input is [`FulfillmentInput`] as JSON;
//! the participants (inventory, payment, shipping, notification) are whatever implements
//! [`Participant`]: the demo and the tests use `evc_saga::simulated`. [`SagaStarter`] is the
//! consumer handler that starts it.

use std::sync::Arc;
use std::time::Duration;

use evc_consumer::{Handler, HandlerError, MessageMeta};
use evc_saga::{Participant, SagaDefinition, SagaError, SagaStore, StepSpec};
use evc_storage::sqlx::{Postgres, Sqlite, Transaction};
use evc_storage::{StorageError, TxRef};
use order_events::{OrderEvent, OrderPaid};
use serde_json::{json, Value};
use uuid::Uuid;

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
    /// The input for the saga of a paid order.
    pub fn from_paid(paid: &OrderPaid) -> FulfillmentInput {
        FulfillmentInput {
            order_id: paid.order_id,
            amount_minor: paid.amount.amount_minor,
            currency: paid.amount.currency.clone(),
        }
    }

    /// As the saga's JSON input.
    pub fn to_json(&self) -> Value {
        json!({
            "order_id": self.order_id.to_string(),
            "amount_minor": self.amount_minor,
            "currency": self.currency,
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
        })
    }
}

/// Starts the fulfillment saga of `paid` inside `tx` (an `evc-consumer` handler's
/// transaction); answers false when the order's saga exists already.
pub async fn start_in(
    store: &SagaStore,
    tx: &mut TxRef<'_>,
    definition: &SagaDefinition,
    paid: &OrderPaid,
) -> Result<bool, SagaError> {
    let input = FulfillmentInput::from_paid(paid).to_json();
    store.start_in(tx, paid.order_id, definition, &input).await
}

/// An `evc-consumer` handler of `orders` that starts the fulfillment saga of every
/// `OrderPaid` inside the consumer's transaction (so the saga exists exactly when the
/// processed-event marker commits, and a redelivered `OrderPaid` starts nothing); other
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
        let OrderEvent::OrderPaid(paid) = event else {
            return Ok(());
        };
        match start_in(&self.store, &mut tx, &self.definition, paid).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_round_trips_and_names_a_bad_field() {
        let input = FulfillmentInput {
            order_id: Uuid::new_v4(),
            amount_minor: 1999,
            currency: "EUR".into(),
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
