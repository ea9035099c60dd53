//! A client for any Confluent-compatible schema registry (Confluent, Karapace, Redpanda,
//! Apicurio's ccompat API, evc's own `evc-registry`).
//!
//! **Owns:** talking to a registry over its REST API: registering a schema, looking one up under
//! a subject (`POST /subjects/{s}`), fetching a schema by id, the latest (or any) version of a
//! subject, and compatibility tests; the caches that keep the hot path free of HTTP (id → schema,
//! schema → id, subject + schema → id; failures are never cached); retries of transient failures
//! (connection errors, timeouts, 5xx, 429) with bounded exponential backoff; failover across
//! several base URLs; basic and bearer auth; typed errors carrying the Confluent error codes
//! ([`RegistryError`]); and `mock://NAME`, an in-process registry that is the real
//! `evc-registry` server with memory storage ([`mock`]).
//!
//! **Does not own:** the wire format and Avro encoding (`evc-wire`, `evc-avro`), schema parsing
//! and compatibility rules (`evc-schema`, `evc-compat`; the registry decides, the client only
//! asks), subject naming (generated events carry their subject), the registry server
//! (`evc-registry`), Kafka. Only Avro schemas without references are sent.
//!
//! ```no_run
//! # async fn run() -> Result<(), evc_registry_client::RegistryError> {
//! use evc_registry_client::RegistryClient;
//!
//! // Two registries: the second is tried when the first refuses the connection.
//! let client = RegistryClient::builder("http://sr-1:8081,http://sr-2:8081")
//!     .basic_auth("svc-orders", "secret")
//!     .build()?;
//! let schema = r#"{"type":"record","name":"Ping","fields":[{"name":"at","type":"long"}]}"#;
//! let id = client.register("pings-value", schema).await?.id;
//! assert_eq!(client.cached_id("pings-value", schema), Some(id)); // no HTTP from here on
//! let fetched = client.schema_by_id(id).await?;
//! # let _ = fetched;
//! # Ok(())
//! # }
//! ```
//!
//! Why this client and not `schema_registry_converter`'s registry calls: see `DESIGN.md` in this
//! crate.

mod client;
mod error;
#[cfg(feature = "mock")]
pub mod mock;
mod transport;
mod types;

pub use client::{Auth, ClientBuilder, RegistryClient, RetryPolicy, CONTENT_TYPE_V1};
pub use error::RegistryError;
pub use types::{
    CompatTarget, Compatibility, Registered, RegistrySchema, SchemaReference, SubjectVersion,
    Version,
};
