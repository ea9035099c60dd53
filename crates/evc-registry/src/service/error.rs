//! What a registry operation can refuse or fail with, in the registry's own terms. The HTTP
//! layer maps each case to Confluent's status and error code (`http::error`).

use evc_storage::StorageError;

use crate::compat::CompatLevel;

/// Why a registry operation did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error("Subject '{subject}' not found.")]
    SubjectNotFound { subject: String },
    #[error("Version {version} not found.")]
    VersionNotFound { subject: String, version: i64 },
    /// The schema is not registered under the subject (look-up).
    #[error("Schema not found")]
    SchemaNotFound { subject: String },
    #[error("Schema {id} not found")]
    SchemaIdNotFound { id: i64 },
    #[error("Subject '{subject}' was soft deleted. Set permanent=true to delete permanently")]
    SubjectSoftDeleted { subject: String },
    #[error("Subject '{subject}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted { subject: String },
    #[error("Subject '{subject}' Version {version} was soft deleted. Set permanent=true to delete permanently")]
    VersionSoftDeleted { subject: String, version: i64 },
    #[error("Subject '{subject}' Version {version} was not deleted first before being permanently deleted")]
    VersionNotSoftDeleted { subject: String, version: i64 },
    #[error("Subject '{subject}' does not have subject-level compatibility configured")]
    NoSubjectCompatibility { subject: String },
    #[error("Subject '{subject}' does not have subject-level mode configured")]
    NoSubjectMode { subject: String },
    /// The schema breaks the subject's compatibility level.
    #[error("Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}] (compatibility: {level})", problems.join("; "))]
    Incompatible {
        subject: String,
        level: CompatLevel,
        problems: Vec<String>,
    },
    /// The submission is not a schema this registry accepts (`reason` says what and where).
    #[error("{reason}")]
    InvalidSchema { reason: String },
    /// The schema text is over the configured limit.
    #[error("Schema too large: {size} bytes, the limit is {limit} bytes")]
    SchemaTooLarge { size: usize, limit: usize },
    #[error("The specified version '{given}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"")]
    InvalidVersion { given: String },
    #[error("Invalid compatibility level '{given}'. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")]
    InvalidCompatibility { given: String },
    #[error("Invalid mode '{given}'. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT")]
    InvalidMode { given: String },
    /// The server was started read-only.
    #[error("This registry server is read-only: writes are not permitted")]
    ReadOnlyServer,
    /// The subject (or the registry) is in READONLY mode.
    #[error("Subject {subject} is in read-only mode")]
    ReadOnlyMode { subject: String },
    /// Switching a registry (or subject) that has schemas to IMPORT needs `force`.
    #[error("Cannot import since found existing subjects (use force=true to switch anyway)")]
    ImportNeedsForce,
    /// IMPORT mode registrations must give an id.
    #[error("Subject {subject} is in IMPORT mode: a schema id must be given")]
    ImportNeedsId { subject: String },
    /// An explicit id outside IMPORT mode.
    #[error(
        "Subject {subject} is not in IMPORT mode: a schema id can only be given in IMPORT mode"
    )]
    IdOutsideImport { subject: String },
    /// IMPORT: the version number is taken.
    #[error("Version {version} of subject {subject} already exists (schema id {schema_id})")]
    VersionExists {
        subject: String,
        version: i64,
        schema_id: i64,
    },
    /// IMPORT: the schema already has another id in this subject, or the id holds another schema.
    #[error("{}", match existing { Some(e) => format!("Schema is already registered with id {e}, not {wanted}"), None => format!("Schema id {wanted} is already used by a different schema") })]
    IdMismatch { wanted: i64, existing: Option<i64> },
    /// IMPORT: the id holds another schema (Confluent: "Overwrite new schema with id ... is not
    /// permitted").
    #[error("Overwrite new schema with id {id} is not permitted: the id holds another schema")]
    IdInUse { id: i64 },
    /// The rule set is not valid.
    #[error("Invalid rule set: {reason}")]
    InvalidRuleSet { reason: String },
    /// A config write with nothing to set.
    #[error("Invalid config: the body must give \"compatibility\" or another config field")]
    EmptyConfig,
    /// A version other schemas reference cannot be deleted.
    #[error("One or more references exist to the schema {{subject={subject}, version={version}}}: schema ids {by:?}")]
    ReferenceExists {
        subject: String,
        version: i64,
        by: Vec<i64>,
    },
    /// Stored data that cannot be read back.
    #[error("stored data is corrupt: {what}")]
    Corrupt { what: String },
    /// The database failed.
    #[error("Error in the backend data store: {0}")]
    Storage(#[from] StorageError),
}
