//! Operations end to end on the order domain: orders through the event store, the outbox relay
//! to librdkafka's mock cluster, an idempotent consumer starting the fulfillment saga, the saga
//! runner. The relay's, the consumer's and the runner's metrics are served on a listen address
//! and read by the Prometheus project's parser (Python `prometheus_client`, installed by
//! `cargo xtask test`) before and after the work.

use std::time::{Duration, Instant};

use evc_consumer::{ConsumerConfig, ConsumerExporter, EventConsumer, SqliteStore, DEFAULT_TABLE};
use evc_eventstore::EventStore;
use evc_order::fulfillment::{self, FulfillmentParticipants, SagaStarter};
use evc_order::{AddItem, Command, CreateOrder, OrderService, PlaceOrder};
use evc_outbox::{Relay, RelayConfig, RelayMetrics};
use evc_producer::ProducerConfig;
use evc_registry_client::RegistryClient;
use evc_saga::simulated::SimulatedServices;
use evc_saga::{RunnerConfig, SagaMetrics, SagaRunner, SagaStatus, SagaStore};
use evc_storage::Database;
use evc_telemetry::testing::scrape;
use evc_telemetry::{MetricsRegistry, MetricsServer};
use evc_wire::{Deserializer, Serializer};
use order_events::order_created::v2::SalesChannel;
use order_events::OrderEvent;
use rdkafka::mocking::MockCluster;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_consumer_and_saga_metrics_move_with_the_work() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("orders", 3, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let registry = RegistryClient::new(&format!("mock://ops-{}", Uuid::new_v4())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_sqlite(dir.path().join("app.db"))
        .await
        .unwrap();
    let events = EventStore::with_database(db.clone()).await.unwrap();
    let service = OrderService::new(
        events.clone(),
        Serializer::new(registry.clone()).auto_register(true),
        Deserializer::new(registry.clone()),
    );
    let order = Uuid::new_v4();
    for c in [
        Command::Create(CreateOrder {
            order_id: order,
            customer_id: "c".into(),
            currency: "EUR".into(),
            channel: SalesChannel::Web,
            shipping_address: None,
        }),
        Command::AddItem(AddItem {
            order_id: order,
            sku: "a".into(),
            quantity: 2,
            unit_price_minor: 500,
        }),
        Command::Place(PlaceOrder { order_id: order }),
    ] {
        service.execute(&c).await.unwrap();
    }
    let stored = events.last_position().await.unwrap();

    // one registry for the whole service, served on its own address
    let metrics = MetricsRegistry::new();
    let relay_metrics = RelayMetrics::register(&metrics);
    relay_metrics.watch(&events, "orders-relay").await.unwrap();
    let consumers = ConsumerExporter::register(&metrics);
    let sagas = SagaStore::open(db.clone()).await.unwrap();
    let saga_metrics = SagaMetrics::register(&metrics, &sagas);
    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), metrics)
        .await
        .unwrap();

    let before = scrape(&server.url()).await;
    let of_relay = [("relay", "orders-relay")];
    assert_eq!(
        before.value("evc_outbox_backlog_events", &of_relay),
        Some(stored as f64)
    );
    assert!(before.value("evc_outbox_oldest_unpublished_age_seconds", &of_relay) >= Some(0.0));
    assert_eq!(
        before.value("evc_outbox_checkpoint_position", &of_relay),
        Some(0.0)
    );

    let relay = Relay::new(
        events.clone(),
        &ProducerConfig::new(&bootstrap),
        RelayConfig::new("orders-relay", "orders"),
    )
    .await
    .unwrap();
    assert_eq!(relay.catch_up().await.unwrap() as u64, stored);

    let services = SimulatedServices::open(db.clone()).await.unwrap();
    let definition = fulfillment::definition(
        FulfillmentParticipants {
            inventory: services.participant("inventory"),
            payment: services.participant("payment"),
            shipping: services.participant("shipping"),
            notification: services.participant("notification"),
        },
        Duration::from_secs(5),
    );
    let group = format!("sagas-{}", Uuid::new_v4());
    let consumer = EventConsumer::<OrderEvent, _, _>::new(
        ConsumerConfig::new(&bootstrap, group.clone())
            .commit_interval(Duration::from_millis(200))
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500"),
        registry.clone(),
        SqliteStore::with_pool(db.sqlite_pool().unwrap().clone(), DEFAULT_TABLE)
            .await
            .unwrap(),
        SagaStarter::new(sagas.clone(), definition.clone()),
    )
    .unwrap();
    consumers.add(&group, "orders", consumer.metrics());
    let of_group = [("group", group.as_str()), ("topic", "orders")];
    let idle = scrape(&server.url()).await;
    assert_eq!(
        idle.value("evc_consumer_processed_total", &of_group),
        Some(0.0)
    );
    let control = consumer.control();
    let handle = consumer.metrics();
    let task = tokio::spawn(consumer.run());
    let started = Instant::now();
    while handle.snapshot().processed < stored {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{:?}",
            handle.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    control.shutdown();
    task.await.unwrap().unwrap();

    SagaRunner::new(sagas.clone(), RunnerConfig::new("ops-runner"))
        .register(definition)
        .unwrap()
        .with_metrics(saga_metrics)
        .run_until_idle()
        .await
        .unwrap();
    assert_eq!(
        sagas.load(order).await.unwrap().status,
        SagaStatus::Completed
    );

    // the series moved
    let after = scrape(&server.url()).await;
    assert_eq!(
        after.value("evc_outbox_backlog_events", &of_relay),
        Some(0.0)
    );
    assert_eq!(
        after.value("evc_outbox_oldest_unpublished_age_seconds", &of_relay),
        Some(0.0)
    );
    assert_eq!(
        after.value("evc_outbox_checkpoint_position", &of_relay),
        Some(stored as f64)
    );
    assert_eq!(
        after.value("evc_consumer_processed_total", &of_group),
        Some(stored as f64)
    );
    assert_eq!(
        after.value("evc_consumer_dead_letters_total", &of_group),
        Some(0.0)
    );
    assert_eq!(
        after.family("evc_consumer_processed").unwrap().kind,
        "counter"
    );
    // one handler attempt per event, timed
    assert_eq!(
        after
            .family("evc_consumer_handler_duration_seconds")
            .unwrap()
            .kind,
        "histogram"
    );
    assert_eq!(
        after.value("evc_consumer_handler_duration_seconds_count", &of_group),
        Some(stored as f64)
    );
    assert!(
        after.value("evc_consumer_handler_duration_seconds_sum", &of_group) > Some(0.0),
        "{after:#?}"
    );
    assert_eq!(
        after.value(
            "evc_saga_sagas",
            &[
                ("definition", fulfillment::DEFINITION),
                ("status", "completed")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        after.value_or_zero("evc_saga_step_attempts_total", &[("outcome", "succeeded")]),
        4.0
    );
    server.stop().await;
    relay.close(Duration::from_secs(10)).await.unwrap();
}
