//! One run of the pipeline under one kind of fault: commands append order events (through
//! the order service, each command at most once for its event id, retried while the store is
//! unreachable), the relay and consumer children carry them to the read model, and at seeded
//! points a fault begins and, a seeded moment later while the next commands run, ends.
//! Afterwards the stores are read back into a [`History`] and checked.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use evc_eventstore::EventStore;
use evc_faults::{Appended, FaultProxy, Faults, History, Rng, Summary};
use evc_order::summary::OrderSummaries;
use evc_order::{Command, EventMeta, OrderService};
use evc_registry_client::RegistryClient;
use evc_storage::Database;
use evc_wire::{Deserializer, Serializer};
use order_events::OrderEvent;
use uuid::Uuid;

use crate::children::{self, Stores, Worker, EFFECTS};
use crate::readback;
use crate::services::{PrivatePostgres, Tansu};

/// What is done to the pipeline at each fault point.
pub enum Fault {
    /// SIGKILL of the relay or the consumer (seeded), started again at once.
    KillChildren,
    /// SIGKILL of the broker; it starts again on the same port and storage.
    RestartBroker(Tansu),
    /// A partition between the clients and the broker: every open connection reset and new
    /// ones refused; between partitions, the proxy delays, refuses and resets at random.
    PartitionBroker { proxy: FaultProxy, noise: Faults },
    /// SIGKILL of PostgreSQL's processes; it starts again (crash recovery) on the same port.
    RestartPostgres(PrivatePostgres),
}

impl Fault {
    fn name(&self) -> &'static str {
        match self {
            Fault::KillChildren => "kill relay/consumer",
            Fault::RestartBroker(_) => "broker restart",
            Fault::PartitionBroker { .. } => "broker partition",
            Fault::RestartPostgres(_) => "postgres restart",
        }
    }

    /// Starts the fault; answers whether it lasts until [`Fault::end`].
    fn begin(&mut self, rng: &mut Rng, relay: &mut Worker, consumer: &mut Worker) -> bool {
        match self {
            Fault::KillChildren => {
                if rng.chance(0.5) {
                    relay.restart();
                } else {
                    consumer.restart();
                }
                false
            }
            Fault::RestartBroker(t) => {
                t.kill();
                true
            }
            Fault::PartitionBroker { proxy, .. } => {
                proxy.set_faults(Faults {
                    refuse: 1.0,
                    ..Faults::NONE
                });
                proxy.reset_all();
                true
            }
            Fault::RestartPostgres(pg) => {
                pg.kill();
                true
            }
        }
    }

    fn end(&mut self) {
        match self {
            Fault::KillChildren => {}
            Fault::RestartBroker(t) => t.start_again(),
            Fault::PartitionBroker { proxy, noise } => proxy.set_faults(*noise),
            Fault::RestartPostgres(pg) => pg.start_again(),
        }
    }

    /// Stops injecting, so the history can be read back.
    fn calm(&mut self) {
        if let Fault::PartitionBroker { proxy, .. } = self {
            proxy.set_faults(Faults::NONE);
        }
    }
}

/// A run's inputs.
pub struct Setup<'a> {
    pub seed: u64,
    pub orders: u64,
    pub faults: u64,
    pub dir: &'a Path,
    pub stores: Stores,
    /// Where the clients (relay, consumer, the history's reader) reach the broker.
    pub bootstrap: String,
    pub fault: Fault,
}

/// What a clean run did.
#[derive(Debug)]
pub struct Report {
    pub fault: &'static str,
    pub injected: u64,
    pub summary: Summary,
    pub commands: usize,
    pub child_restarts: usize,
    pub detail: String,
}

