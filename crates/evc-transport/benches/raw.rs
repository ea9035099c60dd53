//! The raw-client side of the transport and end-to-end benchmarks: each broker's own client
//! publishing a batch of messages (every one confirmed) and reading it back (every one
//! acknowledged), with no evc code in between. Shared by
//! `crates/evc-transport/benches/transport.rs` and `crates/evc-consumer/benches/end_to_end.rs`
//! (`#[path = "..."] mod raw;`), so both compare against the same loops.
//!
//! - publish, in batches of [`BATCH`]: Redis pipelined `XADD` to the key's shard stream;
//!   RabbitMQ `basic.publish` to the topic exchange on a confirm channel, then every confirm
//!   awaited; Kafka a `FutureProducer` with evc-producer's settings (idempotent, `acks=all`,
//!   murmur2 partitioner), every delivery awaited, after one warm-up message to `{topic}.dlq`
//!   so connecting and getting a producer id are not timed.
//! - consume: Redis `XREADGROUP` (256 at a time) + `XACK` per entry; RabbitMQ one consumer per
//!   shard queue (prefetch 256) acking each delivery; Kafka a `StreamConsumer` storing each
//!   offset. The clock starts at the first message, so joining is not counted.
//!
//! The topic, its shards and the group are declared by the caller through the evc transport
//! (the raw side reads the same streams, queues and partitions evc would).

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use evc_transport::hash::shard_for;
use evc_transport::Outgoing;
use futures_core::Stream;

/// Messages per publish batch (every one confirmed before the next batch).
pub const BATCH: usize = 500;
const PATIENCE: Duration = Duration::from_secs(600);

/// Messages per second, each way.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub publish: f64,
    pub consume: f64,
}

fn rate(n: usize, started: Instant) -> f64 {
    n as f64 / started.elapsed().as_secs_f64()
}

/// Redis Streams: the topic's shard streams `{topic}:{shard}`, the consumer group `group`.
pub async fn redis(url: &str, topic: &str, group: &str, shards: u32, msgs: &[Outgoing]) -> Rates {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let started = Instant::now();
    for chunk in msgs.chunks(BATCH) {
        let mut pipe = redis::pipe();
        for m in chunk {
            let shard = shard_for(m.key.as_bytes(), shards);
            let c = pipe
                .cmd("XADD")
                .arg(format!("{topic}:{shard}"))
                .arg("*")
                .arg("k")
                .arg(m.key.as_bytes())
                .arg("p")
                .arg(&m.payload[..]);
            for (name, value) in m.headers.iter() {
                c.arg(format!("h:{name}")).arg(value);
            }
        }
        let _: Vec<String> = pipe.query_async(&mut conn).await.unwrap();
    }
    let publish = rate(msgs.len(), started);
    let mut started = Instant::now();
    let keys: Vec<String> = (0..shards).map(|s| format!("{topic}:{s}")).collect();
    let mut done = 0;
    while done < msgs.len() {
        let mut c = redis::cmd("XREADGROUP");
        c.arg("GROUP")
            .arg(group)
            .arg("raw")
            .arg("COUNT")
            .arg(256)
            .arg("BLOCK")
            .arg(1000)
            .arg("STREAMS")
            .arg(&keys);
        for _ in &keys {
            c.arg(">");
        }
        let reply: redis::streams::StreamReadReply = c.query_async(&mut conn).await.unwrap();
        for k in reply.keys {
            for e in k.ids {
                let _: i64 = redis::cmd("XACK")
                    .arg(&k.key)
                    .arg(group)
                    .arg(&e.id)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                if done == 0 {
                    started = Instant::now();
                }
                done += 1;
            }
        }
    }
    Rates {
        publish,
        consume: rate(msgs.len() - 1, started),
    }
}

