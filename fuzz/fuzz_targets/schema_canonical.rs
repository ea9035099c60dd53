//! The Avro schema parser and its writers: any text is a schema or a typed error, never a
//! panic; a schema's Parsing Canonical Form parses again to the same canonical form and
//! fingerprint (a fixed point); its full JSON (`to_json`) parses to a schema of the same
//! canonical form; and lowering to apache-avro never panics.
#![no_main]

use evc_schema::Schema;
use libfuzzer_sys::fuzz_target;

evc_fuzz::use_guard!();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(schema) = Schema::parse(text) else {
        return;
    };
    let canonical = schema.canonical_form();
    let again = Schema::parse(&canonical)
        .unwrap_or_else(|e| panic!("the canonical form {canonical} does not parse: {e}"));
    // Parsing Canonical Form writes full names, and a full name without a dot inside a
    // namespaced type reads as that namespace's: a type in the null namespace nested in a
    // namespaced one cannot come back from it (the specification's form, and Avro Java's, lose
    // it too). The fixed point holds for every other schema.
    let namespaces: std::collections::BTreeSet<bool> = schema
        .named
        .iter()
        .map(|n| n.name.namespace.is_some())
        .collect();
    if namespaces.len() > 1 {
        let _ = evc_avro::load_model(&schema);
        return;
    }
    assert_eq!(
        again.canonical_form(),
        canonical,
        "canonical form is not a fixed point"
    );
    assert_eq!(again.fingerprint(), schema.fingerprint());

    let json = schema.to_json().to_string();
    let from_json = Schema::parse(&json)
        .unwrap_or_else(|e| panic!("to_json's output {json} does not parse: {e}"));
    assert_eq!(
        from_json.canonical_form(),
        canonical,
        "to_json changed the schema"
    );

    let _ = evc_avro::load_model(&schema);
});
