//! The producer against librdkafka's in-process mock cluster and an in-process registry.

use std::collections::HashMap;
use std::time::Duration;

use evc_avro::{AvroSchema, Event};
use evc_producer::{headers, EventProducer, ProduceError, ProducerConfig, CONTENT_TYPE};
use evc_registry_client::RegistryClient;
use evc_wire::{Deserializer, Serializer};
use order_events::{v1, ItemAdded, OrderCreated, OrderEvent};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use uuid::Uuid;

struct Kafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
    bootstrap: String,
}

impl Kafka {
    fn start() -> Kafka {
        let cluster = MockCluster::new(3).expect("mock cluster");
        let bootstrap = cluster.bootstrap_servers();
        Kafka { cluster, bootstrap }
    }

    /// librdkafka's mock cluster does not implement CreateTopics (the admin API): its own
    /// call creates the topic.
    fn create_topic(&self, name: &str, partitions: i32) {
        self.cluster.create_topic(name, partitions, 1).unwrap();
    }

    /// Every message of `topic` up to its current end, per partition in offset order.
    fn read_all(&self, topic: &str, partitions: i32) -> Vec<OwnedMessage> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", "reader")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        let mut expected = 0;
        for p in 0..partitions {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(5))
                .unwrap();
            expected += high - low;
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).unwrap();
        let mut out = Vec::new();
        while (out.len() as i64) < expected {
            match consumer.poll(Duration::from_secs(10)) {
                Some(m) => out.push(m.unwrap().detach()),
                None => panic!("timed out after {} of {expected} messages", out.len()),
            }
        }
        out.sort_by_key(|m| (m.partition(), m.offset()));
        out
    }
}

fn registry() -> RegistryClient {
    RegistryClient::new(&format!("mock://producer-{}", Uuid::new_v4())).unwrap()
}

fn producer(kafka: &Kafka, registry: &RegistryClient) -> EventProducer {
    EventProducer::with_serializer(
        &ProducerConfig::new(&kafka.bootstrap).delivery_timeout(Duration::from_secs(5)),
        Serializer::new(registry.clone()).auto_register(true),
    )
    .unwrap()
}

fn created(order_id: Uuid) -> OrderCreated {
    OrderCreated {
        event_id: Uuid::new_v4(),
        order_id,
        occurred_at: chrono_now(),
        customer_id: "c-1".into(),
        currency: "EUR".into(),
        channel: Default::default(),
        shipping_address: None,
    }
}

fn item(order_id: Uuid, seq: usize) -> ItemAdded {
    ItemAdded {
        event_id: Uuid::new_v4(),
        order_id,
        occurred_at: chrono_now(),
        sku: format!("sku-{seq}"),
        quantity: 1,
        unit_price: order_events::item_added::v1::Money {
            amount_minor: 100,
            currency: "EUR".into(),
        },
    }
}

fn chrono_now() -> evc_avro::chrono::DateTime<evc_avro::chrono::Utc> {
    use evc_avro::chrono::{TimeZone, Utc};
    Utc.timestamp_millis_opt(1_700_000_000_000).unwrap()
}

