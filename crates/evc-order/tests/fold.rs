//! The aggregate without I/O: typed refusals, and invariants over random command sequences.

use evc_avro::chrono::DateTime;
use evc_avro::uuid::Uuid;
use evc_order::{
    AddItem, CancelOrder, Command, CreateOrder, EventMeta, Order, OrderError, OrderEvent, PayOrder,
    PlaceOrder, ShipOrder, Status,
};
use order_events::order_created::v2::SalesChannel;
use order_events::order_paid::v2::PaymentMethod;
use proptest::prelude::*;

fn meta(n: u64) -> EventMeta {
    EventMeta {
        event_id: Uuid::from_u128(u128::from(n) + 1),
        occurred_at: DateTime::from_timestamp_millis(1_700_000_000_000 + n as i64).unwrap(),
    }
}

fn create(id: Uuid) -> Command {
    Command::Create(CreateOrder {
        order_id: id,
        customer_id: "c-1".into(),
        currency: "EUR".into(),
        channel: SalesChannel::Web,
        shipping_address: None,
    })
}

fn add(id: Uuid, quantity: i32, price: i64) -> Command {
    Command::AddItem(AddItem {
        order_id: id,
        sku: format!("sku-{price}"),
        quantity,
        unit_price_minor: price,
    })
}

fn pay(id: Uuid, amount: i64) -> Command {
    Command::Pay(PayOrder {
        order_id: id,
        amount_minor: amount,
        currency: "EUR".into(),
        method: PaymentMethod::Card,
        payment_reference: None,
    })
}

fn place(id: Uuid) -> Command {
    Command::Place(PlaceOrder { order_id: id })
}

fn cancel(id: Uuid, shipment_cancelled: bool) -> Command {
    Command::Cancel(CancelOrder {
        order_id: id,
        reason: "create_shipment: rejected".into(),
        failed_step: Some("create_shipment".into()),
        shipment_cancelled,
    })
}

/// The customer's cancellation: no failed step.
fn customer_cancel(id: Uuid) -> Command {
    Command::Cancel(CancelOrder {
        order_id: id,
        reason: "changed my mind".into(),
        failed_step: None,
        shipment_cancelled: false,
    })
}

fn ship(id: Uuid) -> Command {
    Command::Ship(ShipOrder {
        order_id: id,
        carrier: "dhl".into(),
        tracking_number: "t-1".into(),
        estimated_delivery: None,
    })
}

