//! Schema resolution on bytes (`evc_avro::resolve`) against apache-avro's resolving decoder:
//! the same reader values from the same writer bytes, for evolutions the specification allows.

use evc_avro::resolve::{decode_resolved, with_resolved, Resolver};
use evc_avro::{AvroSchema, AvroValue};
use evc_schema::Schema;
use evc_tests::{arb, corpus};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn parse(text: &str) -> Schema {
    Schema::parse(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Random writer data: our transcoding then a plain read with the reader schema must equal
/// apache-avro's resolving read.
fn agrees(writer: &str, reader: &str) {
    let (w, r) = (parse(writer), parse(reader));
    let (aw, ar) = (
        evc_avro::load_model(&w).unwrap(),
        evc_avro::load_model(&r).unwrap(),
    );
    let resolver = Resolver::new(&w, &r).unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&arb::value(&w), |v| {
            let bytes = apache_avro::to_avro_datum(&aw, v).unwrap();
            let theirs = apache_avro::from_avro_datum(&aw, &mut &bytes[..], Some(&ar));
            let mut out = Vec::new();
            // bytes → string of non-UTF-8 data: the transcoding succeeds and the read fails,
            // where apache-avro fails in its resolving read; both are errors
            let ours = resolver
                .transcode(&mut &bytes[..], &mut out)
                .map_err(|e| e.to_string())
                .and_then(|_| {
                    apache_avro::from_avro_datum(&ar, &mut &out[..], None)
                        .map_err(|e| e.to_string())
                });
            match (theirs, ours) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                (a, b) => prop_assert!(false, "apache-avro: {a:?}\nevc: {b:?}"),
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{writer}\n  →\n{reader}\n{e}"));
}

fn rec(fields: &str) -> String {
    format!(r#"{{"type":"record","name":"R","namespace":"t","fields":[{fields}]}}"#)
}

#[test]
fn added_fields_take_their_defaults() {
    let w = rec(r#"{"name":"a","type":"int"}"#);
    for added in [
        r#"{"name":"b","type":"string","default":"x"}"#,
        r#"{"name":"b","type":["null","long"],"default":null}"#,
        r#"{"name":"b","type":["long","null"],"default":7}"#,
        r#"{"name":"b","type":{"type":"array","items":"int"},"default":[1,2]}"#,
        r#"{"name":"b","type":{"type":"map","values":"double"},"default":{"k":1.5}}"#,
        r#"{"name":"b","type":{"type":"enum","name":"E","symbols":["X","Y"]},"default":"Y"}"#,
        r#"{"name":"b","type":{"type":"record","name":"S","fields":[{"name":"c","type":"boolean"},{"name":"d","type":"bytes","default":"A"}]},"default":{"c":true}}"#,
        r#"{"name":"b","type":{"type":"fixed","name":"F","size":2},"default":"ab"}"#,
    ] {
        agrees(&w, &rec(&format!(r#"{{"name":"a","type":"int"}},{added}"#)));
        // and in front of the existing field
        agrees(&w, &rec(&format!(r#"{added},{{"name":"a","type":"int"}}"#)));
    }
}

#[test]
fn removed_fields_are_skipped() {
    let w = rec(
        r#"{"name":"a","type":"int"},{"name":"gone","type":{"type":"array","items":{"type":"map","values":["null","string",{"type":"record","name":"G","fields":[{"name":"x","type":"double"}]}]}}},{"name":"b","type":"string"},{"name":"f","type":{"type":"fixed","name":"F","size":3}}"#,
    );
    agrees(
        &w,
        &rec(r#"{"name":"b","type":"string"},{"name":"a","type":"int"}"#),
    );
}

#[test]
fn promotions() {
    for (from, to) in [
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    ] {
        agrees(
            &rec(&format!(r#"{{"name":"a","type":"{from}"}}"#)),
            &rec(&format!(r#"{{"name":"a","type":"{to}"}}"#)),
        );
        // inside containers and unions too
        agrees(
            &rec(&format!(
                r#"{{"name":"a","type":{{"type":"array","items":"{from}"}}}},{{"name":"m","type":{{"type":"map","values":["null","{from}"]}}}}"#
            )),
            &rec(&format!(
                r#"{{"name":"a","type":{{"type":"array","items":"{to}"}}}},{{"name":"m","type":{{"type":"map","values":["null","{to}"]}}}}"#
            )),
        );
    }
}

#[test]
fn enums_unions_and_nesting() {
    // the reader knows more symbols, in another order
    agrees(
        &rec(r#"{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}"#),
        &rec(r#"{"name":"e","type":{"type":"enum","name":"E","symbols":["C","B","A"]}}"#),
    );
    // the reader's union is wider; a plain writer value goes into a reader union
    agrees(
        &rec(r#"{"name":"u","type":["null","int"]}"#),
        &rec(r#"{"name":"u","type":["string","null","long"]}"#),
    );
    agrees(
        &rec(r#"{"name":"u","type":"string"}"#),
        &rec(r#"{"name":"u","type":["null","string"]}"#),
    );
    // a writer union read as a plain value (only when that branch is written)
    agrees(
        &rec(r#"{"name":"u","type":["int"]}"#),
        &rec(r#"{"name":"u","type":"long"}"#),
    );
    // nested records evolve too, and recursion terminates
    agrees(
        &rec(
            r#"{"name":"n","type":{"type":"record","name":"N","fields":[{"name":"x","type":"int"},{"name":"next","type":["null","N"]}]}}"#,
        ),
        &rec(
            r#"{"name":"n","type":{"type":"record","name":"N","fields":[{"name":"next","type":["null","N"]},{"name":"x","type":"long"},{"name":"y","type":"string","default":""}]}}"#,
        ),
    );
}

#[test]
fn bytes_defaults_are_latin1_code_points() {
    // The specification encodes a bytes default as a string of code points 0-255 (Avro Java
    // reads it as ISO-8859-1); apache-avro 0.21 takes the UTF-8 bytes of the string instead.
    let w = parse(&rec(r#"{"name":"a","type":"int"}"#));
    let r = parse(&rec(
        r#"{"name":"a","type":"int"},{"name":"d","type":"bytes","default":"\u00ffA"}"#,
    ));
    let mut out = Vec::new();
    Resolver::new(&w, &r)
        .unwrap()
        .transcode(&mut &[0x02u8][..], &mut out)
        .unwrap();
    assert_eq!(out, [0x02, 0x04, 0xff, b'A']);
}

#[test]
fn a_reader_alias_renames_a_field() {
    // apache-avro 0.21 ignores reader field aliases (the specification does not): check the value
    let w = parse(&rec(r#"{"name":"old","type":"int"}"#));
    let r = parse(&rec(r#"{"name":"new","type":"long","aliases":["old"]}"#));
    let mut out = Vec::new();
    Resolver::new(&w, &r)
        .unwrap()
        .transcode(&mut &[0x54u8][..], &mut out)
        .unwrap();
    assert_eq!(out, [0x54]);
}

#[test]
fn what_cannot_resolve_says_so() {
    let e = Resolver::new(
        &parse(&rec(r#"{"name":"a","type":"int"}"#)),
        &parse(&rec(r#"{"name":"b","type":"int"}"#)),
    )
    .unwrap_err();
    assert_eq!(
        e,
        evc_avro::resolve::ResolveError::MissingField {
            field: "b".into(),
            record: "t.R".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "reader field `b` of `t.R` has no default and the writer does not write it"
    );
    let e = Resolver::new(&parse(r#""string""#), &parse(r#""int""#)).unwrap_err();
    assert!(
        e.to_string().contains("cannot read the writer's string"),
        "{e}"
    );
    // an enum symbol the reader lacks, without a reader default, fails only when it is written
    let w = parse(r#"{"type":"enum","name":"E","symbols":["A","B"]}"#);
    let r = parse(r#"{"type":"enum","name":"E","symbols":["A"]}"#);
    let res = Resolver::new(&w, &r).unwrap();
    res.transcode(&mut &[0u8][..], &mut Vec::new()).unwrap();
    let e = res.transcode(&mut &[2u8][..], &mut Vec::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "<root>: enum symbol `B` is unknown to the reader, which has no default symbol"
    );
    // truncated data is an error, not a panic
    let res = Resolver::new(
        &parse(&rec(r#"{"name":"a","type":"string"}"#)),
        &parse(&rec(r#"{"name":"a","type":"string"}"#)),
    )
    .unwrap();
    assert!(res
        .transcode(&mut &[0x10u8, b'a'][..], &mut Vec::new())
        .is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Writer = reader: the transcoded bytes are the input bytes.
    #[test]
    fn identity_is_a_copy(v in arb::value(&Schema::parse(corpus::logical::Logical::SCHEMA_JSON).unwrap())) {
        let s = Schema::parse(corpus::logical::Logical::SCHEMA_JSON).unwrap();
        let bytes = apache_avro::to_avro_datum(corpus::logical::Logical::schema(), v).unwrap();
        let mut out = Vec::new();
        Resolver::new(&s, &s).unwrap().transcode(&mut &bytes[..], &mut out).unwrap();
        prop_assert_eq!(out, bytes);
    }

    /// Order events: v1 data read as v2 (and back) through the resolver and the generated
    /// decoder equals apache-avro's resolving path.
    #[test]
    fn order_events_between_versions(v in arb::value(&Schema::parse(order_events::v1::OrderCreated::SCHEMA_JSON).unwrap())) {
        let v1 = Schema::parse(order_events::v1::OrderCreated::SCHEMA_JSON).unwrap();
        let v2 = Schema::parse(order_events::v2::OrderCreated::SCHEMA_JSON).unwrap();
        let old = order_events::v1::OrderCreated::from_avro_value(v).unwrap();
        let bytes = old.to_avro_datum().unwrap();
        let fast: order_events::v2::OrderCreated = decode_resolved(&Resolver::new(&v1, &v2).unwrap(), &bytes).unwrap();
        let slow = order_events::v2::OrderCreated::from_avro_datum(&bytes, order_events::v1::OrderCreated::schema()).unwrap();
        prop_assert_eq!(&fast, &slow);
        let back: order_events::v1::OrderCreated = decode_resolved(&Resolver::new(&v2, &v1).unwrap(), &fast.to_avro_datum().unwrap()).unwrap();
        prop_assert_eq!(back, old);
    }

    /// v1 → v2 adds defaulted fields and v2 → v1 drops a tail: both are read in place (the
    /// reader's decoder on the writer's bytes, the defaults beside them). On any input, valid,
    /// cut short or followed by junk, that agrees with rewriting the datum first: the same
    /// value, or both refuse.
    #[test]
    fn reading_in_place_agrees_with_rewriting(
        v in arb::value(&Schema::parse(order_events::v2::OrderCreated::SCHEMA_JSON).unwrap()),
        junk in proptest::collection::vec(any::<u8>(), 1..6),
        cut in 0usize..300,
    ) {
        use order_events::{v1, v2};
        let (s1, s2) = (Schema::parse(v1::OrderCreated::SCHEMA_JSON).unwrap(), Schema::parse(v2::OrderCreated::SCHEMA_JSON).unwrap());
        let (up, down) = (Resolver::new(&s1, &s2).unwrap(), Resolver::new(&s2, &s1).unwrap());
        prop_assert!(up.reads_in_place() && down.reads_in_place());
        let new = v2::OrderCreated::from_avro_value(v).unwrap();
        let old = v1::OrderCreated {
            event_id: new.event_id,
            order_id: new.order_id,
            occurred_at: new.occurred_at,
            customer_id: new.customer_id.clone(),
            currency: new.currency.clone(),
        };
        for (resolver, datum, up) in [(&up, old.to_avro_datum().unwrap(), true), (&down, new.to_avro_datum().unwrap(), false)] {
            let mut with_junk = datum.clone();
            with_junk.extend_from_slice(&junk);
            let short = &datum[..cut.min(datum.len().saturating_sub(1))];
            for input in [&datum[..], &with_junk[..], short] {
                if up {
                    let in_place = decode_resolved::<v2::OrderCreated>(resolver, input).map_err(|e| e.to_string());
                    let rewritten = with_resolved(resolver, input, evc_avro::binary::from_slice::<v2::OrderCreated>).map_err(|e| e.to_string());
                    prop_assert_eq!(in_place.is_ok(), rewritten.is_ok(), "{:?} / {:?}", in_place, rewritten);
                    if let (Ok(a), Ok(b)) = (in_place, rewritten) { prop_assert_eq!(a, b); }
                } else {
                    let in_place = decode_resolved::<v1::OrderCreated>(resolver, input).map_err(|e| e.to_string());
                    let rewritten = with_resolved(resolver, input, evc_avro::binary::from_slice::<v1::OrderCreated>).map_err(|e| e.to_string());
                    prop_assert_eq!(in_place.is_ok(), rewritten.is_ok(), "{:?} / {:?}", in_place, rewritten);
                    if let (Ok(a), Ok(b)) = (in_place, rewritten) { prop_assert_eq!(a, b); }
                }
            }
            // a valid datum decodes
            if up {
                prop_assert!(decode_resolved::<v2::OrderCreated>(resolver, &datum).is_ok());
            } else {
                prop_assert_eq!(decode_resolved::<v1::OrderCreated>(resolver, &datum).unwrap(), old.clone());
            }
        }
    }
}
