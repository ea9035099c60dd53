//! Dead letters: the headers a dead-lettered message carries (one definition, evc-transport's,
//! the same on every transport), why a message is poison, and replaying a dead-letter
//! destination into its source topic.

use evc_transport::{Transport, TransportError};
use evc_wire::{FrameError, WireError};

/// The headers added to a dead-lettered message (next to the original headers, which are
/// kept), all UTF-8 strings, under one prefix so a replay strips them all: evc-transport's
/// definition, re-exported. Modelled on Spring Kafka's `kafka_dlt-*` and Kafka Connect's
/// `__connect.errors.*` headers.
pub use evc_transport::headers;

pub use evc_transport::ReplayReport;

/// Where processing gave up on a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The value could not be read as an event (poison message).
    Deserialize,
    /// The handler kept failing, or failed permanently.
    Handle,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Deserialize => "deserialize",
            Stage::Handle => "handle",
        }
    }
}

/// The class of a message without a value (a Kafka tombstone, an empty payload): never an
/// event.
pub const NULL_VALUE_CLASS: &str = "evc_consumer::NullValue";

/// Why a value could not be decoded: poison (dead-letter it now) or transient (try again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeFailure {
    Poison { class: &'static str },
    Transient,
}

/// Poison: the bytes themselves are wrong (framing, unknown schema id, a schema that cannot be
/// read, a body that does not decode, an event type this consumer does not read). Transient:
/// the registry could not be asked, or answered an error that is not about the message
/// (unauthorized, a 5xx after the client's retries, a malformed answer).
pub(crate) fn classify(e: &WireError) -> DecodeFailure {
    let poison = |class| DecodeFailure::Poison { class };
    match e {
        WireError::Frame(FrameError::TooShort { .. }) => poison("evc_wire::FrameError::TooShort"),
        WireError::Frame(FrameError::WrongMagicByte { .. }) => {
            poison("evc_wire::FrameError::WrongMagicByte")
        }
        WireError::UnknownSchemaId { .. } => poison("evc_wire::WireError::UnknownSchemaId"),
        WireError::InvalidWriterSchema { .. } => poison("evc_wire::WireError::InvalidWriterSchema"),
        WireError::Unresolvable { .. } => poison("evc_wire::WireError::Unresolvable"),
        WireError::UnknownEventType { .. } => poison("evc_wire::WireError::UnknownEventType"),
        WireError::Decode { .. } => poison("evc_wire::WireError::Decode"),
        WireError::Encode { .. } => poison("evc_wire::WireError::Encode"),
        WireError::NotRegistered { .. } => poison("evc_wire::WireError::NotRegistered"),
        // any other framing problem is about the bytes too
        WireError::Frame(_) => poison("evc_wire::FrameError"),
        WireError::RegistryUnavailable(_) | WireError::Registry(_) => DecodeFailure::Transient,
        // a kind of failure this build does not know: retried, never dropped or dead-lettered
        _ => DecodeFailure::Transient,
    }
}

/// What [`replay_dlq`] replays.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    broker: String,
    dlq_topic: String,
}

impl ReplayConfig {
    /// Replays `dlq_topic` (`<topic>.dlq`) on `broker` (a Kafka bootstrap list, `redis://...`,
    /// `amqp://...`). Progress is kept by the transport (on Kafka the group
    /// `<dlq_topic>.replay`), so a replay run twice does not send the same dead letter twice.
    pub fn new(broker: impl Into<String>, dlq_topic: impl Into<String>) -> Self {
        ReplayConfig {
            broker: broker.into(),
            dlq_topic: dlq_topic.into(),
        }
    }

    /// The topic whose dead letters these are.
    fn source_topic(&self) -> Result<&str, ReplayError> {
        self.dlq_topic
            .strip_suffix(".dlq")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ReplayError::NotADeadLetterTopic {
                topic: self.dlq_topic.clone(),
            })
    }
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    #[error("`{topic}` is not a dead-letter destination (its name must be `<topic>.dlq`)")]
    NotADeadLetterTopic { topic: String },
    #[error("replaying dead letters: {0}")]
    Transport(#[from] TransportError),
}

/// Replays a dead-letter destination into the topics its messages came from: every message
/// present when the replay starts, from where the previous replay stopped, is published again
/// with its key, value and original headers (the `evc.dlq.*` headers stripped) to its
/// `evc.dlq.original.topic`, in order, each confirmed by the broker before the replay moves
/// past it. A failed replay can be run again and resumes there.
///
/// ```no_run
/// # async fn run() -> Result<(), evc_consumer::ReplayError> {
/// use evc_consumer::{replay_dlq, ReplayConfig};
/// let report = replay_dlq(&ReplayConfig::new("localhost:9092", "orders.dlq")).await?;
/// println!("replayed {} message(s): {:?}", report.total(), report.replayed);
/// # Ok(())
/// # }
/// ```
pub async fn replay_dlq(config: &ReplayConfig) -> Result<ReplayReport, ReplayError> {
    let topic = config.source_topic()?;
    let transport = evc_transport::AnyTransport::connect(&config.broker).await?;
    replay_over(&transport, topic).await
}

/// [`replay_dlq`] on a transport you hold, for the dead letters of `topic`.
pub async fn replay_over<T: Transport>(
    transport: &T,
    topic: &str,
) -> Result<ReplayReport, ReplayError> {
    Ok(transport.replay_dead_letters(topic).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use evc_registry_client::RegistryError;

    #[test]
    fn the_source_topic_is_the_dead_letter_name_without_dlq() {
        assert_eq!(
            ReplayConfig::new("b:1", "orders.dlq")
                .source_topic()
                .unwrap(),
            "orders"
        );
        assert!(ReplayConfig::new("b:1", "orders").source_topic().is_err());
        assert!(ReplayConfig::new("b:1", ".dlq").source_topic().is_err());
    }

    #[test]
    fn registry_trouble_is_transient_and_bad_bytes_are_poison() {
        let down = WireError::RegistryUnavailable(RegistryError::Unavailable {
            attempts: 3,
            reason: "connection refused".into(),
        });
        assert_eq!(classify(&down), DecodeFailure::Transient);
        let unauthorized = WireError::Registry(RegistryError::Unauthorized {
            status: 401,
            message: "no".into(),
        });
        assert_eq!(classify(&unauthorized), DecodeFailure::Transient);
        let frame = WireError::Frame(FrameError::WrongMagicByte { found: b'{' });
        assert_eq!(
            classify(&frame),
            DecodeFailure::Poison {
                class: "evc_wire::FrameError::WrongMagicByte"
            }
        );
    }
}
