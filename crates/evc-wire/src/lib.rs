//! The Confluent wire format for Kafka keys and values, for evc's generated events.
//!
//! **Owns:** the framing (magic byte `0`, 4-byte big-endian schema id, Avro binary body:
//! [`frame`], [`unframe`], [`FrameError`]); the [`Serializer`], which encodes a generated event
//! with its compiled-in schema under the id the registry gives that schema (look-up only by
//! default, registering on first use when auto-registration is on); the [`Deserializer`], which
//! fetches each writer schema once, parses it once and resolves it into the reader's generated
//! type (single events or a topic's event enum), or into JSON for tools ([`avro_to_json`]); and
//! the typed errors of all that ([`WireError`]).
//!
//! **Does not own:** HTTP, caching ids and retries (`evc-registry-client`), Avro encoding and
//! the generated types' conversions (`evc-avro`), compatibility rules (`evc-compat`), Kafka
//! (headers, partitions, producing). Confluent's GUID framing (magic byte `1`) and schema ids
//! in Kafka headers are not read.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use evc_registry_client::RegistryClient;
//! use evc_wire::{Deserializer, Serializer};
//! # fn event() -> order_events::OrderCreated {
//! #     order_events::OrderCreated {
//! #         event_id: evc_avro::uuid::Uuid::from_u128(1),
//! #         order_id: evc_avro::uuid::Uuid::from_u128(2),
//! #         occurred_at: evc_avro::chrono::DateTime::from_timestamp_millis(0).unwrap(),
//! #         customer_id: "c".into(),
//! #         currency: "EUR".into(),
//! #         channel: order_events::order_created::v2::SalesChannel::Web,
//! #         shipping_address: None,
//! #     }
//! # }
//! let client = RegistryClient::new("mock://demo")?;
//! let producer = Serializer::new(client.clone()).auto_register(true); // development only
//! let bytes = producer.serialize(&event()).await?;
//!
//! let consumer = Deserializer::new(client);
//! let back: order_events::OrderCreated = consumer.deserialize(&bytes).await?;
//! let any: order_events::OrderEvent = consumer.deserialize_topic(&bytes).await?;
//! let json = consumer.decode_json(&bytes).await?; // {"type", "schema_id", "value"}
//! assert_eq!(back, event());
//! assert_eq!(json["type"], "com.acme.orders.OrderCreated");
//! # let _ = any;
//! # Ok(())
//! # }
//! ```

mod cache;
mod deserializer;
mod error;
mod frame;
mod json;
mod serializer;

pub use deserializer::{Deserializer, WriterSchema};
pub use error::WireError;
pub use frame::{
    frame, schema_id, unframe, write_header, FrameError, Framed, HEADER_LEN, MAGIC_BYTE,
};
pub use json::{avro_to_json, json_to_avro, JsonToAvroError};
pub use serializer::{encode_framed, encode_framed_into, Serializer};
