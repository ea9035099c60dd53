//! The idempotent consumer with one transaction per event beside the same consumer committing
//! batches, on SQLite and on PostgreSQL, in the same run.
//!
//! `cargo bench -p evc-consumer --bench batch` (PostgreSQL at `EVC_TEST_POSTGRES_URL` or the
//! machine's default; Kafka on librdkafka's in-process mock cluster). `EVC_BENCH_EVENTS`
//! (default 5000; 2000 with `EVC_BENCH_QUICK=1`) `OrderCreated` events over 4 partitions, each
//! figure the median of `EVC_BENCH_ROUNDS` (default 3, quick 1) rounds, per-event and batched
//! alternating. The handler writes one row per event in the consumer's transaction (the
//! effect), so every side does the same work: decode, marker, effect; per event one durable
//! commit, batched one per batch of up to 64 (`ConsumerConfig::batch_size`), the markers of a
//! batch in one statement on PostgreSQL. Batched twice: with the handler's per-event insert,
//! and with its set-based `handle_batch` (one multi-row insert per batch). Prints a table and
//! `evc-bench` lines for `cargo xtask bench`.

use std::time::{Duration, Instant};

use evc_consumer::{
    ConsumerConfig, EventConsumer, Handler, HandlerError, MessageMeta, PostgresStore,
    ProcessedStore, SqliteStore,
};
use evc_producer::{EventProducer, ProducerConfig};
use evc_registry_client::RegistryClient;
use evc_storage::testing::PgTestSchema;
use evc_wire::Serializer;
use order_events::OrderEvent;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use sqlx::{Postgres, Sqlite, Transaction};

const PARTITIONS: i32 = 4;
const BATCHED: u16 = 64;
const PATIENCE: Duration = Duration::from_secs(600);

/// One row per event in the consumer's transaction; with `set_based`, one multi-row insert
/// per batch ([`Handler::handle_batch`]).
struct Effect {
    set_based: bool,
}

/// One multi-row `INSERT` of the batch's event keys.
macro_rules! insert_keys {
    ($db:ty, $tx:expr, $events:expr) => {{
        let mut q = sqlx::QueryBuilder::<$db>::new("INSERT INTO bench_effects (event_key) ");
        q.push_values($events, |mut row, (_, meta)| {
            row.push_bind(&meta.event_key);
        });
        let done = q.build().execute(&mut **$tx).await;
        done.map(|_| ()).map_err(HandlerError::from)
    }};
}

impl Handler<OrderEvent, Sqlite> for Effect {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        _event: &OrderEvent,
        meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        sqlx::query("INSERT INTO bench_effects (event_key) VALUES (?)")
            .bind(&meta.event_key)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn handle_batch(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        events: &[(&OrderEvent, &MessageMeta)],
    ) -> Option<Result<(), HandlerError>> {
        if !self.set_based {
            return None;
        }
        Some(insert_keys!(Sqlite, tx, events))
    }
}

