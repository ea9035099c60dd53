//! The idempotent consumer's guarantees on every transport, the same cases unchanged: Kafka
//! (librdkafka's mock cluster), Redis Streams (127.0.0.1:6379 or `EVC_TEST_REDIS_URL`) and
//! RabbitMQ (127.0.0.1:5672 guest/guest or `EVC_TEST_AMQP_URL`, with the consistent-hash
//! exchange plugin that `cargo xtask test` enables). The real consumer, the real processed-
//! events store (SQLite files) and the registry's `mock://`; nothing mocked.
//!
//! Cases: a duplicate delivery and a crash between the database commit and the ack give one
//! side effect; poison messages (bad framing, unknown schema id, undecodable body) are
//! dead-lettered at once with provenance; a failing handler is retried, then dead-lettered
//! after N attempts; replay from the dead letters; a restart resumes without loss; a dead
//! consumer's shards are handed over without loss.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use evc_avro::TopicEvent;
use evc_consumer::dlq::headers as dlq;
use evc_consumer::{ConsumerConfig, EventConsumer, RetryPolicy, SqliteStore};
use evc_producer::{EventProducer, ProducerConfig};
use evc_registry_client::RegistryClient;
use evc_transport::{AnyTransport, Outgoing, Transport};
use evc_wire::Serializer;
use order_events::OrderEvent;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use uuid::Uuid;

/// One broker of the suite.
enum Broker {
    Kafka(MockCluster<'static, DefaultProducerContext>),
    Redis(String),
    Rabbit(String),
}

impl Broker {
    fn kafka() -> Broker {
        Broker::Kafka(MockCluster::new(3).expect("mock cluster"))
    }

    fn redis() -> Broker {
        Broker::Redis(
            std::env::var("EVC_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        )
    }

    fn rabbit() -> Broker {
        Broker::Rabbit(
            std::env::var("EVC_TEST_AMQP_URL")
                .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
        )
    }

    fn url(&self) -> String {
        match self {
            Broker::Kafka(c) => c.bootstrap_servers(),
            Broker::Redis(u) | Broker::Rabbit(u) => u.clone(),
        }
    }

    async fn transport(&self) -> AnyTransport {
        AnyTransport::connect(&self.url())
            .await
            .unwrap_or_else(|e| panic!("the broker {} must be running: {e}", self.url()))
    }

    /// A topic of this test's own with `shards` shards (and its dead letters).
    async fn topic(&self, case: &str, shards: u32) -> String {
        let topic = format!(
            "evc-consumer-{case}-{}",
            &Uuid::new_v4().simple().to_string()[..10]
        );
        if let Broker::Kafka(c) = self {
            // The mock cluster does not implement CreateTopics.
            c.create_topic(&topic, shards as i32, 1).unwrap();
            c.create_topic(&evc_transport::dlq_name(&topic), shards as i32, 1)
                .unwrap();
        }
        self.transport()
            .await
            .declare_topic(&topic, shards)
            .await
            .unwrap();
        topic
    }

    /// Removes the groups and the topic (Redis, RabbitMQ; each Kafka test has its own
    /// cluster).
    async fn cleanup(&self, topic: &str, groups: &[&str]) {
        if matches!(self, Broker::Kafka(_)) {
            return;
        }
        let t = self.transport().await;
        for g in groups {
            t.delete_group(topic, g).await.unwrap();
        }
        t.delete_topic(topic).await.unwrap();
    }
}

fn producer(b: &Broker, registry: &RegistryClient) -> EventProducer {
    EventProducer::with_serializer(
        &ProducerConfig::new(b.url()),
        Serializer::new(registry.clone()).auto_register(true),
    )
    .unwrap()
}

/// Short backoffs, dead members' shards taken over after 2 s (Kafka: its 6 s minimum).
fn config(b: &Broker, topic: &str, group: &str) -> ConsumerConfig {
    ConsumerConfig::new(b.url(), group)
        .topic(topic)
        .handler_retry(RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
        })
        .transient_retry(RetryPolicy {
            max_attempts: u32::MAX,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(300),
        })
        .takeover_after(Duration::from_secs(2))
        .prefetch(16)
        .commit_interval(Duration::from_millis(200))
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
}

/// A store in a SQLite file (shared by the consumers of one case) with the effects table.
async fn store(dir: &tempfile::TempDir) -> (SqliteStore, Effects) {
    let store = SqliteStore::open(dir.path().join("consumer.db"))
        .await
        .unwrap();
    let effects = Effects::new("side_effects");
    effects.create_sqlite(store.pool()).await;
    (store, effects)
}

fn consumer(
    b: &Broker,
    topic: &str,
    group: &str,
    registry: &RegistryClient,
    store: &SqliteStore,
    effects: &Effects,
) -> Running {
    let c = EventConsumer::<OrderEvent, _, _>::new(
        config(b, topic, group),
        registry.clone(),
        store.clone(),
        effects.clone(),
    )
    .unwrap();
    spawn(c)
}

async fn declared(b: &Broker, topic: &str, group: &str) {
    b.transport()
        .await
        .declare_group(topic, group)
        .await
        .unwrap();
}

/// The same event published twice, then a consumer killed between its database commit and
/// its first ack (the commit of the batch that came first: x alone, or x, its copy and y);
/// a second consumer of the group: one side effect per event.
async fn a_duplicate_and_a_crash_between_commit_and_ack_give_one_effect(b: Broker) {
    let topic = b.topic("crash", 2).await;
    let group = "billing";
    declared(&b, &topic, group).await;
    let registry = mock_registry();
    let p = producer(&b, &registry);
    let x = created(Uuid::new_v4());
    let y = item(x.order_id, 1);
    p.send_to(&topic, &x).await.unwrap();
    p.send_to(&topic, &x).await.unwrap(); // the producing side sent it twice: same event id
    p.send_to(&topic, &y).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, effects) = store(&dir).await;

