//! Why a consumer could not be built or run.

use rdkafka::error::KafkaError;

/// A consumer that cannot start or go on (message-level failures never end up here: they are
/// retried or dead-lettered).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// A setting evc enforces was overridden (see [`ConsumerConfig`](crate::ConsumerConfig)).
    #[error("invalid consumer configuration: `{key}={value}` is refused: evc {who} always run with `{key}={enforced}`")]
    Config {
        key: String,
        value: String,
        enforced: &'static str,
        who: &'static str,
    },
    /// librdkafka refused to create the client or to subscribe.
    #[error("Kafka error: {0}")]
    Kafka(#[source] KafkaError),
}
