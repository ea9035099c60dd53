//! A batching consumer killed (SIGKILL) at seeded points of its batches: with every handler of
//! a batch run and the commit not yet made, right after the commit with nothing acked, and
//! after some of the batch's acks. Each round's consumer is this test binary run again as a
//! child process (`EVC_BATCH_KILL_CHILD` set) over Redis, on the parent's SQLite file or
//! PostgreSQL schema and, over HTTP, the parent's in-process registry; it stops itself at the
//! chosen point and the parent kills it there. A last child finishes the topic. Afterwards
//! every event's effect is in the database exactly once, none lost, each order's in order.

mod common;

use std::io::Write as _;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use evc_avro::TopicEvent as _;
use evc_consumer::sqlx::{self, Postgres, Sqlite, Transaction};
use evc_consumer::{
    BatchPoint, ConsumerConfig, EventConsumer, Handler, HandlerError, MessageMeta, PostgresStore,
    SqliteStore,
};
use evc_registry_client::RegistryClient;
use evc_storage::testing::PgTestSchema;
use evc_storage::{Database, StorageUrl};
use evc_transport::{AnyTransport, Outgoing, Transport};
use evc_wire::Serializer;
use order_events::OrderEvent;
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

use common::{created, item, order_of, seq_of};

const CHILD: &str = "EVC_BATCH_KILL_CHILD";
const MARK: &str = "EVC-BATCH-KILL-POINT";
const ORDERS: u32 = 10;
const PER_ORDER: u32 = 20;
const BATCH: u16 = 16;
const ROUNDS: u64 = 6;

