//! The `Order` aggregate of the order domain.
//!
//! **Owns:** the order's rules. [`Command`]s (`CreateOrder`, `AddItem`, `PayOrder`,
//! `ShipOrder`) are validated against the current state ([`Order::decide`]) and produce the
//! generated events at their latest versions ([`OrderEvent`]), or a typed [`OrderError`]. The
//! state is rebuilt by folding events ([`Order::apply`]), whatever schema version wrote them
//! (the `Deserializer` resolves old versions into the latest types). [`OrderService`] loads a
//! stream from the event store, folds, decides and appends with the expected version,
//! retrying once on a concurrency conflict. [`summary::OrderSummaries`] is the order domain's
//! read model (`order_summaries`) for `evc-projection`. [`fulfillment`] is the
//! `OrderFulfillment` saga (reserve inventory → charge payment → create shipment → send
//! confirmation, compensated in reverse), one definition of `evc-saga`'s orchestrator.
//!
//! **Does not own:** storage and concurrency ([`evc_eventstore`]), encoding
//! ([`evc_wire`]), publishing to Kafka, pricing or payment capture.
//!
//! Invariants of a folded order: `total_minor` is the sum of `quantity * unit_price_minor`
//! over its items; no item is added after payment; paid means non-empty and paid exactly the
//! total in the order's currency; shipped implies paid.

pub mod fulfillment;
mod order;
mod service;
pub mod summary;

pub use order::{
    AddItem, Command, CreateOrder, EventMeta, FoldError, Item, Order, OrderError, OrderState,
    PayOrder, ShipOrder, Status,
};
pub use order_events::OrderEvent;
pub use service::{stream_id, Executed, OrderService, ServiceError};
