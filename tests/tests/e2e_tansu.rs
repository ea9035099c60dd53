//! End to end on a real Kafka-protocol broker process (`tansu`, which `cargo xtask test`
//! installs), the evc registry and PostgreSQL: evc's producer and Python confluent-kafka's
//! AvroSerializer write order events; evc's consumer reads all of them, per order in order,
//! into PostgreSQL through the idempotent store; Python's AvroDeserializer reads evc's events.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evc_avro::chrono::{TimeZone, Utc};
use evc_avro::uuid::Uuid;
use evc_avro::AvroSchema;
use evc_consumer::{ConsumerConfig, EventConsumer, Handler, HandlerError, MessageMeta};
use order_events::OrderEvent;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use sqlx::{Postgres, Transaction};

struct Broker(Child, String);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tansu() -> PathBuf {
    let candidates = [
        std::env::var_os("TANSU").map(PathBuf::from),
        std::env::var_os("CARGO_HOME").map(|h| PathBuf::from(h).join("bin/tansu")),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/tansu")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .expect("the tansu broker is not installed: run `cargo xtask test`, which installs it")
}

fn broker() -> Broker {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(tansu())
        .args([
            "broker",
            "--storage-engine",
            "memory://tansu/",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tansu");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "tansu did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Broker(child, format!("127.0.0.1:{port}"))
}

fn python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/interop/venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `cargo xtask test`, which installs the Python interop clients",
        p.display()
    );
    p
}

/// Records every event in the handler's transaction.
struct Record {
    table: String,
}

impl Handler<OrderEvent, Postgres> for Record {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        event: &OrderEvent,
        _meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        let (order, kind, customer) = match event {
            OrderEvent::OrderCreated(e) => (e.order_id, "created", e.customer_id.clone()),
            OrderEvent::OrderPaid(e) => (e.order_id, "paid", String::new()),
            OrderEvent::ItemAdded(e) => (e.order_id, "item", String::new()),
            OrderEvent::OrderShipped(e) => (e.order_id, "shipped", String::new()),
            OrderEvent::OrderPlaced(e) => (e.order_id, "placed", String::new()),
            OrderEvent::OrderCancelled(e) => (e.order_id, "cancelled", String::new()),
        };
        sqlx::query(&format!(
            "INSERT INTO {} (order_id, kind, customer) VALUES ($1, $2, $3)",
            self.table
        ))
        .bind(order.to_string())
        .bind(kind)
        .bind(customer)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

/// Creates `topics` (name, partitions) on the broker: tansu does not create topics on use.
async fn create_topics(bootstrap: &str, topics: &[(&str, i32)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let topics: Vec<NewTopic> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    for r in admin
        .create_topics(
            &topics,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap()
    {
        r.unwrap();
    }
}

/// An evc registry of the test's own, in memory.
async fn registry() -> evc_registry::RunningServer {
    evc_registry::spawn(evc_registry::ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        evc_registry::StorageUrl::parse("memory").unwrap(),
    ))
    .await
    .unwrap()
}

/// A PostgreSQL schema of the test's own with a `seen` table the [`Record`] handler fills:
/// the pool, the schema and the table's qualified name.
async fn seen_table() -> (sqlx::PgPool, String, String) {
    let pg_url = std::env::var("EVC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let pool = sqlx::PgPool::connect(&pg_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {pg_url} is needed: {e}"));
    let schema = format!(
        "e2e_{}_{}",
        std::process::id(),
        Utc::now().timestamp_micros()
    );
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&pool)
        .await
        .unwrap();
    let table = format!("{schema}.seen");
    sqlx::query(&format!(
        "CREATE TABLE {table} (seq BIGSERIAL PRIMARY KEY, order_id TEXT, kind TEXT, customer TEXT)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    (pool, schema, table)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producers_and_consumers_from_two_ecosystems_through_tansu() {
    let broker = broker();
    let bootstrap = broker.1.clone();
    create_topics(&bootstrap, &[("orders", 3), ("orders.dlq", 1)]).await;
    let registry = registry().await;
    let url = registry.url();
    let (pool, schema, table) = seen_table().await;

    // evc's producer: 10 orders, created (v1 and v2 alternately) then paid
    let client = evc_registry_client::RegistryClient::new(&url).unwrap();
    let producer = evc_producer::EventProducer::with_serializer(
        &evc_producer::ProducerConfig::new(bootstrap.clone()),
        evc_wire::Serializer::new(client.clone()).auto_register(true),
    )
    .unwrap();
    for i in 0..10u128 {
        let order = Uuid::from_u128(i + 1);
        let at = Utc
            .timestamp_millis_opt(1_700_000_000_000 + i as i64)
            .unwrap();
        if i % 2 == 0 {
            let e = order_events::v1::OrderCreated {
                event_id: Uuid::from_u128(100 + i),
                order_id: order,
                occurred_at: at,
                customer_id: format!("rs-{i}"),
                currency: "EUR".into(),
            };
            producer.send(&e).await.unwrap();
        } else {
            let e = order_events::OrderCreated {
                event_id: Uuid::from_u128(100 + i),
                order_id: order,
                occurred_at: at,
                customer_id: format!("rs-{i}"),
                currency: "EUR".into(),
                channel: order_events::order_created::v2::SalesChannel::Mobile,
                shipping_address: None,
            };
            producer.send(&e).await.unwrap();
        }
        let paid = order_events::OrderPaid {
            event_id: Uuid::from_u128(200 + i),
            order_id: order,
            occurred_at: at,
            amount: order_events::order_paid::v2::Money {
                amount_minor: 100 * i as i64,
                currency: "EUR".into(),
            },
            method: order_events::order_paid::v2::PaymentMethod::Card,
            payment_reference: None,
            tax_rate: Some("0.2000".parse().unwrap()),
        };
        producer.send(&paid).await.unwrap();
    }

    // Python's AvroSerializer: 5 more OrderCreated, with the v2 schema text
    let schema_file = std::env::temp_dir().join(format!("{schema}.avsc"));
    std::fs::write(&schema_file, order_events::OrderCreated::SCHEMA_JSON).unwrap();
    let interop = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/kafka_python.py");
    let out = Command::new(python())
        .arg(&interop)
        .args(["produce", &bootstrap, &url, "orders"])
        .arg(&schema_file)
        .arg("5")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python producer: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // evc's consumer reads all 25, into PostgreSQL
    let store =
        evc_consumer::PostgresStore::with_pool(pool.clone(), &format!("{schema}.processed"))
            .await
            .unwrap();
    let consumer = EventConsumer::<OrderEvent, _, _>::new(
        ConsumerConfig::new(bootstrap.clone(), "e2e")
            .topic("orders")
            .commit_interval(Duration::from_millis(200)),
        client.clone(),
        store,
        Record {
            table: table.clone(),
        },
    )
    .unwrap();
    let control = consumer.control();
    let run = tokio::spawn(consumer.run());
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        if n >= 25 {
            break;
        }
        assert!(Instant::now() < deadline, "only {n} of 25 events consumed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    control.shutdown();
    let metrics = run.await.unwrap().unwrap();
    assert_eq!((metrics.processed, metrics.dead_lettered), (25, 0));
    let rows: Vec<(String, String, String)> = sqlx::query_as(&format!(
        "SELECT order_id, kind, customer FROM {table} ORDER BY seq"
    ))
    .fetch_all(&pool)
    .await
    .unwrap();
    for i in 0..10u128 {
        let order = Uuid::from_u128(i + 1).to_string();
        let kinds: Vec<&str> = rows
            .iter()
            .filter(|r| r.0 == order)
            .map(|r| r.1.as_str())
            .collect();
        assert_eq!(kinds, ["created", "paid"], "order {i} in order");
    }
    let from_python: Vec<&str> = rows
        .iter()
        .filter(|r| r.2.starts_with("py-"))
        .map(|r| r.2.as_str())
        .collect();
    assert_eq!(from_python.len(), 5, "{rows:?}");

    // Python's AvroDeserializer reads evc's events (and its own)
    let out = Command::new(python())
        .arg(&interop)
        .args(["consume", &bootstrap, &url, "orders", "25"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python consumer: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 25);
    let rs_created: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| {
            l["value"]["customer_id"]
                .as_str()
                .is_some_and(|c| c.starts_with("rs-"))
        })
        .collect();
    assert_eq!(rs_created.len(), 10);
    assert!(
        lines.iter().any(|l| l["value"]["tax_rate"] == "0.2000"),
        "decimals survive: {lines:?}"
    );
    for l in &lines {
        assert_eq!(
            l["key"].as_str().unwrap(),
            l["value"]["order_id"].as_str().unwrap(),
            "keyed by order id"
        );
    }

    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
    registry.stop().await.unwrap();
    drop(broker);
}

/// An `OrderCreated` v2 for order `n`.
fn created(n: u128) -> order_events::OrderCreated {
    order_events::OrderCreated {
        event_id: Uuid::from_u128(1_000 + n),
        order_id: Uuid::from_u128(n + 1),
        occurred_at: Utc.timestamp_millis_opt(1_700_000_000_000).unwrap(),
        customer_id: format!("c-{n}"),
        currency: "EUR".into(),
        channel: order_events::order_created::v2::SalesChannel::Web,
        shipping_address: None,
    }
}

/// Whether `group` has committed every partition of `topic` up to its high watermark.
fn all_committed(bootstrap: &str, group: &str, topic: &str, partitions: i32) -> bool {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    (0..partitions).all(|p| {
        let (_, high) = c
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .unwrap();
        match committed.find_partition(topic, p).map(|e| e.offset()) {
            Some(rdkafka::Offset::Offset(o)) => o >= high,
            _ => high == 0,
        }
    })
}

/// Waits up to 90 s for `done`.
async fn wait(what: &str, done: &dyn Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A member losing partitions in a rebalance commits what it acked before it lets them go, so
/// the new owner starts after it and nothing is processed twice. Periodic commits are off, so
/// only the commit on revoke can make that so. (librdkafka's mock coordinator can refuse that
/// commit; see evc-consumer's `a_rebalance_commits_on_revoke_and_hands_partitions_over_…`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_through_tansu_commits_on_revoke_so_nothing_is_reprocessed() {
    let broker = broker();
    let bootstrap = broker.1.clone();
    create_topics(&bootstrap, &[("orders", 4), ("orders.dlq", 1)]).await;
    let registry = registry().await;
    let client = evc_registry_client::RegistryClient::new(&registry.url()).unwrap();
    let producer = evc_producer::EventProducer::with_serializer(
        &evc_producer::ProducerConfig::new(bootstrap.clone()),
        evc_wire::Serializer::new(client.clone()).auto_register(true),
    )
    .unwrap();
    let (pool, schema, table) = seen_table().await;
    let member = || async {
        let store =
            evc_consumer::PostgresStore::with_pool(pool.clone(), &format!("{schema}.processed"))
                .await
                .unwrap();
        let consumer = EventConsumer::<OrderEvent, _, _>::new(
            ConsumerConfig::new(bootstrap.clone(), "pair")
                .topic("orders")
                .commit_interval(Duration::from_secs(3600)),
            client.clone(),
            store,
            Record {
                table: table.clone(),
            },
        )
        .unwrap();
        (
            consumer.control(),
            consumer.metrics(),
            tokio::spawn(consumer.run()),
        )
    };
    for n in 0..40 {
        producer.send(&created(n)).await.unwrap();
    }
    let (a_control, a, a_run) = member().await;
    wait("A to process the first 40", &|| {
        a.snapshot().processed == 40
    })
    .await;
    assert!(
        !all_committed(&bootstrap, "pair", "orders", 4),
        "nothing committed yet"
    );

    let (b_control, b, b_run) = member().await;
    wait("A's commit on revoke", &|| {
        let m = a.snapshot();
        m.revoke_commits + m.revoke_commit_refusals >= 1
    })
    .await;
    assert_eq!(a.snapshot().revoke_commit_refusals, 0, "{:?}", a.snapshot());
    assert!(
        all_committed(&bootstrap, "pair", "orders", 4),
        "the commit on revoke covered what A had acked"
    );
    for n in 40..80 {
        producer.send(&created(n)).await.unwrap();
    }
    wait("all 80 processed", &|| {
        a.snapshot().processed + b.snapshot().processed == 80
    })
    .await;
    a_control.shutdown();
    b_control.shutdown();
    let (a_last, b_last) = (a_run.await.unwrap().unwrap(), b_run.await.unwrap().unwrap());
    assert!(b_last.processed > 0, "B got partitions: {b_last:?}");
    assert_eq!(
        a_last.duplicates + b_last.duplicates,
        0,
        "no reprocessing: {a_last:?} {b_last:?}"
    );
    let rows: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 80, "one side effect per event");
    assert!(all_committed(&bootstrap, "pair", "orders", 4));

    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
    registry.stop().await.unwrap();
    drop(broker);
}

#[path = "../../crates/evc-demo/tests/common/mod.rs"]
mod demo_lifecycle;

/// The demo (the order domain end to end: schema history pushed, event store, outbox relay,
/// read model, saga driving the order lifecycle, readers of two schema versions) against real
/// servers: tansu, the evc registry and PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_on_tansu_the_registry_and_postgres() {
    let broker = broker();
    let registry = evc_registry::spawn(evc_registry::ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        evc_registry::StorageUrl::parse("memory").unwrap(),
    ))
    .await
    .unwrap();
    let pg_url = std::env::var("EVC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let opts = evc_demo::DemoOptions {
        bootstrap: Some(broker.1.clone()),
        registry: Some(registry.url()),
        database: Some(pg_url.clone()),
        ..evc_demo::DemoOptions::default()
    };
    let mut out = Vec::new();
    let report = evc_demo::run(opts, &mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    println!("{text}");
    demo_lifecycle::assert_lifecycle(&report, &text);
    // on the evc registry, registry versions are the schema directory's vN
    assert!(
        text.lines()
            .any(|l| l.contains("orders-com.acme.orders.OrderCreated ")
                && l.ends_with("v1 = id 1, v2 = id 2")),
        "{text}"
    );
    if let Some(schema) = &report.postgres_schema {
        let pool = sqlx::PgPool::connect(&pg_url).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&pool)
            .await
            .unwrap();
    }
    registry.stop().await.unwrap();
}
