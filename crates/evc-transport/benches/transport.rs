//! Publish and consume throughput of each evc transport beside the same broker's raw client
//! moving the same bytes in the same run, and the ratios.
//!
//! `cargo bench -p evc-transport --all-features --bench transport` (Redis on 127.0.0.1:6379,
//! RabbitMQ on 127.0.0.1:5672 with the consistent-hash exchange plugin, Kafka on librdkafka's
//! in-process mock cluster). `EVC_BENCH_MESSAGES` (default 20000) messages of 100 bytes
//! (Confluent-framed) over 1000 keys and 4 shards; each measurement runs `EVC_BENCH_ROUNDS`
//! times (default 3), evc and raw alternating, and the median is reported.
//!
//! What is compared:
//! - publish: evc `publish_batch` in batches of 500, every message confirmed, against the raw
//!   client doing the same (Redis pipelined `XADD` to the key's stream; RabbitMQ
//!   `basic.publish` to the topic exchange on a confirm channel, then every confirm awaited;
//!   Kafka `FutureProducer` with evc-producer's settings, every delivery awaited).
//! - consume: evc `next` + `ack` one message at a time, against the raw client reading and
//!   acknowledging every message (Redis `XREADGROUP` + `XACK` per entry; RabbitMQ one
//!   consumer per shard queue acking each delivery; Kafka `StreamConsumer` storing each offset).

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use evc_transport::hash::shard_for;
use evc_transport::kafka::{KafkaOptions, KafkaTransport};
use evc_transport::rabbitmq::{RabbitOptions, RabbitTransport};
use evc_transport::redis::{RedisOptions, RedisTransport};
use evc_transport::{Outgoing, SubscribeOptions, Subscription, Transport};
use futures_core::Stream;

const SHARDS: u32 = 4;
const KEYS: usize = 1000;
const BATCH: usize = 500;
const PATIENCE: Duration = Duration::from_secs(300);

fn messages(n: usize) -> Vec<Outgoing> {
    (0..n)
        .map(|i| {
            let mut payload = vec![0, 0, 0, 0, 1];
            payload.resize(100, b'x');
            payload[5..15].copy_from_slice(format!("{i:010}").as_bytes());
            Outgoing::new(format!("key-{}", i % KEYS), payload)
                .header("evc-event-id", format!("event-{i}"))
        })
        .collect()
}

