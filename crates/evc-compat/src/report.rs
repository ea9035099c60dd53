//! What a compatibility check reports: [`Incompatibility`], its [`IncompatibilityKind`] and
//! [`Detail`], and the one way a check can fail outright, [`CheckError`].

use std::fmt;
use std::str::FromStr;

use evc_schema::json::Span;
use serde::{Deserialize, Serialize};

/// The six kinds of incompatibility, named as Avro Java's
/// `SchemaCompatibility.SchemaIncompatibilityType` names them (and so as Confluent Schema Registry
/// reports them).
///
/// Deliberately exhaustive (not `#[non_exhaustive]`): it mirrors Java's closed enum, so a kind
/// added there is a breaking change here and every `match` on it (the gate maps each kind to its
/// diagnostic code) fails to compile until it handles the new kind.
///
/// `Display`, `FromStr` and serde all use the Java names:
///
/// ```
/// use evc_compat::IncompatibilityKind;
///
/// let kind: IncompatibilityKind = "READER_FIELD_MISSING_DEFAULT_VALUE".parse().unwrap();
/// assert_eq!(kind, IncompatibilityKind::ReaderFieldMissingDefaultValue);
/// assert_eq!(kind.to_string(), "READER_FIELD_MISSING_DEFAULT_VALUE");
/// assert_eq!(serde_json::to_string(&IncompatibilityKind::TypeMismatch).unwrap(), r#""TYPE_MISMATCH""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncompatibilityKind {
    /// Two records, enums or fixed types whose names do not match.
    NameMismatch,
    /// Two fixed types of different sizes.
    FixedSizeMismatch,
    /// The writer's enum has symbols the reader's lacks, and the reader's enum has no default.
    MissingEnumSymbols,
    /// A reader field the writer does not have, with no default value.
    ReaderFieldMissingDefaultValue,
    /// Two types that do not resolve (and are not a permitted promotion).
    TypeMismatch,
    /// A reader union with no branch that can read (a branch of) the writer's type.
    MissingUnionBranch,
}

impl IncompatibilityKind {
    /// Every kind, in Java's declaration order.
    pub const ALL: [IncompatibilityKind; 6] = [
        IncompatibilityKind::NameMismatch,
        IncompatibilityKind::FixedSizeMismatch,
        IncompatibilityKind::MissingEnumSymbols,
        IncompatibilityKind::ReaderFieldMissingDefaultValue,
        IncompatibilityKind::TypeMismatch,
        IncompatibilityKind::MissingUnionBranch,
    ];

    /// The Java name, e.g. `"NAME_MISMATCH"`.
    pub fn as_str(self) -> &'static str {
        match self {
            IncompatibilityKind::NameMismatch => "NAME_MISMATCH",
            IncompatibilityKind::FixedSizeMismatch => "FIXED_SIZE_MISMATCH",
            IncompatibilityKind::MissingEnumSymbols => "MISSING_ENUM_SYMBOLS",
            IncompatibilityKind::ReaderFieldMissingDefaultValue => {
                "READER_FIELD_MISSING_DEFAULT_VALUE"
            }
            IncompatibilityKind::TypeMismatch => "TYPE_MISMATCH",
            IncompatibilityKind::MissingUnionBranch => "MISSING_UNION_BRANCH",
        }
    }
}

impl fmt::Display for IncompatibilityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of the six Java incompatibility names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown incompatibility kind `{0}` (expected one of NAME_MISMATCH, FIXED_SIZE_MISMATCH, MISSING_ENUM_SYMBOLS, READER_FIELD_MISSING_DEFAULT_VALUE, TYPE_MISMATCH, MISSING_UNION_BRANCH)")]
pub struct ParseKindError(pub String);

impl FromStr for IncompatibilityKind {
    type Err = ParseKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IncompatibilityKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ParseKindError(s.to_string()))
    }
}

/// The Avro type of a schema node, as Avro Java's `Schema.Type` names it.
///
/// Logical types are not kinds of their own: a `timestamp-millis` is a [`AvroType::Long`], as in
/// Java (whose compatibility check ignores logical types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AvroType {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Array,
    Map,
    Union,
    Record,
    Enum,
    Fixed,
}

impl AvroType {
    /// The Avro name: `"int"`, `"record"`, ...
    pub fn name(self) -> &'static str {
        match self {
            AvroType::Null => "null",
            AvroType::Boolean => "boolean",
            AvroType::Int => "int",
            AvroType::Long => "long",
            AvroType::Float => "float",
            AvroType::Double => "double",
            AvroType::Bytes => "bytes",
            AvroType::String => "string",
            AvroType::Array => "array",
            AvroType::Map => "map",
            AvroType::Union => "union",
            AvroType::Record => "record",
            AvroType::Enum => "enum",
            AvroType::Fixed => "fixed",
        }
    }

    /// Java's `Schema.Type` constant name: `"INT"`, `"RECORD"`, ...
    pub fn java_name(self) -> &'static str {
        match self {
            AvroType::Null => "NULL",
            AvroType::Boolean => "BOOLEAN",
            AvroType::Int => "INT",
            AvroType::Long => "LONG",
            AvroType::Float => "FLOAT",
            AvroType::Double => "DOUBLE",
            AvroType::Bytes => "BYTES",
            AvroType::String => "STRING",
            AvroType::Array => "ARRAY",
            AvroType::Map => "MAP",
            AvroType::Union => "UNION",
            AvroType::Record => "RECORD",
            AvroType::Enum => "ENUM",
            AvroType::Fixed => "FIXED",
        }
    }
}

