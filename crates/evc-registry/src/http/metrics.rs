//! `/metrics`: the registry's metrics in the OpenMetrics text format (Prometheus' exposition
//! format, standardized; Prometheus scrapes it natively), written by `prometheus-client`.
//!
//! | series | type | meaning |
//! |---|---|---|
//! | `evc_registry_http_requests_total{method,route,status}` | counter | answered requests, by route template and status |
//! | `evc_registry_http_request_duration_seconds{method,route}` | histogram | time to answer |
//! | `evc_registry_answer_cache_hits_total` / `_misses_total` | counter | hot-path answers served from / not found in the answer cache |
//! | `evc_registry_subjects` | gauge | subjects with a live version (read at scrape time) |
//! | `evc_registry_schemas` | gauge | distinct schema ids in use, soft-deleted versions included (read at scrape time) |
//!
//! Routes are the router's templates (`/subjects/{subject}/versions`), never raw paths, so
//! subject names do not become label values.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry as PromRegistry, Unit};

/// The content type of the OpenMetrics text format.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub method: String,
    pub route: String,
}

fn duration_histogram() -> Histogram {
    // 50 µs .. ~1.6 s
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// The registry's metrics.
pub(crate) struct Metrics {
    registry: PromRegistry,
    pub requests: Family<RequestLabels, Counter>,
    pub durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub subjects: Gauge,
    pub schemas: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = PromRegistry::with_prefix("evc_registry");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "Answered HTTP requests", requests.clone());
        let durations = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request",
            Unit::Seconds,
            durations.clone(),
        );
        let cache_hits = Counter::default();
        registry.register(
            "answer_cache_hits",
            "Answers served from the answer cache",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "answer_cache_misses",
            "Cacheable requests computed because the cache had no answer",
            cache_misses.clone(),
        );
        let subjects = Gauge::default();
        registry.register("subjects", "Subjects with a live version", subjects.clone());
        let schemas = Gauge::default();
        registry.register("schemas", "Schema ids in use by a version", schemas.clone());
        Metrics {
            registry,
            requests,
            durations,
            cache_hits,
            cache_misses,
            subjects,
            schemas,
        }
    }
}

impl Metrics {
    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // writing to a String cannot fail
        let _ = encode(&mut out, &self.registry);
        out
    }
}
