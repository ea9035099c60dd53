//! `evc demo --metrics-listen`: the run's metrics served while it runs and, once the story is
//! told, with their final values until Ctrl-C, read by the Prometheus project's parser.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use evc_telemetry::testing::scrape_blocking;

#[test]
fn the_demo_serves_its_metrics_until_interrupted() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_evc"))
        .args(["demo", "--metrics-listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    let mut url = None;
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the demo ended before serving its final metrics:\n{seen}"))
            .unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if let Some(u) = line.strip_prefix("  metrics   ") {
            url = Some(u.trim().to_string());
        }
        if line.contains("stay served at") {
            break;
        }
    }
    let url = url.unwrap_or_else(|| panic!("no metrics URL in the banner:\n{seen}"));
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"),
        "{url}"
    );
    assert!(seen.contains(&format!("stay served at {url}")), "{seen}");

    let m = scrape_blocking(&url);
    // the four consumers (projection, saga starter, two readers), each having read every event
    let processed: Vec<f64> = m
        .family("evc_consumer_processed")
        .expect("consumer series")
        .samples
        .iter()
        .filter(|s| s.name == "evc_consumer_processed_total")
        .map(|s| s.value)
        .collect();
    assert_eq!(processed.len(), 4, "{m:#?}");
    let published = m
        .value(
            "evc_outbox_checkpoint_position",
            &[("relay", "orders-relay")],
        )
        .expect("relay series");
    assert!(published > 0.0);
    assert!(
        processed.iter().all(|p| *p == published),
        "{processed:?} vs {published}"
    );
    assert_eq!(
        m.value("evc_outbox_backlog_events", &[("relay", "orders-relay")]),
        Some(0.0)
    );
    // two orders shipped, one compensated (the injected shipment failure)
    let sagas = |status| m.value_or_zero("evc_saga_sagas", &[("status", status)]);
    assert_eq!((sagas("completed"), sagas("compensated")), (2.0, 1.0));
    assert_eq!(m.value_or_zero("evc_saga_compensations_total", &[]), 1.0);
    assert_eq!(m.family("evc_consumer_lag_messages").unwrap().kind, "gauge");

    // Ctrl-C ends it cleanly
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    lines.for_each(drop);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{seen}");
}
