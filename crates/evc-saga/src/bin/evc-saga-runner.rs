//! Runs one `OrderFulfillment` saga on a SQLite file, for tests that kill it mid-saga.
//!
//! `evc-saga-runner DB ORDER_ID [--hang-after N] [--hang-in STEP] [--pg-schema S]`
//!
//! DB is a SQLite file, or a `postgres://` URL (tables in `--pg-schema`, which must exist).
//!
//! Prints `persisted <status> <completed steps>` after every save. `--hang-after N` blocks
//! forever once N steps are completed and persisted; `--hang-in STEP` makes STEP's participant
//! apply its effect and then never answer (the step timeout is an hour).

use std::time::Duration;

use evc_saga::{Action, Fault, Orchestrator, Participants, SagaConfig, SagaStore, Step};
use order_events::order_paid::v2::{Money, OrderPaid, PaymentMethod};

fn usage() -> ! {
    eprintln!(
        "usage: evc-saga-runner DB ORDER_ID [--hang-after N] [--hang-in STEP] [--pg-schema S]"
    );
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let db = args.next().unwrap_or_else(|| usage());
    let order_id = args
        .next()
        .and_then(|s| uuid::Uuid::parse_str(&s).ok())
        .unwrap_or_else(|| usage());
    let mut hang_after: Option<usize> = None;
    let mut hang_in: Option<Step> = None;
    let mut pg_schema: Option<String> = None;
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--hang-after" => hang_after = Some(value.parse().unwrap_or_else(|_| usage())),
            "--hang-in" => {
                hang_in = Some(
                    Step::ALL
                        .into_iter()
                        .find(|s| s.name() == value)
                        .unwrap_or_else(|| usage()),
                )
            }
            "--pg-schema" => pg_schema = Some(value),
            _ => usage(),
        }
    }
    let store = if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        SagaStore::connect_postgres(&db, pg_schema.as_deref()).await
    } else {
        SagaStore::open_sqlite(&db).await
    }
    .expect("open the database");
    let participants = Participants::new(store.clone());
    if let Some(step) = hang_in {
        participants.inject(step, Action::Do, Fault::HangAfterEffect);
    }
    let config = SagaConfig {
        step_timeout: Duration::from_secs(3600),
        ..SagaConfig::default()
    };
    let orchestrator = Orchestrator::new(store, participants, config).on_persisted(move |s| {
        let done: Vec<&str> = s.completed.iter().map(|s| s.name()).collect();
        println!("persisted {} {}", s.status.name(), done.join(","));
        if hang_after == Some(s.completed.len()) && s.current_step.is_none() {
            println!("hanging");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    });
    let paid = OrderPaid {
        event_id: uuid::Uuid::new_v4(),
        order_id,
        occurred_at: evc_avro::chrono::Utc::now(),
        amount: Money {
            amount_minor: 1999,
            currency: "EUR".to_string(),
        },
        method: PaymentMethod::Card,
        payment_reference: None,
        tax_rate: None,
    };
    let end = orchestrator.start(&paid).await.expect("run the saga");
    println!("final {}", end.status.name());
}
