//! Confluent error answers: `{"error_code": N, "message": "..."}` with the HTTP status the code
//! implies, and the mapping from the service's refusals to Confluent's codes.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use evc_registry_api::codes;
use evc_registry_api::{ErrorBody, CONTENT_TYPE_V1};

use crate::service::ServiceError;

/// A Confluent error answer.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

impl ApiError {
    pub fn new(code: u32, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::from_u16(codes::status_of(code))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message: message.into(),
        }
    }
}

/// The Confluent code of each refusal.
fn code_of(e: &ServiceError) -> u32 {
    use ServiceError as E;
    match e {
        E::SubjectNotFound { .. } => codes::SUBJECT_NOT_FOUND,
        E::VersionNotFound { .. } => codes::VERSION_NOT_FOUND,
        E::SchemaNotFound { .. } | E::SchemaIdNotFound { .. } => codes::SCHEMA_NOT_FOUND,
        E::SubjectSoftDeleted { .. } => codes::SUBJECT_SOFT_DELETED,
        E::SubjectNotSoftDeleted { .. } => codes::SUBJECT_NOT_SOFT_DELETED,
        E::VersionSoftDeleted { .. } => codes::VERSION_SOFT_DELETED,
        E::VersionNotSoftDeleted { .. } => codes::VERSION_NOT_SOFT_DELETED,
        E::NoSubjectCompatibility { .. } => codes::SUBJECT_CONFIG_NOT_FOUND,
        E::NoSubjectMode { .. } => codes::SUBJECT_MODE_NOT_FOUND,
        E::Incompatible { .. } => codes::INCOMPATIBLE_SCHEMA,
        // Confluent answers an oversized schema with 42201 too (42209 is for its own limit
        // on the stored size); clients treat both as an invalid schema.
        E::InvalidSchema { .. } | E::SchemaTooLarge { .. } => codes::INVALID_SCHEMA,
        E::InvalidVersion { .. } => codes::INVALID_VERSION,
        E::InvalidCompatibility { .. } => codes::INVALID_COMPATIBILITY_LEVEL,
        E::InvalidMode { .. } => codes::INVALID_MODE,
        E::ReadOnlyServer
        | E::ReadOnlyMode { .. }
        | E::ImportNeedsForce
        | E::ImportNeedsId { .. }
        | E::IdOutsideImport { .. }
        | E::VersionExists { .. } => codes::OPERATION_NOT_PERMITTED,
        E::IdMismatch { .. } => codes::ID_DOES_NOT_MATCH,
        E::IdInUse { .. } => codes::OPERATION_NOT_PERMITTED,
        E::InvalidRuleSet { .. } => codes::INVALID_RULESET,
        E::EmptyConfig => codes::INVALID_COMPATIBILITY_LEVEL,
        E::ReferenceExists { .. } => codes::REFERENCE_EXISTS,
        E::Corrupt { .. } | E::Storage(_) => codes::STORE_ERROR,
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        let code = code_of(&e);
        if code == codes::STORE_ERROR {
            tracing::error!(error = %e, "storage error");
        }
        let message = match &e {
            ServiceError::Corrupt { .. } => format!("Error in the backend data store: {e}"),
            _ => e.to_string(),
        };
        ApiError::new(code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&ErrorBody {
            error_code: i64::from(self.code),
            message: Some(self.message),
        })
        .unwrap_or_default();
        (self.status, [(header::CONTENT_TYPE, CONTENT_TYPE_V1)], body).into_response()
    }
}
