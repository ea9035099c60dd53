//! Generated types for the schemas issue #14 was about: defaults at the edges, insertion-ordered
//! maps, a named decimal `fixed` referred to by name on the apache-avro path, and defaults that
//! no Rust value can hold.

use evc_avro::resolve::{decode_resolved, Resolver};
use evc_avro::{binary, AvroSchema};
use evc_tests::corpus;

#[test]
fn nan_infinity_and_extreme_defaults() {
    let d = corpus::defaults_special::SpecialDefaults::default();
    assert!(d.nan_d.is_nan() && d.nan_f.is_nan());
    assert_eq!((d.inf_d, d.neg_inf_d), (f64::INFINITY, f64::NEG_INFINITY));
    assert_eq!((d.inf_f, d.neg_inf_f), (f32::INFINITY, f32::NEG_INFINITY));
    assert_eq!((d.huge_d, d.tiny_d), (f64::MAX, 5e-324));
    assert!(d.neg_zero == 0.0 && d.neg_zero.is_sign_negative());
    assert_eq!((d.big_f, d.int_f, d.exp_d), (f32::MAX, 16_777_216.0, 100.0));
    // 1e400 and -1e39 are beyond f64 and f32: infinite, as Avro Java reads them
    assert_eq!(
        (d.overflow_d, d.overflow_f),
        (f64::INFINITY, f32::NEG_INFINITY)
    );
    assert_eq!((d.min_int, d.max_int), (i32::MIN, i32::MAX));
    assert_eq!((d.min_long, d.max_long), (i64::MIN, i64::MAX));
    assert!(d.opt_nan.is_some_and(f64::is_nan));
    assert_eq!(d.list_inf, [f32::INFINITY, 1.0, f32::NEG_INFINITY]);
}

#[test]
fn resolution_fills_nan_and_infinity_defaults() {
    use corpus::defaults_special::SpecialDefaults;
    let writer = evc_schema::Schema::parse(
        r#"{"type":"record","name":"SpecialDefaults","namespace":"corpus.defaults","fields":[]}"#,
    )
    .unwrap();
    let reader = evc_schema::Schema::parse(SpecialDefaults::SCHEMA_JSON).unwrap();
    let resolver = Resolver::new(&writer, &reader).unwrap();
    let d: SpecialDefaults = decode_resolved(&resolver, &[]).unwrap();
    assert!(d.nan_d.is_nan() && d.nan_f.is_nan());
    assert_eq!((d.neg_inf_d, d.inf_f), (f64::NEG_INFINITY, f32::INFINITY));
    assert_eq!(d.list_inf, [f32::INFINITY, 1.0, f32::NEG_INFINITY]);
}

#[test]
fn a_default_chrono_cannot_hold_is_a_decode_error_naming_the_field() {
    // the schema generates (without a Default impl); resolving old data into it reports the
    // default that has no Rust value instead of panicking
    use corpus::defaults_out_of_range::OutOfRange;
    let writer = evc_schema::Schema::parse(
        r#"{"type":"record","name":"OutOfRange","namespace":"corpus.defaults","fields":[]}"#,
    )
    .unwrap();
    let reader = evc_schema::Schema::parse(OutOfRange::SCHEMA_JSON).unwrap();
    let resolver = Resolver::new(&writer, &reader).unwrap();
    let e = decode_resolved::<OutOfRange>(&resolver, &[]).unwrap_err();
    assert!(e.to_string().starts_with("farDate"), "{e}");
}

#[test]
fn maps_keep_their_entry_order_so_decode_then_encode_gives_the_same_bytes() {
    use corpus::in_null::InNull;
    // plain, nested: nothing; single: branch 0; array: empty; map: {c, a, b}; map_of_array: {}
    let bytes = [
        0x00, 0x00, 0x06, 0x02, b'c', 0x02, b'a', 0x02, b'b', 0x00, 0x00,
    ];
    let v: InNull = binary::from_slice(&bytes).unwrap();
    assert_eq!(v.map.keys().collect::<Vec<_>>(), ["c", "a", "b"]);
    assert_eq!(binary::to_vec(&v).unwrap(), bytes);
    // equality is a map's: the order does not matter
    let mut sorted = v.clone();
    sorted.map.sort_keys();
    assert_eq!(sorted, v);
    assert_ne!(binary::to_vec(&sorted).unwrap(), bytes);
}

#[test]
fn a_named_decimal_fixed_used_by_name_works_through_apache_avro() {
    use corpus::default_fixed_decimal::DefaultFixedDecimal;
    let d = DefaultFixedDecimal::default();
    assert_eq!(d.value.to_string(), "12.3456");
    assert_eq!(d.dict.keys().collect::<Vec<_>>(), ["b", "a"]);
    let bytes = evc_avro::encode(&d).unwrap();
    let back: DefaultFixedDecimal = evc_avro::decode(&bytes).unwrap();
    assert_eq!(back, d);
    assert_eq!(binary::to_vec(&d).unwrap().len(), bytes.len());
    let fast: DefaultFixedDecimal = binary::from_slice(&bytes).unwrap();
    assert_eq!(fast, d);
}
