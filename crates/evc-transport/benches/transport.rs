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
//!   client doing the same (the loops of `raw.rs`, shared with evc-consumer's end-to-end bench).
//! - consume: evc `next` + `ack` one message at a time, against the raw client reading and
//!   acknowledging every message (`raw.rs`).
//!
//! Besides the table it prints one `evc-bench` line per figure (evc beside raw) for
//! `cargo xtask bench`, which runs it with `EVC_BENCH_QUICK=1` (2,000 messages, one round).

use std::time::{Duration, Instant};

use evc_transport::kafka::{KafkaOptions, KafkaTransport};
use evc_transport::rabbitmq::{RabbitOptions, RabbitTransport};
use evc_transport::redis::{RedisOptions, RedisTransport};
use evc_transport::{Outgoing, SubscribeOptions, Subscription, Transport};

#[path = "raw.rs"]
mod raw;
use raw::BATCH;

const SHARDS: u32 = 4;
const KEYS: usize = 1000;
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
    fn raw(&mut self, r: raw::Rates) {
        self.raw_publish.push(r.publish);
        self.raw_consume.push(r.consume);
    }

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
        println!("evc-bench\ttransport publish, {name}\t{ep:.0}\t{rp:.0}\tmsg/s\t-");
        println!("evc-bench\ttransport consume, {name}\t{ec:.0}\t{rc:.0}\tmsg/s\t-");
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

// ------------------------------------------------------------------------------- rounds

async fn redis_round(url: &str, msgs: &[Outgoing], f: &mut Figures) {
    let t = RedisTransport::connect(RedisOptions::new(url))
        .await
        .expect("Redis");
    for raw in [false, true] {
        let topic = unique("redis");
        let group = format!("{topic}-g");
        t.declare_topic(&topic, SHARDS).await.unwrap();
        t.declare_group(&topic, &group).await.unwrap();
        if raw {
            f.raw(raw::redis(url, &topic, &group, SHARDS, msgs).await);
        } else {
            f.evc_publish.push(evc_publish(&t, &topic, msgs).await);
            f.evc_consume
                .push(evc_consume(&t, &topic, &group, msgs.len()).await);
        }
        t.delete_group(&topic, &group).await.unwrap();
        t.delete_topic(&topic).await.unwrap();
    }
}

async fn rabbit_round(url: &str, msgs: &[Outgoing], f: &mut Figures) {
    let t = RabbitTransport::connect(RabbitOptions::new(url))
        .await
        .expect("RabbitMQ");
    for raw in [false, true] {
        let topic = unique("amqp");
        let group = format!("{topic}-g");
        t.declare_topic(&topic, SHARDS).await.unwrap();
        t.declare_group(&topic, &group).await.unwrap();
        if raw {
            f.raw(raw::rabbit(url, &topic, &group, SHARDS, msgs).await);
        } else {
            f.evc_publish.push(evc_publish(&t, &topic, msgs).await);
            f.evc_consume
                .push(evc_consume(&t, &topic, &group, msgs.len()).await);
        }
        t.delete_group(&topic, &group).await.unwrap();
        t.delete_topic(&topic).await.unwrap();
    }
}

async fn kafka_round(msgs: &[Outgoing], f: &mut Figures) {
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::DefaultProducerContext;

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
            f.raw(raw::kafka(&bootstrap, &topic, &group, msgs).await);
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
    let quick = std::env::var_os("EVC_BENCH_QUICK").is_some();
    let n: usize = std::env::var("EVC_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2_000 } else { 20_000 });
    let rounds: usize = std::env::var("EVC_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 1 } else { 3 });
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