fn header<'a>(m: &'a OwnedMessage, name: &str) -> Option<&'a str> {
    m.headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| std::str::from_utf8(v).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_answers_partition_and_offset_and_writes_key_headers_and_wire_format() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 3);
    let registry = registry();
    let producer = producer(&kafka, &registry);

    let event = created(Uuid::new_v4());
    let first = producer.send(&event).await.unwrap();
    let second = producer.send(&event).await.unwrap();
    assert_eq!(first.topic, "orders");
    assert_eq!(first.partition, second.partition, "one key, one partition");
    assert_eq!(second.offset, first.offset + 1);
    assert!(first.position.is_some() && first.shard.is_some());

    let messages = kafka.read_all("orders", 3);
    assert_eq!(messages.len(), 2);
    let m = &messages[0];
    assert_eq!(m.partition(), first.partition);
    assert_eq!(m.key(), Some(event.order_id.to_string().as_bytes()));
    assert_eq!(
        header(m, headers::EVENT_ID),
        Some(event.event_id.to_string().as_str())
    );
    assert_eq!(
        header(m, headers::EVENT_TYPE),
        Some(OrderCreated::FULL_NAME)
    );
    assert_eq!(header(m, headers::CONTENT_TYPE), Some(CONTENT_TYPE));
    let id = registry
        .lookup(OrderCreated::SUBJECT, OrderCreated::SCHEMA_JSON)
        .await
        .unwrap()
        .id;
    let value = m.payload().unwrap();
    assert_eq!(evc_wire::unframe(value).unwrap().schema_id, id);
    let back: OrderCreated = Deserializer::new(registry.clone())
        .deserialize(value)
        .await
        .unwrap();
    assert_eq!(back, event);
    producer.close(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_enum_events_use_the_registered_schema_and_keep_order_per_key() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 4);
    let registry = registry();
    // Registered the way the release process does: the schema text from the schema file.
    registry
        .register(OrderCreated::SUBJECT, OrderCreated::SCHEMA_JSON)
        .await
        .unwrap();
    registry
        .register(ItemAdded::SUBJECT, ItemAdded::SCHEMA_JSON)
        .await
        .unwrap();
    // Look-up only: the topic enum must find the ids registered above.
    let producer =
        EventProducer::new(&ProducerConfig::new(&kafka.bootstrap), registry.clone()).unwrap();

    let orders: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
    let mut batch = Vec::new();
    for seq in 0..5 {
        for o in &orders {
            batch.push(if seq == 0 {
                OrderEvent::from(created(*o))
            } else {
                OrderEvent::from(item(*o, seq))
            });
        }
    }
    let delivered = producer.send_topic_batch(&batch).await.unwrap();
    assert_eq!(delivered.len(), batch.len());

    let mut by_order: HashMap<Uuid, Vec<(i32, i64, OrderEvent)>> = HashMap::new();
    for (event, d) in batch.iter().zip(&delivered) {
        let order = match event {
            OrderEvent::OrderCreated(e) => e.order_id,
            OrderEvent::ItemAdded(e) => e.order_id,
            _ => unreachable!(),
        };
        by_order
            .entry(order)
            .or_default()
            .push((d.partition, d.offset, event.clone()));
    }
    for (order, sent) in &by_order {
        let partition = sent[0].0;
        assert!(
            sent.iter().all(|s| s.0 == partition),
            "order {order} on one partition"
        );
        assert!(
            sent.windows(2).all(|w| w[0].1 < w[1].1),
            "offsets follow send order"
        );
    }

    // What is on the topic decodes to what was sent, with the ids the registry gave.
    let de = Deserializer::new(registry.clone());
    let created_id = registry
        .lookup(OrderCreated::SUBJECT, OrderCreated::SCHEMA_JSON)
        .await
        .unwrap()
        .id;
    let messages = kafka.read_all("orders", 4);
    assert_eq!(messages.len(), batch.len());
    for m in &messages {
        let (event, d) = batch
            .iter()
            .zip(&delivered)
            .find(|(_, d)| d.partition == m.partition() && d.offset == m.offset())
            .unwrap();
        let back: OrderEvent = de.deserialize_topic(m.payload().unwrap()).await.unwrap();
        assert_eq!(&back, event, "{d:?}");
        if matches!(event, OrderEvent::OrderCreated(_)) {
            assert_eq!(
                evc_wire::unframe(m.payload().unwrap()).unwrap().schema_id,
                created_id
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_enum_event_finds_its_schema_registered_with_other_docs() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 1);
    let registry = registry();
    // Same Parsing Canonical Form, different text: a look-up by text cannot find it.
    let edited = OrderCreated::SCHEMA_JSON.replace(
        "A customer opened a new order.",
        "A customer opened an order (doc edited in the registry).",
    );
    assert_ne!(edited, OrderCreated::SCHEMA_JSON);
    let id = registry
        .register(OrderCreated::SUBJECT, &edited)
        .await
        .unwrap()
        .id;
    let producer =
        EventProducer::new(&ProducerConfig::new(&kafka.bootstrap), registry.clone()).unwrap();
    let event = OrderEvent::from(created(Uuid::new_v4()));
    producer.send_topic(&event).await.unwrap();
    let m = &kafka.read_all("orders", 1)[0];
    assert_eq!(
        evc_wire::unframe(m.payload().unwrap()).unwrap().schema_id,
        id
    );
    // A different schema under the subject is not mistaken for ours.
    let other = crate::registry();
    let v1_id = other
        .register(OrderCreated::SUBJECT, v1::OrderCreated::SCHEMA_JSON)
        .await
        .unwrap()
        .id;
    let strict = EventProducer::new(&ProducerConfig::new(&kafka.bootstrap), other).unwrap();
    let err = strict.send_topic(&event).await.unwrap_err();
    assert!(
        matches!(
            err,
            ProduceError::Serialize(evc_wire::WireError::NotRegistered { .. })
        ),
        "{err} (v1 is id {v1_id})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_version_is_produced_under_its_own_schema_id() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 1);
    let registry = registry();
    let producer = producer(&kafka, &registry);
    let old = v1::OrderCreated {
        event_id: Uuid::new_v4(),
        order_id: Uuid::new_v4(),
        occurred_at: chrono_now(),
        customer_id: "c".into(),
        currency: "EUR".into(),
    };
    producer.send(&old).await.unwrap();
    producer.send(&created(old.order_id)).await.unwrap();
    let messages = kafka.read_all("orders", 1);
    let ids: Vec<u32> = messages
        .iter()
        .map(|m| evc_wire::unframe(m.payload().unwrap()).unwrap().schema_id)
        .collect();
    assert_ne!(ids[0], ids[1], "v1 and v2 have their own ids");
    assert_eq!(v1::OrderCreated::VERSION, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_is_an_error_and_a_batch_names_the_failed_event() {
    let kafka = Kafka::start();
    kafka.create_topic("orders", 1);
    let registry = registry();
    let producer = EventProducer::with_serializer(
        &ProducerConfig::new(&kafka.bootstrap).delivery_timeout(Duration::from_secs(2)),
        Serializer::new(registry.clone()).auto_register(true),
    )
    .unwrap();

    // A topic that does not exist: never acknowledged, so the send fails.
    let event = created(Uuid::new_v4());
    let err = producer.send_to("no-such-topic", &event).await.unwrap_err();
    assert!(
        matches!(err, ProduceError::Delivery { ref topic, .. } if topic == "no-such-topic"),
        "{err:?}"
    );

    // Not registered and auto-registration off: a serialization error, nothing sent.
    let strict =
        EventProducer::new(&ProducerConfig::new(&kafka.bootstrap), registry.clone()).unwrap();
    let items = [item(event.order_id, 1), item(event.order_id, 2)];
    let err = strict.send_batch(&items).await.unwrap_err();
    assert_eq!(err.index, 0);
    assert_eq!(err.event_id, Some(items[0].event_id));
    assert!(
        matches!(
            err.source,
            ProduceError::Serialize(evc_wire::WireError::NotRegistered { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("event #0"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guarantees_cannot_be_configured_away() {
    let registry = registry();
    for (k, v) in [
        ("enable.idempotence", "false"),
        ("acks", "1"),
        ("acks", "0"),
    ] {
        let err = EventProducer::new(
            &ProducerConfig::new("localhost:9").set(k, v),
            registry.clone(),
        )
        .unwrap_err();
        assert!(matches!(err, ProduceError::Config { .. }), "{k}={v}: {err}");
    }
    let c = ProducerConfig::new("localhost:9")
        .set("acks", "-1")
        .kafka_options("localhost:9")
        .unwrap()
        .producer_config();
    assert_eq!(c.get("enable.idempotence"), Some("true"));
    assert_eq!(c.get("acks"), Some("all"));
    assert_eq!(c.get("partitioner"), Some("murmur2_random"));
}
