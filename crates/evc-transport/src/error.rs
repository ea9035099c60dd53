//! The transport error: what failed, where, and whether trying again can help.

use std::error::Error as StdError;
use std::fmt;

use crate::url::UrlError;

/// Which transport an error or a value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    Kafka,
    Redis,
    RabbitMq,
}

impl TransportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Kafka => "kafka",
            TransportKind::Redis => "redis",
            TransportKind::RabbitMq => "rabbitmq",
        }
    }
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn StdError + Send + Sync + 'static>;

/// Why a transport operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The URL names no transport, or a malformed one.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The URL names a transport this build was compiled without.
    #[error("`{url}` needs the {kind} transport, which this build leaves out (enable the `{feature}` feature of evc-transport)")]
    NotCompiled {
        url: String,
        kind: TransportKind,
        feature: &'static str,
    },
    /// The broker could not be reached or the connection broke: trying again may help.
    #[error("{kind}: cannot reach the broker at {endpoint}: {source}")]
    Unavailable {
        kind: TransportKind,
        endpoint: String,
        #[source]
        source: Source,
    },
    /// A broker operation failed (the broker refused it, or answered something unexpected).
    #[error("{kind}: {operation} on `{target}` failed: {source}")]
    Broker {
        kind: TransportKind,
        operation: &'static str,
        target: String,
        #[source]
        source: Source,
    },
    /// The broker refused to take a published message (a negative publisher confirm, a
    /// delivery failure after the producer's retries).
    #[error("{kind}: the broker did not confirm the message to `{topic}`: {reason}")]
    NotConfirmed {
        kind: TransportKind,
        topic: String,
        reason: String,
    },
    /// The topic was never declared (publishing needs its shard count).
    #[error("{kind}: topic `{topic}` does not exist (declare it first with its shard count)")]
    UnknownTopic { kind: TransportKind, topic: String },
    /// The topic exists with another number of shards.
    #[error("{kind}: topic `{topic}` has {found} shard(s), not {wanted}")]
    ShardMismatch {
        kind: TransportKind,
        topic: String,
        wanted: u32,
        found: u32,
    },
    /// A name or a message this transport cannot carry.
    #[error("{kind}: {what} is invalid: {reason}")]
    Invalid {
        kind: TransportKind,
        what: String,
        reason: String,
    },
    /// The broker lacks something evc needs (a plugin, a feature of a newer version).
    #[error("{kind}: the broker lacks {what}: {hint}")]
    Unsupported {
        kind: TransportKind,
        what: String,
        hint: String,
    },
    /// A delivery settled through a subscription that did not hand it out, or twice.
    #[error("{kind}: delivery {topic}[{shard}]@{position} is not outstanding in this subscription (settled twice, or handed out by another one)")]
    NotOutstanding {
        kind: TransportKind,
        topic: String,
        shard: u32,
        position: String,
    },
    /// A delivery settled before an earlier one of its shard that is still out: a shard's
    /// deliveries are settled in the order they were handed out.
    #[error("{kind}: delivery {topic}[{shard}]@{position} settled out of order: {oldest} of its shard is still unsettled")]
    OutOfOrder {
        kind: TransportKind,
        topic: String,
        shard: u32,
        position: String,
        oldest: String,
    },
    /// A dead letter to replay names no original topic.
    #[error(
        "{kind}: dead letter {position} of `{dlq}` has no `{}` header",
        crate::headers::ORIGINAL_TOPIC
    )]
    NoReplayTarget {
        kind: TransportKind,
        dlq: String,
        position: String,
    },
    /// The subscription was closed (by the broker, or its connection ended).
    #[error("{kind}: the subscription to `{topic}` is closed: {reason}")]
    Closed {
        kind: TransportKind,
        topic: String,
        reason: String,
    },
}

impl TransportError {
    /// Whether trying again later may succeed (the broker was unreachable or the connection
    /// broke), as opposed to a refusal that will repeat.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            TransportError::Unavailable { .. } | TransportError::Closed { .. }
        )
    }

    pub(crate) fn broker(
        kind: TransportKind,
        operation: &'static str,
        target: impl Into<String>,
        source: impl Into<Source>,
    ) -> TransportError {
        TransportError::Broker {
            kind,
            operation,
            target: target.into(),
            source: source.into(),
        }
    }

    pub(crate) fn invalid(
        kind: TransportKind,
        what: impl Into<String>,
        reason: impl Into<String>,
    ) -> TransportError {
        TransportError::Invalid {
            kind,
            what: what.into(),
            reason: reason.into(),
        }
    }
}
