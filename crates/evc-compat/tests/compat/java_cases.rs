//! Reader/writer pairs with the verdicts Apache Avro Java's own tests expect of
//! `SchemaCompatibility` (Avro `main`: TestSchemaCompatibility and the
//! TestSchemaCompatibility* classes, schemas from TestSchemas). The schemas are re-expressed here
//! as JSON; each table says which Java test it comes from.

use evc_compat::IncompatibilityKind::{self, *};

use super::{found, java_view, s};

// ---- TestSchemas, as JSON -------------------------------------------------------------------

const NULL: &str = r#""null""#;
const BOOLEAN: &str = r#""boolean""#;
const INT: &str = r#""int""#;
const LONG: &str = r#""long""#;
const FLOAT: &str = r#""float""#;
const DOUBLE: &str = r#""double""#;
const STRING: &str = r#""string""#;
const BYTES: &str = r#""bytes""#;

const INT_ARRAY: &str = r#"{"type": "array", "items": "int"}"#;
const LONG_ARRAY: &str = r#"{"type": "array", "items": "long"}"#;
const STRING_ARRAY: &str = r#"{"type": "array", "items": "string"}"#;
const INT_MAP: &str = r#"{"type": "map", "values": "int"}"#;
const LONG_MAP: &str = r#"{"type": "map", "values": "long"}"#;
const STRING_MAP: &str = r#"{"type": "map", "values": "string"}"#;

const ENUM1_AB: &str = r#"{"type": "enum", "name": "Enum1", "symbols": ["A", "B"]}"#;
const ENUM1_ABC: &str = r#"{"type": "enum", "name": "Enum1", "symbols": ["A", "B", "C"]}"#;
const ENUM1_BC: &str = r#"{"type": "enum", "name": "Enum1", "symbols": ["B", "C"]}"#;
const ENUM2_AB: &str = r#"{"type": "enum", "name": "Enum2", "symbols": ["A", "B"]}"#;
const ENUM_ABC_ENUM_DEFAULT_A: &str =
    r#"{"type": "enum", "name": "Enum", "symbols": ["A", "B", "C"], "default": "A"}"#;
const ENUM_AB_ENUM_DEFAULT_A: &str =
    r#"{"type": "enum", "name": "Enum", "symbols": ["A", "B"], "default": "A"}"#;
const ENUM_ABC_ENUM_DEFAULT_A_RECORD: &str = r#"{"type": "record", "name": "Record", "fields": [
    {"name": "Field", "type": {"type": "enum", "name": "Schema", "symbols": ["A", "B", "C"], "default": "A"}}]}"#;
const ENUM_AB_ENUM_DEFAULT_A_RECORD: &str = r#"{"type": "record", "name": "Record", "fields": [
    {"name": "Field", "type": {"type": "enum", "name": "Schema", "symbols": ["A", "B"], "default": "A"}}]}"#;
const ENUM_ABC_FIELD_DEFAULT_B_ENUM_DEFAULT_A_RECORD: &str = r#"{"type": "record", "name": "Record", "fields": [
    {"name": "Field", "type": {"type": "enum", "name": "Schema", "symbols": ["A", "B", "C"], "default": "A"}, "default": "B"}]}"#;
const ENUM_AB_FIELD_DEFAULT_A_ENUM_DEFAULT_B_RECORD: &str = r#"{"type": "record", "name": "Record", "fields": [
    {"name": "Field", "type": {"type": "enum", "name": "Schema", "symbols": ["A", "B"], "default": "B"}, "default": "A"}]}"#;

const EMPTY_UNION: &str = "[]";
const INT_UNION: &str = r#"["int"]"#;
const LONG_UNION: &str = r#"["long"]"#;
const FLOAT_UNION: &str = r#"["float"]"#;
const DOUBLE_UNION: &str = r#"["double"]"#;
const STRING_UNION: &str = r#"["string"]"#;
const BYTES_UNION: &str = r#"["bytes"]"#;
const INT_STRING_UNION: &str = r#"["int", "string"]"#;
const STRING_INT_UNION: &str = r#"["string", "int"]"#;
const INT_FLOAT_UNION: &str = r#"["int", "float"]"#;
const INT_LONG_UNION: &str = r#"["int", "long"]"#;
const INT_LONG_FLOAT_DOUBLE_UNION: &str = r#"["int", "long", "float", "double"]"#;