#[test]
fn refusals_are_typed() {
    let id = Uuid::from_u128(7);
    let mut o = Order::new();
    assert_eq!(
        o.decide(&add(id, 1, 100), meta(0)),
        Err(OrderError::UnknownOrder(id))
    );
    assert_eq!(
        o.decide(&pay(id, 0), meta(0)),
        Err(OrderError::UnknownOrder(id))
    );
    assert_eq!(
        o.decide(&ship(id), meta(0)),
        Err(OrderError::UnknownOrder(id))
    );
    let mut bad = create(id);
    if let Command::Create(c) = &mut bad {
        c.currency = "eur".into();
    }
    assert_eq!(
        o.decide(&bad, meta(0)),
        Err(OrderError::InvalidCurrency("eur".into()))
    );
    o.execute(&create(id), meta(1)).unwrap();
    assert_eq!(
        o.decide(&create(id), meta(2)),
        Err(OrderError::AlreadyCreated(id))
    );
    let other = Uuid::from_u128(8);
    assert_eq!(
        o.decide(&add(other, 1, 1), meta(2)),
        Err(OrderError::WrongOrder {
            order: id,
            command: other
        })
    );
    assert_eq!(o.decide(&place(id), meta(2)), Err(OrderError::EmptyOrder));
    assert_eq!(o.decide(&pay(id, 0), meta(2)), Err(OrderError::NotPlaced));
    assert_eq!(o.decide(&ship(id), meta(2)), Err(OrderError::NotPaid));
    assert_eq!(
        o.decide(&add(id, 0, 1), meta(2)),
        Err(OrderError::InvalidQuantity(0))
    );
    assert_eq!(
        o.decide(&add(id, 1, -1), meta(2)),
        Err(OrderError::NegativePrice(-1))
    );
    o.execute(&add(id, 3, 250), meta(3)).unwrap();
    assert_eq!(
        o.decide(&add(id, 2, i64::MAX), meta(4)),
        Err(OrderError::TotalOverflow)
    );
    assert_eq!(o.decide(&pay(id, 750), meta(4)), Err(OrderError::NotPlaced));
    o.execute(&place(id), meta(4)).unwrap();
    // from checkout on, fulfillment owns the order: a customer cannot cancel it under the saga
    assert_eq!(
        o.decide(&customer_cancel(id), meta(5)),
        Err(OrderError::FulfillmentRunning)
    );
    assert_eq!(
        o.decide(&add(id, 1, 1), meta(5)),
        Err(OrderError::ItemsAfterPlacing(Status::Placed))
    );
    assert_eq!(
        o.decide(&place(id), meta(5)),
        Err(OrderError::AlreadyPlaced)
    );
    assert_eq!(o.decide(&ship(id), meta(5)), Err(OrderError::NotPaid));
    assert_eq!(
        o.decide(&pay(id, 749), meta(5)),
        Err(OrderError::WrongAmount {
            total: 750,
            paid: 749
        })
    );
    let mut usd = pay(id, 750);
    if let Command::Pay(p) = &mut usd {
        p.currency = "USD".into();
    }
    assert_eq!(
        o.decide(&usd, meta(5)),
        Err(OrderError::CurrencyMismatch {
            order: "EUR".into(),
            paid: "USD".into()
        })
    );
    o.execute(&pay(id, 750), meta(6)).unwrap();
    assert_eq!(
        o.decide(&customer_cancel(id), meta(7)),
        Err(OrderError::FulfillmentRunning)
    );
    assert_eq!(
        o.decide(&add(id, 1, 1), meta(7)),
        Err(OrderError::ItemsAfterPlacing(Status::Paid))
    );
    assert_eq!(
        o.decide(&pay(id, 750), meta(7)),
        Err(OrderError::AlreadyPaid)
    );
    o.execute(&ship(id), meta(8)).unwrap();
    assert_eq!(
        o.decide(&ship(id), meta(9)),
        Err(OrderError::AlreadyShipped)
    );
    assert_eq!(
        o.decide(&add(id, 1, 1), meta(9)),
        Err(OrderError::ItemsAfterPlacing(Status::Shipped))
    );
    // a shipped order is cancelled only with its shipment cancelled
    assert_eq!(
        o.decide(&cancel(id, false), meta(9)),
        Err(OrderError::ShippedNotCancelled)
    );
    assert_eq!(o.version(), 5);
    let s = o.state().unwrap();
    assert_eq!(
        (s.status, s.total_minor, s.paid_minor, s.items.len()),
        (Status::Shipped, 750, Some(750), 1)
    );
    o.execute(&cancel(id, true), meta(10)).unwrap();
    assert_eq!(o.state().unwrap().status, Status::Cancelled);
    // cancelled is final
    for c in [
        pay(id, 750),
        ship(id),
        place(id),
        add(id, 1, 1),
        cancel(id, true),
    ] {
        let refused = o.decide(&c, meta(11)).unwrap_err();
        assert!(
            matches!(
                refused,
                OrderError::Cancelled | OrderError::ItemsAfterPlacing(Status::Cancelled)
            ),
            "{c:?}: {refused}"
        );
    }
    let mut empty_reason = cancel(Uuid::from_u128(9), false);
    if let Command::Cancel(c) = &mut empty_reason {
        c.reason = " ".into();
    }
    let mut other = Order::new();
    other
        .execute(&create(Uuid::from_u128(9)), meta(12))
        .unwrap();
    assert_eq!(
        other.decide(&empty_reason, meta(13)),
        Err(OrderError::NoReason)
    );
    // an open order is the customer's to cancel
    let open = Uuid::from_u128(9);
    other.execute(&customer_cancel(open), meta(14)).unwrap();
    assert_eq!(other.state().unwrap().status, Status::Cancelled);
    assert_eq!(
        other.state().unwrap().cancellation,
        Some(("changed my mind".to_string(), None))
    );
}

