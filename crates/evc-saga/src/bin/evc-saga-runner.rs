//! Starts one saga of the simulated trip definition and runs it, for tests that SIGKILL it
//! mid-saga (feature `simulated`).
//!
//! `evc-saga-runner DB SAGA_ID [--hang-after N] [--hang-in STEP] [--pg-schema S] [--lease-ms N]`
//!
//! DB is a SQLite file, or a `postgres://` URL (tables in `--pg-schema`, created if missing).
//!
//! Prints `persisted <status> <completed steps>` after every committed save. `--hang-after N`
//! blocks forever once N steps are completed and persisted; `--hang-in STEP` makes STEP's
//! service apply its effect and then never answer (the step timeout is an hour; the lease,
//! `--lease-ms`, default 1000, is renewed until the process dies).

use std::time::Duration;

use evc_saga::simulated::{Fault, SimulatedServices, TRIP};
use evc_saga::{Action, RunnerConfig, SagaRunner, SagaStore};
use evc_storage::Database;

fn usage() -> ! {
    eprintln!(
        "usage: evc-saga-runner DB SAGA_ID [--hang-after N] [--hang-in STEP] [--pg-schema S] [--lease-ms N]"
    );
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().unwrap_or_else(|| usage());
    let saga_id = args
        .next()
        .and_then(|s| uuid::Uuid::parse_str(&s).ok())
        .unwrap_or_else(|| usage());
    let mut hang_after: Option<usize> = None;
    let mut hang_in: Option<String> = None;
    let mut pg_schema: Option<String> = None;
    let mut lease_ms = 1000;
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--hang-after" => hang_after = Some(value.parse().unwrap_or_else(|_| usage())),
            "--hang-in" if TRIP.iter().any(|(s, _, _)| *s == value) => hang_in = Some(value),
            "--pg-schema" => pg_schema = Some(value),
            "--lease-ms" => lease_ms = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let db = if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        Database::open_postgres(&db, pg_schema.as_deref(), "evc-saga-runner").await
    } else {
        Database::open_sqlite(&db).await
    }
    .expect("open the database");
    let store = SagaStore::open(db.clone()).await.expect("saga tables");
    let services = SimulatedServices::open(db).await.expect("simulated tables");
    if let Some(step) = &hang_in {
        services.inject(step, Action::Do, Fault::HangAfterEffect);
    }
    let trip = services.definition("trip", &TRIP, Duration::from_secs(3600));
    store
        .start(
            saga_id,
            &trip,
            &serde_json::json!({ "traveller": "ada", "nights": 3 }),
        )
        .await
        .expect("start the saga");
    let config = RunnerConfig::new(format!("child-{}", std::process::id()))
        .lease(Duration::from_millis(lease_ms));
    let runner = SagaRunner::new(store, config)
        .register(trip)
        .expect("a valid definition")
        .on_persisted(move |s| {
            println!("persisted {} {}", s.status.name(), s.completed.join(","));
            if hang_after == Some(s.completed.len()) && s.current_step.is_none() {
                println!("hanging");
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            }
        });
    runner.run_until_idle().await.expect("run the saga");
    println!("final");
}
