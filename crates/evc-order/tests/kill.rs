//! A saga runner killed (SIGKILL) between a participant's effect and the saga's record of it:
//! the next runner calls the participant again with the same idempotency key, so the payment
//! is charged once, and the order is paid once and shipped once.
//!
//! The killed runner is this test binary run again as a child process (the test re-executes
//! itself with `EVC_ORDER_KILL_CHILD` set); it shares the parent's database (a SQLite file, or
//! a PostgreSQL schema) and, over HTTP, the parent's in-process registry.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use evc_eventstore::EventStore;
use evc_order::fulfillment::{self, FulfillmentHooks, FulfillmentParticipants};
use evc_order::{AddItem, Command, CreateOrder, OrderEvent, OrderService, PlaceOrder, Status};
use evc_registry_client::RegistryClient;
use evc_saga::simulated::{Fault, SimulatedServices};
use evc_saga::{Action, RunnerConfig, SagaDefinition, SagaRunner, SagaStatus, SagaStore};
use evc_storage::testing::PgTestSchema;
use evc_storage::{Database, StorageUrl};
use evc_wire::{Deserializer, Serializer};
use order_events::order_created::v2::SalesChannel;
use uuid::Uuid;

const CHILD: &str = "EVC_ORDER_KILL_CHILD";

struct Parts {
    db: Database,
    orders: Arc<OrderService>,
    sagas: SagaStore,
    services: SimulatedServices,
}

async fn parts(db_url: &str, registry: &str) -> Parts {
    let db = Database::open(&StorageUrl::parse(db_url).unwrap(), "evc-order-kill")
        .await
        .unwrap();
    let registry = RegistryClient::new(registry).unwrap();
    Parts {
        orders: Arc::new(OrderService::new(
            EventStore::with_database(db.clone()).await.unwrap(),
            Serializer::new(registry.clone()).auto_register(true),
            Deserializer::new(registry),
        )),
        sagas: SagaStore::open(db.clone()).await.unwrap(),
        services: SimulatedServices::open(db.clone()).await.unwrap(),
        db,
    }
}

fn definition(services: &SimulatedServices, timeout: Duration) -> SagaDefinition {
    fulfillment::definition(
        FulfillmentParticipants {
            inventory: services.participant("inventory"),
            payment: services.participant("payment"),
            shipping: services.participant("shipping"),
            notification: services.participant("notification"),
        },
        timeout,
    )
}

/// The child: a runner with the real hooks whose payment service applies the charge and then
/// never answers (the step timeout is an hour; the lease of one second is renewed until the
/// process dies).
async fn child(spec: &str) {
    let (db_url, registry) = spec.split_once('|').expect("DATABASE|REGISTRY");
    let p = parts(db_url, registry).await;
    p.services.inject(
        fulfillment::CHARGE_PAYMENT,
        Action::Do,
        Fault::HangAfterEffect,
    );
    let runner = SagaRunner::new(
        p.sagas.clone(),
        RunnerConfig::new(format!("child-{}", std::process::id()))
            .lease(Duration::from_millis(1000)),
    )
    .register(definition(&p.services, Duration::from_secs(3600)))
    .unwrap()
    .with_hooks(Arc::new(FulfillmentHooks::new(p.orders.clone())));
    runner.run_until_idle().await.unwrap();
    unreachable!("the payment service never answers");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runner_killed_between_the_charge_and_its_record_charges_and_pays_once_sqlite() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec).await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    kill_and_resume(
        &url,
        "a_runner_killed_between_the_charge_and_its_record_charges_and_pays_once_sqlite",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runner_killed_between_the_charge_and_its_record_charges_and_pays_once_postgres() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec).await;
        return;
    }
    let schema = PgTestSchema::create("evc_order_kill").await;
    schema.database().await.close().await;
    kill_and_resume(
        &schema.url,
        "a_runner_killed_between_the_charge_and_its_record_charges_and_pays_once_postgres",
    )
    .await;
    schema.drop_schema().await;
}

/// Places an order and starts its saga; a child runner applies the charge and is killed before
/// recording it; a runner here resumes the saga to completion.
async fn kill_and_resume(db_url: &str, test: &str) {
    let name = format!("kill-{}", Uuid::new_v4());
    let http = evc_registry_client::mock::http_url(&name).await.unwrap();
    let p = parts(db_url, &format!("mock://{name}")).await;

    let id = Uuid::new_v4();
    for c in [
        Command::Create(CreateOrder {
            order_id: id,
            customer_id: "dave".into(),
            currency: "EUR".into(),
            channel: SalesChannel::Web,
            shipping_address: None,
        }),
        Command::AddItem(AddItem {
            order_id: id,
            sku: "LAMP".into(),
            quantity: 1,
            unit_price_minor: 4500,
        }),
    ] {
        p.orders.execute(&c).await.unwrap();
    }
    let placed = p
        .orders
        .execute(&Command::Place(PlaceOrder { order_id: id }))
        .await
        .unwrap();
    let OrderEvent::OrderPlaced(placed) = placed.event else {
        panic!("PlaceOrder decided {:?}", placed.event);
    };
    let definition = definition(&p.services, Duration::from_secs(5));
    let mut tx = p.db.write().await.unwrap();
    fulfillment::start_in(&p.sagas, &mut tx.as_ref(), &definition, &placed)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env(CHILD, format!("{db_url}|{http}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let effects = p.services.effects(Some("payment")).await.unwrap();
        if effects.iter().any(|e| e.effect == "charge_payment") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the child never charged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().await.unwrap(); // SIGKILL: the charge is applied, the saga does not know
    let saga = p.sagas.load(id).await.unwrap();
    assert_eq!(saga.completed, [fulfillment::RESERVE_INVENTORY]);
    assert_eq!(
        saga.current_step.as_deref(),
        Some(fulfillment::CHARGE_PAYMENT)
    );
    assert_eq!(
        p.orders.load(id).await.unwrap().state().unwrap().status,
        Status::Placed
    );

    // another runner takes over once the dead one's lease expired
    let runner = SagaRunner::new(
        p.sagas.clone(),
        RunnerConfig::default().lease(Duration::from_millis(1000)),
    )
    .register(definition)
    .unwrap()
    .with_hooks(Arc::new(FulfillmentHooks::new(p.orders.clone())));
    runner.run_until_idle().await.unwrap();
    while runner.deliver_notifications().await.unwrap() > 0 {}

    assert_eq!(
        p.sagas.load(id).await.unwrap().status,
        SagaStatus::Completed
    );
    let effects: Vec<String> = p
        .services
        .effects(None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.effect)
        .collect();
    assert_eq!(
        effects,
        [
            "reserve_inventory",
            "charge_payment",
            "create_shipment",
            "send_confirmation"
        ],
        "every effect once"
    );
    let types: Vec<String> = p
        .orders
        .store()
        .read_stream(&evc_order::stream_id(id))
        .await
        .unwrap()
        .iter()
        .map(|r| r.event_type.rsplit('.').next().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "OrderCreated",
            "ItemAdded",
            "OrderPlaced",
            "OrderPaid",
            "OrderShipped"
        ]
    );
    let order = p.orders.load(id).await.unwrap();
    let s = order.state().unwrap();
    let short = &id.simple().to_string()[..8];
    assert_eq!(
        s.payment_reference.as_deref(),
        Some(format!("payment-charge_payment-{short}").as_str()),
        "the reference of the one charge"
    );
    p.db.close().await;
}
