//! Confluent's seven modes over 3-version histories.

use evc_compat::{
    check_mode, CheckError, Direction, IncompatibilityKind, Mode, ModeIncompatibility,
};
use evc_schema::Schema;
use Direction::{Backward, Forward};
use IncompatibilityKind::*;

use super::s;

/// v1: `id` is an int.
const V1: &str = r#"{"type": "record", "name": "User", "fields": [{"name": "id", "type": "int"}]}"#;
/// v2: `id` widened to long (v2 reads v1; v1 cannot read v2).
const V2: &str =
    r#"{"type": "record", "name": "User", "fields": [{"name": "id", "type": "long"}]}"#;
/// v3: adds `tag` with a default.
const V3: &str = r#"{"type": "record", "name": "User", "fields": [
    {"name": "id", "type": "long"}, {"name": "tag", "type": "string", "default": "x"}]}"#;

fn history() -> Vec<Schema> {
    vec![s(V1), s(V2), s(V3)]
}

type Row = (usize, Direction, IncompatibilityKind, String);

fn run(mode: Mode, new: &str) -> Vec<Row> {
    check_mode(mode, &s(new), &history())
        .expect("checks complete")
        .into_iter()
        .map(|m: ModeIncompatibility| {
            (
                m.existing_index,
                m.direction,
                m.incompatibility.kind,
                m.incompatibility.location,
            )
        })
        .collect()
}

fn row(i: usize, d: Direction, k: IncompatibilityKind, loc: &str) -> Row {
    (i, d, k, loc.to_string())
}

/// Checks a new schema under all seven modes.
fn table(new: &str, want: [(Mode, Vec<Row>); 7]) {
    for (mode, expected) in want {
        assert_eq!(run(mode, new), expected, "mode {mode}, new schema {new}");
    }
}

#[test]
fn adding_an_optional_field() {
    // Every existing version reads it except v1 (its `id` is an int), and it reads them all.
    let new = r#"{"type": "record", "name": "User", "fields": [
        {"name": "id", "type": "long"}, {"name": "tag", "type": "string", "default": "x"},
        {"name": "note", "type": ["null", "string"], "default": null}]}"#;
    table(
        new,
        [
            (Mode::None, vec![]),
            (Mode::Backward, vec![]),
            (Mode::BackwardTransitive, vec![]),
            (Mode::Forward, vec![]),
            (
                Mode::ForwardTransitive,
                vec![row(0, Forward, TypeMismatch, "/fields/0/type")],
            ),
            (Mode::Full, vec![]),
            (
                Mode::FullTransitive,
                vec![row(0, Forward, TypeMismatch, "/fields/0/type")],
            ),
        ],
    );
}

#[test]
fn adding_a_required_field_stops_at_the_newest_failing_version() {
    // `tag` without a default: reads v3, but not v2 nor v1 (which lack `tag`). Transitive
    // checks go newest first and stop at v2, the first that fails.
    let new = r#"{"type": "record", "name": "User", "fields": [
        {"name": "id", "type": "long"}, {"name": "tag", "type": "string"}]}"#;
    table(
        new,
        [
            (Mode::None, vec![]),
            (Mode::Backward, vec![]),
            (
                Mode::BackwardTransitive,
                vec![row(
                    1,
                    Backward,
                    ReaderFieldMissingDefaultValue,
                    "/fields/1",
                )],
            ),
            (Mode::Forward, vec![]),
            (
                Mode::ForwardTransitive,
                vec![row(0, Forward, TypeMismatch, "/fields/0/type")],
            ),
            (Mode::Full, vec![]),
            (
                Mode::FullTransitive,
                vec![row(
                    1,
                    Backward,
                    ReaderFieldMissingDefaultValue,
                    "/fields/1",
                )],
            ),
        ],
    );
}

#[test]
fn narrowing_a_field() {
    // `id` back to int: old versions read it (int promotes), it cannot read v2 or v3.
    let new = r#"{"type": "record", "name": "User", "fields": [
        {"name": "id", "type": "int"}, {"name": "tag", "type": "string", "default": "x"}]}"#;
    table(
        new,
        [
            (Mode::None, vec![]),
            (
                Mode::Backward,
                vec![row(2, Backward, TypeMismatch, "/fields/0/type")],
            ),
            (
                Mode::BackwardTransitive,
                vec![row(2, Backward, TypeMismatch, "/fields/0/type")],
            ),
            (Mode::Forward, vec![]),
            (Mode::ForwardTransitive, vec![]),
            (
                Mode::Full,
                vec![row(2, Backward, TypeMismatch, "/fields/0/type")],
            ),
            (
                Mode::FullTransitive,
                vec![row(2, Backward, TypeMismatch, "/fields/0/type")],
            ),
        ],
    );
}

