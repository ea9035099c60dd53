//! The order lifecycle driven by the fulfillment saga: `OrderPlaced` starts it, its hooks turn
//! step results into `PayOrder`, `ShipOrder` and `CancelOrder`; a failure at any step
//! compensates the completed steps in reverse and cancels the order; a redelivered hook
//! appends nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use evc_eventstore::EventStore;
use evc_order::fulfillment::{self, FulfillmentHooks, FulfillmentParticipants};
use evc_order::{AddItem, Command, CreateOrder, OrderEvent, OrderService, PlaceOrder, Status};
use evc_registry_client::RegistryClient;
use evc_saga::simulated::{Fault, SimulatedServices};
use evc_saga::{
    Action, HookError, HookFuture, RunnerConfig, SagaHooks, SagaRunner, SagaState, SagaStatus,
    SagaStore, StepCompleted,
};
use evc_storage::Database;
use evc_wire::{Deserializer, Serializer};
use order_events::order_created::v2::SalesChannel;
use uuid::Uuid;

struct World {
    _dir: tempfile::TempDir,
    db: Database,
    orders: Arc<OrderService>,
    sagas: SagaStore,
    services: SimulatedServices,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_sqlite(dir.path().join("app.db"))
        .await
        .unwrap();
    let registry = RegistryClient::new(&format!("mock://lifecycle-{}", Uuid::new_v4())).unwrap();
    let orders = Arc::new(OrderService::new(
        EventStore::with_database(db.clone()).await.unwrap(),
        Serializer::new(registry.clone()).auto_register(true),
        Deserializer::new(registry),
    ));
    World {
        sagas: SagaStore::open(db.clone()).await.unwrap(),
        services: SimulatedServices::open(db.clone()).await.unwrap(),
        _dir: dir,
        db,
        orders,
    }
}

impl World {
    fn definition(&self) -> evc_saga::SagaDefinition {
        let s = &self.services;
        fulfillment::definition(
            FulfillmentParticipants {
                inventory: s.participant("inventory"),
                payment: s.participant("payment"),
                shipping: s.participant("shipping"),
                notification: s.participant("notification"),
            },
            Duration::from_secs(5),
        )
    }

    /// Creates, fills and places an order, then starts its saga from the `OrderPlaced` in a
    /// transaction (as the consumer's handler does).
    async fn place(&self) -> Uuid {
        let id = Uuid::new_v4();
        let o = &self.orders;
        o.execute(&Command::Create(CreateOrder {
            order_id: id,
            customer_id: "carol".into(),
            currency: "EUR".into(),
            channel: SalesChannel::Web,
            shipping_address: None,
        }))
        .await
        .unwrap();
        o.execute(&Command::AddItem(AddItem {
            order_id: id,
            sku: "DESK".into(),
            quantity: 2,
            unit_price_minor: 5000,
        }))
        .await
        .unwrap();
        let placed = o
            .execute(&Command::Place(PlaceOrder { order_id: id }))
            .await
            .unwrap();
        let OrderEvent::OrderPlaced(placed) = placed.event else {
            panic!("PlaceOrder decided {:?}", placed.event);
        };
        let mut tx = self.db.write().await.unwrap();
        let started =
            fulfillment::start_in(&self.sagas, &mut tx.as_ref(), &self.definition(), &placed)
                .await
                .unwrap();
        tx.commit().await.unwrap();
        assert!(started);
        id
    }

    async fn run(&self, hooks: Arc<dyn SagaHooks>) {
        let runner = SagaRunner::new(self.sagas.clone(), RunnerConfig::default())
            .register(self.definition())
            .unwrap()
            .with_hooks(hooks);
        runner.run_until_idle().await.unwrap();
        // hooks refused once are delivered again
        while runner.deliver_notifications().await.unwrap() > 0 {}
    }

    /// The event types in the order's stream, in order.
    async fn events(&self, id: Uuid) -> Vec<String> {
        self.orders
            .store()
            .read_stream(&evc_order::stream_id(id))
            .await
            .unwrap()
            .iter()
            .map(|r| {
                r.event_type
                    .rsplit('.')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    async fn effects(&self, id: Uuid) -> Vec<String> {
        self.services
            .effects(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.saga_id == id.to_string())
            .map(|e| e.effect)
            .collect()
    }
}

/// The real hooks, refusing every notification once *after* running it: each command is
/// delivered (at least) twice.
struct Redelivering {
    inner: FulfillmentHooks,
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
    calls: AtomicUsize,
}

impl Redelivering {
    fn first_time(&self, key: String) -> bool {
        self.seen.lock().unwrap().insert(key)
    }
}

impl SagaHooks for Redelivering {
    fn step_completed<'a>(&'a self, e: &'a StepCompleted) -> HookFuture<'a> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.inner.step_completed(e).await?;
            if self.first_time(format!("{}:{}:{}", e.saga_id, e.step, e.action)) {
                return Err(HookError::new("lost the acknowledgement"));
            }
            Ok(())
        })
    }

