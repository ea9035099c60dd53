//! The generated order events: constants, the topic enum, and schema evolution through Avro
//! resolution (v1 bytes into v2 types and back).

use apache_avro::types::Value;
use evc_avro::{AvroSchema, AvroValue, Event, TopicEvent};
use order_events::{v1, v2, OrderEvent};
use proptest::prelude::*;

fn model<T: AvroSchema>() -> evc_schema::Schema {
    evc_schema::Schema::parse(T::SCHEMA_JSON).unwrap()
}

fn arb<T: AvroSchema + AvroValue + std::fmt::Debug>() -> impl Strategy<Value = T> {
    evc_tests::arb::value(&model::<T>())
        .prop_map(|v| T::from_avro_value(v).expect("generated value fits"))
}

#[test]
fn constants() {
    assert_eq!(
        order_events::OrderCreated::SUBJECT,
        "orders-com.acme.orders.OrderCreated"
    );
    assert_eq!(order_events::OrderCreated::TOPIC, "orders");
    assert_eq!(order_events::OrderCreated::VERSION, 2);
    assert_eq!(v1::OrderCreated::VERSION, 1);
    assert_eq!(order_events::OrderShipped::VERSION, 1);
    assert_eq!(
        OrderEvent::FULL_NAMES,
        [
            "com.acme.orders.OrderCreated",
            "com.acme.orders.ItemAdded",
            "com.acme.orders.OrderPlaced",
            "com.acme.orders.OrderPaid",
            "com.acme.orders.OrderShipped",
            "com.acme.orders.OrderCancelled"
        ]
    );
    // the fingerprint is of the canonical form of the checked-in schema file
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/com.acme.orders/OrderPaid/v2.avsc"
    ))
    .unwrap();
    assert_eq!(
        order_events::OrderPaid::FINGERPRINT,
        evc_schema::Schema::parse(&text).unwrap().fingerprint()
    );
    assert_ne!(v1::OrderPaid::FINGERPRINT, v2::OrderPaid::FINGERPRINT);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A v1 writer's bytes read by a v2 reader: common fields equal, new fields at their defaults.
    #[test]
    fn order_created_v1_bytes_read_as_v2(old in arb::<v1::OrderCreated>()) {
        let bytes = old.to_avro_datum().unwrap();
        let new = v2::OrderCreated::from_avro_datum(&bytes, v1::OrderCreated::schema()).unwrap();
        prop_assert_eq!(new.event_id, old.event_id);
        prop_assert_eq!(new.order_id, old.order_id);
        prop_assert_eq!(new.occurred_at, old.occurred_at);
        prop_assert_eq!(&new.customer_id, &old.customer_id);
        prop_assert_eq!(&new.currency, &old.currency);
        prop_assert_eq!(new.channel, order_events::order_created::v2::SalesChannel::Unknown);
        prop_assert_eq!(&new.shipping_address, &None);
        prop_assert_eq!(new.partition_key(), old.partition_key());
    }

    /// A v2 writer's bytes read by a v1 reader (FULL: old consumers keep working).
    #[test]
    fn order_created_v2_bytes_read_as_v1(new in arb::<v2::OrderCreated>()) {
        let bytes = new.to_avro_datum().unwrap();
        let old = v1::OrderCreated::from_avro_datum(&bytes, v2::OrderCreated::schema()).unwrap();
        prop_assert_eq!(old.event_id, new.event_id);
        prop_assert_eq!(&old.customer_id, &new.customer_id);
    }

    #[test]
    fn order_paid_evolves_both_ways(old in arb::<v1::OrderPaid>(), new in arb::<v2::OrderPaid>()) {
        let up = v2::OrderPaid::from_avro_datum(&old.to_avro_datum().unwrap(), v1::OrderPaid::schema()).unwrap();
        prop_assert_eq!(up.amount.amount_minor, old.amount.amount_minor);
        prop_assert_eq!(&up.payment_reference, &None);
        prop_assert_eq!(&up.tax_rate, &None);
        let down = v1::OrderPaid::from_avro_datum(&new.to_avro_datum().unwrap(), v2::OrderPaid::schema()).unwrap();
        prop_assert_eq!(down.order_id, new.order_id);
        prop_assert_eq!(down.method.as_str(), new.method.as_str());
    }

    /// The topic enum: encode any event, decode by its full name.
    #[test]
    fn topic_enum_round_trip(e in prop_oneof![
        arb::<order_events::OrderCreated>().prop_map(OrderEvent::from),
        arb::<order_events::ItemAdded>().prop_map(OrderEvent::from),
        arb::<order_events::OrderPaid>().prop_map(OrderEvent::from),
        arb::<order_events::OrderShipped>().prop_map(OrderEvent::from),
        arb::<order_events::OrderPlaced>().prop_map(OrderEvent::from),
        arb::<order_events::OrderCancelled>().prop_map(OrderEvent::from),
    ]) {
        let name = e.full_name();
        let bytes = apache_avro::to_avro_datum(e.schema(), e.to_avro_value().unwrap()).unwrap();
        let reader = OrderEvent::reader_schema(name).unwrap();
        let value = evc_avro::decode_value(&bytes, e.schema(), Some(reader)).unwrap();
        let back = OrderEvent::from_avro_value(name, value).unwrap();
        prop_assert_eq!(back.partition_key(), e.partition_key());
        prop_assert_eq!(back.event_id(), e.event_id());
        prop_assert_eq!(back, e);
    }
}

#[test]
fn unknown_event_type_is_a_typed_error() {
    let e = OrderEvent::from_avro_value("com.acme.orders.OrderRefunded", Value::Null).unwrap_err();
    assert!(
        matches!(e, evc_avro::DecodeError::UnknownEvent(ref n) if n == "com.acme.orders.OrderRefunded")
    );
    assert!(OrderEvent::reader_schema("nope").is_none());
}
