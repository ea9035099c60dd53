//! The relay on librdkafka's mock cluster and a `mock://` registry, over SQLite and PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use evc_eventstore::EventStore;
use evc_order::{AddItem, Command, CreateOrder, OrderService, PayOrder, PlaceOrder, ShipOrder};
use evc_outbox::{Relay, RelayConfig};
use evc_producer::ProducerConfig;
use evc_registry_client::RegistryClient;
use evc_storage::testing::PgTestSchema;
use evc_wire::{Deserializer, Serializer};
use order_events::order_created::v2::SalesChannel;
use order_events::order_paid::v2::PaymentMethod;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use uuid::Uuid;

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 3;

struct Kafka {
    _cluster: MockCluster<'static, DefaultProducerContext>,
    bootstrap: String,
}

fn kafka() -> Kafka {
    let cluster = MockCluster::new(3).expect("mock cluster");
    cluster.create_topic(TOPIC, PARTITIONS, 1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    Kafka {
        _cluster: cluster,
        bootstrap,
    }
}

impl Kafka {
    fn count(&self) -> i64 {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", "count")
            .create()
            .unwrap();
        (0..PARTITIONS)
            .map(|p| {
                let (lo, hi) = c
                    .fetch_watermarks(TOPIC, p, Duration::from_secs(5))
                    .unwrap();
                hi - lo
            })
            .sum()
    }

    /// Every message of the topic, by partition then offset.
    fn read_all(&self) -> Vec<OwnedMessage> {
        let n = self.count();
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", "reader")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
                .unwrap();
        }
        c.assign(&tpl).unwrap();
        let started = Instant::now();
        let mut out = Vec::new();
        while (out.len() as i64) < n {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "read timed out"
            );
            if let Some(m) = c.poll(Duration::from_millis(200)) {
                out.push(m.unwrap().detach());
            }
        }
        out.sort_by_key(|m| (m.partition(), m.offset()));
        out
    }
}

fn header(m: &OwnedMessage, name: &str) -> Option<String> {
    m.headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
}

fn registry() -> RegistryClient {
    RegistryClient::new(&format!("mock://outbox-{}", Uuid::new_v4())).unwrap()
}

fn service(store: EventStore, registry: &RegistryClient) -> OrderService {
    OrderService::new(
        store,
        Serializer::new(registry.clone()).auto_register(true),
        Deserializer::new(registry.clone()),
    )
}

/// Appends a whole order's life (create, `items` items, pay, ship) for each of `orders`,
/// interleaved across orders.
async fn append_orders(service: &OrderService, orders: &[Uuid], items: u32) {
    for id in orders {
        service
            .execute(&Command::Create(CreateOrder {
                order_id: *id,
                customer_id: format!("c-{id}"),
                currency: "EUR".into(),
                channel: SalesChannel::Web,
                shipping_address: None,
            }))
            .await
            .unwrap();
    }
    for i in 0..items {
        for id in orders {
            service
                .execute(&Command::AddItem(AddItem {
                    order_id: *id,
                    sku: format!("sku-{i}"),
                    quantity: 1,
                    unit_price_minor: 100,
                }))
                .await
                .unwrap();
        }
    }
    for id in orders {
        service
            .execute(&Command::Place(PlaceOrder { order_id: *id }))
            .await
            .unwrap();
        service
            .execute(&Command::Pay(PayOrder {
                order_id: *id,
                amount_minor: 100 * i64::from(items),
                currency: "EUR".into(),
                method: PaymentMethod::Card,
                payment_reference: None,
            }))
            .await
            .unwrap();
        service
            .execute(&Command::Ship(ShipOrder {
                order_id: *id,
                carrier: "dhl".into(),
                tracking_number: "T".into(),
                estimated_delivery: None,
            }))
            .await
            .unwrap();
    }
}

async fn sqlite(dir: &tempfile::TempDir) -> EventStore {
    EventStore::open_sqlite(dir.path().join("store.db"))
        .await
        .unwrap()
}

async fn relay(kafka: &Kafka, store: &EventStore, batch_size: usize) -> Relay {
    Relay::new(
        store.clone(),
        &ProducerConfig::new(&kafka.bootstrap),
        RelayConfig {
            batch_size,
            ..RelayConfig::new("orders-relay", TOPIC)
        },
    )
    .await
    .unwrap()
}

