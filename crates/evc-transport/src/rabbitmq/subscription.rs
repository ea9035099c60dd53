//! A group member: one connection, one channel and consumer per shard queue, manual acks.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::Acker;
use lapin::{Channel, Connection};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::lag::Held;
use super::topology::shard_queue;
use super::{
    amqp_error, check_key, confirm_channel, confirmed, connect, from_table, publish_on,
    RabbitOptions, KIND,
};
use crate::gate::Gate;
use crate::{
    dead_letter_headers, dlq_name, DeadLetterReason, Delivery, SubscribeOptions, Subscription,
    SubscriptionStats, TransportError,
};

enum Event {
    Delivery(u32, Box<lapin::message::Delivery>),
    Failed(u32, lapin::Error),
}

/// A RabbitMQ group member (see the [module](super) docs). Dropping it closes its connection:
/// the broker puts back what it held and hands its queues to a standby member.
pub struct RabbitSubscription {
    topic: String,
    group: String,
    /// Always `Some` until dropped or closed.
    conn: Option<Connection>,
    publisher: Channel,
    events: mpsc::UnboundedReceiver<Event>,
    forwarders: Vec<JoinHandle<()>>,
    ackers: HashMap<(u32, String), Acker>,
    gate: Gate,
    held: Arc<Held>,
    stats: Arc<SubscriptionStats>,
    /// A failure met while filling a batch, reported by the next `next`.
    failed: Option<TransportError>,
}

impl Drop for RabbitSubscription {
    fn drop(&mut self) {
        let forwarders = std::mem::take(&mut self.forwarders);
        let Some(conn) = self.conn.take() else {
            return;
        };
        // Close the connection before the consumers go: a consumer cancelled on its own makes
        // the broker hand the queue to a standby member while the messages this member held
        // are still out, and they would come back after newer ones. Closing the connection
        // returns them and moves the queue in one step.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(shut(conn, forwarders));
            }
            Err(_) => forwarders.iter().for_each(JoinHandle::abort),
        }
    }
}

async fn shut(conn: Connection, forwarders: Vec<JoinHandle<()>>) -> Result<(), lapin::Error> {
    let closed = conn.close(200, ShortString::from("closing")).await;
    for f in forwarders {
        f.abort();
    }
    closed
}

fn delivery_count(headers: Option<&FieldTable>) -> u32 {
    let returned = headers
        .and_then(|t| t.inner().get("x-delivery-count"))
        .and_then(|v| match v {
            AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongUInt(n) => Some(*n),
            AMQPValue::ShortInt(n) => u32::try_from(*n).ok(),
            _ => None,
        })
        .unwrap_or(0);
    returned.saturating_add(1)
}

impl RabbitSubscription {
    pub(crate) async fn start(
        options: &RabbitOptions,
        topic: &str,
        shards: u32,
        sub: SubscribeOptions,
    ) -> Result<RabbitSubscription, TransportError> {
        let conn = connect(&options.url).await?;
        let publisher = confirm_channel(&conn, &options.url).await?;
        let (tx, events) = mpsc::unbounded_channel();
        let mut forwarders = Vec::new();
        let held = Arc::new(Held::new(shards));
        for shard in 0..shards {
            let q = shard_queue(topic, &sub.group, shard);
            let ch = conn
                .create_channel()
                .await
                .map_err(|e| amqp_error("opening a channel", &q, e))?;
            ch.basic_qos(sub.prefetch.max(1), BasicQosOptions::default())
                .await
                .map_err(|e| amqp_error("basic.qos", &q, e))?;
            let mut consumer = ch
                .basic_consume(
                    ShortString::from(q.as_str()),
                    ShortString::from(""),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|e| amqp_error("basic.consume", &q, e))?;
            let tx = tx.clone();
            let held = held.clone();
            forwarders.push(tokio::spawn(async move {
                let _channel = ch;
                loop {
                    let next =
                        std::future::poll_fn(|cx| Pin::new(&mut consumer).poll_next(cx)).await;
                    let event = match next {
                        Some(Ok(d)) => {
                            held.received(shard);
                            Event::Delivery(shard, Box::new(d))
                        }
                        Some(Err(e)) => Event::Failed(shard, e),
                        None => break,
                    };
                    let failed = matches!(event, Event::Failed(..));
                    if tx.send(event).is_err() || failed {
                        break;
                    }
                }
            }));
        }
        let stats = Arc::new(SubscriptionStats::new(topic));
        let measuring = conn
            .create_channel()
            .await
            .map_err(|e| amqp_error("opening a channel", topic, e))?;
        forwarders.push(super::lag::spawn(
            measuring,
            topic.to_string(),
            sub.group.clone(),
            shards,
            held.clone(),
            stats.clone(),
            sub.lag_interval,
        ));
        // Every member is attached to every shard queue; the broker delivers each queue to
        // one active member (single active consumer) and keeps the others standing by.
        tracing::info!(transport = %KIND, topic = %topic, group = %sub.group, shards = ?(0..shards).collect::<Vec<_>>(), single_active_consumer = true, "consumer assigned shards");
        Ok(RabbitSubscription {
            topic: topic.to_string(),
            group: sub.group,
            conn: Some(conn),
            publisher,
            events,
            forwarders,
            ackers: HashMap::new(),
            held,
            stats,
            gate: Gate::new(KIND).with_window(sub.window),
            failed: None,
        })
    }

