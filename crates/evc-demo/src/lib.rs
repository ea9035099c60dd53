//! `evc demo`: the order domain end to end, with nothing installed.
//!
//! **Owns:** wiring the crates together for a demonstration run and printing what happened.
//! By default everything is in-process: the registry is `mock://` (the real `evc-registry`
//! router on memory storage), the broker is librdkafka's mock cluster, and the event store,
//! the consumers' idempotency stores, the read model and the saga state are SQLite files in a
//! temporary directory. [`DemoOptions`] points the same flow at real servers instead.
//!
//! **Does not own:** any rule of the domain (`evc-order`, `evc-saga`, `evc-projection`), the
//! participant services (the simulated ones of `evc_saga::simulated`, with the demo's
//! injected fault).
//!
//! # The flow
//!
//! 1. The schema directory's whole history is registered, as `evc registry push` does in CI:
//!    every subject at `FULL_TRANSITIVE`, each `vN.avsc` as registry version N. Producers
//!    then only look ids up (no auto-registration).
//! 2. Three orders are created, given items and placed (`PlaceOrder` → `OrderPlaced`) through
//!    [`OrderService`]. Alice's order is created by an "old shop" that still writes
//!    `OrderCreated` v1; the others with the latest version (v2: channel, shipping address).
//! 3. The outbox [`Relay`] publishes the stored events to `orders`. Four `evc-consumer`
//!    consumers read it: the [`Projector`] maintaining `order_summaries`; the saga starter,
//!    which starts the order's `OrderFulfillment` saga on `OrderPlaced` inside its transaction;
//!    and two readers, one built on the v1 types and one on the latest, each recording what it
//!    read in its transaction.
//! 4. A [`SagaRunner`] task runs the sagas against the simulated participants, outside every
//!    consumer; its hooks ([`FulfillmentHooks`]) turn step results into order commands:
//!    payment charged → `PayOrder` (the payment reference), shipment created → `ShipOrder` (the
//!    tracking number), saga compensated → `CancelOrder` (reason and failed step). Carol's
//!    shipment fails (an injected [`Fault::Fail`]): her payment is refunded, her stock
//!    released, in that order, and her order cancelled.
//! 5. The output: per order, its state timeline from the event store (each event with its
//!    schema id and the `vN` it was written with) and its saga; what each reader read; the
//!    read model; and a replay that folds every order from the event store and compares it,
//!    and a rebuild of the read model, with the live table.
//!
//! # SQLite layout
//!
//! A consumer's handler writes inside the transaction that holds its idempotency marker
//! (SQLite's single writer lock), so each consumer has its own file: `events.db` (event store
//! and relay checkpoint), `projection.db` (the projector's processed events and
//! `order_summaries`), `saga-consumer.db` (the saga consumer's processed events and the saga
//! state, which its handler writes in one transaction), `reader-v1.db` and
//! `reader-latest.db` (the readers' processed events and what they read), and `saga.db` (the
//! simulated participants' effect logs).

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use evc_avro::TopicEvent;
use evc_consumer::{
    ConsumerConfig, ConsumerExporter, EventConsumer, Handler, HandlerError, MessageMeta, Metrics,
    PostgresStore, SqliteStore,
};
use evc_eventstore::EventStore;
use evc_order::fulfillment::{self, FulfillmentHooks, FulfillmentParticipants, SagaStarter};
use evc_order::summary::{OrderStatus, OrderSummaries, OrderSummary};
use evc_order::{AddItem, Command, CreateOrder, Order, OrderService, PlaceOrder, Status};
use evc_outbox::{Relay, RelayConfig, RelayMetrics};
use evc_producer::ProducerConfig;
use evc_projection::{migrate, rebuild, Projector};
use evc_registry_client::RegistryClient;
use evc_saga::simulated::{Fault, SimulatedServices};
use evc_saga::{Action, RunnerConfig, SagaMetrics, SagaRunner, SagaState, SagaStatus, SagaStore};
use evc_storage::Database as Db;
use evc_telemetry::{redact_url, MetricsRegistry, MetricsServer};
use evc_wire::{Deserializer, Serializer};
use order_events::order_created::v2::SalesChannel;
use order_events::OrderEvent;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::SqlitePool;
use sqlx::{Database, Transaction};
use uuid::Uuid;

