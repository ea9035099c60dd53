//! A saga's steps continue the trace of the span that started it (e.g. the consumer handling
//! the message), seen by an in-memory span exporter: the runner runs later, in no span, yet
//! every `saga.step` span is a child of the starting span, in its trace.

use std::time::Duration;

use evc_saga::simulated::{SimulatedServices, TRIP};
use evc_saga::{RunnerConfig, SagaRunner, SagaStatus, SagaStore};
use evc_storage::Database;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::json;
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;
use uuid::Uuid;

#[tokio::test(flavor = "current_thread")]
async fn saga_steps_are_spans_of_the_starting_trace() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry().with(evc_telemetry::tracing_layer(&provider));
    let _default = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_sqlite(dir.path().join("saga.db"))
        .await
        .unwrap();
    let store = SagaStore::open(db.clone()).await.unwrap();
    let services = SimulatedServices::open(db).await.unwrap();
    let trip = services.definition("trip", &TRIP, Duration::from_millis(500));

    // started inside a span (as a consumer handler would), which then ends
    let id = Uuid::new_v4();
    let handle = tracing::info_span!("handle", topic = "trips");
    store
        .start(id, &trip, &json!({"n": 1}))
        .instrument(handle.clone())
        .await
        .unwrap();
    let started = evc_telemetry::TraceContext::of_span(&handle).unwrap();
    drop(handle);
    assert_eq!(
        store.load(id).await.unwrap().trace_parent,
        Some(started.traceparent())
    );
    // a saga started outside any span has none
    let other = Uuid::new_v4();
    store.start(other, &trip, &json!({"n": 2})).await.unwrap();
    assert_eq!(store.load(other).await.unwrap().trace_parent, None);

    let runner = SagaRunner::new(store.clone(), RunnerConfig::new("trace-runner"))
        .register(trip)
        .unwrap();
    runner.run_until_idle().await.unwrap();
    assert_eq!(store.load(id).await.unwrap().status, SagaStatus::Completed);

    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let handle = spans.iter().find(|s| s.name == "handle").unwrap();
    let steps: Vec<_> = spans.iter().filter(|s| s.name == "saga.step").collect();
    assert_eq!(steps.len(), 8, "four steps of each saga");
    let (ours, theirs): (Vec<&opentelemetry_sdk::trace::SpanData>, Vec<_>) = steps
        .into_iter()
        .partition(|s| s.span_context.trace_id() == handle.span_context.trace_id());
    assert_eq!(ours.len(), 4);
    assert!(ours
        .iter()
        .all(|s| s.parent_span_id == handle.span_context.span_id()));
    // the other saga's steps are roots of traces of their own
    assert_eq!(theirs.len(), 4);
    assert!(theirs
        .iter()
        .all(|s| s.parent_span_id == opentelemetry::trace::SpanId::INVALID));
    let step_names: Vec<String> = ours
        .iter()
        .filter_map(|s| {
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == "step")
                .map(|kv| kv.value.to_string())
        })
        .collect();
    assert_eq!(
        step_names,
        ["book_flight", "book_hotel", "rent_car", "send_itinerary"]
    );
}
