//! Picking a transport from a URL, and errors for brokers that are not there.

use std::time::Duration;

use evc_transport::{
    AnyTransport, Outgoing, SubscribeOptions, Subscription, Transport, TransportError,
    TransportKind,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_picks_the_transport() {
    let redis = AnyTransport::connect("redis://127.0.0.1:6379")
        .await
        .unwrap();
    assert_eq!(redis.kind(), TransportKind::Redis);
    let amqp = AnyTransport::connect("amqp://guest:guest@127.0.0.1:5672/%2f")
        .await
        .unwrap();
    assert_eq!(amqp.kind(), TransportKind::RabbitMq);
    assert!(!amqp.capabilities().balanced_shards);
    let kafka = AnyTransport::connect("127.0.0.1:9092").await.unwrap();
    assert_eq!(kafka.kind(), TransportKind::Kafka);
    assert!(!kafka.capabilities().durable_delivery_count);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_trip_through_the_url_chosen_transport() {
    let t = AnyTransport::connect("redis://127.0.0.1:6379")
        .await
        .unwrap();
    let topic = evc_transport::conformance::unique("any");
    let group = format!("{topic}-g");
    t.declare_topic(&topic, 2).await.unwrap();
    t.declare_group(&topic, &group).await.unwrap();
    let r = t
        .publish(&topic, Outgoing::new("k", vec![0, 0, 0, 0, 9, 1]))
        .await
        .unwrap();
    let mut s = t
        .subscribe(&topic, SubscribeOptions::new(&group))
        .await
        .unwrap();
    let d = tokio::time::timeout(Duration::from_secs(30), s.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Some(d.shard), r.shard);
    assert_eq!(d.payload, [0, 0, 0, 0, 9, 1]);
    s.ack(&d).await.unwrap();
    s.close().await.unwrap();
    t.delete_group(&topic, &group).await.unwrap();
    t.delete_topic(&topic).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_brokers_are_transient_errors_and_bad_urls_say_why() {
    for url in ["redis://127.0.0.1:1", "amqp://guest:guest@127.0.0.1:1/%2f"] {
        match AnyTransport::connect(url).await {
            Err(e @ TransportError::Unavailable { .. }) => assert!(e.is_transient(), "{e}"),
            Err(other) => panic!("{url}: {other}"),
            Ok(_) => panic!("{url}: connected to nothing"),
        }
    }
    match AnyTransport::connect("nats://127.0.0.1:4222").await {
        Err(TransportError::Url(e)) => assert!(e.to_string().contains("unknown scheme"), "{e}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("nats:// accepted"),
    }
    match AnyTransport::connect("localhost").await {
        Err(TransportError::Url(e)) => assert!(e.to_string().contains("has no port"), "{e}"),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a bootstrap list without port accepted"),
    }
}
