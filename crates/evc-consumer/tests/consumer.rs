//! The consumer against librdkafka's mock cluster, the in-process and the real registry server,
//! SQLite and the machine's PostgreSQL.
//!
//! Why one file of ~870 lines: every test drives the same consumer loop through the shared
//! fixtures of `common/`; it is grouped by behaviour (ordering, evolution, idempotence,
//! poison, retries, outages, rebalance, replay), each group a few tests.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use evc_avro::{AvroSchema, TopicEvent};
use evc_consumer::dlq::headers as dlq;
use evc_consumer::{
    replay_dlq, EventConsumer, Handler, HandlerError, MessageMeta, PostgresStore, ProcessedStore,
    ReplayConfig, RetryPolicy, Single, SqliteStore,
};
use evc_producer::headers as produced;
use evc_registry::{ServerConfig, StorageUrl};
use evc_registry_client::RegistryClient;
use order_events::{v1, OrderCreated, OrderEvent};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use sqlx::{Sqlite, Transaction};
use uuid::Uuid;

async fn sqlite_with_effects() -> (SqliteStore, Effects) {
    let store = SqliteStore::in_memory().await.unwrap();
    let effects = Effects::new("side_effects");
    effects.create_sqlite(store.pool()).await;
    (store, effects)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_of_one_order_are_handled_in_order_across_partitions() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 4);
    let registry = mock_registry();
    let producer = producer(&kafka, &registry);

    // 30 orders, 6 events each, interleaved: created, then sku-1..sku-5.
    let orders: Vec<Uuid> = (0..30).map(|_| Uuid::new_v4()).collect();
    let mut batch = Vec::new();
    for seq in 0..6 {
        for o in &orders {
            batch.push(if seq == 0 {
                OrderEvent::from(created(*o))
            } else {
                OrderEvent::from(item(*o, seq))
            });
        }
    }
    let delivered = producer.send_topic_batch(&batch).await.unwrap();
    let partitions: std::collections::HashSet<i32> =
        delivered.iter().map(|d| d.partition).collect();
    assert!(
        partitions.len() > 1,
        "the orders spread over several partitions"
    );

    let (store, effects) = sqlite_with_effects().await;
    let consumer = EventConsumer::<OrderEvent, _, _>::new(
        config(&kafka, "ordering"),
        registry.clone(),
        store,
        effects.clone(),
    )
    .unwrap();
    let running = spawn(consumer);
    running.wait("every event", |m| m.processed == 180).await;
    let last = running.stop().await;
    assert_eq!(
        (
            last.processed,
            last.duplicates,
            last.dead_lettered,
            last.retried
        ),
        (180, 0, 0, 0)
    );

    let mut by_order: HashMap<Uuid, Vec<Seen>> = HashMap::new();
    for s in effects.seen() {
        by_order.entry(order_of(&s.event)).or_default().push(s);
    }
    assert_eq!(by_order.len(), 30);
    for (order, seen) in by_order {
        let seqs: Vec<u32> = seen.iter().map(|s| seq_of(&s.event)).collect();
        assert_eq!(
            seqs,
            [0, 1, 2, 3, 4, 5],
            "order {order} handled in the order sent"
        );
        assert!(seen
            .iter()
            .all(|s| s.meta.partition == seen[0].meta.partition));
        assert!(seen.windows(2).all(|w| w[0].meta.offset < w[1].meta.offset));
        assert!(seen
            .iter()
            .all(|s| s.meta.key.as_deref() == Some(order.to_string().as_bytes())));
    }
    // Everything handled was committed on shutdown.
    assert!(kafka.all_committed("ordering", "orders", 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_v1_event_is_read_by_a_v2_consumer_through_the_broker() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 2);
    let registry = mock_registry();
    let old = v1::OrderCreated {
        event_id: Uuid::new_v4(),
        order_id: Uuid::new_v4(),
        occurred_at: at(),
        customer_id: "customer-7".into(),
        currency: "CHF".into(),
    };
    producer(&kafka, &registry).send(&old).await.unwrap();

    let (store, effects) = sqlite_with_effects().await;
    let running = spawn(
        EventConsumer::<OrderEvent, _, _>::new(
            config(&kafka, "v2-reader"),
            registry,
            store,
            effects.clone(),
        )
        .unwrap(),
    );
    running.wait("the v1 event", |m| m.processed == 1).await;
    running.stop().await;
    let seen = effects.seen();
    let OrderEvent::OrderCreated(new) = &seen[0].event else {
        panic!("{:?}", seen[0].event)
    };
    assert_eq!(
        new,
        &OrderCreated {
            event_id: old.event_id,
            order_id: old.order_id,
            occurred_at: old.occurred_at,
            customer_id: old.customer_id.clone(),
            currency: old.currency.clone(),
            channel: order_events::order_created::v2::SalesChannel::Unknown, // v2's default
            shipping_address: None,
        }
    );
    assert_eq!(seen[0].meta.event_key, old.event_id.to_string());
    assert_eq!(seen[0].meta.event_type, OrderCreated::FULL_NAME);
}

