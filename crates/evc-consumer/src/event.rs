//! What a consumer decodes messages into.

use std::future::Future;

use evc_avro::{Event, TopicEvent};
use evc_wire::{Deserializer, WireError};
use uuid::Uuid;

/// A type messages are decoded into: every [`TopicEvent`] enum (the usual case: every event type
/// of a topic, at the consumer's versions), or [`Single<T>`] for a topic that carries one event
/// type only.
pub trait ConsumedEvent: Sized + Send + Sync + 'static {
    /// The topic consumed when the configuration names none.
    fn default_topic() -> &'static str;
    /// Decodes a Confluent-framed value, resolving the writer's schema into this type's.
    fn decode<'a>(
        deserializer: &'a Deserializer,
        bytes: &'a [u8],
    ) -> impl Future<Output = Result<Self, WireError>> + Send + 'a;
    fn event_id(&self) -> Option<Uuid>;
    /// Full name of the event's type.
    fn event_type(&self) -> &'static str;
}

impl<E: TopicEvent + Send + Sync + 'static> ConsumedEvent for E {
    fn default_topic() -> &'static str {
        E::TOPIC
    }

    fn decode<'a>(
        deserializer: &'a Deserializer,
        bytes: &'a [u8],
    ) -> impl Future<Output = Result<Self, WireError>> + Send + 'a {
        deserializer.deserialize_topic::<E>(bytes)
    }

    fn event_id(&self) -> Option<Uuid> {
        TopicEvent::event_id(self)
    }

    fn event_type(&self) -> &'static str {
        self.full_name()
    }
}

/// One event type read on its own (at version `T`, whatever version wrote it). A message of any
/// other type is an unknown event type, so dead-lettered: use it only on a topic that carries
/// `T` alone, and a [`TopicEvent`] enum otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Single<T>(pub T);

impl<T: Event + Send + Sync + 'static> ConsumedEvent for Single<T> {
    fn default_topic() -> &'static str {
        T::TOPIC
    }

    async fn decode(deserializer: &Deserializer, bytes: &[u8]) -> Result<Self, WireError> {
        deserializer.deserialize::<T>(bytes).await.map(Single)
    }

    fn event_id(&self) -> Option<Uuid> {
        self.0.event_id()
    }

    fn event_type(&self) -> &'static str {
        T::FULL_NAME
    }
}
