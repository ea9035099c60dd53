//! Typed produce + idempotent consume per transport, beside the same broker's raw client moving
//! the same bytes in the same run, and the ratios.
//!
//! `cargo bench -p evc-consumer --bench end_to_end` (Redis on 127.0.0.1:6379 or
//! `EVC_TEST_REDIS_URL`, RabbitMQ on 127.0.0.1:5672 or `EVC_TEST_AMQP_URL` with the
//! consistent-hash exchange plugin, Kafka on librdkafka's in-process mock cluster; nothing else
//! to install). `EVC_BENCH_EVENTS` (default 5000; 2000 with `EVC_BENCH_QUICK=1`) `OrderCreated`
//! events over 4 shards, each measurement `EVC_BENCH_ROUNDS` times (default 3; quick 1), typed and raw alternating, medians
//! reported. `EVC_BENCH_TRANSPORTS` (default `kafka,redis,rabbitmq`) picks transports.
//!
//! - typed produce: `EventProducer::send_topic_batch_to` in batches of 500 (Avro encoding through
//!   the generated encoder, Confluent framing, headers, every message confirmed); raw: the
//!   broker's client publishing the same keys, bytes and headers, every message confirmed
//!   (`crates/evc-transport/benches/raw.rs`, the loops evc-transport's bench compares with).
//! - idempotent consume: `EventConsumer` with the processed-events store on a SQLite file (WAL,
//!   `synchronous=FULL`; the default: marker + a no-op handler per event, one transaction
//!   per event), decoding each event; raw: the broker's client reading
//!   and acking every message (no decoding, no database). The gap is the price of decoding and
//!   of the durable commits.
//!
//! Besides its table it prints one `evc-bench` line per figure, without a target (the raw side
//! does neither of the things an idempotent consumer pays for).

use std::time::{Duration, Instant};

use evc_consumer::{
    ConsumerConfig, EventConsumer, Handler, HandlerError, MessageMeta, SqliteStore,
};
use evc_producer::{EventProducer, ProducerConfig};
use evc_registry_client::RegistryClient;
use evc_transport::{AnyTransport, Outgoing, Transport};
use evc_wire::Serializer;
use order_events::OrderEvent;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use sqlx::{Sqlite, Transaction};

/// The raw clients' loops, shared with evc-transport's bench.
#[path = "../../evc-transport/benches/raw.rs"]
mod raw;
use raw::BATCH;

const SHARDS: u32 = 4;
const PATIENCE: Duration = Duration::from_secs(600);

struct Noop;

impl Handler<OrderEvent, Sqlite> for Noop {
    async fn handle(
        &self,
        _tx: &mut Transaction<'static, Sqlite>,
        _event: &OrderEvent,
        _meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        Ok(())
    }
}

