//! What travels: outgoing messages, deliveries, receipts, headers and the dead-letter headers.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// The provenance headers of a dead letter (next to the message's own headers, which are kept),
/// all UTF-8 strings, under one prefix so a replay can strip them. The same names as
/// `evc-consumer`'s Kafka dead-letter topic, so tooling reads dead letters alike on every
/// transport.
pub mod headers {
    /// Every dead-letter header starts with this.
    pub const PREFIX: &str = "evc.dlq.";
    pub const ORIGINAL_TOPIC: &str = "evc.dlq.original.topic";
    /// The shard (Kafka partition, Redis stream `<topic>:<shard>`, RabbitMQ queue) it came from.
    pub const ORIGINAL_PARTITION: &str = "evc.dlq.original.partition";
    /// Its position in the shard: Kafka offset, Redis entry id, RabbitMQ message id.
    pub const ORIGINAL_OFFSET: &str = "evc.dlq.original.offset";
    /// Milliseconds since the epoch, when the broker gave one.
    pub const ORIGINAL_TIMESTAMP: &str = "evc.dlq.original.timestamp";
    pub const CONSUMER_GROUP: &str = "evc.dlq.consumer-group";
    /// Where processing gave up (`deserialize`, `handle`), when the caller says.
    pub const STAGE: &str = "evc.dlq.stage";
    pub const ERROR_CLASS: &str = "evc.dlq.error.class";
    pub const ERROR_MESSAGE: &str = "evc.dlq.error.message";
    /// How many times the message was tried.
    pub const ATTEMPTS: &str = "evc.dlq.attempts";
    /// Milliseconds since the epoch.
    pub const DEAD_LETTERED_AT: &str = "evc.dlq.dead-lettered-at";
}

/// Header names RabbitMQ adds when it dead-letters or redelivers; a replay strips them too.
const BROKER_HEADERS: &[&str] = &[
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
    "x-delivery-count",
];

/// Message headers: ordered name/value pairs (values are bytes; evc's are UTF-8).
///
/// Kafka and Redis keep every pair in order; RabbitMQ's header table keeps one value per name
/// (the last one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, Vec<u8>)>);

impl Headers {
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// Appends a pair (builder style).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Headers {
        self.push(name, value);
        self
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.0.push((name.into(), value.into()));
    }

    /// The last value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The last value of `name` as UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn retain(&mut self, keep: impl FnMut(&(String, Vec<u8>)) -> bool) {
        self.0.retain(keep);
    }
}

impl FromIterator<(String, Vec<u8>)> for Headers {
    fn from_iter<I: IntoIterator<Item = (String, Vec<u8>)>>(iter: I) -> Headers {
        Headers(iter.into_iter().collect())
    }
}

/// A message to publish: its key (which picks the shard), its payload (for evc, the Confluent
/// wire format: magic byte, schema id, Avro body; the transport does not look inside) and its
/// headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: Headers,
}

impl Outgoing {
    pub fn new(key: impl Into<String>, payload: impl Into<Vec<u8>>) -> Outgoing {
        Outgoing {
            key: key.into(),
            payload: payload.into(),
            headers: Headers::new(),
        }
    }

    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Outgoing {
        self.headers.push(name, value);
        self
    }
}

/// The broker's confirmation of a published message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub topic: String,
    /// The shard it landed in, when the broker says (RabbitMQ's exchange picks the queue and
    /// does not tell the publisher).
    pub shard: Option<u32>,
    /// Its position in the shard (Kafka offset, Redis entry id), when the broker gives one.
    pub position: Option<String>,
}

/// A message handed to a subscriber; settle it with `ack`, `nack` or `dead_letter` of the
/// subscription that handed it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub topic: String,
    pub shard: u32,
    /// Its position in the shard: Kafka offset, Redis entry id, RabbitMQ message id.
    pub position: String,
    /// None when the producer gave no key (possible on Kafka from other producers).
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Headers,
    /// 1 on the first delivery; see [`Capabilities`](crate::Capabilities).
    pub delivery_count: u32,
    /// Milliseconds since the epoch, when the broker gives one.
    pub timestamp: Option<i64>,
    /// Which subscription handed it out, and its handle there.
    pub(crate) subscription: u64,
    pub(crate) tag: u64,
}

impl Delivery {
    /// The key as UTF-8, when there is one and it is.
    pub fn key_str(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }
}

/// Why a delivery is dead-lettered: written into its `evc.dlq.*` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterReason {
    /// The failure's class, e.g. a Rust type path `evc_wire::WireError::UnknownSchemaId`.
    pub class: String,
    pub message: String,
    /// How many times it was tried (1 for a poison message dead-lettered at once).
    pub attempts: u32,
    /// Where processing gave up (`deserialize`, `handle`), if the caller says.
    pub stage: Option<String>,
}

