//! The child processes the suites kill: the outbox relay and the projection consumer, each
//! this same test binary started again with `EVC_FAULTS_ROLE=relay|consumer`, and their
//! stores (SQLite files in `EVC_FAULTS_DIR`, or PostgreSQL at `EVC_FAULTS_PG` when set).
//!
//! A relay or consumer whose run ends with an error (its database or broker went away) is
//! started again inside the child after a pause, as a process supervisor would restart it:
//! the relay resumes from its checkpoint, the consumer from the group's committed offsets.
//! Each such restart appends a line to `EVC_FAULTS_DIR/restarts.log`, which the parent counts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::Duration;

use evc_consumer::{
    ConsumerConfig, EventConsumer, Handler, HandlerError, MessageMeta, PostgresStore, SqliteStore,
};
use evc_eventstore::EventStore;
use evc_order::summary::OrderSummaries;
use evc_outbox::{Relay, RelayConfig};
use evc_producer::ProducerConfig;
use evc_projection::Projector;
use evc_registry_client::RegistryClient;
use evc_storage::Database;
use order_events::OrderEvent;
use sqlx::{Postgres, Sqlite, Transaction};

pub const TOPIC: &str = "orders";
pub const PARTITIONS: i32 = 3;
pub const GROUP: &str = "faults-projection";
pub const EFFECTS: &str = "faults_effects";

/// Where the relay, the consumer and the parent keep their data.
#[derive(Debug, Clone)]
pub enum Stores {
    /// SQLite files in this directory.
    Sqlite(PathBuf),
    /// One PostgreSQL database (the event store, the outbox checkpoint, the processed-events
    /// and effects tables and the read model).
    Postgres(String),
}

impl Stores {
    /// From the child's environment.
    fn from_env() -> Stores {
        match std::env::var("EVC_FAULTS_PG") {
            Ok(url) => Stores::Postgres(url),
            Err(_) => Stores::Sqlite(PathBuf::from(var("EVC_FAULTS_DIR"))),
        }
    }

    /// The environment a child needs to open the same stores.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Stores::Sqlite(_) => Vec::new(),
            Stores::Postgres(url) => vec![("EVC_FAULTS_PG", url.clone())],
        }
    }

    pub async fn event_store(&self) -> Result<EventStore, evc_eventstore::StoreError> {
        match self {
            Stores::Sqlite(dir) => EventStore::open_sqlite(dir.join("events.db")).await,
            Stores::Postgres(url) => EventStore::connect_postgres(url).await,
        }
    }

    pub async fn projection_db(&self) -> Result<Database, evc_storage::StorageError> {
        match self {
            Stores::Sqlite(dir) => Database::open_sqlite(dir.join("projection.db")).await,
            Stores::Postgres(url) => Database::open_postgres(url, None, "faults-projection").await,
        }
    }
}

pub fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for a child process"))
}

