//! The schema model against the Avro 1.12 specification: what parses, what does not (with the
//! exact message and position), canonical form and fingerprints.

use evc_schema::json::line_col;
use evc_schema::{Logical, NamedKind, Schema, TyKind};

fn err(text: &str) -> (String, String) {
    let e = Schema::parse(text).expect_err(text);
    (e.message.clone(), line_col(text, e.span.start).to_string())
}

#[test]
fn primitives_parse_in_both_forms() {
    for p in [
        "null", "boolean", "int", "long", "float", "double", "bytes", "string",
    ] {
        let a = Schema::parse(&format!("\"{p}\"")).unwrap();
        let b = Schema::parse(&format!("{{\"type\": \"{p}\"}}")).unwrap();
        assert_eq!(a.canonical_form(), format!("\"{p}\""));
        assert_eq!(b.canonical_form(), format!("\"{p}\""));
    }
}

#[test]
fn names_namespaces_and_references() {
    let s = Schema::parse(
        r#"{"type":"record","name":"R","namespace":"a.b","fields":[
            {"name":"x","type":{"type":"enum","name":"E","symbols":["A"]}},
            {"name":"y","type":"E"},
            {"name":"z","type":{"type":"fixed","name":"c.F","size":2}},
            {"name":"w","type":{"type":"record","name":"N","namespace":"","fields":[]}},
            {"name":"v","type":"c.F"}
        ]}"#,
    )
    .unwrap();
    let names: Vec<String> = s.named.iter().map(|n| n.name.fullname()).collect();
    assert_eq!(names, ["a.b.R", "a.b.E", "c.F", "N"]);
    assert_eq!(
        s.canonical_form(),
        r#"{"name":"a.b.R","type":"record","fields":[{"name":"x","type":{"name":"a.b.E","type":"enum","symbols":["A"]}},{"name":"y","type":"a.b.E"},{"name":"z","type":{"name":"c.F","type":"fixed","size":2}},{"name":"w","type":{"name":"N","type":"record","fields":[]}},{"name":"v","type":"c.F"}]}"#
    );
}

#[test]
fn pointers_and_spans_locate_every_type() {
    let text = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[\n  {\"name\":\"a\",\"type\":\"int\"},\n  {\"name\":\"b\",\"type\":[\"null\",{\"type\":\"array\",\"items\":\"long\"}]}\n]}";
    let s = Schema::parse(text).unwrap();
    let b = &s.root_named().unwrap().fields()[1];
    assert_eq!(b.pointer, "/fields/1");
    assert_eq!(b.ty.pointer, "/fields/1/type");
    let TyKind::Union(branches) = &b.ty.kind else {
        panic!()
    };
    assert_eq!(branches[1].pointer, "/fields/1/type/1");
    let TyKind::Array(items) = &branches[1].kind else {
        panic!()
    };
    assert_eq!(items.pointer, "/fields/1/type/1/items");
    assert_eq!(line_col(text, items.span.start).to_string(), "3:54");
}

#[test]
fn recursion_is_allowed_through_the_record_being_defined() {
    let s = Schema::parse(
        r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}"#,
    )
    .unwrap();
    assert_eq!(
        s.canonical_form(),
        r#"{"name":"L","type":"record","fields":[{"name":"next","type":["null","L"]}]}"#
    );
}

#[test]
fn logical_types_valid_and_ignored() {
    let s = Schema::parse(
        r#"{"type":"record","name":"R","fields":[
          {"name":"a","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}},
          {"name":"b","type":{"type":"fixed","name":"U","size":16,"logicalType":"uuid"}},
          {"name":"c","type":{"type":"fixed","name":"D","size":12,"logicalType":"duration"}},
          {"name":"d","type":{"type":"int","logicalType":"date"}},
          {"name":"e","type":{"type":"bytes","logicalType":"decimal","precision":2,"scale":3}},
          {"name":"f","type":{"type":"string","logicalType":"timestamp-millis"}},
          {"name":"g","type":{"type":"string","logicalType":"made-up"}},
          {"name":"h","type":{"type":"fixed","name":"Small","size":2,"logicalType":"decimal","precision":5}}
        ]}"#,
    )
    .unwrap();
    let f = s.root_named().unwrap().fields();
    assert_eq!(
        f[0].ty.logical,
        Some(Logical::Decimal {
            precision: 4,
            scale: 2
        })
    );
    assert!(matches!(
        s.named[1].kind,
        NamedKind::Fixed {
            logical: Some(Logical::Uuid),
            ..
        }
    ));
    assert!(matches!(
        s.named[2].kind,
        NamedKind::Fixed {
            logical: Some(Logical::Duration),
            ..
        }
    ));
    assert_eq!(f[3].ty.logical, Some(Logical::Date));
    // invalid or unknown logical types are ignored, as the specification requires, but remembered
    assert_eq!(f[4].ty.logical, None);
    assert_eq!(
        f[4].ty.ignored_logical.as_ref().unwrap().reason,
        "decimal scale 3 is greater than its precision 2"
    );
    assert_eq!(
        f[5].ty.ignored_logical.as_ref().unwrap().reason,
        "`timestamp-millis` applies to long only"
    );
    assert_eq!(
        f[6].ty.ignored_logical.as_ref().unwrap().reason,
        "unknown logical type `made-up`"
    );
    let NamedKind::Fixed {
        ignored_logical: Some(i),
        ..
    } = &s.named[3].kind
    else {
        panic!()
    };
    assert_eq!(
        i.reason,
        "fixed(2) cannot hold 5 decimal digits (at most 4)"
    );
}

