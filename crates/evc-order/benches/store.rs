//! Event store throughput, measured on both stores in one run: events appended per second
//! (one stream per order, 4 events per order, optimistic concurrency on every append) and
//! events folded per second (read the order's stream, decode each event through the registry
//! and the generated decoder, fold the aggregate).
//!
//! Run: `cargo bench -p evc-order --bench store` (PostgreSQL at `EVC_TEST_POSTGRES_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`; set `EVC_BENCH_ORDERS`, default 500).

use std::time::Instant;

use evc_avro::chrono::{TimeZone, Utc};
use evc_avro::uuid::Uuid;
use evc_avro::Event;
use evc_eventstore::{EventStore, ExpectedVersion, NewEvent};
use evc_order::Order;
use evc_registry_client::RegistryClient;
use evc_wire::{Deserializer, Serializer};
use order_events::{ItemAdded, OrderCreated, OrderEvent, OrderPaid};

async fn events(ser: &Serializer, i: u128) -> (String, Vec<NewEvent>) {
    let order = Uuid::from_u128(i + 1);
    let at = Utc
        .timestamp_millis_opt(1_700_000_000_000 + i as i64)
        .unwrap();
    let mut out = Vec::new();
    let created = OrderCreated {
        event_id: Uuid::from_u128((i << 8) | 1),
        order_id: order,
        occurred_at: at,
        customer_id: format!("c-{i}"),
        currency: "EUR".into(),
        channel: order_events::order_created::v2::SalesChannel::Web,
        shipping_address: None,
    };
    out.push(
        NewEvent::new(
            created.event_id,
            "com.acme.orders.OrderCreated",
            at,
            ser.serialize(&created).await.unwrap(),
        )
        .unwrap(),
    );
    for k in 0..2u128 {
        let item = ItemAdded {
            event_id: Uuid::from_u128((i << 8) | (2 + k)),
            order_id: order,
            occurred_at: at,
            sku: format!("SKU-{k}"),
            quantity: 1,
            unit_price: order_events::item_added::v1::Money {
                amount_minor: 1000,
                currency: "EUR".into(),
            },
        };
        out.push(
            NewEvent::new(
                item.event_id,
                "com.acme.orders.ItemAdded",
                at,
                ser.serialize(&item).await.unwrap(),
            )
            .unwrap(),
        );
    }
    let paid = OrderPaid {
        event_id: Uuid::from_u128((i << 8) | 4),
        order_id: order,
        occurred_at: at,
        amount: order_events::order_paid::v2::Money {
            amount_minor: 2000,
            currency: "EUR".into(),
        },
        method: order_events::order_paid::v2::PaymentMethod::Card,
        payment_reference: None,
        tax_rate: None,
    };
    out.push(
        NewEvent::new(
            paid.event_id,
            "com.acme.orders.OrderPaid",
            at,
            ser.serialize(&paid).await.unwrap(),
        )
        .unwrap(),
    );
    (created.partition_key(), out)
}

async fn measure(
    name: &str,
    store: &EventStore,
    ser: &Serializer,
    de: &Deserializer,
    orders: u128,
) {
    let mut batches = Vec::new();
    for i in 0..orders {
        batches.push(events(ser, i).await);
    }
    let n = orders as f64 * 4.0;
    // append: one append per event, each with the expected version (as a command handler does)
    let t = Instant::now();
    for (stream, evs) in &batches {
        for (v, e) in evs.iter().enumerate() {
            let expected = if v == 0 {
                ExpectedVersion::NoStream
            } else {
                ExpectedVersion::Exact(v as u64)
            };
            store
                .append(stream, expected, std::slice::from_ref(e))
                .await
                .unwrap();
        }
    }
    let append = t.elapsed();
    // fold: read each stream, decode, fold
    let t = Instant::now();
    for (stream, _) in &batches {
        let recorded = store.read_stream(stream).await.unwrap();
        let mut decoded = Vec::with_capacity(recorded.len());
        for r in &recorded {
            decoded.push(
                de.deserialize_topic::<OrderEvent>(&r.payload)
                    .await
                    .unwrap(),
            );
        }
        let order = Order::fold(&decoded).unwrap();
        assert_eq!(order.state().map(|s| s.total_minor), Some(2000));
    }
    let fold = t.elapsed();
    println!(
        "{name:<12} append {:>9.0} events/s ({:>6.1} µs/event)   fold {:>9.0} events/s ({:>6.1} µs/event)",
        n / append.as_secs_f64(),
        append.as_secs_f64() * 1e6 / n,
        n / fold.as_secs_f64(),
        fold.as_secs_f64() * 1e6 / n,
    );
    // the rows of `cargo xtask bench` (no baseline in this bench)
    println!(
        "evc-bench\torder store: append one event, {name}\t{:.0}\t-\tevents/s\t-",
        n / append.as_secs_f64()
    );
    println!(
        "evc-bench\torder store: read + decode + fold, {name}\t{:.0}\t-\tevents/s\t-",
        n / fold.as_secs_f64()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let orders: u128 = std::env::var("EVC_BENCH_ORDERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let client = RegistryClient::new("mock://store-bench").unwrap();
    let ser = Serializer::new(client.clone()).auto_register(true);
    let de = Deserializer::new(client);
    println!(
        "event store, {orders} orders x 4 events, one append per event (expected version checked)"
    );

    let dir = tempfile::tempdir().unwrap();
    let sqlite = EventStore::open_sqlite(dir.path().join("events.db"))
        .await
        .unwrap();
    measure("SQLite", &sqlite, &ser, &de, orders).await;

    let schema = evc_storage::testing::PgTestSchema::create("bench_store").await;
    let pg = EventStore::with_database(schema.database().await)
        .await
        .unwrap();
    measure("PostgreSQL", &pg, &ser, &de, orders).await;
    pg.database().close().await;
    schema.drop_schema().await;
}