    fn saga_finished<'a>(&'a self, s: &'a SagaState) -> HookFuture<'a> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.inner.saga_finished(s).await?;
            if self.first_time(format!("{}:finished", s.saga_id)) {
                return Err(HookError::new("lost the acknowledgement"));
            }
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fulfilled_order_is_paid_and_shipped_with_the_participants_references() {
    let w = world().await;
    let id = w.place().await;
    w.run(Arc::new(FulfillmentHooks::new(w.orders.clone())))
        .await;
    assert_eq!(
        w.sagas.load(id).await.unwrap().status,
        SagaStatus::Completed
    );
    assert_eq!(
        w.events(id).await,
        [
            "OrderCreated",
            "ItemAdded",
            "OrderPlaced",
            "OrderPaid",
            "OrderShipped"
        ]
    );
    let order = w.orders.load(id).await.unwrap();
    let s = order.state().unwrap();
    let short = &id.simple().to_string()[..8];
    assert_eq!(s.status, Status::Shipped);
    assert_eq!(s.paid_minor, Some(10_000));
    assert_eq!(
        s.payment_reference.as_deref(),
        Some(format!("payment-charge_payment-{short}").as_str())
    );
    assert_eq!(
        s.tracking_number.as_deref(),
        Some(format!("shipping-create_shipment-{short}").as_str())
    );
    assert_eq!(
        w.effects(id).await,
        [
            "reserve_inventory",
            "charge_payment",
            "create_shipment",
            "send_confirmation"
        ]
    );
}

/// A failure at each step: the completed steps are compensated in reverse, then the order is
/// cancelled with the failed step; the events in the store say exactly what happened.
#[tokio::test(flavor = "multi_thread")]
async fn a_failure_at_any_step_compensates_in_reverse_and_cancels_the_order() {
    let cases: [(&str, &[&str], &[&str]); 4] = [
        (
            fulfillment::RESERVE_INVENTORY,
            &["OrderCreated", "ItemAdded", "OrderPlaced", "OrderCancelled"],
            &[],
        ),
        (
            fulfillment::CHARGE_PAYMENT,
            &["OrderCreated", "ItemAdded", "OrderPlaced", "OrderCancelled"],
            &["reserve_inventory", "release_inventory"],
        ),
        (
            fulfillment::CREATE_SHIPMENT,
            &[
                "OrderCreated",
                "ItemAdded",
                "OrderPlaced",
                "OrderPaid",
                "OrderCancelled",
            ],
            &[
                "reserve_inventory",
                "charge_payment",
                "refund_payment",
                "release_inventory",
            ],
        ),
        (
            fulfillment::SEND_CONFIRMATION,
            &[
                "OrderCreated",
                "ItemAdded",
                "OrderPlaced",
                "OrderPaid",
                "OrderShipped",
                "OrderCancelled",
            ],
            &[
                "reserve_inventory",
                "charge_payment",
                "create_shipment",
                "cancel_shipment",
                "refund_payment",
                "release_inventory",
            ],
        ),
    ];
    let w = world().await;
    let mut ids = Vec::new();
    for (step, _, _) in &cases {
        let id = w.place().await;
        w.services.inject_for(id, step, Action::Do, Fault::Fail);
        ids.push(id);
    }
    w.run(Arc::new(FulfillmentHooks::new(w.orders.clone())))
        .await;
    for ((step, events, effects), id) in cases.iter().zip(&ids) {
        let saga = w.sagas.load(*id).await.unwrap();
        assert_eq!(saga.status, SagaStatus::Compensated, "{step}");
        assert_eq!(w.events(*id).await, *events, "{step}");
        assert_eq!(w.effects(*id).await, *effects, "{step}");
        let order = w.orders.load(*id).await.unwrap();
        let s = order.state().unwrap();
        assert_eq!(s.status, Status::Cancelled, "{step}");
        let (reason, failed) = s.cancellation.clone().unwrap();
        assert_eq!(failed.as_deref(), Some(*step));
        assert!(
            reason.contains(step) && reason.contains("injected failure"),
            "{reason}"
        );
    }
}

/// Every hook notification delivered twice (the first answer lost after the command ran):
/// each command appends once.
#[tokio::test(flavor = "multi_thread")]
async fn redelivered_hooks_append_nothing_twice() {
    let w = world().await;
    let shipped = w.place().await;
    let cancelled = w.place().await;
    w.services.inject_for(
        cancelled,
        fulfillment::CREATE_SHIPMENT,
        Action::Do,
        Fault::Fail,
    );
    let hooks = Arc::new(Redelivering {
        inner: FulfillmentHooks::new(w.orders.clone()),
        seen: Default::default(),
        calls: AtomicUsize::new(0),
    });
    w.run(hooks.clone()).await;
    assert_eq!(
        w.events(shipped).await,
        [
            "OrderCreated",
            "ItemAdded",
            "OrderPlaced",
            "OrderPaid",
            "OrderShipped"
        ]
    );
    assert_eq!(
        w.events(cancelled).await,
        [
            "OrderCreated",
            "ItemAdded",
            "OrderPlaced",
            "OrderPaid",
            "OrderCancelled"
        ]
    );
    // the shipped saga: 4 steps + finished; the cancelled one: 2 steps, 2 compensations +
    // finished; each delivered twice
    assert_eq!(hooks.calls.load(Ordering::SeqCst), 2 * (5 + 5));
}
