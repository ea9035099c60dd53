//! Snapshot tests of the generated Rust for the first schemas of `tests/codegen-corpus/` (one per
//! kind of Avro type; the rest of the corpus is checked in as generated code under
//! `tests/src/corpus/`, kept fresh by `cargo xtask codegen --check` and compiled and round-tripped
//! by the `evc-tests` crate). Review changes with `cargo insta review`.

use std::fs;
use std::path::{Path, PathBuf};

use evc_codegen::{format_rust, generate_module, ModuleOptions, Templates};

/// The snapshotted schemas.
const SNAPSHOTTED: &[&str] = &[
    "aliases",
    "collections",
    "defaults",
    "docs",
    "enums",
    "error_type",
    "fixed",
    "keywords",
    "logical",
    "namespaces",
    "nested_records",
    "primitives",
    "recursive",
    "top_union",
    "unions",
];

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/codegen-corpus");
    SNAPSHOTTED
        .iter()
        .map(|s| dir.join(format!("{s}.avsc")))
        .collect()
}

#[test]
fn corpus_snapshots() {
    let templates = Templates::new();
    let files = corpus();
    assert!(files.len() >= 15, "the corpus lost files: {files:?}");
    for path in files {
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let schema = evc_schema::Schema::parse(&fs::read_to_string(&path).unwrap()).unwrap();
        let opts = ModuleOptions {
            source: format!("tests/codegen-corpus/{stem}.avsc"),
            root_name: stem.clone(),
            event: None,
        };
        let code = format_rust(&generate_module(&templates, &schema, &opts).unwrap()).unwrap();
        insta::assert_snapshot!(stem, code);
    }
}

fn gen(text: &str) -> Result<String, evc_codegen::CodegenError> {
    let schema = evc_schema::Schema::parse(text).unwrap();
    let opts = ModuleOptions {
        source: "t.avsc".into(),
        root_name: "t".into(),
        event: None,
    };
    generate_module(&Templates::new(), &schema, &opts)
}

#[test]
fn top_level_types_without_a_name_get_a_wrapper() {
    let code = gen(r#""string""#).unwrap();
    assert!(
        code.contains("pub struct T(pub ::std::string::String);"),
        "{code}"
    );
    let code = gen(r#"["null", {"type":"record","name":"A","fields":[]}, {"type":"record","name":"B","fields":[]}]"#)
        .unwrap();
    assert!(
        code.contains("pub struct T(pub ::core::option::Option<TUnion>);"),
        "{code}"
    );
    let code = gen(r#"{"type":"map","values":"long"}"#).unwrap();
    assert!(
        code.contains("pub struct T(pub ::evc_avro::AvroMap<i64>);"),
        "{code}"
    );
    let code = gen(r#"{"type":"fixed","name":"D","size":4,"logicalType":"decimal","precision":4}"#)
        .unwrap();
    assert!(
        code.contains("pub struct T(pub ::evc_avro::bigdecimal::BigDecimal);"),
        "{code}"
    );
}

#[test]
fn clashing_names_are_renamed_in_schema_order() {
    let code = gen(r#"{"type":"record","name":"R","fields":[
        {"name":"aB","type":"int"},{"name":"a_b","type":"int"},
        {"name":"self","type":"int"},{"name":"self_","type":"int"},
        {"name":"_","type":"int"},{"name":"__","type":"int"},
        {"name":"r","type":{"type":"record","name":"r","fields":[]}},
        {"name":"x","type":{"type":"record","name":"X","namespace":"","fields":[]}},
        {"name":"y","type":{"type":"record","name":"x","fields":[]}}]}"#)
    .unwrap();
    for want in [
        "pub a_b: i32",
        "pub a_b_2: i32",
        "pub self_: i32",
        "pub self__2: i32",
        "pub __: i32",
        "pub ___2: i32",
        "pub struct R2 {",
        "pub struct X {",
        "pub struct X2 {",
        "Avro field `a_b`.",
        // the Avro names stay on the wire
        r#"::evc_avro::conv::take_field(&mut fields, 1, "a_b")"#,
    ] {
        assert!(code.contains(want), "{want}\n{code}");
    }
}

#[test]
fn what_evc_refuses_for_events_says_why() {
    let schema = evc_schema::Schema::parse(r#""string""#).unwrap();
    let ev = |pk: &str| ModuleOptions {
        source: "t.avsc".into(),
        root_name: "t".into(),
        event: Some(evc_codegen::EventInfo {
            topic: "t".into(),
            subject: "t-value".into(),
            version: 1,
            partition_key: pk.into(),
            event_id_field: None,
        }),
    };
    let e = generate_module(&Templates::new(), &schema, &ev("id")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`string` (on topic `t`) cannot be an event: an event must be a record"
    );
    let schema = evc_schema::Schema::parse(
        r#"{"type":"record","name":"R","fields":[{"name":"id","type":"double"}]}"#,
    )
    .unwrap();
    let e = generate_module(&Templates::new(), &schema, &ev("id")).unwrap_err();
    assert!(
        matches!(e, evc_codegen::CodegenError::PartitionKeyType { .. }),
        "{e}"
    );
    let e = generate_module(&Templates::new(), &schema, &ev("nope")).unwrap_err();
    assert_eq!(e.to_string(), "`R` has no partition key field `nope`");
}

#[test]
fn null_in_any_union_position_is_an_option() {
    for (u, null_index, value_index) in [
        (r#"["null","string"]"#, 0, 1),
        (r#"["string","null"]"#, 1, 0),
    ] {
        let code = gen(&format!(
            r#"{{"type":"record","name":"R","fields":[{{"name":"a","type":{u}}}]}}"#
        ))
        .unwrap();
        assert!(
            code.contains("pub a: ::core::option::Option<::std::string::String>"),
            "{code}"
        );
        assert!(
            code.contains(&format!(
                "::evc_avro::conv::option(&self.a, {null_index}, {value_index},"
            )),
            "{code}"
        );
    }
    let code = gen(
        r#"{"type":"record","name":"R","fields":[{"name":"a","type":["int","null","string"]}]}"#,
    )
    .unwrap();
    assert!(code.contains("pub a: ::core::option::Option<RA>"), "{code}");
    assert!(
        code.contains("Self::Int(e) => ::evc_avro::conv::union(0,"),
        "{code}"
    );
    assert!(
        code.contains("Self::String(e) => ::evc_avro::conv::union(2,"),
        "{code}"
    );
}
