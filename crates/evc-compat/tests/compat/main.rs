//! Integration tests of evc-compat, in one test binary (one link, not five).

mod java_cases;
mod modes;
mod resolution_prop;
mod rules;
mod termination;

use evc_compat::{check, Incompatibility, IncompatibilityKind};
use evc_schema::Schema;

/// Parses a schema or panics with the parser's message.
pub fn s(text: &str) -> Schema {
    Schema::parse(text).unwrap_or_else(|e| panic!("bad test schema: {e}\n{text}"))
}

/// `check` that must not fail outright.
pub fn found(reader: &Schema, writer: &Schema) -> Vec<Incompatibility> {
    check(reader, writer).expect("check completes")
}

/// (kind, location) of each incompatibility, in order.
pub fn kinds_at(reader: &str, writer: &str) -> Vec<(IncompatibilityKind, String)> {
    found(&s(reader), &s(writer))
        .into_iter()
        .map(|i| (i.kind, i.location))
        .collect()
}

/// (kind, location, Java's message) of each incompatibility, in order.
pub fn java_view(reader: &Schema, writer: &Schema) -> Vec<(IncompatibilityKind, String, String)> {
    found(reader, writer)
        .into_iter()
        .map(|i| (i.kind, i.location.clone(), i.java_message()))
        .collect()
}

pub fn assert_compatible(reader: &str, writer: &str) {
    let f = found(&s(reader), &s(writer));
    assert!(
        f.is_empty(),
        "expected reader {reader} to read writer {writer}, found: {f:#?}"
    );
}
