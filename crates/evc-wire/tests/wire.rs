//! Serializer and Deserializer through mock:// and live registries, with the real order events.

mod common;

use common::*;
use evc_avro::{AvroSchema, Event};
use evc_registry_client::{RegistryClient, RegistryError, RetryPolicy};
use evc_wire::{frame, unframe, Deserializer, FrameError, Serializer, WireError};
use order_events::order_created::v2::SalesChannel;
use order_events::{v1, v2, OrderEvent};
use serde_json::json;

#[tokio::test]
async fn round_trip_through_a_mock_registry() {
    let client = fresh_mock();
    let producer = Serializer::new(client.clone()).auto_register(true);
    let consumer = Deserializer::new(client.clone());

    let event = created_v2();
    let bytes = producer.serialize(&event).await.unwrap();
    let framed = unframe(&bytes).unwrap();
    assert_eq!(bytes[0], 0);
    assert_eq!(
        Some(framed.schema_id),
        client.cached_id(v2::OrderCreated::SUBJECT, v2::OrderCreated::SCHEMA_JSON)
    );
    assert_eq!(framed.body, evc_avro::encode(&event).unwrap());

    let back: v2::OrderCreated = consumer.deserialize(&bytes).await.unwrap();
    assert_eq!(back, event);
    let any: OrderEvent = consumer.deserialize_topic(&bytes).await.unwrap();
    assert_eq!(any, OrderEvent::OrderCreated(event.clone()));

    // every event of the topic, through the enum
    for e in [
        OrderEvent::from(created_v2()),
        OrderEvent::from(item_added()),
        OrderEvent::from(order_paid(Some("0.2500"))),
    ] {
        let bytes = match &e {
            OrderEvent::OrderCreated(x) => producer.serialize(x).await,
            OrderEvent::ItemAdded(x) => producer.serialize(x).await,
            OrderEvent::OrderPaid(x) => producer.serialize(x).await,
            OrderEvent::OrderShipped(x) => producer.serialize(x).await,
            OrderEvent::OrderPlaced(x) => producer.serialize(x).await,
            OrderEvent::OrderCancelled(x) => producer.serialize(x).await,
        }
        .unwrap();
        assert_eq!(
            consumer
                .deserialize_topic::<OrderEvent>(&bytes)
                .await
                .unwrap(),
            e
        );
    }

    // into a reused buffer
    let mut buf = b"junk".to_vec();
    producer.serialize_into(&event, &mut buf).await.unwrap();
    assert_eq!(&buf[4..], &bytes_of(&producer, &event).await[..]);
}

async fn bytes_of(p: &Serializer, e: &v2::OrderCreated) -> Vec<u8> {
    p.serialize(e).await.unwrap()
}

#[tokio::test]
async fn round_trip_through_a_live_registry_and_caches() {
    let server = live().await;
    let client = http_client(&server.url());
    let producer = Serializer::new(client.clone()).auto_register(true);
    let consumer = Deserializer::new(http_client(&server.url()));

    let event = created_v2();
    let bytes = producer.serialize(&event).await.unwrap();
    let back: v2::OrderCreated = consumer.deserialize(&bytes).await.unwrap();
    assert_eq!(back, event);
    let writer = consumer
        .writer_schema(unframe(&bytes).unwrap().schema_id)
        .await
        .unwrap();
    assert_eq!(writer.full_name(), "com.acme.orders.OrderCreated");
    assert!(producer.cached_schema_id::<v2::OrderCreated>().is_some());

    // the registry goes away: ids and writer schemas are cached, so nothing changes
    server.stop().await.unwrap();
    for _ in 0..3 {
        let again = producer.serialize(&event).await.unwrap();
        assert_eq!(again, bytes);
        let back: v2::OrderCreated = consumer.deserialize(&again).await.unwrap();
        assert_eq!(back, event);
        let _: OrderEvent = consumer.deserialize_topic(&again).await.unwrap();
        consumer.decode_json(&again).await.unwrap();
    }
    // ... but what was never fetched needs it: typed "registry down" errors
    let e = producer.serialize(&created_v1()).await.unwrap_err();
    assert!(
        matches!(
            e,
            WireError::RegistryUnavailable(RegistryError::Unavailable { .. })
        ),
        "{e:?}"
    );
    assert!(e.is_transient());
    let e = consumer
        .deserialize::<v2::OrderCreated>(&frame(999, &[]))
        .await
        .unwrap_err();
    assert!(matches!(e, WireError::RegistryUnavailable(_)), "{e:?}");
}

