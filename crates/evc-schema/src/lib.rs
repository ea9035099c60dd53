//! evc's own Avro schema model.
//!
//! **Owns:** reading schema JSON with source positions ([`json`]), parsing it into a model that
//! keeps every attribute and where it came from ([`Schema`], [`Ty`], [`Named`]), the Parsing
//! Canonical Form and CRC-64-AVRO fingerprints, and writing a schema back out as JSON (including
//! a form the `apache-avro` crate accepts).
//!
//! **Does not own:** files and directories (`evc-catalog`), compatibility (`evc-compat`),
//! encoding data (`evc-avro`), code generation (`evc-codegen`). It has no I/O at all.
//!
//! Why not `apache_avro::Schema`? It forgets positions (so diagnostics cannot point at a line),
//! and version 0.21 rejects some valid schemas (`error` records, `uuid` on `fixed`). This model
//! follows the Avro 1.12 specification and the checks Avro Java's parser makes.
//!
//! ```
//! use evc_schema::{Schema, TyKind};
//!
//! let text = r#"{"type": "record", "name": "Ping", "namespace": "demo",
//!                "fields": [{"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}"#;
//! let schema = Schema::parse(text).unwrap();
//! let ping = schema.root_named().unwrap();
//! assert_eq!(ping.name.fullname(), "demo.Ping");
//! assert_eq!(ping.fields()[0].ty.pointer, "/fields/0/type");
//! assert!(matches!(ping.fields()[0].ty.kind, TyKind::Long));
//! assert_eq!(schema.fingerprint(), evc_schema::rabin64(schema.canonical_form().as_bytes()));
//! ```

pub mod canonical;
mod defaults;
pub mod json;
pub mod model;
pub mod parse;

pub use canonical::{rabin64, ApacheAvroLimit, CRC64_AVRO_EMPTY};
pub use defaults::{float_default, validate_default, DefaultError, FloatDefault};
pub use model::*;
pub use parse::{max_decimal_digits, ParseOptions, SchemaError};
