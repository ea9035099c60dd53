//! `evc tail` against librdkafka's in-process mock cluster and a live registry: every message as
//! one JSON line, undecodable ones reported on stderr with partition and offset.

use std::process::{Command, Stdio};

use evc_avro::chrono::{TimeZone, Utc};
use evc_avro::uuid::Uuid;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

mod common;
use common::{serve, Served};

/// A mock cluster with topic `orders` (2 partitions), a registry, and three messages of one
/// order: OrderCreated v1, a message nobody can decode, OrderPaid v2.
struct Fixture {
    registry: Served,
    _cluster: MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    bootstrap: String,
    order: Uuid,
}

async fn fixture() -> Fixture {
    let registry = serve();
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("orders", 2, 1).unwrap();
    cluster.create_topic("orders-copy", 2, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();

    let client = evc_registry_client::RegistryClient::new(&registry.1).unwrap();
    let producer = evc_producer::EventProducer::with_serializer(
        &evc_producer::ProducerConfig::new(bootstrap.clone()),
        evc_wire::Serializer::new(client).auto_register(true),
    )
    .unwrap();
    let order = Uuid::from_u128(7);
    let v1 = order_events::v1::OrderCreated {
        event_id: Uuid::from_u128(1),
        order_id: order,
        occurred_at: Utc.timestamp_millis_opt(1_700_000_000_000).unwrap(),
        customer_id: "c-1".into(),
        currency: "EUR".into(),
    };
    producer.send(&v1).await.unwrap();
    // a message nobody can decode, on the same key (so the same partition, after the first)
    let raw: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    raw.send(
        FutureRecord::to("orders")
            .key(&order.to_string())
            .payload(&b"not avro"[..]),
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    let paid = order_events::OrderPaid {
        event_id: Uuid::from_u128(2),
        order_id: order,
        occurred_at: Utc.timestamp_millis_opt(1_700_000_001_000).unwrap(),
        amount: order_events::order_paid::v2::Money {
            amount_minor: 1999,
            currency: "EUR".into(),
        },
        method: order_events::order_paid::v2::PaymentMethod::Card,
        payment_reference: Some("psp-1".into()),
        tax_rate: Some("0.2000".parse().unwrap()),
    };
    producer.send(&paid).await.unwrap();
    Fixture {
        registry,
        _cluster: cluster,
        bootstrap,
        order,
    }
}

fn evc_blocking(args: Vec<String>, stdin: String) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_evc"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

async fn evc(args: &[&str], stdin: &str) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.to_string();
    tokio::task::spawn_blocking(move || evc_blocking(args, stdin))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_every_message_as_json() {
    let f = fixture().await;
    let (bootstrap, registry, order) = (f.bootstrap.as_str(), f.registry.1.as_str(), f.order);
    let out = evc(
        &[
            "tail",
            "--topic",
            "orders",
            "--bootstrap",
            bootstrap,
            "--registry",
            registry,
            "--from-beginning",
            "--max",
            "3",
        ],
        "",
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["type"], "com.acme.orders.OrderCreated");
    assert_eq!(lines[0]["key"], order.to_string());
    assert_eq!(lines[0]["value"]["customer_id"], "c-1");
    assert_eq!(
        lines[0]["value"]["event_id"],
        Uuid::from_u128(1).to_string()
    );
    assert!(lines[0]["schema_id"].as_u64().is_some());
    assert_eq!(lines[1]["type"], "com.acme.orders.OrderPaid");
    assert_eq!(lines[1]["value"]["amount"]["amount_minor"], 1999);
    assert_eq!(lines[1]["value"]["payment_reference"], "psp-1");
    assert_eq!(lines[0]["partition"], lines[1]["partition"]);
    assert_eq!(
        lines[1]["offset"].as_i64().unwrap(),
        lines[0]["offset"].as_i64().unwrap() + 2
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let bad_offset = lines[0]["offset"].as_i64().unwrap() + 1;
    assert!(
        err.contains(&format!(
            "partition {} offset {bad_offset}: cannot decode",
            lines[0]["partition"]
        )),
        "{err}"
    );
}

#[test]
fn tail_of_a_missing_topic_is_bad_input() {
    let cluster = MockCluster::new(1).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_evc"))
        .args([
            "tail",
            "--topic",
            "nope",
            "--bootstrap",
            &cluster.bootstrap_servers(),
            "--registry",
            "http://127.0.0.1:1",
            "--max",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nope"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_piped_into_produce_copies_a_topic() {
    let f = fixture().await;
    let (b, r) = (f.bootstrap.as_str(), f.registry.1.as_str());
    let tailed = evc(
        &[
            "tail",
            "--topic",
            "orders",
            "--bootstrap",
            b,
            "--registry",
            r,
            "--from-beginning",
            "--max",
            "3",
        ],
        "",
    )
    .await;
    let lines: Vec<String> = String::from_utf8_lossy(&tailed.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 2);
    // bad lines in the middle are reported with their numbers; the lines after them still go out
    let input = format!(
        "{}\n{{\"type\": \"com.acme.orders.OrderPaid\", \"value\": {{}}, \"key\": \"k\"}}\nnot json\n{}\n",
        lines[0], lines[1]
    );
    let out = evc(
        &[
            "produce",
            "--topic",
            "orders-copy",
            "--bootstrap",
            b,
            "--registry",
            r,
        ],
        &input,
    )
    .await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("line 2: "), "{err}");
    assert!(err.contains("line 3: not JSON"), "{err}");
    assert!(err.contains("evc produce: 2 produced, 2 failed"), "{err}");
    let copied = evc(
        &[
            "tail",
            "--topic",
            "orders-copy",
            "--bootstrap",
            b,
            "--registry",
            r,
            "--from-beginning",
            "--max",
            "2",
        ],
        "",
    )
    .await;
    let strip = |l: &str| {
        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("offset");
        o.remove("partition");
        o.remove("timestamp");
        v
    };
    let copy: Vec<serde_json::Value> = String::from_utf8_lossy(&copied.stdout)
        .lines()
        .map(strip)
        .collect();
    let orig: Vec<serde_json::Value> = lines.iter().map(|l| strip(l)).collect();
    assert_eq!(
        copy, orig,
        "the copy has the same events, types, schema ids and keys, in order"
    );
    assert_eq!(copy[1]["value"]["tax_rate"], "0.2000");
}
