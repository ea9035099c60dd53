//! The order pipeline under faults, checked as a history: commands append events to the event
//! store (SQLite) while the outbox relay and the projection consumer run as separate processes
//! that are killed with SIGKILL at random points and restarted, and the consumers reach the
//! registry through the fault proxy (delays, resets). Afterwards the [`History`] checker reads
//! the event store, every message of the topic, the consumer's side-effect table and the read
//! model, rebuilds the read model from the store, and proves: every appended event published
//! at least once, in per-key order; every side effect exactly once; the read model equal to
//! the rebuild.
//!
//! The broker is librdkafka's mock cluster, held by this (parent) process; the children are
//! this same test binary, started again with `EVC_FAULTS_ROLE=relay|consumer` (the test has
//! its own `main`, `harness = false`). Fixed seeds choose the kill points. The short profile
//! runs in the normal suite; `EVC_FAULTS_ORDERS=N` and `EVC_FAULTS_KILLS=N` run longer ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use evc_consumer::{
    ConsumerConfig, EventConsumer, Handler, HandlerError, MessageMeta, SqliteStore,
};
use evc_eventstore::EventStore;
use evc_faults::{Appended, Delivered, FaultProxy, Faults, History, Rng};
use evc_order::summary::OrderSummaries;
use evc_order::{AddItem, Command, CreateOrder, OrderService, PayOrder, PlaceOrder, ShipOrder};
use evc_outbox::{Relay, RelayConfig};
use evc_producer::ProducerConfig;
use evc_projection::Projector;
use evc_registry_client::RegistryClient;
use evc_storage::Database;
use evc_wire::{Deserializer, Serializer};
use order_events::order_created::v2::SalesChannel;
use order_events::order_paid::v2::PaymentMethod;
use order_events::OrderEvent;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 3;
const GROUP: &str = "faults-projection";
const EFFECTS: &str = "faults_effects";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    match std::env::var("EVC_FAULTS_ROLE").as_deref() {
        Ok("relay") => rt.block_on(relay_process()),
        Ok("consumer") => rt.block_on(consumer_process()),
        Ok(other) => panic!("unknown EVC_FAULTS_ROLE {other}"),
        Err(_) => {
            rt.block_on(pipeline_under_kills(0xFA17_0001));
            println!("test pipeline_under_kills ... ok");
            println!("1 passed, 0 failed");
        }
    }
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for a child process"))
}

/// The relay, until killed.
async fn relay_process() {
    let dir = PathBuf::from(var("EVC_FAULTS_DIR"));
    let store = EventStore::open_sqlite(dir.join("events.db"))
        .await
        .expect("open the event store");
    let mut config = RelayConfig::new("faults-relay", TOPIC);
    config.batch_size = 20;
    config.poll_interval = Duration::from_millis(20);
    let relay = Relay::new(
        store,
        &ProducerConfig::new(var("EVC_FAULTS_BOOTSTRAP")),
        config,
    )
    .await
    .expect("the relay starts");
    relay
        .run(std::future::pending())
        .await
        .expect("the relay runs until killed");
}

/// The projection, with a side-effect row per handled event in the same transaction.
struct WithEffects(Projector<OrderSummaries>);

