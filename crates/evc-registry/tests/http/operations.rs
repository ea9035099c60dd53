//! Operations endpoints: `/health` (alive), `/ready` (storage reachable and migrated),
//! `/metrics` (OpenMetrics text; parsed by a real parser in `tests/interop.rs`).

use serde_json::json;

use crate::common::*;
use crate::on_all;

on_all!(health_ready_and_metrics);

async fn metrics_text(base: &str, auth: Option<(&str, &str)>) -> (u16, String, String) {
    let mut rb = reqwest::Client::new().get(format!("{base}/metrics"));
    if let Some((u, p)) = auth {
        rb = rb.basic_auth(u, Some(p));
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

/// The value of one sample line (`name{labels} value`) whose start is `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn health_ready_and_metrics(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    assert_eq!(c.get("/health").await.ok(), json!({"status": "UP"}));
    assert_eq!(c.get("/ready").await.ok(), json!({"status": "READY"}));

    let (id, _) = c.register("s", &user_v1()).await;
    for _ in 0..3 {
        c.get(&format!("/schemas/ids/{id}")).await.ok();
    }
    c.get("/subjects/nobody/versions")
        .await
        .assert_error(404, 40401);
    let (status, ct, text) = metrics_text(&c.base, None).await;
    assert_eq!(status, 200);
    assert!(
        ct.starts_with("application/openmetrics-text; version=1.0.0"),
        "{ct}"
    );
    let by_id =
        r#"evc_registry_http_requests_total{method="GET",route="/schemas/ids/{id}",status="200"}"#;
    assert_eq!(sample(&text, by_id), Some(3.0), "{text}");
    let missing = r#"evc_registry_http_requests_total{method="GET",route="/subjects/{subject}/versions",status="404"}"#;
    assert_eq!(sample(&text, missing), Some(1.0), "{text}");
    assert_eq!(sample(&text, "evc_registry_subjects "), Some(1.0), "{text}");
    assert_eq!(sample(&text, "evc_registry_schemas "), Some(1.0), "{text}");
    // the second and third fetch were answered from the answer cache
    assert!(
        sample(&text, "evc_registry_answer_cache_hits_total").unwrap() >= 2.0,
        "{text}"
    );
    assert!(
        text.contains("# TYPE evc_registry_http_request_duration_seconds histogram"),
        "{text}"
    );
    // the series move
    c.get(&format!("/schemas/ids/{id}")).await.ok();
    let (_, _, later) = metrics_text(&c.base, None).await;
    assert_eq!(sample(&later, by_id), Some(4.0));

    // a broken store: alive, not ready
    if b != Backend::Memory {
        env.store.cleanup().await;
        if let evc_registry::StorageUrl::Sqlite(path) = &env.store.url {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query("DROP TABLE evc_migrations")
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        let r = c.get("/ready").await;
        assert_eq!(r.status, 503, "{}", r.text);
        assert_eq!(r.json()["status"], "NOT_READY");
        assert_eq!(c.get("/health").await.ok(), json!({"status": "UP"}));
    }
    env.finish().await;

    // with basic auth, the probes stay open and the metrics need credentials
    let users = evc_registry::BasicAuth::parse("prom:scrape").unwrap();
    let env = Env::start_with(b, |cfg| cfg.auth = Some(users)).await;
    assert_eq!(env.client.get("/health").await.ok()["status"], "UP");
    assert_eq!(env.client.get("/ready").await.ok()["status"], "READY");
    assert_eq!(metrics_text(&env.client.base, None).await.0, 401);
    assert_eq!(
        metrics_text(&env.client.base, Some(("prom", "scrape")))
            .await
            .0,
        200
    );
    env.finish().await;
}
