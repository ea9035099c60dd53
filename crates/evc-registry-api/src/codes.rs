//! Confluent's error codes. The HTTP status of an answer is the code's first three digits
//! ([`status_of`]); a few codes are plain HTTP statuses (`409`, `404`, `415`, ...).

/// Subject not found.
pub const SUBJECT_NOT_FOUND: u32 = 40401;
/// Version not found.
pub const VERSION_NOT_FOUND: u32 = 40402;
/// Schema not found (by id, or not under the subject).
pub const SCHEMA_NOT_FOUND: u32 = 40403;
/// The subject was soft-deleted (e.g. a second soft delete).
pub const SUBJECT_SOFT_DELETED: u32 = 40404;
/// A permanent delete of a subject that was not soft-deleted first.
pub const SUBJECT_NOT_SOFT_DELETED: u32 = 40405;
/// The subject version was soft-deleted.
pub const VERSION_SOFT_DELETED: u32 = 40406;
/// A permanent delete of a version that was not soft-deleted first.
pub const VERSION_NOT_SOFT_DELETED: u32 = 40407;
/// The subject has no subject-level config.
pub const SUBJECT_CONFIG_NOT_FOUND: u32 = 40408;
/// The subject has no subject-level mode.
pub const SUBJECT_MODE_NOT_FOUND: u32 = 40409;
/// Association not found (Confluent 8.x).
pub const ASSOCIATION_NOT_FOUND: u32 = 40410;
/// Incompatible schema. Older servers send `409`, Confluent's master `40901`; clients accept
/// both. evc's server sends `409`, as the released Confluent versions do.
pub const INCOMPATIBLE_SCHEMA: u32 = 409;
/// Incompatible schema, as newer Confluent servers write it.
pub const INCOMPATIBLE_SCHEMA_V2: u32 = 40901;
/// Invalid schema.
pub const INVALID_SCHEMA: u32 = 42201;
/// Invalid version.
pub const INVALID_VERSION: u32 = 42202;
/// Invalid compatibility level.
pub const INVALID_COMPATIBILITY_LEVEL: u32 = 42203;
/// Invalid mode.
pub const INVALID_MODE: u32 = 42204;
/// Operation not permitted (a write in READONLY mode, ...).
pub const OPERATION_NOT_PERMITTED: u32 = 42205;
/// A referenced schema cannot be deleted.
pub const REFERENCE_EXISTS: u32 = 42206;
/// IMPORT mode: the id is taken by another schema.
pub const ID_DOES_NOT_MATCH: u32 = 42207;
/// Invalid subject name.
pub const INVALID_SUBJECT: u32 = 42208;
/// Schema too large.
pub const SCHEMA_TOO_LARGE: u32 = 42209;
/// Invalid rule set.
pub const INVALID_RULESET: u32 = 42210;
/// The context is not empty.
pub const CONTEXT_NOT_EMPTY: u32 = 42211;
/// Error in the backend data store.
pub const STORE_ERROR: u32 = 50001;
/// Operation timed out.
pub const OPERATION_TIMEOUT: u32 = 50002;

/// The HTTP status an error code implies: its first three digits (a three-digit code is the
/// status itself).
pub fn status_of(code: u32) -> u16 {
    let s = if code >= 10_000 { code / 100 } else { code };
    u16::try_from(s)
        .ok()
        .filter(|s| (100..600).contains(s))
        .unwrap_or(500)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_the_first_three_digits() {
        assert_eq!(status_of(SUBJECT_NOT_FOUND), 404);
        assert_eq!(status_of(INCOMPATIBLE_SCHEMA), 409);
        assert_eq!(status_of(INCOMPATIBLE_SCHEMA_V2), 409);
        assert_eq!(status_of(INVALID_RULESET), 422);
        assert_eq!(status_of(STORE_ERROR), 500);
        assert_eq!(status_of(413), 413);
        assert_eq!(status_of(7), 500);
        assert_eq!(status_of(99_999), 500);
    }
}
