//! Test support: librdkafka's mock cluster, registries, events, handlers with a database side
//! effect, PostgreSQL schemas, and a running consumer.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use evc_avro::chrono::{DateTime, TimeZone, Utc};
use evc_consumer::{
    ConsumeError, ConsumedEvent, ConsumerConfig, Control, EventConsumer, Handler, HandlerError,
    MessageMeta, Metrics, MetricsHandle, ProcessedStore, RetryPolicy,
};
use evc_producer::{EventProducer, ProducerConfig};
use evc_registry_client::RegistryClient;
use evc_wire::Serializer;
use order_events::{ItemAdded, OrderCreated, OrderEvent};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Sqlite, Transaction};
use tokio::task::JoinHandle;
use uuid::Uuid;

pub const TIMEOUT: Duration = Duration::from_secs(60);

/// librdkafka's in-process mock cluster (3 brokers). It does not implement the CreateTopics
/// admin request, so topics are created with its own call.
pub struct Kafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
    pub bootstrap: String,
}

impl Kafka {
    pub fn start() -> Kafka {
        let cluster = MockCluster::new(3).expect("mock cluster");
        let bootstrap = cluster.bootstrap_servers();
        Kafka { cluster, bootstrap }
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        self.cluster.create_topic(name, partitions, 1).unwrap();
    }

    pub fn raw_producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("enable.idempotence", "true")
            .create()
            .unwrap()
    }

    fn reader(&self) -> BaseConsumer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", "test-reader")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap()
    }

    /// How many messages `topic` holds now.
    pub fn count(&self, topic: &str, partitions: i32) -> i64 {
        let reader = self.reader();
        (0..partitions)
            .map(|p| {
                let (low, high) = reader
                    .fetch_watermarks(topic, p, Duration::from_secs(5))
                    .unwrap();
                high - low
            })
            .sum()
    }

    /// Waits until `topic` holds `n` messages, then reads them all (by partition, then offset).
    pub async fn read(&self, topic: &str, partitions: i32, n: i64) -> Vec<OwnedMessage> {
        wait_until(&format!("{n} message(s) in {topic}"), || {
            self.count(topic, partitions) >= n
        })
        .await;
        let reader = self.reader();
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        reader.assign(&tpl).unwrap();
        let mut out = Vec::new();
        let started = Instant::now();
        while (out.len() as i64) < n {
            assert!(
                started.elapsed() < TIMEOUT,
                "read {} of {n} from {topic}",
                out.len()
            );
            if let Some(m) = reader.poll(Duration::from_millis(500)) {
                out.push(m.unwrap().detach());
            }
        }
        assert_eq!(self.count(topic, partitions), n, "exactly {n} in {topic}");
        out.sort_by_key(|m| (m.partition(), m.offset()));
        out
    }

    /// The offsets `group` has committed for `topic`, by partition.
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let committed = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
        (0..partitions)
            .map(
                |p| match committed.find_partition(topic, p).unwrap().offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                },
            )
            .collect()
    }

    /// Whether `group` has committed every message of `topic`.
    pub fn all_committed(&self, group: &str, topic: &str, partitions: i32) -> bool {
        let reader = self.reader();
        let committed = self.committed(group, topic, partitions);
        (0..partitions).all(|p| {
            let (low, high) = reader
                .fetch_watermarks(topic, p, Duration::from_secs(5))
                .unwrap();
            committed[p as usize].unwrap_or(low) >= high
        })
    }
}

/// An in-process registry of its own (`mock://`), empty.
pub fn mock_registry() -> RegistryClient {
    RegistryClient::new(&format!("mock://consumer-{}", Uuid::new_v4())).unwrap()
}

/// A producer that registers schemas on first use.
pub fn producer(kafka: &Kafka, registry: &RegistryClient) -> EventProducer {
    EventProducer::with_serializer(
        &ProducerConfig::new(&kafka.bootstrap),
        Serializer::new(registry.clone()).auto_register(true),
    )
    .unwrap()
}

/// Short backoffs and a 6 s session, so tests run in seconds.
pub fn config(kafka: &Kafka, group: &str) -> ConsumerConfig {
    ConsumerConfig::new(&kafka.bootstrap, group)
        .handler_retry(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
        })
        .transient_retry(RetryPolicy {
            max_attempts: u32::MAX,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(300),
        })
        .commit_interval(Duration::from_millis(200))
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
}

