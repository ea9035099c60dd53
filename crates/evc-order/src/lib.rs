//! The `Order` aggregate of the order domain.
//!
//! **Owns:** the order's rules and its lifecycle (created → placed → paid → shipped, or
//! cancelled; see [`Status`]). [`Command`]s (`CreateOrder`, `AddItem`, `PlaceOrder`,
//! `PayOrder`, `ShipOrder`, `CancelOrder`) are validated against the current state
//! ([`Order::decide`]) and produce the generated events at their latest versions
//! ([`OrderEvent`]), or a typed [`OrderError`]. The
//! state is rebuilt by folding events ([`Order::apply`]), whatever schema version wrote them
//! (the `Deserializer` resolves old versions into the latest types). [`OrderService`] loads a
//! stream from the event store, folds, decides and appends with the expected version,
//! retrying once on a concurrency conflict, and runs a command at most once per event id
//! ([`OrderService::execute_once`]). [`summary::OrderSummaries`] is the order domain's read
//! model (`order_summaries`) for `evc-projection`. [`fulfillment`] is the `OrderFulfillment`
//! saga (reserve inventory → charge payment → create shipment → send confirmation,
//! compensated in reverse), one definition of `evc-saga`'s orchestrator, started by
//! `OrderPlaced` inside a consumer's transaction; its hooks turn step results into `PayOrder`,
//! `ShipOrder` and `CancelOrder`.
//!
//! **Does not own:** storage and concurrency ([`evc_eventstore`]), encoding
//! ([`evc_wire`]), publishing to Kafka, running sagas ([`evc_saga`]), the participant
//! services (anything behind [`evc_saga::Participant`]).
//!
//! Invariants of a decided order: `total_minor` is the sum of `quantity * unit_price_minor`
//! over its items; no item is added after placing; placed means non-empty; paid means placed
//! and paid exactly the total in the order's currency; shipped implies paid; cancelled is
//! final, and a shipped order is cancelled only with its shipment cancelled.

pub mod fulfillment;
mod order;
mod service;
pub mod summary;

pub use order::{
    AddItem, CancelOrder, Command, CreateOrder, EventMeta, FoldError, Item, Order, OrderError,
    OrderState, PayOrder, PlaceOrder, ShipOrder, Status,
};
pub use order_events::OrderEvent;
pub use service::{stream_id, Executed, OrderService, ServiceError};
