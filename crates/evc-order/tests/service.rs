//! The service over the event store and a `mock://` registry: mixed schema versions fold to
//! the same state, and a lost race is retried once.

use std::sync::Arc;

use evc_avro::chrono::DateTime;
use evc_avro::uuid::Uuid;
use evc_avro::Event;
use evc_eventstore::{EventStore, ExpectedVersion, NewEvent};
use evc_order::{
    stream_id, AddItem, CancelOrder, Command, CreateOrder, EventMeta, Order, OrderError,
    OrderService, PayOrder, PlaceOrder, ServiceError, ShipOrder, Status,
};
use evc_registry_client::RegistryClient;
use evc_wire::{Deserializer, Serializer};
use order_events::order_created::v2::SalesChannel;
use order_events::order_paid::v2::PaymentMethod;
use order_events::{item_added, order_paid, v1, v2, ItemAdded, OrderShipped};

fn registry() -> String {
    format!("mock://evc-order-{}", Uuid::new_v4())
}

fn service(store: EventStore, registry: &str) -> OrderService {
    let client = RegistryClient::new(registry).unwrap();
    OrderService::new(
        store,
        Serializer::new(client.clone()).auto_register(true),
        Deserializer::new(client),
    )
}

async fn framed<T: Event + 'static>(
    s: &Serializer,
    e: &T,
    event_id: Uuid,
    at: DateTime<evc_avro::chrono::Utc>,
) -> NewEvent {
    NewEvent::new(event_id, T::FULL_NAME, at, s.serialize(e).await.unwrap()).unwrap()
}

/// The same order written once with v1 `OrderCreated`/`OrderPaid` and once with the latest
/// versions (v2 fields at their defaults) folds to the same state.
#[tokio::test(flavor = "multi_thread")]
async fn mixed_schema_versions_fold_identically() {
    let registry = registry();
    let client = RegistryClient::new(&registry).unwrap();
    let ser = Serializer::new(client).auto_register(true);
    let order_id = Uuid::new_v4();
    let at = DateTime::from_timestamp_millis(1_700_000_000_000).unwrap();
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let item = |i: usize, sku: &str, quantity, amount_minor| ItemAdded {
        event_id: ids[i],
        order_id,
        occurred_at: at,
        sku: sku.into(),
        quantity,
        unit_price: item_added::v1::Money {
            amount_minor,
            currency: "EUR".into(),
        },
    };
    let shipped = OrderShipped {
        event_id: ids[4],
        order_id,
        occurred_at: at,
        carrier: "dhl".into(),
        tracking_number: "T-1".into(),
        estimated_delivery: None,
    };

    let old = vec![
        framed(
            &ser,
            &v1::OrderCreated {
                event_id: ids[0],
                order_id,
                occurred_at: at,
                customer_id: "c-9".into(),
                currency: "EUR".into(),
            },
            ids[0],
            at,
        )
        .await,
        framed(&ser, &item(1, "a", 2, 500), ids[1], at).await,
        framed(&ser, &item(2, "b", 1, 250), ids[2], at).await,
        framed(
            &ser,
            &v1::OrderPaid {
                event_id: ids[3],
                order_id,
                occurred_at: at,
                amount: order_paid::v1::Money {
                    amount_minor: 1250,
                    currency: "EUR".into(),
                },
                method: order_paid::v1::PaymentMethod::Card,
            },
            ids[3],
            at,
        )
        .await,
        framed(&ser, &shipped, ids[4], at).await,
    ];
    let new = vec![
        framed(
            &ser,
            &v2::OrderCreated {
                event_id: ids[0],
                order_id,
                occurred_at: at,
                customer_id: "c-9".into(),
                currency: "EUR".into(),
                channel: SalesChannel::default(),
                shipping_address: None,
            },
            ids[0],
            at,
        )
        .await,
        framed(&ser, &item(1, "a", 2, 500), ids[1], at).await,
        framed(&ser, &item(2, "b", 1, 250), ids[2], at).await,
        framed(
            &ser,
            &v2::OrderPaid {
                event_id: ids[3],
                order_id,
                occurred_at: at,
                amount: order_paid::v2::Money {
                    amount_minor: 1250,
                    currency: "EUR".into(),
                },
                method: PaymentMethod::Card,
                payment_reference: None,
                tax_rate: None,
            },
            ids[3],
            at,
        )
        .await,
        framed(&ser, &shipped, ids[4], at).await,
    ];
    // really different writer schemas
    assert_ne!(old[0].schema_id, new[0].schema_id);
    assert_ne!(old[3].schema_id, new[3].schema_id);

    let mut folded = Vec::new();
    for events in [old, new] {
        let store = EventStore::sqlite_in_memory().await.unwrap();
        store
            .append(&stream_id(order_id), ExpectedVersion::NoStream, &events)
            .await
            .unwrap();
        folded.push(service(store, &registry).load(order_id).await.unwrap());
    }
    assert_eq!(folded[0], folded[1]);
    let s = folded[0].state().unwrap();
    assert_eq!(
        (s.status, s.total_minor, s.paid_minor, s.items.len()),
        (Status::Shipped, 1250, Some(1250), 2)
    );
    assert_eq!(
        (s.customer_id.as_str(), s.currency.as_str()),
        ("c-9", "EUR")
    );
    assert_eq!(folded[0].version(), 5);
}