const EMPTY_RECORD1: &str = r#"{"type": "record", "name": "Record1", "fields": []}"#;
const EMPTY_RECORD2: &str = r#"{"type": "record", "name": "Record2", "fields": []}"#;
const A_INT_RECORD1: &str =
    r#"{"type": "record", "name": "Record1", "fields": [{"name": "a", "type": "int"}]}"#;
const A_LONG_RECORD1: &str =
    r#"{"type": "record", "name": "Record1", "fields": [{"name": "a", "type": "long"}]}"#;
const A_INT_B_INT_RECORD1: &str = r#"{"type": "record", "name": "Record1", "fields": [
    {"name": "a", "type": "int"}, {"name": "b", "type": "int"}]}"#;
const A_DINT_RECORD1: &str = r#"{"type": "record", "name": "Record1", "fields": [
    {"name": "a", "type": "int", "default": 0}]}"#;
const A_INT_B_DINT_RECORD1: &str = r#"{"type": "record", "name": "Record1", "fields": [
    {"name": "a", "type": "int"}, {"name": "b", "type": "int", "default": 0}]}"#;
const A_DINT_B_DINT_RECORD1: &str = r#"{"type": "record", "name": "Record1", "fields": [
    {"name": "a", "type": "int", "default": 0}, {"name": "b", "type": "int", "default": 0}]}"#;
const A_DINT_B_DFIXED_4_BYTES_RECORD1: &str = r#"{"type": "record", "name": "Record1", "fields": [
    {"name": "a", "type": "int", "default": 0}, {"name": "b", "type": {"type": "fixed", "name": "Fixed", "size": 4}}]}"#;
const A_DINT_B_DFIXED_8_BYTES_RECORD1: &str = r#"{"type": "record", "name": "Record1", "fields": [
    {"name": "a", "type": "int", "default": 0}, {"name": "b", "type": {"type": "fixed", "name": "Fixed", "size": 8}}]}"#;
const A_DINT_B_DINT_STRING_UNION_RECORD1: &str = r#"{"type": "record", "name": "Record1", "fields": [
    {"name": "a", "type": "int", "default": 0}, {"name": "b", "type": ["int", "string"], "default": 0}]}"#;
const A_DINT_B_DINT_UNION_RECORD1: &str = r#"{"type": "record", "name": "Record1", "fields": [
    {"name": "a", "type": "int", "default": 0}, {"name": "b", "type": ["int"], "default": 0}]}"#;
const A_DINT_B_DENUM_1_RECORD1: &str = r#"{"type": "record", "name": "Record1", "fields": [
    {"name": "a", "type": "int", "default": 0}, {"name": "b", "type": {"type": "enum", "name": "Enum1", "symbols": ["A", "B"]}}]}"#;
const A_DINT_B_DENUM_2_RECORD1: &str = r#"{"type": "record", "name": "Record1", "fields": [
    {"name": "a", "type": "int", "default": 0}, {"name": "b", "type": {"type": "enum", "name": "Enum2", "symbols": ["A", "B"]}}]}"#;

const FIXED_4_BYTES: &str = r#"{"type": "fixed", "name": "Fixed", "size": 4}"#;
const FIXED_8_BYTES: &str = r#"{"type": "fixed", "name": "Fixed", "size": 8}"#;

// Records holding an array of records whose namespaces differ.
const NS_RECORD1: &str = r#"{"type": "record", "name": "Record1", "fields": [
    {"name": "f1", "type": ["null", {"type": "array", "items":
        {"type": "record", "name": "InnerRecord1", "namespace": "ns1", "fields": [{"name": "a", "type": "int"}]}}]}]}"#;
const NS_RECORD2: &str = r#"{"type": "record", "name": "Record1", "fields": [
    {"name": "f1", "type": ["null", {"type": "array", "items":
        {"type": "record", "name": "InnerRecord1", "namespace": "ns2", "fields": [{"name": "a", "type": "int"}]}}]}]}"#;
const WITHOUT_NS: &str = r#"{"type": "record", "name": "Record", "fields": []}"#;
const WITH_NS: &str = r#"{"type": "record", "name": "ns.Record", "fields": []}"#;

// Recursive records.
const INT_LIST_RECORD: &str = r#"{"type": "record", "name": "List", "fields": [
    {"name": "head", "type": "int"}, {"name": "tail", "type": "List"}]}"#;
const LONG_LIST_RECORD: &str = r#"{"type": "record", "name": "List", "fields": [
    {"name": "head", "type": "long"}, {"name": "tail", "type": "List"}]}"#;