/// Runs `role` until killed: the relay or the consumer, restarted in-process after a failure.
pub async fn run_role(role: &str) {
    let stores = Stores::from_env();
    let dir = PathBuf::from(var("EVC_FAULTS_DIR"));
    loop {
        let ended = match role {
            "relay" => relay(&stores).await,
            "consumer" => consumer(&stores).await,
            other => panic!("unknown EVC_FAULTS_ROLE {other}"),
        };
        note_restart(&dir, role, &ended);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn note_restart(dir: &Path, role: &str, why: &str) {
    eprintln!("faults: the {role} stopped ({why}); starting it again");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("restarts.log"))
        .expect("the restarts log");
    writeln!(f, "{role}").expect("write the restarts log");
}

/// How many times the children restarted their work after a failure.
pub fn restarts(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("restarts.log"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// One relay run; answers why it ended.
async fn relay(stores: &Stores) -> String {
    let store = match stores.event_store().await {
        Ok(s) => s,
        Err(e) => return format!("open the event store: {e}"),
    };
    let mut config = RelayConfig::new("faults-relay", TOPIC);
    config.batch_size = 20;
    config.poll_interval = Duration::from_millis(20);
    let relay = match Relay::new(
        store,
        &ProducerConfig::new(var("EVC_FAULTS_BOOTSTRAP")),
        config,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return format!("start: {e}"),
    };
    match relay.run(std::future::pending()).await {
        Ok(_) => "ended".into(),
        Err(e) => format!("run: {e}"),
    }
}

/// The projection, with a side-effect row per handled event in the same transaction.
struct WithEffects(Projector<OrderSummaries>);

fn event_id(event: &OrderEvent) -> String {
    evc_avro::TopicEvent::event_id(event)
        .map(|u| u.to_string())
        .unwrap_or_default()
}

impl Handler<OrderEvent, Sqlite> for WithEffects {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        event: &OrderEvent,
        meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        self.0.handle(tx, event, meta).await?;
        sqlx::query(&format!("INSERT INTO {EFFECTS} (event_id) VALUES (?)"))
            .bind(event_id(event))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

impl Handler<OrderEvent, Postgres> for WithEffects {
    async fn handle(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        event: &OrderEvent,
        meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        self.0.handle(tx, event, meta).await?;
        sqlx::query(&format!("INSERT INTO {EFFECTS} (event_id) VALUES ($1)"))
            .bind(event_id(event))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// Migrates the read model and makes the effects table.
pub async fn prepare_projection(db: &Database) -> Result<(), String> {
    let projector = Projector::new(OrderSummaries::new());
    evc_projection::migrate::<OrderEvent, _>(db, projector.model())
        .await
        .map_err(|e| format!("migrate the read model: {e}"))?;
    let mut tx = db.write().await.map_err(|e| e.to_string())?;
    tx.exec(
        &format!("CREATE TABLE IF NOT EXISTS {EFFECTS} (event_id TEXT NOT NULL)"),
        &[],
    )
    .await
    .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())
}

/// One consumer run; answers why it ended.
async fn consumer(stores: &Stores) -> String {
    let db = match stores.projection_db().await {
        Ok(db) => db,
        Err(e) => return format!("open the projection database: {e}"),
    };
    if let Err(e) = prepare_projection(&db).await {
        return e;
    }
    let config = ConsumerConfig::new(var("EVC_FAULTS_BOOTSTRAP"), GROUP)
        .commit_interval(Duration::from_millis(100))
        .set("session.timeout.ms", "3000")
        .set("heartbeat.interval.ms", "300");
    let registry = RegistryClient::new(&var("EVC_FAULTS_REGISTRY")).expect("a registry client");
    let handler = WithEffects(Projector::new(OrderSummaries::new()));
    let ended = if let Some(pool) = db.sqlite_pool() {
        let store = match SqliteStore::with_pool(pool.clone(), "processed_events").await {
            Ok(s) => s,
            Err(e) => return format!("the processed-events store: {e}"),
        };
        match EventConsumer::new(config, registry, store, handler) {
            Ok(c) => c.run().await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    } else {
        let pool = db.postgres_pool().expect("PostgreSQL").clone();
        let store = match PostgresStore::with_pool(pool, "processed_events").await {
            Ok(s) => s,
            Err(e) => return format!("the processed-events store: {e}"),
        };
        match EventConsumer::new(config, registry, store, handler) {
            Ok(c) => c.run().await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    };
    match ended {
        Ok(()) => "ended".into(),
        Err(e) => format!("run: {e}"),
    }
}

/// A child process of one role; SIGKILLed when dropped.
pub struct Worker {
    role: &'static str,
    child: Child,
    env: Vec<(&'static str, String)>,
}

impl Worker {
    pub fn start(role: &'static str, env: &[(&'static str, String)]) -> Worker {
        let child = Process::new(std::env::current_exe().expect("this test binary"))
            .env("EVC_FAULTS_ROLE", role)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start a child process");
        Worker {
            role,
            child,
            env: env.to_vec(),
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGKILL, then the same role again.
    pub fn restart(&mut self) {
        self.kill();
        *self = Worker::start(self.role, &self.env);
    }

    /// Fails the test if the child ended by itself (it only ends when killed).
    pub fn assert_running(&mut self) {
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
