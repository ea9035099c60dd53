//! One test (or a few) per rule of the Avro 1.12 specification, "Schema Resolution", with the
//! exact kinds and locations Avro Java's SchemaCompatibility reports.

use evc_compat::{
    check, is_compatible, AmbiguousField, CheckError, Detail, Incompatibility, IncompatibilityKind,
};
use IncompatibilityKind::*;

use super::{assert_compatible, found, kinds_at, s};

const PRIMS: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

fn at(kind: IncompatibilityKind, loc: &str) -> (IncompatibilityKind, String) {
    (kind, loc.to_string())
}

/// The text a span covers.
fn covered<'t>(text: &'t str, i: &Incompatibility) -> &'t str {
    &text[i.span.start..i.span.end]
}

// ---- primitives and promotions -------------------------------------------------------------

#[test]
fn each_primitive_reads_itself_and_only_the_permitted_promotions() {
    // "the writer's schema may be promoted to the reader's as follows: int is promotable to
    // long, float, or double; long to float or double; float to double; string to bytes; bytes
    // to string."
    let promotable = |reader: &str, writer: &str| {
        reader == writer
            || matches!(
                (writer, reader),
                ("int", "long" | "float" | "double")
                    | ("long", "float" | "double")
                    | ("float", "double")
                    | ("string", "bytes")
                    | ("bytes", "string")
            )
    };
    let mut checked = 0;
    for reader in PRIMS {
        for writer in PRIMS {
            let got = kinds_at(&format!("\"{reader}\""), &format!("\"{writer}\""));
            if promotable(reader, writer) {
                assert!(got.is_empty(), "{reader} should read {writer}: {got:?}");
            } else {
                assert_eq!(got, [at(TypeMismatch, "/")], "{reader} reading {writer}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 64);
}

#[test]
fn type_mismatch_names_both_types_and_hints_at_promotions() {
    let f = found(&s(r#""int""#), &s(r#""long""#));
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].java_message(),
        "reader type: INT not compatible with writer type: LONG"
    );
    assert!(f[0].message.contains("reader's int"), "{}", f[0].message);
    assert!(f[0].message.contains("writer's long"), "{}", f[0].message);
    assert!(f[0].message.contains("int to long"), "{}", f[0].message);
    // No promotion hint where no promotion could apply.
    let f = found(
        &s(r#""boolean""#),
        &s(r#"{"type": "array", "items": "int"}"#),
    );
    assert!(!f[0].message.contains("promotion"), "{}", f[0].message);
    assert!(f[0].message.contains("array<int>"), "{}", f[0].message);
}

// ---- records --------------------------------------------------------------------------------

#[test]
fn record_fields_match_by_name_in_any_order_and_extra_writer_fields_are_ignored() {
    assert_compatible(
        r#"{"type": "record", "name": "R", "fields": [
            {"name": "b", "type": "string"}, {"name": "a", "type": "int"}]}"#,
        r#"{"type": "record", "name": "R", "fields": [
            {"name": "a", "type": "int"}, {"name": "extra", "type": "double"}, {"name": "b", "type": "string"}]}"#,
    );
}

#[test]
fn reader_field_absent_from_writer_needs_a_default() {
    let reader = r#"{"type": "record", "name": "R", "fields": [
        {"name": "a", "type": "int"},
        {"name": "b", "type": "int", "default": 0},
        {"name": "c", "type": ["null", "string"], "default": null},
        {"name": "d", "type": "string"}]}"#;
    let writer = r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}"#;
    let f = found(&s(reader), &s(writer));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].kind, ReaderFieldMissingDefaultValue);
    assert_eq!(f[0].location, "/fields/3");
    assert_eq!(f[0].java_message(), "d");
    assert_eq!(covered(reader, &f[0]), r#"{"name": "d", "type": "string"}"#);
    assert!(!f[0].span_in_reference);
    assert_eq!(
        f[0].detail,
        Detail::ReaderFieldMissingDefaultValue {
            record: "R".into(),
            field: "d".into(),
            writer_record: "R".into()
        }
    );
    assert!(f[0].message.contains("`d`"), "{}", f[0].message);
    assert!(f[0].message.contains("no default"), "{}", f[0].message);
}