impl fmt::Display for AvroType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Kind-specific facts about an incompatibility, for hints and tooling.
///
/// Names of named types are full names (`namespace.Name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detail {
    /// See [`IncompatibilityKind::NameMismatch`].
    NameMismatch {
        /// What the reader's type is (`record`, `enum` or `fixed`).
        reader_type: AvroType,
        reader_name: String,
        writer_name: String,
        /// The reader type's aliases (full names); adding `writer_name` here would fix it.
        reader_aliases: Vec<String>,
    },
    /// See [`IncompatibilityKind::FixedSizeMismatch`].
    FixedSizeMismatch {
        reader_name: String,
        reader_size: usize,
        writer_size: usize,
    },
    /// See [`IncompatibilityKind::MissingEnumSymbols`].
    MissingEnumSymbols {
        reader_enum: String,
        writer_enum: String,
        /// Writer symbols the reader lacks, sorted.
        missing: Vec<String>,
    },
    /// See [`IncompatibilityKind::ReaderFieldMissingDefaultValue`].
    ReaderFieldMissingDefaultValue {
        /// The reader's record.
        record: String,
        /// The reader field that has no default.
        field: String,
        /// The writer's record, which has no field of that name or of any of its aliases.
        writer_record: String,
    },
    /// See [`IncompatibilityKind::TypeMismatch`].
    TypeMismatch {
        reader_type: AvroType,
        writer_type: AvroType,
        /// The reader's type, described (`array<int>`, ``record `a.B` ``, ...).
        reader: String,
        /// The writer's type, described.
        writer: String,
    },
    /// See [`IncompatibilityKind::MissingUnionBranch`].
    MissingUnionBranch {
        /// The type of the writer's value that no reader branch reads.
        writer_type: AvroType,
        /// That type, described.
        writer: String,
        /// When the writer's type is a union too: the index of its branch that is not read.
        writer_branch: Option<usize>,
        /// The reader union's branches, described.
        reader_branches: Vec<String>,
    },
}

impl Detail {
    /// The kind this detail belongs to.
    pub fn kind(&self) -> IncompatibilityKind {
        match self {
            Detail::NameMismatch { .. } => IncompatibilityKind::NameMismatch,
            Detail::FixedSizeMismatch { .. } => IncompatibilityKind::FixedSizeMismatch,
            Detail::MissingEnumSymbols { .. } => IncompatibilityKind::MissingEnumSymbols,
            Detail::ReaderFieldMissingDefaultValue { .. } => {
                IncompatibilityKind::ReaderFieldMissingDefaultValue
            }
            Detail::TypeMismatch { .. } => IncompatibilityKind::TypeMismatch,
            Detail::MissingUnionBranch { .. } => IncompatibilityKind::MissingUnionBranch,
        }
    }
}

/// One reason why data written with the writer schema may fail to decode with the reader schema.
///
/// ```
/// use evc_compat::{check, IncompatibilityKind};
/// use evc_schema::Schema;
///
/// let reader = Schema::parse(r#"{"type": "record", "name": "Order", "fields": [
///     {"name": "id", "type": "string"},
///     {"name": "total", "type": "int"}]}"#).unwrap();
/// let writer = Schema::parse(r#"{"type": "record", "name": "Order", "fields": [
///     {"name": "id", "type": "string"}]}"#).unwrap();
///
/// let found = check(&reader, &writer).unwrap();
/// assert_eq!(found.len(), 1);
/// let problem = &found[0];
/// assert_eq!(problem.kind, IncompatibilityKind::ReaderFieldMissingDefaultValue);
/// assert_eq!(problem.location, "/fields/1");
/// assert_eq!(problem.java_message(), "total");
/// // The span is the reader field's JSON object in the reader's source text.
/// let text = r#"{"type": "record", "name": "Order", "fields": [
///     {"name": "id", "type": "string"},
///     {"name": "total", "type": "int"}]}"#;
/// assert_eq!(&text[problem.span.start..problem.span.end], r#"{"name": "total", "type": "int"}"#);
/// println!("{problem}");
/// // READER_FIELD_MISSING_DEFAULT_VALUE at /fields/1: reader field `total` of record `Order` ...
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incompatibility {
    /// What kind of incompatibility (Java's name).
    pub kind: IncompatibilityKind,
    /// JSON pointer into the **reader** schema, formed as Avro Java forms it: `/` for the root,
    /// then `fields/<i>`, `type`, `items`, `values`, `name`, `size`, `symbols` and union branch
    /// indexes along the path the check took. See the crate docs for the details.
    pub location: String,
    /// A sentence a person understands: what the reader expected and what the writer has.
    pub message: String,
    /// Bytes of the reader's source text this is about (see the crate docs for which node).
    #[serde(with = "span_serde")]
    pub span: Span,
    /// `span` is in the text of a referenced schema (a named type the reader imported), not in
    /// the reader's own text.
    pub span_in_reference: bool,
    /// Kind-specific facts, for hints.
    pub detail: Detail,
}

