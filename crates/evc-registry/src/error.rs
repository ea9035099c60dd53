//! Why the server could not start or stopped. Refusals of single requests are
//! [`crate::ServiceError`]s.

use evc_storage::StorageError;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A line of the basic-auth users is not `user:password`.
    #[error("basic-auth users, line {line}: expected `user:password`")]
    UsersLine { line: usize },
    /// The basic-auth users list is empty.
    #[error("basic-auth: no users given")]
    NoUsers,
    /// The environment variable meant to hold the users is not set.
    #[error("environment variable {var} is not set")]
    MissingEnv { var: String },
    /// The storage could not be opened or migrated.
    #[error("storage error: {0}")]
    Storage(#[from] StorageError),
    /// The stored data could not be prepared (identities of schemas stored by older builds).
    #[error("preparing the stored schemas: {0}")]
    Service(#[source] crate::ServiceError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