/// A v1 reader of `OrderCreated` (a consumer built before v2 existed).
#[derive(Clone, Default)]
struct V1Reader(Arc<Mutex<Vec<v1::OrderCreated>>>);

impl Handler<Single<v1::OrderCreated>, Sqlite> for V1Reader {
    async fn handle(
        &self,
        _tx: &mut Transaction<'static, Sqlite>,
        event: &Single<v1::OrderCreated>,
        _meta: &MessageMeta,
    ) -> Result<(), HandlerError> {
        self.0.lock().unwrap().push(event.0.clone());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_v2_event_is_read_by_a_v1_consumer_through_the_broker() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 2);
    let registry = mock_registry();
    let mut new = created(Uuid::new_v4());
    new.shipping_address = Some(order_events::order_created::v2::Address {
        line1: "Main St 1".into(),
        city: "Basel".into(),
        postal_code: "4051".into(),
        country: "CH".into(),
    });
    producer(&kafka, &registry).send(&new).await.unwrap();

    let reader = V1Reader::default();
    let running = spawn(
        EventConsumer::<Single<v1::OrderCreated>, _, _>::new(
            config(&kafka, "v1-reader"),
            registry,
            SqliteStore::in_memory().await.unwrap(),
            reader.clone(),
        )
        .unwrap(),
    );
    running.wait("the v2 event", |m| m.processed == 1).await;
    running.stop().await;
    assert_eq!(
        reader.0.lock().unwrap().as_slice(),
        [v1::OrderCreated {
            event_id: new.event_id,
            order_id: new.order_id,
            occurred_at: new.occurred_at,
            customer_id: new.customer_id.clone(),
            currency: new.currency.clone(),
        }]
    );
}

