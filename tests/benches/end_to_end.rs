//! End to end: N `OrderCreated` events produced and consumed through a broker, typed (evc's
//! `EventProducer::send_topic_batch`, then an idempotent `EventConsumer` decoding every message
//! into `OrderEvent`, marking it processed in SQLite and storing its offset) beside raw rdkafka
//! moving the same bytes (the same framed values and keys, the same producer settings; a
//! `StreamConsumer` storing each offset). Through librdkafka's in-process mock cluster, and
//! through tansu when it is installed (`~/.cargo/bin/tansu`, or `TANSU`). Each side's consumer
//! joins its group and receives the first event before the clock starts: group joins take
//! seconds on both brokers and are not the throughput being compared.
//!
//! `cargo bench -p evc-tests --bench end_to_end` (`EVC_BENCH_EVENTS`, default 5000;
//! `EVC_BENCH_QUICK=1` uses 2000). Prints events/s of each and one `evc-bench` line per broker.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evc_avro::chrono::{TimeZone, Utc};
use evc_avro::uuid::Uuid;
use evc_avro::TopicEvent;
use evc_consumer::{
    ConsumerConfig, EventConsumer, Handler, HandlerError, MessageMeta, SqliteStore,
};
use evc_producer::{EventProducer, ProducerConfig};
use evc_registry_client::RegistryClient;
use evc_wire::Serializer;
use order_events::order_created::v2::SalesChannel;
use order_events::{OrderCreated, OrderEvent};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use sqlx::{Sqlite, Transaction};

const PARTITIONS: i32 = 4;

fn events(n: usize) -> Vec<OrderEvent> {
    (0..n as u128)
        .map(|i| {
            OrderEvent::OrderCreated(OrderCreated {
                event_id: Uuid::from_u128(i + 1),
                order_id: Uuid::from_u128((i % 256) + 1_000_000),
                occurred_at: Utc
                    .timestamp_millis_opt(1_767_225_600_000 + i as i64)
                    .unwrap(),
                customer_id: format!("customer-{i:06}"),
                currency: "EUR".into(),
                channel: SalesChannel::Web,
                shipping_address: None,
            })
        })
        .collect()
}

/// Does nothing in the transaction: what is measured is the framework around it.
struct Nothing;

