//! The saga runner on SQLite (a temp file) and PostgreSQL (`EVC_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; each test in its own schema), driving the
//! simulated trip saga (`simulated::TRIP`: four services with effect logs and dedup tables).
//!
//! Why one file of ~890 lines: the cases share the runner, the simulated services and the
//! kill-test child process; each section (happy path, failure at every step, timeouts,
//! kills, leases, hooks) is a few tests over those fixtures.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use evc_saga::simulated::{Effect, Fault, SimulatedServices, TRIP};
use evc_saga::{
    Action, HookError, HookFuture, Outcome, Participant, RunnerConfig, SagaDefinition, SagaHooks,
    SagaRunner, SagaState, SagaStatus, SagaStore, StepCompleted, StepError, StepFuture,
    StepRequest,
};
use evc_storage::testing::PgTestSchema;
use evc_storage::Database;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

const RUNNER: &str = env!("CARGO_BIN_EXE_evc-saga-runner");
const DO: [&str; 4] = ["book_flight", "book_hotel", "rent_car", "send_itinerary"];
const UNDO: [&str; 4] = [
    "cancel_flight",
    "cancel_hotel",
    "return_car",
    "send_apology",
];

/// A store, the simulated services on the same database, the trip definition (500 ms
/// timeouts) and a runner.
struct Env {
    store: SagaStore,
    services: SimulatedServices,
    trip: SagaDefinition,
    runner: SagaRunner,
}

async fn env_on(db: Database) -> Env {
    let store = SagaStore::open(db.clone()).await.unwrap();
    let services = SimulatedServices::open(db).await.unwrap();
    let trip = services.definition("trip", &TRIP, Duration::from_millis(500));
    let runner = SagaRunner::new(store.clone(), RunnerConfig::new("test-runner"))
        .register(trip.clone())
        .unwrap();
    Env {
        store,
        services,
        trip,
        runner,
    }
}

async fn sqlite() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open_sqlite(dir.path().join("saga.db"))
        .await
        .unwrap();
    (dir, db)
}

fn input() -> serde_json::Value {
    json!({ "traveller": "ada", "nights": 3 })
}

impl Env {
    async fn start(&self) -> Uuid {
        let id = Uuid::new_v4();
        assert!(self.store.start(id, &self.trip, &input()).await.unwrap());
        id
    }

    /// Starts a saga and runs every saga to a final state; answers its end state.
    async fn run_one(&self) -> SagaState {
        let id = self.start().await;
        self.runner.run_until_idle().await.unwrap();
        self.store.load(id).await.unwrap()
    }

    async fn effects(&self) -> Vec<Effect> {
        self.services.effects(None).await.unwrap()
    }

    async fn effect_names(&self) -> Vec<String> {
        self.effects().await.into_iter().map(|e| e.effect).collect()
    }

    async fn effect_names_of(&self, saga: Uuid) -> Vec<String> {
        let id = saga.to_string();
        self.effects()
            .await
            .into_iter()
            .filter(|e| e.saga_id == id)
            .map(|e| e.effect)
            .collect()
    }

    /// No idempotency key appears twice in the effect log.
    async fn assert_no_duplicates(&self) {
        let effects = self.effects().await;
        let mut keys: Vec<&str> = effects.iter().map(|e| e.step_key.as_str()).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), before, "duplicated side effect: {effects:#?}");
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Effects of a saga whose step `failed` was rejected: the steps before it, then their
/// compensations in reverse.
fn expected_after_failure(failed: usize) -> Vec<String> {
    let mut v = strings(&DO[..failed]);
    v.extend(UNDO[..failed].iter().rev().map(|s| s.to_string()));
    v
}

