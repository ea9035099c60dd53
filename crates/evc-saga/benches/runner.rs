//! Saga runner throughput: transitions (one step call and its persist, each) per second on
//! SQLite and PostgreSQL, with one and with two runners sharing the database, over sagas of
//! four steps whose participant answers at once (so the figure is the runner's own cost:
//! the claim and persist transactions, the lease, the step log).
//!
//! Run: `cargo bench -p evc-saga --bench runner` (PostgreSQL at `EVC_TEST_POSTGRES_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`; `EVC_BENCH_SAGAS`, default 200).

use std::sync::Arc;
use std::time::{Duration, Instant};

use evc_saga::{
    Participant, RunnerConfig, SagaDefinition, SagaRunner, SagaStore, StepFuture, StepOutput,
    StepRequest, StepSpec,
};
use evc_storage::testing::PgTestSchema;
use evc_storage::Database;
use serde_json::json;
use uuid::Uuid;

struct Instant0;

impl Participant for Instant0 {
    fn call<'a>(&'a self, _: &'a StepRequest) -> StepFuture<'a> {
        Box::pin(async { Ok(StepOutput(json!({ "ok": true }))) })
    }
}

fn definition() -> SagaDefinition {
    let p: Arc<dyn Participant> = Arc::new(Instant0);
    (1..=4).fold(SagaDefinition::new("bench"), |d, i| {
        d.step(
            StepSpec::new(format!("step{i}"), format!("undo{i}"), p.clone())
                .timeout(Duration::from_secs(5)),
        )
    })
}

async fn measure(label: &str, db: Database, sagas: usize, runners: usize) {
    let store = SagaStore::open(db).await.unwrap();
    let def = definition();
    for _ in 0..sagas {
        store
            .start(Uuid::new_v4(), &def, &json!({ "n": 1 }))
            .await
            .unwrap();
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for r in 0..runners {
        let runner = SagaRunner::new(store.clone(), RunnerConfig::new(format!("bench-{r}")))
            .register(def.clone())
            .unwrap();
        tasks.push(tokio::spawn(async move {
            runner.run_until_idle().await.unwrap()
        }));
    }
    let mut transitions = 0;
    for t in tasks {
        transitions += t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(transitions, sagas * 4);
    println!(
        "{label:<28} {runners} runner(s)  {transitions:>6} transitions in {secs:>6.2} s  = {:>7.0} steps/s",
        transitions as f64 / secs
    );
    let backend = label.split(' ').next().unwrap_or(label);
    println!(
        "evc-bench\tsaga transitions/s, {backend}, {runners} runner(s)\t{:.0}\t-\tsteps/s\t-",
        transitions as f64 / secs
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let sagas: usize = std::env::var("EVC_BENCH_SAGAS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    for runners in [1, 2] {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open_sqlite(dir.path().join("bench.db"))
            .await
            .unwrap();
        measure("SQLite (WAL, synchronous=FULL)", db, sagas, runners).await;
    }
    for runners in [1, 2] {
        let pg = PgTestSchema::create("evc_saga_bench").await;
        measure("PostgreSQL", pg.database().await, sagas, runners).await;
        pg.drop_schema().await;
    }
}
