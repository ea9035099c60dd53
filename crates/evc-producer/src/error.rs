//! Why a record was not delivered.

use evc_wire::WireError;
use rdkafka::error::KafkaError;
use uuid::Uuid;

use crate::Delivered;

/// A send that did not end with the broker's acknowledgement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProduceError {
    /// The event could not be turned into a record: schema not registered, registry down,
    /// a value its schema cannot hold.
    #[error("could not serialize the event: {0}")]
    Serialize(#[source] WireError),
    /// librdkafka refused to enqueue the record (queue still full after the queue timeout,
    /// record too large, unknown topic or partition, ...).
    #[error("could not enqueue a record for topic `{topic}`: {source}")]
    Enqueue {
        topic: String,
        #[source]
        source: KafkaError,
    },
    /// The broker did not acknowledge the record (delivery timeout, not enough in-sync
    /// replicas, topic authorization, ...).
    #[error("delivery to topic `{topic}` failed: {source}")]
    Delivery {
        topic: String,
        #[source]
        source: KafkaError,
    },
    /// The producer went away before the record's outcome was known.
    #[error("the producer was dropped before delivery to topic `{topic}` was confirmed")]
    Canceled { topic: String },
    /// Not every record was delivered before the flush timeout.
    #[error("flush failed ({1}): {0}")]
    Flush(#[source] KafkaError, String),
    /// A setting evc enforces was overridden (see [`ProducerConfig`](crate::ProducerConfig)).
    #[error("invalid producer configuration: `{key}={value}` is refused: evc producers always run with `{key}={enforced}`")]
    Config {
        key: String,
        value: String,
        enforced: &'static str,
    },
    /// librdkafka could not create the producer (an unknown property, a bad value, ...).
    #[error("could not create the Kafka producer: {0}")]
    Client(#[source] KafkaError),
}

/// The first failure of a batch, with the event it concerns.
#[derive(Debug, thiserror::Error)]
#[error("event #{index} of the batch (`{event_type}`{}) failed: {source}", event_id.map(|id| format!(", id {id}")).unwrap_or_default())]
pub struct BatchError {
    /// Position of the failed event in the batch.
    pub index: usize,
    pub event_id: Option<Uuid>,
    /// Full name of the failed event's type.
    pub event_type: &'static str,
    #[source]
    pub source: ProduceError,
    /// What happened to each event, in batch order: `Some` for the acknowledged ones. Empty
    /// when the batch failed while encoding, before anything was sent.
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