// ---- TestSchemaCompatibility.COMPATIBLE_READER_WRITER_TEST_CASES ----------------------------

#[test]
fn java_compatible_reader_writer_test_cases() {
    let cases: &[(&str, &str)] = &[
        (BOOLEAN, BOOLEAN),
        (INT, INT),
        (LONG, INT),
        (LONG, LONG),
        (FLOAT, INT),
        (FLOAT, LONG),
        (DOUBLE, LONG),
        (DOUBLE, INT),
        (DOUBLE, FLOAT),
        (STRING, STRING),
        (BYTES, BYTES),
        (INT_ARRAY, INT_ARRAY),
        (LONG_ARRAY, INT_ARRAY),
        (INT_MAP, INT_MAP),
        (LONG_MAP, INT_MAP),
        (ENUM1_AB, ENUM1_AB),
        (ENUM1_ABC, ENUM1_AB),
        (STRING, BYTES),
        (BYTES, STRING),
        (EMPTY_UNION, EMPTY_UNION),
        (FLOAT_UNION, EMPTY_UNION),
        (FLOAT_UNION, INT_UNION),
        (FLOAT_UNION, LONG_UNION),
        (FLOAT_UNION, INT_LONG_UNION),
        (INT_UNION, INT_UNION),
        (INT_STRING_UNION, STRING_INT_UNION),
        (INT_UNION, EMPTY_UNION),
        (LONG_UNION, EMPTY_UNION),
        (LONG_UNION, INT_UNION),
        (DOUBLE_UNION, INT_UNION),
        (DOUBLE_UNION, LONG_UNION),
        (DOUBLE_UNION, FLOAT_UNION),
        (STRING_UNION, EMPTY_UNION),
        (STRING_UNION, BYTES_UNION),
        (BYTES_UNION, EMPTY_UNION),
        (BYTES_UNION, STRING_UNION),
        (DOUBLE_UNION, INT_FLOAT_UNION),
        // Readers capable of reading all branches of a union are compatible.
        (FLOAT, INT_FLOAT_UNION),
        (LONG, INT_LONG_UNION),
        (DOUBLE, INT_FLOAT_UNION),
        (DOUBLE, INT_LONG_FLOAT_DOUBLE_UNION),
        // Special case of singleton unions.
        (FLOAT, FLOAT_UNION),
        (INT_UNION, INT),
        (INT, INT_UNION),
        (FIXED_4_BYTES, FIXED_4_BYTES),
        (EMPTY_RECORD1, EMPTY_RECORD1),
        (EMPTY_RECORD1, A_INT_RECORD1),
        (A_INT_RECORD1, A_INT_RECORD1),
        (A_DINT_RECORD1, A_INT_RECORD1),
        (A_DINT_RECORD1, A_DINT_RECORD1),
        (A_INT_RECORD1, A_DINT_RECORD1),
        (A_LONG_RECORD1, A_INT_RECORD1),
        (A_INT_RECORD1, A_INT_B_INT_RECORD1),
        (A_DINT_RECORD1, A_INT_B_INT_RECORD1),
        (A_INT_B_DINT_RECORD1, A_INT_RECORD1),
        (A_DINT_B_DINT_RECORD1, EMPTY_RECORD1),
        (A_DINT_B_DINT_RECORD1, A_INT_RECORD1),
        (A_INT_B_INT_RECORD1, A_DINT_B_DINT_RECORD1),
        (INT_LIST_RECORD, INT_LIST_RECORD),
        (LONG_LIST_RECORD, LONG_LIST_RECORD),
        (LONG_LIST_RECORD, INT_LIST_RECORD),
        (NULL, NULL),
        (
            ENUM_AB_ENUM_DEFAULT_A_RECORD,
            ENUM_ABC_ENUM_DEFAULT_A_RECORD,
        ),
        (
            ENUM_AB_FIELD_DEFAULT_A_ENUM_DEFAULT_B_RECORD,
            ENUM_ABC_FIELD_DEFAULT_B_ENUM_DEFAULT_A_RECORD,
        ),
        (NS_RECORD1, NS_RECORD2),
        // Added to Java's list with TestSchemas.WITHOUT_NS / WITH_NS: unqualified names compare.
        (WITHOUT_NS, WITH_NS),
    ];
    for (reader, writer) in cases {
        let f = found(&s(reader), &s(writer));
        assert!(
            f.is_empty(),
            "Java finds reader {reader} compatible with writer {writer}; we found {f:#?}"
        );
    }
    assert_eq!(cases.len(), 66);
}

