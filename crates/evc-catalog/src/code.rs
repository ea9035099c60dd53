//! Every diagnostic code evc's schema tooling emits: one naming scheme, one table.
//!
//! Codes are `SCREAMING_SNAKE_CASE`. The compatibility codes are exactly the names Avro Java's
//! `SchemaCompatibility.SchemaIncompatibilityType` gives them (what Confluent Schema Registry
//! prints in its `messages` and what people search for); every other code follows the same
//! style, as buf's rule ids do (`FIELD_LOWER_SNAKE_CASE`). The page for each code is
//! `docs/diagnostics.md#<code in lower case>`; a test keeps that table and [`Code::ALL`] equal.

use std::fmt;
use std::str::FromStr;

/// Which part of the gate a code comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Family {
    /// Loading the schema directory and `evc.toml` (`evc-catalog`): the tree does not load.
    Load,
    /// A lint rule: switchable in `[lint] disable`.
    Lint,
    /// A subject's history under its compatibility mode (Avro Java's incompatibility kinds).
    Compatibility,
    /// Published versions are append-only (checked against a base git ref).
    Published,
    /// Checked-in generated code is what the schemas generate.
    Generated,
}

impl Family {
    /// Lower-case name, as in the JSON output: `load`, `lint`, `compatibility`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Load => "load",
            Family::Lint => "lint",
            Family::Compatibility => "compatibility",
            Family::Published => "published",
            Family::Generated => "generated",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $family:ident, $meaning:literal; )*) => {
        /// A diagnostic code. Stable: once released, a code keeps its name and meaning.
        ///
        /// ```
        /// use evc_catalog::{Code, Family};
        ///
        /// let code: Code = "READER_FIELD_MISSING_DEFAULT_VALUE".parse().unwrap();
        /// assert_eq!(code, Code::ReaderFieldMissingDefaultValue);
        /// assert_eq!(code.family(), Family::Compatibility);
        /// assert_eq!(Code::FieldDoc.as_str(), "FIELD_DOC");
        /// assert!(Code::FieldDoc.is_lint_rule());
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code {
            $( $(#[$doc])* #[doc = $meaning] $variant, )*
        }

        impl Code {
            /// Every code, in the order of the documented table.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The code as printed: `TYPE_MISMATCH`, `FIELD_DOC`, `VERSION_GAP`, ...
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $name, )* }
            }

            /// What it means, in one line.
            pub fn meaning(self) -> &'static str {
                match self { $( Code::$variant => $meaning, )* }
            }

            /// Which part of the gate emits it.
            pub fn family(self) -> Family {
                match self { $( Code::$variant => Family::$family, )* }
            }
        }
    };
}

