//! The order pipeline under faults, checked as a history: commands append events to the event
//! store while the outbox relay and the projection consumer run as separate processes, and
//! faults land at seeded points of the load. Four kinds, one run each:
//!
//! - `kills`: the relay and the consumer SIGKILLed and restarted (librdkafka's mock cluster,
//!   SQLite stores);
//! - `broker-restart`: the `tansu` broker SIGKILLed and started again on the same port and
//!   storage (SQLite in a temp directory);
//! - `broker-partition`: tansu advertising the fault proxy's address, so every Kafka client
//!   (relay producer, consumer, the history's reader) goes through the proxy, which delays,
//!   refuses and resets at random and partitions (resets all, refuses new) at the fault points;
//! - `postgres-restart`: a private PostgreSQL cluster (`initdb` in a temp directory, its own
//!   port) holding the event store, the outbox checkpoint, the processed-events and effects
//!   tables and the read model, SIGKILLed (its whole process group) and started again.
//!
//! In every run the consumers reach the registry through a fault proxy too (delays, resets).
//! Afterwards the [`evc_faults::History`] checker reads the event store, every message of the
//! topic, the consumer's side-effect table and the read model, rebuilds the read model from
//! the store, and proves: nothing acknowledged to the writer lost; every appended event
//! published at least once, in per-key order; every side effect exactly once; the read model
//! equal to the rebuild.
//!
//! The children are this same test binary, started again with `EVC_FAULTS_ROLE=relay|consumer`
//! (the test has its own `main`, `harness = false`). The short profile runs in the normal
//! suite; `EVC_FAULTS_ORDERS=N` and `EVC_FAULTS_KILLS=N` (faults per run) run longer ones, and
//! `EVC_FAULTS_ONLY=kills,broker-restart,...` picks kinds.

mod children;
mod readback;
mod run;
mod services;

use std::time::Duration;

use evc_faults::{FaultProxy, Faults};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::ClientConfig;

use children::{Stores, PARTITIONS, TOPIC};
use run::{Fault, Report, Setup};
use services::{free_port, PrivatePostgres, Tansu};

const KINDS: [&str; 4] = [
    "kills",
    "broker-restart",
    "broker-partition",
    "postgres-restart",
];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    if let Ok(role) = std::env::var("EVC_FAULTS_ROLE") {
        rt.block_on(children::run_role(&role));
        return;
    }
    let only = std::env::var("EVC_FAULTS_ONLY").unwrap_or_default();
    let picked: Vec<&str> = if only.is_empty() {
        KINDS.to_vec()
    } else {
        only.split(',').map(str::trim).collect()
    };
    for kind in &picked {
        assert!(
            KINDS.contains(kind),
            "unknown EVC_FAULTS_ONLY kind {kind}; kinds: {KINDS:?}"
        );
    }
    for kind in &picked {
        // one fixed seed per kind, whichever kinds run
        let i = KINDS.iter().position(|k| k == kind).unwrap_or(0);
        let seed = 0xFA17_0001 + i as u64;
        let report = rt.block_on(scenario(kind, seed));
        eprintln!(
            "pipeline under {} (seed {seed:#x}): {} faults injected, {} commands, {:?}; \
             children restarted their work {} times after failures; {}",
            report.fault,
            report.injected,
            report.commands,
            report.summary,
            report.child_restarts,
            report.detail
        );
        println!("test pipeline_under_{} ... ok", kind.replace('-', "_"));
    }
    println!("{} passed, 0 failed", picked.len());
}

async fn scenario(kind: &str, seed: u64) -> Report {
    let dir = tempfile::tempdir().expect("a temp dir");
    let orders = env_u64("EVC_FAULTS_ORDERS", if kind == "kills" { 12 } else { 6 });
    let faults = env_u64("EVC_FAULTS_KILLS", if kind == "kills" { 8 } else { 4 });
    let setup = |stores, bootstrap, fault| Setup {
        seed,
        orders,
        faults,
        dir: dir.path(),
        stores,
        bootstrap,
        fault,
    };
    let sqlite = Stores::Sqlite(dir.path().to_path_buf());
    match kind {
        "kills" => {
            let cluster = mock_cluster();
            run::run(setup(
                sqlite,
                cluster.bootstrap_servers(),
                Fault::KillChildren,
            ))
            .await
        }
        "broker-restart" => {
            let tansu = Tansu::start(&dir.path().join("tansu"));
            let bootstrap = tansu.addr().to_string();
            create_topic(&bootstrap).await;
            run::run(setup(sqlite, bootstrap, Fault::RestartBroker(tansu))).await
        }
        "broker-partition" => {
            let port = free_port();
            let proxy = FaultProxy::start(([127, 0, 0, 1], port).into(), seed ^ 0xB0)
                .await
                .expect("the broker's proxy");
            let _tansu = Tansu::start_advertising(&dir.path().join("tansu"), port, proxy.addr());
            let bootstrap = proxy.addr().to_string();
            create_topic(&bootstrap).await;
            let noise = Faults {
                refuse: 0.02,
                delay: 0.1,
                delay_ms: (1, 30),
                reset: 0.002,
            };
            proxy.set_faults(noise);
            run::run(setup(
                sqlite,
                bootstrap,
                Fault::PartitionBroker { proxy, noise },
            ))
            .await
        }
        "postgres-restart" => {
            let cluster = mock_cluster();
            // its own temp dir: the server runs as `postgres` when this is root, and must
            // reach its data directory
            let pg_dir = tempfile::tempdir().expect("a temp dir");
            let pg = PrivatePostgres::start(pg_dir.path());
            let stores = Stores::Postgres(pg.url());
            run::run(setup(
                stores,
                cluster.bootstrap_servers(),
                Fault::RestartPostgres(pg),
            ))
            .await
        }
        other => unreachable!("checked above: {other}"),
    }
}

fn mock_cluster() -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(1).expect("the mock cluster");
    cluster
        .create_topic(TOPIC, PARTITIONS, 1)
        .expect("the topic");
    cluster
}

/// tansu does not create topics by itself.
async fn create_topic(bootstrap: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("an admin client");
    let results = admin
        .create_topics(
            &[NewTopic::new(TOPIC, PARTITIONS, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create the topic");
    for r in results {
        r.expect("the topic is created");
    }
}