/// RabbitMQ: the topic exchange `topic`, the group's shard queues `{topic}.group.{group}.{n}`.
pub async fn rabbit(url: &str, topic: &str, group: &str, shards: u32, msgs: &[Outgoing]) -> Rates {
    use lapin::options::{
        BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
        ConfirmSelectOptions,
    };
    use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
    use lapin::{BasicProperties, Connection, ConnectionProperties};

    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let started = Instant::now();
    for chunk in msgs.chunks(BATCH) {
        let mut confirms = Vec::with_capacity(chunk.len());
        for m in chunk {
            let mut headers = FieldTable::default();
            for (name, value) in m.headers.iter() {
                headers.insert(
                    ShortString::from(name),
                    AMQPValue::LongString(LongString::from(value.to_vec())),
                );
            }
            let props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_headers(headers);
            confirms.push(
                ch.basic_publish(
                    ShortString::from(topic),
                    ShortString::from(m.key.as_str()),
                    BasicPublishOptions::default(),
                    &m.payload,
                    props,
                )
                .await
                .unwrap(),
            );
        }
        for c in confirms {
            assert!(c.await.unwrap().is_ack());
        }
    }
    let publish = rate(msgs.len(), started);
    let done = Arc::new(AtomicUsize::new(0));
    let total = msgs.len();
    let first = Arc::new(std::sync::OnceLock::new());
    let mut tasks = Vec::new();
    for shard in 0..shards {
        let ch = conn.create_channel().await.unwrap();
        ch.basic_qos(256, BasicQosOptions::default()).await.unwrap();
        let mut consumer = ch
            .basic_consume(
                ShortString::from(format!("{topic}.group.{group}.{shard}")),
                ShortString::from(""),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let done = done.clone();
        let first = first.clone();
        tasks.push(tokio::spawn(async move {
            let _ch = ch;
            while done.load(Ordering::SeqCst) < total {
                let next = tokio::time::timeout(
                    Duration::from_millis(200),
                    std::future::poll_fn(|cx| Pin::new(&mut consumer).poll_next(cx)),
                )
                .await;
                if let Ok(Some(d)) = next {
                    let d = d.unwrap();
                    d.acker.ack(BasicAckOptions::default()).await.unwrap();
                    first.get_or_init(Instant::now);
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for task in tasks {
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("raw consume stalled")
            .unwrap();
    }
    let consume = rate(total - 1, *first.get().expect("a first message"));
    let _ = conn.close(200, ShortString::from("done")).await;
    Rates { publish, consume }
}

/// Kafka: the topic `topic` and `{topic}.dlq` (for the warm-up message) exist; the consumer
/// joins `group` and reads from the earliest offset.
pub async fn kafka(bootstrap: &str, topic: &str, group: &str, msgs: &[Outgoing]) -> Rates {
    use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::ClientConfig;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("partitioner", "murmur2_random")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .unwrap();
    // Connect and get a producer id before timing, as evc's producer has.
    producer
        .send(
            FutureRecord::<[u8], [u8]>::to(&format!("{topic}.dlq")).payload(&[0u8][..]),
            PATIENCE,
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    let started = Instant::now();
    for chunk in msgs.chunks(BATCH) {
        let mut pending = Vec::with_capacity(chunk.len());
        for m in chunk {
            let mut headers = OwnedHeaders::new();
            for (key, value) in m.headers.iter() {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            let record = FutureRecord::to(topic)
                .key(m.key.as_bytes())
                .payload(&m.payload[..])
                .headers(headers);
            pending.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
        }
        for p in pending {
            p.await.unwrap().unwrap();
        }
    }
    let publish = rate(msgs.len(), started);
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut started = Instant::now();
    for i in 0..msgs.len() {
        let m = tokio::time::timeout(PATIENCE, consumer.recv())
            .await
            .expect("raw consume stalled")
            .unwrap();
        consumer.store_offset_from_message(&m).unwrap();
        if i == 0 {
            started = Instant::now();
        }
    }
    let consume = rate(msgs.len() - 1, started);
    consumer.commit_consumer_state(CommitMode::Sync).unwrap();
    Rates { publish, consume }
}
