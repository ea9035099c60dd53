//! Avro schema compatibility, judged as Apache Avro Java and Confluent Schema Registry judge it.
//!
//! **Owns:** the reader/writer compatibility check of Avro schema resolution ([`check`]), with
//! verdicts and incompatibility reports that match Avro Java's
//! `org.apache.avro.SchemaCompatibility` (what Confluent Schema Registry runs), and Confluent's
//! seven compatibility modes over a subject's version history ([`check_mode`], [`Mode`]).
//!
//! **Does not own:** reading schema files or directories (`evc-catalog`), the command line, or
//! talking to a schema registry. It is a pure library: no I/O. Schemas come parsed, as
//! [`evc_schema::Schema`].
//!
//! # Quick start
//!
//! ```
//! use evc_compat::{check, check_mode, IncompatibilityKind, Mode};
//! use evc_schema::Schema;
//!
//! let v1 = Schema::parse(r#"{"type": "record", "name": "Order", "namespace": "shop", "fields": [
//!     {"name": "id", "type": "string"},
//!     {"name": "qty", "type": "int"}]}"#).unwrap();
//! let v2 = Schema::parse(r#"{"type": "record", "name": "Order", "namespace": "shop", "fields": [
//!     {"name": "id", "type": "string"},
//!     {"name": "qty", "type": "long"},
//!     {"name": "coupon", "type": ["null", "string"], "default": null}]}"#).unwrap();
//!
//! // Reader v2, writer v1: compatible (int promotes to long; `coupon` has a default).
//! assert!(check(&v2, &v1).unwrap().is_empty());
//!
//! // Under FULL, v1 must also read v2's data, and it cannot: long does not narrow to int.
//! let found = check_mode(Mode::Full, &v2, &[v1]).unwrap();
//! assert_eq!(found.len(), 1);
//! assert_eq!(found[0].incompatibility.kind, IncompatibilityKind::TypeMismatch);
//! assert_eq!(found[0].incompatibility.location, "/fields/1/type");
//! assert!(!found[0].in_new_schema()); // the location is in v1, the reader of that check
//! ```
//!
//! # Locations
//!
//! [`Incompatibility::location`] is a JSON pointer into the **reader** schema, built exactly as
//! Java's `Incompatibility.getLocation()` builds it from the path the check walked:
//!
//! * `/` is the root;
//! * a record adds `fields/<i>` for its `i`-th reader field, then `type` for the field's type
//!   (a reader field missing a default stops at `/fields/<i>`);
//! * arrays add `items`, maps `values`;
//! * a name mismatch ends in `name`, a fixed size mismatch in `size`, missing enum symbols in
//!   `symbols`;
//! * unions add the index of the **writer's** branch: when the writer is a union, whatever its
//!   branch `i` runs into is reported at the reader's location followed by `/i` (so
//!   `/fields/0/type/1` may point past a non-union reader type: that is Java's format). A
//!   non-union writer that no reader branch reads is reported at the reader union itself.
//!
//! Named types referred to by name are walked as if written out where they are used, so a path
//! goes through the reference (`/fields/1/type/fields/0/type`) even when the definition is
//! elsewhere in the text.
//!
//! [`Incompatibility::span`] is where, in the reader's source text, to look: the type for a type
//! mismatch or missing union branch, the `name` value for a name mismatch, the definition of the
//! fixed or enum for size and symbol problems (the model keeps no span for `size` or `symbols`),
//! the field object for a missing default.
//!
//! # Java behaviour matched, quirks included
//!
//! Each of these is what `SchemaCompatibility.java` (Avro `main`, as released in 1.12) does, and so what
//! Confluent Schema Registry does:
//!
//! * Named types match when their **unqualified** names are equal (namespaces are ignored), or
//!   when the writer's full name is one of the reader's aliases. Writer aliases are not used.
//! * Reader fields find their writer field by name, then by each of the reader field's aliases;
//!   more than one hit is an error ([`CheckError::AmbiguousField`]), as Java throws.
//! * Writer enum symbols missing from the reader are fine whenever the reader enum has a
//!   `default`; the field's own default does not help.
//! * A reader field absent from the writer with no default, whose type is an enum *with* an
//!   enum default, is reported as a `TYPE_MISMATCH` (Java compares that enum with the writer's
//!   record) rather than `READER_FIELD_MISSING_DEFAULT_VALUE`.
//! * A writer union read by a non-union reader reports every failing branch's own
//!   incompatibilities at the reader location plus the branch index; a writer union read by a
//!   union reports one `MISSING_UNION_BRANCH` per unreadable writer branch.
//! * A non-union writer is read by a reader union if any branch reads it (promotions
//!   included); otherwise one `MISSING_UNION_BRANCH` at the union.
//! * Logical types are ignored: a `timestamp-millis` long reads a plain long and vice versa, a
//!   decimal's precision and scale are not compared.
//! * Recursion: reader/writer pairs are memoized by node identity, and a pair met again while
//!   still being checked counts as compatible, so recursive and mutually recursive types
//!   terminate with Java's verdicts and Java's list of incompatibilities.
//!
//! One deliberate difference: when Java meets a pair it has already checked elsewhere, it
//! returns the incompatibilities with the locations of the first visit. This crate reports them
//! at the current location (same kinds, same count, same order).

mod check;
mod mode;
mod report;

pub use check::{check, is_compatible};
pub use evc_schema::json::Span;
pub use mode::{
    check_mode, check_mode_all, Direction, Mode, ModeError, ModeIncompatibility, ParseModeError,
};
pub use report::{
    AmbiguousField, AvroType, CheckError, Detail, Incompatibility, IncompatibilityKind,
    ParseKindError,
};
