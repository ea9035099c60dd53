//! Arbitrary input never panics the JSON reader or the schema parser: it is either a schema or
//! an error with a position inside the text.

use evc_schema::Schema;
use proptest::prelude::*;

fn check(text: &str) -> Result<(), TestCaseError> {
    match Schema::parse(text) {
        Ok(s) => {
            // whatever parses also writes out and parses back to the same canonical form
            let again = Schema::parse(&serde_json::to_string(&s.to_json()).unwrap()).unwrap();
            prop_assert_eq!(again.canonical_form(), s.canonical_form());
        }
        Err(e) => prop_assert!(
            e.span.start <= text.len() && e.span.end <= text.len(),
            "{e:?}"
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(text in ".{0,200}") {
        check(&text)?;
    }

    /// Text made of JSON and schema tokens reaches much deeper into the parser than random text.
    #[test]
    fn schema_like_text(parts in prop::collection::vec(prop_oneof![
        Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just(":"), Just("\"type\""), Just("\"record\""),
        Just("\"name\""), Just("\"R\""), Just("\"fields\""), Just("\"int\""), Just("\"null\""), Just("\"enum\""),
        Just("\"symbols\""), Just("\"A\""), Just("\"default\""), Just("1"), Just("-0.5e3"), Just("null"),
        Just("\"fixed\""), Just("\"size\""), Just("\"array\""), Just("\"items\""), Just("\"logicalType\""),
        Just("\"decimal\""), Just("\"precision\""), Just("\"\\u00e9\""), Just(" "),
    ], 0..60)) {
        check(&parts.concat())?;
    }
}

/// Found by `cargo xtask fuzz` (schema_canonical): an `int` default written `-0` was read as
/// the double -0.0 and written back by `to_json` as `-0.0`, which the parser then refused.
#[test]
fn negative_zero_integer_default_round_trips() {
    let text = r#"{"type":"record","name":"R","fields":[
        {"name":"i","type":"int","default":-0},
        {"name":"l","type":"long","default":-0},
        {"name":"d","type":"double","default":-0.0}]}"#;
    let s = Schema::parse(text).unwrap();
    let written = serde_json::to_string(&s.to_json()).unwrap();
    assert!(written.contains(r#""default":0}"#), "{written}");
    assert!(written.contains(r#""default":-0.0}"#), "{written}");
    let again = Schema::parse(&written).unwrap();
    assert_eq!(again.canonical_form(), s.canonical_form());
}

/// Found by `cargo xtask fuzz` (schema_canonical): a type named `.X` kept the dot in its full
/// name (and canonical form) but `to_json` wrote `X`, so the schema changed on the way
/// through. As in Avro Java, a leading dot is the null namespace: the full name is `X`.
#[test]
fn a_leading_dot_is_the_null_namespace() {
    let text = r#"{"type":"record","name":"R","namespace":"ns","fields":[
        {"name":"f","type":{"type":"fixed","name":".ait","size":2}},
        {"name":"g","type":"ait"}]}"#;
    let s = Schema::parse(text).unwrap();
    assert!(
        s.canonical_form()
            .contains(r#"{"name":"ait","type":"fixed","size":2}"#),
        "{}",
        s.canonical_form()
    );
    let again = Schema::parse(&serde_json::to_string(&s.to_json()).unwrap()).unwrap();
    assert_eq!(again.canonical_form(), s.canonical_form());
}
