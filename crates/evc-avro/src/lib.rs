//! Runtime support for evc-generated event types.
//!
//! **Owns:** the traits generated types implement ([`AvroValue`], [`AvroSchema`], [`Event`],
//! [`TopicEvent`]), conversions between Rust values and `apache_avro::types::Value` ([`conv`]),
//! loading a schema text into an `apache_avro::Schema` (through evc's own model, so schemas the
//! crate cannot parse directly still work), and plain Avro binary encode/decode with schema
//! resolution ([`encode`], [`decode`], [`decode_with_writer`]).
//!
//! **Does not own:** the Confluent wire format and registry ids (the wire-format/registry
//! crates), Kafka, schema files, or compatibility rules.
//!
//! ```
//! use evc_avro::{load_schema, apache_avro::types::Value};
//!
//! // apache-avro 0.21 alone rejects `error`; evc lowers it to the same binary encoding first.
//! let schema = load_schema(r#"{"type":"error","name":"Oops","fields":[{"name":"code","type":"int"}]}"#).unwrap();
//! let bytes = apache_avro::to_avro_datum(&schema, Value::Record(vec![("code".into(), Value::Int(7))])).unwrap();
//! assert_eq!(bytes, [14]);
//! ```

pub mod binary;
pub mod conv;
mod error;
pub mod resolve;

pub use binary::AvroBinary;
pub use error::{DecodeError, EncodeError, Path, SchemaLoadError};

pub use apache_avro;
pub use bigdecimal;
pub use chrono;
pub use indexmap;
pub use uuid;

use apache_avro::types::Value;

/// The Rust type of an Avro `map`: string keys, entries in insertion order. Decoding keeps the
/// order the entries were written in, so decode → encode gives the same bytes (a `HashMap`
/// would reorder them); equality ignores the order, as for any map.
pub type AvroMap<V> = indexmap::IndexMap<String, V>;

/// An Avro `duration`: months, days and milliseconds, each an unsigned 32-bit count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Duration {
    pub months: u32,
    pub days: u32,
    pub millis: u32,
}

/// A Rust type that converts to and from an Avro value of its schema.
pub trait AvroValue: Sized {
    fn to_avro_value(&self) -> Result<Value, EncodeError>;
    fn from_avro_value(value: Value) -> Result<Self, DecodeError>;
}

impl<T: AvroValue> AvroValue for Box<T> {
    fn to_avro_value(&self) -> Result<Value, EncodeError> {
        (**self).to_avro_value()
    }
    fn from_avro_value(value: Value) -> Result<Self, DecodeError> {
        T::from_avro_value(value).map(Box::new)
    }
}

/// A type that carries its own schema (generated top-level types do).
pub trait AvroSchema {
    /// The schema as JSON, every attribute kept; this is what gets registered.
    const SCHEMA_JSON: &'static str;
    /// Full name of the top-level type (or the type name of a non-named schema).
    const FULL_NAME: &'static str;
    /// CRC-64-AVRO (Rabin) fingerprint of the schema's Parsing Canonical Form.
    const FINGERPRINT: u64;
    /// The parsed schema, built once.
    fn schema() -> &'static apache_avro::Schema;
}

/// One version of an event type.
pub trait Event: AvroSchema + AvroValue + AvroBinary {
    /// The Kafka topic the event is published on.
    const TOPIC: &'static str;
    /// The registry subject, from the configured subject name strategy.
    const SUBJECT: &'static str;
    /// The schema version (the `vN.avsc` it was generated from).
    const VERSION: u32;
    /// The Kafka message key: every event of one entity gets the same key, hence one partition.
    fn partition_key(&self) -> String;
    /// The event's unique id, when the schema has the envelope's id field.
    fn event_id(&self) -> Option<uuid::Uuid> {
        None
    }
}

/// Every event type of one topic, as one enum of their latest versions.
pub trait TopicEvent: Sized {
    const TOPIC: &'static str;
    /// Full names of the event types, in declaration order.
    const FULL_NAMES: &'static [&'static str];
    /// Full name of this value's event type.
    fn full_name(&self) -> &'static str;
    /// Registry subject of this value's event type.
    fn subject(&self) -> &'static str;
    fn partition_key(&self) -> String;
    fn event_id(&self) -> Option<uuid::Uuid>;
    /// The latest schema of this value's event type.
    fn schema(&self) -> &'static apache_avro::Schema;
    /// The schema text of this value's event type (what gets registered and looked up).
    fn schema_json(&self) -> &'static str;
    /// The schema version (`vN.avsc`) of this value's event type.
    fn version(&self) -> u32;
    /// Appends the Avro binary encoding of the event (its generated encoder; no `Value` tree).
    fn write_avro(&self, out: &mut Vec<u8>) -> Result<(), EncodeError>;
    fn to_avro_value(&self) -> Result<Value, EncodeError>;
    /// The reader schema (latest version) for an event type of this topic.
    fn reader_schema(full_name: &str) -> Option<&'static apache_avro::Schema>;
    /// Builds the event from a value already resolved to `reader_schema(full_name)`.
    fn from_avro_value(full_name: &str, value: Value) -> Result<Self, DecodeError>;
    /// Decodes Avro binary of `reader_schema(full_name)` with that type's generated decoder.
    fn decode_binary(full_name: &str, bytes: &[u8]) -> Result<Self, DecodeError>;
}

/// Parses a schema text into an `apache_avro::Schema`, through evc's model.
pub fn load_schema(text: &str) -> Result<apache_avro::Schema, SchemaLoadError> {
    let model = evc_schema::Schema::parse(text)?;
    load_model(&model)
}

/// Turns an evc schema model into an `apache_avro::Schema`.
pub fn load_model(model: &evc_schema::Schema) -> Result<apache_avro::Schema, SchemaLoadError> {
    if let Some(limit) = model.apache_avro_limit() {
        return Err(SchemaLoadError::ApacheAvro(limit));
    }
    apache_avro::Schema::parse(&model.to_apache_avro_json())
        .map_err(|e| SchemaLoadError::Avro(Box::new(e)))
}

/// Encodes `value` as Avro binary with its own schema.
pub fn encode<T: AvroSchema + AvroValue>(value: &T) -> Result<Vec<u8>, EncodeError> {
    let v = value.to_avro_value()?;
    apache_avro::to_avro_datum(T::schema(), v).map_err(|e| EncodeError::Avro(Box::new(e)))
}

/// Decodes Avro binary written with `T`'s own schema.
pub fn decode<T: AvroSchema + AvroValue>(bytes: &[u8]) -> Result<T, DecodeError> {
    decode_value(bytes, T::schema(), None).and_then(T::from_avro_value)
}

/// Decodes Avro binary written with `writer`, resolving it into `T`'s schema.
pub fn decode_with_writer<T: AvroSchema + AvroValue>(
    bytes: &[u8],
    writer: &apache_avro::Schema,
) -> Result<T, DecodeError> {
    decode_value(bytes, writer, Some(T::schema())).and_then(T::from_avro_value)
}

/// Decodes one datum into a value, refusing trailing bytes (they would be silently lost).
pub fn decode_value(
    bytes: &[u8],
    writer: &apache_avro::Schema,
    reader: Option<&apache_avro::Schema>,
) -> Result<Value, DecodeError> {
    let mut rest = bytes;
    let v = apache_avro::from_avro_datum(writer, &mut rest, reader)
        .map_err(|e| DecodeError::Avro(Box::new(e)))?;
    if !rest.is_empty() {
        return Err(DecodeError::invalid(format!(
            "{} bytes left over after the datum: the bytes were not written with this schema",
            rest.len()
        )));
    }
    Ok(v)
}
