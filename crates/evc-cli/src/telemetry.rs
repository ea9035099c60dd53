//! The logging flags every long-running command takes (`registry serve`, `demo`, `tail`,
//! `produce`), mapped onto `evc-telemetry`.

use anyhow::Context as _;
use evc_telemetry::{LogFormat, LogSettings, TelemetryGuard, TraceExport};

/// Log line format.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LogFormatArg {
    /// Human-readable lines: time, level, target, message, `key=value` fields.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `message`, fields, `span`).
    Json,
}

/// `--log-format`, `--log-filter`, `--otlp-endpoint`.
#[derive(clap::Args, Debug, Clone)]
pub struct LogArgs {
    /// Format of the log lines written to stderr.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormatArg,
    /// Which log lines to write, as RUST_LOG directives (`info`, `warn,evc_registry=debug`).
    /// Default: the RUST_LOG variable, else `info` (state changes and problems; per-request
    /// and per-message lines are DEBUG).
    #[arg(long)]
    pub log_filter: Option<String>,
    /// Export spans over OTLP/HTTP to this traces URL (e.g. http://127.0.0.1:4318/v1/traces);
    /// needs an evc built with `--features otlp`.
    #[arg(long)]
    pub otlp_endpoint: Option<String>,
}

impl LogArgs {
    /// Installs the subscriber for the command `service`; `quiet_default` is the filter used
    /// when neither `--log-filter` nor RUST_LOG gives one (None: `info`).
    pub fn init(
        &self,
        service: &str,
        quiet_default: Option<&str>,
    ) -> anyhow::Result<TelemetryGuard> {
        let format = match self.log_format {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        };
        let env_set = std::env::var("RUST_LOG").is_ok_and(|v| !v.trim().is_empty());
        let filter = match (&self.log_filter, quiet_default) {
            (Some(f), _) => Some(f.clone()),
            (None, Some(d)) if !env_set => Some(d.to_string()),
            _ => None,
        };
        let settings = LogSettings::new(service)
            .format(format)
            .filter(filter)
            .traces(TraceExport::from_endpoint(self.otlp_endpoint.clone()));
        evc_telemetry::init(&settings).context("logging setup")
    }
}