/// Checks one Java incompatible case: the exact list of (kind, location, Java message).
fn expect(reader: &str, writer: &str, want: &[(IncompatibilityKind, &str, &str)]) {
    let got = java_view(&s(reader), &s(writer));
    let want: Vec<_> = want
        .iter()
        .map(|(k, l, m)| (*k, l.to_string(), m.to_string()))
        .collect();
    assert_eq!(got, want, "reader {reader}\nwriter {writer}");
}

// ---- TestSchemaCompatibility: single tests --------------------------------------------------

#[test]
fn java_validate_schema_new_field() {
    // testValidateSchemaNewField (Java's records are anonymous; here both are named R).
    expect(
        r#"{"type": "record", "name": "R", "fields": [
            {"name": "oldfield1", "type": "int"}, {"name": "newfield1", "type": "int"}]}"#,
        r#"{"type": "record", "name": "R", "fields": [
            {"name": "oldfield1", "type": "int"}, {"name": "oldfield2", "type": "string"}]}"#,
        &[(ReaderFieldMissingDefaultValue, "/fields/1", "newfield1")],
    );
    // testValidateSchemaNewFieldWithDefault, testValidateSchemaPairMissingField,
    // testValidateSchemaPairMissingSecondField, testValidateSchemaPairAllFields.
    let writer = r#"{"type": "record", "name": "R", "fields": [
        {"name": "oldfield1", "type": "int"}, {"name": "oldfield2", "type": "string"}]}"#;
    for reader in [
        r#"{"type": "record", "name": "R", "fields": [{"name": "oldfield1", "type": "int"}, {"name": "newfield1", "type": "int", "default": 42}]}"#,
        r#"{"type": "record", "name": "R", "fields": [{"name": "oldfield1", "type": "int"}]}"#,
        r#"{"type": "record", "name": "R", "fields": [{"name": "oldfield2", "type": "string"}]}"#,
        writer,
    ] {
        expect(reader, writer, &[]);
    }
}

#[test]
fn java_validate_array_and_primitive_writer_schema() {
    // testValidateArrayWriterSchema, testValidatePrimitiveWriterSchema.
    expect(STRING_ARRAY, STRING_ARRAY, &[]);
    expect(
        STRING_MAP,
        STRING_ARRAY,
        &[(
            TypeMismatch,
            "/",
            "reader type: MAP not compatible with writer type: ARRAY",
        )],
    );
    expect(STRING, STRING, &[]);
    expect(
        INT,
        STRING,
        &[(
            TypeMismatch,
            "/",
            "reader type: INT not compatible with writer type: STRING",
        )],
    );
}

#[test]
fn java_union_reader_writer_subset_incompatibility() {
    // testUnionReaderWriterSubsetIncompatibility.
    expect(
        r#"["int", "string"]"#,
        r#"["int", "string", "long"]"#,
        &[(
            MissingUnionBranch,
            "/2",
            "reader union lacking writer type: LONG",
        )],
    );
}

// ---- TestSchemaCompatibilityTypeMismatch ----------------------------------------------------

