//! Why a message could not be written or read.

use evc_avro::{DecodeError, EncodeError};
use evc_registry_client::RegistryError;

use crate::FrameError;

/// A failure of the serializer or deserializer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Not a Confluent-framed message: wrong magic byte or fewer than 5 bytes.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The registry has no schema with the message's id (`40403`).
    #[error("unknown schema id {id}: the schema registry has no such schema ({source})")]
    UnknownSchemaId {
        id: u32,
        #[source]
        source: RegistryError,
    },
    /// The producer's schema is not registered under its subject and auto-registration is off.
    #[error("`{full_name}` is not registered under subject `{subject}` (auto-registration is off: register the schema first, or enable auto-registration for development): {source}")]
    NotRegistered {
        subject: &'static str,
        full_name: &'static str,
        #[source]
        source: RegistryError,
    },
    /// The registry could not be reached, or kept failing, after the client's retries.
    #[error("{0}")]
    RegistryUnavailable(#[source] RegistryError),
    /// Any other registry answer (incompatible schema on auto-registration, unauthorized, ...).
    #[error("{0}")]
    Registry(#[source] RegistryError),
    /// The registry's schema for the id is not an Avro schema evc can read.
    #[error("writer schema {id} cannot be used: {message}")]
    InvalidWriterSchema { id: u32, message: String },
    /// The writer schema cannot be resolved into the reader type (Avro schema resolution).
    #[error("writer schema {id} (`{writer}`) cannot be read as `{reader}`: {}", reasons.join("; "))]
    Unresolvable {
        id: u32,
        writer: String,
        reader: String,
        reasons: Vec<String>,
    },
    /// The message is an event type this consumer does not read.
    #[error("unknown event type `{full_name}` (writer schema {id}); this consumer reads {}", expected.join(", "))]
    UnknownEventType {
        id: u32,
        full_name: String,
        expected: Vec<String>,
    },
    /// The body does not decode with its writer schema (corrupt or truncated message).
    #[error("message body does not match writer schema {id}: {source}")]
    Decode {
        id: u32,
        #[source]
        source: DecodeError,
    },
    /// The event could not be encoded (a value its schema cannot hold).
    #[error("could not encode `{full_name}`: {source}")]
    Encode {
        full_name: String,
        #[source]
        source: EncodeError,
    },
}

impl WireError {
    /// The registry error behind a message fetched for `id`.
    pub(crate) fn fetching(id: u32, e: RegistryError) -> WireError {
        match e {
            e @ RegistryError::SchemaNotFound { .. } => {
                WireError::UnknownSchemaId { id, source: e }
            }
            e => WireError::from_registry(e),
        }
    }

    pub(crate) fn from_registry(e: RegistryError) -> WireError {
        if e.is_unavailable() {
            WireError::RegistryUnavailable(e)
        } else {
            WireError::Registry(e)
        }
    }

    /// Worth retrying later (the registry was down); every other error stays an error.
    pub fn is_transient(&self) -> bool {
        matches!(self, WireError::RegistryUnavailable(_))
    }
}
