//! Why a consumer could not be built or run.

use evc_transport::TransportError;

/// A consumer that cannot start or go on (message-level failures never end up here: they are
/// retried or dead-lettered).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// A setting evc enforces was overridden (see [`ConsumerConfig`](crate::ConsumerConfig)).
    #[error("invalid consumer configuration: `{key}={value}` is refused: evc {who} always run with `{key}={enforced}`")]
    Config {
        key: String,
        value: String,
        enforced: &'static str,
        who: &'static str,
    },
    /// The broker URL is malformed, names a transport this build lacks, or the transport
    /// refused to connect, declare the group or subscribe (a refusal that will repeat; a
    /// broker that is briefly unreachable while consuming is waited out).
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
}
