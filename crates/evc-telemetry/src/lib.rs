//! Operations plumbing shared by every evc process: logs, metrics and trace context.
//!
//! **Owns:**
//! - logging setup ([`LogSettings`], [`init`]): `tracing-subscriber` with text or JSON lines
//!   on stderr, a `RUST_LOG`-style filter (`--log-filter`, else the `RUST_LOG` variable, else
//!   `info`), and the OpenTelemetry layer that gives spans W3C trace and span ids, which JSON
//!   lines written inside a traced span carry (`trace_id`, `span_id`); the same line layer
//!   over any writer ([`log_layer`]);
//! - redaction of credentials in URLs before they are logged ([`redact_url`]);
//! - the Prometheus exporter ([`MetricsRegistry`]): a `prometheus-client` registry whose
//!   scrape-time gauges are refreshed by async hooks, encoded in the OpenMetrics text format,
//!   to mount in a service of your own ([`MetricsRegistry::encode`], [`CONTENT_TYPE`]) or served
//!   on a listen address of its own ([`MetricsServer`]);
//! - W3C trace context ([`TraceContext`]): `traceparent`/`tracestate` parsed and written by
//!   the W3C Trace Context rules, injected into and extracted from message headers
//!   ([`HeaderInjector`], [`HeaderExtractor`]), taken from and given to `tracing` spans;
//! - span export ([`TraceExport`]): none (ids only, so trace context still travels), or OTLP
//!   over HTTP behind the cargo feature `otlp`.
//!
//! **Does not own:** what any component measures or logs (the registry, consumers, the relay
//! and the saga runner register their own metrics here and write their own events), the
//! command-line flags (`evc-cli` maps `--log-format`/`--log-filter`/`--metrics-listen` onto
//! these types), any domain.
//!
//! Metric names follow Prometheus' conventions: a component prefix (`evc_consumer_`,
//! `evc_saga_`, ...), base units in the name (`_seconds`), `_total` on counters (added by the
//! encoder), histograms for latencies.

mod line_ids;
mod logging;
mod metrics;
mod otel;
mod redact;
mod serve;
#[cfg(feature = "testing")]
pub mod testing;
mod trace_context;

pub use logging::{
    init, init_logging, log_layer, LogFormat, LogSettings, TelemetryGuard, DEFAULT_FILTER,
};
pub use metrics::{MetricsRegistry, ScrapeHook, CONTENT_TYPE};
pub use otel::{tracer_provider, tracing_layer, TraceExport};
pub use redact::redact_url;
pub use serve::MetricsServer;
pub use trace_context::{
    HeaderExtractor, HeaderInjector, TraceContext, TraceContextError, TRACEPARENT, TRACESTATE,
};

/// Re-exported so users register metrics of the same `prometheus-client` version.
pub use prometheus_client;

/// Errors of the telemetry setup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// `--log-format` (or a config) named no known format.
    #[error("unknown log format `{0}`: use `text` or `json`")]
    UnknownLogFormat(String),
    /// The log filter does not parse as `RUST_LOG` directives.
    #[error("invalid log filter `{filter}` (from {source_name}): {reason}")]
    InvalidFilter {
        /// The filter as given.
        filter: String,
        /// Where it came from: `--log-filter` or `RUST_LOG`.
        source_name: &'static str,
        /// The parser's complaint.
        reason: String,
    },
    /// A global subscriber was installed already (by this process or a library).
    #[error("a global tracing subscriber is already installed")]
    AlreadyInitialized,
    /// The metrics listen address could not be bound.
    #[error("cannot listen for metrics scrapes on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// OTLP export was asked for, but this build has no `otlp` feature.
    #[error("OTLP trace export to {endpoint} was asked for, but this build of evc has no `otlp` feature (cargo build --features otlp)")]
    OtlpNotBuilt {
        /// The endpoint asked for.
        endpoint: String,
    },
    /// The OTLP exporter could not be built.
    #[error("cannot set up OTLP trace export to {endpoint}: {reason}")]
    Otlp {
        /// The endpoint.
        endpoint: String,
        /// Why.
        reason: String,
    },
}
