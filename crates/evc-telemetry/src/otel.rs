//! The OpenTelemetry side: the tracer provider behind `tracing` spans, and where spans go.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

use crate::TelemetryError;

/// Where finished spans go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceExport {
    /// Nowhere. Spans still get W3C ids, so trace context is still written into and read from
    /// message headers and other processes can continue the trace.
    #[default]
    Off,
    /// OTLP over HTTP/protobuf to a collector, e.g. `http://127.0.0.1:4318/v1/traces` (the
    /// traces URL itself). Needs the cargo feature `otlp`; without it [`tracer_provider`]
    /// answers [`TelemetryError::OtlpNotBuilt`].
    Otlp {
        /// The collector's traces URL.
        endpoint: String,
    },
}

impl TraceExport {
    /// `Otlp` when an endpoint is given (`--otlp-endpoint`), else `Off`.
    pub fn from_endpoint(endpoint: Option<String>) -> TraceExport {
        match endpoint {
            Some(endpoint) => TraceExport::Otlp { endpoint },
            None => TraceExport::Off,
        }
    }
}

/// A tracer provider for `export`, its spans tagged with `service.name = service`.
pub fn tracer_provider(
    export: &TraceExport,
    service: &str,
) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = Resource::builder()
        .with_service_name(service.to_string())
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    match export {
        TraceExport::Off => Ok(builder.build()),
        TraceExport::Otlp { endpoint } => otlp(builder, endpoint),
    }
}

#[cfg(feature = "otlp")]
fn otlp(
    builder: opentelemetry_sdk::trace::TracerProviderBuilder,
    endpoint: &str,
) -> Result<SdkTracerProvider, TelemetryError> {
    use opentelemetry_otlp::{SpanExporter, WithExportConfig as _};
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()
        .map_err(|e| TelemetryError::Otlp {
            endpoint: crate::redact_url(endpoint),
            reason: e.to_string(),
        })?;
    Ok(builder.with_batch_exporter(exporter).build())
}

#[cfg(not(feature = "otlp"))]
fn otlp(
    _builder: opentelemetry_sdk::trace::TracerProviderBuilder,
    endpoint: &str,
) -> Result<SdkTracerProvider, TelemetryError> {
    Err(TelemetryError::OtlpNotBuilt {
        endpoint: crate::redact_url(endpoint),
    })
}

/// The `tracing` layer that turns spans into OpenTelemetry spans of `provider` (what [`crate::init`]
/// installs; tests build their own subscriber with it and an in-memory exporter).
pub fn tracing_layer<S>(provider: &SdkTracerProvider) -> OpenTelemetryLayer<S, Tracer>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("evc"))
        .with_tracked_inactivity(false)
}