    let a = consumer(&b, &topic, group, &registry, &store, &effects);
    a.control.crash_before_next_ack();
    let a_last = within("the consumer killed before its first ack", a.task_end()).await;
    // Its first batch committed: x, and y when the batch held it too; nothing acked.
    let first = a_last.processed;
    assert!((1..=2).contains(&first), "{a_last:?}");
    assert_eq!(effects.calls() as u64, first);

    let b2 = consumer(&b, &topic, group, &registry, &store, &effects);
    b2.wait("x again (a duplicate), its copy, then y", |m| {
        m.duplicates + m.processed == 3
    })
    .await;
    let last = b2.stop().await;
    assert_eq!(
        (last.processed, last.duplicates),
        (2 - first, 1 + first),
        "{last:?}"
    );
    assert_eq!(effects.calls(), 2, "the handler ran once per event");
    let pool = store.pool().clone();
    for e in [x.event_id, y.event_id] {
        assert_eq!(effects.count_sqlite(&pool, &e.to_string()).await, 1);
    }
    b.cleanup(&topic, &[group]).await;
}

/// Bad framing, an unknown schema id and an undecodable body are dead-lettered at once, with
/// their bytes, key, headers and provenance; the good event after them is processed.
async fn poison_is_dead_lettered_at_once_with_provenance(b: Broker) {
    let topic = b.topic("poison", 1).await;
    let group = "poisoned";
    declared(&b, &topic, group).await;
    let registry = mock_registry();
    let p = producer(&b, &registry);
    let good = created(Uuid::new_v4());
    let id = p
        .serializer()
        .schema_id::<order_events::OrderCreated>()
        .await
        .unwrap();
    let poison = [
        (
            br#"{"order_id":"1"}"#.to_vec(),
            "evc_wire::FrameError::WrongMagicByte",
        ),
        (
            evc_wire::frame(987_654, &[0]),
            "evc_wire::WireError::UnknownSchemaId",
        ),
        (
            evc_wire::frame(id, &[0xff, 0xff, 0xff]),
            "evc_wire::WireError::Decode",
        ),
    ];
    let t = b.transport().await;
    for (i, (payload, _)) in poison.iter().enumerate() {
        t.publish(
            &topic,
            Outgoing::new("p", payload.clone()).header("trace-id", format!("trace-{i}")),
        )
        .await
        .unwrap();
    }
    p.send_to(&topic, &good).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, effects) = store(&dir).await;
    let c = consumer(&b, &topic, group, &registry, &store, &effects);
    c.wait("three dead letters and the good event", |m| {
        m.dead_lettered == 3 && m.processed == 1
    })
    .await;
    let last = c.stop().await;
    assert_eq!((last.retried, last.transient_retries), (0, 0), "{last:?}");
    let dead = t.dead_letters(&topic, 10).await.unwrap();
    assert_eq!(dead.len(), 3, "{dead:?}");
    for (i, (d, (payload, class))) in dead.iter().zip(&poison).enumerate() {
        assert_eq!(&d.payload, payload, "bytes kept");
        assert_eq!(d.key_str(), Some("p"));
        let h = &d.headers;
        assert_eq!(h.get_str("trace-id"), Some(format!("trace-{i}").as_str()));
        assert_eq!(h.get_str(dlq::ORIGINAL_TOPIC), Some(topic.as_str()));
        assert_eq!(h.get_str(dlq::ORIGINAL_PARTITION), Some("0"));
        assert!(h.get_str(dlq::ORIGINAL_OFFSET).is_some());
        assert_eq!(h.get_str(dlq::CONSUMER_GROUP), Some(group));
        assert_eq!(h.get_str(dlq::STAGE), Some("deserialize"));
        assert_eq!(h.get_str(dlq::ERROR_CLASS), Some(*class));
        assert_eq!(h.get_str(dlq::ATTEMPTS), Some("1"));
    }
    assert_eq!(effects.calls(), 1, "the handler never saw poison");
    b.cleanup(&topic, &[group]).await;
}