impl DeadLetterReason {
    pub fn new(class: impl Into<String>, message: impl Into<String>, attempts: u32) -> Self {
        DeadLetterReason {
            class: class.into(),
            message: message.into(),
            attempts,
            stage: None,
        }
    }

    pub fn stage(mut self, stage: impl Into<String>) -> Self {
        self.stage = Some(stage.into());
        self
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Messages published again, per target topic.
    pub replayed: BTreeMap<String, u64>,
}

impl ReplayReport {
    pub fn total(&self) -> u64 {
        self.replayed.values().sum()
    }
}

pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The headers of a dead letter: the delivery's own, then the `evc.dlq.*` provenance.
pub fn dead_letter_headers(d: &Delivery, group: &str, reason: &DeadLetterReason) -> Headers {
    let mut h = d.headers.clone();
    h.push(headers::ORIGINAL_TOPIC, d.topic.as_str());
    h.push(headers::ORIGINAL_PARTITION, d.shard.to_string());
    h.push(headers::ORIGINAL_OFFSET, d.position.as_str());
    if let Some(ts) = d.timestamp {
        h.push(headers::ORIGINAL_TIMESTAMP, ts.to_string());
    }
    h.push(headers::CONSUMER_GROUP, group);
    if let Some(stage) = &reason.stage {
        h.push(headers::STAGE, stage.as_str());
    }
    h.push(headers::ERROR_CLASS, reason.class.as_str());
    h.push(headers::ERROR_MESSAGE, reason.message.as_str());
    h.push(headers::ATTEMPTS, reason.attempts.to_string());
    h.push(headers::DEAD_LETTERED_AT, now_millis().to_string());
    h
}

/// The headers a replayed dead letter is published with: its own, without the `evc.dlq.*`
/// provenance and the broker's dead-letter bookkeeping (`x-death`, ...).
pub fn replay_headers(dead: &Headers) -> Headers {
    let mut h = dead.clone();
    h.retain(|(n, _)| !n.starts_with(headers::PREFIX) && !BROKER_HEADERS.contains(&n.as_str()));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> Delivery {
        Delivery {
            topic: "orders".into(),
            shard: 3,
            position: "17".into(),
            key: Some(b"k".to_vec()),
            payload: vec![0, 0, 0, 0, 1, 2],
            headers: Headers::new().with("evc-event-id", "42"),
            delivery_count: 2,
            timestamp: Some(1_700_000_000_000),
            subscription: 1,
            tag: 1,
        }
    }

    #[test]
    fn dead_letter_headers_keep_the_original_ones_and_add_provenance() {
        let reason =
            DeadLetterReason::new("billing::Rejected", "no such customer", 5).stage("handle");
        let h = dead_letter_headers(&delivery(), "billing", &reason);
        assert_eq!(h.get_str("evc-event-id"), Some("42"));
        assert_eq!(h.get_str(headers::ORIGINAL_TOPIC), Some("orders"));
        assert_eq!(h.get_str(headers::ORIGINAL_PARTITION), Some("3"));
        assert_eq!(h.get_str(headers::ORIGINAL_OFFSET), Some("17"));
        assert_eq!(
            h.get_str(headers::ORIGINAL_TIMESTAMP),
            Some("1700000000000")
        );
        assert_eq!(h.get_str(headers::CONSUMER_GROUP), Some("billing"));
        assert_eq!(h.get_str(headers::STAGE), Some("handle"));
        assert_eq!(h.get_str(headers::ERROR_CLASS), Some("billing::Rejected"));
        assert_eq!(h.get_str(headers::ERROR_MESSAGE), Some("no such customer"));
        assert_eq!(h.get_str(headers::ATTEMPTS), Some("5"));
        assert!(h
            .get_str(headers::DEAD_LETTERED_AT)
            .unwrap()
            .parse::<i64>()
            .is_ok());
    }

    #[test]
    fn replay_strips_provenance_and_broker_bookkeeping_only() {
        let reason = DeadLetterReason::new("c", "m", 1);
        let mut h = dead_letter_headers(&delivery(), "g", &reason);
        h.push("x-death", "…");
        h.push("x-delivery-count", "3");
        h.push("trace-id", "t");
        let replayed = replay_headers(&h);
        let names: Vec<&str> = replayed.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["evc-event-id", "trace-id"]);
    }

    #[test]
    fn headers_answer_the_last_value_of_a_name() {
        let h = Headers::new()
            .with("a", "1")
            .with("a", "2")
            .with("b", vec![0xff]);
        assert_eq!(h.get_str("a"), Some("2"));
        assert_eq!(h.get("b"), Some(&[0xff][..]));
        assert_eq!(h.get_str("b"), None, "not UTF-8");
        assert_eq!(h.get("c"), None);
    }
}
