//! OTLP export (feature `otlp`): spans reach a collector as OTLP/HTTP protobuf. The collector
//! here is a plain HTTP listener of the test that records what it is sent.
#![cfg(feature = "otlp")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use evc_telemetry::{tracer_provider, tracing_layer, TraceContext, TraceExport};
use tracing_subscriber::layer::SubscriberExt as _;

/// One request the collector received: request line, content type, body.
struct Received {
    request_line: String,
    content_type: String,
    body: Vec<u8>,
}

fn collector() -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let (mut length, mut content_type) = (0usize, String::new());
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
                let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    "content-type" => content_type = v.trim().to_string(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\ncontent-type: application/x-protobuf\r\n\r\n");
            let _ = tx.send(Received {
                request_line: request_line.trim().to_string(),
                content_type,
                body,
            });
        }
    });
    (format!("http://{addr}/v1/traces"), rx)
}

#[test]
fn spans_are_exported_over_otlp_http() {
    let (endpoint, received) = collector();
    let provider = tracer_provider(
        &TraceExport::Otlp {
            endpoint: endpoint.clone(),
        },
        "evc-otlp-test",
    )
    .unwrap();
    let subscriber = tracing_subscriber::registry().with(tracing_layer(&provider));
    let trace_id = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("evc_otlp_test_span", topic = "orders");
        let _g = span.enter();
        TraceContext::current().unwrap().trace_id()
    });
    provider.force_flush().unwrap();
    let got = received
        .recv_timeout(Duration::from_secs(30))
        .expect("the collector received the export");
    assert_eq!(got.request_line, "POST /v1/traces HTTP/1.1");
    assert_eq!(got.content_type, "application/x-protobuf");
    let has = |needle: &[u8]| got.body.windows(needle.len()).any(|w| w == needle);
    assert!(
        has(b"evc_otlp_test_span"),
        "the span's name is in the export"
    );
    assert!(has(b"evc-otlp-test"), "the service name is in the export");
    let id: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert!(has(&id), "the trace id is in the export");
    provider.shutdown().unwrap();
}
