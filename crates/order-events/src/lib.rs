//! The order domain's events, generated from `schemas/com.acme.orders/` by
//! `cargo xtask codegen`. Nothing in `generated/` is written by hand.
//!
//! **Owns:** the typed events (`OrderCreated`, `ItemAdded`, `OrderPaid`, `OrderShipped`), every
//! version in its own module (`v1::OrderCreated`, `v2::OrderCreated`), the latest re-exported
//! here, and [`OrderEvent`], every event of the `orders` topic.
//!
//! **Does not own:** how events are framed, registered or sent (the wire-format, registry,
//! producer and consumer crates), or what they mean to the domain.
//!
//! Each type knows its schema, fingerprint, subject and partition key:
//!
//! ```text
//! use evc_avro::{AvroSchema, Event};
//! use order_events::OrderCreated;
//! assert_eq!(OrderCreated::SUBJECT, "orders-com.acme.orders.OrderCreated");
//! ```

mod generated;

pub use generated::*;