fn add(order_id: Uuid, sku: &str, price: i64) -> Command {
    Command::AddItem(AddItem {
        order_id,
        sku: sku.into(),
        quantity: 1,
        unit_price_minor: price,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_through_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open_sqlite(dir.path().join("orders.db"))
        .await
        .unwrap();
    let svc = service(store.clone(), &registry());
    let id = Uuid::new_v4();
    let err = svc.execute(&add(id, "a", 1)).await.unwrap_err();
    assert!(
        matches!(err, ServiceError::Order(OrderError::UnknownOrder(u)) if u == id),
        "{err}"
    );
    let create = Command::Create(CreateOrder {
        order_id: id,
        customer_id: "c".into(),
        currency: "EUR".into(),
        channel: SalesChannel::Mobile,
        shipping_address: None,
    });
    svc.execute(&create).await.unwrap();
    let err = svc.execute(&create).await.unwrap_err();
    assert!(
        matches!(err, ServiceError::Order(OrderError::AlreadyCreated(_))),
        "{err}"
    );
    svc.execute(&add(id, "a", 300)).await.unwrap();
    svc.execute(&Command::Place(PlaceOrder { order_id: id }))
        .await
        .unwrap();
    let pay = Command::Pay(PayOrder {
        order_id: id,
        amount_minor: 300,
        currency: "EUR".into(),
        method: PaymentMethod::Wallet,
        payment_reference: Some("r".into()),
    });
    let paid = svc.execute(&pay).await.unwrap();
    assert_eq!(
        (paid.stream_version, paid.position, paid.attempts),
        (4, 4, 1)
    );
    let err = svc.execute(&add(id, "b", 1)).await.unwrap_err();
    assert!(
        matches!(
            err,
            ServiceError::Order(OrderError::ItemsAfterPlacing(Status::Paid))
        ),
        "{err}"
    );
    svc.execute(&Command::Ship(ShipOrder {
        order_id: id,
        carrier: "ups".into(),
        tracking_number: "1Z".into(),
        estimated_delivery: None,
    }))
    .await
    .unwrap();
    let loaded = svc.load(id).await.unwrap();
    assert_eq!(loaded.state().unwrap().status, Status::Shipped);
    // the stored rows carry the metadata
    let rows = store.read_stream(&stream_id(id)).await.unwrap();
    assert_eq!(
        rows.iter()
            .map(|r| r.event_type.as_str())
            .collect::<Vec<_>>(),
        [
            "com.acme.orders.OrderCreated",
            "com.acme.orders.ItemAdded",
            "com.acme.orders.OrderPlaced",
            "com.acme.orders.OrderPaid",
            "com.acme.orders.OrderShipped"
        ]
    );
    assert_eq!(
        Order::fold(&[]).unwrap(),
        svc.load(Uuid::new_v4()).await.unwrap()
    );
}

/// Services racing on one order: every command lands (the loser reloads and retries once),
/// and the order holds all the items.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_commands_retry_on_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open_sqlite(dir.path().join("orders.db"))
        .await
        .unwrap();
    let registry = registry();
    let id = Uuid::new_v4();
    let first = service(store.clone(), &registry);
    first
        .execute(&Command::Create(CreateOrder {
            order_id: id,
            customer_id: "c".into(),
            currency: "EUR".into(),
            channel: SalesChannel::Web,
            shipping_address: None,
        }))
        .await
        .unwrap();
    let mut attempts = 0;
    for round in 0..10 {
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = (0..2)
            .map(|t| {
                let svc = service(store.clone(), &registry);
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    svc.execute(&add(id, &format!("{round}-{t}"), 100)).await
                })
            })
            .collect();
        for t in tasks {
            attempts += t.await.unwrap().unwrap().attempts;
        }
    }
    let order = first.load(id).await.unwrap();
    assert_eq!(order.version(), 21);
    assert_eq!(order.state().unwrap().items.len(), 20);
    assert_eq!(order.state().unwrap().total_minor, 2000);
    assert!(attempts >= 20);
}

/// `execute_once` appends one event per event id however often it is called (a redelivered
/// saga hook), and still refuses what the lifecycle forbids.
#[tokio::test(flavor = "multi_thread")]
async fn execute_once_appends_one_event_per_event_id() {
    let store = EventStore::sqlite_in_memory().await.unwrap();
    let svc = service(store.clone(), &registry());
    let id = Uuid::new_v4();
    for c in [
        Command::Create(CreateOrder {
            order_id: id,
            customer_id: "c".into(),
            currency: "EUR".into(),
            channel: SalesChannel::Web,
            shipping_address: None,
        }),
        add(id, "a", 300),
        Command::Place(PlaceOrder { order_id: id }),
    ] {
        svc.execute(&c).await.unwrap();
    }
    let cancel = Command::Cancel(CancelOrder {
        order_id: id,
        reason: "the shipping service rejects it".into(),
        failed_step: Some("create_shipment".into()),
        shipment_cancelled: false,
    });
    let meta = EventMeta::now();
    assert!(svc.execute_once(&cancel, meta).await.unwrap().is_some());
    // redelivered: nothing appended, no refusal
    assert!(svc.execute_once(&cancel, meta).await.unwrap().is_none());
    assert!(svc.execute_once(&cancel, meta).await.unwrap().is_none());
    assert_eq!(store.read_stream(&stream_id(id)).await.unwrap().len(), 4);
    // another cancellation (another id) is refused: the order is cancelled
    let err = svc
        .execute_once(&cancel, EventMeta::now())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::Order(OrderError::Cancelled)),
        "{err}"
    );
    // without dedupe, a stored event id is an error
    let err = svc.execute_with(&cancel, meta).await.unwrap_err();
    assert!(
        matches!(err, ServiceError::Order(OrderError::Cancelled)),
        "{err}"
    );
    let state = svc.load(id).await.unwrap();
    let s = state.state().unwrap();
    assert_eq!(s.status, Status::Cancelled);
    assert_eq!(
        s.cancellation,
        Some((
            "the shipping service rejects it".to_string(),
            Some("create_shipment".to_string())
        ))
    );
}
