//! The Confluent Schema Registry REST protocol, as data.
//!
//! **Owns:** the JSON bodies of the Confluent REST API as Rust types ([`RegisterSchemaRequest`],
//! [`SubjectVersion`], [`SchemaById`], [`ConfigUpdate`], [`Config`], [`ModeBody`],
//! [`CompatibilityCheck`], [`ErrorBody`], ...), the data-contract parts ([`Metadata`],
//! [`RuleSet`], [`Rule`]), schema references, the content type, and the error codes with the
//! HTTP status each one implies ([`codes`]). Field names, optional fields and the
//! `compatibility` / `compatibilityLevel` asymmetry follow Confluent's entities, so that a body
//! written by one side is read by the other (and by Confluent's own clients).
//!
//! **Does not own:** what the server does with a request (`evc-registry`), how the client talks
//! HTTP, caches and retries (`evc-registry-client`), schema parsing (`evc-schema`). It depends on
//! serde and serde_json only, so a client can depend on it without pulling in a server.
//!
//! Numbers that Confluent declares as 32-bit (`id`, `version`) are `i64` here so that a server
//! can read an out-of-range value and answer with Confluent's error code instead of a JSON
//! error; [`SchemaReference::version`] may be `-1` (the latest version) in a request.

mod bodies;
pub mod codes;
mod contract;

pub use bodies::{
    ClusterScope, CompatibilityCheck, Config, ConfigUpdate, ErrorBody, ModeBody,
    RegisterSchemaRequest, RegisterSchemaResponse, SchemaById, SchemaReference, ServerClusterId,
    ServerVersion, SubjectVersion, SubjectVersionPair,
};
pub use contract::{Metadata, Rule, RuleSet};

/// The content type Confluent's server answers with (and its clients send).
pub const CONTENT_TYPE_V1: &str = "application/vnd.schemaregistry.v1+json";

/// Request content types a Confluent server accepts (besides none at all).
pub const ACCEPTED_CONTENT_TYPES: &[&str] = &[
    "application/vnd.schemaregistry.v1+json",
    "application/vnd.schemaregistry+json",
    "application/json",
    "application/octet-stream",
];

/// The schema type every body implies when `schemaType` is absent.
pub const AVRO: &str = "AVRO";

/// The metadata property holding a schema version's number in data contracts: a registration
/// carrying it is a compare-and-set (the version it names must be the next one, or the one
/// already holding the schema).
pub const CONFLUENT_VERSION: &str = "confluent:version";

/// The metadata property listing reserved field names (comma-separated), enforced when the
/// subject's config has `validateFields`.
pub const CONFLUENT_RESERVED: &str = "confluent:reserved";