/// The topic the demo publishes to.
pub const TOPIC: &str = "orders";
/// Its dead-letter topic.
pub const DLQ_TOPIC: &str = "orders.dlq";

mod evolution;
mod flow;
mod infra;
mod show;

use evolution::*;
use flow::flow;
use infra::*;
use show::*;

const PARTITIONS: i32 = 3;
/// How long any wait of the demo may take before it fails.
const WAIT: Duration = Duration::from_secs(60);
const READ_MODEL: &str = "order_summaries";
const REPLAY_TABLE: &str = "order_summaries_replay";

/// Where the demo runs. Every `None` means the embedded default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoOptions {
    /// The broker: a Kafka bootstrap list (topics `orders` and `orders.dlq` are created, 3
    /// partitions, replication 1, when missing), `redis://...` or `amqp://...` (`orders` is
    /// declared with 3 shards). Default: librdkafka's mock cluster.
    pub bootstrap: Option<String>,
    /// A schema registry URL (the schema history is registered there). Default:
    /// `mock://demo-<uuid>`.
    pub registry: Option<String>,
    /// `sqlite://DIR` (a directory that is missing or empty; the SQLite files go there)
    /// or `postgres://...` (the demo creates a fresh schema `evc_demo_<uuid>` and leaves it).
    /// Default: SQLite files in a temporary directory removed afterwards.
    pub database: Option<String>,
    /// Serve the run's metrics (consumers, relay, saga runner) at `http://ADDR/metrics`
    /// while it runs (`--metrics-listen`); port 0 picks a free one, printed in the banner.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// What the run did, for tests and callers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DemoReport {
    /// Events in the event store at the end.
    pub events: u64,
    /// Orders created.
    pub orders: usize,
    /// Sagas that completed every step.
    pub sagas_completed: usize,
    /// Sagas that compensated.
    pub sagas_compensated: usize,
    /// Orders shipped.
    pub shipped: usize,
    /// Orders cancelled.
    pub cancelled: usize,
    /// Rows of `order_summaries`.
    pub summaries: usize,
    /// Events the outbox relay published.
    pub published: usize,
    /// Events each reader of `orders` read, by reader (`v1`, `latest`).
    pub reads: Vec<(String, usize)>,
    /// Whether every order folded from the event store equals its read-model row, and a
    /// rebuild of the read model from the store equals the live table.
    pub replay_matches: bool,
    /// The PostgreSQL schema the run created and left (with a `postgres://` database).
    pub postgres_schema: Option<String>,
    /// Every order, in the order placed.
    pub order_reports: Vec<OrderReport>,
}

/// One order at the end of the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OrderReport {
    pub order_id: Uuid,
    pub customer: String,
    /// `shipped`, `cancelled`, ... (the folded state).
    pub status: String,
    /// The cancellation reason and the failed step, when cancelled.
    pub cancellation: Option<(String, Option<String>)>,
    /// The event types in its stream, in order, with the `vN` each was written with
    /// (`OrderCreated v1`).
    pub events: Vec<String>,
    /// Its saga's outcome.
    pub saga: String,
    /// The participants' effects for it, in the order applied (`payment:refund_payment`).
    pub effects: Vec<String>,
}

/// One order the demo places.
struct Plan {
    customer: &'static str,
    items: &'static [(&'static str, i32, i64)],
    /// Created by the old shop (writes `OrderCreated` v1).
    old_shop: bool,
    /// Where it ships (written only with `OrderCreated` v2).
    city: &'static str,
    /// Fail the saga's shipment creation for this order.
    fail_shipment: bool,
}

