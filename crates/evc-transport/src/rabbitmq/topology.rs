//! Exchanges and queues: declaring topics and groups, reading the shard count back, reading and
//! replaying the dead-letter queue. Each operation runs on a short-lived connection of its own,
//! since the broker answers some refusals (an unknown exchange type) by closing the connection.

use std::collections::HashMap;
use std::sync::Mutex;

use lapin::options::{
    BasicAckOptions, BasicGetOptions, ExchangeBindOptions, ExchangeDeclareOptions,
    ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, ExchangeKind};

use super::{
    amqp_error, confirm_channel, confirmed, connect, from_table, publish_on, RabbitOptions, KIND,
};
use crate::{
    check_name, dlq_name, headers, replay_headers, Delivery, ReplayReport, TransportError,
};

/// The queue whose `x-max-length` records a topic's shard count. Nothing is routed to it:
/// RabbitMQ checks `x-max-length` when a queue is declared again, which makes it a record the
/// broker keeps consistent.
fn shard_record(topic: &str) -> String {
    format!("{topic}.shards")
}

pub(crate) fn group_exchange(topic: &str, group: &str) -> String {
    format!("{topic}.group.{group}")
}

pub(crate) fn shard_queue(topic: &str, group: &str, shard: u32) -> String {
    format!("{topic}.group.{group}.{shard}")
}

fn durable() -> ExchangeDeclareOptions {
    ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    }
}

fn durable_queue() -> QueueDeclareOptions {
    QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    }
}

