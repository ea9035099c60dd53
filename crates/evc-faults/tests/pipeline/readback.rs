//! What the suites feed the pipeline and read back from the broker: each order's commands,
//! and every message of the topic.

use std::time::{Duration, Instant};

use evc_faults::Delivered;
use evc_order::{AddItem, Command, CreateOrder, PayOrder, PlaceOrder, ShipOrder};
use order_events::order_created::v2::SalesChannel;
use order_events::order_paid::v2::PaymentMethod;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use uuid::Uuid;

use crate::children::{PARTITIONS, TOPIC};

/// Each order's life (create, two items, place, pay, ship), interleaved across orders.
pub fn commands(ids: &[Uuid]) -> Vec<Command> {
    let mut out = Vec::new();
    for id in ids {
        out.push(Command::Create(CreateOrder {
            order_id: *id,
            customer_id: format!("c-{id}"),
            currency: "EUR".into(),
            channel: SalesChannel::Web,
            shipping_address: None,
        }));
    }
    for i in 0..2 {
        for id in ids {
            out.push(Command::AddItem(AddItem {
                order_id: *id,
                sku: format!("sku-{i}"),
                quantity: 1,
                unit_price_minor: 100,
            }));
        }
    }
    for id in ids {
        out.push(Command::Place(PlaceOrder { order_id: *id }));
        out.push(Command::Pay(PayOrder {
            order_id: *id,
            amount_minor: 200,
            currency: "EUR".into(),
            method: PaymentMethod::Card,
            payment_reference: None,
        }));
        out.push(Command::Ship(ShipOrder {
            order_id: *id,
            carrier: "dhl".into(),
            tracking_number: "T".into(),
            estimated_delivery: None,
        }));
    }
    out
}

/// Every message of the topic: partition, offset, key and the `evc-event-id` header.
pub fn read_topic(bootstrap: &str) -> Vec<Delivered> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "faults-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a reader");
    let mut expected = 0;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        let (lo, hi) = c
            .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
            .expect("watermarks");
        expected += hi - lo;
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
            .expect("a partition");
    }
    c.assign(&tpl).expect("assign");
    let started = Instant::now();
    let mut out = Vec::new();
    while (out.len() as i64) < expected {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "reading the topic timed out"
        );
        let Some(m) = c.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m.expect("a message");
        let event_id = m
            .headers()
            .and_then(|h| {
                h.iter()
                    .find(|h| h.key == "evc-event-id")
                    .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
            })
            .unwrap_or_default();
        out.push(Delivered {
            partition: m.partition(),
            offset: m.offset(),
            key: m
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default(),
            event_id,
        });
    }
    out
}
