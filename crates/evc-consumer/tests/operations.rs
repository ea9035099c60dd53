//! What operators see of a consumer, on every transport (librdkafka's mock cluster, Redis at
//! 127.0.0.1:6379 or `EVC_TEST_REDIS_URL`, RabbitMQ at 127.0.0.1:5672 or `EVC_TEST_AMQP_URL`):
//! the group's lag per shard, exported as `evc_consumer_lag_messages` and read by the
//! Prometheus project's parser, moving to the messages not yet handled and to 0; and one INFO
//! line when the consumer is assigned its shards and one when they are revoked.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{created, mock_registry};
use evc_consumer::{
    ConsumerConfig, ConsumerExporter, EventConsumer, Handler, HandlerError, MessageMeta,
    SqliteStore,
};
use evc_producer::{EventProducer, ProducerConfig};
use evc_telemetry::testing::scrape;
use evc_telemetry::{MetricsRegistry, MetricsServer};
use evc_transport::{AnyTransport, Transport};
use evc_wire::Serializer;
use order_events::OrderEvent;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use sqlx::{Sqlite, Transaction};
use tokio::sync::Semaphore;
use tracing_subscriber::layer::SubscriberExt as _;
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(60);

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

    async fn transport(&self) -> AnyTransport {
        AnyTransport::connect(&self.url())
            .await
            .unwrap_or_else(|e| panic!("the broker {} must be running: {e}", self.url()))
    }
}

/// Handles an event once it gets a permit: the test lets `n` through, then the rest.
#[derive(Clone)]
struct Gated(Arc<Semaphore>);

impl Handler<OrderEvent, Sqlite> for Gated {
    async fn handle(
        &self,
        _tx: &mut Transaction<'static, Sqlite>,
        _event: &OrderEvent,
        _meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        self.0.acquire().await.expect("never closed").forget();
        Ok(())
    }
}

/// Every log line of the process with its level and fields (one subscriber for the binary:
/// the transports log from their own tasks and threads).
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<Line>>>);

/// A line's level and its fields (`message` among them) as text.
type Line = (tracing::Level, BTreeMap<String, String>);

struct Fields(BTreeMap<String, String>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Lines {
    fn on_event(&self, event: &tracing::Event<'_>, _cx: tracing_subscriber::layer::Context<'_, S>) {
        let mut f = Fields(BTreeMap::new());
        event.record(&mut f);
        self.0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), f.0));
    }
}

fn lines() -> &'static Lines {
    static LINES: OnceLock<Lines> = OnceLock::new();
    LINES.get_or_init(|| {
        let lines = Lines::default();
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(lines.clone()))
            .expect("the only subscriber of this test binary");
        lines
    })
}

/// The INFO lines `message` about `topic` and `group`: their `shards` fields.
fn shard_lines(message: &str, topic: &str, group: &str) -> Vec<String> {
    lines()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(level, f)| {
            *level == tracing::Level::INFO
                && f.get("message").map(String::as_str) == Some(message)
                && f.get("topic").map(String::as_str) == Some(topic)
                && f.get("group").map(String::as_str) == Some(group)
        })
        .map(|(_, f)| f.get("shards").cloned().unwrap_or_default())
        .collect()
}

