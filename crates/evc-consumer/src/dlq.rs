//! Dead letters: the headers a dead-lettered message carries, why a message is poison, and
//! replaying a dead-letter topic into its source topic.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use evc_wire::{FrameError, WireError};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, Timestamp, TopicPartitionList};

use crate::config::dlq_producer_config;

/// The headers added to a dead-lettered message (next to the original headers, which are kept),
/// all UTF-8 strings. Modelled on Spring Kafka's `kafka_dlt-*` and Kafka Connect's
/// `__connect.errors.*` headers, under one prefix so a replay can strip them all.
pub mod headers {
    /// Every dead-letter header starts with this.
    pub const PREFIX: &str = "evc.dlq.";
    pub const ORIGINAL_TOPIC: &str = "evc.dlq.original.topic";
    pub const ORIGINAL_PARTITION: &str = "evc.dlq.original.partition";
    pub const ORIGINAL_OFFSET: &str = "evc.dlq.original.offset";
    /// Milliseconds since the epoch; absent when the record had no timestamp.
    pub const ORIGINAL_TIMESTAMP: &str = "evc.dlq.original.timestamp";
    /// `CreateTime` or `LogAppendTime`.
    pub const ORIGINAL_TIMESTAMP_TYPE: &str = "evc.dlq.original.timestamp-type";
    pub const CONSUMER_GROUP: &str = "evc.dlq.consumer-group";
    /// `deserialize` or `handle` ([`Stage`](super::Stage)).
    pub const STAGE: &str = "evc.dlq.stage";
    /// The failure's class: a Rust type path such as `evc_wire::WireError::UnknownSchemaId`, or
    /// the class a handler gave.
    pub const ERROR_CLASS: &str = "evc.dlq.error.class";
    pub const ERROR_MESSAGE: &str = "evc.dlq.error.message";
    /// How many times the message was tried (1 for poison messages).
    pub const ATTEMPTS: &str = "evc.dlq.attempts";
    /// When it was dead-lettered, milliseconds since the epoch.
    pub const DEAD_LETTERED_AT: &str = "evc.dlq.dead-lettered-at";
}

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

/// The class of a record without a value (a tombstone): never an event.
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

pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What a dead letter says about its message.
pub(crate) struct DeadLetter<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Timestamp,
    pub group: &'a str,
    pub stage: Stage,
    pub class: &'a str,
    pub message: &'a str,
    pub attempts: u32,
}

/// The original headers followed by the dead-letter headers.
pub(crate) fn dead_letter_headers(
    original: Option<&OwnedHeaders>,
    d: &DeadLetter<'_>,
) -> OwnedHeaders {
    let mut h = OwnedHeaders::new();
    if let Some(original) = original {
        for header in original.iter() {
            h = h.insert(Header {
                key: header.key,
                value: header.value,
            });
        }
    }
    let (ts, ts_type) = match d.timestamp {
        Timestamp::NotAvailable => (None, None),
        Timestamp::CreateTime(t) => (Some(t), Some("CreateTime")),
        Timestamp::LogAppendTime(t) => (Some(t), Some("LogAppendTime")),
    };
    let mut add = |key: &str, value: &str| {
        h = std::mem::replace(&mut h, OwnedHeaders::new()).insert(Header {
            key,
            value: Some(value.as_bytes()),
        });
    };
    add(headers::ORIGINAL_TOPIC, d.topic);
    add(headers::ORIGINAL_PARTITION, &d.partition.to_string());
    add(headers::ORIGINAL_OFFSET, &d.offset.to_string());
    if let (Some(ts), Some(ts_type)) = (ts, ts_type) {
        add(headers::ORIGINAL_TIMESTAMP, &ts.to_string());
        add(headers::ORIGINAL_TIMESTAMP_TYPE, ts_type);
    }
    add(headers::CONSUMER_GROUP, d.group);
    add(headers::STAGE, d.stage.as_str());
    add(headers::ERROR_CLASS, d.class);
    add(headers::ERROR_MESSAGE, d.message);
    add(headers::ATTEMPTS, &d.attempts.to_string());
    add(headers::DEAD_LETTERED_AT, &now_millis().to_string());
    h
}

