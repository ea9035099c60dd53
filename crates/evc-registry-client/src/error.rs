//! Typed registry errors and how a registry answer maps onto them.

use evc_registry_api::ErrorBody;

/// What went wrong talking to a schema registry.
///
/// The `code` fields hold the Confluent `error_code` of the answer (`40401`, `42201`, ...); a
/// server that answered without a Confluent error body gets its HTTP status there instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// `40401`: the subject does not exist.
    #[error("subject `{subject}` not found (error {code}): {message}")]
    SubjectNotFound {
        subject: String,
        code: u32,
        message: String,
    },
    /// `40402`: the subject exists but not that version.
    #[error("version {version} of subject `{subject}` not found (error {code}): {message}")]
    VersionNotFound {
        subject: String,
        version: String,
        code: u32,
        message: String,
    },
    /// `40403`: no such schema id, or the schema is not registered under the subject.
    #[error("schema not found{} (error {code}): {message}", describe_schema(*id, subject.as_deref()))]
    SchemaNotFound {
        id: Option<u32>,
        subject: Option<String>,
        code: u32,
        message: String,
    },
    /// `409` (older servers) or `40901`: the schema breaks the subject's compatibility rule.
    #[error("schema is incompatible with subject `{subject}` (error {code}): {}", messages.join("; "))]
    Incompatible {
        subject: String,
        code: u32,
        messages: Vec<String>,
    },
    /// `42201`: the registry could not parse or accept the schema.
    #[error("invalid schema (error {code}): {message}")]
    InvalidSchema { code: u32, message: String },
    /// HTTP 401 or 403: missing or wrong credentials, or not allowed.
    #[error("not authorized by the registry (HTTP {status}): {message}")]
    Unauthorized { status: u16, message: String },
    /// Every attempt ended in a connection error, a timeout, a 5xx or a 429.
    #[error("schema registry unavailable after {attempts} attempt(s): {reason}")]
    Unavailable { attempts: u32, reason: String },
    /// A 2xx answer whose body is not what the API promises (not JSON, fields missing, ...).
    #[error("unexpected answer from the schema registry ({context}): {message}")]
    BadResponse { context: String, message: String },
    /// Any other error answer (`42202` invalid version, `42205` not permitted, `404` on a wrong
    /// base path, ...).
    #[error("schema registry error {code} (HTTP {status}): {message}")]
    Api {
        status: u16,
        code: u32,
        message: String,
    },
    /// The client configuration is unusable (bad URL, empty URL list, ...).
    #[error("invalid registry client configuration: {0}")]
    Config(String),
}

fn describe_schema(id: Option<u32>, subject: Option<&str>) -> String {
    match (id, subject) {
        (Some(id), _) => format!(" (id {id})"),
        (None, Some(s)) => format!(" under subject `{s}`"),
        (None, None) => String::new(),
    }
}

impl RegistryError {
    /// The Confluent error code, for errors that came from a registry answer.
    pub fn code(&self) -> Option<u32> {
        match self {
            RegistryError::SubjectNotFound { code, .. }
            | RegistryError::VersionNotFound { code, .. }
            | RegistryError::SchemaNotFound { code, .. }
            | RegistryError::Incompatible { code, .. }
            | RegistryError::InvalidSchema { code, .. }
            | RegistryError::Api { code, .. } => Some(*code),
            RegistryError::Unauthorized { status, .. } => Some(u32::from(*status)),
            _ => None,
        }
    }

    /// A subject, version or schema the registry does not have.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            RegistryError::SubjectNotFound { .. }
                | RegistryError::VersionNotFound { .. }
                | RegistryError::SchemaNotFound { .. }
        )
    }

    /// The registry could not be reached (worth trying again later).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, RegistryError::Unavailable { .. })
    }
}

/// What the request was about, to name it in errors.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Context<'a> {
    pub subject: Option<&'a str>,
    pub version: Option<&'a str>,
    pub id: Option<u32>,
}

/// Short, printable start of a body for messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    let mut s: String = text.chars().filter(|c| !c.is_control()).collect();
    if body.len() > MAX {
        s.push('…');
    }
    if s.trim().is_empty() {
        "<empty body>".to_string()
    } else {
        s
    }
}

