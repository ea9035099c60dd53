//! `evc demo`: the order domain end to end, with nothing installed.
//!
//! **Owns:** wiring the crates together for a demonstration run and printing what happened.
//! By default everything is in-process: the registry is `mock://` (the real `evc-registry`
//! router on memory storage), the broker is librdkafka's mock cluster, and the event store,
//! the consumers' idempotency stores, the read model and the saga state are SQLite files in a
//! temporary directory. [`DemoOptions`] points the same flow at real servers instead.
//!
//! **Does not own:** any rule of the domain (`evc-order`, `evc-saga`, `evc-projection`).
//!
//! # The flow
//!
//! 1. Three orders are created, given items and paid through [`OrderService`].
//! 2. The outbox [`Relay`] publishes the stored events to `orders`.
//! 3. Two `evc-consumer` consumers read `orders`: the [`Projector`] maintaining
//!    `order_summaries`, and a saga starter that starts the order's `OrderFulfillment` saga
//!    ([`evc_order::fulfillment`]) on `OrderPaid`, inside the consumer's transaction. A
//!    [`SagaRunner`] task runs the sagas' steps against the simulated participants
//!    (`evc_saga::simulated`). The third order's payment charge fails (an injected
//!    [`Fault::Fail`]), so its saga compensates (releases the inventory it reserved).
//! 4. The orders whose saga completed are shipped through [`OrderService`] and relayed again.
//! 5. The output: a timeline of every stored event (position, order, type, schema id and
//!    version), the saga outcomes, the read model, and a replay that folds every order from
//!    the event store and compares it with the read model.
//!
//! # SQLite layout
//!
//! Four files, because a consumer's handler writes inside the transaction that holds its
//! idempotency marker (SQLite's single writer lock): `events.db` (event store and relay
//! checkpoint), `projection.db` (the projector's processed events and `order_summaries`),
//! `saga-consumer.db` (the saga consumer's processed events and the saga state, which the
//! consumer's handler writes in one transaction) and `saga.db` (the simulated participants'
//! effect logs).

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use evc_avro::TopicEvent;
use evc_consumer::{
    ConsumerConfig, EventConsumer, Handler, HandlerError, MessageMeta, Metrics, PostgresStore,
    SqliteStore,
};
use evc_eventstore::EventStore;
use evc_order::fulfillment::{self, FulfillmentParticipants, SagaStarter};
use evc_order::summary::{OrderStatus, OrderSummaries, OrderSummary};
use evc_order::{
    AddItem, Command, CreateOrder, OrderService, OrderState, PayOrder, ShipOrder, Status,
};
use evc_outbox::{Relay, RelayConfig};
use evc_producer::ProducerConfig;
use evc_projection::{migrate, rebuild, Projector};
use evc_registry_client::RegistryClient;
use evc_saga::simulated::{Fault, SimulatedServices};
use evc_saga::{Action, RunnerConfig, SagaRunner, SagaState, SagaStatus, SagaStore};
use evc_storage::Database as Db;
use evc_wire::{Deserializer, Serializer};
use order_events::order_created::v2::SalesChannel;
use order_events::order_paid::v2::PaymentMethod;
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

mod infra;
mod show;

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
    /// A schema registry URL (schemas are registered). Default: `mock://demo-<uuid>`.
    pub registry: Option<String>,
    /// `sqlite://DIR` (a directory that is missing or empty; the four SQLite files go there)
    /// or `postgres://...` (the demo creates a fresh schema `evc_demo_<uuid>` and leaves it).
    /// Default: SQLite files in a temporary directory removed afterwards.
    pub database: Option<String>,
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
    /// Orders shipped (those whose saga completed).
    pub shipped: usize,
    /// Rows of `order_summaries`.
    pub summaries: usize,
    /// Events the outbox relay published.
    pub published: usize,
    /// Whether every order folded from the event store equals its read-model row, and a
    /// rebuild of the read model from the store equals the live table.
    pub replay_matches: bool,
    /// The PostgreSQL schema the run created and left (with a `postgres://` database).
    pub postgres_schema: Option<String>,
}

/// One order the demo places.
struct Plan {
    customer: &'static str,
    items: &'static [(&'static str, i32, i64)],
    /// Fail the saga's payment charge for this order.
    fail_payment: bool,
}