async fn happy_path(env: &Env) {
    let id = env.start().await;
    assert_eq!(env.runner.run_until_idle().await.unwrap(), 4);
    let end = env.store.load(id).await.unwrap();
    assert_eq!(end.status, SagaStatus::Completed);
    assert_eq!(end.completed, strings(&DO));
    assert_eq!((end.current_step.as_deref(), end.attempts), (None, 0));
    assert_eq!(
        (end.lease_owner.as_deref(), end.lease_until_ms),
        (None, None)
    );
    assert_eq!(end.input, input());
    // every step's output is kept, under its name
    let short = &id.simple().to_string()[..8];
    assert_eq!(
        end.outputs["book_hotel"],
        json!({ "service": "hotel", "reference": format!("hotel-book_hotel-{short}") })
    );
    assert_eq!(end.outputs.len(), 4);
    assert_eq!(env.effect_names().await, strings(&DO));
    let hotel = env.services.effects(Some("hotel")).await.unwrap();
    assert_eq!(hotel[0].step_key, format!("{id}:book_hotel:do"));
    assert_eq!(hotel[0].detail, input().to_string());
    let log = env.store.step_log(id).await.unwrap();
    assert_eq!(log.len(), 4);
    assert!(log
        .iter()
        .all(|e| e.outcome == Outcome::Succeeded && e.attempt == 1 && e.runner == "test-runner"));

    // starting it again (a redelivered message) neither starts a second saga nor repeats an
    // effect
    assert!(!env.store.start(id, &env.trip, &json!({})).await.unwrap());
    assert_eq!(env.runner.run_until_idle().await.unwrap(), 0);
    assert_eq!(env.store.load(id).await.unwrap(), end);
    assert_eq!(env.effect_names().await, strings(&DO));
    assert!(env.store.unfinished().await.unwrap().is_empty());
}

#[tokio::test]
async fn happy_path_sqlite() {
    let (_dir, db) = sqlite().await;
    happy_path(&env_on(db).await).await;
}

#[tokio::test]
async fn happy_path_postgres() {
    let pg = PgTestSchema::create("evc_saga").await;
    happy_path(&env_on(pg.database().await).await).await;
    pg.drop_schema().await;
}

async fn failure_at_every_step(env: &Env) {
    for (i, step) in DO.into_iter().enumerate() {
        let id = Uuid::new_v4();
        env.services.clear_faults();
        env.services.inject_for(id, step, Action::Do, Fault::Fail);
        env.store.start(id, &env.trip, &input()).await.unwrap();
        env.runner.run_until_idle().await.unwrap();
        let end = env.store.load(id).await.unwrap();
        assert_eq!(end.status, SagaStatus::Compensated, "failure at {step}");
        let plan: Vec<String> = DO[..i].iter().rev().map(|s| s.to_string()).collect();
        assert_eq!(end.compensation_plan, plan);
        assert_eq!(end.compensated, plan);
        assert!(end
            .last_error
            .as_deref()
            .unwrap()
            .contains("injected failure"));
        assert_eq!(
            env.effect_names_of(id).await,
            expected_after_failure(i),
            "failure at {step}"
        );
        // a definite failure is not retried
        let log = env.store.step_log(id).await.unwrap();
        let rejected: Vec<_> = log
            .iter()
            .filter(|e| e.outcome == Outcome::Rejected)
            .collect();
        assert_eq!(rejected.len(), 1, "{log:#?}");
        assert_eq!((rejected[0].step.as_str(), rejected[0].attempt), (step, 1));
    }
    env.assert_no_duplicates().await;
}

#[tokio::test]
async fn failure_at_every_step_compensates_in_reverse_sqlite() {
    let (_dir, db) = sqlite().await;
    failure_at_every_step(&env_on(db).await).await;
}

#[tokio::test]
async fn failure_at_every_step_compensates_in_reverse_postgres() {
    let pg = PgTestSchema::create("evc_saga").await;
    failure_at_every_step(&env_on(pg.database().await).await).await;
    pg.drop_schema().await;
}

