//! The README's "Operating evc" metric table lists exactly the metrics evc exports: every
//! exporter is scraped and read by the Prometheus project's parser (Python
//! `prometheus_client`, installed by `cargo xtask test`), and the names compared.

use std::collections::BTreeSet;

use evc_saga::{SagaMetrics, SagaStore};
use evc_storage::Database;
use evc_telemetry::testing::{scrape, Scrape};
use evc_telemetry::{MetricsRegistry, MetricsServer};

/// The metric names in the first column of the README's metric table.
fn readme_metrics() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let start = readme
        .find("\n## Operating evc\n")
        .expect("README has an `Operating evc` section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|name| name.starts_with("evc_"))
        .map(str::to_string)
        .collect()
}

/// Names as a scraper queries them: counters with `_total`, the others as their family.
fn exported(scrape: &Scrape) -> BTreeSet<String> {
    scrape
        .families
        .iter()
        .map(|f| match f.kind.as_str() {
            "counter" => format!("{}_total", f.name),
            _ => f.name.clone(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_lists_every_exported_metric() {
    let mut names = BTreeSet::new();

    // the registry's /metrics
    let storage = evc_registry::StorageUrl::parse("memory").unwrap();
    let config = evc_registry::ServerConfig::new("127.0.0.1:0".parse().unwrap(), storage);
    let registry = evc_registry::spawn(config).await.unwrap();
    let got = scrape(&format!("{}/metrics", registry.url())).await;
    assert!(
        got.family("evc_registry_http_requests").is_some(),
        "{got:#?}"
    );
    names.extend(exported(&got));
    registry.stop().await.unwrap();

    // the library exporters, registered as a service would
    let metrics = MetricsRegistry::new();
    let sagas = SagaStore::open(Database::sqlite_in_memory().await.unwrap())
        .await
        .unwrap();
    SagaMetrics::register(&metrics, &sagas);
    evc_consumer::ConsumerExporter::register(&metrics);
    evc_outbox::RelayMetrics::register(&metrics);
    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), metrics)
        .await
        .unwrap();
    let got = scrape(&server.url()).await;
    for family in [
        "evc_saga_step_attempts",
        "evc_consumer_processed",
        "evc_consumer_lag_messages",
        "evc_outbox_backlog_events",
    ] {
        assert!(got.family(family).is_some(), "{family}: {got:#?}");
    }
    names.extend(exported(&got));
    server.stop().await;

    let documented = readme_metrics();
    let missing: Vec<_> = names.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&names).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "README `Operating evc` metric table is out of date:\n  exported but not listed: {missing:?}\n  listed but not exported: {stale:?}"
    );
}
