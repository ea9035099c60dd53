//! Batched commits on the Kafka mock cluster: one partition's events handled in one
//! transaction per batch, a duplicate inside the batch skipped, a failing event retried (or
//! dead-lettered) with the events before it committed and those after it following it, each
//! effect once and in publish order, the offset committed past everything.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use evc_consumer::dlq::headers as dlq;
use evc_consumer::{BatchPoint, EventConsumer, RetryPolicy, SqliteStore};
use evc_producer::headers as produced;
use order_events::{OrderCreated, OrderEvent};
use uuid::Uuid;

async fn sqlite_with_effects() -> (SqliteStore, Effects) {
    let store = SqliteStore::in_memory().await.unwrap();
    let effects = Effects::new("side_effects");
    effects.create_sqlite(store.pool()).await;
    (store, effects)
}

async fn effect_order(pool: &sqlx::SqlitePool) -> Vec<String> {
    sqlx::query_scalar("SELECT event_key FROM side_effects ORDER BY rowid")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// A mock cluster with a one-partition `orders` topic (and its dead letters) holding `n` new
/// orders, published in order.
async fn published(
    n: usize,
) -> (
    Kafka,
    evc_registry_client::RegistryClient,
    evc_producer::EventProducer,
    Vec<OrderCreated>,
) {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 1);
    kafka.create_topic("orders.dlq", 1);
    let registry = mock_registry();
    let producer = producer(&kafka, &registry);
    let events: Vec<OrderCreated> = (0..n).map(|_| created(Uuid::new_v4())).collect();
    for e in &events {
        producer.send(e).await.unwrap();
    }
    (kafka, registry, producer, events)
}