fn unique(what: &str) -> String {
    format!(
        "evc-e2e-{what}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn rate(n: usize, started: Instant) -> f64 {
    n as f64 / started.elapsed().as_secs_f64()
}

#[derive(Default)]
struct Figures {
    typed_produce: Vec<f64>,
    raw_produce: Vec<f64>,
    typed_consume: Vec<f64>,
    raw_consume: Vec<f64>,
}

impl Figures {
    fn report(self, name: &str) {
        let (tp, rp) = (median(self.typed_produce), median(self.raw_produce));
        let (tc, rc) = (median(self.typed_consume), median(self.raw_consume));
        println!(
            "{name:<10} typed produce      {tp:>8.0} ev/s   raw {rp:>8.0} msg/s   typed/raw {:.2}",
            tp / rp
        );
        println!(
            "{name:<10} idempotent consume {tc:>8.0} ev/s   raw {rc:>8.0} msg/s   typed/raw {:.2}",
            tc / rc
        );
        let (te, re) = (1.0 / (1.0 / tp + 1.0 / tc), 1.0 / (1.0 / rp + 1.0 / rc));
        println!(
            "{name:<10} end to end         {te:>8.0} ev/s   raw {re:>8.0} msg/s   typed/raw {:.2}",
            te / re
        );
        for (what, figure, baseline) in [
            ("typed produce", tp, rp),
            ("idempotent consume", tc, rc),
            ("typed produce + idempotent consume", te, re),
        ] {
            // No target: the raw side decodes nothing and commits nothing durable (issue 15's
            // end-to-end target is evc-tests' bench, raw rdkafka against typed + idempotent
            // on an in-memory store); this shows the price of both, per transport.
            println!("evc-bench\tend to end, {name}: {what} vs raw client\t{figure:.0}\t{baseline:.0}\tev/s\t-");
        }
    }
}

/// One broker of the run.
enum Broker {
    Kafka(MockCluster<'static, DefaultProducerContext>),
    Redis(String),
    Rabbit(String),
}

impl Broker {
    fn url(&self) -> String {
        match self {
            Broker::Kafka(c) => c.bootstrap_servers(),
            Broker::Redis(u) | Broker::Rabbit(u) => u.clone(),
        }
    }

    async fn topic(&self, t: &AnyTransport, what: &str) -> String {
        let topic = unique(what);
        if let Broker::Kafka(c) = self {
            c.create_topic(&topic, SHARDS as i32, 1).unwrap();
            c.create_topic(&format!("{topic}.dlq"), SHARDS as i32, 1)
                .unwrap();
        }
        t.declare_topic(&topic, SHARDS).await.unwrap();
        topic
    }
}

async fn typed_round(
    b: &Broker,
    t: &AnyTransport,
    registry: &RegistryClient,
    events: &[OrderEvent],
    f: &mut Figures,
) {
    let topic = b.topic(t, "typed").await;
    let group = format!("{topic}-g");
    t.declare_group(&topic, &group).await.unwrap();
    let producer = EventProducer::with_serializer(
        &ProducerConfig::new(b.url()),
        Serializer::new(registry.clone()).auto_register(true),
    )
    .unwrap();
    // Registered and connected before timing.
    producer
        .send_topic_batch_to(&topic, &events[..1])
        .await
        .unwrap();
    let started = Instant::now();
    for chunk in events[1..].chunks(BATCH) {
        producer.send_topic_batch_to(&topic, chunk).await.unwrap();
    }
    f.typed_produce.push(rate(events.len() - 1, started));

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("bench.db"))
        .await
        .unwrap();
    let consumer = EventConsumer::<OrderEvent, _, _>::new(
        ConsumerConfig::new(b.url(), &group)
            .topic(&topic)
            .prefetch(256)
            .set("session.timeout.ms", "6000"),
        registry.clone(),
        store,
        Noop,
    )
    .unwrap();
    let (control, metrics) = (consumer.control(), consumer.metrics());
    let task = tokio::spawn(consumer.run());
    let mut first = None;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let done = metrics.snapshot().processed as usize;
        if done >= 1 && first.is_none() {
            first = Some(Instant::now());
        }
        if done >= events.len() {
            break;
        }
        assert!(Instant::now() < deadline, "typed consume stalled at {done}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    f.typed_consume
        .push(rate(events.len() - 1, first.expect("a first event")));
    control.shutdown();
    task.await.unwrap().unwrap();
    if !matches!(b, Broker::Kafka(_)) {
        t.delete_group(&topic, &group).await.unwrap();
        t.delete_topic(&topic).await.unwrap();
    }
}

async fn raw_round(b: &Broker, t: &AnyTransport, msgs: &[Outgoing], f: &mut Figures) {
    let topic = b.topic(t, "raw").await;
    let group = format!("{topic}-g");
    t.declare_group(&topic, &group).await.unwrap();
    let r = match b {
        Broker::Kafka(_) => raw::kafka(&b.url(), &topic, &group, msgs).await,
        Broker::Redis(url) => raw::redis(url, &topic, &group, SHARDS, msgs).await,
        Broker::Rabbit(url) => raw::rabbit(url, &topic, &group, SHARDS, msgs).await,
    };
    f.raw_produce.push(r.publish);
    f.raw_consume.push(r.consume);
    if !matches!(b, Broker::Kafka(_)) {
        t.delete_group(&topic, &group).await.unwrap();
        t.delete_topic(&topic).await.unwrap();
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let quick = std::env::var("EVC_BENCH_QUICK").is_ok_and(|v| v == "1");
    let n: usize = env_or("EVC_BENCH_EVENTS", if quick { 2000 } else { 5000 });
    let rounds: usize = env_or("EVC_BENCH_ROUNDS", if quick { 1 } else { 3 });
    let which: String = env_or("EVC_BENCH_TRANSPORTS", "kafka,redis,rabbitmq".to_string());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("{n} OrderCreated events, {SHARDS} shards, median of {rounds} round(s); idempotent store: SQLite file");
    rt.block_on(async {
        let registry =
            RegistryClient::new(&format!("mock://bench-{}", uuid::Uuid::new_v4())).unwrap();
        let serializer = Serializer::new(registry.clone()).auto_register(true);
        let events: Vec<OrderEvent> = (0..n)
            .map(|i| {
                OrderEvent::from(order_events::OrderCreated {
                    event_id: uuid::Uuid::new_v4(),
                    order_id: uuid::Uuid::new_v4(),
                    occurred_at: evc_avro::chrono::Utc::now(),
                    customer_id: format!("customer-{i}"),
                    currency: "EUR".into(),
                    channel: order_events::order_created::v2::SalesChannel::Web,
                    shipping_address: None,
                })
            })
            .collect();
        // The raw side moves the very bytes the typed producer sends.
        let mut msgs = Vec::with_capacity(n);
        for e in &events {
            use evc_avro::TopicEvent;
            let payload = serializer.serialize_topic(e).await.unwrap();
            let mut m = Outgoing::new(e.partition_key(), payload);
            m.headers = evc_producer::event_headers(e.event_id(), e.full_name());
            msgs.push(m);
        }
        for name in which.split(',').map(str::trim) {
            let b = match name {
                "kafka" => Broker::Kafka(MockCluster::new(3).unwrap()),
                "redis" => Broker::Redis(env_or(
                    "EVC_TEST_REDIS_URL",
                    "redis://127.0.0.1:6379".to_string(),
                )),
                "rabbitmq" => Broker::Rabbit(env_or(
                    "EVC_TEST_AMQP_URL",
                    "amqp://guest:guest@127.0.0.1:5672/%2f".to_string(),
                )),
                other => panic!("EVC_BENCH_TRANSPORTS: unknown transport `{other}`"),
            };
            let t = AnyTransport::connect(&b.url()).await.unwrap();
            let mut f = Figures::default();
            for _ in 0..rounds {
                typed_round(&b, &t, &registry, &events, &mut f).await;
                raw_round(&b, &t, &msgs, &mut f).await;
            }
            f.report(name);
        }
    });
}
