//! Producer configuration: what evc enforces and what you may tune.

use std::time::Duration;

use rdkafka::ClientConfig;

use crate::ProduceError;

/// Settings evc sets and refuses to have overridden: they are the delivery guarantees.
const ENFORCED: &[(&str, &str)] = &[("enable.idempotence", "true"), ("acks", "all")];

/// Configuration of an [`EventProducer`](crate::EventProducer).
///
/// Always set: `enable.idempotence=true` and `acks=all` (an override of either to anything else
/// is refused). Defaults: `partitioner=murmur2_random` (the Java client's partitioner, so a key
/// maps to the same partition from any client) and `allow.auto.create.topics=false` (a topic's
/// partition count decides the ordering and parallelism of its events: create it on purpose).
/// Any other librdkafka property can be passed with [`ProducerConfig::set`].
///
/// ```
/// use std::time::Duration;
/// use evc_producer::ProducerConfig;
///
/// let config = ProducerConfig::new("localhost:9092")
///     .client_id("orders-service")
///     .delivery_timeout(Duration::from_secs(30))
///     .set("linger.ms", "20");
/// assert_eq!(config.client_config().unwrap().get("acks"), Some("all"));
///
/// // The guarantees cannot be switched off.
/// assert!(ProducerConfig::new("localhost:9092").set("acks", "1").client_config().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    bootstrap_servers: String,
    client_id: Option<String>,
    delivery_timeout: Duration,
    pub(crate) queue_timeout: Duration,
    overrides: Vec<(String, String)>,
}

impl ProducerConfig {
    /// Brokers as `host:port[,host:port...]`. Delivery timeout 2 minutes, queue timeout 30 s.
    pub fn new(bootstrap_servers: impl Into<String>) -> ProducerConfig {
        ProducerConfig {
            bootstrap_servers: bootstrap_servers.into(),
            client_id: None,
            delivery_timeout: Duration::from_secs(120),
            queue_timeout: Duration::from_secs(30),
            overrides: Vec::new(),
        }
    }

    pub fn client_id(mut self, id: impl Into<String>) -> ProducerConfig {
        self.client_id = Some(id.into());
        self
    }

    /// How long librdkafka keeps retrying a record before its send fails
    /// (`delivery.timeout.ms`).
    pub fn delivery_timeout(mut self, timeout: Duration) -> ProducerConfig {
        self.delivery_timeout = timeout;
        self
    }

    /// How long a send waits for room in librdkafka's local queue before it fails.
    pub fn queue_timeout(mut self, timeout: Duration) -> ProducerConfig {
        self.queue_timeout = timeout;
        self
    }

    /// Any librdkafka producer property (`linger.ms`, `compression.type`, `security.protocol`
    /// where the build supports it, ...).
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> ProducerConfig {
        self.overrides.push((key.into(), value.into()));
        self
    }

    /// The rdkafka configuration, with the enforced settings checked.
    pub fn client_config(&self) -> Result<ClientConfig, ProduceError> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers)
            .set("partitioner", "murmur2_random")
            .set("allow.auto.create.topics", "false")
            .set(
                "delivery.timeout.ms",
                self.delivery_timeout.as_millis().max(1).to_string(),
            );
        if let Some(id) = &self.client_id {
            c.set("client.id", id);
        }
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
            c.set(k, v);
        }
        for (k, v) in ENFORCED {
            c.set(*k, *v);
        }
        Ok(c)
    }
}
