//! What every run of the demo must show, on any infrastructure (shared with the end-to-end
//! suite on tansu, which includes this file).

use evc_demo::DemoReport;

/// What every run must show: alice's and bob's orders shipped, carol's cancelled after her
/// shipment failed, with her payment refunded and her stock released in that order; the
/// events of each order in the store, each with the `vN` it was written with (alice's
/// `OrderCreated` by the old shop, v1); both readers read every event.
pub fn assert_lifecycle(report: &DemoReport, text: &str) {
    assert_eq!(report.orders, 3, "{text}");
    assert_eq!(
        (report.sagas_completed, report.sagas_compensated),
        (2, 1),
        "{text}"
    );
    assert_eq!((report.shipped, report.cancelled), (2, 1), "{text}");
    assert_eq!(report.summaries, 3, "{text}");
    // each order: create, 2 items, place, pay, then ship (alice, bob) or cancel (carol)
    assert_eq!(report.events, 18, "{text}");
    assert_eq!(report.published, 18, "{text}");
    assert_eq!(
        report.reads,
        [("v1".to_string(), 18), ("latest".to_string(), 18)],
        "{text}"
    );
    assert!(report.replay_matches, "{text}");
    let fulfilled = |created: &str| {
        vec![
            created.to_string(),
            "ItemAdded v1".into(),
            "ItemAdded v1".into(),
            "OrderPlaced v1".into(),
            "OrderPaid v2".into(),
            "OrderShipped v1".into(),
        ]
    };
    let [alice, bob, carol] = &report.order_reports[..] else {
        panic!("three orders expected: {report:?}");
    };
    for (o, customer, created) in [
        (alice, "alice", "OrderCreated v1"),
        (bob, "bob", "OrderCreated v2"),
    ] {
        assert_eq!(o.customer, customer);
        assert_eq!(
            (o.status.as_str(), o.saga.as_str()),
            ("shipped", "completed")
        );
        assert_eq!(o.events, fulfilled(created), "{customer}");
        assert_eq!(
            o.effects,
            [
                "inventory:reserve_inventory",
                "payment:charge_payment",
                "shipping:create_shipment",
                "notification:send_confirmation"
            ],
            "{customer}: each effect once"
        );
        assert_eq!(o.cancellation, None);
    }
    assert_eq!(carol.customer, "carol");
    assert_eq!(
        (carol.status.as_str(), carol.saga.as_str()),
        ("cancelled", "compensated")
    );
    assert_eq!(
        carol.events,
        [
            "OrderCreated v2",
            "ItemAdded v1",
            "ItemAdded v1",
            "OrderPlaced v1",
            "OrderPaid v2",
            "OrderCancelled v1"
        ]
    );
    // the completed steps, then their compensations in reverse
    assert_eq!(
        carol.effects,
        [
            "inventory:reserve_inventory",
            "payment:charge_payment",
            "payment:refund_payment",
            "inventory:release_inventory"
        ]
    );
    let (reason, failed) = carol.cancellation.clone().expect("carol's cancellation");
    assert_eq!(failed.as_deref(), Some("create_shipment"));
    assert_eq!(reason, "create_shipment: rejected: injected failure");

    // what it prints
    for needle in [
        "== Schemas",
        "orders-com.acme.orders.OrderCreated",
        "== Orders",
        "== Schema evolution",
        "reader on v1 types      read 18 of 18 events",
        "reader on latest types  read 18 of 18 events",
        "now: shipped (final)",
        "placed     processing  378.00 EUR, 2 lines",
        "paid       processing  378.00 EUR by Card, payment reference payment-charge_payment-",
        "now: cancelled (final): create_shipment: rejected: injected failure",
        "create_shipment failed; done before: reserve_inventory > charge_payment; compensated: refund_payment > release_inventory",
        "== Read model",
        "state replay equals the read model",
    ] {
        assert!(text.contains(needle), "no `{needle}` in:\n{text}");
    }
    assert_eq!(text.matches("now: shipped (final)").count(), 2, "{text}");
}