fn unique(what: &str) -> String {
    format!(
        "evc-bench-{what}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[derive(Default)]
struct Figures {
    evc_publish: Vec<f64>,
    raw_publish: Vec<f64>,
    evc_consume: Vec<f64>,
    raw_consume: Vec<f64>,
}

impl Figures {
    fn report(self, name: &str) {
        let (ep, rp) = (median(self.evc_publish), median(self.raw_publish));
        let (ec, rc) = (median(self.evc_consume), median(self.raw_consume));
        println!(
            "{name:<9} publish  evc {ep:>9.0} msg/s   raw {rp:>9.0} msg/s   evc/raw {:.2}",
            ep / rp
        );
        println!(
            "{name:<9} consume  evc {ec:>9.0} msg/s   raw {rc:>9.0} msg/s   evc/raw {:.2}",
            ec / rc
        );
    }
}

fn rate(n: usize, started: Instant) -> f64 {
    n as f64 / started.elapsed().as_secs_f64()
}

async fn evc_publish<T: Transport>(t: &T, topic: &str, msgs: &[Outgoing]) -> f64 {
    let started = Instant::now();
    for chunk in msgs.chunks(BATCH) {
        t.publish_batch(topic, chunk.to_vec())
            .await
            .expect("evc publish");
    }
    rate(msgs.len(), started)
}

async fn evc_consume<T: Transport>(t: &T, topic: &str, group: &str, n: usize) -> f64 {
    let mut s = t
        .subscribe(topic, SubscribeOptions::new(group).prefetch(256))
        .await
        .expect("subscribe");
    let mut started = Instant::now();
    for i in 0..n {
        let d = tokio::time::timeout(PATIENCE, s.next())
            .await
            .expect("evc consume stalled")
            .expect("next");
        s.ack(&d).await.expect("ack");
        if i == 0 {
            // Joining the group is not throughput: time from the first message on.
            started = Instant::now();
        }
    }
    let r = rate(n - 1, started);
    s.close().await.expect("close");
    r
}

// ---------------------------------------------------------------------------------- Redis

async fn redis_round(url: &str, msgs: &[Outgoing], f: &mut Figures) {
    let t = RedisTransport::connect(RedisOptions::new(url))
        .await
        .expect("Redis");
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for raw in [false, true] {
        let topic = unique("redis");
        let group = format!("{topic}-g");
        t.declare_topic(&topic, SHARDS).await.unwrap();
        t.declare_group(&topic, &group).await.unwrap();
        if raw {
            let started = Instant::now();
            for chunk in msgs.chunks(BATCH) {
                let mut pipe = redis::pipe();
                for m in chunk {
                    let shard = shard_for(m.key.as_bytes(), SHARDS);
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
            f.raw_publish.push(rate(msgs.len(), started));
            let mut started = Instant::now();
            let keys: Vec<String> = (0..SHARDS).map(|s| format!("{topic}:{s}")).collect();
            let mut done = 0;
            while done < msgs.len() {
                let mut c = redis::cmd("XREADGROUP");
                c.arg("GROUP")
                    .arg(&group)
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
                let reply: redis::streams::StreamReadReply =
                    c.query_async(&mut conn).await.unwrap();
                for k in reply.keys {
                    for e in k.ids {
                        let _: i64 = redis::cmd("XACK")
                            .arg(&k.key)
                            .arg(&group)
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
            f.raw_consume.push(rate(msgs.len() - 1, started));
        } else {
            f.evc_publish.push(evc_publish(&t, &topic, msgs).await);
            f.evc_consume
                .push(evc_consume(&t, &topic, &group, msgs.len()).await);
        }
        t.delete_group(&topic, &group).await.unwrap();
        t.delete_topic(&topic).await.unwrap();
    }
}

// ------------------------------------------------------------------------------- RabbitMQ

async fn rabbit_round(url: &str, msgs: &[Outgoing], f: &mut Figures) {
    use lapin::options::{
        BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
        ConfirmSelectOptions,
    };
    use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
    use lapin::{BasicProperties, Connection, ConnectionProperties};

    let t = RabbitTransport::connect(RabbitOptions::new(url))
        .await
        .expect("RabbitMQ");
    for raw in [false, true] {
        let topic = unique("amqp");
        let group = format!("{topic}-g");
        t.declare_topic(&topic, SHARDS).await.unwrap();
        t.declare_group(&topic, &group).await.unwrap();
        if raw {
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
                            ShortString::from(topic.as_str()),
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
            f.raw_publish.push(rate(msgs.len(), started));
            let done = Arc::new(AtomicUsize::new(0));
            let total = msgs.len();
            let first = Arc::new(std::sync::OnceLock::new());
            let mut tasks = Vec::new();
            for shard in 0..SHARDS {
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
            f.raw_consume
                .push(rate(total - 1, *first.get().expect("a first message")));
            let _ = conn.close(200, ShortString::from("done")).await;
        } else {
            f.evc_publish.push(evc_publish(&t, &topic, msgs).await);
            f.evc_consume
                .push(evc_consume(&t, &topic, &group, msgs.len()).await);
        }
        t.delete_group(&topic, &group).await.unwrap();
        t.delete_topic(&topic).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------- Kafka

async fn kafka_round(msgs: &[Outgoing], f: &mut Figures) {
    use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
    use rdkafka::ClientConfig;

    let cluster: MockCluster<'static, DefaultProducerContext> = MockCluster::new(3).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let t = KafkaTransport::new(KafkaOptions::new(&bootstrap)).unwrap();
    for raw in [false, true] {
        let topic = unique("kafka");
        let group = format!("{topic}-g");
        cluster.create_topic(&topic, SHARDS as i32, 1).unwrap();
        cluster
            .create_topic(&format!("{topic}.dlq"), SHARDS as i32, 1)
            .unwrap();
        if raw {
            let producer: FutureProducer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("partitioner", "murmur2_random")
                .set("enable.idempotence", "true")
                .set("acks", "all")
                .create()
                .unwrap();
            // Connect and get a producer id before timing, as the transport's producer has.
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
                    let record = FutureRecord::to(&topic)
                        .key(m.key.as_bytes())
                        .payload(&m.payload[..])
                        .headers(headers);
                    pending.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
                }
                for p in pending {
                    p.await.unwrap().unwrap();
                }
            }
            f.raw_publish.push(rate(msgs.len(), started));
            let consumer: StreamConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .set("group.id", &group)
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                .set("auto.offset.reset", "earliest")
                .set("partition.assignment.strategy", "cooperative-sticky")
                .create()
                .unwrap();
            consumer.subscribe(&[topic.as_str()]).unwrap();
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
            f.raw_consume.push(rate(msgs.len() - 1, started));
            consumer.commit_consumer_state(CommitMode::Sync).unwrap();
        } else {
            t.declare_topic(&topic, SHARDS).await.unwrap();
            t.publish(&format!("{topic}.dlq"), Outgoing::new("warm-up", vec![0]))
                .await
                .unwrap();
            f.evc_publish.push(evc_publish(&t, &topic, msgs).await);
            f.evc_consume
                .push(evc_consume(&t, &topic, &group, msgs.len()).await);
        }
    }
}

fn main() {
    let n: usize = std::env::var("EVC_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let rounds: usize = std::env::var("EVC_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let redis_url =
        std::env::var("EVC_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let amqp_url = std::env::var("EVC_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let msgs = messages(n);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{n} messages of 100 bytes, {KEYS} keys, {SHARDS} shards, median of {rounds} round(s)"
    );
    rt.block_on(async {
        let mut redis = Figures::default();
        let mut rabbit = Figures::default();
        let mut kafka = Figures::default();
        for _ in 0..rounds {
            redis_round(&redis_url, &msgs, &mut redis).await;
            rabbit_round(&amqp_url, &msgs, &mut rabbit).await;
            kafka_round(&msgs, &mut kafka).await;
        }
        redis.report("redis");
        rabbit.report("rabbitmq");
        kafka.report("kafka-mock");
    });
}
