//! The runner's metrics, served on a listen address of their own and parsed by the Prometheus
//! project's parser (Python `prometheus_client`, installed by `cargo xtask test`): the series
//! exist with their types and move as sagas run, complete and compensate.

use std::time::Duration;

use evc_saga::simulated::{Fault, SimulatedServices, TRIP};
use evc_saga::{Action, RunnerConfig, SagaMetrics, SagaRunner, SagaStatus, SagaStore};
use evc_storage::Database;
use evc_telemetry::{MetricsRegistry, MetricsServer};
use serde_json::json;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saga_metrics_move_when_sagas_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_sqlite(dir.path().join("saga.db"))
        .await
        .unwrap();
    let store = SagaStore::open(db.clone()).await.unwrap();
    let services = SimulatedServices::open(db).await.unwrap();
    let trip = services.definition("trip", &TRIP, Duration::from_millis(500));

    let registry = MetricsRegistry::new();
    let metrics = SagaMetrics::register(&registry, &store);
    let runner = SagaRunner::new(store.clone(), RunnerConfig::new("metrics-runner"))
        .register(trip.clone())
        .unwrap()
        .with_metrics(metrics);
    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), registry)
        .await
        .unwrap();

    // two sagas waiting, nothing run yet
    let ok = Uuid::new_v4();
    let bad = Uuid::new_v4();
    store.start(ok, &trip, &json!({"n": 1})).await.unwrap();
    store.start(bad, &trip, &json!({"n": 2})).await.unwrap();
    services.inject_for(bad, "rent_car", Action::Do, Fault::Fail);

    let before = evc_telemetry::testing::scrape(&server.url()).await;
    assert!(
        before
            .content_type
            .starts_with("application/openmetrics-text; version=1.0.0"),
        "{}",
        before.content_type
    );
    let running = [("definition", "trip"), ("status", "running")];
    assert_eq!(before.value("evc_saga_sagas", &running), Some(2.0));
    assert_eq!(before.family("evc_saga_sagas").unwrap().kind, "gauge");
    assert_eq!(
        before.family("evc_saga_step_attempts").unwrap().kind,
        "counter"
    );
    assert_eq!(
        before.family("evc_saga_compensations").unwrap().kind,
        "counter"
    );
    let durations = before.family("evc_saga_step_duration_seconds").unwrap();
    assert_eq!(
        (durations.kind.as_str(), durations.unit.as_str()),
        ("histogram", "seconds")
    );

    runner.run_until_idle().await.unwrap();
    assert_eq!(store.load(ok).await.unwrap().status, SagaStatus::Completed);
    assert_eq!(
        store.load(bad).await.unwrap().status,
        SagaStatus::Compensated
    );

    let after = evc_telemetry::testing::scrape(&server.url()).await;
    assert_eq!(
        after.value("evc_saga_sagas", &running),
        None,
        "no saga is running any more"
    );
    for status in ["completed", "compensated"] {
        assert_eq!(
            after.value(
                "evc_saga_sagas",
                &[("definition", "trip"), ("status", status)]
            ),
            Some(1.0),
            "{status}"
        );
        assert_eq!(
            after.value(
                "evc_saga_finished_total",
                &[("definition", "trip"), ("status", status)]
            ),
            Some(1.0),
            "{status}"
        );
    }
    assert_eq!(
        after.value("evc_saga_compensations_total", &[("definition", "trip")]),
        Some(1.0)
    );
    let attempts = |step: &str, action: &str, outcome: &str| {
        after.value_or_zero(
            "evc_saga_step_attempts_total",
            &[("step", step), ("action", action), ("outcome", outcome)],
        )
    };
    // both booked a flight and a hotel; one rented a car, the other was refused and undid
    assert_eq!(attempts("book_flight", "do", "succeeded"), 2.0);
    assert_eq!(attempts("rent_car", "do", "succeeded"), 1.0);
    assert_eq!(attempts("rent_car", "do", "rejected"), 1.0);
    assert_eq!(attempts("book_hotel", "undo", "succeeded"), 1.0);
    assert_eq!(attempts("book_flight", "undo", "succeeded"), 1.0);
    // one latency observation per call: 4 + 3 calls forward, 2 compensations
    assert_eq!(
        after.value("evc_saga_step_duration_seconds_count", &[]),
        Some(9.0)
    );
    assert_eq!(
        after.value(
            "evc_saga_step_duration_seconds_count",
            &[("step", "rent_car"), ("action", "do")]
        ),
        Some(2.0)
    );
    server.stop().await;
}