#[test]
fn fold_refuses_streams_that_are_not_an_order() {
    let id = Uuid::from_u128(7);
    let mut o = Order::new();
    let created = o.execute(&create(id), meta(1)).unwrap();
    let item = o.clone().decide(&add(id, 1, 1), meta(2)).unwrap();
    assert!(Order::fold([&item]).is_err());
    assert!(Order::fold([&created, &created]).is_err());
    let mut other = Order::new();
    other.execute(&create(Uuid::from_u128(9)), meta(3)).unwrap();
    assert!(other.apply(&item).is_err());
}

#[derive(Debug, Clone)]
enum Op {
    Create,
    Add(i32, i64),
    Place,
    PayTotal,
    PayWrong(i64),
    Ship,
    Cancel(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Create),
        5 => (-1i32..6, -2i64..10_000).prop_map(|(q, p)| Op::Add(q, p)),
        2 => Just(Op::Place),
        2 => Just(Op::PayTotal),
        1 => (1i64..100).prop_map(Op::PayWrong),
        2 => Just(Op::Ship),
        1 => any::<bool>().prop_map(Op::Cancel),
    ]
}

proptest! {
    #[test]
    fn invariants_hold_over_random_commands(ops in prop::collection::vec(op(), 0..40)) {
        let id = Uuid::from_u128(42);
        let mut order = Order::new();
        let mut events: Vec<OrderEvent> = Vec::new();
        for (n, op) in ops.iter().enumerate() {
            let total = order.state().map_or(0, |s| s.total_minor);
            let cmd = match op {
                Op::Create => create(id),
                Op::Add(q, p) => add(id, *q, *p),
                Op::Place => place(id),
                Op::PayTotal => pay(id, total),
                Op::PayWrong(d) => pay(id, total + d),
                Op::Ship => ship(id),
                Op::Cancel(shipment_cancelled) => cancel(id, *shipment_cancelled),
            };
            let before = order.clone();
            match order.execute(&cmd, meta(n as u64)) {
                Ok(e) => events.push(e),
                Err(_) => prop_assert_eq!(&order, &before, "a refused command changed the state"),
            }
            prop_assert_eq!(order.version(), events.len() as u64);
            if let Some(s) = order.state() {
                let sum: i64 = s.items.iter().map(|i| i64::from(i.quantity) * i.unit_price_minor).sum();
                prop_assert_eq!(s.total_minor, sum);
                prop_assert!(s.items.iter().all(|i| i.quantity > 0 && i.unit_price_minor >= 0));
                if matches!(s.status, Status::Paid | Status::Shipped) {
                    prop_assert!(!s.items.is_empty());
                    prop_assert_eq!(s.paid_minor, Some(s.total_minor));
                }
            }
        }
        // event order: created first and once, no item after placing, paid after placed,
        // shipped after paid, nothing after cancelled
        let (mut placed, mut paid, mut shipped, mut cancelled) = (false, false, false, false);
        for (i, e) in events.iter().enumerate() {
            prop_assert!(!cancelled, "an event after the cancellation");
            match e {
                OrderEvent::OrderCreated(_) => prop_assert_eq!(i, 0),
                OrderEvent::ItemAdded(_) => prop_assert!(!placed),
                OrderEvent::OrderPlaced(_) => { prop_assert!(!placed); placed = true; }
                OrderEvent::OrderPaid(_) => { prop_assert!(placed && !paid); paid = true; }
                OrderEvent::OrderShipped(_) => { prop_assert!(paid && !shipped); shipped = true; }
                OrderEvent::OrderCancelled(_) => cancelled = true,
            }
        }
        // the state is a fold of the events
        prop_assert_eq!(Order::fold(&events).unwrap(), order);
    }
}