const PLANS: [Plan; 3] = [
    Plan {
        customer: "alice",
        items: &[("BOOK-042", 2, 1250), ("MUG-007", 1, 899)],
        fail_payment: false,
    },
    Plan {
        customer: "bob",
        items: &[("LAMP-310", 1, 4500), ("BULB-E27", 3, 350)],
        fail_payment: false,
    },
    Plan {
        customer: "carol",
        items: &[("CHAIR-12", 1, 12900), ("DESK-003", 1, 24900)],
        fail_payment: true,
    },
];

const CURRENCY: &str = "EUR";

/// Runs the demo (see the [crate] docs), writing its output to `out`.
pub async fn run(opts: DemoOptions, out: &mut dyn Write) -> anyhow::Result<DemoReport> {
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
        .with_context(|| format!("schema registry {registry_url}"))?;
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
    writeln!(out, "evc demo")?;
    writeln!(out, "  registry  {registry_url}")?;
    writeln!(
        out,
        "  kafka     {}{}",
        broker.bootstrap,
        if broker._mock.is_some() {
            " (librdkafka mock cluster)"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "  database  {}",
        storage.describe(sqlite_dir.as_deref())
    )?;
    writeln!(out)?;

    let store = storage.event_store().await?;
    let service = OrderService::new(
        store.clone(),
        Serializer::new(registry.clone()).auto_register(true),
        Deserializer::new(registry.clone()),
    );
    let relay = Relay::new(
        store.clone(),
        &ProducerConfig::new(&broker.bootstrap),
        RelayConfig::new("orders-relay", OrderEvent::TOPIC),
    )
    .await?;

    // --- consumers -------------------------------------------------------------------------
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
    for (id, _) in orders.iter().zip(&PLANS).filter(|(_, p)| p.fail_payment) {
        services.inject_for(*id, fulfillment::CHARGE_PAYMENT, Action::Do, Fault::Fail);
    }
    let runner = SagaRunner::new(saga_store.clone(), RunnerConfig::new("evc-demo"))
        .register(definition.clone())?;
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
    let projection_cfg = consumer_config(&broker.bootstrap, &format!("demo-projection-{run_id}"));
    let saga_cfg = consumer_config(&broker.bootstrap, &format!("demo-saga-{run_id}"));
    let (consumers, tasks) = match &storage {
        Storage::Sqlite {
            projection,
            saga_consumer,
            ..
        } => {
            let p = spawn_consumer(
                projection_cfg,
                &registry,
                SqliteStore::with_pool(projection.clone(), "processed_events").await?,
                projector,
            )
            .await?;
            let s = spawn_consumer(
                saga_cfg,
                &registry,
                SqliteStore::with_pool(saga_consumer.clone(), "processed_events").await?,
                starter,
            )
            .await?;
            (vec![p.0, s.0], vec![p.1, s.1])
        }
        Storage::Postgres { pool, .. } => {
            let p = spawn_consumer(
                projection_cfg,
                &registry,
                PostgresStore::with_pool(pool.clone(), "processed_events_projection").await?,
                projector,
            )
            .await?;
            let s = spawn_consumer(
                saga_cfg,
                &registry,
                PostgresStore::with_pool(pool.clone(), "processed_events_saga").await?,
                starter,
            )
            .await?;
            (vec![p.0, s.0], vec![p.1, s.1])
        }
    };

    let result = flow(
        out,
        &service,
        &relay,
        &registry,
        &projection_db,
        &saga_store,
        &orders,
        &mut report,
    )
    .await;

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
    drop(tempdir);
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn flow(
    out: &mut dyn Write,
    service: &OrderService,
    relay: &Relay,
    registry: &RegistryClient,
    projection_db: &Db,
    saga_store: &SagaStore,
    orders: &[Uuid],
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    // --- commands ---------------------------------------------------------------------------
    writeln!(out, "== Commands")?;
    for (id, plan) in orders.iter().zip(&PLANS) {
        service
            .execute(&Command::Create(CreateOrder {
                order_id: *id,
                customer_id: plan.customer.into(),
                currency: CURRENCY.into(),
                channel: SalesChannel::Web,
                shipping_address: None,
            }))
            .await?;
        let mut total = 0;
        for (sku, quantity, price) in plan.items {
            service
                .execute(&Command::AddItem(AddItem {
                    order_id: *id,
                    sku: (*sku).into(),
                    quantity: *quantity,
                    unit_price_minor: *price,
                }))
                .await?;
            total += i64::from(*quantity) * price;
        }
        service
            .execute(&Command::Pay(PayOrder {
                order_id: *id,
                amount_minor: total,
                currency: CURRENCY.into(),
                method: PaymentMethod::Card,
                payment_reference: Some(format!("pay-{}", short(*id))),
            }))
            .await?;
        writeln!(
            out,
            "  order {}  {:<6} created, {} items, paid {}{}",
            short(*id),
            plan.customer,
            plan.items.len(),
            money(total, CURRENCY),
            if plan.fail_payment {
                "  (saga fault injected: payment charge fails)"
            } else {
                ""
            }
        )?;
    }
    report.orders = orders.len();
    let n = relay.catch_up().await?;
    report.published += n;
    writeln!(out, "  relay published {n} events to `{TOPIC}`")?;

    // --- sagas ------------------------------------------------------------------------------
    let mut sagas: Vec<SagaState> = Vec::new();
    for id in orders {
        let state = wait_for("the saga of an order", || async {
            match saga_store.find(*id).await? {
                Some(s) if s.status.is_final() => Ok(Some(s)),
                _ => Ok(None),
            }
        })
        .await?;
        sagas.push(state);
    }
    report.sagas_completed = sagas
        .iter()
        .filter(|s| s.status == SagaStatus::Completed)
        .count();
    report.sagas_compensated = sagas
        .iter()
        .filter(|s| s.status == SagaStatus::Compensated)
        .count();
    for s in sagas.iter().filter(|s| s.status == SagaStatus::Completed) {
        service
            .execute(&Command::Ship(ShipOrder {
                order_id: s.saga_id,
                carrier: "DHL".into(),
                tracking_number: format!("TRK-{}", &short(s.saga_id)[..6].to_uppercase()),
                estimated_delivery: None,
            }))
            .await?;
        report.shipped += 1;
        writeln!(out, "  order {}  shipped", short(s.saga_id))?;
    }
    let n = relay.catch_up().await?;
    report.published += n;
    writeln!(out, "  relay published {n} more events")?;

    let store = service.store();
    let events = store.last_position().await?;
    report.events = events;
    wait_for("the read model to apply every event", || async {
        let applied: i64 = OrderSummaries::with_table(READ_MODEL)?
            .all(projection_db)
            .await?
            .iter()
            .map(|s| s.event_count)
            .sum();
        Ok((applied as u64 >= events).then_some(()))
    })
    .await?;

    // --- timeline ---------------------------------------------------------------------------
    writeln!(out, "\n== Timeline (event store, global order)")?;
    writeln!(
        out,
        "  {:>3}  {:<8}  {:<12}  {:>9}  {:>7}  DETAIL",
        "POS", "ORDER", "EVENT", "SCHEMA ID", "VERSION"
    )?;
    let deserializer = Deserializer::new(registry.clone());
    let mut versions: HashMap<u32, u32> = HashMap::new();
    let recorded = store.read_all(1, 10_000).await?;
    for r in &recorded {
        let event: OrderEvent = deserializer
            .deserialize_topic(&r.payload)
            .await
            .with_context(|| format!("decoding the event at position {}", r.position))?;
        let version = match versions.get(&r.schema_id) {
            Some(v) => *v,
            None => {
                let schema = registry.schema_by_id(r.schema_id).await?;
                let found = registry.lookup(event.subject(), &schema.schema).await?;
                let v = found.version.ok_or_else(|| {
                    anyhow!("the registry gave no version for schema {}", r.schema_id)
                })?;
                versions.insert(r.schema_id, v);
                v
            }
        };
        writeln!(
            out,
            "  {:>3}  {:<8}  {:<12}  {:>9}  {:>7}  {}",
            r.position,
            short(order_id_of(&event)),
            event_name(&event),
            r.schema_id,
            format!("v{version}"),
            event_detail(&event)
        )?;
    }

    // --- sagas ------------------------------------------------------------------------------
    writeln!(out, "\n== OrderFulfillment sagas")?;
    let width = sagas
        .iter()
        .map(|s| steps(&s.completed, false).len())
        .max()
        .unwrap_or(0)
        .max("STEPS DONE".len());
    writeln!(
        out,
        "  {:<8}  {:<11}  {:<width$}  COMPENSATIONS",
        "ORDER", "OUTCOME", "STEPS DONE"
    )?;
    for s in &sagas {
        writeln!(
            out,
            "  {:<8}  {:<11}  {:<width$}  {}",
            short(s.saga_id),
            s.status.name(),
            steps(&s.completed, false),
            steps(&s.compensated, true)
        )?;
        if let Some(e) = &s.last_error {
            writeln!(out, "  {:<8}  cause: {e}", "")?;
        }
    }

    // --- read model -------------------------------------------------------------------------
    let live = OrderSummaries::with_table(READ_MODEL)?
        .all(projection_db)
        .await?;
    report.summaries = live.len();
    writeln!(out, "\n== Read model ({READ_MODEL})")?;
    writeln!(
        out,
        "  {:<8}  {:<8}  {:<8}  {:<5}  {:>5}  {:>14}  {:>6}",
        "ORDER", "CUSTOMER", "STATUS", "FINAL", "ITEMS", "TOTAL", "EVENTS"
    )?;
    let by_id: HashMap<Uuid, &OrderSummary> = live.iter().map(|s| (s.order_id, s)).collect();
    for id in orders {
        let Some(s) = by_id.get(id) else {
            writeln!(out, "  {:<8}  (missing)", short(*id))?;
            continue;
        };
        writeln!(
            out,
            "  {:<8}  {:<8}  {:<8}  {:<5}  {:>5}  {:>14}  {:>6}",
            short(s.order_id),
            s.customer_id,
            s.status.as_str(),
            if s.is_final { "yes" } else { "no" },
            s.item_count,
            money(s.total_minor, &s.currency),
            s.event_count
        )?;
    }

    // --- replay -----------------------------------------------------------------------------
    writeln!(out, "\n== Replay (fold every order from the event store)")?;
    writeln!(
        out,
        "  {:<8}  {:<8}  {:>5}  {:>14}  = READ MODEL",
        "ORDER", "STATUS", "ITEMS", "TOTAL"
    )?;
    let mut all_match = live.len() == orders.len();
    for id in orders {
        let order = service.load(*id).await?;
        let state: &OrderState = order
            .state()
            .ok_or_else(|| anyhow!("order {id} has no events"))?;
        let items: i64 = state.items.iter().map(|i| i64::from(i.quantity)).sum();
        let same = by_id.get(id).is_some_and(|s| {
            s.status == status_of(state.status)
                && s.is_final == (state.status == Status::Shipped)
                && s.item_count == items
                && s.total_minor == state.total_minor
                && s.currency == state.currency
                && s.customer_id == state.customer_id
                && s.event_count as u64 == order.version()
        });
        all_match &= same;
        writeln!(
            out,
            "  {:<8}  {:<8}  {:>5}  {:>14}  {}",
            short(*id),
            status_of(state.status).as_str(),
            items,
            money(state.total_minor, &state.currency),
            if same { "yes" } else { "NO" }
        )?;
    }
    let replay_model = OrderSummaries::with_table(REPLAY_TABLE)?;
    let replayed = rebuild(store, &deserializer, projection_db, &replay_model).await?;
    let rebuilt = replay_model.all(projection_db).await?;
    let rebuild_same = rebuilt == live;
    all_match &= rebuild_same && replayed == events;
    writeln!(
        out,
        "  rebuild of {READ_MODEL} from {replayed} stored events {} the live table",
        if rebuild_same {
            "equals"
        } else {
            "DIFFERS FROM"
        }
    )?;
    writeln!(
        out,
        "  {}",
        if all_match {
            "state replay equals the read model"
        } else {
            "STATE REPLAY DIFFERS FROM THE READ MODEL"
        }
    )?;
    report.replay_matches = all_match;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_money_and_ids() {
        assert_eq!(money(1250, "EUR"), "12.50 EUR");
        assert_eq!(money(5, "EUR"), "0.05 EUR");
        let id = Uuid::parse_str("0123abcd-0000-0000-0000-000000000000").unwrap();
        assert_eq!(short(id), "0123abcd");
        assert_eq!(steps(&[], false), "-");
        let done = [
            fulfillment::RESERVE_INVENTORY.to_string(),
            fulfillment::CHARGE_PAYMENT.to_string(),
        ];
        assert_eq!(steps(&done, false), "reserve_inventory > charge_payment");
        assert_eq!(steps(&done, true), "release_inventory > refund_payment");
    }
}