#[test]
fn field_type_problems_are_located_at_the_field_type() {
    assert_eq!(
        kinds_at(
            r#"{"type": "record", "name": "R", "fields": [
                {"name": "a", "type": "int"},
                {"name": "inner", "type": {"type": "record", "name": "I", "fields": [
                    {"name": "x", "type": "string"}, {"name": "y", "type": "float"}]}}]}"#,
            r#"{"type": "record", "name": "R", "fields": [
                {"name": "a", "type": "long"},
                {"name": "inner", "type": {"type": "record", "name": "I", "fields": [
                    {"name": "x", "type": "string"}, {"name": "y", "type": "double"}]}}]}"#,
        ),
        [
            at(TypeMismatch, "/fields/0/type"),
            at(TypeMismatch, "/fields/1/type/fields/1/type"),
        ]
    );
}

#[test]
fn records_match_by_unqualified_name_and_namespaces_do_not_matter() {
    assert_compatible(
        r#"{"type": "record", "name": "a.R", "fields": []}"#,
        r#"{"type": "record", "name": "b.R", "fields": []}"#,
    );
    assert_compatible(
        r#"{"type": "record", "name": "R", "fields": []}"#,
        r#"{"type": "record", "name": "R", "namespace": "x.y", "fields": []}"#,
    );
    let reader = r#"{"type": "record", "name": "New", "namespace": "a", "fields": []}"#;
    let f = found(
        &s(reader),
        &s(r#"{"type": "record", "name": "Old", "namespace": "a", "fields": []}"#),
    );
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].kind, f[0].location.as_str()), (NameMismatch, "/name"));
    assert_eq!(f[0].java_message(), "expected: a.Old");
    assert_eq!(covered(reader, &f[0]), r#""New""#);
}

#[test]
fn reader_aliases_match_the_writers_full_name() {
    // An unqualified alias is in the reader's namespace.
    assert_compatible(
        r#"{"type": "record", "name": "New", "namespace": "a", "aliases": ["Old"], "fields": []}"#,
        r#"{"type": "record", "name": "Old", "namespace": "a", "fields": []}"#,
    );
    assert_compatible(
        r#"{"type": "record", "name": "New", "namespace": "a", "aliases": ["b.Old"], "fields": []}"#,
        r#"{"type": "record", "name": "Old", "namespace": "b", "fields": []}"#,
    );
    // `a.Old` is not `b.Old`.
    let f = found(
        &s(
            r#"{"type": "record", "name": "New", "namespace": "a", "aliases": ["Old"], "fields": []}"#,
        ),
        &s(r#"{"type": "record", "name": "Old", "namespace": "b", "fields": []}"#),
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, NameMismatch);
    assert_eq!(
        f[0].detail,
        Detail::NameMismatch {
            reader_type: evc_compat::AvroType::Record,
            reader_name: "a.New".into(),
            writer_name: "b.Old".into(),
            reader_aliases: vec!["a.Old".into()],
        }
    );
    assert!(f[0].message.contains("a.Old"), "{}", f[0].message);
}

#[test]
fn writer_aliases_are_not_used() {
    assert_eq!(
        kinds_at(
            r#"{"type": "enum", "name": "New", "symbols": ["A"]}"#,
            r#"{"type": "enum", "name": "Old", "aliases": ["New"], "symbols": ["A"]}"#,
        ),
        [at(NameMismatch, "/name")]
    );
}

#[test]
fn reader_field_aliases_find_renamed_writer_fields() {
    let reader = r#"{"type": "record", "name": "R", "fields": [
        {"name": "total", "aliases": ["amount", "sum"], "type": "long"}]}"#;
    assert_compatible(
        reader,
        r#"{"type": "record", "name": "R", "fields": [{"name": "amount", "type": "int"}]}"#,
    );
    assert_compatible(
        reader,
        r#"{"type": "record", "name": "R", "fields": [{"name": "sum", "type": "long"}]}"#,
    );
    // Found by alias, then its type is checked.
    assert_eq!(
        kinds_at(
            reader,
            r#"{"type": "record", "name": "R", "fields": [{"name": "amount", "type": "string"}]}"#
        ),
        [at(TypeMismatch, "/fields/0/type")]
    );
    // The writer field's aliases are not used.
    assert_eq!(
        kinds_at(
            r#"{"type": "record", "name": "R", "fields": [{"name": "total", "type": "long"}]}"#,
            r#"{"type": "record", "name": "R", "fields": [{"name": "amount", "aliases": ["total"], "type": "long"}]}"#,
        ),
        [at(ReaderFieldMissingDefaultValue, "/fields/0")]
    );
}