impl Handler<OrderEvent, Sqlite> for Nothing {
    async fn handle(
        &self,
        _tx: &mut Transaction<'static, Sqlite>,
        _event: &OrderEvent,
        _meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// Typed: produce every event, then consume until all are processed. Events per second.
async fn typed(bootstrap: &str, registry: &RegistryClient, topic: &str, evs: &[OrderEvent]) -> f64 {
    let producer = EventProducer::with_serializer(
        &ProducerConfig::new(bootstrap),
        Serializer::new(registry.clone()).auto_register(true),
    )
    .expect("producer");
    // the schema id resolved before timing (a registry round trip is not the steady state)
    producer
        .serializer()
        .topic_schema_id(&evs[0])
        .await
        .unwrap();
    let store = SqliteStore::in_memory().await.expect("store");
    let consumer = EventConsumer::<OrderEvent, _, _>::new(
        ConsumerConfig::new(bootstrap, format!("{topic}-typed"))
            .topic(topic)
            .set("auto.offset.reset", "earliest"),
        registry.clone(),
        store,
        Nothing,
    )
    .expect("consumer");
    let (control, metrics) = (consumer.control(), consumer.metrics());
    let run = tokio::spawn(consumer.run());
    // the group joined and the first event through before timing (joining is not the steady
    // state; the raw side does the same)
    producer.send_topic_to(topic, &evs[0]).await.expect("send");
    let joined = Instant::now();
    while metrics.snapshot().processed < 1 {
        assert!(
            joined.elapsed() < Duration::from_secs(120),
            "typed consumer did not join"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let start = Instant::now();
    // produce in slices of 500 in flight at once (enqueued in order, then acknowledged)
    for chunk in evs[1..].chunks(500) {
        let sends = chunk.iter().map(|e| producer.send_topic_to(topic, e));
        for done in futures::future::join_all(sends).await {
            done.expect("send");
        }
    }
    while metrics.snapshot().processed < evs.len() as u64 {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "typed consumer stalled"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rate = (evs.len() - 1) as f64 / start.elapsed().as_secs_f64();
    control.shutdown();
    run.await.expect("consumer task").expect("consumer");
    rate
}

/// Raw rdkafka: the same bytes and keys, then a stream consumer storing each offset.
async fn raw(bootstrap: &str, topic: &str, framed: &[(String, Vec<u8>)]) -> f64 {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .create()
        .expect("raw producer");
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{topic}-raw"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("raw consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    // the group joined and the first message through before timing, as on the typed side
    let (key, value) = &framed[0];
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(value),
            Duration::from_secs(30),
        )
        .await
        .expect("raw send");
    let m = tokio::time::timeout(Duration::from_secs(120), consumer.recv())
        .await
        .expect("raw consumer did not join")
        .expect("message");
    consumer
        .store_offset_from_message(&m)
        .expect("store offset");
    drop(m);
    let start = Instant::now();
    let n = framed.len() - 1;
    let read = async {
        for _ in 0..n {
            let m = consumer.recv().await.expect("message");
            std::hint::black_box(m.payload());
            consumer
                .store_offset_from_message(&m)
                .expect("store offset");
        }
    };
    let produce = async {
        for chunk in framed[1..].chunks(500) {
            let sends = chunk.iter().map(|(key, value)| {
                producer.send(
                    FutureRecord::to(topic).key(key).payload(value),
                    Duration::from_secs(30),
                )
            });
            for done in futures::future::join_all(sends).await {
                done.expect("raw send");
            }
        }
    };
    tokio::join!(read, produce);
    n as f64 / start.elapsed().as_secs_f64()
}

async fn create_topic(bootstrap: &str, topic: &str) {
    let admin: AdminClient<_> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin");
    let t = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1));
    let done = admin
        .create_topics(&[t], &AdminOptions::new())
        .await
        .expect("create topic");
    for r in done {
        r.expect("topic created");
    }
}

/// Both sides on one broker, alternating, best of two each.
async fn compare(
    broker: &str,
    bootstrap: &str,
    mock: Option<&MockCluster<'_, DefaultProducerContext>>,
    n: usize,
) {
    let registry = RegistryClient::new(&format!("mock://e2e-{broker}")).expect("registry");
    let evs = events(n);
    let serializer = Serializer::new(registry.clone()).auto_register(true);
    let mut framed = Vec::with_capacity(n);
    for e in &evs {
        framed.push((
            e.partition_key(),
            serializer.serialize_topic(e).await.unwrap(),
        ));
    }
    let (mut typed_best, mut raw_best) = (0f64, 0f64);
    for round in 0..2 {
        for kind in ["typed", "raw"] {
            let topic = format!("e2e-{kind}-{round}");
            match mock {
                Some(c) => c.create_topic(&topic, PARTITIONS, 1).expect("mock topic"),
                None => create_topic(bootstrap, &topic).await,
            }
            if kind == "typed" {
                typed_best = typed_best.max(typed(bootstrap, &registry, &topic, &evs).await);
            } else {
                raw_best = raw_best.max(raw(bootstrap, &topic, &framed).await);
            }
        }
    }
    println!(
        "{broker:<12} {n} events: typed {typed_best:>8.0}/s   raw rdkafka {raw_best:>8.0}/s   {:.2}x",
        typed_best / raw_best
    );
    println!(
        "evc-bench\tend to end produce+consume, {broker}\t{typed_best:.0}\t{raw_best:.0}\tevents/s\t>=0.8"
    );
}

struct Tansu(Child, String);

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tansu() -> Option<Tansu> {
    let bin = [
        std::env::var_os("TANSU").map(PathBuf::from),
        std::env::var_os("CARGO_HOME").map(|h| PathBuf::from(h).join("bin/tansu")),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tansu")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.exists())?;
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(bin)
        .args([
            "broker",
            "--storage-engine",
            "memory://tansu/",
            "--listener-url",
            &url,
        ])
        .args(["--advertised-listener-url", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tansu");
    let t = Tansu(child, format!("127.0.0.1:{port}"));
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "tansu did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(t)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick =
        std::env::var_os("EVC_BENCH_QUICK").is_some() || std::env::args().all(|a| a != "--bench");
    let n: usize = std::env::var("EVC_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 2000 } else { 5000 });

    let cluster = MockCluster::new(1).expect("mock cluster");
    let bootstrap = cluster.bootstrap_servers();
    compare("mock cluster", &bootstrap, Some(&cluster), n).await;
    drop(cluster);

    match tansu() {
        Some(t) => compare("tansu", &t.1, None, n).await,
        None => println!("tansu is not installed: skipped (cargo xtask bench installs it)"),
    }
}