#[test]
fn malformed_schemas_have_exact_messages_and_positions() {
    let cases: &[(&str, &str, &str)] = &[
        ("{\"type\": \"record\", \"name\": \"R\"}", "record `R` has no `fields`", "1:1"),
        ("\"nope\"", "unknown type `nope`; named types must be defined before they are used", "1:1"),
        ("{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\",\"fields\":[{\"name\":\"a\",\"type\":\"Later\"}]}", "unknown type `Later` (looked for `n.Later` and `Later`); named types must be defined before they are used", "1:74"),
        ("{\"type\":\"record\",\"name\":\"1R\",\"fields\":[]}", "invalid name `1R`: a name starts with a letter or `_` and holds only letters, digits and `_`", "1:25"),
        ("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}", "duplicate enum symbol `A`", "1:42"),
        ("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],\"default\":\"B\"}", "enum default `B` is not one of the symbols of `E`", "1:53"),
        ("{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}", "fixed `size` must be a non-negative integer", "1:35"),
        ("[\"int\", \"int\"]", "duplicate `int` in union: a union may hold each type only once", "1:9"),
        ("[\"int\", [\"long\"]]", "a union may not directly contain another union", "1:9"),
        ("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\",\"default\":\"x\"}]}", "invalid default for field `a` of type int: expected an integer, found a string", "1:74"),
        ("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"a\",\"type\":\"long\"}]}", "field `a` appears twice in `R`", "1:73"),
        ("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\",\"type\":\"long\"}]}", "duplicate key `type` in field", "1:64"),
        ("{\"type\":\"record\",\"name\":\"int\",\"fields\":[]}", "`int` is a primitive type and cannot be redefined", "1:25"),
        ("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"r\",\"type\":{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}}]}", "`R` is defined twice", "1:82"),
        ("{\"type\": \"array\"}", "array schema has no `items`", "1:1"),
        ("{\"type\": 5}", "`type` must be a string naming the type, found a number", "1:10"),
        ("42", "a schema must be a string, an object or an array (union), found a number", "1:1"),
        ("{\"type\": \"record\",", "invalid JSON: expected a string key in the object", "1:19"),
        ("\"record\"", "unknown type `record` (`record` is a complex type: write it as an object, {\"type\": \"record\", ...})", "1:1"),
        ("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":[\"null\",\"int\"],\"default\":\"x\"}]}", "invalid default for field `a` of type union[null, int]: no branch of the union accepts it (expected null, found a string)", "1:83"),
    ];
    for (text, message, at) in cases {
        let (m, p) = err(text);
        assert_eq!((m.as_str(), p.as_str()), (*message, *at), "for {text}");
    }
}

#[test]
fn json_nesting_limit_is_an_error() {
    let deep = format!("{}\"int\"{}", "[".repeat(200), "]".repeat(200));
    let (m, _) = err(&deep);
    assert_eq!(m, "invalid JSON: JSON nested deeper than 128 levels");
}

#[test]
fn union_default_may_match_any_branch() {
    // Avro Java (1.11+) accepts a default matching any branch of the union.
    Schema::parse(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":["null","int"],"default":3}]}"#,
    )
    .unwrap();
}

#[test]
fn canonical_form_strips_and_orders() {
    let s = Schema::parse(
        r#"{"fields":[{"doc":"d","default":1,"type":"int","name":"a","aliases":["b"]}],
            "doc":"x","aliases":["Q"],"name":"R","namespace":"n","type":"error"}"#,
    )
    .unwrap();
    assert_eq!(
        s.canonical_form(),
        r#"{"name":"n.R","type":"record","fields":[{"name":"a","type":"int"}]}"#
    );
}

