//! `evc tail`'s JSON form of an Avro value reads back into the same value (`evc produce` relies
//! on it): avro → JSON → avro gives the same typed value for every corpus type.

use evc_avro::{AvroSchema, AvroValue};
use evc_tests::{arb, corpus};
use proptest::prelude::*;

fn roundtrip<T: AvroSchema + AvroValue + PartialEq + std::fmt::Debug>(
    v: apache_avro::types::Value,
) -> Result<(), TestCaseError> {
    let schema = evc_schema::Schema::parse(T::SCHEMA_JSON).unwrap();
    let bytes = apache_avro::to_avro_datum(T::schema(), v).unwrap();
    let decoded = evc_avro::decode_value(&bytes, T::schema(), None).unwrap();
    let json = evc_wire::avro_to_json(&decoded, &schema);
    let back = evc_wire::json_to_avro(&json, &schema)
        .map_err(|e| TestCaseError::fail(format!("{e}\n{json}")))?;
    let again = apache_avro::to_avro_datum(T::schema(), back)
        .map_err(|e| TestCaseError::fail(format!("{e}")))?;
    let a: T = evc_avro::decode(&bytes).unwrap();
    let b: T = evc_avro::decode(&again).unwrap();
    prop_assert_eq!(a, b);
    Ok(())
}

macro_rules! json_roundtrip {
    ($($test:ident => $ty:ty),* $(,)?) => {$(
        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]
            #[test]
            fn $test(v in arb::value(&evc_schema::Schema::parse(<$ty as AvroSchema>::SCHEMA_JSON).unwrap())) {
                roundtrip::<$ty>(v)?;
            }
        }
    )*};
}

json_roundtrip! {
    primitives => corpus::primitives::Primitives,
    unions => corpus::unions::Unions,
    logical => corpus::logical::Logical,
    namespaces => corpus::namespaces::Holder,
    collections => corpus::collections::Collections,
    recursive => corpus::recursive::Recursive,
    fixed => corpus::fixed::Fixeds,
    order_paid => order_events::OrderPaid,
}

#[test]
fn bad_json_says_where() {
    let schema = evc_schema::Schema::parse(order_events::OrderPaid::SCHEMA_JSON).unwrap();
    let e = evc_wire::json_to_avro(&serde_json::json!({"event_id": "x"}), &schema).unwrap_err();
    assert!(
        matches!(&e, evc_wire::JsonToAvroError::Mismatch { at, expected, .. }
            if at == ".event_id" && expected == "a uuid"),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "`event_id` should be a uuid, found \"x\"");
    let mut good = serde_json::json!({
        "event_id": "00000000-0000-0000-0000-000000000001", "order_id": "00000000-0000-0000-0000-000000000002",
        "occurred_at": 1, "amount": {"amount_minor": 5, "currency": "EUR"}, "method": "CARD",
        "payment_reference": null, "tax_rate": "0.2"
    });
    evc_wire::json_to_avro(&good, &schema).unwrap();
    good["method"] = serde_json::json!("CASH");
    let e = evc_wire::json_to_avro(&good, &schema)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "`method` should be a symbol of `com.acme.orders.PaymentMethod`, found \"CASH\""
    );
    good["method"] = serde_json::json!("CARD");
    good["tax_rate"] = serde_json::json!("0.12345");
    let e = evc_wire::json_to_avro(&good, &schema).unwrap_err();
    assert!(
        matches!(&e, evc_wire::JsonToAvroError::NoBranch { branches, .. } if branches.len() == 2),
        "{e:?}"
    );
    let e = e.to_string();
    assert!(
        e.starts_with("`tax_rate` fits no branch of union[null, bytes]"),
        "{e}"
    );
}
