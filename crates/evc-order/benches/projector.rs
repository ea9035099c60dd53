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
use evc_order::summary::OrderSummaries;
use evc_order::{AddItem, Command, CreateOrder, OrderService, PayOrder, PlaceOrder, ShipOrder};
use evc_outbox::{Relay, RelayConfig};
use evc_producer::ProducerConfig;
use evc_projection::{migrate, Projector};
use evc_registry_client::RegistryClient;
use evc_storage::Database;
use evc_wire::{Deserializer, Serializer};
use order_events::order_created::v2::SalesChannel;
use order_events::order_paid::v2::PaymentMethod;
use order_events::OrderEvent;
use rdkafka::mocking::MockCluster;
use uuid::Uuid;

async fn applied(db: &Database) -> u64 {
    OrderSummaries::new()
        .all(db)
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
    let schema = evc_storage::testing::PgTestSchema::create("bench_projector").await;
    let db = schema.database().await;
    let pool = db.postgres_pool().unwrap().clone();

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
            Command::Place(PlaceOrder { order_id: id }),
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
    let relay = Relay::new(
        store.clone(),
        &ProducerConfig::new(bootstrap.clone()),
        RelayConfig::new("orders-relay", "orders"),
    )
    .await
    .unwrap();
    assert_eq!(relay.catch_up().await.unwrap() as u64, events);

    let projector = Projector::new(OrderSummaries::new());
    migrate::<OrderEvent, _>(&db, projector.model())
        .await
        .unwrap();
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
    println!(
        "evc-bench\tprojector: events/s, PostgreSQL, mock cluster\t{:.0}\t-\tevents/s\t-",
        (events - n0) as f64 / elapsed
    );
    relay.close(Duration::from_secs(10)).await.unwrap();
    db.close().await;
    schema.drop_schema().await;
}