#[test]
fn java_type_mismatch_cases() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (NULL, INT, "NULL", "INT"),
        (NULL, LONG, "NULL", "LONG"),
        (BOOLEAN, INT, "BOOLEAN", "INT"),
        (INT, NULL, "INT", "NULL"),
        (INT, BOOLEAN, "INT", "BOOLEAN"),
        (INT, LONG, "INT", "LONG"),
        (INT, FLOAT, "INT", "FLOAT"),
        (INT, DOUBLE, "INT", "DOUBLE"),
        (LONG, FLOAT, "LONG", "FLOAT"),
        (LONG, DOUBLE, "LONG", "DOUBLE"),
        (FLOAT, DOUBLE, "FLOAT", "DOUBLE"),
        (DOUBLE, STRING, "DOUBLE", "STRING"),
        (FIXED_4_BYTES, STRING, "FIXED", "STRING"),
        (STRING, BOOLEAN, "STRING", "BOOLEAN"),
        (STRING, INT, "STRING", "INT"),
        (BYTES, NULL, "BYTES", "NULL"),
        (BYTES, INT, "BYTES", "INT"),
        (A_INT_RECORD1, INT, "RECORD", "INT"),
        (INT_MAP, INT_ARRAY, "MAP", "ARRAY"),
        (INT_ARRAY, INT_MAP, "ARRAY", "MAP"),
        (INT, ENUM2_AB, "INT", "ENUM"),
        (ENUM2_AB, INT, "ENUM", "INT"),
    ];
    for (reader, writer, r, w) in cases {
        let msg = format!("reader type: {r} not compatible with writer type: {w}");
        expect(reader, writer, &[(TypeMismatch, "/", &msg)]);
    }
    let located: &[(&str, &str, &str, &str)] = &[
        (
            INT_ARRAY,
            LONG_ARRAY,
            "reader type: INT not compatible with writer type: LONG",
            "/items",
        ),
        (
            INT_MAP,
            LONG_MAP,
            "reader type: INT not compatible with writer type: LONG",
            "/values",
        ),
        // A non-union reader and a writer union: the failing branch's index.
        (
            FLOAT,
            INT_LONG_FLOAT_DOUBLE_UNION,
            "reader type: FLOAT not compatible with writer type: DOUBLE",
            "/3",
        ),
        (
            LONG,
            INT_FLOAT_UNION,
            "reader type: LONG not compatible with writer type: FLOAT",
            "/1",
        ),
        (
            INT,
            INT_FLOAT_UNION,
            "reader type: INT not compatible with writer type: FLOAT",
            "/1",
        ),
        // Recursive records: the recursion itself counts as compatible.
        (
            INT_LIST_RECORD,
            LONG_LIST_RECORD,
            "reader type: INT not compatible with writer type: LONG",
            "/fields/0/type",
        ),
    ];
    for (reader, writer, msg, loc) in located {
        expect(reader, writer, &[(TypeMismatch, loc, msg)]);
    }
}

// ---- TestSchemaCompatibilityMissingUnionBranch ----------------------------------------------