/// Checks that every stored event is on the topic, in store order per key (counting first
/// occurrences), keyed by order id, with the stored bytes and the headers; answers the number
/// of duplicates.
async fn check_topic(kafka: &Kafka, store: &EventStore) -> usize {
    let stored = store.read_all(1, 10_000).await.unwrap();
    let messages = kafka.read_all();
    let mut seen = HashSet::new();
    let mut per_key: HashMap<String, Vec<Uuid>> = HashMap::new();
    let mut partition_of: HashMap<String, i32> = HashMap::new();
    let by_id: HashMap<Uuid, _> = stored.iter().map(|e| (e.event_id, e)).collect();
    let mut duplicates = 0;
    for m in &messages {
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        assert_eq!(
            *partition_of.entry(key.clone()).or_insert(m.partition()),
            m.partition()
        );
        let id: Uuid = header(m, "evc-event-id").unwrap().parse().unwrap();
        let e = by_id[&id];
        assert_eq!(m.payload().unwrap(), e.payload.as_slice(), "stored bytes");
        assert_eq!(header(m, "evc-event-type").unwrap(), e.event_type);
        assert_eq!(
            header(m, "content-type").unwrap(),
            "application/vnd.confluent.avro"
        );
        assert_eq!(e.stream, format!("order-{key}"), "keyed by order id");
        if seen.insert(id) {
            per_key.entry(key).or_default().push(id);
        } else {
            duplicates += 1;
        }
    }
    assert_eq!(seen.len(), stored.len(), "every stored event is published");
    let mut expected: HashMap<String, Vec<Uuid>> = HashMap::new();
    for e in &stored {
        let key = e.stream.trim_start_matches("order-").to_string();
        expected.entry(key).or_default().push(e.event_id);
    }
    assert_eq!(per_key, expected, "store order per key");
    duplicates
}

#[tokio::test(flavor = "multi_thread")]
async fn relays_in_order_per_key_and_checkpoints() {
    let kafka = kafka();
    let registry = registry();
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let service = service(store.clone(), &registry);
    let orders: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    append_orders(&service, &orders, 3).await;
    let relay = relay(&kafka, &store, 5).await;
    assert_eq!(relay.checkpoint().await.unwrap(), 0);
    let total = relay.catch_up().await.unwrap();
    assert_eq!(total, 4 * 7);
    assert_eq!(relay.checkpoint().await.unwrap(), 28);
    assert_eq!(relay.catch_up().await.unwrap(), 0, "nothing new");
    assert_eq!(check_topic(&kafka, &store).await, 0, "no duplicates");
    relay.close(Duration::from_secs(10)).await.unwrap();
}

/// The relay dies after the broker acknowledged a batch but before its checkpoint: the next
/// relay publishes the batch again (duplicates, counted) and loses nothing.
#[tokio::test(flavor = "multi_thread")]
async fn crash_before_checkpoint_duplicates_but_loses_nothing() {
    let kafka = kafka();
    let registry = registry();
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let service = service(store.clone(), &registry);
    let orders: Vec<Uuid> = (0..2).map(|_| Uuid::new_v4()).collect();
    append_orders(&service, &orders, 2).await; // 12 events

    let first = relay(&kafka, &store, 4).await;
    first.relay_once().await.unwrap(); // positions 1..=4 checkpointed
    let published = first.publish_next().await.unwrap().unwrap(); // 5..=8 acknowledged
    assert_eq!(published.positions, vec![5, 6, 7, 8]);
    drop(first); // crash: no checkpoint for 5..=8
    assert_eq!(kafka.count(), 8);

    let second = relay(&kafka, &store, 4).await;
    assert_eq!(second.checkpoint().await.unwrap(), 4, "resumes after 4");
    assert_eq!(second.catch_up().await.unwrap(), 8); // 5..=12 again
    assert_eq!(second.checkpoint().await.unwrap(), 12);
    let duplicates = check_topic(&kafka, &store).await;
    assert_eq!(duplicates, 4, "positions 5..=8 twice");
    assert_eq!(kafka.count(), 16);
    second.close(Duration::from_secs(10)).await.unwrap();
}

/// A relay stopped cleanly resumes from its checkpoint (PostgreSQL): only new events are
/// published, none twice.
#[tokio::test(flavor = "multi_thread")]
async fn resumes_from_checkpoint_on_postgres() {
    let schema = PgTestSchema::create("evc_outbox").await;
    let store = EventStore::with_database(schema.database().await)
        .await
        .unwrap();
    let kafka = kafka();
    let registry = registry();
    let service = service(store.clone(), &registry);

    append_orders(&service, &[Uuid::new_v4()], 2).await; // 6 events
    let first = relay(&kafka, &store, 100).await;
    assert_eq!(first.catch_up().await.unwrap(), 6);
    first.close(Duration::from_secs(10)).await.unwrap();

    append_orders(&service, &[Uuid::new_v4(), Uuid::new_v4()], 1).await; // 10 more
    let second = relay(&kafka, &store, 3).await;
    assert_eq!(second.checkpoint().await.unwrap(), 6);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = async {
        second
            .run(async {
                let _ = stop_rx.await;
            })
            .await
    };
    let stopper = async {
        let started = Instant::now();
        while second.checkpoint().await.unwrap() < 16 {
            assert!(started.elapsed() < Duration::from_secs(60), "relay stalled");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop_tx.send(()).unwrap();
    };
    let (published, ()) = tokio::join!(run, stopper);
    assert_eq!(published.unwrap(), 10);
    assert_eq!(check_topic(&kafka, &store).await, 0, "no duplicates");
    let mut tx = store.database().read().await.unwrap();
    let row = tx
        .row(
            "SELECT position FROM relay_checkpoint WHERE relay = 'orders-relay'",
            &[],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.i64(0).unwrap(), 16);
    drop(tx);
    second.close(Duration::from_secs(10)).await.unwrap();
    store.database().close().await;
    schema.drop_schema().await;
}