/// Reads one header of a message as UTF-8 (the last one of that name).
pub fn header_str<'a, H: Headers>(headers: &'a H, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .filter(|h| h.key == name)
        .last()
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// What [`replay_dlq`] replays and how.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    bootstrap_servers: String,
    dlq_topic: String,
    group_id: String,
    target_topic: Option<String>,
    idle_timeout: Duration,
    consumer_overrides: Vec<(String, String)>,
    producer_overrides: Vec<(String, String)>,
}

impl ReplayConfig {
    /// Replays `dlq_topic` on `bootstrap_servers`. Progress is committed under the group
    /// `<dlq_topic>.replay`, so a replay run twice does not send the same dead letter twice.
    pub fn new(bootstrap_servers: impl Into<String>, dlq_topic: impl Into<String>) -> Self {
        let dlq_topic = dlq_topic.into();
        ReplayConfig {
            bootstrap_servers: bootstrap_servers.into(),
            group_id: format!("{dlq_topic}.replay"),
            dlq_topic,
            target_topic: None,
            idle_timeout: Duration::from_secs(30),
            consumer_overrides: Vec::new(),
            producer_overrides: Vec::new(),
        }
    }

    /// The group whose committed offsets record how far the dead-letter topic was replayed.
    pub fn group_id(mut self, group: impl Into<String>) -> Self {
        self.group_id = group.into();
        self
    }

    /// Sends every dead letter to `topic` instead of its `evc.dlq.original.topic`.
    pub fn target_topic(mut self, topic: impl Into<String>) -> Self {
        self.target_topic = Some(topic.into());
        self
    }

    /// Gives up when no message arrives for this long while some are still expected.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    pub fn set_consumer(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.consumer_overrides.push((key.into(), value.into()));
        self
    }

    pub fn set_producer(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.producer_overrides.push((key.into(), value.into()));
        self
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Messages sent back, per target topic.
    pub replayed: BTreeMap<String, u64>,
}

impl ReplayReport {
    pub fn total(&self) -> u64 {
        self.replayed.values().sum()
    }
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    #[error("Kafka error while replaying `{topic}`: {source}")]
    Kafka {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("dead letter {topic}[{partition}]@{offset} has no `{}` header and no target topic was given", headers::ORIGINAL_TOPIC)]
    NoTarget {
        topic: String,
        partition: i32,
        offset: i64,
    },
    #[error("replaying `{topic}`: no message for {idle:?} while {missing} more were expected")]
    Stalled {
        topic: String,
        idle: Duration,
        missing: i64,
    },
    #[error(transparent)]
    Config(#[from] crate::ConsumeError),
}

/// Replays a dead-letter topic into the topics its messages came from: every message present
/// when the replay starts, from where the previous replay stopped, is produced again with its
/// key, value and original headers (the `evc.dlq.*` headers stripped) to its
/// `evc.dlq.original.topic` (or [`ReplayConfig::target_topic`]), in order per partition, each
/// acknowledged before the next. Progress is committed after each partition's messages are
/// acknowledged; a failed replay can be run again and resumes there.
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
    let dlq = config.dlq_topic.as_str();
    let kafka = |source| ReplayError::Kafka {
        topic: dlq.to_string(),
        source,
    };
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.bootstrap_servers)
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest");
    for (k, v) in &config.consumer_overrides {
        cc.set(k, v);
    }
    let consumer: StreamConsumer = cc.create().map_err(kafka)?;
    let producer: FutureProducer =
        dlq_producer_config(&config.bootstrap_servers, &config.producer_overrides)?
            .create()
            .map_err(kafka)?;

    // What is there now: each partition's end, and where the last replay stopped.
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(dlq), timeout).map_err(kafka)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == dlq)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut wanted = TopicPartitionList::new();
    for p in &partitions {
        wanted.add_partition(dlq, *p);
    }
    let committed = consumer.committed_offsets(wanted, timeout).map_err(kafka)?;
    let mut assignment = TopicPartitionList::new();
    let mut end: HashMap<i32, i64> = HashMap::new();
    let mut next: HashMap<i32, i64> = HashMap::new();
    for p in &partitions {
        let (low, high) = consumer.fetch_watermarks(dlq, *p, timeout).map_err(kafka)?;
        let start = match committed.find_partition(dlq, *p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) if o >= low => o,
            _ => low,
        };
        if start < high {
            assignment
                .add_partition_offset(dlq, *p, Offset::Offset(start))
                .map_err(kafka)?;
            end.insert(*p, high);
            next.insert(*p, start);
        }
    }
    let mut report = ReplayReport::default();
    if end.is_empty() {
        return Ok(report);
    }
    consumer.assign(&assignment).map_err(kafka)?;

    while next.iter().any(|(p, o)| *o < end[p]) {
        let missing: i64 = next.iter().map(|(p, o)| (end[p] - o).max(0)).sum();
        let m = match tokio::time::timeout(config.idle_timeout, consumer.recv()).await {
            Err(_) => {
                commit(&consumer, dlq, &next).map_err(kafka)?;
                return Err(ReplayError::Stalled {
                    topic: dlq.to_string(),
                    idle: config.idle_timeout,
                    missing,
                });
            }
            Ok(m) => m.map_err(kafka)?,
        };
        let (partition, offset) = (m.partition(), m.offset());
        if offset >= end.get(&partition).copied().unwrap_or(0) {
            // Arrived after the replay started: left for the next replay.
            continue;
        }
        let original = m.headers().map(|h| h.detach());
        let target = match &config.target_topic {
            Some(t) => t.clone(),
            None => match original
                .as_ref()
                .and_then(|h| header_str(h, headers::ORIGINAL_TOPIC))
            {
                Some(t) => t.to_string(),
                None => {
                    commit(&consumer, dlq, &next).map_err(kafka)?;
                    return Err(ReplayError::NoTarget {
                        topic: dlq.to_string(),
                        partition,
                        offset,
                    });
                }
            },
        };
        let mut kept = OwnedHeaders::new();
        if let Some(original) = &original {
            for h in original
                .iter()
                .filter(|h| !h.key.starts_with(headers::PREFIX))
            {
                kept = kept.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&target).headers(kept);
        if let Some(k) = m.key() {
            record = record.key(k);
        }
        if let Some(v) = m.payload() {
            record = record.payload(v);
        }
        if let Err((source, _)) = producer.send(record, Duration::from_secs(30)).await {
            commit(&consumer, dlq, &next).map_err(kafka)?;
            return Err(ReplayError::Kafka {
                topic: target,
                source,
            });
        }
        *report.replayed.entry(target).or_default() += 1;
        next.insert(partition, offset + 1);
    }
    commit(&consumer, dlq, &next).map_err(kafka)?;
    Ok(report)
}