const PLANS: [Plan; 3] = [
    Plan {
        customer: "alice",
        items: &[("BOOK-042", 2, 1250), ("MUG-007", 1, 899)],
        old_shop: true,
        city: "Lyon",
        fail_shipment: false,
    },
    Plan {
        customer: "bob",
        items: &[("LAMP-310", 1, 4500), ("BULB-E27", 3, 350)],
        old_shop: false,
        city: "Berlin",
        fail_shipment: false,
    },
    Plan {
        customer: "carol",
        items: &[("CHAIR-12", 1, 12900), ("DESK-003", 1, 24900)],
        old_shop: false,
        city: "Porto",
        fail_shipment: true,
    },
];

const CURRENCY: &str = "EUR";

/// Everything `flow` works with.
struct Ctx<'a> {
    service: &'a OrderService,
    old_serializer: &'a Serializer,
    relay: &'a Relay,
    registry: &'a RegistryClient,
    projection_db: &'a Db,
    reader_dbs: &'a [Db],
    saga_store: &'a SagaStore,
    services: &'a SimulatedServices,
    written: &'a Written,
    orders: &'a [Uuid],
}

/// Runs the demo (see the [crate] docs), writing its output to `out`.
pub async fn run(opts: DemoOptions, out: &mut dyn Write) -> anyhow::Result<DemoReport> {
    run_until(opts, out, std::future::ready(())).await
}