fn redis_url() -> String {
    std::env::var("EVC_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// One row per handled event, in the handler's transaction.
struct Effects;

macro_rules! effects_handler {
    ($db:ty, $sql:literal) => {
        impl Handler<OrderEvent, $db> for Effects {
            async fn handle(
                &self,
                tx: &mut Transaction<'static, $db>,
                event: &OrderEvent,
                meta: &MessageMeta,
            ) -> Result<(), HandlerError> {
                sqlx::query($sql)
                    .bind(&meta.event_key)
                    .bind(order_of(event).to_string())
                    .bind(seq_of(event) as i64)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }
        }
    };
}
effects_handler!(
    Sqlite,
    "INSERT INTO batch_effects (event_key, order_id, seq) VALUES (?, ?, ?)"
);
effects_handler!(
    Postgres,
    "INSERT INTO batch_effects (event_key, order_id, seq) VALUES ($1, $2, $3)"
);

/// Where a child stops: at `point` of its `nth` batch (`acked`: after that many acks).
#[derive(Debug, Clone, Copy)]
enum Point {
    BeforeCommit,
    AfterCommit,
    Acked(usize),
    Never,
}

struct Spec {
    db: String,
    registry: String,
    topic: String,
    group: String,
    point: Point,
    nth: usize,
}

impl Spec {
    fn encode(&self) -> String {
        let (p, j) = match self.point {
            Point::BeforeCommit => ("before", 0),
            Point::AfterCommit => ("after", 0),
            Point::Acked(j) => ("acked", j),
            Point::Never => ("never", 0),
        };
        format!(
            "{}|{}|{}|{}|{p}|{j}|{}",
            self.db, self.registry, self.topic, self.group, self.nth
        )
    }

    fn decode(s: &str) -> Spec {
        let f: Vec<&str> = s.split('|').collect();
        let j: usize = f[5].parse().unwrap();
        Spec {
            db: f[0].into(),
            registry: f[1].into(),
            topic: f[2].into(),
            group: f[3].into(),
            point: match f[4] {
                "before" => Point::BeforeCommit,
                "after" => Point::AfterCommit,
                "acked" => Point::Acked(j),
                _ => Point::Never,
            },
            nth: f[6].parse().unwrap(),
        }
    }
}

/// The child: a batching consumer that stops (and waits to be killed) at its point.
async fn child(spec: &str) {
    let spec = Spec::decode(spec);
    let db = Database::open(&StorageUrl::parse(&spec.db).unwrap(), "batch-kill")
        .await
        .unwrap();
    let registry = RegistryClient::new(&spec.registry).unwrap();
    let config = ConsumerConfig::new(redis_url(), &spec.group)
        .topic(&spec.topic)
        .batch_size(BATCH)
        .takeover_after(Duration::from_millis(500));
    let (point, nth) = (spec.point, spec.nth);
    let batches = AtomicUsize::new(0);
    let hook = move |p: BatchPoint| {
        let hit = match (point, p) {
            (Point::BeforeCommit, BatchPoint::BeforeCommit { .. }) => {
                batches.fetch_add(1, Ordering::SeqCst) + 1 == nth
            }
            (Point::AfterCommit | Point::Acked(_), BatchPoint::AfterCommit { .. }) => {
                let n = batches.fetch_add(1, Ordering::SeqCst) + 1;
                matches!(point, Point::AfterCommit) && n == nth
            }
            (Point::Acked(j), BatchPoint::Settled { acked, events }) => {
                batches.load(Ordering::SeqCst) == nth && acked == j.clamp(1, events - 1)
            }
            _ => false,
        };
        if hit {
            println!("{MARK} {p:?}");
            let _ = std::io::stdout().flush();
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    };
    if let Some(pool) = db.sqlite_pool() {
        let store = SqliteStore::with_pool(pool.clone(), "evc_processed_events")
            .await
            .unwrap();
        let c = EventConsumer::new(config, registry, store, Effects).unwrap();
        c.control().on_batch(hook);
        c.run().await.unwrap();
    } else {
        let pool = db.postgres_pool().unwrap();
        let store = PostgresStore::with_pool(pool.clone(), "evc_processed_events")
            .await
            .unwrap();
        let c = EventConsumer::new(config, registry, store, Effects).unwrap();
        c.control().on_batch(hook);
        c.run().await.unwrap();
    }
    unreachable!("the child consumer runs until killed");
}

/// A small deterministic generator for the kill points.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

async fn count(db: &Database, sql: &str) -> i64 {
    if let Some(p) = db.sqlite_pool() {
        sqlx::query_scalar(sql).fetch_one(p).await.unwrap()
    } else {
        sqlx::query_scalar(sql)
            .fetch_one(db.postgres_pool().unwrap())
            .await
            .unwrap()
    }
}

async fn effects(db: &Database) -> Vec<(String, String, i64)> {
    let sql = "SELECT event_key, order_id, seq FROM batch_effects ORDER BY id";
    if let Some(p) = db.sqlite_pool() {
        sqlx::query_as(sql).fetch_all(p).await.unwrap()
    } else {
        sqlx::query_as(sql)
            .fetch_all(db.postgres_pool().unwrap())
            .await
            .unwrap()
    }
}

async fn kill_rounds(db_url: &str, test: &str, seed: u64) {
    let db = Database::open(&StorageUrl::parse(db_url).unwrap(), "batch-kill")
        .await
        .unwrap();
    let ddl = if db.sqlite_pool().is_some() {
        "CREATE TABLE batch_effects (id INTEGER PRIMARY KEY AUTOINCREMENT, event_key TEXT NOT NULL, order_id TEXT NOT NULL, seq BIGINT NOT NULL)"
    } else {
        "CREATE TABLE batch_effects (id BIGSERIAL PRIMARY KEY, event_key TEXT NOT NULL, order_id TEXT NOT NULL, seq BIGINT NOT NULL)"
    };
    match (db.sqlite_pool(), db.postgres_pool()) {
        (Some(p), _) => drop(sqlx::query(ddl).execute(p).await.unwrap()),
        (_, Some(p)) => drop(sqlx::query(ddl).execute(p).await.unwrap()),
        _ => unreachable!(),
    }
    // The events: ORDERS orders of PER_ORDER events each, interleaved, over 4 shards.
    let registry_url =
        evc_registry_client::mock::http_url(&format!("batch-kill-{}", Uuid::new_v4()))
            .await
            .unwrap();
    let serializer =
        Serializer::new(RegistryClient::new(&registry_url).unwrap()).auto_register(true);
    let transport = AnyTransport::connect(&redis_url())
        .await
        .unwrap_or_else(|e| panic!("this test needs Redis at {}: {e}", redis_url()));
    let topic = format!(
        "evc-batch-kill-{}",
        &Uuid::new_v4().simple().to_string()[..10]
    );
    let group = format!("{topic}-g");
    transport.declare_topic(&topic, 4).await.unwrap();
    transport.declare_group(&topic, &group).await.unwrap();
    let orders: Vec<Uuid> = (0..ORDERS).map(|_| Uuid::new_v4()).collect();
    let mut msgs = Vec::new();
    for seq in 0..PER_ORDER {
        for o in &orders {
            let e = if seq == 0 {
                OrderEvent::from(created(*o))
            } else {
                OrderEvent::from(item(*o, seq))
            };
            let payload = serializer.serialize_topic(&e).await.unwrap();
            let mut m = Outgoing::new(e.partition_key(), payload);
            m.headers = evc_producer::event_headers(e.event_id(), e.full_name());
            msgs.push(m);
        }
    }
    let total = msgs.len() as i64;
    transport.publish_batch(&topic, msgs).await.unwrap();

    let mut rng = Seeded(seed);
    let mut points = Vec::new();
    for _ in 0..ROUNDS {
        let point = match rng.next(3) {
            0 => Point::BeforeCommit,
            1 => Point::AfterCommit,
            _ => Point::Acked(1 + rng.next(BATCH as u64 - 1) as usize),
        };
        points.push((point, 1 + rng.next(2) as usize));
    }
    points.push((Point::Never, 0));
    for (round, (point, nth)) in points.into_iter().enumerate() {
        let spec = Spec {
            db: db_url.into(),
            registry: registry_url.clone(),
            topic: topic.clone(),
            group: group.clone(),
            point,
            nth,
        };
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads", "1"])
            .env(CHILD, spec.encode())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        if let Point::Never = point {
            // The last consumer finishes the topic.
            let started = Instant::now();
            while count(&db, "SELECT COUNT(*) FROM evc_processed_events").await < total {
                assert!(
                    started.elapsed() < Duration::from_secs(120),
                    "the last consumer finishes within 120 s"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        } else {
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let found = tokio::time::timeout(Duration::from_secs(60), async {
                while let Some(line) = lines.next_line().await.unwrap() {
                    if line.contains(MARK) {
                        return line;
                    }
                    eprintln!("round {round} child: {line}");
                }
                panic!("round {round}: the child ended before its kill point {point:?}/{nth}");
            })
            .await
            .unwrap_or_else(|_| {
                panic!("round {round}: kill point {point:?}/{nth} not reached in 60 s")
            });
            eprintln!("round {round}: killed at {found}");
        }
        child.kill().await.unwrap(); // SIGKILL
    }

    // Exactly once, none lost, each order in order.
    let rows = effects(&db).await;
    let mut per_key = std::collections::HashMap::<&str, usize>::new();
    for (k, _, _) in &rows {
        *per_key.entry(k.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = per_key.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "effects not exactly once: {twice:?}");
    assert_eq!(rows.len() as i64, total, "every event's effect, none lost");
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM evc_processed_events").await,
        total
    );
    for o in &orders {
        let seqs: Vec<i64> = rows
            .iter()
            .filter(|(_, order, _)| *order == o.to_string())
            .map(|(_, _, s)| *s)
            .collect();
        let want: Vec<i64> = (0..PER_ORDER as i64).collect();
        assert_eq!(seqs, want, "order {o}: effects in publish order");
    }
    transport.delete_group(&topic, &group).await.unwrap();
    transport.delete_topic(&topic).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_inside_and_after_batch_commits_applies_each_event_once_sqlite() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec).await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("kill.db").display());
    kill_rounds(
        &url,
        "a_consumer_killed_inside_and_after_batch_commits_applies_each_event_once_sqlite",
        0xBA7C_0001,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_inside_and_after_batch_commits_applies_each_event_once_postgres() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec).await;
        return;
    }
    let schema = PgTestSchema::create("evc_batch_kill").await;
    kill_rounds(
        &schema.url,
        "a_consumer_killed_inside_and_after_batch_commits_applies_each_event_once_postgres",
        0xBA7C_0002,
    )
    .await;
    schema.drop_schema().await;
}