/// Fingerprints from the Avro specification's test data are not in the spec itself, so compare
/// against apache-avro's independent Rabin implementation on a spread of schemas.
#[test]
fn fingerprints_match_apache_avro() {
    use apache_avro::rabin::Rabin;
    for text in [
        r#""int""#,
        r#"{"type":"record","name":"a.R","fields":[{"name":"x","type":{"type":"array","items":"string"}},{"name":"y","type":["null",{"type":"map","values":"long"}]}]}"#,
        r#"{"type":"enum","name":"E","namespace":"q","symbols":["A","B"]}"#,
        r#"{"type":"fixed","name":"F","size":16}"#,
        r#"{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}"#,
    ] {
        let ours = Schema::parse(text).unwrap().fingerprint();
        let theirs = apache_avro::Schema::parse_str(text)
            .unwrap()
            .fingerprint::<Rabin>();
        assert_eq!(ours.to_le_bytes().to_vec(), theirs.bytes, "{text}");
    }
    // The empty input's fingerprint is the algorithm's seed.
    assert_eq!(evc_schema::rabin64(b""), evc_schema::CRC64_AVRO_EMPTY);
}

#[test]
fn lowered_json_is_accepted_by_apache_avro() {
    let s = Schema::parse(
        r#"{"type":"error","name":"E","fields":[{"name":"id","type":{"type":"fixed","name":"U","size":16,"logicalType":"uuid"}},
           {"name":"p","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2},"default":"\u0001"}]}"#,
    )
    .unwrap();
    assert!(
        apache_avro::Schema::parse(&s.to_json()).is_err(),
        "apache-avro 0.21 rejects `error` as written"
    );
    let lowered = apache_avro::Schema::parse(&s.to_apache_avro_json()).unwrap();
    assert!(matches!(lowered, apache_avro::Schema::Record(_)));
    // the same reader-relevant content: the canonical forms agree
    let back = Schema::parse(&serde_json::to_string(&s.to_apache_avro_json()).unwrap()).unwrap();
    assert_eq!(back.canonical_form(), s.canonical_form());
}

#[test]
fn references_are_written_by_name_and_inlined_for_apache_avro() {
    let money = Schema::parse(r#"{"type":"record","name":"Money","namespace":"m","fields":[{"name":"cents","type":"long"}]}"#).unwrap();
    let opts = evc_schema::ParseOptions {
        references: vec![&money],
        ..Default::default()
    };
    let order = Schema::parse_with(
        r#"{"type":"record","name":"Order","fields":[{"name":"total","type":"m.Money"}]}"#,
        &opts,
    )
    .unwrap();
    assert_eq!(
        serde_json::to_string(&order.to_json()).unwrap(),
        r#"{"type":"record","name":"Order","fields":[{"name":"total","type":"m.Money"}]}"#
    );
    // it parses again with its references
    Schema::parse_with(&serde_json::to_string(&order.to_json()).unwrap(), &opts).unwrap();
    // inlined for apache-avro, and the canonical form includes the referenced type
    apache_avro::Schema::parse(&order.to_apache_avro_json()).unwrap();
    assert_eq!(
        order.canonical_form(),
        r#"{"name":"Order","type":"record","fields":[{"name":"total","type":{"name":"m.Money","type":"record","fields":[{"name":"cents","type":"long"}]}}]}"#
    );
}