/// [`run`]; with [`DemoOptions::metrics_listen`], once the story is told the metrics stay
/// served (with the run's final values) until `hold` completes (the CLI: Ctrl-C), then the
/// server stops and the run's files go.
pub async fn run_until(
    opts: DemoOptions,
    out: &mut dyn Write,
    hold: impl Future<Output = ()>,
) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    let mut report = DemoReport::default();
    if let Some(url) = opts.database.as_deref() {
        if !["sqlite://", "postgres://", "postgresql://"]
            .iter()
            .any(|p| url.starts_with(p))
        {
            bail!("unsupported database URL `{url}`: use sqlite://DIR or postgres://...");
        }
    }

    // --- infrastructure -------------------------------------------------------------------
    let registry_url = opts
        .registry
        .clone()
        .unwrap_or_else(|| format!("mock://demo-{}", Uuid::new_v4().simple()));
    let registry = RegistryClient::new(&registry_url)
        .with_context(|| format!("schema registry {}", redact_url(&registry_url)))?;
    let broker = broker(opts.bootstrap.as_deref()).await?;
    let mut tempdir = None;
    let mut sqlite_dir: Option<PathBuf> = None;
    let storage = match opts.database.as_deref() {
        None => {
            let dir = tempfile::Builder::new().prefix("evc-demo-").tempdir()?;
            sqlite_dir = Some(dir.path().to_path_buf());
            let s = Storage::sqlite(dir.path()).await?;
            tempdir = Some(dir);
            s
        }
        Some(url) if url.starts_with("sqlite://") => {
            let dir = PathBuf::from(&url["sqlite://".len()..]);
            if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
                bail!(
                    "{}: the demo needs a missing or empty directory for its SQLite files",
                    dir.display()
                );
            }
            std::fs::create_dir_all(&dir)?;
            sqlite_dir = Some(dir.clone());
            Storage::sqlite(&dir).await?
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Storage::postgres(url).await?
        }
        Some(url) => bail!("unsupported database URL `{url}`: use sqlite://DIR or postgres://..."),
    };
    if let Storage::Postgres { schema, .. } = &storage {
        report.postgres_schema = Some(schema.clone());
    }
    let metrics = MetricsRegistry::new();
    let exporter = ConsumerExporter::register(&metrics);
    let server = match opts.metrics_listen {
        Some(addr) => Some(MetricsServer::bind(addr, metrics.clone()).await?),
        None => None,
    };
    writeln!(out, "evc demo")?;
    // URLs without their passwords: the banner is often pasted into tickets
    writeln!(out, "  registry  {}", redact_url(&registry_url))?;
    writeln!(
        out,
        "  broker    {} ({})",
        redact_url(&broker.bootstrap),
        broker.kind
    )?;
    writeln!(
        out,
        "  database  {}",
        storage.describe(sqlite_dir.as_deref())
    )?;
    if let Some(server) = &server {
        writeln!(out, "  metrics   {}", server.url())?;
    }

    // --- schemas ----------------------------------------------------------------------------
    writeln!(
        out,
        "\n== Schemas (the schema directory's history, registered as `evc registry push` does)"
    )?;
    let written = push_history(&registry, out).await?;

    // producers look ids up; nothing is registered on the fly
    let store = storage.event_store().await?;
    let service = Arc::new(OrderService::new(
        store.clone(),
        Serializer::new(registry.clone()),
        Deserializer::new(registry.clone()),
    ));
    let old_serializer = Serializer::new(registry.clone());
    let relay = Relay::new(
        store.clone(),
        &ProducerConfig::new(&broker.bootstrap),
        RelayConfig::new("orders-relay", OrderEvent::TOPIC),
    )
    .await?;
    RelayMetrics::register(&metrics)
        .watch(&store, "orders-relay")
        .await?;

    // --- consumers and the saga runner -----------------------------------------------------
    let run_id = Uuid::new_v4().simple().to_string();
    let projection_db = storage.projection_db();
    let projector = Projector::new(OrderSummaries::with_table(READ_MODEL)?);
    migrate::<OrderEvent, _>(&projection_db, projector.model()).await?;
    let saga_store = storage.saga_store().await?;
    let services = storage.participants().await?;
    let definition = fulfillment::definition(
        FulfillmentParticipants {
            inventory: services.participant("inventory"),
            payment: services.participant("payment"),
            shipping: services.participant("shipping"),
            notification: services.participant("notification"),
        },
        Duration::from_secs(5),
    );
    let orders: Vec<Uuid> = PLANS.iter().map(|_| Uuid::new_v4()).collect();
    for (id, _) in orders.iter().zip(&PLANS).filter(|(_, p)| p.fail_shipment) {
        services.inject_for(*id, fulfillment::CREATE_SHIPMENT, Action::Do, Fault::Fail);
    }
    let runner = SagaRunner::new(saga_store.clone(), RunnerConfig::new("evc-demo"))
        .register(definition.clone())?
        .with_hooks(Arc::new(FulfillmentHooks::new(service.clone())))
        .with_metrics(SagaMetrics::register(&metrics, &saga_store));
    let (stop_runner, runner_stopped) = tokio::sync::oneshot::channel::<()>();
    let runner_task = tokio::spawn(async move {
        runner
            .run(async {
                let _ = runner_stopped.await;
            })
            .await
    });
    let starter = SagaStarter::new(saga_store.clone(), definition.clone());
    let projector = OnlyOrders {
        orders: orders.clone(),
        inner: projector,
    };
    let starter = OnlyOrders {
        orders: orders.clone(),
        inner: starter,
    };
    let reader = |name| ReadLog {
        reader: name,
        orders: orders.clone(),
    };
    let cfg = |role: &str| consumer_config(&broker.bootstrap, &format!("demo-{role}-{run_id}"));
    let exporter = &exporter;
    let (consumers, tasks, reader_dbs) = match &storage {
        Storage::Sqlite {
            projection,
            saga_consumer,
            ..
        } => {
            let dir = sqlite_dir
                .as_deref()
                .ok_or_else(|| anyhow!("SQLite storage without a directory"))?;
            let v1_pool = sqlite_pool(&dir.join("reader-v1.db")).await?;
            let latest_pool = sqlite_pool(&dir.join("reader-latest.db")).await?;
            let dbs = vec![
                Db::from_sqlite_pool(v1_pool.clone()),
                Db::from_sqlite_pool(latest_pool.clone()),
            ];
            for db in &dbs {
                create_read_log(db).await?;
            }
            let store =
                |pool: &SqlitePool| SqliteStore::with_pool(pool.clone(), "processed_events");
            let p = spawn_consumer(
                exporter,
                cfg("projection"),
                &registry,
                store(projection).await?,
                projector,
            )
            .await?;
            let s = spawn_consumer(
                exporter,
                cfg("saga"),
                &registry,
                store(saga_consumer).await?,
                starter,
            )
            .await?;
            let v1 = spawn_reader::<OrderEventV1, _>(
                exporter,
                cfg("reader-v1"),
                &registry,
                store(&v1_pool).await?,
                reader("v1"),
            )
            .await?;
            let l = spawn_consumer(
                exporter,
                cfg("reader-latest"),
                &registry,
                store(&latest_pool).await?,
                reader("latest"),
            )
            .await?;
            (vec![p.0, s.0, v1.0, l.0], vec![p.1, s.1, v1.1, l.1], dbs)
        }
        Storage::Postgres { pool, .. } => {
            let db = Db::from_postgres_pool(pool.clone());
            create_read_log(&db).await?;
            let store = |table: &'static str| PostgresStore::with_pool(pool.clone(), table);
            let p = spawn_consumer(
                exporter,
                cfg("projection"),
                &registry,
                store("processed_events_projection").await?,
                projector,
            )
            .await?;
            let s = spawn_consumer(
                exporter,
                cfg("saga"),
                &registry,
                store("processed_events_saga").await?,
                starter,
            )
            .await?;
            let v1 = spawn_reader::<OrderEventV1, _>(
                exporter,
                cfg("reader-v1"),
                &registry,
                store("processed_events_reader_v1").await?,
                reader("v1"),
            )
            .await?;
            let l = spawn_consumer(
                exporter,
                cfg("reader-latest"),
                &registry,
                store("processed_events_reader_latest").await?,
                reader("latest"),
            )
            .await?;
            (
                vec![p.0, s.0, v1.0, l.0],
                vec![p.1, s.1, v1.1, l.1],
                vec![db],
            )
        }
    };

    let ctx = Ctx {
        service: &service,
        old_serializer: &old_serializer,
        relay: &relay,
        registry: &registry,
        projection_db: &projection_db,
        reader_dbs: &reader_dbs,
        saga_store: &saga_store,
        services: &services,
        written: &written,
        orders: &orders,
    };
    let result = flow(out, &ctx, &mut report).await;

    let _ = stop_runner.send(());
    runner_task
        .await
        .map_err(|e| anyhow!("saga runner task: {e}"))?
        .context("saga runner")?;
    for c in &consumers {
        c.shutdown();
    }
    for t in tasks {
        t.await
            .map_err(|e| anyhow!("consumer task: {e}"))?
            .context("consumer")?;
    }
    relay.close(Duration::from_secs(10)).await?;
    result?;
    writeln!(
        out,
        "\nDone in {:.1} s.{}",
        started.elapsed().as_secs_f64(),
        match (&tempdir, &sqlite_dir) {
            (None, Some(d)) => format!(" SQLite files kept in {}.", d.display()),
            _ => String::new(),
        }
    )?;
    if let Some(server) = server {
        writeln!(
            out,
            "The run's metrics stay served at {} until interrupted (Ctrl-C).",
            server.url()
        )?;
        out.flush()?;
        hold.await;
        server.stop().await;
    }
    drop(tempdir);
    Ok(report)
}

/// Starts a consumer of `orders` reading with `E`'s types, its counters exported.
async fn spawn_reader<E, S>(
    exporter: &ConsumerExporter,
    config: ConsumerConfig,
    registry: &RegistryClient,
    store: S,
    handler: ReadLog,
) -> anyhow::Result<(
    evc_consumer::Control,
    tokio::task::JoinHandle<Result<Metrics, evc_consumer::ConsumeError>>,
)>
where
    E: TopicEvent + Send + Sync + 'static,
    S: evc_consumer::ProcessedStore,
    ReadLog: Handler<E, S::Db>,
{
    let group = config.group_id().to_string();
    let consumer = EventConsumer::<E, _, _>::new(config, registry.clone(), store, handler)?;
    exporter.add(&group, TOPIC, consumer.metrics());
    consumer.declare_groups().await?;
    let control = consumer.control();
    Ok((control, tokio::spawn(consumer.run())))
}
