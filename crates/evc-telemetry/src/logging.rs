//! The process's `tracing` subscriber: log lines (text or JSON) on stderr through a
//! `RUST_LOG`-style filter, and the OpenTelemetry layer that gives spans trace ids.

use std::fmt;
use std::io::IsTerminal as _;
use std::str::FromStr;

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer;

use crate::line_ids::{SpansVisible, WithTraceIds};
use crate::otel::{tracer_provider, tracing_layer, TraceExport};
use crate::TelemetryError;

/// The filter when neither `--log-filter` nor `RUST_LOG` gives one: state changes and
/// problems, no per-request or per-message lines.
pub const DEFAULT_FILTER: &str = "info";

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// `tracing-subscriber`'s human format: time, level, target, message, `key=value` fields.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, the event's fields
    /// (`message` among them) at the top level, the current `span` with its fields, and
    /// inside a span with W3C ids its `trace_id` and `span_id` (lowercase hex).
    Json,
}

impl FromStr for LogFormat {
    type Err = TelemetryError;

    fn from_str(s: &str) -> Result<LogFormat, TelemetryError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(TelemetryError::UnknownLogFormat(s.to_string())),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

/// Everything [`init`] needs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LogSettings {
    /// Text or JSON lines.
    pub format: LogFormat,
    /// `RUST_LOG`-style directives (`info`, `warn,evc_registry=debug`); `None`: the `RUST_LOG`
    /// environment variable, else [`DEFAULT_FILTER`].
    pub filter: Option<String>,
    /// Where spans go (their ids are made, and travel in message headers, in every case).
    pub traces: TraceExport,
    /// `service.name` of exported spans.
    pub service_name: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Text,
            filter: None,
            traces: TraceExport::Off,
            service_name: "evc".to_string(),
        }
    }
}

impl LogSettings {
    /// Settings of a process named `service_name`: text, the default filter, no export.
    pub fn new(service_name: impl Into<String>) -> LogSettings {
        LogSettings {
            service_name: service_name.into(),
            ..LogSettings::default()
        }
    }

    /// The line format.
    pub fn format(mut self, format: LogFormat) -> LogSettings {
        self.format = format;
        self
    }

    /// The filter directives (`None` keeps `RUST_LOG` or the default).
    pub fn filter(mut self, filter: Option<String>) -> LogSettings {
        self.filter = filter;
        self
    }

    /// The span export.
    pub fn traces(mut self, traces: TraceExport) -> LogSettings {
        self.traces = traces;
        self
    }

    /// The filter in force and where it came from: `--log-filter`, else `RUST_LOG` (when set
    /// and not empty), else [`DEFAULT_FILTER`].
    pub fn filter_directives(&self) -> (String, &'static str) {
        if let Some(f) = &self.filter {
            return (f.clone(), "--log-filter");
        }
        match std::env::var("RUST_LOG") {
            Ok(v) if !v.trim().is_empty() => (v, "RUST_LOG"),
            _ => (DEFAULT_FILTER.to_string(), "the default"),
        }
    }

    /// The filter in force, parsed; a typed error names the filter and where it came from.
    pub fn env_filter(&self) -> Result<EnvFilter, TelemetryError> {
        let (filter, source_name) = self.filter_directives();
        EnvFilter::builder()
            .with_default_directive(LevelFilter::ERROR.into())
            .parse(&filter)
            .map_err(|e| TelemetryError::InvalidFilter {
                filter,
                source_name,
                reason: e.to_string(),
            })
    }
}

/// Keeps the tracer provider of [`init`]; dropping it flushes and shuts down span export.
#[must_use = "dropping the guard shuts span export down"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl TelemetryGuard {
    /// The tracer provider spans go to.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard").finish_non_exhaustive()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Installs the global subscriber: log lines on stderr in `settings.format` through the filter
/// in force, and the OpenTelemetry layer (spans at INFO and above, whatever the log filter)
/// exporting as `settings.traces` says.
///
/// Errors: an invalid filter, OTLP asked for without the feature, or a subscriber already
/// installed.
pub fn init(settings: &LogSettings) -> Result<TelemetryGuard, TelemetryError> {
    let fmt_layer = log_layer(settings, std::io::stderr, std::io::stderr().is_terminal())?;
    let provider = tracer_provider(&settings.traces, &settings.service_name)?;
    let otel = tracing_layer(&provider).with_filter(LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(fmt_layer)
        .with(otel)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInitialized)?;
    Ok(TelemetryGuard { provider })
}

/// The log-line layer [`init`] installs, writing to `writer` instead of stderr (a test's
/// buffer, a file): `settings.format` through the filter in force, colours when `ansi`. JSON
/// lines written inside a span with W3C ids carry `trace_id` and `span_id`; spans at INFO and
/// above stay visible to it whatever the filter, so a line let through finds its span. Put it
/// in a subscriber with [`tracing_layer`] for the ids.
pub fn log_layer<S, W>(
    settings: &LogSettings,
    writer: W,
    ansi: bool,
) -> Result<Box<dyn Layer<S> + Send + Sync + 'static>, TelemetryError>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = SpansVisible(settings.env_filter()?);
    Ok(match settings.format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .map_event_format(WithTraceIds)
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
    })
}

/// [`init`] for a process that only logs (no span export): the same lines and filter.
pub fn init_logging(
    format: LogFormat,
    filter: Option<String>,
) -> Result<TelemetryGuard, TelemetryError> {
    init(&LogSettings::default().format(format).filter(filter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_print() {
        assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert_eq!(" TEXT ".parse::<LogFormat>().unwrap(), LogFormat::Text);
        let e = "yaml".parse::<LogFormat>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown log format `yaml`: use `text` or `json`"
        );
        assert_eq!(LogFormat::Json.to_string(), "json");
    }

    #[test]
    fn the_flag_wins_and_bad_filters_are_named() {
        let s = LogSettings::default().filter(Some("warn,evc_registry=debug".into()));
        assert_eq!(
            s.filter_directives(),
            ("warn,evc_registry=debug".to_string(), "--log-filter")
        );
        assert!(s.env_filter().is_ok());
        let bad = LogSettings::default().filter(Some("evc=loud".into()));
        match bad.env_filter().unwrap_err() {
            TelemetryError::InvalidFilter {
                filter,
                source_name,
                ..
            } => {
                assert_eq!(filter, "evc=loud");
                assert_eq!(source_name, "--log-filter");
            }
            e => panic!("{e}"),
        }
    }
}
