//! A transport chosen at run time from a URL: one type over the implementations compiled in.
// Built without any transport, the methods have nothing to hand their arguments to.
#![cfg_attr(
    not(any(feature = "kafka", feature = "redis", feature = "rabbitmq")),
    allow(unused_variables)
)]

use std::convert::Infallible;
use std::time::Duration;

use crate::{
    Capabilities, DeadLetterReason, Delivery, Endpoint, Outgoing, Receipt, ReplayReport,
    SubscribeOptions, Subscription, Transport, TransportError, TransportKind,
};

/// Any transport this build has (features `kafka`, `redis`, `rabbitmq`), picked by URL.
///
/// ```no_run
/// # async fn run() -> Result<(), evc_transport::TransportError> {
/// use evc_transport::{AnyTransport, Outgoing, Transport};
/// let transport = AnyTransport::connect("redis://127.0.0.1:6379").await?;
/// transport.declare_topic("orders", 8).await?;
/// transport.publish("orders", Outgoing::new("order-1", vec![0, 0, 0, 0, 1])).await?;
/// # Ok(())
/// # }
/// ```
// The never variant only keeps the enum inhabited without features; boxing the others
// would buy nothing.
#[allow(clippy::large_enum_variant)]
#[non_exhaustive]
pub enum AnyTransport {
    #[cfg(feature = "kafka")]
    Kafka(crate::kafka::KafkaTransport),
    #[cfg(feature = "redis")]
    Redis(crate::redis::RedisTransport),
    #[cfg(feature = "rabbitmq")]
    RabbitMq(crate::rabbitmq::RabbitTransport),
    #[doc(hidden)]
    Never(Infallible),
}

/// A subscription of an [`AnyTransport`].
#[allow(clippy::large_enum_variant)]
#[non_exhaustive]
pub enum AnySubscription {
    #[cfg(feature = "kafka")]
    Kafka(crate::kafka::KafkaSubscription),
    #[cfg(feature = "redis")]
    Redis(crate::redis::RedisSubscription),
    #[cfg(feature = "rabbitmq")]
    RabbitMq(crate::rabbitmq::RabbitSubscription),
    #[doc(hidden)]
    Never(Infallible),
}

macro_rules! dispatch {
    ($value:expr, $enum:ident, $t:ident => $body:expr) => {
        match $value {
            #[cfg(feature = "kafka")]
            $enum::Kafka($t) => $body,
            #[cfg(feature = "redis")]
            $enum::Redis($t) => $body,
            #[cfg(feature = "rabbitmq")]
            $enum::RabbitMq($t) => $body,
            $enum::Never(never) => match *never {},
        }
    };
}

impl AnyTransport {
    /// Connects to the broker `url` names (see [`Endpoint::parse`]) with each transport's
    /// default options.
    pub async fn connect(url: &str) -> Result<AnyTransport, TransportError> {
        let endpoint = Endpoint::parse(url)?;
        let _not_compiled = |kind: TransportKind, feature: &'static str| {
            Err::<AnyTransport, _>(TransportError::NotCompiled {
                url: url.to_string(),
                kind,
                feature,
            })
        };
        match endpoint {
            #[cfg(feature = "kafka")]
            Endpoint::Kafka { bootstrap } => Ok(AnyTransport::Kafka(
                crate::kafka::KafkaTransport::new(crate::kafka::KafkaOptions::new(bootstrap))?,
            )),
            #[cfg(not(feature = "kafka"))]
            Endpoint::Kafka { .. } => _not_compiled(TransportKind::Kafka, "kafka"),
            #[cfg(feature = "redis")]
            Endpoint::Redis { url } => Ok(AnyTransport::Redis(
                crate::redis::RedisTransport::connect(crate::redis::RedisOptions::new(url)).await?,
            )),
            #[cfg(not(feature = "redis"))]
            Endpoint::Redis { .. } => _not_compiled(TransportKind::Redis, "redis"),
            #[cfg(feature = "rabbitmq")]
            Endpoint::RabbitMq { url } => Ok(AnyTransport::RabbitMq(
                crate::rabbitmq::RabbitTransport::connect(crate::rabbitmq::RabbitOptions::new(url))
                    .await?,
            )),
            #[cfg(not(feature = "rabbitmq"))]
            Endpoint::RabbitMq { .. } => _not_compiled(TransportKind::RabbitMq, "rabbitmq"),
        }
    }
}