fn table(pairs: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

fn text(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

/// The number after "current is" in a PRECONDITION_FAILED about an argument.
fn current_value(message: &str) -> Option<u32> {
    let rest = &message[message.find("current is")? + "current is".len()..];
    let digits: String = rest
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

pub(crate) struct Topology {
    options: RabbitOptions,
    shards: Mutex<HashMap<String, u32>>,
}

impl Topology {
    pub(crate) fn new(options: RabbitOptions) -> Topology {
        Topology {
            options,
            shards: Mutex::default(),
        }
    }

    async fn channel(&self, conn: &Connection) -> Result<Channel, TransportError> {
        conn.create_channel()
            .await
            .map_err(|e| amqp_error("opening a channel", &self.options.url, e))
    }

    fn cached(&self, topic: &str) -> Option<u32> {
        self.shards
            .lock()
            .expect("not poisoned")
            .get(topic)
            .copied()
    }

    /// Publishing needs only the topic exchange; a missing one is reported by the broker.
    pub(crate) async fn known_topic(&self, topic: &str) -> Result<(), TransportError> {
        check_name(KIND, "topic", topic)
    }

    pub(crate) async fn declare_topic(
        &self,
        topic: &str,
        shards: u32,
    ) -> Result<(), TransportError> {
        check_name(KIND, "topic", topic)?;
        if shards == 0 {
            return Err(TransportError::invalid(
                KIND,
                format!("topic `{topic}`"),
                "0 shards",
            ));
        }
        let conn = connect(&self.options.url).await?;
        let ch = self.channel(&conn).await?;
        let record = shard_record(topic);
        let declared = ch
            .queue_declare(
                ShortString::from(record.as_str()),
                durable_queue(),
                table(&[("x-max-length", AMQPValue::LongLongInt(i64::from(shards)))]),
            )
            .await;
        if let Err(e) = declared {
            let message = e.to_string();
            return Err(match current_value(&message) {
                Some(found) if message.contains("PRECONDITION_FAILED") => {
                    TransportError::ShardMismatch {
                        kind: KIND,
                        topic: topic.to_string(),
                        wanted: shards,
                        found,
                    }
                }
                _ => amqp_error("queue.declare", &record, e),
            });
        }
        let dlq = dlq_name(topic);
        ch.exchange_declare(
            ShortString::from(topic),
            ExchangeKind::Fanout,
            durable(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| amqp_error("exchange.declare", topic, e))?;
        ch.exchange_declare(
            ShortString::from(dlq.as_str()),
            ExchangeKind::Fanout,
            durable(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| amqp_error("exchange.declare", &dlq, e))?;
        ch.queue_declare(
            ShortString::from(dlq.as_str()),
            durable_queue(),
            table(&[("x-queue-type", text("quorum"))]),
        )
        .await
        .map_err(|e| amqp_error("queue.declare", &dlq, e))?;
        ch.queue_bind(
            ShortString::from(dlq.as_str()),
            ShortString::from(dlq.as_str()),
            ShortString::from(""),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| amqp_error("queue.bind", &dlq, e))?;
        let _ = conn.close(200, ShortString::from("declared")).await;
        self.shards
            .lock()
            .expect("not poisoned")
            .insert(topic.to_string(), shards);
        Ok(())
    }

    /// The shard count of `topic`: declared here before, or read back from the broker's record.
    pub(crate) async fn shard_count(&self, topic: &str) -> Result<u32, TransportError> {
        if let Some(n) = self.cached(topic) {
            return Ok(n);
        }
        let conn = connect(&self.options.url).await?;
        let record = shard_record(topic);
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        self.channel(&conn)
            .await?
            .queue_declare(
                ShortString::from(record.as_str()),
                passive,
                FieldTable::default(),
            )
            .await
            .map_err(|e| amqp_error("queue.declare", topic, e))?;
        // Declaring the record with a length it cannot have makes the broker name the real one.
        let probe = self
            .channel(&conn)
            .await?
            .queue_declare(
                ShortString::from(record.as_str()),
                durable_queue(),
                table(&[("x-max-length", AMQPValue::LongLongInt(i64::from(u32::MAX)))]),
            )
            .await;
        let _ = conn.close(200, ShortString::from("read")).await;
        let n = match probe {
            Err(e) => current_value(&e.to_string())
                .ok_or_else(|| amqp_error("queue.declare", &record, e))?,
            Ok(_) => {
                return Err(TransportError::broker(
                    KIND,
                    "reading the shard count",
                    &record,
                    "the record queue accepted an impossible x-max-length",
                ))
            }
        };
        self.shards
            .lock()
            .expect("not poisoned")
            .insert(topic.to_string(), n);
        Ok(n)
    }

    /// Declares the group's hash exchange and shard queues; answers the shard count.
    pub(crate) async fn declare_group(
        &self,
        topic: &str,
        group: &str,
    ) -> Result<u32, TransportError> {
        check_name(KIND, "group", group)?;
        let shards = self.shard_count(topic).await?;
        let conn = connect(&self.options.url).await?;
        let ch = self.channel(&conn).await?;
        let gx = group_exchange(topic, group);
        ch.exchange_declare(
            ShortString::from(gx.as_str()),
            ExchangeKind::Custom("x-consistent-hash".into()),
            durable(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| {
            let message = e.to_string();
            if message.contains("x-consistent-hash") || message.contains("COMMAND_INVALID") {
                TransportError::Unsupported {
                    kind: KIND,
                    what: "the consistent-hash exchange type".into(),
                    hint: "enable the bundled plugin: rabbitmq-plugins enable rabbitmq_consistent_hash_exchange".into(),
                }
            } else {
                amqp_error("exchange.declare", &gx, e)
            }
        })?;
        ch.exchange_bind(
            ShortString::from(gx.as_str()),
            ShortString::from(topic),
            ShortString::from(""),
            ExchangeBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| amqp_error("exchange.bind", topic, e))?;
        let dlq = dlq_name(topic);
        for shard in 0..shards {
            let q = shard_queue(topic, group, shard);
            ch.queue_declare(
                ShortString::from(q.as_str()),
                durable_queue(),
                table(&[
                    ("x-queue-type", text("quorum")),
                    ("x-single-active-consumer", AMQPValue::Boolean(true)),
                    (
                        "x-delivery-limit",
                        AMQPValue::LongLongInt(i64::from(self.options.delivery_limit)),
                    ),
                    ("x-dead-letter-exchange", text(&dlq)),
                ]),
            )
            .await
            .map_err(|e| amqp_error("queue.declare", &q, e))?;
            // The binding key of a consistent-hash exchange is the queue's weight.
            ch.queue_bind(
                ShortString::from(q.as_str()),
                ShortString::from(gx.as_str()),
                ShortString::from("100"),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| amqp_error("queue.bind", &q, e))?;
        }
        let _ = conn.close(200, ShortString::from("declared")).await;
        Ok(shards)
    }

    pub(crate) async fn delete_group(
        &self,
        topic: &str,
        group: &str,
    ) -> Result<(), TransportError> {
        let shards = self.shard_count(topic).await?;
        let conn = connect(&self.options.url).await?;
        let ch = self.channel(&conn).await?;
        for shard in 0..shards {
            let q = shard_queue(topic, group, shard);
            ch.queue_delete(ShortString::from(q.as_str()), QueueDeleteOptions::default())
                .await
                .map_err(|e| amqp_error("queue.delete", &q, e))?;
        }
        let gx = group_exchange(topic, group);
        ch.exchange_delete(
            ShortString::from(gx.as_str()),
            ExchangeDeleteOptions::default(),
        )
        .await
        .map_err(|e| amqp_error("exchange.delete", &gx, e))?;
        let _ = conn.close(200, ShortString::from("deleted")).await;
        Ok(())
    }

    pub(crate) async fn delete_topic(&self, topic: &str) -> Result<(), TransportError> {
        let conn = connect(&self.options.url).await?;
        let ch = self.channel(&conn).await?;
        let dlq = dlq_name(topic);
        for q in [dlq.clone(), shard_record(topic)] {
            ch.queue_delete(ShortString::from(q.as_str()), QueueDeleteOptions::default())
                .await
                .map_err(|e| amqp_error("queue.delete", &q, e))?;
        }
        for x in [topic.to_string(), dlq] {
            ch.exchange_delete(
                ShortString::from(x.as_str()),
                ExchangeDeleteOptions::default(),
            )
            .await
            .map_err(|e| amqp_error("exchange.delete", &x, e))?;
        }
        let _ = conn.close(200, ShortString::from("deleted")).await;
        self.shards.lock().expect("not poisoned").remove(topic);
        Ok(())
    }

    pub(crate) async fn dead_letters(
        &self,
        topic: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, TransportError> {
        let dlq = dlq_name(topic);
        let conn = connect(&self.options.url).await?;
        let ch = self.channel(&conn).await?;
        let mut out = Vec::new();
        while out.len() < limit {
            let got = ch
                .basic_get(ShortString::from(dlq.as_str()), BasicGetOptions::default())
                .await
                .map_err(|e| amqp_error("basic.get", &dlq, e))?;
            let Some(m) = got else { break };
            let d = &m.delivery;
            out.push(Delivery {
                topic: dlq.clone(),
                shard: 0,
                position: d
                    .properties
                    .message_id()
                    .as_ref()
                    .map_or_else(|| d.delivery_tag.to_string(), |id| id.as_str().to_string()),
                key: Some(d.routing_key.as_str().as_bytes().to_vec()),
                payload: d.data.clone(),
                headers: from_table(d.properties.headers().as_ref()),
                delivery_count: 1,
                timestamp: d.properties.timestamp().map(|t| t as i64),
                subscription: 0,
                tag: 0,
            });
        }
        // Closing without acks puts every message back, in order.
        let _ = conn.close(200, ShortString::from("inspected")).await;
        Ok(out)
    }

    pub(crate) async fn replay(&self, topic: &str) -> Result<ReplayReport, TransportError> {
        let dlq = dlq_name(topic);
        let conn = connect(&self.options.url).await?;
        let ch = self.channel(&conn).await?;
        let publisher = confirm_channel(&conn, &self.options.url).await?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let present = ch
            .queue_declare(
                ShortString::from(dlq.as_str()),
                passive,
                FieldTable::default(),
            )
            .await
            .map_err(|e| amqp_error("queue.declare", &dlq, e))?
            .message_count();
        let mut report = ReplayReport::default();
        for _ in 0..present {
            let got = ch
                .basic_get(ShortString::from(dlq.as_str()), BasicGetOptions::default())
                .await
                .map_err(|e| amqp_error("basic.get", &dlq, e))?;
            let Some(m) = got else { break };
            let d = m.delivery;
            let h = from_table(d.properties.headers().as_ref());
            let target = h
                .get_str(headers::ORIGINAL_TOPIC)
                .or_else(|| h.get_str("x-first-death-exchange"))
                .map(str::to_string)
                .ok_or_else(|| TransportError::NoReplayTarget {
                    kind: KIND,
                    dlq: dlq.clone(),
                    position: d.delivery_tag.to_string(),
                })?;
            let confirm = publish_on(
                &publisher,
                &target,
                d.routing_key.as_str(),
                &d.data,
                &replay_headers(&h),
            )
            .await?;
            confirmed(&target, confirm.1).await?;
            ch.basic_ack(d.delivery_tag, BasicAckOptions::default())
                .await
                .map_err(|e| amqp_error("basic.ack", &dlq, e))?;
            *report.replayed.entry(target).or_default() += 1;
        }
        let _ = conn.close(200, ShortString::from("replayed")).await;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::current_value;

    #[test]
    fn reads_the_current_value_of_an_inequivalent_argument() {
        let m = "PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue 'o.shards' in \
                 vhost '/': received the value '3' of type 'long' but current is the value '2' \
                 of type 'long'";
        assert_eq!(current_value(m), Some(2));
        assert_eq!(current_value("NOT_FOUND - no queue"), None);
    }
}
