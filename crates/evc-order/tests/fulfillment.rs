//! The `OrderFulfillment` saga on evc-saga's runner with the simulated services, started the
//! way a consumer handler starts it: inside a transaction, from an `OrderPlaced`; and its hooks
//! driving the order through its lifecycle.

use std::time::{Duration, Instant};

use evc_consumer::{ConsumerConfig, EventConsumer, SqliteStore, DEFAULT_TABLE};
use evc_eventstore::EventStore;
use evc_order::fulfillment::{self, FulfillmentInput, FulfillmentParticipants, SagaStarter};
use evc_order::{AddItem, Command, CreateOrder, OrderService, PlaceOrder};
use evc_outbox::{Relay, RelayConfig};
use evc_producer::ProducerConfig;
use evc_registry_client::RegistryClient;
use evc_saga::simulated::{Fault, SimulatedServices};
use evc_saga::{Action, RunnerConfig, SagaDefinition, SagaRunner, SagaStatus, SagaStore};
use evc_storage::Database;
use evc_wire::{Deserializer, Serializer};
use order_events::order_created::v2::SalesChannel;
use order_events::order_placed::v1::{Money, OrderLine, OrderPlaced};
use order_events::OrderEvent;
use rdkafka::mocking::MockCluster;
use uuid::Uuid;

fn order_definition(services: &SimulatedServices) -> SagaDefinition {
    fulfillment::definition(
        FulfillmentParticipants {
            inventory: services.participant("inventory"),
            payment: services.participant("payment"),
            shipping: services.participant("shipping"),
            notification: services.participant("notification"),
        },
        Duration::from_secs(5),
    )
}

fn placed(order_id: Uuid) -> OrderPlaced {
    OrderPlaced {
        event_id: Uuid::new_v4(),
        order_id,
        occurred_at: evc_avro::chrono::Utc::now(),
        total: Money {
            amount_minor: 1999,
            currency: "EUR".to_string(),
        },
        lines: vec![OrderLine {
            sku: "BOOK".into(),
            quantity: 1,
        }],
    }
}

#[tokio::test]
async fn fulfills_placed_orders_and_compensates_a_failed_charge() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_sqlite(dir.path().join("saga.db"))
        .await
        .unwrap();
    let store = SagaStore::open(db.clone()).await.unwrap();
    let services = SimulatedServices::open(db.clone()).await.unwrap();
    let definition = order_definition(&services);
    let (good, bad) = (Uuid::new_v4(), Uuid::new_v4());
    services.inject_for(bad, fulfillment::CHARGE_PAYMENT, Action::Do, Fault::Fail);
    for order in [good, bad, good] {
        let mut tx = db.write().await.unwrap();
        fulfillment::start_in(&store, &mut tx.as_ref(), &definition, &placed(order))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    SagaRunner::new(store.clone(), RunnerConfig::default())
        .register(definition)
        .unwrap()
        .run_until_idle()
        .await
        .unwrap();

    let done = store.load(good).await.unwrap();
    assert_eq!(done.status, SagaStatus::Completed);
    assert_eq!(done.definition, fulfillment::DEFINITION);
    let input = FulfillmentInput::from_json(&done.input).unwrap();
    assert_eq!((input.order_id, input.amount_minor), (good, 1999));
    assert_eq!(input.lines, vec![("BOOK".to_string(), 1)]);
    assert!(done.outputs[fulfillment::CHARGE_PAYMENT]["reference"]
        .as_str()
        .unwrap()
        .starts_with("payment-"));
    let undone = store.load(bad).await.unwrap();
    assert_eq!(undone.status, SagaStatus::Compensated);
    assert_eq!(undone.compensated, vec![fulfillment::RESERVE_INVENTORY]);

    let effects = |id: Uuid| {
        let services = services.clone();
        async move {
            services
                .effects(None)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.saga_id == id.to_string())
                .map(|e| (e.service, e.effect))
                .collect::<Vec<_>>()
        }
    };
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        effects(good).await,
        pairs(&[
            ("inventory", "reserve_inventory"),
            ("payment", "charge_payment"),
            ("shipping", "create_shipment"),
            ("notification", "send_confirmation"),
        ])
    );
    assert_eq!(
        effects(bad).await,
        pairs(&[
            ("inventory", "reserve_inventory"),
            ("inventory", "release_inventory")
        ])
    );
}