impl Handler<OrderEvent, Sqlite> for WithEffects {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        event: &OrderEvent,
        meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        self.0.handle(tx, event, meta).await?;
        let id = evc_avro::TopicEvent::event_id(event)
            .map(|u| u.to_string())
            .unwrap_or_default();
        sqlx::query(&format!("INSERT INTO {EFFECTS} (event_id) VALUES (?)"))
            .bind(id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

async fn projection_db(dir: &Path) -> Database {
    Database::open_sqlite(dir.join("projection.db"))
        .await
        .expect("open the projection database")
}

/// The consumer, until killed.
async fn consumer_process() {
    let dir = PathBuf::from(var("EVC_FAULTS_DIR"));
    let db = projection_db(&dir).await;
    let pool = db.sqlite_pool().expect("SQLite").clone();
    let projector = Projector::new(OrderSummaries::new());
    evc_projection::migrate::<OrderEvent, _>(&db, projector.model())
        .await
        .expect("migrate the read model");
    sqlx::query(&format!(
        "CREATE TABLE IF NOT EXISTS {EFFECTS} (event_id TEXT NOT NULL)"
    ))
    .execute(&pool)
    .await
    .expect("the effects table");
    let store = SqliteStore::with_pool(pool, "processed_events")
        .await
        .expect("the processed-events store");
    let config = ConsumerConfig::new(var("EVC_FAULTS_BOOTSTRAP"), GROUP)
        .commit_interval(Duration::from_millis(100))
        .set("session.timeout.ms", "3000")
        .set("heartbeat.interval.ms", "300");
    let registry = RegistryClient::new(&var("EVC_FAULTS_REGISTRY")).expect("a registry client");
    let consumer = EventConsumer::new(config, registry, store, WithEffects(projector))
        .expect("the consumer starts");
    consumer
        .run()
        .await
        .expect("the consumer runs until killed");
}

/// A child process of one role; SIGKILLed when dropped.
struct Worker {
    role: &'static str,
    child: Child,
}

impl Worker {
    fn start(role: &'static str, env: &[(&str, String)]) -> Worker {
        let child = Process::new(std::env::current_exe().expect("this test binary"))
            .env("EVC_FAULTS_ROLE", role)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start a child process");
        Worker { role, child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Fails the test if the child ended by itself (it only ends when killed).
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the {} process ended by itself: {status}", self.role);
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn pipeline_under_kills(seed: u64) {
    let orders = env_u64("EVC_FAULTS_ORDERS", 12);
    let kills = env_u64("EVC_FAULTS_KILLS", 8);
    let dir = tempfile::tempdir().expect("a temp dir");

    let cluster: MockCluster<'static, DefaultProducerContext> =
        MockCluster::new(1).expect("the mock cluster");
    cluster
        .create_topic(TOPIC, PARTITIONS, 1)
        .expect("the topic");
    let bootstrap = cluster.bootstrap_servers();

    let registry_server = evc_registry::spawn(evc_registry::ServerConfig::new(
        ([127, 0, 0, 1], 0).into(),
        evc_registry::StorageUrl::Sqlite(dir.path().join("registry.db")),
    ))
    .await
    .expect("the registry");
    let proxy = FaultProxy::start(registry_server.addr(), seed ^ 0x50)
        .await
        .expect("the proxy");
    proxy.set_faults(Faults {
        refuse: 0.02,
        delay: 0.2,
        delay_ms: (1, 20),
        reset: 0.02,
    });

    let registry = RegistryClient::new(&registry_server.url()).expect("a registry client");
    let store = EventStore::open_sqlite(dir.path().join("events.db"))
        .await
        .expect("the event store");
    let service = OrderService::new(
        store.clone(),
        Serializer::new(registry.clone()).auto_register(true),
        Deserializer::new(registry.clone()),
    );

    let env = vec![
        ("EVC_FAULTS_DIR", dir.path().display().to_string()),
        ("EVC_FAULTS_BOOTSTRAP", bootstrap.clone()),
        ("EVC_FAULTS_REGISTRY", format!("http://{}", proxy.addr())),
    ];
    // The first event registers the schemas and creates the store's tables before any child.
    let ids: Vec<Uuid> = (0..orders).map(|_| Uuid::new_v4()).collect();
    let commands = commands(&ids);
    let mut pending = commands.iter();
    service
        .execute(pending.next().expect("a command"))
        .await
        .expect("the first command");
    let mut relay = Worker::start("relay", &env);
    let mut consumer = Worker::start("consumer", &env);

    // Commands in `kills` rounds. After each round, once the consumer has handled something
    // of it (so both children are up and busy), a pause of a seeded length, then one of them
    // is killed: the kill lands in the middle of their work, at a different point each time.
    let db = projection_db(dir.path()).await;
    let mut rng = Rng::new(seed);
    let rest: Vec<&Command> = pending.collect();
    let round = rest.len().div_ceil(kills.max(1) as usize).max(1);
    let mut kills_done = (0u64, 0u64);
    for chunk in rest.chunks(round) {
        let before = handled(&db).await;
        for command in chunk {
            service.execute(command).await.expect("a command");
            tokio::time::sleep(Duration::from_millis(rng.between(0, 10))).await;
        }
        let waiting = Instant::now();
        while handled(&db).await <= before {
            relay.assert_running();
            consumer.assert_running();
            assert!(
                waiting.elapsed() < Duration::from_secs(60),
                "the pipeline made no progress in a minute"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.between(0, 60))).await;
        if rng.chance(0.5) {
            relay.kill();
            relay = Worker::start("relay", &env);
            kills_done.0 += 1;
        } else {
            consumer.kill();
            consumer = Worker::start("consumer", &env);
            kills_done.1 += 1;
        }
    }

    // Let the pipeline drain: every event handled once.
    let appended: Vec<_> = store
        .read_all(1, usize::MAX >> 1)
        .await
        .expect("read the store");
    let started = Instant::now();
    loop {
        relay.assert_running();
        consumer.assert_running();
        let done = handled(&db).await;
        if done == appended.len() as i64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the pipeline did not drain: {done} of {} events handled",
            appended.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A last moment for anything still in flight, then stop both.
    tokio::time::sleep(Duration::from_millis(500)).await;
    relay.kill();
    consumer.kill();
    let proxy_stats = proxy.stats();

    // The history.
    let effects: Vec<String> = sqlx::query_scalar(&format!("SELECT event_id FROM {EFFECTS}"))
        .fetch_all(db.sqlite_pool().expect("SQLite"))
        .await
        .expect("the effects");
    let live = OrderSummaries::new();
    let rebuilt_model = OrderSummaries::with_table("order_summaries_rebuilt").expect("a table");
    let rebuilt_db = Database::open_sqlite(dir.path().join("rebuilt.db"))
        .await
        .expect("the rebuild database");
    evc_projection::rebuild::<OrderEvent, _>(
        &store,
        &Deserializer::new(registry.clone()),
        &rebuilt_db,
        &rebuilt_model,
    )
    .await
    .expect("the rebuild");
    let render = |rows: Vec<evc_order::summary::OrderSummary>| -> BTreeMap<String, String> {
        rows.into_iter()
            .map(|r| (r.order_id.to_string(), format!("{r:?}")))
            .collect()
    };
    let history = History {
        appended: appended
            .iter()
            .map(|e| Appended {
                position: e.position,
                key: e.key().to_string(),
                event_id: e.event_id.to_string(),
            })
            .collect(),
        delivered: read_topic(&bootstrap),
        effects,
        read_model: render(live.all(&db).await.expect("the read model")),
        rebuilt: render(rebuilt_model.all(&rebuilt_db).await.expect("the rebuild")),
    };
    match history.check() {
        Ok(summary) => eprintln!(
            "pipeline history (seed {seed:#x}): {summary:?}; relay killed {} times, consumer {} times; registry proxy {proxy_stats:?}",
            kills_done.0, kills_done.1
        ),
        Err(violations) => {
            for v in &violations {
                eprintln!("violation: {v}");
            }
            panic!(
                "the pipeline broke {} properties under faults (seed {seed:#x})",
                violations.len()
            );
        }
    }
    assert_eq!(
        kills_done.0 + kills_done.1,
        (rest.len().div_ceil(round)) as u64
    );
    drop(proxy);
    registry_server.stop().await.expect("stop the registry");
}

/// Events handled so far (0 before the consumer made its tables).
async fn handled(db: &Database) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(DISTINCT event_id) FROM {EFFECTS}"))
        .fetch_one(db.sqlite_pool().expect("SQLite"))
        .await
        .unwrap_or(0)
}

/// Each order's life (create, two items, place, pay, ship), interleaved across orders.
fn commands(ids: &[Uuid]) -> Vec<Command> {
    let mut out = Vec::new();
    for id in ids {
        out.push(Command::Create(CreateOrder {
            order_id: *id,
            customer_id: format!("c-{id}"),
            currency: "EUR".into(),
            channel: SalesChannel::Web,
            shipping_address: None,
        }));
    }
    for i in 0..2 {
        for id in ids {
            out.push(Command::AddItem(AddItem {
                order_id: *id,
                sku: format!("sku-{i}"),
                quantity: 1,
                unit_price_minor: 100,
            }));
        }
    }
    for id in ids {
        out.push(Command::Place(PlaceOrder { order_id: *id }));
        out.push(Command::Pay(PayOrder {
            order_id: *id,
            amount_minor: 200,
            currency: "EUR".into(),
            method: PaymentMethod::Card,
            payment_reference: None,
        }));
        out.push(Command::Ship(ShipOrder {
            order_id: *id,
            carrier: "dhl".into(),
            tracking_number: "T".into(),
            estimated_delivery: None,
        }));
    }
    out
}

/// Every message of the topic: partition, offset, key and the `evc-event-id` header.
fn read_topic(bootstrap: &str) -> Vec<Delivered> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "faults-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a reader");
    let mut expected = 0;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        let (lo, hi) = c
            .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
            .expect("watermarks");
        expected += hi - lo;
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
            .expect("a partition");
    }
    c.assign(&tpl).expect("assign");
    let started = Instant::now();
    let mut out = Vec::new();
    while (out.len() as i64) < expected {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "reading the topic timed out"
        );
        let Some(m) = c.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m.expect("a message");
        let event_id = m
            .headers()
            .and_then(|h| {
                h.iter()
                    .find(|h| h.key == "evc-event-id")
                    .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
            })
            .unwrap_or_default();
        out.push(Delivered {
            partition: m.partition(),
            offset: m.offset(),
            key: m
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default(),
            event_id,
        });
    }
    out
}