#[test]
fn changing_a_type_fails_both_ways_forward_reported_first() {
    // Confluent's FULL checks "existing reads new" before "new reads existing".
    let new = r#"{"type": "record", "name": "User", "fields": [
        {"name": "id", "type": "string"}, {"name": "tag", "type": "string", "default": "x"}]}"#;
    let both = vec![
        row(2, Forward, TypeMismatch, "/fields/0/type"),
        row(2, Backward, TypeMismatch, "/fields/0/type"),
    ];
    table(
        new,
        [
            (Mode::None, vec![]),
            (
                Mode::Backward,
                vec![row(2, Backward, TypeMismatch, "/fields/0/type")],
            ),
            (
                Mode::BackwardTransitive,
                vec![row(2, Backward, TypeMismatch, "/fields/0/type")],
            ),
            (
                Mode::Forward,
                vec![row(2, Forward, TypeMismatch, "/fields/0/type")],
            ),
            (
                Mode::ForwardTransitive,
                vec![row(2, Forward, TypeMismatch, "/fields/0/type")],
            ),
            (Mode::Full, both.clone()),
            (Mode::FullTransitive, both),
        ],
    );
}

#[test]
fn forward_locations_point_into_the_existing_version() {
    // Removing `tag` (which has a default in v3) is fine; removing `id` is not FORWARD: v3 has
    // no default for it.
    let new = r#"{"type": "record", "name": "User", "fields": [
        {"name": "tag", "type": "string", "default": "x"}]}"#;
    let existing = history();
    let found = check_mode(Mode::Forward, &s(new), &existing).unwrap();
    assert_eq!(found.len(), 1);
    let m = &found[0];
    assert_eq!((m.existing_index, m.direction), (2, Forward));
    assert!(!m.in_new_schema());
    assert_eq!(m.incompatibility.location, "/fields/0");
    // The span is in v3's text.
    let inc = &m.incompatibility;
    assert_eq!(
        &V3[inc.span.start..inc.span.end],
        r#"{"name": "id", "type": "long"}"#
    );
    assert!(m
        .to_string()
        .contains("FORWARD against existing version #2"));
    // BACKWARD has nothing to say.
    assert!(check_mode(Mode::Backward, &s(new), &existing)
        .unwrap()
        .is_empty());
}

#[test]
fn none_and_empty_histories_accept_anything() {
    let unrelated = s(r#""boolean""#);
    for mode in Mode::ALL {
        assert!(check_mode(mode, &unrelated, &[] as &[Schema])
            .unwrap()
            .is_empty());
    }
    assert!(check_mode(Mode::None, &unrelated, &history())
        .unwrap()
        .is_empty());
    assert_eq!(
        check_mode(Mode::FullTransitive, &unrelated, &history())
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_check_that_cannot_complete_is_an_error_naming_the_version() {
    let new = s(r#"{"type": "record", "name": "User", "fields": [
        {"name": "id", "aliases": ["tag"], "type": "long"}]}"#);
    let err = check_mode(Mode::Backward, &new, &history()).unwrap_err();
    assert_eq!((err.existing_index, err.direction), (2, Backward));
    assert!(matches!(err.source, CheckError::AmbiguousField(_)));
    assert!(err.to_string().contains("#2"), "{err}");
    // Against v2 alone the alias is harmless.
    assert!(check_mode(Mode::Backward, &new, &[s(V1), s(V2)])
        .unwrap()
        .is_empty());
}

#[test]
fn modes_parse_case_insensitively_and_print_confluent_names() {
    let names = [
        "NONE",
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
    ];
    for (mode, name) in Mode::ALL.into_iter().zip(names) {
        assert_eq!(mode.to_string(), name);
        assert_eq!(name.parse::<Mode>().unwrap(), mode);
        assert_eq!(name.to_lowercase().parse::<Mode>().unwrap(), mode);
        assert_eq!(serde_json::to_string(&mode).unwrap(), format!("\"{name}\""));
        assert_eq!(
            serde_json::from_str::<Mode>(&format!("\"{}\"", name.to_lowercase())).unwrap(),
            mode
        );
    }
    assert_eq!(" Full ".parse::<Mode>().unwrap(), Mode::Full);
    let err = "FULLY".parse::<Mode>().unwrap_err();
    assert!(err.to_string().contains("FULLY"));
    assert!(serde_json::from_str::<Mode>("\"sideways\"").is_err());
    assert_eq!(Mode::default(), Mode::Backward);
}

#[test]
fn mode_properties() {
    let transitive: Vec<_> = Mode::ALL
        .into_iter()
        .filter(|m| m.is_transitive())
        .collect();
    assert_eq!(
        transitive,
        [
            Mode::BackwardTransitive,
            Mode::ForwardTransitive,
            Mode::FullTransitive
        ]
    );
    let backward: Vec<_> = Mode::ALL
        .into_iter()
        .filter(|m| m.checks_backward())
        .collect();
    assert_eq!(
        backward,
        [
            Mode::Backward,
            Mode::BackwardTransitive,
            Mode::Full,
            Mode::FullTransitive
        ]
    );
    let forward: Vec<_> = Mode::ALL
        .into_iter()
        .filter(|m| m.checks_forward())
        .collect();
    assert_eq!(
        forward,
        [
            Mode::Forward,
            Mode::ForwardTransitive,
            Mode::Full,
            Mode::FullTransitive
        ]
    );
}