impl Incompatibility {
    /// The message Avro Java puts on this incompatibility (`Incompatibility.getMessage()`), e.g.
    /// `"expected: ns.Other"`, `"[C, D]"`, `"reader type: INT not compatible with writer type:
    /// LONG"`, or the bare field name for a missing default. Confluent Schema Registry shows it
    /// as the `description` of a difference.
    ///
    /// ```
    /// use evc_compat::check;
    /// use evc_schema::Schema;
    ///
    /// let found = check(&Schema::parse(r#""int""#).unwrap(), &Schema::parse(r#""long""#).unwrap()).unwrap();
    /// assert_eq!(found[0].java_message(), "reader type: INT not compatible with writer type: LONG");
    /// ```
    pub fn java_message(&self) -> String {
        match &self.detail {
            Detail::NameMismatch { writer_name, .. } => format!("expected: {writer_name}"),
            Detail::FixedSizeMismatch {
                reader_size,
                writer_size,
                ..
            } => format!("expected: {writer_size}, found: {reader_size}"),
            Detail::MissingEnumSymbols { missing, .. } => format!("[{}]", missing.join(", ")),
            Detail::ReaderFieldMissingDefaultValue { field, .. } => field.clone(),
            Detail::TypeMismatch {
                reader_type,
                writer_type,
                ..
            } => format!(
                "reader type: {} not compatible with writer type: {}",
                reader_type.java_name(),
                writer_type.java_name()
            ),
            Detail::MissingUnionBranch { writer_type, .. } => format!(
                "reader union lacking writer type: {}",
                writer_type.java_name()
            ),
        }
    }
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}: {}", self.kind, self.location, self.message)
    }
}

/// A check that could not be completed.
///
/// Avro Java throws in this situation (`AvroRuntimeException` from
/// `SchemaCompatibility.lookupWriterField`); Confluent Schema Registry catches it and reports
/// the schemas as incompatible ("Unexpected exception during compatibility check").
///
/// ```
/// use evc_compat::{check, CheckError};
/// use evc_schema::Schema;
///
/// // The reader field `b` (alias `a`) matches both writer fields `a` and `b`.
/// let reader = Schema::parse(r#"{"type": "record", "name": "R", "fields": [
///     {"name": "b", "aliases": ["a"], "type": "int"}]}"#).unwrap();
/// let writer = Schema::parse(r#"{"type": "record", "name": "R", "fields": [
///     {"name": "a", "type": "int"}, {"name": "b", "type": "int"}]}"#).unwrap();
/// let Err(CheckError::AmbiguousField(ambiguous)) = check(&reader, &writer) else {
///     panic!("the field is ambiguous")
/// };
/// assert_eq!(ambiguous.field, "b");
/// assert_eq!(ambiguous.writer_fields, ["b", "a"]);
/// assert_eq!(ambiguous.location, "/fields/0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// A reader field matches more than one writer field by its name and aliases (or names the
    /// same writer field twice).
    #[error(transparent)]
    AmbiguousField(Box<AmbiguousField>),
}

/// See [`CheckError::AmbiguousField`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reader field `{field}` of record `{record}` matches more than one field of the writer's record `{writer_record}` by its name and aliases ({}), so which one to read is ambiguous", .writer_fields.join(", "))]
pub struct AmbiguousField {
    /// The reader's record.
    pub record: String,
    /// The reader field.
    pub field: String,
    /// The writer's record.
    pub writer_record: String,
    /// The writer fields it matches, in lookup order (its name first, then its aliases).
    pub writer_fields: Vec<String>,
    /// Location of the reader field, as in [`Incompatibility::location`].
    pub location: String,
    /// The reader field's JSON object.
    pub span: Span,
    /// `span` is in a referenced schema's text.
    pub span_in_reference: bool,
}

mod span_serde {
    use evc_schema::json::Span;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Repr {
        start: usize,
        end: usize,
    }

    pub fn serialize<S: Serializer>(span: &Span, s: S) -> Result<S::Ok, S::Error> {
        Repr {
            start: span.start,
            end: span.end,
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let r = Repr::deserialize(d)?;
        Ok(Span::new(r.start, r.end))
    }
}
