//! Why an event was not delivered.

use evc_transport::TransportError;
use evc_wire::WireError;
use uuid::Uuid;

use crate::Delivered;

/// A send that did not end with the broker's confirmation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// The event could not be turned into a message: schema not registered, registry down,
    /// a value its schema cannot hold.
    #[error("could not serialize the event: {0}")]
    Serialize(#[source] WireError),
    /// The transport did not confirm the message: the broker is unreachable, refused it or
    /// timed out, or the topic does not exist (topics are created on purpose, never by a
    /// send: their shard count decides ordering and parallelism).
    #[error("delivery to topic `{topic}` failed: {source}")]
    Delivery {
        topic: String,
        #[source]
        source: TransportError,
    },
    /// A setting evc enforces was overridden (see [`ProducerConfig`](crate::ProducerConfig)).
    #[error("invalid producer configuration: `{key}={value}` is refused: evc producers always run with `{key}={enforced}`")]
    Config {
        key: String,
        value: String,
        enforced: &'static str,
    },
    /// The broker URL is malformed, names a transport this build lacks, or the client could
    /// not be created.
    #[error("producer transport: {0}")]
    Transport(#[from] TransportError),
}

/// The first failure of a batch, with the event it concerns.
#[derive(Debug, thiserror::Error)]
#[error("event #{index} of the batch (`{event_type}`{}) failed: {source}", event_id.map(|id| format!(", id {id}")).unwrap_or_default())]
pub struct BatchError {
    /// Position of the failed event in the batch. When the transport refused the batch as a
    /// whole (it does not say which message failed), the first event's: see `delivered`.
    pub index: usize,
    pub event_id: Option<Uuid>,
    /// Full name of the failed event's type.
    pub event_type: &'static str,
    #[source]
    pub source: ProduceError,
    /// What happened to each event, in batch order: `Some` for the confirmed ones. Empty when
    /// the batch failed while encoding, before anything was sent, or when the transport
    /// refused it as a whole (some messages may have been delivered then: a retry of the
    /// batch is at-least-once).
    pub delivered: Vec<Option<Delivered>>,
}

impl BatchError {
    pub(crate) fn new(
        index: usize,
        event_id: Option<Uuid>,
        event_type: &'static str,
        source: ProduceError,
    ) -> BatchError {
        BatchError {
            index,
            event_id,
            event_type,
            source,
            delivered: Vec::new(),
        }
    }
}