#[test]
fn a_reader_field_matching_two_writer_fields_is_an_error() {
    let writer = s(r#"{"type": "record", "name": "R", "fields": [
        {"name": "a", "type": "int"}, {"name": "b", "type": "int"}]}"#);
    let reader_text = r#"{"type": "record", "name": "R", "fields": [
        {"name": "x", "type": "int", "default": 1},
        {"name": "a", "aliases": ["b"], "type": "int"}]}"#;
    let err = check(&s(reader_text), &writer).unwrap_err();
    let CheckError::AmbiguousField(a) = &err else {
        panic!("not an ambiguous field: {err:?}")
    };
    let AmbiguousField {
        record,
        field,
        writer_record,
        writer_fields,
        location,
        span,
        span_in_reference,
    } = &**a;
    assert_eq!((record.as_str(), field.as_str()), ("R", "a"));
    assert_eq!(writer_record, "R");
    assert_eq!(writer_fields, &["a", "b"]);
    assert_eq!(location, "/fields/1");
    assert_eq!(
        &reader_text[span.start..span.end],
        r#"{"name": "a", "aliases": ["b"], "type": "int"}"#
    );
    assert!(!span_in_reference);
    assert!(err.to_string().contains("a, b"), "{err}");
    assert!(!is_compatible(&s(reader_text), &writer));
    // Java counts an alias equal to the field's own name as a second hit.
    let self_alias = s(r#"{"type": "record", "name": "R", "fields": [
        {"name": "a", "aliases": ["a"], "type": "int"}]}"#);
    assert!(check(&self_alias, &writer).is_err());
    // A repeated alias counts once (Java keeps aliases in a set).
    let repeated = s(r#"{"type": "record", "name": "R", "fields": [
        {"name": "x", "aliases": ["b", "b"], "type": "int"}]}"#);
    assert!(found(&repeated, &writer).is_empty());
    // A self-alias where the writer has no such field: simply missing.
    let empty = s(r#"{"type": "record", "name": "R", "fields": []}"#);
    assert_eq!(
        found(&self_alias, &empty)[0].kind,
        ReaderFieldMissingDefaultValue
    );
}

// ---- enums ----------------------------------------------------------------------------------

#[test]
fn enum_reader_must_hold_every_writer_symbol() {
    assert_compatible(
        r#"{"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}"#,
        r#"{"type": "enum", "name": "E", "symbols": ["C", "A"]}"#,
    );
    let reader = r#"{"type": "enum", "name": "E", "symbols": ["A"]}"#;
    let f = found(
        &s(reader),
        &s(r#"{"type": "enum", "name": "E", "symbols": ["D", "A", "B"]}"#),
    );
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].kind, f[0].location.as_str()),
        (MissingEnumSymbols, "/symbols")
    );
    assert_eq!(f[0].java_message(), "[B, D]");
    assert_eq!(covered(reader, &f[0]), reader);
    assert!(f[0].message.contains("`B`, `D`"), "{}", f[0].message);
}

