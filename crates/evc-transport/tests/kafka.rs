//! The conformance suite on Kafka: librdkafka's mock cluster (3 brokers), one per test. The
//! mock cluster does not implement CreateTopics, so topics are created through its own call.

use std::time::Duration;

use evc_transport::conformance::Harness;
use evc_transport::kafka::{KafkaOptions, KafkaTransport};
use evc_transport::{dlq_name, Transport};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

struct Kafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

fn mock() -> Kafka {
    Kafka {
        cluster: MockCluster::new(3).expect("mock cluster"),
    }
}

impl Harness for Kafka {
    type Transport = KafkaTransport;

    async fn connect(&self) -> KafkaTransport {
        KafkaTransport::new(
            KafkaOptions::new(self.cluster.bootstrap_servers())
                .commit_interval(Duration::from_millis(100)),
        )
        .expect("Kafka transport")
    }

    async fn create_topic(&self, transport: &KafkaTransport, topic: &str, shards: u32) {
        self.cluster.create_topic(topic, shards as i32, 1).unwrap();
        self.cluster
            .create_topic(&dlq_name(topic), shards as i32, 1)
            .unwrap();
        // The transport checks an existing topic's partition count instead of creating it.
        transport.declare_topic(topic, shards).await.unwrap();
    }

    /// Each test has a mock cluster of its own, gone when the test ends; the mock cluster does
    /// not implement the admin requests that delete topics and groups.
    async fn cleanup(&self, _: &KafkaTransport, _: &str, _: &[String]) {}
}

evc_transport::conformance_tests!(mock());

/// Kafka's partitioner and evc's shard hash agree, so a key has the same shard number on
/// Kafka and on Redis Streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_partitions_keys_like_the_shard_hash() {
    let kafka = mock();
    let t = kafka.connect().await;
    let topic = evc_transport::conformance::unique("hash");
    kafka.create_topic(&t, &topic, 7).await;
    for i in 0..50 {
        let key = format!("order-{i}");
        let r = t
            .publish(
                &topic,
                evc_transport::Outgoing::new(key.as_str(), vec![0, 0, 0, 0, 1]),
            )
            .await
            .unwrap();
        assert_eq!(
            r.shard,
            Some(evc_transport::hash::shard_for(key.as_bytes(), 7)),
            "{key}"
        );
    }
}