impl Handler<OrderEvent, Postgres> for Effect {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        _event: &OrderEvent,
        meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        sqlx::query("INSERT INTO bench_effects (event_key) VALUES ($1)")
            .bind(&meta.event_key)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn handle_batch(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        events: &[(&OrderEvent, &MessageMeta)],
    ) -> Option<Result<(), HandlerError>> {
        if !self.set_based {
            return None;
        }
        Some(insert_keys!(Postgres, tx, events))
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Events/s of one consumer over a topic holding `n` events, from its first processed event.
async fn consume<S>(
    cluster: &MockCluster<'static, DefaultProducerContext>,
    registry: &RegistryClient,
    topic: &str,
    n: usize,
    batch: u16,
    set_based: bool,
    store: S,
) -> f64
where
    S: ProcessedStore,
    Effect: Handler<OrderEvent, S::Db>,
{
    // A group of its own: a group that consumed the topic before has committed its end.
    let group = format!("{topic}-{batch}-{}", uuid::Uuid::new_v4().simple());
    let consumer = EventConsumer::<OrderEvent, _, _>::new(
        ConsumerConfig::new(cluster.bootstrap_servers(), &group)
            .topic(topic)
            .prefetch(256)
            .batch_size(batch)
            .set("session.timeout.ms", "6000"),
        registry.clone(),
        store,
        Effect { set_based },
    )
    .unwrap();
    let (control, metrics) = (consumer.control(), consumer.metrics());
    let task = tokio::spawn(consumer.run());
    let deadline = Instant::now() + PATIENCE;
    let mut first = None;
    loop {
        let done = metrics.snapshot().processed as usize;
        if done >= 1 && first.is_none() {
            first = Some((Instant::now(), done));
        }
        if done >= n {
            break;
        }
        assert!(Instant::now() < deadline, "consume stalled at {done}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (t0, d0) = first.expect("a first event");
    let rate = (n - d0) as f64 / t0.elapsed().as_secs_f64();
    control.shutdown();
    task.await.unwrap().unwrap();
    rate
}

async fn sqlite_store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("bench.db"))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE bench_effects (event_key TEXT NOT NULL)")
        .execute(store.pool())
        .await
        .unwrap();
    (store, dir)
}

async fn postgres_store() -> (PostgresStore, PgTestSchema) {
    let schema = PgTestSchema::create("evc_bench_batch").await;
    let db = schema.database().await;
    let pool = db.postgres_pool().expect("a PostgreSQL schema").clone();
    let store = PostgresStore::with_pool(pool, "evc_processed_events")
        .await
        .unwrap();
    sqlx::query("CREATE TABLE bench_effects (event_key TEXT NOT NULL)")
        .execute(store.pool())
        .await
        .unwrap();
    (store, schema)
}

fn main() {
    let quick = std::env::var("EVC_BENCH_QUICK").is_ok_and(|v| v == "1");
    let n: usize = env_or("EVC_BENCH_EVENTS", if quick { 2000 } else { 5000 });
    let rounds: usize = env_or("EVC_BENCH_ROUNDS", if quick { 1 } else { 3 });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{n} OrderCreated events, {PARTITIONS} partitions (Kafka mock cluster), median of {rounds} round(s); \
         per event: batch size 1, batched: batch size {BATCHED}"
    );
    rt.block_on(async {
        let cluster = MockCluster::new(3).unwrap();
        let registry =
            RegistryClient::new(&format!("mock://bench-batch-{}", uuid::Uuid::new_v4())).unwrap();
        let producer = EventProducer::with_serializer(
            &ProducerConfig::new(cluster.bootstrap_servers()),
            Serializer::new(registry.clone()).auto_register(true),
        )
        .unwrap();
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
        // One topic read by every consumer (a group each).
        let topic = format!("evc-bench-batch-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        cluster.create_topic(&topic, PARTITIONS, 1).unwrap();
        cluster
            .create_topic(&format!("{topic}.dlq"), PARTITIONS, 1)
            .unwrap();
        for chunk in events.chunks(500) {
            producer.send_topic_batch_to(&topic, chunk).await.unwrap();
        }
        for store in ["SQLite", "PostgreSQL"] {
            // (batch size, set-based handler): per event, batched with the per-event
            // handler, batched with the handler's set-based insert
            let variants = [(1, false), (BATCHED, false), (BATCHED, true)];
            let mut rates: [Vec<f64>; 3] = Default::default();
            for _ in 0..rounds {
                for ((batch, set_based), out) in variants.iter().zip(rates.iter_mut()) {
                    let (batch, set_based) = (*batch, *set_based);
                    let rate = if store == "SQLite" {
                        let (s, _dir) = sqlite_store().await;
                        consume(&cluster, &registry, &topic, n, batch, set_based, s).await
                    } else {
                        let (s, schema) = postgres_store().await;
                        let rate =
                            consume(&cluster, &registry, &topic, n, batch, set_based, s).await;
                        schema.drop_schema().await;
                        rate
                    };
                    out.push(rate);
                }
            }
            let [s, b, set] = rates.map(median);
            println!(
                "{store:<10} idempotent consume: per-event transaction {s:>8.0} ev/s   batched {b:>8.0} ev/s ({:.2}x)   batched, set-based handler {set:>8.0} ev/s ({:.2}x)",
                b / s,
                set / s
            );
            let target = if store == "PostgreSQL" { ">=5" } else { "" };
            println!(
                "evc-bench\tconsumer: batched vs per-event transaction, {store}\t{b:.0}\t{s:.0}\tev/s\t"
            );
            println!(
                "evc-bench\tconsumer: batched with a set-based handler vs per-event transaction, {store}\t{set:.0}\t{s:.0}\tev/s\t{target}"
            );
        }
    });
}