pub fn at() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_700_000_000_000).unwrap()
}

pub fn created(order_id: Uuid) -> OrderCreated {
    OrderCreated {
        event_id: Uuid::new_v4(),
        order_id,
        occurred_at: at(),
        customer_id: "customer-1".into(),
        currency: "EUR".into(),
        channel: order_events::order_created::v2::SalesChannel::Web,
        shipping_address: None,
    }
}

pub fn item(order_id: Uuid, seq: u32) -> ItemAdded {
    ItemAdded {
        event_id: Uuid::new_v4(),
        order_id,
        occurred_at: at(),
        sku: format!("sku-{seq}"),
        quantity: 1,
        unit_price: order_events::item_added::v1::Money {
            amount_minor: 1999,
            currency: "EUR".into(),
        },
    }
}

pub fn order_of(e: &OrderEvent) -> Uuid {
    match e {
        OrderEvent::OrderCreated(e) => e.order_id,
        OrderEvent::ItemAdded(e) => e.order_id,
        OrderEvent::OrderPaid(e) => e.order_id,
        OrderEvent::OrderShipped(e) => e.order_id,
        OrderEvent::OrderPlaced(e) => e.order_id,
        OrderEvent::OrderCancelled(e) => e.order_id,
    }
}

/// Position of an event in its order's sequence: 0 for OrderCreated, n for `sku-n`.
pub fn seq_of(e: &OrderEvent) -> u32 {
    match e {
        OrderEvent::ItemAdded(e) => e.sku.trim_start_matches("sku-").parse().unwrap(),
        _ => 0,
    }
}

pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < TIMEOUT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn header<'a>(m: &'a OwnedMessage, name: &str) -> Option<&'a str> {
    m.headers()?
        .iter()
        .filter(|h| h.key == name)
        .last()
        .and_then(|h| h.value)
        .map(|v| std::str::from_utf8(v).unwrap())
}

/// A consumer running in a task.
pub struct Running {
    pub control: Control,
    pub metrics: MetricsHandle,
    task: JoinHandle<Result<Metrics, ConsumeError>>,
}

pub fn spawn<E, S, H>(consumer: EventConsumer<E, S, H>) -> Running
where
    E: ConsumedEvent,
    S: ProcessedStore,
    H: Handler<E, S::Db>,
{
    Running {
        control: consumer.control(),
        metrics: consumer.metrics(),
        task: tokio::spawn(consumer.run()),
    }
}

impl Running {
    pub fn now(&self) -> Metrics {
        self.metrics.snapshot()
    }

