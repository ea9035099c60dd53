//! Schemas Avro accepts that apache-avro 0.21 cannot take as written: evc lowers them so that
//! the apache-avro path (`load_schema`, `decode_value`) works, or refuses with a typed error
//! instead of letting apache-avro panic.

use evc_avro::apache_avro::types::Value;
use evc_avro::{decode_value, load_schema, SchemaLoadError};
use evc_schema::ApacheAvroLimit;

#[test]
fn a_named_decimal_fixed_referenced_by_name_decodes() {
    let schema = load_schema(
        r#"{"type":"record","name":"R","fields":[
            {"name":"a","type":{"type":"fixed","name":"D","namespace":"m","size":8,"logicalType":"decimal","precision":10,"scale":2}},
            {"name":"b","type":"m.D"},
            {"name":"c","type":["null","m.D"]}]}"#,
    )
    .unwrap();
    let bytes = [
        0u8, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 3,
    ];
    let v = decode_value(&bytes, &schema, Some(&schema)).unwrap();
    let Value::Record(fields) = v else {
        panic!("a record")
    };
    assert_eq!(fields.len(), 3);
    assert_eq!(
        evc_avro::conv::decimal_from(fields[1].1.clone(), 2)
            .unwrap()
            .to_string(),
        "0.02"
    );
    let back = evc_avro::apache_avro::to_avro_datum(&schema, Value::Record(fields)).unwrap();
    assert_eq!(back, bytes);
}

#[test]
fn a_named_duration_referenced_by_name_decodes() {
    let schema = load_schema(
        r#"{"type":"record","name":"R","fields":[
            {"name":"a","type":{"type":"fixed","name":"P","size":12,"logicalType":"duration"}},
            {"name":"b","type":"P"}]}"#,
    )
    .unwrap();
    let bytes: Vec<u8> = (0..24).collect();
    assert!(decode_value(&bytes, &schema, None).is_ok());
}

#[test]
fn aliases_of_any_text_do_not_reach_apache_avro() {
    // apache-avro panics on `legacy record`; Avro accepts any string as an alias
    let schema = load_schema(
        r#"{"type":"record","name":"R","aliases":["legacy record","ok.Name"],
            "fields":[{"name":"a","type":"int","aliases":["a b","ä"]}]}"#,
    )
    .unwrap();
    assert_eq!(
        decode_value(&[4], &schema, None).unwrap(),
        Value::Record(vec![("a".into(), Value::Int(2))])
    );
}

#[test]
fn nan_and_infinity_defaults_load_and_resolve() {
    let writer = load_schema(r#"{"type":"record","name":"R","fields":[]}"#).unwrap();
    let reader = load_schema(
        r#"{"type":"record","name":"R","fields":[
            {"name":"a","type":"double","default":"NaN"},
            {"name":"b","type":"float","default":"-Infinity"},
            {"name":"c","type":"double","default":"Infinity"}]}"#,
    )
    .unwrap();
    let v = decode_value(&[], &writer, Some(&reader)).unwrap();
    let Value::Record(f) = v else {
        panic!("a record")
    };
    assert!(matches!(f[0].1, Value::Double(x) if x.is_nan()));
    assert_eq!(f[1].1, Value::Float(f32::NEG_INFINITY));
    assert_eq!(f[2].1, Value::Double(f64::INFINITY));
}

#[test]
fn non_ascii_names_are_a_typed_error_not_a_panic() {
    for (text, name) in [
        (r#"{"type":"record","name":"Ré","fields":[]}"#, "Ré"),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"é","type":"int"}]}"#,
            "é",
        ),
        (r#"{"type":"enum","name":"E","symbols":["Ω"]}"#, "Ω"),
    ] {
        match load_schema(text) {
            Err(SchemaLoadError::ApacheAvro(ApacheAvroLimit::NonAsciiName(n))) => {
                assert_eq!(n, name)
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn a_null_namespace_type_next_to_a_namesake_is_a_typed_error_not_a_panic() {
    // apache-avro would move `X` into `n` and then panic on "two schemas named n.X"
    let text = r#"{"type":"record","name":"X","namespace":"n","fields":[
        {"name":"a","type":{"type":"record","name":"X","namespace":"","fields":[]}}]}"#;
    match load_schema(text) {
        Err(SchemaLoadError::ApacheAvro(ApacheAvroLimit::NullNamespaceClash(n))) => {
            assert_eq!(n, "X")
        }
        other => panic!("{other:?}"),
    }
}