fn commit(
    consumer: &StreamConsumer,
    topic: &str,
    next: &HashMap<i32, i64>,
) -> Result<(), KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for (p, o) in next {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o))?;
    }
    consumer.commit(&tpl, CommitMode::Sync)
}

#[cfg(test)]
mod tests {
    use super::*;
    use evc_registry_client::RegistryError;

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

    #[test]
    fn dead_letter_headers_follow_the_original_ones() {
        let original = OwnedHeaders::new().insert(Header {
            key: "evc-event-id",
            value: Some("42".as_bytes()),
        });
        let h = dead_letter_headers(
            Some(&original),
            &DeadLetter {
                topic: "orders",
                partition: 3,
                offset: 17,
                timestamp: Timestamp::CreateTime(1_700_000_000_000),
                group: "billing",
                stage: Stage::Handle,
                class: "billing::Rejected",
                message: "no such customer",
                attempts: 5,
            },
        );
        assert_eq!(header_str(&h, "evc-event-id"), Some("42"));
        assert_eq!(header_str(&h, headers::ORIGINAL_TOPIC), Some("orders"));
        assert_eq!(header_str(&h, headers::ORIGINAL_PARTITION), Some("3"));
        assert_eq!(header_str(&h, headers::ORIGINAL_OFFSET), Some("17"));
        assert_eq!(
            header_str(&h, headers::ORIGINAL_TIMESTAMP),
            Some("1700000000000")
        );
        assert_eq!(
            header_str(&h, headers::ORIGINAL_TIMESTAMP_TYPE),
            Some("CreateTime")
        );
        assert_eq!(header_str(&h, headers::CONSUMER_GROUP), Some("billing"));
        assert_eq!(header_str(&h, headers::STAGE), Some("handle"));
        assert_eq!(
            header_str(&h, headers::ERROR_CLASS),
            Some("billing::Rejected")
        );
        assert_eq!(
            header_str(&h, headers::ERROR_MESSAGE),
            Some("no such customer")
        );
        assert_eq!(header_str(&h, headers::ATTEMPTS), Some("5"));
        assert!(header_str(&h, headers::DEAD_LETTERED_AT).is_some());
    }
}
