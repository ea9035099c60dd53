//! The conformance suite on Redis Streams (127.0.0.1:6379, or `EVC_TEST_REDIS_URL`).

use evc_transport::conformance::Harness;
use evc_transport::redis::{RedisOptions, RedisTransport};

struct Redis;

fn url() -> String {
    std::env::var("EVC_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

impl Harness for Redis {
    type Transport = RedisTransport;

    async fn connect(&self) -> RedisTransport {
        RedisTransport::connect(RedisOptions::new(url()))
            .await
            .unwrap_or_else(|e| panic!("Redis must be running for these tests: {e}"))
    }
}

evc_transport::conformance_tests!(Redis);