/// The shard numbers in `shards` fields (`[0, 1]`).
fn shards_in(fields: &[String]) -> std::collections::BTreeSet<u32> {
    fields
        .iter()
        .flat_map(|f| f.split(|c: char| !c.is_ascii_digit()))
        .filter_map(|n| n.parse().ok())
        .collect()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < TIMEOUT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Publishes `N` events over 2 shards; the consumer handles `K` and is held on the next: the
/// exported lag sums to `N - K` over both shards; let go, it goes to 0 on each.
async fn lag_follows_the_backlog_and_shards_are_logged(b: Broker) {
    const N: u64 = 10;
    const K: u64 = 4;
    let _ = lines();
    let topic = format!("evc-lag-{}", &Uuid::new_v4().simple().to_string()[..10]);
    let group = format!("lag-{}", &Uuid::new_v4().simple().to_string()[..8]);
    if let Broker::Kafka(c) = &b {
        c.create_topic(&topic, 2, 1).unwrap();
        c.create_topic(&evc_transport::dlq_name(&topic), 2, 1)
            .unwrap();
    }
    let transport = b.transport().await;
    transport.declare_topic(&topic, 2).await.unwrap();

    let registry = mock_registry();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("consumer.db"))
        .await
        .unwrap();
    let gate = Arc::new(Semaphore::new(K as usize));
    let consumer = EventConsumer::<OrderEvent, _, _>::new(
        ConsumerConfig::new(b.url(), &group)
            .topic(&topic)
            // one event per transaction, so the K handled before the held one are committed
            // (in a batch they would wait for the held one)
            .batch_size(1)
            .lag_interval(Duration::from_millis(100))
            .commit_interval(Duration::from_millis(200))
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500"),
        registry.clone(),
        store,
        Gated(gate.clone()),
    )
    .unwrap();
    // RabbitMQ: a group receives what is published after its queues exist
    consumer.declare_groups().await.unwrap();
    let producer = EventProducer::with_serializer(
        &ProducerConfig::new(b.url()),
        Serializer::new(registry.clone()).auto_register(true),
    )
    .unwrap();
    for _ in 0..N {
        producer
            .send_to(&topic, &created(Uuid::new_v4()))
            .await
            .unwrap();
    }

    let metrics = MetricsRegistry::new();
    let exporter = ConsumerExporter::register(&metrics);
    exporter.add(&group, &topic, consumer.metrics());
    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), metrics)
        .await
        .unwrap();
    let handle = consumer.metrics();
    let control = consumer.control();
    let task = tokio::spawn(consumer.run());

    wait_for("K events handled", || handle.snapshot().processed == K).await;
    let total = |lag: &BTreeMap<u32, u64>| lag.values().sum::<u64>();
    wait_for("the lag of the held backlog", || {
        let lag = handle.lag(&topic);
        lag.len() == 2 && total(&lag) == N - K
    })
    .await;
    let of = |shard: &'static str| {
        [
            ("group", group.as_str()),
            ("topic", topic.as_str()),
            ("shard", shard),
        ]
    };
    let held = scrape(&server.url()).await;
    let family = held
        .family("evc_consumer_lag_messages")
        .expect("the lag family");
    assert_eq!(
        (family.kind.as_str(), family.unit.as_str()),
        ("gauge", "messages")
    );
    let (s0, s1) = (
        held.value("evc_consumer_lag_messages", &of("0")),
        held.value("evc_consumer_lag_messages", &of("1")),
    );
    assert_eq!(s0.unwrap() + s1.unwrap(), (N - K) as f64, "{held:#?}");
    assert_eq!(handle.snapshot().processed, K, "still held");

    gate.add_permits((N - K) as usize);
    wait_for("every event handled", || handle.snapshot().processed == N).await;
    wait_for("no lag left", || {
        let lag = handle.lag(&topic);
        lag.len() == 2 && total(&lag) == 0
    })
    .await;
    let done = scrape(&server.url()).await;
    assert_eq!(done.value("evc_consumer_lag_messages", &of("0")), Some(0.0));
    assert_eq!(done.value("evc_consumer_lag_messages", &of("1")), Some(0.0));

    // an INFO line for the shards assigned (both, to this only member)
    assert_eq!(
        shards_in(&shard_lines("consumer assigned shards", &topic, &group)),
        [0, 1].into()
    );
    control.shutdown();
    task.await.unwrap().unwrap();
    server.stop().await;
    // … and one for the shards given up when it left
    wait_for("the revoke line", || {
        shards_in(&shard_lines("consumer revoked shards", &topic, &group)) == [0, 1].into()
    })
    .await;
    if !matches!(b, Broker::Kafka(_)) {
        transport.delete_group(&topic, &group).await.unwrap();
        transport.delete_topic(&topic).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_lag_and_shard_lines() {
    lag_follows_the_backlog_and_shards_are_logged(Broker::Kafka(
        MockCluster::new(1).expect("mock cluster"),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_lag_and_shard_lines() {
    lag_follows_the_backlog_and_shards_are_logged(Broker::Redis(
        std::env::var("EVC_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_lag_and_shard_lines() {
    lag_follows_the_backlog_and_shards_are_logged(Broker::Rabbit(
        std::env::var("EVC_TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
    ))
    .await;
}
