//! Errors: [`Error`] for starting the server, [`ApiError`] for Confluent-shaped HTTP answers.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::CONTENT_TYPE_V1;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("storage error: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// A Confluent error answer: `{"error_code": N, "message": "..."}`, HTTP status = the first three
/// digits of the code.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error_code: u32,
    message: &'a str,
}

impl ApiError {
    pub fn new(code: u32, message: impl Into<String>) -> ApiError {
        let status = if code >= 10_000 { code / 100 } else { code };
        ApiError {
            status: StatusCode::from_u16(status as u16)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message: message.into(),
        }
    }

    pub fn subject_not_found(subject: &str) -> ApiError {
        ApiError::new(40401, format!("Subject '{subject}' not found."))
    }

    pub fn version_not_found(version: i64) -> ApiError {
        ApiError::new(40402, format!("Version {version} not found."))
    }

    pub fn schema_not_found() -> ApiError {
        ApiError::new(40403, "Schema not found")
    }

    pub fn schema_id_not_found(id: i64) -> ApiError {
        ApiError::new(40403, format!("Schema {id} not found"))
    }

    pub fn subject_soft_deleted(subject: &str) -> ApiError {
        ApiError::new(
            40404,
            format!(
                "Subject '{subject}' was soft deleted. Set permanent=true to delete permanently"
            ),
        )
    }

    pub fn subject_not_soft_deleted(subject: &str) -> ApiError {
        ApiError::new(
            40405,
            format!("Subject '{subject}' was not deleted first before being permanently deleted"),
        )
    }

    pub fn version_soft_deleted(subject: &str, version: i64) -> ApiError {
        ApiError::new(
            40406,
            format!("Subject '{subject}' Version {version} was soft deleted. Set permanent=true to delete permanently"),
        )
    }

    pub fn version_not_soft_deleted(subject: &str, version: i64) -> ApiError {
        ApiError::new(
            40407,
            format!("Subject '{subject}' Version {version} was not deleted first before being permanently deleted"),
        )
    }

    pub fn no_subject_compat(subject: &str) -> ApiError {
        ApiError::new(
            40408,
            format!("Subject '{subject}' does not have subject-level compatibility configured"),
        )
    }

    pub fn no_subject_mode(subject: &str) -> ApiError {
        ApiError::new(
            40409,
            format!("Subject '{subject}' does not have subject-level mode configured"),
        )
    }

    pub fn incompatible(message: impl Into<String>) -> ApiError {
        ApiError::new(409, message)
    }

    pub fn invalid_schema(message: impl Into<String>) -> ApiError {
        ApiError::new(42201, message)
    }

    pub fn invalid_version(version: &str) -> ApiError {
        ApiError::new(
            42202,
            format!("The specified version '{version}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""),
        )
    }

    pub fn invalid_compat(level: &str) -> ApiError {
        ApiError::new(
            42203,
            format!("Invalid compatibility level '{level}'. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"),
        )
    }

    pub fn invalid_mode(mode: &str) -> ApiError {
        ApiError::new(
            42204,
            format!("Invalid mode '{mode}'. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT"),
        )
    }

    pub fn not_permitted(message: impl Into<String>) -> ApiError {
        ApiError::new(42205, message)
    }

    pub fn reference_exists(message: impl Into<String>) -> ApiError {
        ApiError::new(42206, message)
    }

    pub fn id_mismatch(message: impl Into<String>) -> ApiError {
        ApiError::new(42207, message)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> ApiError {
        tracing::error!(error = %e, "storage error");
        ApiError::new(50001, format!("Error in the backend data store: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&ErrorBody {
            error_code: self.code,
            message: &self.message,
        })
        .unwrap_or_default();
        (self.status, [(header::CONTENT_TYPE, CONTENT_TYPE_V1)], body).into_response()
    }
}
