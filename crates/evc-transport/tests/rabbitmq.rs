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
