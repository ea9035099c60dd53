//! RabbitMQ (feature `rabbitmq`, lapin; AMQP 0.9.1).
//!
//! | concept | RabbitMQ |
//! |---|---|
//! | topic | a durable fanout exchange `<topic>`; its shard count kept as `x-max-length` of the empty queue `<topic>.shards` (RabbitMQ checks that argument when the queue is declared again, so a different count is refused and the refusal names the real one) |
//! | group | a consistent-hash exchange `<topic>.group.<group>` bound to the topic exchange, over N quorum queues `<topic>.group.<group>.<shard>` (plugin `rabbitmq_consistent_hash_exchange`, bundled with RabbitMQ, off by default: `rabbitmq-plugins enable rabbitmq_consistent_hash_exchange`) |
//! | key → shard | the routing key is the message key; the exchange hashes it onto a queue (each bound with weight 100), so a key always lands in the same queue |
//! | one active member per shard | every queue is `x-single-active-consumer`: the first member to subscribe gets all queues, the others stand by and take over when it dies ([`Capabilities::balanced_shards`] is false) |
//! | publish confirmation | publisher confirms on a dedicated channel; persistent messages; the receipt names the message id |
//! | ack | manual `basic.ack` |
//! | nack | held by the subscription and handed out again after the delay, before anything later in its queue (prefetched messages stay behind it) |
//! | delivery count | the quorum queue's `x-delivery-count` + 1, plus the subscription's own retries; a message redelivered after its member died arrives counted |
//! | dead letter | published (confirmed) to the fanout exchange `<topic>.dlq` → quorum queue `<topic>.dlq`, with `evc.dlq.*` headers, then acked. Each shard queue also has `x-delivery-limit` ([`RabbitOptions::delivery_limit`]) and `x-dead-letter-exchange: <topic>.dlq`, so a message whose members keep dying is dead-lettered by the broker (with `x-death`) |
//! | replay | the messages in `<topic>.dlq` when the replay starts, each published (confirmed) to its `evc.dlq.original.topic` (or `x-first-death-exchange`) and then acked off the dead-letter queue |
//!
//! A group receives what is published after it was declared (RabbitMQ routes to the queues that
//! exist): declare groups before publishing.

mod lag;
mod subscription;
mod topology;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::Mutex;

use crate::message::now_millis;
use crate::{
    Capabilities, Delivery, Headers, Outgoing, Receipt, ReplayReport, SubscribeOptions, Transport,
    TransportError, TransportKind,
};

pub use subscription::RabbitSubscription;

const KIND: TransportKind = TransportKind::RabbitMq;

/// How to reach RabbitMQ and shape the queues.
#[derive(Debug, Clone)]
pub struct RabbitOptions {
    /// `amqp://user:pass@host:port/vhost`
    pub url: String,
    /// `x-delivery-limit` of the shard queues: deliveries after which the broker itself
    /// dead-letters a message (a member that dies on it every time). Keep it above the
    /// consumer's own retry limit.
    pub delivery_limit: u32,
}

impl RabbitOptions {
    /// `url`, delivery limit 20.
    pub fn new(url: impl Into<String>) -> RabbitOptions {
        RabbitOptions {
            url: url.into(),
            delivery_limit: 20,
        }
    }
}

pub(crate) fn amqp_error(operation: &'static str, target: &str, e: lapin::Error) -> TransportError {
    let text = e.to_string();
    if matches!(e.kind(), lapin::ErrorKind::IOError(_))
        || text.contains("connection") && !e.is_amqp_error()
    {
        TransportError::Unavailable {
            kind: KIND,
            endpoint: target.to_string(),
            source: Box::new(e),
        }
    } else if text.contains("NOT_FOUND") {
        TransportError::UnknownTopic {
            kind: KIND,
            topic: target.to_string(),
        }
    } else {
        TransportError::broker(KIND, operation, target, e)
    }
}

pub(crate) async fn connect(url: &str) -> Result<Connection, TransportError> {
    Connection::connect(url, ConnectionProperties::default())
        .await
        .map_err(|e| TransportError::Unavailable {
            kind: KIND,
            endpoint: url.to_string(),
            source: Box::new(e),
        })
}

pub(crate) async fn confirm_channel(
    conn: &Connection,
    url: &str,
) -> Result<Channel, TransportError> {
    let ch = conn
        .create_channel()
        .await
        .map_err(|e| amqp_error("opening a channel", url, e))?;
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| amqp_error("confirm.select", url, e))?;
    Ok(ch)
}

pub(crate) fn to_table(h: &Headers) -> FieldTable {
    let mut t = FieldTable::default();
    for (name, value) in h.iter() {
        t.insert(
            ShortString::from(name),
            AMQPValue::LongString(LongString::from(value.to_vec())),
        );
    }
    t
}

pub(crate) fn from_table(t: Option<&FieldTable>) -> Headers {
    let mut h = Headers::new();
    let Some(t) = t else { return h };
    for (name, value) in t.inner() {
        let bytes = match value {
            AMQPValue::LongString(s) => s.as_bytes().to_vec(),
            AMQPValue::ShortString(s) => s.as_str().as_bytes().to_vec(),
            AMQPValue::ByteArray(b) => b.as_slice().to_vec(),
            AMQPValue::LongLongInt(i) => i.to_string().into_bytes(),
            AMQPValue::LongInt(i) => i.to_string().into_bytes(),
            AMQPValue::LongUInt(i) => i.to_string().into_bytes(),
            AMQPValue::ShortInt(i) => i.to_string().into_bytes(),
            AMQPValue::Boolean(b) => b.to_string().into_bytes(),
            other => format!("{other:?}").into_bytes(),
        };
        h.push(name.as_str(), bytes);
    }
    h
}