#[tokio::test]
async fn v2_consumers_read_v1_events_and_back() {
    for client in [fresh_mock(), {
        let server = live().await;
        let url = server.url();
        std::mem::forget(server); // served until the test process ends
        http_client(&url)
    }] {
        let producer = Serializer::new(client.clone()).auto_register(true);
        let consumer = Deserializer::new(client.clone());

        // v1 producer, v2 consumer: the new fields take their defaults
        let old = created_v1();
        let bytes = producer.serialize(&old).await.unwrap();
        let read: v2::OrderCreated = consumer.deserialize(&bytes).await.unwrap();
        assert_eq!(read.event_id, old.event_id);
        assert_eq!(read.customer_id, old.customer_id);
        assert_eq!(read.occurred_at, old.occurred_at);
        assert_eq!(read.channel, SalesChannel::Unknown);
        assert_eq!(read.shipping_address, None);
        let any: OrderEvent = consumer.deserialize_topic(&bytes).await.unwrap();
        assert_eq!(any, OrderEvent::OrderCreated(read));

        // v2 producer (a second version under the same subject), v1 consumer: extra fields
        // are skipped
        let new = created_v2();
        let bytes2 = producer.serialize(&new).await.unwrap();
        assert_ne!(
            unframe(&bytes).unwrap().schema_id,
            unframe(&bytes2).unwrap().schema_id
        );
        let read: v1::OrderCreated = consumer.deserialize(&bytes2).await.unwrap();
        assert_eq!(
            (
                read.event_id,
                read.customer_id.as_str(),
                read.currency.as_str()
            ),
            (new.event_id, "cust-8", "SEK")
        );
        let latest = client
            .latest_version(v2::OrderCreated::SUBJECT)
            .await
            .unwrap();
        assert_eq!(latest.version, 2);
    }
}

#[tokio::test]
async fn production_serializers_only_look_up() {
    let client = fresh_mock();
    let producer = Serializer::new(client.clone());
    assert!(!producer.is_auto_register());
    match producer.serialize(&created_v2()).await {
        Err(WireError::NotRegistered {
            subject,
            full_name,
            source: RegistryError::SubjectNotFound { .. },
        }) => {
            assert_eq!(subject, "orders-com.acme.orders.OrderCreated");
            assert_eq!(full_name, "com.acme.orders.OrderCreated");
        }
        other => panic!("{other:?}"),
    }
    // registered by the release process: the subject now exists, but not with v1
    client
        .register(v2::OrderCreated::SUBJECT, v2::OrderCreated::SCHEMA_JSON)
        .await
        .unwrap();
    assert!(matches!(
        producer.serialize(&created_v1()).await,
        Err(WireError::NotRegistered {
            source: RegistryError::SchemaNotFound { .. },
            ..
        })
    ));
    // the earlier failure was not cached
    let bytes = producer.serialize(&created_v2()).await.unwrap();
    let back: v2::OrderCreated = Deserializer::new(client).deserialize(&bytes).await.unwrap();
    assert_eq!(back, created_v2());
}

#[tokio::test]
async fn frame_errors() {
    let consumer = Deserializer::new(fresh_mock());
    for (bytes, want) in [
        (&[][..], FrameError::TooShort { len: 0 }),
        (&[0, 0, 0][..], FrameError::TooShort { len: 3 }),
        (
            &[1, 0, 0, 0, 1, 2][..],
            FrameError::WrongMagicByte { found: 1 },
        ),
        (
            &b"{\"a\":1}"[..],
            FrameError::WrongMagicByte { found: b'{' },
        ),
    ] {
        match consumer.deserialize::<v2::OrderCreated>(bytes).await {
            Err(WireError::Frame(e)) => assert_eq!(e, want),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            consumer.deserialize_topic::<OrderEvent>(bytes).await,
            Err(WireError::Frame(_))
        ));
        assert!(matches!(
            consumer.decode_json(bytes).await,
            Err(WireError::Frame(_))
        ));
    }
}

