//! The conformance suite on RabbitMQ (127.0.0.1:5672 guest/guest, or `EVC_TEST_AMQP_URL`),
//! which needs the bundled `rabbitmq_consistent_hash_exchange` plugin enabled
//! (`cargo xtask prepare` enables it).

use evc_transport::conformance::Harness;
use evc_transport::rabbitmq::{RabbitOptions, RabbitTransport};

struct Rabbit;

fn url() -> String {
    std::env::var("EVC_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

impl Harness for Rabbit {
    type Transport = RabbitTransport;

    async fn connect(&self) -> RabbitTransport {
        RabbitTransport::connect(RabbitOptions::new(url()))
            .await
            .unwrap_or_else(|e| panic!("RabbitMQ must be running for these tests: {e}"))
    }
}

evc_transport::conformance_tests!(Rabbit);

/// A message whose members keep dying on it is dead-lettered by the broker after the queue's
/// delivery limit, into `<topic>.dlq` with `x-death`; a replay sends it back to its topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_dead_letters_after_the_delivery_limit() {
    use evc_transport::{Outgoing, Subscription, Transport};
    use std::time::Duration;

    let mut options = RabbitOptions::new(url());
    options.delivery_limit = 2;
    let t = RabbitTransport::connect(options).await.unwrap();
    let topic = evc_transport::conformance::unique("limit");
    let group = format!("{topic}-g");
    t.declare_topic(&topic, 1).await.unwrap();
    t.declare_group(&topic, &group).await.unwrap();
    t.publish(&topic, Outgoing::new("k", vec![0, 0, 0, 0, 1, 42]))
        .await
        .unwrap();
    let mut counts = Vec::new();
    let dead = loop {
        let mut s = t.subscribe(&topic, Rabbit.options(&group)).await.unwrap();
        match tokio::time::timeout(Duration::from_secs(3), s.next()).await {
            Ok(d) => counts.push(d.unwrap().delivery_count),
            Err(_) => {
                s.close().await.unwrap();
                break t.dead_letters(&topic, 10).await.unwrap();
            }
        }
        drop(s); // dies holding it
        assert!(counts.len() < 10, "never dead-lettered: {counts:?}");
    };
    assert_eq!(
        counts,
        [1, 2, 3],
        "delivered until the limit of 2 redeliveries"
    );
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, [0, 0, 0, 0, 1, 42]);
    assert!(
        dead[0].headers.get("x-death").is_some(),
        "{:?}",
        dead[0].headers
    );
    assert_eq!(
        dead[0].headers.get_str("x-first-death-reason"),
        Some("delivery_limit")
    );
    let report = t.replay_dead_letters(&topic).await.unwrap();
    assert_eq!(report.replayed.get(&topic), Some(&1), "{report:?}");
    let mut s = t.subscribe(&topic, Rabbit.options(&group)).await.unwrap();
    let back = tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.payload, [0, 0, 0, 0, 1, 42]);
    assert!(back.headers.get("x-death").is_none());
    s.ack(&back).await.unwrap();
    s.close().await.unwrap();
    t.delete_group(&topic, &group).await.unwrap();
    t.delete_topic(&topic).await.unwrap();
}
