//! The whole demo on Redis Streams (127.0.0.1:6379 or `EVC_TEST_REDIS_URL`) and RabbitMQ
//! (127.0.0.1:5672 or `EVC_TEST_AMQP_URL`, with the consistent-hash exchange plugin), and a
//! malformed broker URL refused with its reason.

use evc_demo::{run, DemoOptions};

async fn on(broker: String, kind: &str) {
    let mut out = Vec::new();
    let report = run(
        DemoOptions {
            bootstrap: Some(broker.clone()),
            ..DemoOptions::default()
        },
        &mut out,
    )
    .await
    .unwrap_or_else(|e| panic!("the demo on {broker}: {e:#}"));
    let text = String::from_utf8(out).unwrap();
    assert!(report.replay_matches, "{text}");
    assert!(
        text.contains("state replay equals the read model"),
        "{text}"
    );
    // the banner names the broker by its kind and never prints a password
    assert!(text.contains("  broker    "), "{text}");
    assert!(text.contains(&format!("({kind})")), "{text}");
    assert!(!text.contains("  kafka "), "{text}");
    if let Some(password) = password_of(&broker) {
        assert!(!text.contains(&format!(":{password}@")), "{text}");
        assert!(text.contains(":***@"), "{text}");
    }
}

/// The password of a URL's user info, if it has one.
fn password_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.rsplit_once('@')?.0;
    Some(userinfo.split_once(':')?.1)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_runs_on_redis_streams() {
    on(
        std::env::var("EVC_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
        "Redis Streams",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_runs_on_rabbitmq() {
    on(
        std::env::var("EVC_TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
        "RabbitMQ",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_broker_url_is_refused_with_its_reason() {
    let mut out = Vec::new();
    let err = run(
        DemoOptions {
            bootstrap: Some("nats://127.0.0.1:4222".into()),
            ..DemoOptions::default()
        },
        &mut out,
    )
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("unknown scheme"), "{err:#}");
}
