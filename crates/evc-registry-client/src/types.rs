//! What the registry answers, as the client hands it out.

use std::fmt;

/// A reference from a schema to a schema registered under another subject.
pub use evc_registry_api::SchemaReference;

/// A schema as `GET /schemas/ids/{id}` answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySchema {
    pub id: u32,
    /// The schema text as the registry stores it.
    pub schema: String,
    /// `AVRO` when the registry left it out (as Confluent does for Avro).
    pub schema_type: String,
    pub references: Vec<SchemaReference>,
}

/// A version of a subject, as `GET /subjects/{s}/versions/{v}` answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectVersion {
    pub subject: String,
    pub version: u32,
    pub id: u32,
    pub schema: String,
    pub schema_type: String,
    pub references: Vec<SchemaReference>,
}

/// The id (and, when the registry says, the version) a schema has under a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    pub id: u32,
    /// `None` when an older registry answered a registration with only `{"id": N}`.
    pub version: Option<u32>,
}

/// Which version(s) of a subject a compatibility test compares against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Latest,
    Number(u32),
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::Number(n) => write!(f, "{n}"),
        }
    }
}

/// Which versions a compatibility test compares a schema against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompatTarget {
    /// The versions the subject's compatibility level names (what a registration is checked
    /// against): `POST /compatibility/subjects/{s}/versions`.
    Subject,
    /// One version: `POST /compatibility/subjects/{s}/versions/{v}`.
    Version(Version),
}

/// The verdict of a compatibility test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compatibility {
    pub is_compatible: bool,
    /// Why not (asked for with `verbose=true`; empty when compatible).
    pub messages: Vec<String>,
}

// ----- from the protocol's bodies ----------------------------------------------------------------

pub(crate) fn schema_type(t: Option<String>) -> String {
    t.unwrap_or_else(|| evc_registry_api::AVRO.to_string())
}

/// An id or version number the registry sent, which must fit in 1..=2^31-1.
pub(crate) fn number(what: &'static str, n: i64) -> Result<u32, String> {
    u32::try_from(n)
        .ok()
        .filter(|n| *n >= 1 && *n <= i32::MAX as u32)
        .ok_or_else(|| format!("the registry answered {what} {n}, outside 1..=2^31-1"))
}

impl TryFrom<evc_registry_api::SubjectVersion> for SubjectVersion {
    type Error = String;
    fn try_from(a: evc_registry_api::SubjectVersion) -> Result<Self, String> {
        Ok(SubjectVersion {
            subject: a.subject,
            version: number("version", a.version)?,
            id: number("id", a.id)?,
            schema: a.schema,
            schema_type: schema_type(a.schema_type),
            references: a.references,
        })
    }
}
