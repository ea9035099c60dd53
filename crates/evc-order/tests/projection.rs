//! The live projection (event store → outbox relay → mock Kafka cluster → consumer →
//! `order_summaries`) equals a rebuild from the store, on SQLite and PostgreSQL, duplicates
//! included.

use std::time::{Duration, Instant};

use evc_consumer::{ConsumerConfig, EventConsumer, PostgresStore, SqliteStore, DEFAULT_TABLE};
use evc_eventstore::EventStore;
use evc_order::summary::{OrderStatus, OrderSummaries};
use evc_order::{
    AddItem, CancelOrder, Command, CreateOrder, OrderService, PayOrder, PlaceOrder, ShipOrder,
};
use evc_outbox::{Relay, RelayConfig};
use evc_producer::ProducerConfig;
use evc_projection::{migrate, rebuild, Projector};
use evc_registry_client::RegistryClient;
use evc_storage::testing::PgTestSchema;
use evc_storage::Database;
use evc_wire::{Deserializer, Serializer};
use order_events::order_created::v2::SalesChannel;
use order_events::order_paid::v2::PaymentMethod;
use order_events::OrderEvent;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use uuid::Uuid;

const TIMEOUT: Duration = Duration::from_secs(60);

fn kafka() -> (MockCluster<'static, DefaultProducerContext>, String) {
    let cluster = MockCluster::new(3).expect("mock cluster");
    cluster.create_topic("orders", 3, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    (cluster, bootstrap)
}

fn registry() -> RegistryClient {
    RegistryClient::new(&format!("mock://projection-{}", Uuid::new_v4())).unwrap()
}

fn service(store: EventStore, registry: &RegistryClient) -> OrderService {
    OrderService::new(
        store,
        Serializer::new(registry.clone()).auto_register(true),
        Deserializer::new(registry.clone()),
    )
}

fn consumer_config(bootstrap: &str) -> ConsumerConfig {
    ConsumerConfig::new(bootstrap, format!("projection-{}", Uuid::new_v4()))
        .commit_interval(Duration::from_millis(200))
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
}

/// Orders with items 1×250 and 2×100, placed and paid: `full` shipped ones, one paid only, and
/// one cancelled after it was placed. Answers (shipped ids, paid-only id, cancelled id).
async fn append_orders(service: &OrderService, full: usize) -> (Vec<Uuid>, Uuid, Uuid) {
    let shipped: Vec<Uuid> = (0..full).map(|_| Uuid::new_v4()).collect();
    let pending = Uuid::new_v4();
    let cancelled = Uuid::new_v4();
    for id in shipped.iter().chain([&pending, &cancelled]) {
        let cmds = [
            Command::Create(CreateOrder {
                order_id: *id,
                customer_id: format!("c-{id}"),
                currency: "EUR".into(),
                channel: SalesChannel::Web,
                shipping_address: None,
            }),
            Command::AddItem(AddItem {
                order_id: *id,
                sku: "a".into(),
                quantity: 1,
                unit_price_minor: 250,
            }),
            Command::AddItem(AddItem {
                order_id: *id,
                sku: "b".into(),
                quantity: 2,
                unit_price_minor: 100,
            }),
            Command::Place(PlaceOrder { order_id: *id }),
        ];
        for c in &cmds {
            service.execute(c).await.unwrap();
        }
        let last = if *id == cancelled {
            Command::Cancel(CancelOrder {
                order_id: *id,
                reason: "charge_payment: rejected: card declined".into(),
                failed_step: Some("charge_payment".into()),
                shipment_cancelled: false,
            })
        } else {
            Command::Pay(PayOrder {
                order_id: *id,
                amount_minor: 450,
                currency: "EUR".into(),
                method: PaymentMethod::Card,
                payment_reference: Some(format!("pay-{id}")),
            })
        };
        service.execute(&last).await.unwrap();
    }
    for id in &shipped {
        service
            .execute(&Command::Ship(ShipOrder {
                order_id: *id,
                carrier: "dhl".into(),
                tracking_number: "T".into(),
                estimated_delivery: None,
            }))
            .await
            .unwrap();
    }
    (shipped, pending, cancelled)
}

async fn relay(bootstrap: &str, store: &EventStore) -> Relay {
    Relay::new(
        store.clone(),
        &ProducerConfig::new(bootstrap),
        RelayConfig {
            batch_size: 7,
            ..RelayConfig::new("orders-relay", "orders")
        },
    )
    .await
    .unwrap()
}

fn live() -> OrderSummaries {
    OrderSummaries::new()
}

/// Waits until the live table has applied every stored event.
async fn wait_projected(db: &Database, events: u64) {
    let started = Instant::now();
    loop {
        let applied: i64 = live()
            .all(db)
            .await
            .unwrap()
            .iter()
            .map(|s| s.event_count)
            .sum();
        if applied as u64 == events {
            return;
        }
        assert!(applied as u64 <= events, "more applied than stored");
        assert!(
            started.elapsed() < TIMEOUT,
            "projected {applied} of {events}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn check_rows(
    db: &Database,
    store: &EventStore,
    registry: &RegistryClient,
    shipped: &[Uuid],
    pending: Uuid,
    cancelled: Uuid,
) {
    let rebuilt_model = OrderSummaries::with_table("order_summaries_rebuild").unwrap();
    let live_rows = live().all(db).await.unwrap();
    assert_eq!(live_rows.len(), shipped.len() + 2);
    let events = store.last_position().await.unwrap();
    let replayed = rebuild(
        store,
        &Deserializer::new(registry.clone()),
        db,
        &rebuilt_model,
    )
    .await
    .unwrap();
    assert_eq!(replayed, events);
    let rebuilt = rebuilt_model.all(db).await.unwrap();
    assert_eq!(live_rows, rebuilt, "live projection equals the rebuild");

    let s = live().get(db, shipped[0]).await.unwrap().unwrap();
    assert_eq!(s.status, OrderStatus::Shipped);
    assert!(s.is_final);
    assert_eq!((s.item_count, s.total_minor, s.event_count), (3, 450, 6));
    assert_eq!(
        (s.cancel_reason.as_deref(), s.failed_step.as_deref()),
        (None, None)
    );
    assert_eq!(s.currency, "EUR");
    assert_eq!(s.customer_id, format!("c-{}", shipped[0]));
    let p = live().get(db, pending).await.unwrap().unwrap();
    assert_eq!(p.status, OrderStatus::Paid);
    assert_eq!(p.status.shown_as(), "processing");
    assert!(!p.is_final, "paid but not shipped: still in progress");
    assert_eq!((p.item_count, p.total_minor, p.event_count), (3, 450, 5));
    let c = live().get(db, cancelled).await.unwrap().unwrap();
    assert_eq!(c.status, OrderStatus::Cancelled);
    assert!(c.is_final, "cancelled is final");
    assert_eq!(
        (c.cancel_reason.as_deref(), c.failed_step.as_deref()),
        (
            Some("charge_payment: rejected: card declined"),
            Some("charge_payment")
        )
    );
    assert_eq!(c.event_count, 5);
    assert!(live().get(db, Uuid::new_v4()).await.unwrap().is_none());
}

/// SQLite; the relay "crashes" after a batch was acknowledged and before its checkpoint, so
/// the topic holds duplicates: the consumer's store skips them and nothing is counted twice.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_live_equals_rebuild_with_duplicates() {
    let (_cluster, bootstrap) = kafka();
    let registry = registry();
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_sqlite(dir.path().join("app.db"))
        .await
        .unwrap();
    let pool = db.sqlite_pool().unwrap().clone();
    let store = EventStore::with_database(db.clone()).await.unwrap();
    let (shipped, pending, cancelled) = append_orders(&service(store.clone(), &registry), 3).await;
    let events = store.last_position().await.unwrap();

    let first = relay(&bootstrap, &store).await;
    let acked = first.publish_next().await.unwrap().unwrap();
    assert_eq!(acked.positions.len(), 7);
    drop(first); // crash before the checkpoint
    let second = relay(&bootstrap, &store).await;
    assert_eq!(second.catch_up().await.unwrap() as u64, events);

    let projector = Projector::new(live());
    migrate::<OrderEvent, _>(&db, projector.model())
        .await
        .unwrap();
    let consumer = EventConsumer::<OrderEvent, _, _>::new(
        consumer_config(&bootstrap),
        registry.clone(),
        SqliteStore::with_pool(pool.clone(), DEFAULT_TABLE)
            .await
            .unwrap(),
        projector,
    )
    .unwrap();
    let control = consumer.control();
    let metrics = consumer.metrics();
    let task = tokio::spawn(consumer.run());
    wait_projected(&db, events).await;
    let started = Instant::now();
    while metrics.snapshot().duplicates < 7 {
        assert!(started.elapsed() < TIMEOUT, "duplicates not seen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    control.shutdown();
    let m = task.await.unwrap().unwrap();
    assert_eq!(m.processed, events);
    assert_eq!(m.duplicates, 7);
    assert_eq!(m.dead_lettered, 0);
    check_rows(&db, &store, &registry, &shipped, pending, cancelled).await;
    second.close(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_live_equals_rebuild() {
    let schema = PgTestSchema::create("evc_projection").await;
    let db = schema.database().await;
    let pool = db.postgres_pool().unwrap().clone();
    let (_cluster, bootstrap) = kafka();
    let registry = registry();
    let store = EventStore::with_database(db.clone()).await.unwrap();
    let (shipped, pending, cancelled) = append_orders(&service(store.clone(), &registry), 4).await;
    let events = store.last_position().await.unwrap();
    let relay = relay(&bootstrap, &store).await;
    assert_eq!(relay.catch_up().await.unwrap() as u64, events);

    let projector = Projector::new(live());
    migrate::<OrderEvent, _>(&db, projector.model())
        .await
        .unwrap();
    let consumer = EventConsumer::<OrderEvent, _, _>::new(
        consumer_config(&bootstrap),
        registry.clone(),
        PostgresStore::with_pool(pool.clone(), DEFAULT_TABLE)
            .await
            .unwrap(),
        projector,
    )
    .unwrap();
    let control = consumer.control();
    let task = tokio::spawn(consumer.run());
    wait_projected(&db, events).await;
    control.shutdown();
    let m = task.await.unwrap().unwrap();
    assert_eq!((m.processed, m.duplicates, m.dead_lettered), (events, 0, 0));
    check_rows(&db, &store, &registry, &shipped, pending, cancelled).await;
    relay.close(Duration::from_secs(10)).await.unwrap();
    db.close().await;
    schema.drop_schema().await;
}

/// A table made by migration 1 (statuses created/paid/shipped, no cancellation columns) keeps
/// its rows through migration 2 and then takes the new statuses, on both backends.
async fn upgrade_keeps_rows(db: &Database) {
    use evc_projection::ReadModel;
    let model = OrderSummaries::with_table("order_summaries_upgrade").unwrap();
    let params: Vec<(&str, String)> = ReadModel::<OrderEvent>::params(&model);
    let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let component = ReadModel::<OrderEvent>::component(&model);
    let migrations = ReadModel::<OrderEvent>::migrations(&model);
    db.migrate_with(&component, &migrations[..1], &refs)
        .await
        .unwrap();
    let id = Uuid::new_v4();
    let mut tx = db.write().await.unwrap();
    tx.exec(
        "INSERT INTO order_summaries_upgrade (order_id, customer_id, status, final, item_count, \
         total_minor, currency, last_event_at, event_count) \
         VALUES ($1, 'c', 'paid', FALSE, 3, 450, 'EUR', 1, 4)",
        &evc_storage::args![id.to_string()],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    migrate::<OrderEvent, _>(db, &model).await.unwrap();
    let row = model.get(db, id).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.event_count, row.cancel_reason),
        (OrderStatus::Paid, 4, None)
    );
    let mut tx = db.write().await.unwrap();
    tx.exec(
        "UPDATE order_summaries_upgrade SET status = 'cancelled', final = TRUE, \
         cancel_reason = 'r' WHERE order_id = $1",
        &evc_storage::args![id.to_string()],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let row = model.get(db, id).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.is_final, row.cancel_reason.as_deref()),
        (OrderStatus::Cancelled, true, Some("r"))
    );
}

#[tokio::test]
async fn sqlite_migration_2_upgrades_an_old_table() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_sqlite(dir.path().join("old.db"))
        .await
        .unwrap();
    upgrade_keeps_rows(&db).await;
}

#[tokio::test]
async fn postgres_migration_2_upgrades_an_old_table() {
    let schema = PgTestSchema::create("evc_summary_upgrade").await;
    let db = schema.database().await;
    upgrade_keeps_rows(&db).await;
    db.close().await;
    schema.drop_schema().await;
}
