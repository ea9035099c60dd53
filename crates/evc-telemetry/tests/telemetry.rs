//! The trace context carried across a message boundary, seen by an in-memory span exporter;
//! the metrics endpoint answered over real HTTP.

use std::time::Duration;

use evc_telemetry::{MetricsRegistry, MetricsServer, TraceContext, CONTENT_TYPE};
use opentelemetry::trace::SpanId;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing_subscriber::layer::SubscriberExt as _;

#[test]
fn a_receiver_continues_the_sender_s_trace_through_headers() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry().with(evc_telemetry::tracing_layer(&provider));
    let _default = tracing::subscriber::set_default(subscriber);

    // the sender: a span around the publish, its context written into the headers
    let mut headers: Vec<(String, Vec<u8>)> = vec![("evc.event_type".into(), b"X".to_vec())];
    let sent = {
        let publish = tracing::info_span!("publish", topic = "orders");
        let _g = publish.enter();
        let ctx = TraceContext::current().expect("a span of the OpenTelemetry layer has a context");
        ctx.inject(&mut headers);
        ctx
    };
    assert!(sent.sampled());

    // the receiver: a span with no local parent, continued from the headers
    let got = TraceContext::extract(&headers)
        .unwrap()
        .expect("traceparent written");
    assert_eq!(got, sent);
    let handle = tracing::info_span!(parent: None, "handle", topic = "orders");
    assert!(got.set_parent_of(&handle));
    handle.in_scope(|| {
        let inner = TraceContext::current().unwrap();
        assert_eq!(inner.trace_id(), sent.trace_id());
        assert_ne!(inner.parent_id(), sent.parent_id());
    });
    drop(handle);

    // outside any span there is nothing to inject
    assert!(TraceContext::current().is_none());

    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let publish = spans.iter().find(|s| s.name == "publish").unwrap();
    let handle = spans.iter().find(|s| s.name == "handle").unwrap();
    assert_eq!(
        handle.span_context.trace_id(),
        publish.span_context.trace_id()
    );
    assert_eq!(handle.parent_span_id, publish.span_context.span_id());
    assert_eq!(publish.parent_span_id, SpanId::INVALID);
    assert!(handle.parent_span_is_remote);
}

async fn get(addr: std::net::SocketAddr, method: &str, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

#[tokio::test]
async fn the_metrics_endpoint_answers_scrapes() {
    let metrics = MetricsRegistry::new();
    let c = Counter::<u64>::default();
    metrics.register("evc_test_events", "Events seen", c.clone());
    let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), metrics.clone())
        .await
        .unwrap();
    c.inc_by(3);
    let answer = get(server.addr(), "GET", "/metrics").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains(&format!("content-type: {CONTENT_TYPE}")),
        "{answer}"
    );
    assert!(
        answer.contains("# TYPE evc_test_events counter"),
        "{answer}"
    );
    assert!(answer.contains("evc_test_events_total 3\n"), "{answer}");
    c.inc();
    assert!(get(server.addr(), "GET", "/metrics")
        .await
        .contains("evc_test_events_total 4\n"));
    assert!(get(server.addr(), "GET", "/other")
        .await
        .starts_with("HTTP/1.1 404"));
    assert!(get(server.addr(), "POST", "/metrics")
        .await
        .starts_with("HTTP/1.1 405"));
    let addr = server.addr();
    server.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    // a taken address is a typed error naming it
    let first = MetricsServer::bind("127.0.0.1:0".parse().unwrap(), metrics.clone())
        .await
        .unwrap();
    let err = MetricsServer::bind(first.addr(), metrics)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&first.addr().to_string()), "{err}");
}