codes! {
    ConfigUnreadable = "CONFIG_UNREADABLE", Load,
        "evc.toml cannot be read";
    ConfigInvalid = "CONFIG_INVALID", Load,
        "evc.toml is not valid TOML, has an unknown key, or a value of the wrong type (an unknown compatibility level included)";
    ConfigDuplicateEvent = "CONFIG_DUPLICATE_EVENT", Load,
        "an event is listed under more than one topic";
    ConfigUnknownEvent = "CONFIG_UNKNOWN_EVENT", Load,
        "evc.toml names an event that has no schema folder, or overrides one that no topic lists";
    ConfigUnknownLintRule = "CONFIG_UNKNOWN_LINT_RULE", Load,
        "[lint] disable names something that is not a lint rule";
    ConfigDeprecated = "CONFIG_DEPRECATED", Load,
        "evc.toml uses a spelling that still works but will not forever (a warning)";
    SubjectConflict = "SUBJECT_CONFLICT", Load,
        "two events map to the same registry subject (TopicNameStrategy with several events on a topic)";
    EventNotConfigured = "EVENT_NOT_CONFIGURED", Load,
        "a schema folder that no topic in evc.toml lists";
    PartitionKeyMissing = "PARTITION_KEY_MISSING", Load,
        "a version lacks the field its topic uses as the Kafka key";
    PartitionKeyType = "PARTITION_KEY_TYPE", Load,
        "the partition key field is not a string, int or long";
    StrayFile = "STRAY_FILE", Load,
        "a file where only namespace folders, record folders or version files belong";
    InvalidPath = "INVALID_PATH", Load,
        "a folder or file name that is not a valid namespace, record name or vN.avsc";
    FileUnreadable = "FILE_UNREADABLE", Load,
        "a schema file or folder cannot be read";
    InvalidJson = "INVALID_JSON", Load,
        "a version file is not valid JSON";
    InvalidSchema = "INVALID_SCHEMA", Load,
        "a version file is JSON but not a valid Avro schema";
    RecordPathMismatch = "RECORD_PATH_MISMATCH", Load,
        "the record's full name differs from its folder <namespace>/<RecordName>";
    NotARecord = "NOT_A_RECORD", Load,
        "an event schema whose top level is not a record";
    VersionGap = "VERSION_GAP", Load,
        "version files do not run v1, v2, v3, ... without gaps";
    EmptyEvent = "EMPTY_EVENT", Load,
        "a record folder with no version file";

    RecordNameCase = "RECORD_NAME_CASE", Lint,
        "record, enum and fixed names are UpperCamelCase";
    FieldNameCase = "FIELD_NAME_CASE", Lint,
        "field names are snake_case";
    EnumSymbolCase = "ENUM_SYMBOL_CASE", Lint,
        "enum symbols are UPPER_SNAKE_CASE";
    RecordDoc = "RECORD_DOC", Lint,
        "every record, enum and fixed has a doc";
    FieldDoc = "FIELD_DOC", Lint,
        "every field has a doc";
    Envelope = "ENVELOPE", Lint,
        "every event has the envelope: the event id (uuid string) and the occurrence time (timestamp-millis or -micros)";
    DefaultAfterV1 = "DEFAULT_AFTER_V1", Lint,
        "every field added after v1 has a default, so old data stays readable";
    NoFloatMoney = "NO_FLOAT_MONEY", Lint,
        "money-like fields (amount, price, total, cost, ...) are never float or double";
    NestedNamespace = "NESTED_NAMESPACE", Lint,
        "named types inside an event schema live in the event's namespace or below it";
    IgnoredLogicalType = "IGNORED_LOGICAL_TYPE", Lint,
        "no logical type is invalid or unknown (readers silently ignore it)";

    NameMismatch = "NAME_MISMATCH", Compatibility,
        "two records, enums or fixed types whose names do not match (and no alias bridges them)";
    FixedSizeMismatch = "FIXED_SIZE_MISMATCH", Compatibility,
        "two fixed types of different sizes";
    MissingEnumSymbols = "MISSING_ENUM_SYMBOLS", Compatibility,
        "the writer's enum has symbols the reader's lacks, and the reader's enum has no default";
    ReaderFieldMissingDefaultValue = "READER_FIELD_MISSING_DEFAULT_VALUE", Compatibility,
        "a reader field the writer does not have, with no default value";
    TypeMismatch = "TYPE_MISMATCH", Compatibility,
        "two types that do not resolve and are not a permitted promotion";
    MissingUnionBranch = "MISSING_UNION_BRANCH", Compatibility,
        "a reader union with no branch that reads (a branch of) the writer's type";
    AmbiguousField = "AMBIGUOUS_FIELD", Compatibility,
        "a reader field matches several writer fields by name and aliases (Avro Java refuses to decide)";
    UnusedException = "UNUSED_EXCEPTION", Compatibility,
        "a reviewed exception in evc.toml that matches no incompatibility (a warning)";

    VersionEdited = "VERSION_EDITED", Published,
        "a published version file differs from the base ref";
    VersionDeleted = "VERSION_DELETED", Published,
        "a published version file was deleted";
    VersionRenumbered = "VERSION_RENUMBERED", Published,
        "a published version's text moved to another version number";

    GeneratedStale = "GENERATED_STALE", Generated,
        "checked-in generated code differs from what the schemas generate, is missing, or is orphaned";
    CodegenFailed = "CODEGEN_FAILED", Generated,
        "code generation failed on the schema directory";
}

impl Code {
    /// True for the codes `[lint] disable` may switch off.
    pub fn is_lint_rule(self) -> bool {
        self.family() == Family::Lint
    }

    /// The lint rules, in table order.
    pub fn lint_rules() -> impl Iterator<Item = Code> {
        Code::ALL.iter().copied().filter(|c| c.is_lint_rule())
    }

    /// The code's anchor in `docs/diagnostics.md` (its name in lower case).
    pub fn anchor(self) -> String {
        self.as_str().to_ascii_lowercase()
    }

    /// A code from its spelling before evc used one scheme (`field-doc`, `version-gap`, ...),
    /// kept so that configs and scripts written then still work.
    pub fn from_legacy(s: &str) -> Option<Code> {
        if s.is_empty()
            || !s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-' || b.is_ascii_digit())
        {
            return None;
        }
        let legacy = match s {
            "config-strategy" => return Some(Code::SubjectConflict),
            "unreadable" => return Some(Code::FileUnreadable),
            "name-mismatch" => return Some(Code::RecordPathMismatch),
            other => other.replace('-', "_").to_ascii_uppercase(),
        };
        legacy.parse().ok()
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a code evc defines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown diagnostic code `{0}` (see docs/diagnostics.md for the list)")]
pub struct ParseCodeError(pub String);

impl FromStr for Code {
    type Err = ParseCodeError;

    /// The exact name (`TYPE_MISMATCH`); case matters, as in `evc.toml`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Code::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| ParseCodeError(s.to_string()))
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_screaming_snake_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for &c in Code::ALL {
            let s = c.as_str();
            assert!(
                s.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
                "{s}"
            );
            assert!(seen.insert(s), "{s} twice");
            assert_eq!(s.parse::<Code>().unwrap(), c);
            assert!(!c.meaning().is_empty());
        }
        assert!("type_mismatch".parse::<Code>().is_err());
        assert!("NOPE".parse::<Code>().is_err());
    }

    #[test]
    fn legacy_spellings() {
        assert_eq!(Code::from_legacy("field-doc"), Some(Code::FieldDoc));
        assert_eq!(
            Code::from_legacy("default-after-v1"),
            Some(Code::DefaultAfterV1)
        );
        assert_eq!(
            Code::from_legacy("name-mismatch"),
            Some(Code::RecordPathMismatch)
        );
        assert_eq!(Code::from_legacy("FIELD_DOC"), None);
        assert_eq!(Code::from_legacy("field-docs"), None);
        assert_eq!(Code::lint_rules().count(), 10);
    }
}
