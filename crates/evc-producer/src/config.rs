//! Producer configuration: the broker, what evc enforces and what you may tune.

use std::sync::Arc;
use std::time::Duration;

use evc_transport::kafka::{KafkaOptions, KafkaTransport};
use evc_transport::{AnyTransport, Endpoint, LazyTransport, TransportError};

use crate::ProduceError;

/// Kafka settings evc sets and refuses to have overridden: they are the delivery guarantees.
const ENFORCED: &[(&str, &str)] = &[("enable.idempotence", "true"), ("acks", "all")];

/// Configuration of an [`EventProducer`](crate::EventProducer).
///
/// The broker is a URL: a Kafka bootstrap list (`host:port[,host:port]` or `kafka://...`,
/// the default path), `redis://...` (feature `redis`) or `amqp://...` (feature `rabbitmq`).
/// On Kafka, always set: `enable.idempotence=true` and `acks=all` (an override of either to
/// anything else is refused); defaults `partitioner=murmur2_random` (the Java client's
/// partitioner, so a key maps to the same partition from any client) and
/// `allow.auto.create.topics=false` (a topic's partition count decides the ordering and
/// parallelism of its events: create it on purpose). Any other librdkafka property can be
/// passed with [`ProducerConfig::set`]. Redis and RabbitMQ confirm every message
/// (`XADD`'s reply, publisher confirms).
///
/// ```
/// use std::time::Duration;
/// use evc_producer::ProducerConfig;
///
/// let config = ProducerConfig::new("localhost:9092")
///     .client_id("orders-service")
///     .delivery_timeout(Duration::from_secs(30))
///     .set("linger.ms", "20");
/// let kafka = config.kafka_options("localhost:9092").unwrap();
/// assert_eq!(kafka.producer_config().get("acks"), Some("all"));
///
/// // The guarantees cannot be switched off.
/// assert!(ProducerConfig::new("localhost:9092").set("acks", "1").transport().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    broker: String,
    client_id: Option<String>,
    delivery_timeout: Duration,
    overrides: Vec<(String, String)>,
}

impl ProducerConfig {
    /// A producer to `broker` (see the type's docs). Delivery timeout 2 minutes.
    pub fn new(broker: impl Into<String>) -> ProducerConfig {
        ProducerConfig {
            broker: broker.into(),
            client_id: None,
            delivery_timeout: Duration::from_secs(120),
            overrides: Vec::new(),
        }
    }

    /// The broker URL.
    pub fn broker(&self) -> &str {
        &self.broker
    }

    /// Kafka `client.id`.
    pub fn client_id(mut self, id: impl Into<String>) -> ProducerConfig {
        self.client_id = Some(id.into());
        self
    }

    /// Kafka: how long librdkafka keeps retrying a record before its send fails
    /// (`delivery.timeout.ms`).
    pub fn delivery_timeout(mut self, timeout: Duration) -> ProducerConfig {
        self.delivery_timeout = timeout;
        self
    }

    /// Any librdkafka producer property (`linger.ms`, `compression.type`, ...); used only when
    /// the broker is Kafka.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> ProducerConfig {
        self.overrides.push((key.into(), value.into()));
        self
    }

    /// The Kafka transport's options for `bootstrap`, with the enforced settings checked.
    pub fn kafka_options(&self, bootstrap: &str) -> Result<KafkaOptions, ProduceError> {
        for (k, v) in &self.overrides {
            if let Some((_, want)) = ENFORCED.iter().find(|(key, _)| key == k) {
                let same = v == want || (k == "acks" && v == "-1");
                if !same {
                    return Err(ProduceError::Config {
                        key: k.clone(),
                        value: v.clone(),
                        enforced: want,
                    });
                }
            }
        }
        let mut options = KafkaOptions::new(bootstrap);
        options.delivery_timeout = self.delivery_timeout;
        if let Some(id) = &self.client_id {
            options.overrides.push(("client.id".into(), id.clone()));
        }
        options.producer_overrides = self.overrides.clone();
        Ok(options)
    }

    /// The transport of [`ProducerConfig::broker`]: Kafka is built now (so a bad setting is
    /// refused here), Redis and RabbitMQ connect on the first send.
    pub fn transport(&self) -> Result<LazyTransport<AnyTransport>, ProduceError> {
        match Endpoint::parse(&self.broker).map_err(TransportError::from)? {
            Endpoint::Kafka { bootstrap } => {
                let kafka = KafkaTransport::new(self.kafka_options(&bootstrap)?)?;
                Ok(LazyTransport::ready(Arc::new(AnyTransport::Kafka(kafka))))
            }
            _ => Ok(LazyTransport::url(&self.broker)?),
        }
    }
}