    fn check_mine(&self, d: &Delivery) -> Result<(), TransportError> {
        if d.subscription == self.gate.id() && d.topic == self.topic {
            Ok(())
        } else {
            Err(TransportError::NotOutstanding {
                kind: KIND,
                topic: d.topic.clone(),
                shard: d.shard,
                position: d.position.clone(),
            })
        }
    }

    fn held_shards(&self) -> Vec<u32> {
        (0..self.held.shards()).collect()
    }

    fn consumer_failed(&self, shard: u32, e: &lapin::Error) -> TransportError {
        TransportError::Closed {
            kind: KIND,
            topic: self.topic.clone(),
            reason: format!("the consumer of shard {shard} failed: {e}"),
        }
    }

    fn ended(&self) -> TransportError {
        TransportError::Closed {
            kind: KIND,
            topic: self.topic.clone(),
            reason: "every consumer ended".into(),
        }
    }

    fn arrived(&mut self, shard: u32, d: lapin::message::Delivery) {
        let position = d.properties.message_id().as_ref().map_or_else(
            || format!("tag-{}", d.delivery_tag),
            |id| id.as_str().to_string(),
        );
        let headers = d.properties.headers().as_ref();
        let delivery = Delivery {
            topic: self.topic.clone(),
            shard,
            position: position.clone(),
            key: Some(d.routing_key.as_str().as_bytes().to_vec()),
            payload: d.data,
            headers: from_table(headers),
            delivery_count: delivery_count(headers),
            timestamp: d.properties.timestamp().map(|t| t as i64),
            subscription: 0,
            tag: d.delivery_tag,
        };
        self.ackers.insert((shard, position), d.acker);
        self.gate.push(delivery);
    }
}

impl Subscription for RabbitSubscription {
    async fn next(&mut self) -> Result<Delivery, TransportError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        loop {
            if let Some(d) = self.gate.take_ready() {
                return Ok(d);
            }
            let wait = self.gate.next_retry_in().unwrap_or(Duration::from_secs(1));
            match tokio::time::timeout(wait, self.events.recv()).await {
                Err(_) => continue,
                Ok(Some(Event::Delivery(shard, d))) => self.arrived(shard, *d),
                Ok(Some(Event::Failed(shard, e))) => return Err(self.consumer_failed(shard, &e)),
                Ok(None) => return Err(self.ended()),
            }
        }
    }

    /// After the first delivery, what the gate holds and what arrives within `linger`.
    async fn next_batch(
        &mut self,
        max: usize,
        linger: Duration,
    ) -> Result<Vec<Delivery>, TransportError> {
        let first = self.next().await?;
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + linger;
        loop {
            self.gate.take_ready_into(&mut batch, max);
            if batch.len() >= max {
                break;
            }
            // No linger: no await either, so a caller dropping the batch loses nothing.
            let got = if linger.is_zero() {
                match self.events.try_recv() {
                    Ok(e) => Some(Some(e)),
                    Err(mpsc::error::TryRecvError::Empty) => None,
                    Err(mpsc::error::TryRecvError::Disconnected) => Some(None),
                }
            } else {
                tokio::time::timeout_at(deadline, self.events.recv())
                    .await
                    .ok()
            };
            match got {
                Some(Some(Event::Delivery(shard, d))) => self.arrived(shard, *d),
                Some(Some(Event::Failed(shard, e))) => {
                    self.failed = Some(self.consumer_failed(shard, &e));
                    break;
                }
                Some(None) => {
                    self.failed = Some(self.ended());
                    break;
                }
                None => break,
            }
        }
        Ok(batch)
    }

    async fn ack(&mut self, delivery: &Delivery) -> Result<(), TransportError> {
        self.check_mine(delivery)?;
        self.gate.check_outstanding(delivery)?;
        let key = (delivery.shard, delivery.position.clone());
        if let Some(acker) = self.ackers.get(&key) {
            acker
                .ack(BasicAckOptions::default())
                .await
                .map_err(|e| amqp_error("basic.ack", &self.topic, e))?;
            self.ackers.remove(&key);
            self.held.acked(delivery.shard);
        }
        self.gate.settle(delivery)
    }

    async fn nack(
        &mut self,
        delivery: Delivery,
        retry_after: Duration,
    ) -> Result<(), TransportError> {
        self.check_mine(&delivery)?;
        // The later deliveries it takes back stay unacked at the broker, their ackers kept.
        self.gate.nack(delivery, retry_after).map(drop)
    }

    async fn dead_letter(
        &mut self,
        delivery: &Delivery,
        reason: &DeadLetterReason,
    ) -> Result<(), TransportError> {
        self.check_mine(delivery)?;
        self.gate.check_outstanding(delivery)?;
        let dlq = dlq_name(&self.topic);
        let key = delivery.key_str().unwrap_or_default();
        check_key(key)?;
        let headers = dead_letter_headers(delivery, &self.group, reason);
        let (_, confirm) =
            publish_on(&self.publisher, &dlq, key, &delivery.payload, &headers).await?;
        confirmed(&dlq, confirm).await?;
        self.ack(delivery).await
    }

    async fn close(mut self) -> Result<(), TransportError> {
        let forwarders = std::mem::take(&mut self.forwarders);
        let shards = self.held_shards();
        match self.conn.take() {
            Some(conn) => {
                shut(conn, forwarders)
                    .await
                    .map_err(|e| amqp_error("connection.close", &self.topic, e))?;
                tracing::info!(transport = %KIND, topic = %self.topic, group = %self.group, shards = ?shards, reason = "closed", "consumer revoked shards");
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn stats(&self) -> Arc<SubscriptionStats> {
        self.stats.clone()
    }
}