#[test]
fn java_missing_union_branch_cases() {
    let record1_with_int =
        r#"{"type": "record", "name": "Record1", "fields": [{"name": "field1", "type": "int"}]}"#;
    let record2_with_int =
        r#"{"type": "record", "name": "Record2", "fields": [{"name": "field1", "type": "int"}]}"#;
    let union_int_record1 = format!(r#"["int", {record1_with_int}]"#);
    let union_int_record2 = format!(r#"["int", {record2_with_int}]"#);
    let union_int_enum1_ab = format!(r#"["int", {ENUM1_AB}]"#);
    let union_int_fixed_4 = format!(r#"["int", {FIXED_4_BYTES}]"#);
    let union_int_boolean = r#"["int", "boolean"]"#;
    let union_int_array_int = format!(r#"["int", {INT_ARRAY}]"#);
    let union_int_map_int = format!(r#"["int", {INT_MAP}]"#);
    let union_int_null = r#"["int", "null"]"#;
    let lacking = |t: &str| format!("reader union lacking writer type: {t}");

    let single: Vec<(&str, &str, String, &str)> = vec![
        (INT_UNION, INT_STRING_UNION, lacking("STRING"), "/1"),
        (STRING_UNION, INT_STRING_UNION, lacking("INT"), "/0"),
        (INT_UNION, &union_int_record1, lacking("RECORD"), "/1"),
        (INT_UNION, &union_int_record2, lacking("RECORD"), "/1"),
        // More info in the subset schemas.
        (
            &union_int_record1,
            &union_int_record2,
            lacking("RECORD"),
            "/1",
        ),
        (INT_UNION, &union_int_enum1_ab, lacking("ENUM"), "/1"),
        (INT_UNION, &union_int_fixed_4, lacking("FIXED"), "/1"),
        (INT_UNION, union_int_boolean, lacking("BOOLEAN"), "/1"),
        (INT_UNION, LONG_UNION, lacking("LONG"), "/0"),
        (INT_UNION, FLOAT_UNION, lacking("FLOAT"), "/0"),
        (INT_UNION, DOUBLE_UNION, lacking("DOUBLE"), "/0"),
        (INT_UNION, BYTES_UNION, lacking("BYTES"), "/0"),
        (INT_UNION, &union_int_array_int, lacking("ARRAY"), "/1"),
        (INT_UNION, &union_int_map_int, lacking("MAP"), "/1"),
        (INT_UNION, union_int_null, lacking("NULL"), "/1"),
        (
            A_DINT_B_DINT_UNION_RECORD1,
            A_DINT_B_DINT_STRING_UNION_RECORD1,
            lacking("STRING"),
            "/fields/1/type/1",
        ),
    ];
    for (reader, writer, msg, loc) in &single {
        expect(reader, writer, &[(MissingUnionBranch, loc, msg)]);
    }
    expect(
        INT_UNION,
        INT_LONG_FLOAT_DOUBLE_UNION,
        &[
            (MissingUnionBranch, "/1", &lacking("LONG")),
            (MissingUnionBranch, "/2", &lacking("FLOAT")),
            (MissingUnionBranch, "/3", &lacking("DOUBLE")),
        ],
    );
}

// ---- TestSchemaCompatibilityNameMismatch ----------------------------------------------------

#[test]
fn java_name_mismatch_cases() {
    let fixed_4_another_name = r#"{"type": "fixed", "name": "AnotherName", "size": 4}"#;
    let cases: &[(&str, &str, &str, &str)] = &[
        (ENUM1_AB, ENUM2_AB, "expected: Enum2", "/name"),
        (EMPTY_RECORD2, EMPTY_RECORD1, "expected: Record1", "/name"),
        (
            FIXED_4_BYTES,
            fixed_4_another_name,
            "expected: AnotherName",
            "/name",
        ),
        (
            A_DINT_B_DENUM_1_RECORD1,
            A_DINT_B_DENUM_2_RECORD1,
            "expected: Enum2",
            "/fields/1/type/name",
        ),
    ];
    for (reader, writer, msg, loc) in cases {
        expect(reader, writer, &[(NameMismatch, loc, msg)]);
    }
}

// ---- TestSchemaCompatibilityFixedSizeMismatch -----------------------------------------------

#[test]
fn java_fixed_size_mismatch_cases() {
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            FIXED_4_BYTES,
            FIXED_8_BYTES,
            "expected: 8, found: 4",
            "/size",
        ),
        (
            FIXED_8_BYTES,
            FIXED_4_BYTES,
            "expected: 4, found: 8",
            "/size",
        ),
        (
            A_DINT_B_DFIXED_8_BYTES_RECORD1,
            A_DINT_B_DFIXED_4_BYTES_RECORD1,
            "expected: 4, found: 8",
            "/fields/1/type/size",
        ),
        (
            A_DINT_B_DFIXED_4_BYTES_RECORD1,
            A_DINT_B_DFIXED_8_BYTES_RECORD1,
            "expected: 8, found: 4",
            "/fields/1/type/size",
        ),
    ];
    for (reader, writer, msg, loc) in cases {
        expect(reader, writer, &[(FixedSizeMismatch, loc, msg)]);
    }
}

// ---- TestSchemaCompatibilityMissingEnumSymbols ----------------------------------------------

#[test]
fn java_missing_enum_symbols_cases() {
    let record1_with_enum_ab = format!(
        r#"{{"type": "record", "name": "Record1", "fields": [{{"name": "field1", "type": {ENUM1_AB}}}]}}"#
    );
    let record1_with_enum_abc = format!(
        r#"{{"type": "record", "name": "Record1", "fields": [{{"name": "field1", "type": {ENUM1_ABC}}}]}}"#
    );
    expect(
        ENUM1_AB,
        ENUM1_ABC,
        &[(MissingEnumSymbols, "/symbols", "[C]")],
    );
    expect(
        ENUM1_BC,
        ENUM1_ABC,
        &[(MissingEnumSymbols, "/symbols", "[A]")],
    );
    expect(
        &record1_with_enum_ab,
        &record1_with_enum_abc,
        &[(MissingEnumSymbols, "/fields/0/type/symbols", "[C]")],
    );
}

// ---- TestSchemaCompatibilityReaderFieldMissingDefaultValue ----------------------------------

#[test]
fn java_reader_field_missing_default_value_cases() {
    expect(
        A_INT_RECORD1,
        EMPTY_RECORD1,
        &[(ReaderFieldMissingDefaultValue, "/fields/0", "a")],
    );
    expect(
        A_INT_B_DINT_RECORD1,
        EMPTY_RECORD1,
        &[(ReaderFieldMissingDefaultValue, "/fields/0", "a")],
    );
}

// ---- TestSchemaCompatibilityEnumDefaults ----------------------------------------------------

#[test]
fn java_enum_defaults_cases() {
    // enumDefaultNotAppliedWhenWriterFieldMissing: Java's decoder fails ("missing required field
    // field1"); SchemaCompatibility calls it a type mismatch (enum vs the writer's record).
    let writer = format!(
        r#"{{"type": "record", "name": "Record1", "fields": [{{"name": "field2", "type": {ENUM2_AB}}}]}}"#
    );
    let reader = format!(
        r#"{{"type": "record", "name": "Record1", "fields": [{{"name": "field1", "type": {ENUM_AB_ENUM_DEFAULT_A}}}]}}"#
    );
    expect(
        &reader,
        &writer,
        &[(
            TypeMismatch,
            "/fields/0/type",
            "reader type: ENUM not compatible with writer type: RECORD",
        )],
    );
    // enumDefaultAppliedWhenNoFieldDefaultDefined, enumDefaultNotAppliedWhenCompatibleSymbolIsFound,
    // enumDefaultAppliedWhenFieldDefaultDefined: the enum default makes C readable.
    let writer = format!(
        r#"{{"type": "record", "name": "Record1", "fields": [{{"name": "field1", "type": {ENUM_ABC_ENUM_DEFAULT_A}}}]}}"#
    );
    expect(&reader, &writer, &[]);
    let reader_with_field_default = format!(
        r#"{{"type": "record", "name": "Record1", "fields": [{{"name": "field1", "type": {ENUM_AB_ENUM_DEFAULT_A}, "default": "B"}}]}}"#
    );
    expect(&reader_with_field_default, &writer, &[]);
    // fieldDefaultNotAppliedForUnknownSymbol: a field default does not make C readable.
    let writer = format!(
        r#"{{"type": "record", "name": "Record1", "fields": [{{"name": "field1", "type": {ENUM1_ABC}}}]}}"#
    );
    let reader = format!(
        r#"{{"type": "record", "name": "Record1", "fields": [{{"name": "field1", "type": {ENUM1_AB}, "default": "A"}}]}}"#
    );
    expect(
        &reader,
        &writer,
        &[(MissingEnumSymbols, "/fields/0/type/symbols", "[C]")],
    );
}

// ---- TestSchemaCompatibilityMultiple --------------------------------------------------------

#[test]
fn java_multiple_incompatibilities() {
    let reader = r#"{"type": "record", "name": "base", "fields": [
        {"name": "check_enum_symbols_field", "type": {"type": "enum", "name": "check_enum_symbols_type", "symbols": ["A", "C"]}},
        {"name": "check_enum_name_field", "type": {"type": "enum", "name": "check_enum_name_type", "symbols": ["A", "B", "C", "D"]}},
        {"name": "type_mismatch_field", "type": "string"},
        {"name": "sub_record", "type": {"type": "record", "name": "sub_record_type", "fields": [
            {"name": "identical_1_field", "type": "long", "default": 42},
            {"name": "extra_no_default_field", "type": "long"},
            {"name": "fixed_length_mismatch_field", "type": {"type": "fixed", "name": "fixed_length_mismatch_type", "size": 4}},
            {"name": "union_missing_branches_field", "type": ["boolean"]},
            {"name": "reader_union_does_not_support_type_field", "type": ["boolean"]},
            {"name": "record_fqn_mismatch_field", "type": {"type": "record", "name": "recordA", "namespace": "not_nsA", "fields": [
                {"name": "A_field_0", "type": "boolean", "default": true},
                {"name": "array_type_mismatch_field", "type": {"type": "array", "items": "string"}}]}}]}}]}"#;
    let writer = r#"{"type": "record", "name": "base", "fields": [
        {"name": "check_enum_symbols_field", "type": {"type": "enum", "name": "check_enum_symbols_type", "symbols": ["A", "B", "C", "D"]}},
        {"name": "check_enum_name_field", "type": {"type": "enum", "name": "check_enum_name_type_ERR", "symbols": ["A", "B", "C", "D"]}},
        {"name": "type_mismatch_field", "type": "long"},
        {"name": "sub_record", "type": {"type": "record", "name": "sub_record_type", "fields": [
            {"name": "identical_1_field", "type": "long", "default": 42},
            {"name": "fixed_length_mismatch_field", "type": {"type": "fixed", "name": "fixed_length_mismatch_type", "size": 8}},
            {"name": "union_missing_branches_field", "type": ["boolean", "double", "string"]},
            {"name": "reader_union_does_not_support_type_field", "type": "long"},
            {"name": "record_fqn_mismatch_field", "type": {"type": "record", "name": "recordA", "namespace": "nsA", "fields": [
                {"name": "A_field_0", "type": "boolean", "default": true},
                {"name": "array_type_mismatch_field", "type": {"type": "array", "items": "boolean"}}]}}]}}]}"#;
    expect(
        reader,
        writer,
        &[
            (MissingEnumSymbols, "/fields/0/type/symbols", "[B, D]"),
            (
                NameMismatch,
                "/fields/1/type/name",
                "expected: check_enum_name_type_ERR",
            ),
            (
                TypeMismatch,
                "/fields/2/type",
                "reader type: STRING not compatible with writer type: LONG",
            ),
            (
                ReaderFieldMissingDefaultValue,
                "/fields/3/type/fields/1",
                "extra_no_default_field",
            ),
            (
                FixedSizeMismatch,
                "/fields/3/type/fields/2/type/size",
                "expected: 8, found: 4",
            ),
            (
                MissingUnionBranch,
                "/fields/3/type/fields/3/type/1",
                "reader union lacking writer type: DOUBLE",
            ),
            (
                MissingUnionBranch,
                "/fields/3/type/fields/3/type/2",
                "reader union lacking writer type: STRING",
            ),
            (
                MissingUnionBranch,
                "/fields/3/type/fields/4/type",
                "reader union lacking writer type: LONG",
            ),
            (
                TypeMismatch,
                "/fields/3/type/fields/5/type/fields/1/type/items",
                "reader type: STRING not compatible with writer type: BOOLEAN",
            ),
        ],
    );
}

