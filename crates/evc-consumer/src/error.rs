//! Why a consumer could not be built or run.

use rdkafka::error::KafkaError;

/// A consumer that cannot start or go on (message-level failures never end up here: they are
/// retried or dead-lettered).
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The configuration is refused (by evc, see [`ConsumerConfig`](crate::ConsumerConfig)).
    #[error("invalid consumer configuration: {0}")]
    Config(String),
    /// librdkafka refused to create the client or to subscribe.
    #[error("Kafka error: {0}")]
    Kafka(#[source] KafkaError),
}