#[tokio::test]
async fn unknown_schema_ids() {
    let consumer = Deserializer::new(fresh_mock());
    match consumer
        .deserialize::<v2::OrderCreated>(&frame(4711, &[1, 2]))
        .await
    {
        Err(e @ WireError::UnknownSchemaId { id: 4711, .. }) => {
            assert!(matches!(
                &e,
                WireError::UnknownSchemaId {
                    source: RegistryError::SchemaNotFound { code: 40403, .. },
                    ..
                }
            ));
            assert!(e.to_string().contains("4711"), "{e}");
            assert!(!e.is_transient());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        consumer.decode_json(&frame(4711, &[])).await,
        Err(WireError::UnknownSchemaId { id: 4711, .. })
    ));
}

#[tokio::test]
async fn writer_schemas_that_do_not_resolve() {
    let client = fresh_mock();
    let consumer = Deserializer::new(client.clone());
    // same full name, but order_id became an int (and there is no default for `currency`)
    let bad = r#"{"type":"record","name":"OrderCreated","namespace":"com.acme.orders","fields":[
        {"name":"event_id","type":"string"},
        {"name":"order_id","type":"int"},
        {"name":"occurred_at","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"customer_id","type":"string"}]}"#;
    let id = client.register("elsewhere-value", bad).await.unwrap().id;
    let body = [2, b'a', 14, 0, 2, b'c'];
    let msg = frame(id, &body);
    for result in [
        consumer
            .deserialize::<v2::OrderCreated>(&msg)
            .await
            .map(|_| ()),
        consumer
            .deserialize::<v1::OrderCreated>(&msg)
            .await
            .map(|_| ()),
        consumer
            .deserialize_topic::<OrderEvent>(&msg)
            .await
            .map(|_| ()),
    ] {
        match result {
            Err(e @ WireError::Unresolvable { .. }) => {
                let WireError::Unresolvable {
                    id: got,
                    ref writer,
                    ref reader,
                    ref reasons,
                } = e
                else {
                    unreachable!()
                };
                assert_eq!(got, id);
                assert_eq!(writer, "com.acme.orders.OrderCreated");
                assert_eq!(reader, "com.acme.orders.OrderCreated");
                assert!(
                    reasons
                        .iter()
                        .any(|r| r.contains("order_id") || r.contains("/fields/1")),
                    "{reasons:?}"
                );
                assert!(
                    reasons.iter().any(|r| r.contains("currency")),
                    "{reasons:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    // the writer still decodes generically
    let json = consumer.decode_json(&msg).await.unwrap();
    assert_eq!(json["value"]["order_id"], json!(7));
}

#[tokio::test]
async fn event_types_the_consumer_does_not_know() {
    let client = fresh_mock();
    let producer = Serializer::new(client.clone()).auto_register(true);
    let consumer = Deserializer::new(client.clone());

    // an ItemAdded read as OrderCreated
    let bytes = producer.serialize(&item_added()).await.unwrap();
    match consumer.deserialize::<v2::OrderCreated>(&bytes).await {
        Err(WireError::UnknownEventType {
            full_name,
            expected,
            ..
        }) => {
            assert_eq!(full_name, "com.acme.orders.ItemAdded");
            assert_eq!(expected, ["com.acme.orders.OrderCreated"]);
        }
        other => panic!("{other:?}"),
    }
    // a type from another topic read as an orders event
    let refund = r#"{"type":"record","name":"Refund","namespace":"com.acme.billing","fields":[{"name":"id","type":"string"}]}"#;
    let id = client.register("billing-value", refund).await.unwrap().id;
    let msg = frame(id, &[2, b'r']);
    match consumer.deserialize_topic::<OrderEvent>(&msg).await {
        Err(e @ WireError::UnknownEventType { .. }) => {
            let text = e.to_string();
            assert!(text.contains("com.acme.billing.Refund"), "{text}");
            assert!(text.contains("com.acme.orders.OrderShipped"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        consumer.decode_json(&msg).await.unwrap(),
        json!({"type": "com.acme.billing.Refund", "schema_id": id, "value": {"id": "r"}})
    );
}

#[tokio::test]
async fn corrupt_bodies_and_unusable_schemas() {
    let client = fresh_mock();
    let producer = Serializer::new(client.clone()).auto_register(true);
    let consumer = Deserializer::new(client.clone());
    let bytes = producer.serialize(&created_v2()).await.unwrap();
    let id = unframe(&bytes).unwrap().schema_id;

    // truncated, trailing bytes, garbage
    let truncated = &bytes[..bytes.len() - 3];
    let mut trailing = bytes.clone();
    trailing.push(0);
    let garbage = frame(id, &[0xff; 12]);
    for msg in [truncated, &trailing[..], &garbage[..]] {
        assert!(matches!(
            consumer.deserialize::<v2::OrderCreated>(msg).await,
            Err(WireError::Decode { id: got, .. }) if got == id
        ));
        assert!(matches!(
            consumer.deserialize_topic::<OrderEvent>(msg).await,
            Err(WireError::Decode { .. })
        ));
        assert!(matches!(
            consumer.decode_json(msg).await,
            Err(WireError::Decode { .. })
        ));
    }

    // a value the schema cannot hold: tax_rate is decimal(5, 4)
    match producer.serialize(&order_paid(Some("12.3456"))).await {
        Err(e @ WireError::Encode { .. }) => {
            assert!(e.to_string().contains("OrderPaid"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn registry_errors_other_than_not_found() {
    // auto-registering an incompatible schema: the registry refuses it
    let client = fresh_mock();
    let incompatible = r#"{"type":"record","name":"OrderCreated","namespace":"com.acme.orders","fields":[{"name":"x","type":"int"}]}"#;
    client
        .register(v2::OrderCreated::SUBJECT, incompatible)
        .await
        .unwrap();
    let producer = Serializer::new(client).auto_register(true);
    assert!(matches!(
        producer.serialize(&created_v2()).await,
        Err(WireError::Registry(RegistryError::Incompatible { .. }))
    ));

    // nothing listening: unavailable, and transient
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let down = RegistryClient::builder(&url)
        .retry(RetryPolicy {
            max_retries: 1,
            initial_backoff: std::time::Duration::from_millis(1),
            max_backoff: std::time::Duration::from_millis(1),
        })
        .build()
        .unwrap();
    let e = Deserializer::new(down.clone())
        .deserialize_topic::<OrderEvent>(&frame(1, &[]))
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        WireError::RegistryUnavailable(RegistryError::Unavailable { attempts: 2, .. })
    ));
    assert!(e.is_transient());
    assert!(matches!(
        Serializer::new(down).serialize(&created_v1()).await,
        Err(WireError::RegistryUnavailable(_))
    ));
}

#[tokio::test]
async fn generic_json_decoding() {
    let client = fresh_mock();
    let producer = Serializer::new(client.clone()).auto_register(true);
    let consumer = Deserializer::new(client);

    let bytes = producer
        .serialize(&order_paid(Some("0.2500")))
        .await
        .unwrap();
    let id = unframe(&bytes).unwrap().schema_id;
    assert_eq!(
        consumer.decode_json(&bytes).await.unwrap(),
        json!({
            "type": "com.acme.orders.OrderPaid",
            "schema_id": id,
            "value": {
                "event_id": "00000000-0000-0000-0000-000000000006",
                "order_id": "00000000-0000-0000-0000-000000000004",
                "occurred_at": 1_767_225_600_123_i64,
                "amount": {"amount_minor": 5997, "currency": "SEK"},
                "method": "CARD",
                "payment_reference": null,
                "tax_rate": "0.2500",
            }
        })
    );
    let bytes = producer.serialize(&created_v2()).await.unwrap();
    let v = consumer.decode_json(&bytes).await.unwrap();
    assert_eq!(v["type"], "com.acme.orders.OrderCreated");
    assert_eq!(v["value"]["channel"], "MOBILE");
    assert_eq!(v["value"]["shipping_address"]["city"], "Lund");
}

#[tokio::test]
async fn writers_that_differ_only_in_docs_read_directly() {
    let client = fresh_mock();
    let consumer = Deserializer::new(client.clone());
    // v2 without docs and defaults on the record: another schema text, another id, same
    // canonical form; the v2 bytes read as they are
    let plain = evc_schema::Schema::parse(v2::OrderCreated::SCHEMA_JSON)
        .unwrap()
        .canonical_form();
    let id = client.register("plain-value", &plain).await.unwrap().id;
    let event = created_v2();
    let msg = frame(id, &evc_avro::encode(&event).unwrap());
    let read: v2::OrderCreated = consumer.deserialize(&msg).await.unwrap();
    assert_eq!(read, event);
    let read: OrderEvent = consumer.deserialize_topic(&msg).await.unwrap();
    assert_eq!(read, OrderEvent::OrderCreated(event));
}