    pub async fn wait(&self, what: &str, done: impl Fn(&Metrics) -> bool) {
        let started = Instant::now();
        loop {
            let m = self.now();
            if done(&m) {
                return;
            }
            assert!(
                started.elapsed() < TIMEOUT,
                "timed out waiting for {what}: {m:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Graceful shutdown; the final counters.
    pub async fn stop(self) -> Metrics {
        self.control.shutdown();
        self.task.await.unwrap().unwrap()
    }

    /// Waits for the consumer to end on its own (a test hook stopped it).
    pub async fn task_end(self) -> Metrics {
        self.task.await.unwrap().unwrap()
    }

    /// Stops as a killed process would: nothing more stored or committed.
    pub async fn crash(self) -> Metrics {
        self.control.simulate_crash();
        self.task.await.unwrap().unwrap()
    }
}

/// Failures a handler is told to have, per event key.
#[derive(Default)]
pub struct Faults {
    /// Fails this many times (retryable), then succeeds.
    pub fail_times: Mutex<HashMap<String, u32>>,
    /// Always fails (retryable).
    pub always: Mutex<HashSet<String>>,
    /// Rejects these (permanent).
    pub reject: Mutex<HashSet<String>>,
    /// Rejects every event (permanent) while set.
    pub reject_all: AtomicBool,
}

impl Faults {
    pub fn check(&self, key: &str) -> Result<(), HandlerError> {
        if self.reject_all.load(Ordering::SeqCst) {
            return Err(
                HandlerError::new("tests::Rejected", "rejected while the switch is on").permanent(),
            );
        }
        if self.reject.lock().unwrap().contains(key) {
            return Err(
                HandlerError::new("tests::Rejected", format!("event {key} is refused")).permanent(),
            );
        }
        if self.always.lock().unwrap().contains(key) {
            return Err(HandlerError::new(
                "tests::AlwaysFails",
                format!("event {key} never works"),
            ));
        }
        if let Some(n) = self.fail_times.lock().unwrap().get_mut(key) {
            if *n > 0 {
                *n -= 1;
                return Err(std::io::Error::other("flaky downstream").into());
            }
        }
        Ok(())
    }
}

/// What a handler saw, on success.
#[derive(Debug, Clone)]
pub struct Seen {
    pub event: OrderEvent,
    pub meta: MessageMeta,
}

/// Writes a row per event into `table` in the handler transaction (the side effect), then
/// applies the faults (so a failing attempt has written its row, which must roll back).
#[derive(Clone)]
pub struct Effects {
    pub table: String,
    pub calls: Arc<AtomicUsize>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub faults: Arc<Faults>,
}

impl Effects {
    pub fn new(table: &str) -> Effects {
        Effects {
            table: table.to_string(),
            calls: Arc::default(),
            seen: Arc::default(),
            faults: Arc::default(),
        }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub async fn create_sqlite(&self, pool: &sqlx::SqlitePool) {
        sqlx::query(&format!(
            "CREATE TABLE {} (event_key TEXT NOT NULL, order_id TEXT NOT NULL, kind TEXT NOT NULL)",
            self.table
        ))
        .execute(pool)
        .await
        .unwrap();
    }

    pub async fn create_pg(&self, pool: &PgPool) {
        sqlx::query(&format!(
            "CREATE TABLE {} (event_key TEXT NOT NULL, order_id TEXT NOT NULL, kind TEXT NOT NULL)",
            self.table
        ))
        .execute(pool)
        .await
        .unwrap();
    }

    pub async fn count_sqlite(&self, pool: &sqlx::SqlitePool, event_key: &str) -> i64 {
        sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {} WHERE event_key = ?",
            self.table
        ))
        .bind(event_key)
        .fetch_one(pool)
        .await
        .unwrap()
    }

    pub async fn count_pg(&self, pool: &PgPool, event_key: &str) -> i64 {
        sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM {} WHERE event_key = $1",
            self.table
        ))
        .bind(event_key)
        .fetch_one(pool)
        .await
        .unwrap()
    }

    fn record(&self, event: &OrderEvent, meta: &MessageMeta) {
        self.seen.lock().unwrap().push(Seen {
            event: event.clone(),
            meta: meta.clone(),
        });
    }
}

impl Handler<OrderEvent, Sqlite> for Effects {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        event: &OrderEvent,
        meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        sqlx::query(&format!(
            "INSERT INTO {} (event_key, order_id, kind) VALUES (?, ?, ?)",
            self.table
        ))
        .bind(&meta.event_key)
        .bind(order_of(event).to_string())
        .bind(meta.event_type)
        .execute(&mut **tx)
        .await?;
        self.faults.check(&meta.event_key)?;
        self.record(event, meta);
        Ok(())
    }
}

impl Handler<OrderEvent, Postgres> for Effects {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        event: &OrderEvent,
        meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        sqlx::query(&format!(
            "INSERT INTO {} (event_key, order_id, kind) VALUES ($1, $2, $3)",
            self.table
        ))
        .bind(&meta.event_key)
        .bind(order_of(event).to_string())
        .bind(meta.event_type)
        .execute(&mut **tx)
        .await?;
        self.faults.check(&meta.event_key)?;
        self.record(event, meta);
        Ok(())
    }
}

/// The machine's PostgreSQL (evc-storage's test harness: `EVC_TEST_POSTGRES_URL` or the
/// default). A test that needs it fails here when it is not reachable.
pub async fn pg_pool() -> PgPool {
    let url = evc_storage::testing::postgres_base_url();
    match PgPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(Duration::from_secs(10))
        .connect(&url)
        .await
    {
        Ok(pool) => pool,
        Err(e) => panic!("this test needs PostgreSQL at {url} (trust auth): {e}"),
    }
}

/// A fresh schema of this test's own (the shared harness names and creates it).
pub async fn pg_schema() -> evc_storage::testing::PgTestSchema {
    evc_storage::testing::PgTestSchema::create("evc_consumer").await
}

/// Runs `f` with a timeout, failing the test when it takes too long.
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}
