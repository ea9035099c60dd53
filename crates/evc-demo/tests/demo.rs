//! The embedded demo: in-process registry, librdkafka's mock cluster, SQLite in a temporary
//! directory.

mod common;

use common::assert_lifecycle;
use evc_demo::{run, DemoOptions};

#[tokio::test(flavor = "multi_thread")]
async fn embedded_run_shows_the_lifecycle() {
    let mut out = Vec::new();
    let report = run(DemoOptions::default(), &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    println!("{text}");
    assert_lifecycle(&report, &text);
}

#[tokio::test(flavor = "multi_thread")]
async fn unsupported_database_url_is_an_error() {
    let mut out = Vec::new();
    let err = run(
        DemoOptions {
            database: Some("mysql://localhost/x".into()),
            ..DemoOptions::default()
        },
        &mut out,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("unsupported database URL"),
        "{err}"
    );
}

/// `sqlite://DIR` keeps the SQLite files in DIR, and refuses a non-empty directory.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_directory_is_kept_and_reused_only_when_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let options = DemoOptions {
        database: Some(format!("sqlite://{}", dir.display())),
        ..DemoOptions::default()
    };
    let mut out = Vec::new();
    let report = run(options.clone(), &mut out).await.unwrap();
    assert_lifecycle(&report, &String::from_utf8(out).unwrap());
    for f in [
        "events.db",
        "projection.db",
        "saga.db",
        "saga-consumer.db",
        "reader-v1.db",
        "reader-latest.db",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let err = run(options, &mut Vec::new()).await.unwrap_err();
    assert!(err.to_string().contains("empty directory"), "{err}");
}

/// The same flow on PostgreSQL (a fresh schema per run), as the other crates' PostgreSQL
/// tests: `EVC_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_run_completes() {
    let url = std::env::var("EVC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let mut out = Vec::new();
    let report = run(
        DemoOptions {
            database: Some(url.clone()),
            ..DemoOptions::default()
        },
        &mut out,
    )
    .await
    .unwrap_or_else(|e| panic!("this test needs PostgreSQL at {url} (trust auth): {e:#}"));
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("PostgreSQL, schema evc_demo_"), "{text}");
    assert_lifecycle(&report, &text);
    let schema = report.postgres_schema.expect("schema");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
}

/// A registry whose history differs from the schema directory (`OrderCreated` v2 registered as
/// version 1) is refused before the demo registers anything in it.
#[tokio::test(flavor = "multi_thread")]
async fn a_registry_with_another_history_is_refused_untouched() {
    use evc_avro::{AvroSchema, Event};
    let url = format!("mock://demo-diverged-{}", uuid::Uuid::new_v4().simple());
    let client = evc_registry_client::RegistryClient::new(&url).unwrap();
    let v2 = order_events::order_created::v2::OrderCreated::SCHEMA_JSON;
    let subject = order_events::OrderCreated::SUBJECT;
    client.register(subject, v2).await.unwrap();
    let err = run(
        DemoOptions {
            registry: Some(url),
            ..DemoOptions::default()
        },
        &mut Vec::new(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains(
            "orders-com.acme.orders.OrderCreated: v1.avsc is registry version 2: the registry's \
             history differs from the schema directory"
        ),
        "{err}"
    );
    assert_eq!(client.versions(subject).await.unwrap(), [1]);
}