#[test]
fn an_enum_default_makes_unknown_writer_symbols_readable_but_a_field_default_does_not() {
    assert_compatible(
        r#"{"type": "enum", "name": "E", "symbols": ["A", "UNKNOWN"], "default": "UNKNOWN"}"#,
        r#"{"type": "enum", "name": "E", "symbols": ["A", "B"]}"#,
    );
    assert_eq!(
        kinds_at(
            r#"{"type": "record", "name": "R", "fields": [
                {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A"]}, "default": "A"}]}"#,
            r#"{"type": "record", "name": "R", "fields": [
                {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}}]}"#,
        ),
        [at(MissingEnumSymbols, "/fields/0/type/symbols")]
    );
}

#[test]
fn enum_name_is_checked_before_symbols() {
    assert_eq!(
        kinds_at(
            r#"{"type": "enum", "name": "E", "symbols": ["A"]}"#,
            r#"{"type": "enum", "name": "F", "symbols": ["A", "B"]}"#,
        ),
        [
            at(NameMismatch, "/name"),
            at(MissingEnumSymbols, "/symbols")
        ]
    );
}

#[test]
fn java_quirk_enum_with_default_in_a_field_absent_from_the_writer_is_a_type_mismatch() {
    // SchemaCompatibility.checkReaderWriterFields: a missing reader field with no default whose
    // type is an enum with an enum default is compared with the writer's record.
    let f = found(
        &s(r#"{"type": "record", "name": "R", "fields": [
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A"], "default": "A"}}]}"#),
        &s(r#"{"type": "record", "name": "R", "fields": []}"#),
    );
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].kind, f[0].location.as_str()),
        (TypeMismatch, "/fields/0/type")
    );
    assert_eq!(
        f[0].java_message(),
        "reader type: ENUM not compatible with writer type: RECORD"
    );
    // Without the enum default it is the usual missing default.
    assert_eq!(
        kinds_at(
            r#"{"type": "record", "name": "R", "fields": [
                {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A"]}}]}"#,
            r#"{"type": "record", "name": "R", "fields": []}"#,
        ),
        [at(ReaderFieldMissingDefaultValue, "/fields/0")]
    );
}

// ---- fixed ----------------------------------------------------------------------------------

