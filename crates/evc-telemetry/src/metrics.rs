//! A metrics registry that can be scraped: `prometheus-client`'s registry, plus async hooks
//! that refresh scrape-time gauges (rows in a table, an outbox backlog) just before each
//! encoding.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use prometheus_client::collector::Collector;
use prometheus_client::registry::{Metric, Registry, Unit};

/// The content type of the OpenMetrics text format that [`MetricsRegistry::encode`] writes
/// (Prometheus scrapes it natively).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long one scrape hook may take before the scrape goes on without it.
const HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// An async refresh run before each scrape (see [`MetricsRegistry::on_scrape`]).
pub type ScrapeHook = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

#[derive(Default)]
struct Inner {
    registry: RwLock<Registry>,
    hooks: Mutex<Vec<(String, ScrapeHook)>>,
}

/// The metrics of a process (or of one component): cheap to clone, shared by the components
/// that register into it and by whoever serves it.
///
/// Mount it in a service of your own: answer `GET /metrics` with [`CONTENT_TYPE`] and
/// [`MetricsRegistry::encode`], e.g. from an axum handler returning this pair as
/// `([(header::CONTENT_TYPE, content_type)], body)`:
///
/// ```
/// use evc_telemetry::{MetricsRegistry, CONTENT_TYPE};
///
/// async fn metrics_answer(metrics: &MetricsRegistry) -> (&'static str, String) {
///     (CONTENT_TYPE, metrics.encode().await)
/// }
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
/// # let (ct, body) = rt.block_on(metrics_answer(&MetricsRegistry::new()));
/// # assert!(ct.starts_with("application/openmetrics-text") && body.ends_with("# EOF\n"));
/// ```
///
/// or serve it on a listen address of its own with [`crate::MetricsServer`].
#[derive(Clone, Default)]
pub struct MetricsRegistry {
    inner: Arc<Inner>,
}

impl fmt::Debug for MetricsRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hooks: Vec<String> = self
            .inner
            .hooks
            .lock()
            .iter()
            .map(|h| h.0.clone())
            .collect();
        f.debug_struct("MetricsRegistry")
            .field("scrape_hooks", &hooks)
            .finish_non_exhaustive()
    }
}

impl MetricsRegistry {
    /// An empty registry.
    pub fn new() -> MetricsRegistry {
        MetricsRegistry::default()
    }

    /// Registers `metric` as `name` (a counter's `_total` is added by the encoder).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.inner.registry.write().register(name, help, metric);
    }

    /// Registers `metric` as `name` with its unit appended (`_seconds`, `_bytes`).
    pub fn register_with_unit(&self, name: &str, help: &str, unit: Unit, metric: impl Metric) {
        self.inner
            .registry
            .write()
            .register_with_unit(name, help, unit, metric);
    }

    /// Registers a collector: metrics computed at scrape time from state held elsewhere.
    pub fn register_collector(&self, collector: Box<dyn Collector>) {
        self.inner.registry.write().register_collector(collector);
    }

    /// Full access to the underlying `prometheus-client` registry (sub-registries, prefixes).
    pub fn with_registry<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self.inner.registry.write())
    }

    /// Runs `hook` before every [`encode`](Self::encode) (gauges read from a database, say).
    /// A hook that takes longer than five seconds is abandoned for that scrape (the gauges keep
    /// their previous values) and logged at WARN with `name`.
    pub fn on_scrape<F, Fut>(&self, name: impl Into<String>, hook: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let hook: ScrapeHook = Arc::new(move || Box::pin(hook()));
        self.inner.hooks.lock().push((name.into(), hook));
    }

    /// Runs the scrape hooks, then encodes every metric in the OpenMetrics text format.
    pub async fn encode(&self) -> String {
        let hooks: Vec<(String, ScrapeHook)> = self.inner.hooks.lock().clone();
        for (name, hook) in hooks {
            if tokio::time::timeout(HOOK_TIMEOUT, hook()).await.is_err() {
                tracing::warn!(hook = %name, timeout = ?HOOK_TIMEOUT, "metrics scrape hook timed out; its gauges keep their previous values");
            }
        }
        self.encode_now()
    }

    /// Encodes every metric as it is now, without running the scrape hooks.
    pub fn encode_now(&self) -> String {
        let mut out = String::new();
        // writing into a String cannot fail
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry.read());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;

    #[tokio::test]
    async fn hooks_refresh_gauges_before_encoding() {
        let m = MetricsRegistry::new();
        let c = Counter::<u64>::default();
        m.register("evc_test_things", "Things", c.clone());
        let g = Gauge::<i64>::default();
        m.register("evc_test_rows", "Rows", g.clone());
        let g2 = g.clone();
        m.on_scrape("rows", move || {
            let g = g2.clone();
            async move {
                g.set(42);
            }
        });
        c.inc();
        assert!(m.encode_now().contains("evc_test_rows 0\n"));
        let text = m.encode().await;
        assert!(text.contains("evc_test_things_total 1\n"), "{text}");
        assert!(text.contains("evc_test_rows 42\n"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