/// Same event sent twice, then the consumer killed after its side effects but before any offset
/// commit, then a second consumer of the group: one side effect per event.
async fn exactly_one_effect<S, F, C>(
    kafka: &Kafka,
    group: &str,
    store: S,
    effects: Effects,
    count: C,
) where
    S: ProcessedStore + Clone,
    Effects: Handler<OrderEvent, S::Db>,
    C: Fn(String) -> F,
    F: std::future::Future<Output = i64>,
{
    let registry = mock_registry();
    let producer = producer(kafka, &registry);
    let x = created(Uuid::new_v4());
    let y = item(x.order_id, 1);
    producer.send(&x).await.unwrap();
    producer.send(&x).await.unwrap(); // redelivered by the producing side: same event id
    producer.send(&y).await.unwrap();

    // A commits nothing on its own (no periodic commit within the test) and is killed.
    let a = spawn(
        EventConsumer::<OrderEvent, _, _>::new(
            config(kafka, group).commit_interval(Duration::from_secs(3600)),
            registry.clone(),
            store.clone(),
            effects.clone(),
        )
        .unwrap(),
    );
    a.wait("x, its duplicate and y", |m| {
        m.processed == 2 && m.duplicates == 1
    })
    .await;
    let a_last = a.crash().await;
    assert_eq!(a_last.commits, 0, "{a_last:?}");
    assert_eq!(
        kafka.committed(group, "orders", 2),
        [None, None],
        "nothing committed"
    );

    // B gets the three messages again: all duplicates, no new side effect.
    let b = spawn(
        EventConsumer::<OrderEvent, _, _>::new(
            config(kafka, group),
            registry.clone(),
            store.clone(),
            effects.clone(),
        )
        .unwrap(),
    );
    b.wait("the redelivered messages", |m| m.duplicates == 3)
        .await;
    let b_last = b.stop().await;
    assert_eq!(b_last.processed, 0, "{b_last:?}");
    assert_eq!(effects.calls(), 2, "the handler ran once per event");
    assert_eq!(count(x.event_id.to_string()).await, 1);
    assert_eq!(count(y.event_id.to_string()).await, 1);
    assert!(store
        .is_processed(group, &x.event_id.to_string())
        .await
        .unwrap());
    // B's shutdown committed everything.
    assert!(kafka.all_committed(group, "orders", 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicates_and_a_crash_before_the_commit_give_one_effect_on_sqlite() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 2);
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("consumer.db"))
        .await
        .unwrap();
    let effects = Effects::new("side_effects");
    effects.create_sqlite(store.pool()).await;
    let pool = store.pool().clone();
    let e = effects.clone();
    exactly_one_effect(&kafka, "billing", store, effects, |key| {
        let (pool, e) = (pool.clone(), e.clone());
        async move { e.count_sqlite(&pool, &key).await }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicates_and_a_crash_before_the_commit_give_one_effect_on_postgres() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 2);
    let pool = pg_pool().await;
    let pg = pg_schema().await;
    let schema = pg.schema.clone();
    let store = PostgresStore::with_pool(pool.clone(), &format!("{schema}.processed_events"))
        .await
        .unwrap();
    let effects = Effects::new(&format!("{schema}.side_effects"));
    effects.create_pg(&pool).await;
    let e = effects.clone();
    let p = pool.clone();
    exactly_one_effect(&kafka, "billing", store, effects, |key| {
        let (pool, e) = (p.clone(), e.clone());
        async move { e.count_pg(&pool, &key).await }
    })
    .await;
    pool.close().await;
    pg.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_kind_of_poison_message_is_dead_lettered_at_once_and_the_consumer_goes_on() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 1);
    kafka.create_topic("orders.dlq", 1);
    let registry = mock_registry();
    let producer = producer(&kafka, &registry);
    // Registers OrderCreated v2 (and gives the id an undecodable body will claim).
    let good = created(Uuid::new_v4());
    let created_id = producer
        .serializer()
        .schema_id::<OrderCreated>()
        .await
        .unwrap();
    // A type the orders topic does not carry, and an `OrderCreated` no version resolves from.
    let other_id = registry
        .register(
            "other-com.acme.other.Unrelated",
            r#"{"type":"record","name":"Unrelated","namespace":"com.acme.other","fields":[{"name":"x","type":"string"}]}"#,
        )
        .await
        .unwrap()
        .id;
    let alien_id = registry
        .register(
            "scratch-value",
            r#"{"type":"record","name":"OrderCreated","namespace":"com.acme.orders","fields":[{"name":"n","type":"int"}]}"#,
        )
        .await
        .unwrap()
        .id;

    let poison: Vec<(Option<Vec<u8>>, &str)> = vec![
        (None, "evc_consumer::NullValue"),
        (
            Some(br#"{"order_id":"1"}"#.to_vec()),
            "evc_wire::FrameError::WrongMagicByte",
        ),
        (Some(vec![0, 0, 1]), "evc_wire::FrameError::TooShort"),
        (
            Some(evc_wire::frame(987_654, &[0])),
            "evc_wire::WireError::UnknownSchemaId",
        ),
        (
            Some(evc_wire::frame(created_id, &[0xff, 0xff, 0xff])),
            "evc_wire::WireError::Decode",
        ),
        (
            Some(evc_wire::frame(other_id, &[4, b'h', b'i'])),
            "evc_wire::WireError::UnknownEventType",
        ),
        (
            Some(evc_wire::frame(alien_id, &[2])),
            "evc_wire::WireError::Unresolvable",
        ),
    ];
    let raw = kafka.raw_producer();
    for (i, (value, _)) in poison.iter().enumerate() {
        let key = format!("poison-{i}");
        let headers = OwnedHeaders::new().insert(Header {
            key: "trace-id",
            value: Some(format!("trace-{i}").as_bytes()),
        });
        let mut record: FutureRecord<'_, str, [u8]> = FutureRecord::to("orders")
            .key(key.as_str())
            .headers(headers);
        if let Some(v) = value {
            record = record.payload(v);
        }
        raw.send(record, Duration::from_secs(5)).await.unwrap();
    }
    producer.send(&good).await.unwrap();

    let (store, effects) = sqlite_with_effects().await;
    let running = spawn(
        EventConsumer::<OrderEvent, _, _>::new(
            config(&kafka, "poisoned"),
            registry,
            store,
            effects.clone(),
        )
        .unwrap(),
    );
    running
        .wait("the poison and the good event", |m| {
            m.dead_lettered == 7 && m.processed == 1
        })
        .await;
    let last = running.stop().await;
    assert_eq!(
        (last.retried, last.transient_retries),
        (0, 0),
        "poison is not retried"
    );
    assert_eq!(effects.calls(), 1, "the handler never saw poison");

    let letters = kafka.read("orders.dlq", 1, 7).await;
    for (i, (m, (value, class))) in letters.iter().zip(&poison).enumerate() {
        assert_eq!(
            m.payload().unwrap_or_default(),
            value.as_deref().unwrap_or_default(),
            "value kept (a missing one as an empty one)"
        );
        assert_eq!(m.key(), Some(format!("poison-{i}").as_bytes()), "key kept");
        assert_eq!(
            header(m, "trace-id"),
            Some(format!("trace-{i}").as_str()),
            "headers kept"
        );
        assert_eq!(header(m, dlq::ORIGINAL_TOPIC), Some("orders"));
        assert_eq!(header(m, dlq::ORIGINAL_PARTITION), Some("0"));
        assert_eq!(
            header(m, dlq::ORIGINAL_OFFSET),
            Some(i.to_string().as_str())
        );
        assert!(
            header(m, dlq::ORIGINAL_TIMESTAMP)
                .unwrap()
                .parse::<i64>()
                .unwrap()
                > 0
        );
        assert_eq!(header(m, dlq::CONSUMER_GROUP), Some("poisoned"));
        assert_eq!(header(m, dlq::STAGE), Some("deserialize"));
        assert_eq!(header(m, dlq::ERROR_CLASS), Some(*class), "message {i}");
        assert!(!header(m, dlq::ERROR_MESSAGE).unwrap().is_empty());
        assert_eq!(header(m, dlq::ATTEMPTS), Some("1"));
    }
    assert!(header(&letters[3], dlq::ERROR_MESSAGE)
        .unwrap()
        .contains("987654"));
    assert!(header(&letters[5], dlq::ERROR_MESSAGE)
        .unwrap()
        .contains("com.acme.other.Unrelated"));
    // Poison and good event alike are committed: the partition is not blocked.
    assert_eq!(kafka.committed("poisoned", "orders", 1), [Some(8)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_handler_is_retried_and_one_failing_forever_is_dead_lettered() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 1);
    kafka.create_topic("orders.dlq", 1);
    let registry = mock_registry();
    let producer = producer(&kafka, &registry);
    let flaky = created(Uuid::new_v4());
    let broken = created(Uuid::new_v4());
    let refused = created(Uuid::new_v4());
    let fine = created(Uuid::new_v4());
    for e in [&flaky, &broken, &refused, &fine] {
        producer.send(e).await.unwrap();
    }

    let (store, effects) = sqlite_with_effects().await;
    effects
        .faults
        .fail_times
        .lock()
        .unwrap()
        .insert(flaky.event_id.to_string(), 3);
    effects
        .faults
        .always
        .lock()
        .unwrap()
        .insert(broken.event_id.to_string());
    effects
        .faults
        .reject
        .lock()
        .unwrap()
        .insert(refused.event_id.to_string());
    let pool = store.pool().clone();
    let running = spawn(
        EventConsumer::<OrderEvent, _, _>::new(
            config(&kafka, "retrying").handler_retry(RetryPolicy {
                max_attempts: 4,
                initial_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(30),
            }),
            registry,
            store,
            effects.clone(),
        )
        .unwrap(),
    );
    running
        .wait(
            "flaky and fine processed, broken and refused dead-lettered",
            |m| m.processed == 2 && m.dead_lettered == 2,
        )
        .await;
    let last = running.stop().await;
    // flaky: 3 failures then success; broken: 4 attempts (3 retries); refused: 1 attempt.
    assert_eq!(last.retried, 3 + 3, "{last:?}");
    assert_eq!(effects.calls(), 4 + 4 + 1 + 1);
    // The failed attempts' side effects were rolled back with them.
    assert_eq!(
        effects
            .count_sqlite(&pool, &flaky.event_id.to_string())
            .await,
        1
    );
    assert_eq!(
        effects
            .count_sqlite(&pool, &broken.event_id.to_string())
            .await,
        0
    );

    let letters = kafka.read("orders.dlq", 1, 2).await;
    let (b, r) = (&letters[0], &letters[1]);
    assert_eq!(
        header(b, produced::EVENT_ID),
        Some(broken.event_id.to_string().as_str())
    );
    assert_eq!(header(b, dlq::STAGE), Some("handle"));
    assert_eq!(header(b, dlq::ERROR_CLASS), Some("tests::AlwaysFails"));
    assert_eq!(header(b, dlq::ATTEMPTS), Some("4"));
    assert_eq!(header(b, dlq::ORIGINAL_OFFSET), Some("1"));
    assert_eq!(
        header(r, produced::EVENT_ID),
        Some(refused.event_id.to_string().as_str())
    );
    assert_eq!(header(r, dlq::ERROR_CLASS), Some("tests::Rejected"));
    assert_eq!(header(r, dlq::ATTEMPTS), Some("1"));
    assert_eq!(kafka.committed("retrying", "orders", 1), [Some(4)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_registry_outage_is_waited_out_not_dead_lettered() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 1);
    kafka.create_topic("orders.dlq", 1);
    let dir = tempfile::tempdir().unwrap();
    let storage = StorageUrl::Sqlite(dir.path().join("registry.db"));
    let server = evc_registry::spawn(ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        storage.clone(),
    ))
    .await
    .unwrap();
    let addr = server.addr();
    let producing = RegistryClient::new(&server.url()).unwrap();
    let producer = producer(&kafka, &producing);
    let events: Vec<OrderCreated> = (0..3).map(|_| created(Uuid::new_v4())).collect();
    for e in &events {
        producer.send(e).await.unwrap();
    }
    server.stop().await.unwrap();

    // A consumer whose registry client has never seen the schema, and gives up quickly.
    let consuming = RegistryClient::builder(&format!("http://{addr}"))
        .retry(evc_registry_client::RetryPolicy::none())
        .connect_timeout(Duration::from_millis(200))
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let (store, effects) = sqlite_with_effects().await;
    let running = spawn(
        EventConsumer::<OrderEvent, _, _>::new(
            config(&kafka, "patient"),
            consuming,
            store,
            effects.clone(),
        )
        .unwrap(),
    );
    running
        .wait("retries while the registry is down", |m| {
            m.transient_retries >= 5
        })
        .await;
    assert_eq!(
        (running.now().processed, running.now().dead_lettered),
        (0, 0)
    );

    // The registry comes back on the same port with the same storage.
    let server = evc_registry::spawn(ServerConfig::new(addr, storage))
        .await
        .unwrap();
    running.wait("every event", |m| m.processed == 3).await;
    let last = running.stop().await;
    server.stop().await.unwrap();
    assert_eq!(last.dead_lettered, 0, "{last:?}");
    assert_eq!(kafka.count("orders.dlq", 1), 0);
    let handled: Vec<OrderEvent> = effects.seen().into_iter().map(|s| s.event).collect();
    let sent: Vec<OrderEvent> = events.into_iter().map(OrderEvent::from).collect();
    assert_eq!(handled, sent);
}

/// A member losing partitions commits what it acked before it lets them go, so the new owner
/// starts after it. librdkafka's mock coordinator refuses that commit when another rebalance
/// starts at the same moment (a follower's SyncGroup arriving after the leader's makes it
/// rebalance again; Kafka itself accepts commits while a group prepares a rebalance): the
/// refusal is counted and the new owner redelivers what was acked since the last commit, which
/// the idempotent store skips. The strict no-reprocessing claim on a broker speaking the Kafka
/// protocol end to end is `tests/tests/e2e_tansu.rs`'s
/// `a_rebalance_through_tansu_commits_on_revoke_so_nothing_is_reprocessed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebalance_commits_on_revoke_and_hands_partitions_over_without_double_effects() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 4);
    let registry = mock_registry();
    let producer = producer(&kafka, &registry);
    let first: Vec<OrderEvent> = (0..40).map(|_| created(Uuid::new_v4()).into()).collect();
    producer.send_topic_batch(&first).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("consumer.db"))
        .await
        .unwrap();
    let effects = Effects::new("side_effects");
    effects.create_sqlite(store.pool()).await;
    // No periodic commits: only the revoke (and shutdown) commit.
    let group_config = || config(&kafka, "pair").commit_interval(Duration::from_secs(3600));
    let a = spawn(
        EventConsumer::<OrderEvent, _, _>::new(
            group_config(),
            registry.clone(),
            store.clone(),
            effects.clone(),
        )
        .unwrap(),
    );
    a.wait("the first 40", |m| m.processed == 40).await;
    assert_eq!(
        kafka.committed("pair", "orders", 4),
        [None, None, None, None]
    );

    let b = spawn(
        EventConsumer::<OrderEvent, _, _>::new(
            group_config(),
            registry.clone(),
            store.clone(),
            effects.clone(),
        )
        .unwrap(),
    );
    a.wait("the commit on revoke (made or refused)", |m| {
        m.revoke_commits + m.revoke_commit_refusals >= 1
    })
    .await;
    let at_revoke = a.now();
    if at_revoke.revoke_commits >= 1 {
        // The commit on revoke covered everything A had acked, on all four partitions.
        assert!(kafka.all_committed("pair", "orders", 4), "{at_revoke:?}");
    }
    let second: Vec<OrderEvent> = (0..40).map(|_| created(Uuid::new_v4()).into()).collect();
    producer.send_topic_batch(&second).await.unwrap();
    wait_until("all 80 processed", || {
        a.now().processed + b.now().processed == 80
    })
    .await;
    let (a_last, b_last) = (a.stop().await, b.stop().await);
    assert!(b_last.processed > 0, "B got partitions: {b_last:?}");
    let duplicates = a_last.duplicates + b_last.duplicates;
    if a_last.revoke_commit_refusals == 0 {
        assert_eq!(duplicates, 0, "no reprocessing: {a_last:?} {b_last:?}");
    } else {
        // Only what A acked on the partitions it gave up can come again, and only once.
        assert!(duplicates <= 40, "{a_last:?} {b_last:?}");
    }
    assert_eq!(effects.calls(), 80, "one side effect per event");
    assert!(kafka.all_committed("pair", "orders", 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_letters_are_replayed_into_the_topic_without_their_dlq_headers() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 2);
    kafka.create_topic("orders.dlq", 1);
    let registry = mock_registry();
    let producer = producer(&kafka, &registry);
    let events: Vec<OrderCreated> = (0..3).map(|_| created(Uuid::new_v4())).collect();
    for e in &events {
        producer.send(e).await.unwrap();
    }

    let (store, effects) = sqlite_with_effects().await;
    effects
        .faults
        .reject_all
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let running = spawn(
        EventConsumer::<OrderEvent, _, _>::new(
            config(&kafka, "replayed"),
            registry,
            store,
            effects.clone(),
        )
        .unwrap(),
    );
    running
        .wait("all three dead-lettered", |m| m.dead_lettered == 3)
        .await;
    // The downstream problem is fixed; the dead letters are replayed.
    effects
        .faults
        .reject_all
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let report = replay_dlq(&ReplayConfig::new(&kafka.bootstrap, "orders.dlq"))
        .await
        .unwrap();
    assert_eq!(report.total(), 3);
    assert_eq!(report.replayed.get("orders"), Some(&3));
    running
        .wait("the replayed events", |m| m.processed == 3)
        .await;
    let last = running.stop().await;
    assert_eq!(last.dead_lettered, 3);
    let mut handled: Vec<Uuid> = effects
        .seen()
        .iter()
        .map(|s| s.event.event_id().unwrap())
        .collect();
    let mut sent: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    handled.sort();
    sent.sort();
    assert_eq!(handled, sent);

    // The replayed copies: same key and value, original headers, no dead-letter headers.
    let all = kafka.read("orders", 2, 6).await;
    for e in &events {
        let copies: Vec<_> = all
            .iter()
            .filter(|m| header(m, produced::EVENT_ID) == Some(e.event_id.to_string().as_str()))
            .collect();
        assert_eq!(copies.len(), 2);
        let (orig, replay) = (copies[0], copies[1]);
        assert_eq!(orig.key(), replay.key());
        assert_eq!(orig.payload(), replay.payload());
        assert_eq!(
            orig.partition(),
            replay.partition(),
            "same key, same partition"
        );
        assert_eq!(
            header(replay, produced::EVENT_TYPE),
            Some(OrderCreated::FULL_NAME)
        );
        let names: Vec<&str> = replay.headers().unwrap().iter().map(|h| h.key).collect();
        assert!(
            names.iter().all(|n| !n.starts_with(dlq::PREFIX)),
            "{names:?}"
        );
    }
    // Progress was committed: a second replay sends nothing.
    let again = replay_dlq(&ReplayConfig::new(&kafka.bootstrap, "orders.dlq"))
        .await
        .unwrap();
    assert_eq!(again.total(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_replay_command_replays_a_dead_letter_topic() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 1);
    kafka.create_topic("orders.dlq", 1);
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "evc-event-id",
            value: Some("e-1".as_bytes()),
        })
        .insert(Header {
            key: dlq::ORIGINAL_TOPIC,
            value: Some("orders".as_bytes()),
        })
        .insert(Header {
            key: dlq::STAGE,
            value: Some("handle".as_bytes()),
        });
    kafka
        .raw_producer()
        .send(
            FutureRecord::<str, [u8]>::to("orders.dlq")
                .key("k-1")
                .payload(&[0, 0, 0, 0, 1, 42])
                .headers(headers),
            Duration::from_secs(5),
        )
        .await
        .unwrap();

    let bin = env!("CARGO_BIN_EXE_evc-dlq-replay");
    let bad = tokio::process::Command::new(bin)
        .arg("--dlq-topic")
        .output()
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let run = || {
        tokio::process::Command::new(bin)
            .args([
                "--bootstrap-servers",
                &kafka.bootstrap,
                "--dlq-topic",
                "orders.dlq",
            ])
            .output()
    };
    let out = run().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("replayed 1 message(s)"));
    let replayed = kafka.read("orders", 1, 1).await;
    assert_eq!(replayed[0].key(), Some("k-1".as_bytes()));
    assert_eq!(replayed[0].payload(), Some(&[0, 0, 0, 0, 1, 42][..]));
    assert_eq!(header(&replayed[0], "evc-event-id"), Some("e-1"));
    assert_eq!(header(&replayed[0], dlq::ORIGINAL_TOPIC), None);
    assert_eq!(header(&replayed[0], dlq::STAGE), None);
    let again = run().await.unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("replayed 0 message(s)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_letter_that_cannot_be_written_holds_the_offset_until_it_can() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 1);
    let registry = mock_registry();
    let raw = kafka.raw_producer();
    raw.send(
        FutureRecord::<str, [u8]>::to("orders")
            .key("k")
            .payload(b"not avro"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let good = created(Uuid::new_v4());
    producer(&kafka, &registry).send(&good).await.unwrap();

    // No dead-letter topic yet, and the dead-letter producer may not create it.
    let (store, effects) = sqlite_with_effects().await;
    let running = spawn(
        EventConsumer::<OrderEvent, _, _>::new(
            config(&kafka, "held")
                .set_dlq_producer("allow.auto.create.topics", "false")
                .set_dlq_producer("message.timeout.ms", "500"),
            registry,
            store,
            effects.clone(),
        )
        .unwrap(),
    );
    running
        .wait("failed dead-letter writes", |m| m.transient_retries >= 2)
        .await;
    let now = running.now();
    assert_eq!(
        (now.dead_lettered, now.processed),
        (0, 0),
        "nothing skipped: {now:?}"
    );
    assert_eq!(kafka.committed("held", "orders", 1), [None]);

    kafka.create_topic("orders.dlq", 1);
    running
        .wait("the dead letter and the next event", |m| {
            m.dead_lettered == 1 && m.processed == 1
        })
        .await;
    running.stop().await;
    assert_eq!(
        kafka.read("orders.dlq", 1, 1).await[0].payload(),
        Some(&b"not avro"[..])
    );
    assert!(kafka.all_committed("held", "orders", 1));
}