#[test]
fn fixed_needs_same_name_and_size() {
    assert_compatible(
        r#"{"type": "fixed", "name": "a.F", "size": 4}"#,
        r#"{"type": "fixed", "name": "b.F", "size": 4}"#,
    );
    let reader = r#"{"type": "fixed", "name": "F", "size": 4}"#;
    let f = found(
        &s(reader),
        &s(r#"{"type": "fixed", "name": "G", "size": 8}"#),
    );
    let got: Vec<_> = f
        .iter()
        .map(|i| (i.kind, i.location.as_str(), i.java_message()))
        .collect();
    assert_eq!(
        got,
        [
            (NameMismatch, "/name", "expected: G".to_string()),
            (
                FixedSizeMismatch,
                "/size",
                "expected: 8, found: 4".to_string()
            ),
        ]
    );
    assert_eq!(covered(reader, &f[1]), reader);
    assert!(f[1].message.contains("4 bytes"), "{}", f[1].message);
    assert!(f[1].message.contains("8 bytes"), "{}", f[1].message);
}

#[test]
fn fixed_does_not_read_bytes_or_the_reverse() {
    assert_eq!(
        kinds_at(r#"{"type": "fixed", "name": "F", "size": 4}"#, r#""bytes""#),
        [at(TypeMismatch, "/")]
    );
    assert_eq!(
        kinds_at(r#""bytes""#, r#"{"type": "fixed", "name": "F", "size": 4}"#),
        [at(TypeMismatch, "/")]
    );
}

// ---- arrays and maps ------------------------------------------------------------------------

#[test]
fn arrays_and_maps_resolve_their_items_and_values() {
    assert_compatible(
        r#"{"type": "array", "items": "double"}"#,
        r#"{"type": "array", "items": "int"}"#,
    );
    assert_compatible(
        r#"{"type": "map", "values": {"type": "array", "items": "bytes"}}"#,
        r#"{"type": "map", "values": {"type": "array", "items": "string"}}"#,
    );
    assert_eq!(
        kinds_at(
            r#"{"type": "map", "values": {"type": "array", "items": "int"}}"#,
            r#"{"type": "map", "values": {"type": "array", "items": "long"}}"#,
        ),
        [at(TypeMismatch, "/values/items")]
    );
    assert_eq!(
        kinds_at(
            r#"{"type": "array", "items": "int"}"#,
            r#"{"type": "map", "values": "int"}"#
        ),
        [at(TypeMismatch, "/")]
    );
}

// ---- unions ---------------------------------------------------------------------------------

#[test]
fn both_unions_every_writer_branch_needs_a_reader_branch() {
    let reader = r#"{"type": "record", "name": "R", "fields": [
        {"name": "u", "type": ["null", "string"]}]}"#;
    let f = found(
        &s(reader),
        &s(r#"{"type": "record", "name": "R", "fields": [
            {"name": "u", "type": ["null", "int", "string", "boolean"]}]}"#),
    );
    let got: Vec<_> = f
        .iter()
        .map(|i| (i.kind, i.location.as_str(), i.java_message()))
        .collect();
    assert_eq!(
        got,
        [
            (
                MissingUnionBranch,
                "/fields/0/type/1",
                "reader union lacking writer type: INT".to_string()
            ),
            (
                MissingUnionBranch,
                "/fields/0/type/3",
                "reader union lacking writer type: BOOLEAN".to_string()
            ),
        ]
    );
    assert_eq!(covered(reader, &f[0]), r#"["null", "string"]"#);
    assert_eq!(
        f[0].detail,
        Detail::MissingUnionBranch {
            writer_type: evc_compat::AvroType::Int,
            writer: "int".into(),
            writer_branch: Some(1),
            reader_branches: vec!["null".into(), "string".into()],
        }
    );
    assert!(f[0].message.contains("branch 1"), "{}", f[0].message);
    // Branches are matched with promotions and in any order.
    assert_compatible(r#"["double", "null"]"#, r#"["null", "int", "float"]"#);
}

#[test]
fn reader_union_reads_a_non_union_writer_with_any_branch() {
    assert_compatible(r#"["null", "long"]"#, r#""int""#);
    assert_compatible(
        r#"["null", {"type": "record", "name": "R", "fields": []}]"#,
        r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}"#,
    );
    let f = found(&s(r#"["null", "string"]"#), &s(r#""int""#));
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].kind, f[0].location.as_str()),
        (MissingUnionBranch, "/")
    );
    assert_eq!(f[0].java_message(), "reader union lacking writer type: INT");
    // The branches' own problems are not reported, only the missing branch.
    assert_eq!(
        kinds_at(
            r#"["null", {"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}]"#,
            r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}"#,
        ),
        [at(MissingUnionBranch, "/")]
    );
}