/// Placed orders relayed to the mock cluster with duplicates (the relay "crashes" after a
/// batch was acknowledged, before its checkpoint); the consumer's `SagaStarter` starts one
/// saga per order in its transaction, without calling anybody; the runner then fulfills each
/// once.
#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_starts_one_saga_per_placed_order_despite_redeliveries() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("orders", 3, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let registry = RegistryClient::new(&format!("mock://fulfillment-{}", Uuid::new_v4())).unwrap();
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
    let orders: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    for id in &orders {
        for c in [
            Command::Create(CreateOrder {
                order_id: *id,
                customer_id: "c".into(),
                currency: "EUR".into(),
                channel: SalesChannel::Web,
                shipping_address: None,
            }),
            Command::AddItem(AddItem {
                order_id: *id,
                sku: "a".into(),
                quantity: 2,
                unit_price_minor: 500,
            }),
            Command::Place(PlaceOrder { order_id: *id }),
        ] {
            service.execute(&c).await.unwrap();
        }
    }
    let stored = events.last_position().await.unwrap();
    let relay = || async {
        Relay::new(
            events.clone(),
            &ProducerConfig::new(&bootstrap),
            RelayConfig {
                batch_size: 6,
                ..RelayConfig::new("orders-relay", "orders")
            },
        )
        .await
        .unwrap()
    };
    let first = relay().await;
    assert_eq!(
        first.publish_next().await.unwrap().unwrap().positions.len(),
        6
    );
    drop(first); // crash before the checkpoint: 6 events (2 OrderPlaced) go out twice
    let second = relay().await;
    assert_eq!(second.catch_up().await.unwrap() as u64, stored);

    let store = SagaStore::open(db.clone()).await.unwrap();
    let services = SimulatedServices::open(db.clone()).await.unwrap();
    let definition = order_definition(&services);
    let consumer = EventConsumer::<OrderEvent, _, _>::new(
        ConsumerConfig::new(&bootstrap, format!("sagas-{}", Uuid::new_v4()))
            .commit_interval(Duration::from_millis(200))
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500"),
        registry.clone(),
        SqliteStore::with_pool(db.sqlite_pool().unwrap().clone(), DEFAULT_TABLE)
            .await
            .unwrap(),
        SagaStarter::new(store.clone(), definition.clone()),
    )
    .unwrap();
    let control = consumer.control();
    let metrics = consumer.metrics();
    let task = tokio::spawn(consumer.run());
    let started = Instant::now();
    loop {
        let m = metrics.snapshot();
        if m.processed == stored && m.duplicates == 6 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{m:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    control.shutdown();
    let m = task.await.unwrap().unwrap();
    assert_eq!((m.processed, m.duplicates, m.dead_lettered), (stored, 6, 0));
    // started, not run: the handler calls no participant
    let waiting = store.unfinished().await.unwrap();
    assert_eq!(waiting.len(), 3);
    assert!(waiting
        .iter()
        .all(|s| s.completed.is_empty() && s.attempts == 0));
    assert!(services.effects(None).await.unwrap().is_empty());

    SagaRunner::new(store.clone(), RunnerConfig::default())
        .register(definition)
        .unwrap()
        .run_until_idle()
        .await
        .unwrap();
    let effects = services.effects(None).await.unwrap();
    for id in &orders {
        assert_eq!(store.load(*id).await.unwrap().status, SagaStatus::Completed);
        let mine: Vec<&str> = effects
            .iter()
            .filter(|e| e.saga_id == id.to_string())
            .map(|e| e.effect.as_str())
            .collect();
        assert_eq!(
            mine,
            [
                "reserve_inventory",
                "charge_payment",
                "create_shipment",
                "send_confirmation"
            ]
        );
    }
    second.close(Duration::from_secs(10)).await.unwrap();
}