/// Publishes one message on a confirm channel; answers its message id once confirmed.
pub(crate) async fn publish_on(
    ch: &Channel,
    exchange: &str,
    routing_key: &str,
    payload: &[u8],
    headers: &Headers,
) -> Result<(String, lapin::PublisherConfirm), TransportError> {
    let id = uuid::Uuid::new_v4().to_string();
    let props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_message_id(ShortString::from(id.as_str()))
        .with_timestamp(now_millis().max(0) as u64)
        .with_headers(to_table(headers));
    ch.basic_publish(
        ShortString::from(exchange),
        ShortString::from(routing_key),
        BasicPublishOptions::default(),
        payload,
        props,
    )
    .await
    .map(|confirm| (id, confirm))
    .map_err(|e| amqp_error("basic.publish", exchange, e))
}

pub(crate) async fn confirmed(
    exchange: &str,
    confirm: lapin::PublisherConfirm,
) -> Result<(), TransportError> {
    match confirm.await {
        Ok(Confirmation::Ack(_)) => Ok(()),
        Ok(other) => Err(TransportError::NotConfirmed {
            kind: KIND,
            topic: exchange.to_string(),
            reason: format!("{other:?}"),
        }),
        Err(e) => Err(amqp_error("publisher confirm", exchange, e)),
    }
}

pub(crate) fn check_key(key: &str) -> Result<(), TransportError> {
    if key.len() > 255 {
        return Err(TransportError::invalid(
            KIND,
            "message key",
            format!(
                "{} bytes long; AMQP routing keys hold at most 255",
                key.len()
            ),
        ));
    }
    Ok(())
}

/// The RabbitMQ transport (see the [module](self) docs).
pub struct RabbitTransport {
    options: RabbitOptions,
    conn: Connection,
    publisher: Mutex<Option<Channel>>,
    topology: topology::Topology,
}

impl RabbitTransport {
    pub async fn connect(options: RabbitOptions) -> Result<RabbitTransport, TransportError> {
        let conn = connect(&options.url).await?;
        Ok(RabbitTransport {
            topology: topology::Topology::new(options.clone()),
            options,
            conn,
            publisher: Mutex::new(None),
        })
    }

    /// The publishing channel, opened again when the broker closed it (a publish to a
    /// missing exchange closes it).
    async fn channel(&self, slot: &mut Option<Channel>) -> Result<Channel, TransportError> {
        if let Some(ch) = slot.as_ref().filter(|c| c.status().connected()) {
            return Ok(ch.clone());
        }
        let ch = confirm_channel(&self.conn, &self.options.url).await?;
        *slot = Some(ch.clone());
        Ok(ch)
    }

    async fn publish_all(
        &self,
        topic: &str,
        messages: &[Outgoing],
    ) -> Result<Vec<Receipt>, TransportError> {
        self.topology.known_topic(topic).await?;
        for m in messages {
            check_key(&m.key)?;
        }
        let mut confirms = Vec::with_capacity(messages.len());
        {
            let mut slot = self.publisher.lock().await;
            let ch = self.channel(&mut slot).await?;
            for m in messages {
                confirms.push(publish_on(&ch, topic, &m.key, &m.payload, &m.headers).await?);
            }
        }
        let mut out = Vec::with_capacity(confirms.len());
        for (id, c) in confirms {
            confirmed(topic, c).await?;
            out.push(Receipt {
                topic: topic.to_string(),
                shard: None,
                position: Some(id),
            });
        }
        Ok(out)
    }
}

impl Transport for RabbitTransport {
    type Subscription = RabbitSubscription;

    fn kind(&self) -> TransportKind {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            durable_delivery_count: true,
            balanced_shards: false,
        }
    }

    async fn declare_topic(&self, topic: &str, shards: u32) -> Result<(), TransportError> {
        self.topology.declare_topic(topic, shards).await
    }

    async fn declare_group(&self, topic: &str, group: &str) -> Result<(), TransportError> {
        self.topology.declare_group(topic, group).await.map(|_| ())
    }

    async fn publish(&self, topic: &str, message: Outgoing) -> Result<Receipt, TransportError> {
        let mut r = self
            .publish_all(topic, std::slice::from_ref(&message))
            .await?;
        Ok(r.remove(0))
    }

    async fn publish_batch(
        &self,
        topic: &str,
        messages: Vec<Outgoing>,
    ) -> Result<Vec<Receipt>, TransportError> {
        self.publish_all(topic, &messages).await
    }

    async fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<RabbitSubscription, TransportError> {
        let shards = self.topology.declare_group(topic, &options.group).await?;
        RabbitSubscription::start(&self.options, topic, shards, options).await
    }

    async fn delete_group(&self, topic: &str, group: &str) -> Result<(), TransportError> {
        self.topology.delete_group(topic, group).await
    }

    async fn delete_topic(&self, topic: &str) -> Result<(), TransportError> {
        self.topology.delete_topic(topic).await
    }

    async fn dead_letters(
        &self,
        topic: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, TransportError> {
        self.topology.dead_letters(topic, limit).await
    }

    async fn replay_dead_letters(&self, topic: &str) -> Result<ReplayReport, TransportError> {
        self.topology.replay(topic).await
    }
}