#[test]
fn writer_union_read_by_a_non_union_reports_each_failing_branch_at_its_index() {
    // Java: every branch is checked against the reader, at the reader's location + branch index.
    let reader = r#"{"type": "record", "name": "R", "fields": [{"name": "a", "type": "int"}]}"#;
    let f = found(
        &s(reader),
        &s(
            r#"["null", {"type": "record", "name": "R", "fields": [{"name": "a", "type": "long"}]}, "string"]"#,
        ),
    );
    let got: Vec<_> = f
        .iter()
        .map(|i| (i.kind, i.location.as_str(), i.java_message()))
        .collect();
    assert_eq!(
        got,
        [
            (
                TypeMismatch,
                "/0",
                "reader type: RECORD not compatible with writer type: NULL".to_string()
            ),
            (
                TypeMismatch,
                "/1/fields/0/type",
                "reader type: INT not compatible with writer type: LONG".to_string()
            ),
            (
                TypeMismatch,
                "/2",
                "reader type: RECORD not compatible with writer type: STRING".to_string()
            ),
        ]
    );
    // The span of a type mismatch at a branch index is still the reader's type.
    assert_eq!(covered(reader, &f[0]), reader);
    assert!(
        f[0].message.starts_with("branch 0 of the writer's union: "),
        "{}",
        f[0].message
    );
    assert!(!f[1].message.starts_with("branch"), "{}", f[1].message);
    // A writer union whose every branch the reader reads is fine.
    assert_compatible(r#""double""#, r#"["int", "long", "float"]"#);
}

#[test]
fn empty_unions() {
    assert_compatible("[]", "[]");
    assert_compatible(r#"["int"]"#, "[]");
    assert_compatible(r#""int""#, "[]");
    let f = found(&s("[]"), &s(r#""int""#));
    assert_eq!(
        (f[0].kind, f[0].location.as_str()),
        (MissingUnionBranch, "/")
    );
    assert!(f[0].message.contains("empty"), "{}", f[0].message);
}

// ---- logical types --------------------------------------------------------------------------

#[test]
fn logical_types_are_ignored_as_java_ignores_them() {
    assert_compatible(
        r#""long""#,
        r#"{"type": "long", "logicalType": "timestamp-millis"}"#,
    );
    assert_compatible(
        r#"{"type": "long", "logicalType": "timestamp-micros"}"#,
        r#""long""#,
    );
    assert_compatible(
        r#"{"type": "long", "logicalType": "timestamp-micros"}"#,
        r#"{"type": "int", "logicalType": "date"}"#,
    );
    assert_compatible(
        r#"{"type": "bytes", "logicalType": "decimal", "precision": 3, "scale": 3}"#,
        r#"{"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2}"#,
    );
    assert_compatible(
        r#"{"type": "fixed", "name": "D", "size": 8, "logicalType": "decimal", "precision": 3}"#,
        r#"{"type": "fixed", "name": "D", "size": 8, "logicalType": "decimal", "precision": 12, "scale": 2}"#,
    );
    assert_compatible(
        r#""string""#,
        r#"{"type": "string", "logicalType": "uuid"}"#,
    );
    // The underlying types still have to resolve; messages show the logical type.
    let f = found(
        &s(r#"{"type": "int", "logicalType": "date"}"#),
        &s(r#"{"type": "long", "logicalType": "timestamp-millis"}"#),
    );
    assert_eq!((f[0].kind, f[0].location.as_str()), (TypeMismatch, "/"));
    assert!(f[0].message.contains("int (date)"), "{}", f[0].message);
    assert!(
        f[0].message.contains("long (timestamp-millis)"),
        "{}",
        f[0].message
    );
}

// ---- every incompatibility, with its place --------------------------------------------------

#[test]
fn every_incompatibility_is_reported_in_walk_order() {
    assert_eq!(
        kinds_at(
            r#"{"type": "record", "name": "R", "fields": [
                {"name": "a", "type": "int"},
                {"name": "b", "type": {"type": "array", "items": "string"}},
                {"name": "c", "type": "string"},
                {"name": "d", "type": {"type": "fixed", "name": "F", "size": 2}}]}"#,
            r#"{"type": "record", "name": "Q", "fields": [
                {"name": "d", "type": {"type": "fixed", "name": "F", "size": 3}},
                {"name": "b", "type": {"type": "array", "items": "boolean"}},
                {"name": "a", "type": "double"}]}"#,
        ),
        [
            at(NameMismatch, "/name"),
            at(TypeMismatch, "/fields/0/type"),
            at(TypeMismatch, "/fields/1/type/items"),
            at(ReaderFieldMissingDefaultValue, "/fields/2"),
            at(FixedSizeMismatch, "/fields/3/type/size"),
        ]
    );
}

#[test]
fn a_named_type_used_twice_is_reported_at_each_use() {
    // Java memoizes the (reader, writer) pair and would repeat the first location; we report
    // each at its own place, with the span of that use.
    let reader = r#"{"type": "record", "name": "R", "fields": [
        {"name": "first", "type": {"type": "record", "name": "P", "fields": [{"name": "x", "type": "int"}]}},
        {"name": "second", "type": "P"}]}"#;
    let writer = r#"{"type": "record", "name": "R", "fields": [
        {"name": "first", "type": {"type": "enum", "name": "P", "symbols": ["A"]}},
        {"name": "second", "type": "P"}]}"#;
    let f = found(&s(reader), &s(writer));
    let got: Vec<_> = f.iter().map(|i| (i.kind, i.location.as_str())).collect();
    assert_eq!(
        got,
        [
            (TypeMismatch, "/fields/0/type"),
            (TypeMismatch, "/fields/1/type")
        ]
    );
    assert!(covered(reader, &f[0]).starts_with(r#"{"type": "record", "name": "P""#));
    assert_eq!(covered(reader, &f[1]), r#""P""#);

    let writer = r#"{"type": "record", "name": "R", "fields": [
        {"name": "first", "type": {"type": "record", "name": "P", "fields": [{"name": "x", "type": "long"}]}},
        {"name": "second", "type": "P"}]}"#;
    let f = found(&s(reader), &s(writer));
    let got: Vec<_> = f.iter().map(|i| (i.kind, i.location.as_str())).collect();
    assert_eq!(
        got,
        [
            (TypeMismatch, "/fields/0/type/fields/0/type"),
            (TypeMismatch, "/fields/1/type/fields/0/type"),
        ]
    );
    // Both are about the same `"type": "int"` in P's definition.
    assert_eq!(covered(reader, &f[0]), r#""int""#);
    assert_eq!(f[0].span, f[1].span);
}

#[test]
fn incompatibilities_serialize_with_java_kind_names() {
    let f = found(&s(r#""int""#), &s(r#""string""#));
    let json = serde_json::to_value(&f[0]).unwrap();
    assert_eq!(json["kind"], "TYPE_MISMATCH");
    assert_eq!(json["location"], "/");
    assert_eq!(json["span"]["start"], 0);
    assert_eq!(json["span"]["end"], 5);
    assert_eq!(json["detail"]["type_mismatch"]["writer_type"], "string");
    let back: Incompatibility = serde_json::from_value(json).unwrap();
    assert_eq!(back, f[0]);
    assert_eq!(
        f[0].to_string(),
        format!("TYPE_MISMATCH at /: {}", f[0].message)
    );
}

#[test]
fn kind_names_round_trip() {
    for k in IncompatibilityKind::ALL {
        assert_eq!(k.to_string().parse::<IncompatibilityKind>().unwrap(), k);
        assert_eq!(
            k.to_string()
                .to_lowercase()
                .parse::<IncompatibilityKind>()
                .unwrap(),
            k
        );
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(json, format!("\"{k}\""));
        assert_eq!(
            serde_json::from_str::<IncompatibilityKind>(&json).unwrap(),
            k
        );
    }
    assert!("NOT_A_KIND".parse::<IncompatibilityKind>().is_err());
}

#[test]
fn spans_of_named_types_from_a_referenced_schema_are_flagged() {
    let common = s(
        r#"{"type": "record", "name": "c.Money", "fields": [{"name": "cents", "type": "long"}]}"#,
    );
    let options = evc_schema::ParseOptions {
        references: vec![&common],
        ..Default::default()
    };
    let reader = evc_schema::Schema::parse_with(
        r#"{"type": "record", "name": "Order", "fields": [
            {"name": "price", "type": "c.Money"}, {"name": "n", "type": "int"}]}"#,
        &options,
    )
    .unwrap();
    let writer = s(r#"{"type": "record", "name": "Order", "fields": [
        {"name": "price", "type": {"type": "record", "name": "Money", "fields": [{"name": "cents", "type": "string"}]}},
        {"name": "n", "type": "long"}]}"#);
    let f = found(&reader, &writer);
    let got: Vec<_> = f
        .iter()
        .map(|i| (i.location.as_str(), i.span_in_reference))
        .collect();
    assert_eq!(
        got,
        [
            ("/fields/0/type/fields/0/type", true),
            ("/fields/1/type", false)
        ]
    );
}
