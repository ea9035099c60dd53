//! Projector throughput: events per second through the live read model with the idempotency
//! store on PostgreSQL (librdkafka's mock cluster as the broker, events relayed from an event
//! store). The clock runs from the first applied event to the last, so consumer start-up and
//! group join are not counted.
//!
//! Run: `cargo bench -p evc-projection --bench projector` (PostgreSQL at
//! `EVC_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`; set
//! `EVC_BENCH_ORDERS`, default 300 orders of 5 events).

use std::time::{Duration, Instant};

use evc_consumer::{ConsumerConfig, EventConsumer, PostgresStore, DEFAULT_TABLE};
use evc_eventstore::EventStore;
use evc_order::{AddItem, Command, CreateOrder, OrderService, PayOrder, ShipOrder};
use evc_outbox::{CheckpointDb, Relay, RelayConfig};
use evc_producer::ProducerConfig;
use evc_projection::{summaries, Db, Projector};
use evc_registry_client::RegistryClient;
use evc_wire::{Deserializer, Serializer};
use order_events::order_created::v2::SalesChannel;
use order_events::order_paid::v2::PaymentMethod;
use order_events::OrderEvent;
use rdkafka::mocking::MockCluster;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

async fn applied(db: &Db) -> u64 {
    summaries(db, "order_summaries")
        .await
        .unwrap()
        .iter()
        .map(|s| s.event_count as u64)
        .sum()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let orders: usize = std::env::var("EVC_BENCH_ORDERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let url = std::env::var("EVC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let admin = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"));
    let schema = format!("bench_projector_{}", std::process::id());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let options: PgConnectOptions = url.parse().unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options.options([("search_path", schema.as_str())]))
        .await
        .unwrap();

    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("orders", 3, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let registry = RegistryClient::new("mock://projector-bench").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open_sqlite(dir.path().join("events.db"))
        .await
        .unwrap();
    let service = OrderService::new(
        store.clone(),
        Serializer::new(registry.clone()).auto_register(true),
        Deserializer::new(registry.clone()),
    );
    for _ in 0..orders {
        let id = Uuid::new_v4();
        for c in [
            Command::Create(CreateOrder {
                order_id: id,
                customer_id: "c".into(),
                currency: "EUR".into(),
                channel: SalesChannel::Web,
                shipping_address: None,
            }),
            Command::AddItem(AddItem {
                order_id: id,
                sku: "a".into(),
                quantity: 1,
                unit_price_minor: 250,
            }),
            Command::AddItem(AddItem {
                order_id: id,
                sku: "b".into(),
                quantity: 2,
                unit_price_minor: 100,
            }),
            Command::Pay(PayOrder {
                order_id: id,
                amount_minor: 450,
                currency: "EUR".into(),
                method: PaymentMethod::Card,
                payment_reference: None,
            }),
            Command::Ship(ShipOrder {
                order_id: id,
                carrier: "dhl".into(),
                tracking_number: "T".into(),
                estimated_delivery: None,
            }),
        ] {
            service.execute(&c).await.unwrap();
        }
    }
    let events = store.last_position().await.unwrap();
    let sqlite_checkpoints = sqlx::sqlite::SqlitePoolOptions::new()
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(dir.path().join("relay.db"))
                .create_if_missing(true),
        )
        .await
        .unwrap();
    let relay = Relay::new(
        store.clone(),
        CheckpointDb::Sqlite(sqlite_checkpoints),
        &ProducerConfig::new(bootstrap.clone()),
        registry.clone(),
        RelayConfig::default(),
    )
    .await
    .unwrap();
    assert_eq!(relay.catch_up().await.unwrap() as u64, events);

    let db = Db::Postgres(pool.clone());
    let projector = Projector::new();
    projector.create_table(&db).await.unwrap();
    let consumer = EventConsumer::<OrderEvent, _, _>::new(
        ConsumerConfig::new(bootstrap.clone(), "projector-bench")
            .commit_interval(Duration::from_millis(500)),
        registry.clone(),
        PostgresStore::with_pool(pool.clone(), DEFAULT_TABLE)
            .await
            .unwrap(),
        projector,
    )
    .unwrap();
    let control = consumer.control();
    let task = tokio::spawn(consumer.run());
    let mut first = None;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let n = applied(&db).await;
        if n > 0 && first.is_none() {
            first = Some((Instant::now(), n));
        }
        if n >= events {
            break;
        }
        assert!(Instant::now() < deadline, "projected {n} of {events}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (t0, n0) = first.unwrap();
    let elapsed = t0.elapsed().as_secs_f64();
    control.shutdown();
    let m = task.await.unwrap().unwrap();
    assert_eq!((m.processed, m.dead_lettered), (events, 0));
    println!(
        "projector (PostgreSQL idempotency store + order_summaries, mock cluster): {} events in {:.2} s = {:.0} events/s ({:.0} µs/event)",
        events - n0,
        elapsed,
        (events - n0) as f64 / elapsed,
        elapsed * 1e6 / (events - n0) as f64
    );
    relay.close(Duration::from_secs(10)).await.unwrap();
    pool.close().await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
}
