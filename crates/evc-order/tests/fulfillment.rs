//! The `OrderFulfillment` saga on evc-saga's runner with the simulated services, started the
//! way a consumer handler starts it: inside a transaction, from an `OrderPaid`.

use std::time::Duration;

use evc_order::fulfillment::{self, FulfillmentInput, FulfillmentParticipants};
use evc_saga::simulated::{Fault, SimulatedServices};
use evc_saga::{Action, RunnerConfig, SagaRunner, SagaStatus, SagaStore};
use evc_storage::Database;
use order_events::order_paid::v2::{Money, OrderPaid, PaymentMethod};
use uuid::Uuid;

fn paid(order_id: Uuid) -> OrderPaid {
    OrderPaid {
        event_id: Uuid::new_v4(),
        order_id,
        occurred_at: evc_avro::chrono::Utc::now(),
        amount: Money {
            amount_minor: 1999,
            currency: "EUR".to_string(),
        },
        method: PaymentMethod::Card,
        payment_reference: None,
        tax_rate: None,
    }
}

#[tokio::test]
async fn fulfills_paid_orders_and_compensates_a_failed_charge() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_sqlite(dir.path().join("saga.db"))
        .await
        .unwrap();
    let store = SagaStore::open(db.clone()).await.unwrap();
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
    let (good, bad) = (Uuid::new_v4(), Uuid::new_v4());
    services.inject_for(bad, fulfillment::CHARGE_PAYMENT, Action::Do, Fault::Fail);
    for order in [good, bad, good] {
        let mut tx = db.write().await.unwrap();
        fulfillment::start_in(&store, &mut tx.as_ref(), &definition, &paid(order))
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
