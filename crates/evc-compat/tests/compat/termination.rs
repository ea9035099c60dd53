//! Recursive and mutually recursive types terminate, with Java's verdicts (no timing asserted).

use evc_compat::{check, IncompatibilityKind};

use super::{found, s};

/// A record of 50 fields, many of them referring back to the record itself.
fn fifty_fields(id_type: &str) -> String {
    let mut fields = Vec::new();
    for i in 0..50 {
        let ty = match i % 10 {
            0 => format!(r#""{id_type}""#),
            1 => r#"["null", "Big"]"#.to_string(),
            2 => r#"{"type": "array", "items": "Big"}"#.to_string(),
            3 => r#"{"type": "map", "values": ["null", "Big", "string"]}"#.to_string(),
            4 => r#""string""#.to_string(),
            5 => format!(
                r#"{{"type": "record", "name": "Inner{i}", "fields": [{{"name": "up", "type": ["null", "Big"]}}]}}"#
            ),
            6 => format!(r#"{{"type": "enum", "name": "E{i}", "symbols": ["A", "B"]}}"#),
            7 => format!(r#"{{"type": "fixed", "name": "F{i}", "size": 8}}"#),
            8 => r#"["null", {"type": "array", "items": ["null", "Big"]}]"#.to_string(),
            _ => r#""double""#.to_string(),
        };
        fields.push(format!(r#"{{"name": "f{i}", "type": {ty}}}"#));
    }
    format!(
        r#"{{"type": "record", "name": "Big", "fields": [{}]}}"#,
        fields.join(", ")
    )
}

#[test]
fn a_fifty_field_recursive_record_checked_against_itself_many_times() {
    let big = s(&fifty_fields("long"));
    for _ in 0..200 {
        assert!(check(&big, &big).unwrap().is_empty());
    }
}

#[test]
fn a_fifty_field_recursive_record_with_a_change_reports_each_field_once() {
    let reader = s(&fifty_fields("int"));
    let writer = s(&fifty_fields("long"));
    let f = found(&reader, &writer);
    let locations: Vec<_> = f.iter().map(|i| i.location.as_str()).collect();
    // f0, f10, f20, f30, f40 narrow long to int; recursion through `Big` counts as compatible.
    assert_eq!(
        locations,
        [
            "/fields/0/type",
            "/fields/10/type",
            "/fields/20/type",
            "/fields/30/type",
            "/fields/40/type"
        ]
    );
    assert!(f
        .iter()
        .all(|i| i.kind == IncompatibilityKind::TypeMismatch));
    assert!(found(&writer, &reader).is_empty());
}

#[test]
fn mutually_recursive_records() {
    let a = |leaf: &str| {
        s(&format!(
            r#"{{"type": "record", "name": "A", "fields": [
                {{"name": "b", "type": ["null", {{"type": "record", "name": "B", "fields": [
                    {{"name": "leaf", "type": "{leaf}"}},
                    {{"name": "a", "type": ["null", "A"]}}]}}]}},
                {{"name": "bs", "type": {{"type": "array", "items": "B"}}}}]}}"#
        ))
    };
    let (int, long) = (a("int"), a("long"));
    assert!(found(&long, &int).is_empty());
    assert!(found(&int, &int).is_empty());
    let f = found(&int, &long);
    let got: Vec<_> = f.iter().map(|i| (i.kind, i.location.as_str())).collect();
    // Through the union the leaf problem becomes a missing branch; through the array it is
    // reported where the array's items lead. (Java memoized the B pair while trying the union
    // branches, on a fresh location stack, and would report `/fields/0/type` here.)
    assert_eq!(
        got,
        [
            (IncompatibilityKind::MissingUnionBranch, "/fields/0/type/1"),
            (
                IncompatibilityKind::TypeMismatch,
                "/fields/1/type/items/fields/0/type"
            ),
        ]
    );
}

#[test]
fn deeply_nested_records_do_not_overflow() {
    // 40 levels of nested records (the JSON reader allows 128 levels of nesting).
    let mut ty = r#""int""#.to_string();
    for i in 0..40 {
        ty = format!(
            r#"{{"type": "record", "name": "N{i}", "fields": [{{"name": "x", "type": {ty}}}]}}"#
        );
    }
    let reader = s(&ty);
    let writer = s(&ty.replace(r#""int""#, r#""string""#));
    let f = found(&reader, &writer);
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].location,
        format!("/{}", ["fields/0/type"; 40].join("/"))
    );
}