/// A handler failing forever is tried 3 times, then dead-lettered (`attempts=3`,
/// `stage=handle`); the event after it on the same key is processed after it.
async fn a_failing_handler_is_retried_then_dead_lettered(b: Broker) {
    let topic = b.topic("retry", 2).await;
    let group = "retrying";
    declared(&b, &topic, group).await;
    let registry = mock_registry();
    let p = producer(&b, &registry);
    let broken = created(Uuid::new_v4());
    let next = item(broken.order_id, 1);
    p.send_to(&topic, &broken).await.unwrap();
    p.send_to(&topic, &next).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (store, effects) = store(&dir).await;
    effects
        .faults
        .always
        .lock()
        .unwrap()
        .insert(broken.event_id.to_string());
    let c = consumer(&b, &topic, group, &registry, &store, &effects);
    c.wait("one dead letter, one processed", |m| {
        m.dead_lettered == 1 && m.processed == 1
    })
    .await;
    let last = c.stop().await;
    assert_eq!(last.retried, 2, "{last:?}");
    let seen = effects.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].event.event_id(), Some(next.event_id));
    let dead = b.transport().await.dead_letters(&topic, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    let h = &dead[0].headers;
    assert_eq!(h.get_str(dlq::ATTEMPTS), Some("3"));
    assert_eq!(h.get_str(dlq::STAGE), Some("handle"));
    assert_eq!(h.get_str(dlq::ERROR_CLASS), Some("tests::AlwaysFails"));
    assert_eq!(
        h.get_str(evc_producer::headers::EVENT_ID),
        Some(broken.event_id.to_string().as_str())
    );
    b.cleanup(&topic, &[group]).await;
}