/// Retries `f` until it succeeds (a store or broker coming back), for at most two minutes.
pub async fn patiently<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) => {
                assert!(
                    start.elapsed() < Duration::from_secs(120),
                    "{what}: still failing after two minutes: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Runs `command` until the store answers; an acknowledged command's event id is recorded.
async fn execute(service: &OrderService, command: &Command, acked: &mut Vec<String>) {
    let meta = EventMeta::now();
    patiently("a command", || service.execute_once(command, meta)).await;
    acked.push(meta.event_id.to_string());
}

pub async fn run(mut s: Setup<'_>) -> Report {
    let registry_server = evc_registry::spawn(evc_registry::ServerConfig::new(
        ([127, 0, 0, 1], 0).into(),
        evc_registry::StorageUrl::Sqlite(s.dir.join("registry.db")),
    ))
    .await
    .expect("the registry");
    let registry_proxy = FaultProxy::start(registry_server.addr(), s.seed ^ 0x50)
        .await
        .expect("the proxy");
    registry_proxy.set_faults(Faults {
        refuse: 0.02,
        delay: 0.2,
        delay_ms: (1, 20),
        reset: 0.02,
    });

    let registry = RegistryClient::new(&registry_server.url()).expect("a registry client");
    let store: EventStore = patiently("the event store", || s.stores.event_store()).await;
    let service = OrderService::new(
        store.clone(),
        Serializer::new(registry.clone()).auto_register(true),
        Deserializer::new(registry.clone()),
    );

    let mut env = vec![
        ("EVC_FAULTS_DIR", s.dir.display().to_string()),
        ("EVC_FAULTS_BOOTSTRAP", s.bootstrap.clone()),
        (
            "EVC_FAULTS_REGISTRY",
            format!("http://{}", registry_proxy.addr()),
        ),
    ];
    env.extend(s.stores.env());
    // The first event registers the schemas and creates the store's tables before any child.
    let ids: Vec<Uuid> = (0..s.orders).map(|_| Uuid::new_v4()).collect();
    let commands = readback::commands(&ids);
    let mut acked = Vec::new();
    execute(&service, &commands[0], &mut acked).await;
    let db: Database = patiently("the projection database", || s.stores.projection_db()).await;
    patiently("the projection tables", || {
        children::prepare_projection(&db)
    })
    .await;
    let mut relay = Worker::start("relay", &env);
    let mut consumer = Worker::start("consumer", &env);

    // Commands in `faults` rounds. After each round, once the consumer has handled something
    // of it (so both children are up and busy), a pause of a seeded length, then the fault
    // begins: it lands in the middle of their work, at a different point each time. A lasting
    // fault ends a seeded moment later, while the next round's commands run.
    let mut rng = Rng::new(s.seed);
    let rest = &commands[1..];
    let round = rest.len().div_ceil(s.faults.max(1) as usize).max(1);
    let mut injected = 0u64;
    let mut lasting: Option<u64> = None;
    // counted while nothing is down (a lasting fault may begin at the end of a round)
    let mut before = handled(&db).await;
    for chunk in rest.chunks(round) {
        let fault = &mut s.fault;
        let ending = async {
            if let Some(ms) = lasting.take() {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                tokio::task::block_in_place(|| fault.end());
            }
        };
        let commanding = async {
            for command in chunk {
                execute(&service, command, &mut acked).await;
                tokio::time::sleep(Duration::from_millis(rng.between(0, 10))).await;
            }
        };
        tokio::join!(ending, commanding);
        let waiting = Instant::now();
        while handled(&db).await <= before {
            relay.assert_running();
            consumer.assert_running();
            assert!(
                waiting.elapsed() < Duration::from_secs(90),
                "the pipeline made no progress in 90 s after a {}",
                s.fault.name()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.between(0, 60))).await;
        before = handled(&db).await;
        if tokio::task::block_in_place(|| s.fault.begin(&mut rng, &mut relay, &mut consumer)) {
            lasting = Some(rng.between(50, 1500));
        }
        injected += 1;
    }
    if let Some(ms) = lasting {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        tokio::task::block_in_place(|| s.fault.end());
    }

    // Let the pipeline drain: every event handled once.
    let appended: Vec<_> = patiently("read the store", || store.read_all(1, usize::MAX >> 1)).await;
    let started = Instant::now();
    loop {
        relay.assert_running();
        consumer.assert_running();
        let done = handled(&db).await;
        if done == appended.len() as i64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the pipeline did not drain after {} faults: {done} of {} events handled",
            s.fault.name(),
            appended.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A last moment for anything still in flight, then stop both.
    tokio::time::sleep(Duration::from_millis(500)).await;
    relay.kill();
    consumer.kill();
    s.fault.calm();
    let detail = match &s.fault {
        Fault::KillChildren => "relay and consumer SIGKILLed".into(),
        Fault::RestartBroker(t) => format!("broker restarted {} times", t.restarts),
        Fault::PartitionBroker { proxy, .. } => format!("broker proxy {:?}", proxy.stats()),
        Fault::RestartPostgres(pg) => format!("postgres restarted {} times", pg.restarts),
    };
    let detail = format!("{detail}; registry proxy {:?}", registry_proxy.stats());

    // The history.
    let history = History {
        acknowledged: acked,
        appended: appended
            .iter()
            .map(|e| Appended {
                position: e.position,
                key: e.key().to_string(),
                event_id: e.event_id.to_string(),
            })
            .collect(),
        delivered: tokio::task::block_in_place(|| readback::read_topic(&s.bootstrap)),
        effects: effects(&db).await,
        read_model: render(
            OrderSummaries::new()
                .all(&db)
                .await
                .expect("the read model"),
        ),
        rebuilt: rebuilt(s.dir, &store, &registry).await,
    };
    let report = match history.check() {
        Ok(summary) => Report {
            fault: s.fault.name(),
            injected,
            summary,
            commands: commands.len(),
            child_restarts: children::restarts(s.dir),
            detail,
        },
        Err(violations) => {
            for v in &violations {
                eprintln!("violation: {v}");
            }
            panic!(
                "the pipeline broke {} properties under {} faults (seed {:#x})",
                violations.len(),
                s.fault.name(),
                s.seed
            );
        }
    };
    assert_eq!(injected, rest.len().div_ceil(round) as u64);
    drop(registry_proxy);
    registry_server.stop().await.expect("stop the registry");
    report
}

/// Events handled so far (0 before the consumer made its tables, or while the database is
/// unreachable).
async fn handled(db: &Database) -> i64 {
    async fn count(db: &Database) -> Result<i64, evc_storage::StorageError> {
        let mut tx = db.read().await?;
        let row = tx
            .row(
                &format!("SELECT COUNT(DISTINCT event_id) FROM {EFFECTS}"),
                &[],
            )
            .await?;
        Ok(row.map(|r| r.i64(0)).transpose()?.unwrap_or(0))
    }
    count(db).await.unwrap_or(0)
}

async fn effects(db: &Database) -> Vec<String> {
    let mut tx = db.read().await.expect("read the effects");
    tx.rows(&format!("SELECT event_id FROM {EFFECTS}"), &[])
        .await
        .expect("the effects")
        .iter()
        .map(|r| r.str(0).expect("an event id"))
        .collect()
}

fn render(rows: Vec<evc_order::summary::OrderSummary>) -> BTreeMap<String, String> {
    rows.into_iter()
        .map(|r| (r.order_id.to_string(), format!("{r:?}")))
        .collect()
}

/// The read model rebuilt from the event store, in a SQLite file of its own.
async fn rebuilt(
    dir: &Path,
    store: &EventStore,
    registry: &RegistryClient,
) -> BTreeMap<String, String> {
    let model = OrderSummaries::with_table("order_summaries_rebuilt").expect("a table");
    let db = Database::open_sqlite(dir.join("rebuilt.db"))
        .await
        .expect("the rebuild database");
    evc_projection::rebuild::<OrderEvent, _>(
        store,
        &Deserializer::new(registry.clone()),
        &db,
        &model,
    )
    .await
    .expect("the rebuild");
    render(model.all(&db).await.expect("the rebuild"))
}