#[tokio::test]
async fn timed_out_step_that_did_not_happen_is_compensated_as_a_no_op() {
    let (_dir, db) = sqlite().await;
    let env = env_on(db).await;
    env.services
        .inject("book_hotel", Action::Do, Fault::HangBeforeEffect);
    let started = Instant::now();
    let end = env.run_one().await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(end.status, SagaStatus::Compensated);
    assert!(end.last_error.as_deref().unwrap().contains("timed out"));
    assert_eq!(
        end.compensation_plan,
        strings(&["book_hotel", "book_flight"])
    );
    // retried up to its attempts (3), each timing out, before compensating
    let log = env.store.step_log(end.saga_id).await.unwrap();
    let timeouts: Vec<u32> = log
        .iter()
        .filter(|e| e.outcome == Outcome::TimedOut)
        .map(|e| e.attempt)
        .collect();
    assert_eq!(timeouts, vec![1, 2, 3]);
    // the booking never happened: its compensation applies nothing
    assert_eq!(
        env.effect_names().await,
        strings(&["book_flight", "cancel_flight"])
    );
    // and a late booking request is refused, not applied after its compensation
    env.services.clear_faults();
    let late = StepRequest::new("trip", end.saga_id, "book_hotel", "book_hotel", Action::Do);
    let answer = env.services.participant("hotel").call(&late).await;
    assert!(
        matches!(answer, Err(StepError::Rejected { .. })),
        "{answer:?}"
    );
    assert!(env
        .services
        .effects(Some("hotel"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn timed_out_step_that_happened_is_compensated() {
    let (_dir, db) = sqlite().await;
    let env = env_on(db).await;
    env.services
        .inject("rent_car", Action::Do, Fault::HangAfterEffect);
    let end = env.run_one().await;
    assert_eq!(end.status, SagaStatus::Compensated);
    // the car was requested three times (same key) and rented once, then returned
    assert_eq!(
        env.effect_names().await,
        strings(&[
            "book_flight",
            "book_hotel",
            "rent_car",
            "return_car",
            "cancel_hotel",
            "cancel_flight"
        ])
    );
    env.assert_no_duplicates().await;
}

#[tokio::test]
async fn compensation_that_keeps_failing_leaves_the_saga_failed() {
    let (_dir, db) = sqlite().await;
    let env = env_on(db).await;
    env.services.inject("rent_car", Action::Do, Fault::Fail);
    env.services.inject("book_hotel", Action::Undo, Fault::Fail);
    let end = env.run_one().await;
    assert_eq!(end.status, SagaStatus::Failed);
    assert_eq!(end.current_step.as_deref(), Some("book_hotel"));
    assert_eq!(end.attempts, 3);
    assert!(end
        .last_error
        .as_deref()
        .unwrap()
        .contains("injected failure"));
    assert_eq!(
        env.effect_names().await,
        strings(&["book_flight", "book_hotel"])
    );
    // nothing left to run
    assert!(env.runner.run_once().await.unwrap().is_none());
}

#[tokio::test]
async fn start_in_commits_with_the_callers_transaction_and_only_once() {
    let (_dir, db) = sqlite().await;
    let env = env_on(db.clone()).await;
    let id = Uuid::new_v4();
    // rolled back: no saga
    let mut tx = db.write().await.unwrap();
    assert!(env
        .store
        .start_in(&mut tx.as_ref(), id, &env.trip, &input())
        .await
        .unwrap());
    drop(tx);
    assert!(env.store.find(id).await.unwrap().is_none());
    assert!(env.runner.run_once().await.unwrap().is_none());
    // committed: one saga; a second start_in (a redelivery) changes nothing
    let mut tx = db.write().await.unwrap();
    assert!(env
        .store
        .start_in(&mut tx.as_ref(), id, &env.trip, &input())
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let mut tx = db.write().await.unwrap();
    assert!(!env
        .store
        .start_in(
            &mut tx.as_ref(),
            id,
            &env.trip,
            &json!({ "traveller": "eve" })
        )
        .await
        .unwrap());
    tx.commit().await.unwrap();
    let s = env.store.load(id).await.unwrap();
    assert_eq!((s.status, s.input), (SagaStatus::Running, input()));
    env.runner.run_until_idle().await.unwrap();
    assert_eq!(env.effect_names().await, strings(&DO));
}

#[tokio::test]
async fn an_invalid_definition_is_refused() {
    let (_dir, db) = sqlite().await;
    let env = env_on(db).await;
    let empty = SagaDefinition::new("nothing");
    let err = env
        .store
        .start(Uuid::new_v4(), &empty, &input())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has no steps"), "{err}");
    let err = SagaRunner::new(env.store.clone(), RunnerConfig::default())
        .register(env.trip.clone())
        .unwrap()
        .register(env.trip.clone())
        .unwrap_err();
    assert!(err.to_string().contains("registered twice"), "{err}");
}

/// Wraps a participant and records any call made while another call of the same step of
/// the same saga is in flight, and how often each key was called.
struct Watch {
    inner: Arc<dyn Participant>,
    in_flight: Mutex<HashSet<String>>,
    overlaps: Mutex<Vec<String>>,
    calls: Mutex<HashMap<String, u32>>,
}

impl Participant for Watch {
    fn call<'a>(&'a self, r: &'a StepRequest) -> StepFuture<'a> {
        Box::pin(async move {
            let key = r.idempotency_key.clone();
            *self.calls.lock().unwrap().entry(key.clone()).or_default() += 1;
            if !self.in_flight.lock().unwrap().insert(key.clone()) {
                self.overlaps.lock().unwrap().push(key.clone());
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
            let answer = self.inner.call(r).await;
            self.in_flight.lock().unwrap().remove(&key);
            answer
        })
    }
}

async fn two_runners(db: Database) {
    let store = SagaStore::open(db.clone()).await.unwrap();
    let services = SimulatedServices::open(db).await.unwrap();
    let watch = Arc::new(Watch {
        inner: services.participant("shared"),
        in_flight: Mutex::default(),
        overlaps: Mutex::default(),
        calls: Mutex::default(),
    });
    let trip = TRIP
        .iter()
        .fold(SagaDefinition::new("trip"), |d, (s, u, _)| {
            d.step(evc_saga::StepSpec::new(*s, *u, watch.clone()))
        });
    let mut ids = Vec::new();
    for _ in 0..24 {
        let id = Uuid::new_v4();
        store.start(id, &trip, &input()).await.unwrap();
        ids.push(id);
    }
    let runner = |name: &str| {
        SagaRunner::new(store.clone(), RunnerConfig::new(name))
            .register(trip.clone())
            .unwrap()
    };
    let (a, b) = (runner("a"), runner("b"));
    let (na, nb) = tokio::join!(
        tokio::spawn(async move { a.run_until_idle().await.unwrap() }),
        tokio::spawn(async move { b.run_until_idle().await.unwrap() })
    );
    let (na, nb) = (na.unwrap(), nb.unwrap());
    assert_eq!(na + nb, 24 * 4, "{na} + {nb}");
    assert!(watch.overlaps.lock().unwrap().is_empty());
    let calls = watch.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 24 * 4);
    assert!(calls.values().all(|n| *n == 1), "{calls:?}");
    for id in ids {
        assert_eq!(store.load(id).await.unwrap().status, SagaStatus::Completed);
    }
    let effects = services.effects(None).await.unwrap();
    assert_eq!(effects.len(), 24 * 4);
    let keys: HashSet<&str> = effects.iter().map(|e| e.step_key.as_str()).collect();
    assert_eq!(keys.len(), effects.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_never_run_a_step_twice_sqlite() {
    let (_dir, db) = sqlite().await;
    two_runners(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_never_run_a_step_twice_postgres() {
    let pg = PgTestSchema::create("evc_saga").await;
    two_runners(pg.database().await).await;
    pg.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lease_expired_by_a_dead_runner_is_taken_over() {
    let (_dir, db) = sqlite().await;
    let env = env_on(db).await;
    env.services
        .inject("book_hotel", Action::Do, Fault::HangAfterEffect);
    let id = env.start().await;
    let dead = SagaRunner::new(
        env.store.clone(),
        RunnerConfig::new("dead").lease(Duration::from_secs(3)),
    )
    .register(
        env.services
            .definition("trip", &TRIP, Duration::from_secs(3600)),
    )
    .unwrap();
    let task = tokio::spawn(async move { dead.run_until_idle().await });
    wait_for_effect(&env.services, "book_hotel").await;
    task.abort(); // the runner dies mid-call: no more renewals
    let _ = task.await;
    env.services.clear_faults();
    let held = env.store.load(id).await.unwrap();
    assert_eq!(held.lease_owner.as_deref(), Some("dead"));
    assert_eq!(
        (held.current_step.as_deref(), held.attempts),
        (Some("book_hotel"), 1)
    );
    // while the lease holds, nobody else takes the saga
    assert!(env.runner.run_once().await.unwrap().is_none());
    // once it expired, the other runner does, and calls again with the same key
    env.runner.run_until_idle().await.unwrap();
    let end = env.store.load(id).await.unwrap();
    assert_eq!(end.status, SagaStatus::Completed);
    let log = env.store.step_log(id).await.unwrap();
    let hotel: Vec<(u32, &str)> = log
        .iter()
        .filter(|e| e.step == "book_hotel")
        .map(|e| (e.attempt, e.runner.as_str()))
        .collect();
    assert_eq!(hotel, vec![(2, "test-runner")]);
    assert_eq!(env.effect_names().await, strings(&DO));
    env.assert_no_duplicates().await;
}

/// Records notifications; refuses the first `saga_finished`.
#[derive(Default)]
struct Recorder {
    steps: Mutex<Vec<(String, Action, serde_json::Value)>>,
    finished: Mutex<Vec<SagaStatus>>,
    refused_once: Mutex<bool>,
}

impl SagaHooks for Recorder {
    fn step_completed<'a>(&'a self, e: &'a StepCompleted) -> HookFuture<'a> {
        Box::pin(async move {
            assert_eq!(e.definition, "trip");
            self.steps
                .lock()
                .unwrap()
                .push((e.step.clone(), e.action, e.output.clone()));
            Ok(())
        })
    }

    fn saga_finished<'a>(&'a self, s: &'a SagaState) -> HookFuture<'a> {
        Box::pin(async move {
            let mut refused = self.refused_once.lock().unwrap();
            if !*refused {
                *refused = true;
                return Err(HookError::new("not now"));
            }
            self.finished.lock().unwrap().push(s.status);
            Ok(())
        })
    }
}

#[tokio::test]
async fn hooks_get_every_step_result_at_least_once() {
    let (_dir, db) = sqlite().await;
    let env = env_on(db).await;
    let hooks = Arc::new(Recorder::default());
    let runner = env.runner.clone().with_hooks(hooks.clone());
    env.services.inject("rent_car", Action::Do, Fault::Fail);
    let id = env.start().await;
    runner.run_until_idle().await.unwrap();
    // the refused notification stayed pending and was delivered again (by the next
    // run_once), once
    assert!(*hooks.refused_once.lock().unwrap());
    assert_eq!(
        *hooks.finished.lock().unwrap(),
        vec![SagaStatus::Compensated]
    );
    assert_eq!(runner.deliver_notifications().await.unwrap(), 0);
    let steps = hooks.steps.lock().unwrap();
    let seen: Vec<(&str, Action)> = steps.iter().map(|(s, a, _)| (s.as_str(), *a)).collect();
    assert_eq!(
        seen,
        vec![
            ("book_flight", Action::Do),
            ("book_hotel", Action::Do),
            ("book_hotel", Action::Undo),
            ("book_flight", Action::Undo)
        ]
    );
    let short = &id.simple().to_string()[..8];
    assert_eq!(
        steps[0].2["reference"],
        json!(format!("airline-book_flight-{short}"))
    );
}

/// Runs a saga in a child process and SIGKILLs it once it printed `wait_for`.
async fn run_and_kill(db: &str, saga: Uuid, args: &[&str], wait_for: &str) -> Vec<String> {
    let mut child = tokio::process::Command::new(RUNNER)
        .arg(db)
        .arg(saga.to_string())
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

/// Waits until a (hung) runner has applied `operation`.
async fn wait_for_effect(services: &SimulatedServices, operation: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let effects = services.effects(None).await.unwrap();
        if effects.iter().any(|e| e.effect == operation) {
            return;
        }
        assert!(Instant::now() < deadline, "{operation} never applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Kills a child whose `step` hangs after its effect, once the effect is applied.
async fn kill_in(db: &str, saga: Uuid, step: &str, extra: &[&str], services: &SimulatedServices) {
    let mut child = tokio::process::Command::new(RUNNER)
        .arg(db)
        .arg(saga.to_string())
        .args(["--hang-in", step])
        .args(extra)
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for_effect(services, step).await;
    child.kill().await.unwrap();
}

#[tokio::test]
async fn killed_after_a_persisted_step_resumes_to_completion_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saga.db");
    let id = Uuid::new_v4();
    let seen = run_and_kill(
        path.to_str().unwrap(),
        id,
        &["--hang-after", "2"],
        "hanging",
    )
    .await;
    assert!(seen.contains(&"persisted running book_flight,book_hotel".to_string()));

    let env = env_on(Database::open_sqlite(&path).await.unwrap()).await;
    let before = env.store.load(id).await.unwrap();
    assert_eq!(before.status, SagaStatus::Running);
    assert_eq!(before.completed, strings(&DO[..2]));
    assert_eq!(before.lease_owner, None);
    env.runner.run_until_idle().await.unwrap();
    assert_eq!(
        env.store.load(id).await.unwrap().status,
        SagaStatus::Completed
    );
    assert_eq!(env.effect_names().await, strings(&DO));
    env.assert_no_duplicates().await;
}

#[tokio::test]
async fn killed_after_a_persisted_step_resumes_and_compensates_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saga.db");
    let id = Uuid::new_v4();
    run_and_kill(
        path.to_str().unwrap(),
        id,
        &["--hang-after", "2"],
        "hanging",
    )
    .await;

    let env = env_on(Database::open_sqlite(&path).await.unwrap()).await;
    env.services.inject("rent_car", Action::Do, Fault::Fail);
    env.runner.run_until_idle().await.unwrap();
    assert_eq!(
        env.store.load(id).await.unwrap().status,
        SagaStatus::Compensated
    );
    assert_eq!(env.effect_names().await, expected_after_failure(2));
    env.assert_no_duplicates().await;
}

#[tokio::test]
async fn killed_between_an_effect_and_its_record_does_not_repeat_it_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saga.db");
    let env = env_on(Database::open_sqlite(&path).await.unwrap()).await;
    let id = Uuid::new_v4();
    kill_in(path.to_str().unwrap(), id, "rent_car", &[], &env.services).await;

    let before = env.store.load(id).await.unwrap();
    assert_eq!(before.status, SagaStatus::Running);
    assert_eq!(before.current_step.as_deref(), Some("rent_car"));
    assert_eq!(before.attempts, 1);
    assert!(before.lease_owner.as_deref().unwrap().starts_with("child-"));
    // the dead child's lease expires, then this runner takes over
    env.runner.run_until_idle().await.unwrap();
    assert_eq!(
        env.store.load(id).await.unwrap().status,
        SagaStatus::Completed
    );
    // the car was requested twice (same key) and rented once
    assert_eq!(env.effect_names().await, strings(&DO));
    env.assert_no_duplicates().await;
}

#[tokio::test]
async fn killed_mid_saga_resumes_on_postgres() {
    let pg = PgTestSchema::create("evc_saga").await;
    let env = env_on(pg.database().await).await;
    let url = evc_storage::testing::postgres_base_url();
    let schema = ["--pg-schema", pg.schema.as_str()];
    // killed after its effect was applied, before the saga recorded it; then resumed and
    // compensated (the itinerary fails)
    let id = Uuid::new_v4();
    kill_in(&url, id, "rent_car", &schema, &env.services).await;
    env.services
        .inject("send_itinerary", Action::Do, Fault::Fail);
    env.runner.run_until_idle().await.unwrap();
    assert_eq!(
        env.store.load(id).await.unwrap().status,
        SagaStatus::Compensated
    );
    assert_eq!(env.effect_names_of(id).await, expected_after_failure(3));
    env.assert_no_duplicates().await;

    // and a plain kill after a persisted step, resumed to completion
    let id = Uuid::new_v4();
    let mut args = vec!["--hang-after", "1"];
    args.extend(schema);
    run_and_kill(&url, id, &args, "hanging").await;
    env.services.clear_faults();
    env.runner.run_until_idle().await.unwrap();
    assert_eq!(
        env.store.load(id).await.unwrap().status,
        SagaStatus::Completed
    );
    assert_eq!(env.effect_names_of(id).await, strings(&DO));
    env.assert_no_duplicates().await;
    pg.drop_schema().await;
}

/// A runner named `name` that dies (its task aborted: no more lease renewals) while calling
/// `step`; answers once its lease expired.
async fn die_mid_call(env: &Env, definition: SagaDefinition, name: &str, step: &str) {
    let dead = SagaRunner::new(
        env.store.clone(),
        RunnerConfig::new(name).lease(Duration::from_millis(150)),
    )
    .register(definition)
    .unwrap();
    let task = tokio::spawn(async move { dead.run_until_idle().await });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let unfinished = env.store.unfinished().await.unwrap();
        if unfinished.iter().any(|s| {
            s.lease_owner.as_deref() == Some(name) && s.current_step.as_deref() == Some(step)
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "{name} never took the saga");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    let _ = task.await;
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attempts_cut_short_by_crashes_count_and_end_in_compensation() {
    let (_dir, db) = sqlite().await;
    let env = env_on(db).await;
    env.services
        .inject("book_hotel", Action::Do, Fault::HangBeforeEffect);
    let id = env.start().await;
    let hanging = env
        .services
        .definition("trip", &TRIP, Duration::from_secs(3600));
    // book_hotel gets 3 attempts; three runners die during them
    for n in 0..3 {
        die_mid_call(&env, hanging.clone(), &format!("dead-{n}"), "book_hotel").await;
    }
    let s = env.store.load(id).await.unwrap();
    assert_eq!(
        (s.current_step.as_deref(), s.attempts),
        (Some("book_hotel"), 3)
    );
    env.services.clear_faults();
    env.runner.run_until_idle().await.unwrap();
    let end = env.store.load(id).await.unwrap();
    // no fourth call: the uncertain step is compensated with the completed one
    assert_eq!(end.status, SagaStatus::Compensated);
    assert_eq!(
        end.compensation_plan,
        strings(&["book_hotel", "book_flight"])
    );
    assert!(end
        .last_error
        .as_deref()
        .unwrap()
        .contains("attempted 3 times"));
    let log = env.store.step_log(id).await.unwrap();
    assert!(log
        .iter()
        .any(|e| e.step == "book_hotel" && e.outcome == Outcome::AttemptsSpent));
    assert_eq!(
        env.effect_names().await,
        strings(&["book_flight", "cancel_flight"])
    );
}

#[tokio::test]
async fn a_saga_that_no_longer_matches_its_definition_fails_with_a_reason() {
    let (_dir, db) = sqlite().await;
    let env = env_on(db).await;
    let id = env.start().await;
    assert!(env.runner.run_once().await.unwrap().is_some()); // book_flight done
    let renamed = env.services.definition(
        "trip",
        &[("fly", "unfly", "airline"), ("sleep", "wake", "hotel")],
        Duration::from_secs(1),
    );
    let other = SagaRunner::new(env.store.clone(), RunnerConfig::default())
        .register(renamed)
        .unwrap();
    other.run_until_idle().await.unwrap();
    let end = env.store.load(id).await.unwrap();
    assert_eq!(end.status, SagaStatus::Failed);
    let reason = end.last_error.unwrap();
    assert!(
        reason.contains("no longer matches definition `trip`") && reason.contains("book_flight"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_corrupt_row_is_reported_with_its_column() {
    let (_dir, db) = sqlite().await;
    let env = env_on(db.clone()).await;
    let id = env.start().await;
    let mut tx = db.write().await.unwrap();
    tx.exec(
        "UPDATE saga_instances SET outputs = 'not json' WHERE saga_id = $1",
        &evc_storage::args![id.to_string()],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let err = env.store.load(id).await.unwrap_err();
    assert!(
        matches!(
            err,
            evc_saga::SagaError::Corrupt {
                column: "outputs",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&id.to_string()), "{err}");
    // the runner reports it too instead of running on a state it cannot read
    assert!(env.runner.run_once().await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_background_runner_picks_up_sagas_started_later_and_stops_on_request() {
    let (_dir, db) = sqlite().await;
    let env = env_on(db).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = env.runner.clone();
    let task = tokio::spawn(async move {
        runner
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    let id = env.start().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !env.store.load(id).await.unwrap().status.is_final() {
        assert!(
            Instant::now() < deadline,
            "the background runner never finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the runner stops")
        .unwrap()
        .unwrap();
    assert_eq!(
        env.store.load(id).await.unwrap().status,
        SagaStatus::Completed
    );
    assert_eq!(env.effect_names().await, strings(&DO));
}