// ---- quirks Java's tests do not spell out, from SchemaCompatibility.java --------------------

#[test]
fn java_int_in_union_promotions() {
    // A writer int inside a union is read by any promoting reader branch, and by a promoting
    // non-union reader.
    expect(r#"["null", "double"]"#, r#"["null", "int"]"#, &[]);
    expect(r#"["string", "long"]"#, r#""int""#, &[]);
    expect(r#""float""#, r#"["int", "long"]"#, &[]);
    // But a null branch is not readable by a non-null reader.
    expect(
        LONG,
        r#"["null", "int"]"#,
        &[(
            TypeMismatch,
            "/0",
            "reader type: LONG not compatible with writer type: NULL",
        )],
    );
}

#[test]
fn java_record_aliases_and_namespaces() {
    // schemaNameEquals: unqualified names, or the writer's full name among the reader's aliases.
    expect(
        r#"{"type": "record", "name": "a.Customer", "fields": []}"#,
        r#"{"type": "record", "name": "b.Customer", "fields": []}"#,
        &[],
    );
    expect(
        r#"{"type": "record", "name": "a.Client", "aliases": ["b.Customer"], "fields": []}"#,
        r#"{"type": "record", "name": "b.Customer", "fields": []}"#,
        &[],
    );
    // An alias matches a full name only: `Customer` in the reader's namespace is `a.Customer`.
    expect(
        r#"{"type": "record", "name": "a.Client", "aliases": ["Customer"], "fields": []}"#,
        r#"{"type": "record", "name": "b.Customer", "fields": []}"#,
        &[(NameMismatch, "/name", "expected: b.Customer")],
    );
    // Field aliases find the writer field.
    expect(
        r#"{"type": "record", "name": "R", "fields": [{"name": "new_name", "aliases": ["old_name"], "type": "long"}]}"#,
        r#"{"type": "record", "name": "R", "fields": [{"name": "old_name", "type": "int"}]}"#,
        &[],
    );
}

#[test]
fn java_recursive_records_through_unions() {
    let reader = s(r#"{"type": "record", "name": "Node", "fields": [
        {"name": "value", "type": "long"},
        {"name": "children", "type": {"type": "array", "items": "Node"}},
        {"name": "next", "type": ["null", "Node"]}]}"#);
    let writer = s(r#"{"type": "record", "name": "Node", "fields": [
        {"name": "value", "type": "int"},
        {"name": "children", "type": {"type": "array", "items": "Node"}},
        {"name": "next", "type": ["null", "Node"]}]}"#);
    assert!(found(&reader, &writer).is_empty());
    let view = java_view(&writer, &reader);
    assert_eq!(
        view,
        [(
            TypeMismatch,
            "/fields/0/type".to_string(),
            "reader type: INT not compatible with writer type: LONG".to_string()
        )]
    );
}