/// Counts committed batches of more than one event.
fn count_batches(c: &evc_consumer::Control) -> Arc<AtomicUsize> {
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    c.on_batch(move |p| {
        if let BatchPoint::AfterCommit { .. } = p {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_commits_in_order_skips_a_duplicate_and_lets_a_failing_event_go_first() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 1);
    kafka.create_topic("orders.dlq", 1);
    let registry = mock_registry();
    let producer = producer(&kafka, &registry);
    let events: Vec<OrderCreated> = (0..8).map(|_| created(Uuid::new_v4())).collect();
    let flaky = events[3].event_id.to_string();
    for e in &events[..5] {
        producer.send(e).await.unwrap();
    }
    producer.send(&events[1]).await.unwrap(); // a duplicate inside the batch
    for e in &events[5..] {
        producer.send(e).await.unwrap();
    }

    let (store, effects) = sqlite_with_effects().await;
    effects
        .faults
        .fail_times
        .lock()
        .unwrap()
        .insert(flaky.clone(), 2);
    let pool = store.pool().clone();
    let consumer = EventConsumer::<OrderEvent, _, _>::new(
        config(&kafka, "batched").batch_size(64),
        registry,
        store,
        effects.clone(),
    )
    .unwrap();
    let batches = count_batches(&consumer.control());
    let running = spawn(consumer);
    running
        .wait("8 processed, 1 duplicate", |m| {
            m.processed == 8 && m.duplicates == 1
        })
        .await;
    let last = running.stop().await;
    assert_eq!(last.retried, 2, "{last:?}");
    assert_eq!(last.dead_lettered, 0);
    assert!(
        batches.load(Ordering::SeqCst) >= 1,
        "events were committed in batches of more than one"
    );
    let want: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(
        effect_order(&pool).await,
        want,
        "each effect once, in publish order: the events after the failing one followed it"
    );
    assert_eq!(kafka.committed("batched", "orders", 1), [Some(9)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_event_in_a_batch_is_dead_lettered_in_its_place() {
    let (kafka, registry, _, events) = published(6).await;
    let refused = events[2].event_id.to_string();
    let (store, effects) = sqlite_with_effects().await;
    effects
        .faults
        .reject
        .lock()
        .unwrap()
        .insert(refused.clone());
    let pool = store.pool().clone();
    let running = spawn(
        EventConsumer::<OrderEvent, _, _>::new(
            config(&kafka, "refusing")
                .batch_size(64)
                .handler_retry(RetryPolicy {
                    max_attempts: 3,
                    initial_backoff: Duration::from_millis(10),
                    max_backoff: Duration::from_millis(20),
                }),
            registry,
            store,
            effects.clone(),
        )
        .unwrap(),
    );
    running
        .wait("5 processed, 1 dead-lettered", |m| {
            m.processed == 5 && m.dead_lettered == 1
        })
        .await;
    running.stop().await;
    let want: Vec<String> = events
        .iter()
        .map(|e| e.event_id.to_string())
        .filter(|k| *k != refused)
        .collect();
    assert_eq!(effect_order(&pool).await, want);
    let letters = kafka.read("orders.dlq", 1, 1).await;
    assert_eq!(
        header(&letters[0], produced::EVENT_ID),
        Some(refused.as_str())
    );
    assert_eq!(header(&letters[0], dlq::ATTEMPTS), Some("1"));
    assert_eq!(header(&letters[0], dlq::ORIGINAL_OFFSET), Some("2"));
    assert_eq!(kafka.committed("refusing", "orders", 1), [Some(6)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_size_of_one_commits_each_event_on_its_own() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 2);
    kafka.create_topic("orders.dlq", 2);
    let registry = mock_registry();
    let producer = producer(&kafka, &registry);
    for _ in 0..10 {
        producer.send(&created(Uuid::new_v4())).await.unwrap();
    }
    let (store, effects) = sqlite_with_effects().await;
    let consumer = EventConsumer::<OrderEvent, _, _>::new(
        config(&kafka, "single").batch_size(1),
        registry,
        store,
        effects.clone(),
    )
    .unwrap();
    let batches = count_batches(&consumer.control());
    let running = spawn(consumer);
    running.wait("10 processed", |m| m.processed == 10).await;
    running.stop().await;
    assert_eq!(
        batches.load(Ordering::SeqCst),
        0,
        "no batch of more than one event"
    );
    assert_eq!(effects.calls(), 10);
}

/// [`Effects`] with a set-based `handle_batch`: one multi-row insert for the batch, failing
/// (naming no event) when any event of it would fail.
#[derive(Clone)]
struct SetBased {
    effects: Effects,
    batches: Arc<AtomicUsize>,
}

impl evc_consumer::Handler<OrderEvent, sqlx::Sqlite> for SetBased {
    async fn handle(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        event: &OrderEvent,
        meta: &evc_consumer::MessageMeta,
    ) -> Result<(), evc_consumer::HandlerError> {
        self.effects.handle(tx, event, meta).await
    }

    async fn handle_batch(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        events: &[(&OrderEvent, &evc_consumer::MessageMeta)],
    ) -> Option<Result<(), evc_consumer::HandlerError>> {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(format!(
            "INSERT INTO {} (event_key, order_id, kind) ",
            self.effects.table
        ));
        q.push_values(events, |mut row, (event, meta)| {
            row.push_bind(&meta.event_key)
                .push_bind(order_of(event).to_string())
                .push_bind("batch");
        });
        if let Err(e) = q.build().execute(&mut **tx).await {
            return Some(Err(e.into()));
        }
        for (_, meta) in events {
            if let Err(e) = self.effects.faults.check(&meta.event_key) {
                return Some(Err(e));
            }
        }
        self.batches.fetch_add(1, Ordering::SeqCst);
        Some(Ok(()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_set_based_handler_takes_whole_batches_and_a_failing_batch_goes_event_by_event() {
    let (kafka, registry, producer, events) = published(12).await;
    producer.send(&events[4]).await.unwrap(); // a duplicate
    let refused = events[7].event_id.to_string();
    let (store, effects) = sqlite_with_effects().await;
    effects
        .faults
        .reject
        .lock()
        .unwrap()
        .insert(refused.clone());
    let pool = store.pool().clone();
    let handler = SetBased {
        effects: effects.clone(),
        batches: Arc::default(),
    };
    let running = spawn(
        EventConsumer::<OrderEvent, _, _>::new(
            config(&kafka, "set-based").batch_size(64),
            registry,
            store,
            handler.clone(),
        )
        .unwrap(),
    );
    running
        .wait("11 processed, 1 dead-lettered, 1 duplicate", |m| {
            m.processed == 11 && m.dead_lettered == 1 && m.duplicates == 1
        })
        .await;
    running.stop().await;
    let want: Vec<String> = events
        .iter()
        .map(|e| e.event_id.to_string())
        .filter(|k| *k != refused)
        .collect();
    assert_eq!(
        effect_order(&pool).await,
        want,
        "each effect once, in publish order, the refused event's never"
    );
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM side_effects ORDER BY rowid")
        .fetch_all(&pool)
        .await
        .unwrap();
    let per_event = kinds.iter().filter(|k| *k != "batch").count();
    assert!(
        handler.batches.load(Ordering::SeqCst) >= 1 && per_event < want.len(),
        "some events went through handle_batch: {kinds:?}"
    );
    assert!(
        per_event >= 1,
        "the batch holding the refused event went event by event: {kinds:?}"
    );
    let letters = kafka.read("orders.dlq", 1, 1).await;
    assert_eq!(
        header(&letters[0], produced::EVENT_ID),
        Some(refused.as_str())
    );
    assert_eq!(kafka.committed("set-based", "orders", 1), [Some(13)]);
}

/// The markers of a batch, in one call: new, processed before, or earlier in the same batch;
/// on the embedded store and on PostgreSQL (one statement there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_markers_of_a_batch_are_answered_per_record() {
    use evc_consumer::{PostgresStore, ProcessedRecord, ProcessedStore};

    async fn check<S: ProcessedStore>(store: S, name: &str) {
        let r = |key: &'static str, offset: i64| ProcessedRecord {
            group: "g",
            event_key: key,
            event_type: "T",
            topic: "t",
            partition: 0,
            offset,
            position: "p",
        };
        let mut tx = store.begin().await.unwrap();
        assert_eq!(
            store
                .mark_processed_batch(&mut tx, &[r("b", 1)])
                .await
                .unwrap(),
            [true],
            "{name}"
        );
        tx.commit().await.unwrap();
        let mut tx = store.begin().await.unwrap();
        let batch = [r("a", 2), r("b", 3), r("a", 4), r("c", 5)];
        assert_eq!(
            store.mark_processed_batch(&mut tx, &batch).await.unwrap(),
            [true, false, false, true],
            "{name}: b processed before, a's second record a duplicate"
        );
        assert!(store
            .mark_processed_batch(&mut tx, &[])
            .await
            .unwrap()
            .is_empty());
        // Rolled back: a and c are not processed.
        tx.rollback().await.unwrap();
        for (key, done) in [("a", false), ("b", true), ("c", false)] {
            assert_eq!(
                store.is_processed("g", key).await.unwrap(),
                done,
                "{name}: {key}"
            );
        }
        let mut tx = store.begin().await.unwrap();
        let other = ProcessedRecord {
            group: "other",
            ..r("b", 6)
        };
        assert_eq!(
            store
                .mark_processed_batch(&mut tx, &[r("a", 7), other, r("b", 8)])
                .await
                .unwrap(),
            [true, true, false],
            "{name}: groups are separate"
        );
        tx.commit().await.unwrap();
        assert!(store.is_processed("other", "b").await.unwrap(), "{name}");
    }

    check(SqliteStore::in_memory().await.unwrap(), "SQLite").await;
    let schema = pg_schema().await;
    let db = schema.database().await;
    let pool = db.postgres_pool().expect("PostgreSQL").clone();
    check(
        PostgresStore::with_pool(pool, "evc_processed_events")
            .await
            .unwrap(),
        "PostgreSQL",
    )
    .await;
    // Also the one-statement path with a single group.
    let pool = db.postgres_pool().expect("PostgreSQL").clone();
    let store = PostgresStore::with_pool(pool, "evc_processed_events")
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    let keys: Vec<String> = (0..200).map(|i| format!("k{}", i % 150)).collect();
    let records: Vec<ProcessedRecord<'_>> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| ProcessedRecord {
            group: "many",
            event_key: k,
            event_type: "T",
            topic: "t",
            partition: 1,
            offset: i as i64,
            position: "p",
        })
        .collect();
    let fresh = store.mark_processed_batch(&mut tx, &records).await.unwrap();
    assert_eq!(fresh.iter().filter(|f| **f).count(), 150);
    assert!(fresh[..150].iter().all(|f| *f) && fresh[150..].iter().all(|f| !*f));
    tx.commit().await.unwrap();
    schema.drop_schema().await;
}
