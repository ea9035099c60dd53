//! `evc tail` and `evc produce` with `--broker`: malformed URLs are bad input (exit 2, the
//! reason on stderr), and on Redis Streams (127.0.0.1:6379 or `EVC_TEST_REDIS_URL`) and
//! RabbitMQ (127.0.0.1:5672 or `EVC_TEST_AMQP_URL`) tail prints the same JSON lines as on Kafka
//! and `tail | produce` copies a topic.

use std::process::{Command, Stdio};
use std::time::Duration;

use evc_avro::chrono::{TimeZone, Utc};
use evc_avro::uuid::Uuid;
use evc_transport::{AnyTransport, Transport};

mod common;
use common::serve;

fn redis_url() -> String {
    std::env::var("EVC_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn amqp_url() -> String {
    std::env::var("EVC_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn unique(what: &str) -> String {
    format!(
        "evc-cli-{what}-{}",
        &Uuid::new_v4().simple().to_string()[..10]
    )
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

#[test]
fn malformed_broker_urls_are_bad_input_with_the_reason() {
    let cases: &[(&[&str], &str)] = &[
        (&["--broker", "nats://127.0.0.1:4222"], "unknown scheme"),
        (&["--broker", ""], "empty"),
        (&["--broker", "rediss://127.0.0.1:6379"], "TLS"),
        (&["--broker", "redis://"], "redis://"),
        (
            &["--bootstrap", "redis://127.0.0.1:6379"],
            "--bootstrap takes Kafka brokers",
        ),
        (
            &["--bootstrap", "a:1", "--broker", "redis://127.0.0.1:6379"],
            "cannot be used with",
        ),
        (&[], "--bootstrap"),
    ];
    for command in ["tail", "produce"] {
        for (flags, says) in cases {
            let mut args = vec![
                command,
                "--topic",
                "orders",
                "--registry",
                "http://127.0.0.1:1",
            ];
            args.extend_from_slice(flags);
            let out = Command::new(env!("CARGO_BIN_EXE_evc"))
                .args(&args)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(says), "{args:?}: expected `{says}` in: {err}");
        }
    }
}

/// Publishes OrderCreated v1 and OrderPaid v2 of one order to `topic` on `broker`, schemas
/// auto-registered in `registry`.
async fn publish_two(broker: &str, registry: &str, topic: &str, order: Uuid) {
    let client = evc_registry_client::RegistryClient::new(registry).unwrap();
    let producer = evc_producer::EventProducer::with_serializer(
        &evc_producer::ProducerConfig::new(broker),
        evc_wire::Serializer::new(client).auto_register(true),
    )
    .unwrap();
    let v1 = order_events::v1::OrderCreated {
        event_id: Uuid::new_v4(),
        order_id: order,
        occurred_at: Utc.timestamp_millis_opt(1_700_000_000_000).unwrap(),
        customer_id: "c-1".into(),
        currency: "EUR".into(),
    };
    producer.send_to(topic, &v1).await.unwrap();
    let paid = order_events::OrderPaid {
        event_id: Uuid::new_v4(),
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
    producer.send_to(topic, &paid).await.unwrap();
}

fn lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// What `tail | produce` must keep: everything but where the message was.
fn strip(mut v: serde_json::Value) -> serde_json::Value {
    let o = v.as_object_mut().unwrap();
    o.remove("offset");
    o.remove("partition");
    o.remove("timestamp");
    v
}

fn check_two(lines: &[serde_json::Value], order: Uuid) {
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["type"], "com.acme.orders.OrderCreated");
    assert_eq!(lines[0]["key"], order.to_string());
    assert_eq!(lines[0]["value"]["customer_id"], "c-1");
    assert!(lines[0]["schema_id"].as_u64().is_some());
    assert_eq!(lines[1]["type"], "com.acme.orders.OrderPaid");
    assert_eq!(lines[1]["value"]["payment_reference"], "psp-1");
    assert_eq!(
        lines[0]["partition"], lines[1]["partition"],
        "one key, one shard"
    );
    assert!(lines[0]["timestamp"].as_i64().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_and_produce_on_redis_streams() {
    let registry = serve();
    let broker = redis_url();
    let t = AnyTransport::connect(&broker)
        .await
        .expect("Redis must be running for this test");
    let (topic, copy) = (unique("orders"), unique("copy"));
    t.declare_topic(&topic, 2).await.unwrap();
    t.declare_topic(&copy, 2).await.unwrap();
    let order = Uuid::new_v4();
    publish_two(&broker, &registry.1, &topic, order).await;

    let tail = |topic: String| {
        let (broker, registry) = (broker.clone(), registry.1.clone());
        async move {
            evc(
                &[
                    "tail",
                    "--topic",
                    &topic,
                    "--broker",
                    &broker,
                    "--registry",
                    &registry,
                    "--from-beginning",
                    "--max",
                    "2",
                ],
                "",
            )
            .await
        }
    };
    let out = tail(topic.clone()).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let original = lines(&out);
    check_two(&original, order);
    assert!(
        original[0]["offset"]
            .as_str()
            .is_some_and(|o| o.contains('-')),
        "a Redis entry id: {}",
        original[0]["offset"]
    );

    let input: String = String::from_utf8_lossy(&out.stdout).into_owned();
    let produced = evc(
        &[
            "produce",
            "--topic",
            &copy,
            "--broker",
            &broker,
            "--registry",
            &registry.1,
        ],
        &input,
    )
    .await;
    let err = String::from_utf8_lossy(&produced.stderr);
    assert_eq!(produced.status.code(), Some(0), "{err}");
    assert!(err.contains("2 produced, 0 failed"), "{err}");
    let copied = lines(&tail(copy.clone()).await);
    assert_eq!(
        copied.into_iter().map(strip).collect::<Vec<_>>(),
        original.into_iter().map(strip).collect::<Vec<_>>(),
        "same events, types, schema ids and keys, in order"
    );

    // tail leaves no group behind
    let groups: redis::Value = {
        let client = redis::Client::open(broker.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(format!("{topic}:0"))
            .query_async(&mut conn)
            .await
            .unwrap()
    };
    assert!(!format!("{groups:?}").contains("evc-tail-"), "{groups:?}");
    t.delete_topic(&topic).await.unwrap();
    t.delete_topic(&copy).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_and_produce_on_rabbitmq() {
    let registry = serve();
    let broker = amqp_url();
    let t = AnyTransport::connect(&broker)
        .await
        .expect("RabbitMQ must be running for this test (with the consistent-hash plugin)");
    let topic = unique("orders");
    t.declare_topic(&topic, 2).await.unwrap();

    // RabbitMQ keeps no history: --from-beginning is refused, with the reason.
    let refused = evc(
        &[
            "tail",
            "--topic",
            &topic,
            "--broker",
            &broker,
            "--registry",
            &registry.1,
            "--from-beginning",
        ],
        "",
    )
    .await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("keeps no history"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // tail first (it sees what is published after its group's queues exist: it says so on
    // stderr), then publish.
    let mut child = Command::new(env!("CARGO_BIN_EXE_evc"))
        .args([
            "tail",
            "--topic",
            &topic,
            "--broker",
            &broker,
            "--registry",
            &registry.1,
            "--max",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let err_lines = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if line.contains("following") {
                let _ = ready_tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("tail says when it follows the topic");
    let order = Uuid::new_v4();
    publish_two(&broker, &registry.1, &topic, order).await;
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("tail ends after 2 messages")
    .unwrap()
    .unwrap();
    let err = err_lines.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{err}");
    let original = lines(&out);
    check_two(&original, order);

    // produce those lines back through evc into a second topic, read by a group declared
    // before.
    let copy = unique("copy");
    t.declare_topic(&copy, 2).await.unwrap();
    t.declare_group(&copy, "reader").await.unwrap();
    let produced = evc(
        &[
            "produce",
            "--topic",
            &copy,
            "--broker",
            &broker,
            "--registry",
            &registry.1,
        ],
        &String::from_utf8_lossy(&out.stdout),
    )
    .await;
    let err = String::from_utf8_lossy(&produced.stderr);
    assert_eq!(produced.status.code(), Some(0), "{err}");
    assert!(err.contains("2 produced, 0 failed"), "{err}");
    use evc_transport::{SubscribeOptions, Subscription};
    let mut s = t
        .subscribe(&copy, SubscribeOptions::new("reader"))
        .await
        .unwrap();
    let mut payloads = Vec::new();
    for _ in 0..2 {
        let d = tokio::time::timeout(Duration::from_secs(30), s.next())
            .await
            .unwrap()
            .unwrap();
        payloads.push(evc_wire::unframe(&d.payload).unwrap().schema_id);
        assert_eq!(d.key_str(), Some(order.to_string().as_str()));
        s.ack(&d).await.unwrap();
    }
    let ids: Vec<u32> = original
        .iter()
        .map(|l| l["schema_id"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(payloads, ids, "the same schema ids, in order");
    s.close().await.unwrap();
    t.delete_group(&copy, "reader").await.unwrap();
    t.delete_topic(&copy).await.unwrap();
    t.delete_topic(&topic).await.unwrap();
}

/// `evc demo --broker amqp://user:password@...` names the broker by its kind and never prints
/// the password (nor does it go to stderr).
#[test]
fn the_demo_banner_hides_the_broker_password() {
    let broker = amqp_url();
    let out = Command::new(env!("CARGO_BIN_EXE_evc"))
        .args(["demo", "--broker", &broker])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let banner = stdout.lines().find(|l| l.starts_with("  broker ")).unwrap();
    assert!(banner.ends_with("(RabbitMQ)"), "{banner}");
    assert!(banner.contains(":***@"), "{banner}");
    let password = broker
        .split_once("://")
        .and_then(|(_, rest)| rest.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password)
        .expect("the AMQP test URL has a password");
    for text in [&stdout, &stderr] {
        assert!(!text.contains(&format!(":{password}@")), "{text}");
    }
}