/// Turns an error answer (status outside 2xx) into a typed error.
pub(crate) fn from_answer(status: u16, body: &[u8], ctx: Context<'_>) -> RegistryError {
    let (code, message) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => (
            u32::try_from(b.error_code).unwrap_or(u32::from(status)),
            b.message.unwrap_or_default(),
        ),
        Err(_) => (u32::from(status), snippet(body)),
    };
    let subject = || ctx.subject.unwrap_or_default().to_string();
    match (status, code) {
        (401 | 403, _) => RegistryError::Unauthorized { status, message },
        (_, 40401) => RegistryError::SubjectNotFound {
            subject: subject(),
            code,
            message,
        },
        (_, 40402) => RegistryError::VersionNotFound {
            subject: subject(),
            version: ctx.version.unwrap_or_default().to_string(),
            code,
            message,
        },
        (_, 40403) => RegistryError::SchemaNotFound {
            id: ctx.id,
            subject: ctx.subject.map(str::to_string),
            code,
            message,
        },
        (_, 409 | 40901) => RegistryError::Incompatible {
            subject: subject(),
            code,
            messages: vec![message],
        },
        (_, 42201) => RegistryError::InvalidSchema { code, message },
        _ => RegistryError::Api {
            status,
            code,
            message,
        },
    }
}

/// Statuses worth another try: the server is overloaded, restarting or briefly unhealthy.
/// 501 and 505 are answers about the request, not the server's health.
pub(crate) fn is_transient(status: u16) -> bool {
    matches!(status, 408 | 429) || ((500..600).contains(&status) && !matches!(status, 501 | 505))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context<'static> {
        Context {
            subject: Some("orders-value"),
            version: Some("3"),
            id: Some(7),
        }
    }

    #[test]
    fn codes_map_to_variants() {
        let e = from_answer(
            404,
            br#"{"error_code":40401,"message":"Subject 'x' not found."}"#,
            ctx(),
        );
        assert!(matches!(
            e,
            RegistryError::SubjectNotFound { code: 40401, .. }
        ));
        let e = from_answer(404, br#"{"error_code":40402,"message":"v"}"#, ctx());
        assert!(matches!(e, RegistryError::VersionNotFound { ref version, .. } if version == "3"));
        let e = from_answer(
            404,
            br#"{"error_code":40403,"message":"Schema 7 not found"}"#,
            ctx(),
        );
        assert!(matches!(
            e,
            RegistryError::SchemaNotFound { id: Some(7), .. }
        ));
        assert!(e.is_not_found());
        for code in [409, 40901] {
            let body = format!(r#"{{"error_code":{code},"message":"nope"}}"#);
            let e = from_answer(409, body.as_bytes(), ctx());
            assert!(
                matches!(e, RegistryError::Incompatible { code: c, ref messages, .. } if c == code && messages == &["nope"]),
                "{e:?}"
            );
        }
        let e = from_answer(422, br#"{"error_code":42201,"message":"bad"}"#, ctx());
        assert!(matches!(
            e,
            RegistryError::InvalidSchema { code: 42201, .. }
        ));
        let e = from_answer(401, b"", ctx());
        assert!(matches!(e, RegistryError::Unauthorized { status: 401, .. }));
        let e = from_answer(
            422,
            br#"{"error_code":42202,"message":"bad version"}"#,
            ctx(),
        );
        assert_eq!(e.code(), Some(42202));
    }

    #[test]
    fn non_json_error_bodies_keep_the_status() {
        let e = from_answer(404, b"<html>nginx</html>", Context::default());
        assert!(
            matches!(e, RegistryError::Api { status: 404, code: 404, ref message } if message.contains("nginx"))
        );
    }

    #[test]
    fn transient_statuses() {
        for s in [408, 429, 500, 502, 503, 504, 599] {
            assert!(is_transient(s), "{s}");
        }
        for s in [200, 400, 401, 404, 409, 422, 501, 505] {
            assert!(!is_transient(s), "{s}");
        }
    }
}
