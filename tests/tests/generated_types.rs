//! Behaviour of specific generated types: defaults, enum defaults, keywords, namespaces, errors.

use apache_avro::types::Value;
use evc_avro::{AvroSchema, AvroValue};
use evc_tests::corpus;

#[test]
fn record_default_uses_every_schema_default() {
    use corpus::defaults::*;
    let d = Defaults::default();
    assert!(d.b);
    assert_eq!((d.i, d.l, d.f, d.d), (-7, 9_007_199_254_740_993, 1.5, 2.0));
    assert_eq!(d.by, vec![0xff, b'A']);
    assert_eq!(d.s, "hé \"quoted\"");
    assert_eq!(d.e, Color::Green);
    assert_eq!(d.fx, Two(*b"ab"));
    assert_eq!(d.arr, vec![1, 2, 3]);
    assert_eq!(d.m.get("a").map(String::as_str), Some("x"));
    assert_eq!((d.opt, d.opt2), (None, Some(5)));
    assert_eq!(d.multi, DefaultsMulti::String("first".into()));
    assert_eq!(
        d.rec,
        Sub {
            a: 1,
            b: "bee".into()
        }
    );
    assert_eq!(d.when.timestamp_millis(), 0);
    assert_eq!(d.day.to_string(), "2022-01-08");
    assert_eq!(d.id.to_string(), "123e4567-e89b-12d3-a456-426614174000");
    assert_eq!(d.price.to_string(), "2.56");
    // and the default value encodes
    evc_avro::encode(&d).unwrap();
}

#[test]
fn enum_reads_unknown_symbols_as_its_default() {
    use corpus::enums::Status;
    assert_eq!(Status::default(), Status::Unknown);
    assert_eq!(
        Status::from_avro_value(Value::Enum(7, "ARCHIVED".into())).unwrap(),
        Status::Unknown
    );
    assert_eq!(
        Status::from_avro_value(Value::Enum(2, "DONE".into())).unwrap(),
        Status::Done
    );
    assert_eq!(Status::Self_.as_str(), "Self");
    // without an enum default, an unknown symbol is an error naming the enum
    let e = corpus::enums::Suit::from_avro_value(Value::Enum(9, "JOKER".into())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "<root>: `JOKER` is not a symbol of enum `corpus.Suit`"
    );
}

#[test]
fn keyword_fields_keep_their_avro_names() {
    use corpus::keywords::Keywords;
    let k = Keywords {
        r#type: "t".into(),
        r#match: 1,
        self_: true,
        r#fn: 2,
        r#async: 3.0,
        crate_: "c".into(),
        camel_case: 4,
        http_status: 200,
    };
    let Value::Record(fields) = k.to_avro_value().unwrap() else {
        panic!()
    };
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "type",
            "match",
            "self",
            "fn",
            "async",
            "crate",
            "camelCase",
            "HTTPStatus"
        ]
    );
    assert_eq!(
        evc_avro::decode::<Keywords>(&evc_avro::encode(&k).unwrap()).unwrap(),
        k
    );
}

#[test]
fn same_name_in_two_namespaces_are_two_types() {
    use corpus::namespaces::{other, Holder, HolderEither, Id, Plain};
    let h = Holder {
        mine: Id { value: 1 },
        theirs: other::system::Id {
            value: "x".into(),
            back: Some(Id { value: 2 }),
        },
        nowhere: Plain { x: 3 },
        either: HolderEither::OtherSystemId(other::system::Id {
            value: "y".into(),
            back: None,
        }),
    };
    assert_eq!(
        evc_avro::decode::<Holder>(&evc_avro::encode(&h).unwrap()).unwrap(),
        h
    );
    assert_eq!(Holder::FULL_NAME, "corpus.ns.Holder");
}

#[test]
fn fingerprints_agree_with_apache_avro() {
    use apache_avro::rabin::Rabin;
    fn check<T: AvroSchema>() {
        let theirs = T::schema().fingerprint::<Rabin>();
        assert_eq!(
            T::FINGERPRINT.to_le_bytes().to_vec(),
            theirs.bytes,
            "{}",
            T::FULL_NAME
        );
    }
    check::<corpus::primitives::Primitives>();
    check::<corpus::recursive::Recursive>();
    check::<corpus::unions::Unions>();
    check::<corpus::namespaces::Holder>();
}