/// Dead letters replayed into the topic are processed once the handler accepts them.
async fn dead_letters_are_replayed_and_processed(b: Broker) {
    let topic = b.topic("replay", 2).await;
    let group = "replayed";
    declared(&b, &topic, group).await;
    let registry = mock_registry();
    let p = producer(&b, &registry);
    let events: Vec<_> = (0..3).map(|_| created(Uuid::new_v4())).collect();
    for e in &events {
        p.send_to(&topic, e).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let (store, effects) = store(&dir).await;
    effects
        .faults
        .reject_all
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let c = consumer(&b, &topic, group, &registry, &store, &effects);
    c.wait("all three dead-lettered", |m| m.dead_lettered == 3)
        .await;
    effects
        .faults
        .reject_all
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let t = b.transport().await;
    let report = evc_consumer::replay_over(&t, &topic).await.unwrap();
    assert_eq!(report.replayed.get(&topic), Some(&3), "{report:?}");
    c.wait("the replayed events", |m| m.processed == 3).await;
    c.stop().await;
    let mut handled: Vec<Uuid> = effects
        .seen()
        .iter()
        .filter_map(|s| s.event.event_id())
        .collect();
    let mut sent: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    handled.sort();
    sent.sort();
    assert_eq!(handled, sent);
    let again = evc_consumer::replay_over(&t, &topic).await.unwrap();
    assert_eq!(again.total(), 0, "a dead letter is replayed once");
    b.cleanup(&topic, &[group]).await;
}

/// A consumer processes 5 events and shuts down; 5 more are published; a new consumer of the
/// group processes exactly those 5, nothing again.
async fn a_restart_resumes_without_loss(b: Broker) {
    let topic = b.topic("restart", 2).await;
    let group = "restarting";
    declared(&b, &topic, group).await;
    let registry = mock_registry();
    let p = producer(&b, &registry);
    let first: Vec<OrderEvent> = (0..5).map(|_| created(Uuid::new_v4()).into()).collect();
    for e in &first {
        p.send_topic_to(&topic, e).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let (store, effects) = store(&dir).await;
    let a = consumer(&b, &topic, group, &registry, &store, &effects);
    a.wait("the first five", |m| m.processed == 5).await;
    a.stop().await;
    let second: Vec<OrderEvent> = (0..5).map(|_| created(Uuid::new_v4()).into()).collect();
    for e in &second {
        p.send_topic_to(&topic, e).await.unwrap();
    }
    let c = consumer(&b, &topic, group, &registry, &store, &effects);
    c.wait("the next five", |m| m.processed == 5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let last = c.stop().await;
    assert_eq!(
        (last.processed, last.duplicates),
        (5, 0),
        "resumed where the group was: {last:?}"
    );
    assert_eq!(effects.calls(), 10);
    b.cleanup(&topic, &[group]).await;
}

/// Two consumers of one group on 4 shards; one dies while events flow: the other ends with
/// every event, once each in the database, each order's events in order.
async fn a_dead_consumers_shards_are_handed_over_without_loss(b: Broker) {
    let topic = b.topic("handover", 4).await;
    let group = "pair";
    declared(&b, &topic, group).await;
    let registry = mock_registry();
    let p = producer(&b, &registry);
    let dir = tempfile::tempdir().unwrap();
    let (store, effects) = store(&dir).await;
    let a = consumer(&b, &topic, group, &registry, &store, &effects);
    let c = consumer(&b, &topic, group, &registry, &store, &effects);
    let orders: Vec<Uuid> = (0..12).map(|_| Uuid::new_v4()).collect();
    let mut batch: Vec<OrderEvent> = Vec::new();
    for seq in 0..5 {
        for o in &orders {
            batch.push(if seq == 0 {
                created(*o).into()
            } else {
                item(*o, seq).into()
            });
        }
    }
    let total = batch.len();
    let (head, tail) = batch.split_at(total / 2);
    for e in head {
        p.send_topic_to(&topic, e).await.unwrap();
    }
    wait_until("some events processed", || {
        a.now().processed + c.now().processed >= 5
    })
    .await;
    a.crash().await;
    for e in tail {
        p.send_topic_to(&topic, e).await.unwrap();
    }
    wait_until("every event in the database", || {
        effects.seen().len() >= total
    })
    .await;
    c.stop().await;
    let pool = store.pool().clone();
    let mut by_order: HashMap<Uuid, Vec<u32>> = HashMap::new();
    for e in &batch {
        assert_eq!(
            effects
                .count_sqlite(&pool, &e.event_id().unwrap().to_string())
                .await,
            1,
            "one effect per event"
        );
    }
    for s in effects.seen() {
        by_order
            .entry(order_of(&s.event))
            .or_default()
            .push(seq_of(&s.event));
    }
    for (order, seqs) in by_order {
        assert_eq!(seqs, [0, 1, 2, 3, 4], "order {order} in order");
    }
    b.cleanup(&topic, &[group]).await;
}

macro_rules! on_every_transport {
    ($($case:ident),* $(,)?) => {
        mod kafka {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Broker::kafka()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Broker::redis()).await;
                }
            )*
        }
        mod rabbitmq {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::Broker::rabbit()).await;
                }
            )*
        }
    };
}

on_every_transport!(
    a_duplicate_and_a_crash_between_commit_and_ack_give_one_effect,
    poison_is_dead_lettered_at_once_with_provenance,
    a_failing_handler_is_retried_then_dead_lettered,
    dead_letters_are_replayed_and_processed,
    a_restart_resumes_without_loss,
    a_dead_consumers_shards_are_handed_over_without_loss,
);
