//! The OrderFulfillment saga on SQLite (a temp file) and PostgreSQL (`EVC_TEST_POSTGRES_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`; each test in its own schema).

use std::process::Stdio;
use std::time::{Duration, Instant};

use evc_saga::{
    Action, Effect, Fault, Orchestrator, Participant, ParticipantError, Participants, SagaConfig,
    SagaState, SagaStatus, SagaStore, Step,
};
use order_events::order_paid::v2::{Money, OrderPaid, PaymentMethod};
use sqlx::postgres::PgPoolOptions;
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

const RUNNER: &str = env!("CARGO_BIN_EXE_evc-saga-runner");

fn pg_url() -> String {
    std::env::var("EVC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

struct Pg {
    admin: sqlx::PgPool,
    schema: String,
    store: SagaStore,
}

impl Pg {
    async fn new() -> Pg {
        let url = pg_url();
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {url} is required for this test: {e}"));
        let schema = format!("evc_saga_{}", Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        let store = SagaStore::connect_postgres(&url, Some(&schema))
            .await
            .unwrap();
        Pg {
            admin,
            schema,
            store,
        }
    }

    async fn drop(self) {
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&self.admin)
            .await
            .unwrap();
    }
}

async fn sqlite() -> (tempfile::TempDir, SagaStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SagaStore::open_sqlite(dir.path().join("saga.db"))
        .await
        .unwrap();
    (dir, store)
}

fn paid(order_id: Uuid) -> OrderPaid {
    OrderPaid {
        event_id: Uuid::new_v4(),
        order_id,
        occurred_at: evc_avro::chrono::Utc::now(),
        amount: Money {
            amount_minor: 1999,
            currency: "EUR".to_string(),
        },
        method: PaymentMethod::Card,
        payment_reference: None,
        tax_rate: None,
    }
}

fn fast() -> SagaConfig {
    SagaConfig {
        step_timeout: Duration::from_millis(500),
        ..SagaConfig::default()
    }
}

fn orchestrator(store: &SagaStore) -> (Orchestrator, Participants) {
    let participants = Participants::new(store.clone());
    (
        Orchestrator::new(store.clone(), participants.clone(), fast()),
        participants,
    )
}

/// Every participant's effects, in the order they were applied.
async fn all_effects(store: &SagaStore) -> Vec<Effect> {
    let mut all = Vec::new();
    for p in Participant::ALL {
        all.extend(store.effects(p).await.unwrap());
    }
    all.sort_by_key(|e| e.applied_at_us);
    all
}

async fn effect_names(store: &SagaStore) -> Vec<String> {
    all_effects(store)
        .await
        .into_iter()
        .map(|e| e.effect)
        .collect()
}

/// No step key appears twice in any effect log.
async fn assert_no_duplicates(store: &SagaStore) {
    let effects = all_effects(store).await;
    let mut keys: Vec<&str> = effects.iter().map(|e| e.step_key.as_str()).collect();
    keys.sort_unstable();
    let before = keys.len();
    keys.dedup();
    assert_eq!(keys.len(), before, "duplicated side effect: {effects:#?}");
}

const DO: [&str; 4] = [
    "reserve_inventory",
    "charge_payment",
    "create_shipment",
    "send_confirmation",
];
const UNDO: [&str; 4] = [
    "release_inventory",
    "refund_payment",
    "cancel_shipment",
    "send_cancellation",
];

/// Effects of a saga whose step `failed` failed definitely: steps before it, then their
/// compensations in reverse.
fn expected_after_failure(failed: usize) -> Vec<String> {
    let mut v: Vec<String> = DO[..failed].iter().map(|s| s.to_string()).collect();
    v.extend(UNDO[..failed].iter().rev().map(|s| s.to_string()));
    v
}

async fn happy_path(store: &SagaStore) {
    let (orch, _) = orchestrator(store);
    let order = Uuid::new_v4();
    let end = orch.start(&paid(order)).await.unwrap();
    assert_eq!(end.status, SagaStatus::Completed);
    assert_eq!(end.completed, Step::ALL.to_vec());
    assert_eq!(end.current_step, None);
    assert_eq!(store.load(order).await.unwrap(), end);
    assert_eq!(effect_names(store).await, DO.to_vec());
    let payment = store.effects(Participant::Payment).await.unwrap();
    assert_eq!(payment[0].detail, "charge 1999 EUR");
    assert_eq!(payment[0].step_key, format!("{order}:charge_payment:do"));

    // a redelivered OrderPaid neither starts a second saga nor repeats an effect
    let again = orch.start(&paid(order)).await.unwrap();
    assert_eq!(again.status, SagaStatus::Completed);
    assert_eq!(effect_names(store).await, DO.to_vec());
    assert!(orch.resume_all().await.unwrap().is_empty());
}

async fn failure_at_every_step(make: impl AsyncFnMut() -> SagaStore) {
    let mut make = make;
    for (i, step) in Step::ALL.into_iter().enumerate() {
        let store = make().await;
        let (orch, participants) = orchestrator(&store);
        participants.inject(step, Action::Do, Fault::Fail);
        let end = orch.start(&paid(Uuid::new_v4())).await.unwrap();
        assert_eq!(end.status, SagaStatus::Compensated, "failure at {step:?}");
        let expected_plan: Vec<Step> = Step::ALL[..i].iter().rev().copied().collect();
        assert_eq!(end.compensation_plan, expected_plan);
        assert_eq!(end.compensated, expected_plan);
        assert!(end
            .last_error
            .as_deref()
            .unwrap()
            .contains("injected failure"));
        assert_eq!(
            effect_names(&store).await,
            expected_after_failure(i),
            "failure at {step:?}"
        );
        assert_no_duplicates(&store).await;
    }
}

#[tokio::test]
async fn happy_path_sqlite() {
    let (_dir, store) = sqlite().await;
    happy_path(&store).await;
}

#[tokio::test]
async fn happy_path_postgres() {
    let pg = Pg::new().await;
    happy_path(&pg.store).await;
    pg.drop().await;
}

#[tokio::test]
async fn failure_at_every_step_compensates_in_reverse_sqlite() {
    let mut dirs = Vec::new();
    failure_at_every_step(async || {
        let (dir, store) = sqlite().await;
        dirs.push(dir);
        store
    })
    .await;
}

#[tokio::test]
async fn failure_at_every_step_compensates_in_reverse_postgres() {
    let mut pgs = Vec::new();
    failure_at_every_step(async || {
        let pg = Pg::new().await;
        let store = pg.store.clone();
        pgs.push(pg);
        store
    })
    .await;
    for pg in pgs {
        pg.drop().await;
    }
}

#[tokio::test]
async fn timed_out_step_that_did_not_happen_is_compensated_as_a_no_op() {
    let (_dir, store) = sqlite().await;
    let (orch, participants) = orchestrator(&store);
    participants.inject(Step::ChargePayment, Action::Do, Fault::HangBeforeEffect);
    let order = Uuid::new_v4();
    let started = Instant::now();
    let end = orch.start(&paid(order)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(end.status, SagaStatus::Compensated);
    assert!(end.last_error.as_deref().unwrap().contains("timed out"));
    assert_eq!(
        end.compensation_plan,
        vec![Step::ChargePayment, Step::ReserveInventory]
    );
    // the charge never happened: its compensation applies nothing
    assert_eq!(
        effect_names(&store).await,
        vec!["reserve_inventory", "release_inventory"]
    );
    // and a late charge request is refused, not applied after its compensation
    participants.clear_faults();
    let late = participants
        .handle(&end, Step::ChargePayment, Action::Do)
        .await;
    assert!(
        matches!(late, Err(ParticipantError::Failed { .. })),
        "{late:?}"
    );
    assert!(store
        .effects(Participant::Payment)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn timed_out_step_that_happened_is_compensated() {
    let (_dir, store) = sqlite().await;
    let (orch, participants) = orchestrator(&store);
    participants.inject(Step::CreateShipment, Action::Do, Fault::HangAfterEffect);
    let end = orch.start(&paid(Uuid::new_v4())).await.unwrap();
    assert_eq!(end.status, SagaStatus::Compensated);
    assert_eq!(
        effect_names(&store).await,
        vec![
            "reserve_inventory",
            "charge_payment",
            "create_shipment",
            "cancel_shipment",
            "refund_payment",
            "release_inventory"
        ]
    );
    assert_no_duplicates(&store).await;
}

#[tokio::test]
async fn compensation_that_keeps_failing_leaves_the_saga_failed() {
    let (_dir, store) = sqlite().await;
    let (orch, participants) = orchestrator(&store);
    participants.inject(Step::CreateShipment, Action::Do, Fault::Fail);
    participants.inject(Step::ChargePayment, Action::Undo, Fault::Fail);
    let order = Uuid::new_v4();
    let end = orch.start(&paid(order)).await.unwrap();
    assert_eq!(end.status, SagaStatus::Failed);
    assert_eq!(end.current_step, Some(Step::ChargePayment));
    assert_eq!(
        end.attempts,
        SagaConfig::default().max_compensation_attempts
    );
    assert_eq!(
        effect_names(&store).await,
        vec!["reserve_inventory", "charge_payment"]
    );
    assert!(orch.resume_all().await.unwrap().is_empty());
}

/// Runs the saga in a child process and SIGKILLs it once `ready` says so.
async fn run_and_kill(db: &str, order: Uuid, args: &[&str], wait_for: &str) -> Vec<String> {
    let mut child = tokio::process::Command::new(RUNNER)
        .arg(db)
        .arg(order.to_string())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let hit = line == wait_for;
            seen.push(line);
            if hit {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        found,
        Ok(true),
        "child never printed {wait_for:?}: {seen:?}"
    );
    child.kill().await.unwrap(); // SIGKILL
    seen
}

/// Waits until the (hung) child has applied the effect of `step`.
async fn wait_for_effect(store: &SagaStore, step: Step) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let effects = store.effects(step.participant()).await.unwrap();
        if effects.iter().any(|e| e.effect == step.name()) {
            return;
        }
        assert!(Instant::now() < deadline, "{step:?} never applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn resumed(mut sagas: Vec<SagaState>, order: Uuid) -> SagaState {
    assert_eq!(sagas.len(), 1, "{sagas:#?}");
    let s = sagas.remove(0);
    assert_eq!(s.saga_id, order);
    s
}

#[tokio::test]
async fn killed_after_a_persisted_step_resumes_to_completion_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("saga.db");
    let order = Uuid::new_v4();
    let seen = run_and_kill(
        db.to_str().unwrap(),
        order,
        &["--hang-after", "2"],
        "hanging",
    )
    .await;
    assert!(seen.contains(&"persisted running reserve_inventory,charge_payment".to_string()));

    let store = SagaStore::open_sqlite(&db).await.unwrap();
    let before = store.load(order).await.unwrap();
    assert_eq!(before.status, SagaStatus::Running);
    assert_eq!(before.completed, Step::ALL[..2].to_vec());
    let (orch, _) = orchestrator(&store);
    let end = resumed(orch.resume_all().await.unwrap(), order);
    assert_eq!(end.status, SagaStatus::Completed);
    assert_eq!(effect_names(&store).await, DO.to_vec());
    assert_no_duplicates(&store).await;
}

#[tokio::test]
async fn killed_after_a_persisted_step_resumes_and_compensates_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("saga.db");
    let order = Uuid::new_v4();
    run_and_kill(
        db.to_str().unwrap(),
        order,
        &["--hang-after", "2"],
        "hanging",
    )
    .await;

    let store = SagaStore::open_sqlite(&db).await.unwrap();
    let (orch, participants) = orchestrator(&store);
    participants.inject(Step::CreateShipment, Action::Do, Fault::Fail);
    let end = resumed(orch.resume_all().await.unwrap(), order);
    assert_eq!(end.status, SagaStatus::Compensated);
    assert_eq!(effect_names(&store).await, expected_after_failure(2));
    assert_no_duplicates(&store).await;
}

#[tokio::test]
async fn killed_between_an_effect_and_its_record_does_not_repeat_it_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("saga.db");
    let order = Uuid::new_v4();
    let store = SagaStore::open_sqlite(&db).await.unwrap();
    let mut child = tokio::process::Command::new(RUNNER)
        .arg(&db)
        .arg(order.to_string())
        .args(["--hang-in", "create_shipment"])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for_effect(&store, Step::CreateShipment).await;
    child.kill().await.unwrap();

    let before = store.load(order).await.unwrap();
    assert_eq!(before.status, SagaStatus::Running);
    assert_eq!(before.current_step, Some(Step::CreateShipment));
    assert_eq!(before.attempts, 1);
    let (orch, _) = orchestrator(&store);
    let end = resumed(orch.resume_all().await.unwrap(), order);
    assert_eq!(end.status, SagaStatus::Completed);
    // the shipment was requested twice (same key) and created once
    assert_eq!(effect_names(&store).await, DO.to_vec());
    assert_no_duplicates(&store).await;
}

#[tokio::test]
async fn killed_mid_saga_resumes_on_postgres() {
    let pg = Pg::new().await;
    let order = Uuid::new_v4();
    // killed after its effect was applied, before the saga recorded it; then resumed and
    // compensated (the confirmation fails)
    let mut child = tokio::process::Command::new(RUNNER)
        .arg(pg_url())
        .arg(order.to_string())
        .args(["--hang-in", "create_shipment", "--pg-schema", &pg.schema])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for_effect(&pg.store, Step::CreateShipment).await;
    child.kill().await.unwrap();

    let (orch, participants) = orchestrator(&pg.store);
    participants.inject(Step::SendConfirmation, Action::Do, Fault::Fail);
    let end = resumed(orch.resume_all().await.unwrap(), order);
    assert_eq!(end.status, SagaStatus::Compensated);
    assert_eq!(effect_names(&pg.store).await, expected_after_failure(3));
    assert_no_duplicates(&pg.store).await;

    // and a plain kill after a persisted step, resumed to completion
    let order = Uuid::new_v4();
    let schema = pg.schema.clone();
    run_and_kill(
        &pg_url(),
        order,
        &["--hang-after", "1", "--pg-schema", &schema],
        "hanging",
    )
    .await;
    participants.clear_faults();
    let end = resumed(orch.resume_all().await.unwrap(), order);
    assert_eq!(end.status, SagaStatus::Completed);
    let second: Vec<String> = all_effects(&pg.store)
        .await
        .into_iter()
        .filter(|e| e.saga_id == order.to_string())
        .map(|e| e.effect)
        .collect();
    assert_eq!(second, DO.to_vec());
    assert_no_duplicates(&pg.store).await;
    pg.drop().await;
}