/// Logical types are not part of the Parsing Canonical Form (specification 1.12; Avro Java's
/// `SchemaNormalization` strips them). apache-avro 0.21 keeps some of them (and writes
/// `duration` as a nested type), so its fingerprints of such schemas differ from Java's; evc's
/// follow the specification.
#[test]
fn canonical_form_of_logical_types_follows_the_specification() {
    let pcf = evc_schema::Schema::parse(corpus::logical::Logical::SCHEMA_JSON)
        .unwrap()
        .canonical_form();
    assert_eq!(
        pcf,
        r#"{"name":"corpus.Logical","type":"record","fields":[{"name":"id","type":"string"},{"name":"id_fixed","type":{"name":"corpus.Uuid16","type":"fixed","size":16}},{"name":"day","type":"int"},{"name":"time_ms","type":"int"},{"name":"time_us","type":"long"},{"name":"ts_ms","type":"long"},{"name":"ts_us","type":"long"},{"name":"ts_ns","type":"long"},{"name":"local_ms","type":"long"},{"name":"local_us","type":"long"},{"name":"local_ns","type":"long"},{"name":"amount","type":"bytes"},{"name":"amount_fixed","type":{"name":"corpus.Amount8","type":"fixed","size":8}},{"name":"big","type":"bytes"},{"name":"wait","type":{"name":"corpus.Wait","type":"fixed","size":12}},{"name":"maybe_day","type":["null","int"]},{"name":"unknown_logical","type":"string"},{"name":"invalid_logical","type":"bytes"}]}"#
    );
    assert_eq!(
        corpus::logical::Logical::FINGERPRINT,
        evc_schema::rabin64(pcf.as_bytes())
    );
}

#[test]
fn decode_errors_name_the_field() {
    use corpus::logical::Logical;
    // a record of the wrong shape
    let e =
        Logical::from_avro_value(Value::Record(vec![("id".into(), Value::Int(3))])).unwrap_err();
    assert_eq!(e.to_string(), "id: expected uuid, found int");
    // bytes that are not this schema's data: truncated input is an error, not a panic
    let e = evc_avro::decode::<corpus::primitives::Primitives>(&[1, 2]).unwrap_err();
    assert!(
        e.to_string().starts_with("the Avro data could not be read"),
        "{e}"
    );
    // trailing bytes are refused rather than silently dropped
    let good = evc_avro::encode(&corpus::docs::Documented {
        a: 1,
        b: "x".into(),
    })
    .unwrap();
    let mut long = good.clone();
    long.push(0);
    let e = evc_avro::decode::<corpus::docs::Documented>(&long).unwrap_err();
    assert_eq!(
        e.to_string(),
        "<root>: 1 bytes left over after the datum: the bytes were not written with this schema"
    );
}

#[test]
fn encode_errors_refuse_to_lose_precision() {
    use corpus::logical::Logical;
    use evc_avro::bigdecimal::BigDecimal;
    use std::str::FromStr;
    let mut v = Logical::from_avro_value(sample_logical()).unwrap();
    v.amount = BigDecimal::from_str("1.2345").unwrap(); // scale 3 in the schema
    let e = evc_avro::encode(&v).unwrap_err();
    assert_eq!(
        e.to_string(),
        "amount: 1.2345 has more than 3 decimal places; round it explicitly before encoding"
    );
    v.amount = BigDecimal::from_str("1234567890.5").unwrap(); // precision 12, scale 3: 13 digits
    let e = evc_avro::encode(&v).unwrap_err();
    assert_eq!(
        e.to_string(),
        "amount: 1234567890.5 has more than 12 significant digits (decimal(12, 3))"
    );
}

fn sample_logical() -> Value {
    use proptest::strategy::{Strategy, ValueTree};
    let schema = evc_schema::Schema::parse(corpus::logical::Logical::SCHEMA_JSON).unwrap();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    evc_tests::arb::value(&schema)
        .new_tree(&mut runner)
        .unwrap()
        .current()
}