impl Transport for AnyTransport {
    type Subscription = AnySubscription;

    fn kind(&self) -> TransportKind {
        dispatch!(self, AnyTransport, t => t.kind())
    }

    fn capabilities(&self) -> Capabilities {
        dispatch!(self, AnyTransport, t => t.capabilities())
    }

    async fn declare_topic(&self, topic: &str, shards: u32) -> Result<(), TransportError> {
        dispatch!(self, AnyTransport, t => t.declare_topic(topic, shards).await)
    }

    async fn declare_group(&self, topic: &str, group: &str) -> Result<(), TransportError> {
        dispatch!(self, AnyTransport, t => t.declare_group(topic, group).await)
    }

    async fn publish(&self, topic: &str, message: Outgoing) -> Result<Receipt, TransportError> {
        dispatch!(self, AnyTransport, t => t.publish(topic, message).await)
    }

    async fn publish_batch(
        &self,
        topic: &str,
        messages: Vec<Outgoing>,
    ) -> Result<Vec<Receipt>, TransportError> {
        dispatch!(self, AnyTransport, t => t.publish_batch(topic, messages).await)
    }

    async fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<AnySubscription, TransportError> {
        match self {
            #[cfg(feature = "kafka")]
            AnyTransport::Kafka(t) => {
                Ok(AnySubscription::Kafka(t.subscribe(topic, options).await?))
            }
            #[cfg(feature = "redis")]
            AnyTransport::Redis(t) => {
                Ok(AnySubscription::Redis(t.subscribe(topic, options).await?))
            }
            #[cfg(feature = "rabbitmq")]
            AnyTransport::RabbitMq(t) => Ok(AnySubscription::RabbitMq(
                t.subscribe(topic, options).await?,
            )),
            AnyTransport::Never(never) => match *never {},
        }
    }

    async fn delete_group(&self, topic: &str, group: &str) -> Result<(), TransportError> {
        dispatch!(self, AnyTransport, t => t.delete_group(topic, group).await)
    }

    async fn delete_topic(&self, topic: &str) -> Result<(), TransportError> {
        dispatch!(self, AnyTransport, t => t.delete_topic(topic).await)
    }

    async fn dead_letters(
        &self,
        topic: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, TransportError> {
        dispatch!(self, AnyTransport, t => t.dead_letters(topic, limit).await)
    }

    async fn replay_dead_letters(&self, topic: &str) -> Result<ReplayReport, TransportError> {
        dispatch!(self, AnyTransport, t => t.replay_dead_letters(topic).await)
    }
}

impl Subscription for AnySubscription {
    async fn next(&mut self) -> Result<Delivery, TransportError> {
        dispatch!(self, AnySubscription, s => s.next().await)
    }

    async fn next_batch(
        &mut self,
        max: usize,
        linger: Duration,
    ) -> Result<Vec<Delivery>, TransportError> {
        dispatch!(self, AnySubscription, s => s.next_batch(max, linger).await)
    }

    async fn ack(&mut self, delivery: &Delivery) -> Result<(), TransportError> {
        dispatch!(self, AnySubscription, s => s.ack(delivery).await)
    }

    async fn nack(
        &mut self,
        delivery: Delivery,
        retry_after: Duration,
    ) -> Result<(), TransportError> {
        dispatch!(self, AnySubscription, s => s.nack(delivery, retry_after).await)
    }

    async fn dead_letter(
        &mut self,
        delivery: &Delivery,
        reason: &DeadLetterReason,
    ) -> Result<(), TransportError> {
        dispatch!(self, AnySubscription, s => s.dead_letter(delivery, reason).await)
    }

    fn stats(&self) -> std::sync::Arc<crate::SubscriptionStats> {
        dispatch!(self, AnySubscription, s => s.stats())
    }

    async fn close(self) -> Result<(), TransportError> {
        match self {
            #[cfg(feature = "kafka")]
            AnySubscription::Kafka(s) => s.close().await,
            #[cfg(feature = "redis")]
            AnySubscription::Redis(s) => s.close().await,
            #[cfg(feature = "rabbitmq")]
            AnySubscription::RabbitMq(s) => s.close().await,
            AnySubscription::Never(never) => match never {},
        }
    }
}
