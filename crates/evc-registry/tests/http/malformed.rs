//! Malformed input: bad JSON, wrong types, deep nesting, oversized bodies, invalid schemas.
//! The server must answer each with a Confluent error and stay up.

use serde_json::json;

use crate::common::*;
use crate::on_both;

on_both!(
    malformed_bodies,
    deep_nesting,
    oversized_bodies_and_schemas,
    invalid_schemas
);

async fn malformed_bodies(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    let post = |path: &'static str, body: &'static [u8]| {
        let c = c.clone();
        async move {
            c.send(
                reqwest::Method::POST,
                path,
                Some("application/json"),
                Some(body.to_vec()),
            )
            .await
        }
    };
    // not JSON
    post("/subjects/s/versions", b"{\"schema\": ")
        .await
        .assert_error(400, 400);
    post("/subjects/s/versions", b"schema=abc")
        .await
        .assert_error(400, 400);
    post("/subjects/s/versions", b"\xff\xfe{}")
        .await
        .assert_error(400, 400);
    post("/subjects/s", b"{,}").await.assert_error(400, 400);
    post("/compatibility/subjects/s/versions", b"[")
        .await
        .assert_error(400, 400);
    // JSON of the wrong shape
    post("/subjects/s/versions", b"{\"schema\": 5}")
        .await
        .assert_error(422, 422);
    post("/subjects/s/versions", b"[1, 2]")
        .await
        .assert_error(422, 422);
    post("/subjects/s/versions", b"\"just a string\"")
        .await
        .assert_error(422, 422);
    post(
        "/subjects/s/versions",
        b"{\"schema\": \"\\\"int\\\"\", \"references\": \"x\"}",
    )
    .await
    .assert_error(422, 422);
    post(
        "/subjects/s/versions",
        b"{\"schema\": \"\\\"int\\\"\", \"references\": [{\"name\": 1, \"subject\": \"a\", \"version\": 1}]}",
    )
    .await
    .assert_error(422, 422);
    post(
        "/subjects/s/versions",
        b"{\"schema\": \"\\\"int\\\"\", \"id\": \"seven\"}",
    )
    .await
    .assert_error(422, 422);
    c.put("/config", &json!({"compatibility": 5}))
        .await
        .assert_error(422, 422);
    c.put("/mode", &json!({"mode": ["READONLY"]}))
        .await
        .assert_error(422, 422);
    c.send(
        reqwest::Method::PUT,
        "/config/s",
        Some("application/json"),
        Some(b"nope".to_vec()),
    )
    .await
    .assert_error(400, 400);
    // unknown fields are ignored (metadata, ruleSet from newer clients)
    let r = c
        .post(
            "/subjects/s/versions",
            &json!({"schema": "\"int\"", "metadata": {"properties": {}}, "ruleSet": null, "extra": [1]}),
        )
        .await
        .ok();
    assert_eq!(r["id"], 1);
    assert_eq!(c.get("/health").await.ok()["status"], "UP");
    env.finish().await;
}

async fn deep_nesting(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    // request bodies nested far deeper than serde_json's limit (128)
    for (path, deep_body) in [
        (
            "/subjects/s/versions",
            format!("{}{}", "[".repeat(200_000), "]".repeat(200_000)),
        ),
        (
            "/config",
            format!(
                "{{\"compatibility\": {}{}}}",
                "[".repeat(200_000),
                "]".repeat(200_000)
            ),
        ),
        (
            "/subjects/s",
            format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000)),
        ),
    ] {
        let r = c
            .send(
                if path == "/config" {
                    reqwest::Method::PUT
                } else {
                    reqwest::Method::POST
                },
                path,
                Some("application/json"),
                Some(deep_body.into_bytes()),
            )
            .await;
        assert!(r.status == 400 || r.status == 422, "{path}: {r:?}");
        assert!(r.json()["error_code"].as_u64().is_some());
    }
    // deep nesting inside an ignored field is skipped without recursion
    let deep_field = format!(
        "{{\"schema\": \"\\\"int\\\"\", \"x\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let r = c
        .send(
            reqwest::Method::POST,
            "/subjects/s/versions",
            Some("application/json"),
            Some(deep_field.into_bytes()),
        )
        .await;
    assert!(r.status < 500, "{r:?}");
    // a schema nested deeper than the limit (64)
    let deep_union = format!("{}\"int\"{}", "[".repeat(5000), "]".repeat(5000));
    let msg = c
        .post("/subjects/s/versions", &json!({"schema": deep_union}))
        .await
        .assert_error(422, 42201);
    assert!(msg.contains("nested deeper"), "{msg}");
    // nested records: 40 levels is ~120 JSON levels
    let nested = |levels: usize| {
        let mut t = json!("int");
        for i in 0..levels {
            t = json!({"type": "record", "name": format!("R{i}"), "fields": [{"name": "f", "type": t}]});
        }
        t.to_string()
    };
    c.post("/subjects/s/versions", &json!({"schema": nested(40)}))
        .await
        .assert_error(422, 42201);
    c.post(
        "/compatibility/subjects/s/versions",
        &json!({"schema": nested(40)}),
    )
    .await
    .assert_error(422, 42201);
    c.post("/subjects/s", &json!({"schema": nested(40)}))
        .await
        .assert_error(422, 42201);
    // 10 levels is fine
    let r = c
        .post("/subjects/deep/versions", &json!({"schema": nested(10)}))
        .await
        .ok();
    assert!(r["id"].as_i64().is_some());
    assert_eq!(c.get("/health").await.ok()["status"], "UP");
    env.finish().await;
}

async fn oversized_bodies_and_schemas(b: Backend) {
    let env = Env::start_with(b, |cfg| {
        cfg.limits.max_body_bytes = 64 * 1024;
        cfg.limits.max_schema_bytes = 8 * 1024;
    })
    .await;
    let c = &env.client;
    // a body over the limit: 413 with a Confluent body
    let doc = "x".repeat(100 * 1024);
    let big = json!({"type": "record", "name": "Big", "doc": doc, "fields": []}).to_string();
    let msg = c
        .post("/subjects/s/versions", &json!({"schema": big}))
        .await
        .assert_error(413, 413);
    assert!(msg.contains("too large"), "{msg}");
    // a body within the limit whose schema is over the schema limit
    let doc = "x".repeat(16 * 1024);
    let big = json!({"type": "record", "name": "Big", "doc": doc, "fields": []}).to_string();
    let msg = c
        .post("/subjects/s/versions", &json!({"schema": big}))
        .await
        .assert_error(422, 42201);
    assert!(msg.contains("too large"), "{msg}");
    // within both limits
    let doc = "x".repeat(4 * 1024);
    let ok = json!({"type": "record", "name": "Big", "doc": doc, "fields": []}).to_string();
    c.post("/subjects/s/versions", &json!({"schema": ok}))
        .await
        .ok();
    assert_eq!(c.get("/health").await.ok()["status"], "UP");
    env.finish().await;
}

async fn invalid_schemas(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    for (schema, needle) in [
        ("not json at all", "invalid JSON"),
        ("{\"type\": \"record\"}", "name"),
        (
            "{\"type\": \"record\", \"name\": \"A\", \"fields\": [{\"name\": \"a\", \"type\": \"strin\"}]}",
            "strin",
        ),
        ("{\"type\": \"enum\", \"name\": \"E\", \"symbols\": [\"A\", \"A\"]}", "A"),
        (
            "{\"type\": \"record\", \"name\": \"A\", \"fields\": [{\"name\": \"a\", \"type\": \"int\", \"default\": \"x\"}]}",
            "default",
        ),
        ("{\"type\": \"fixed\", \"name\": \"F\"}", "size"),
        ("[\"int\", \"int\"]", "union"),
        ("\"int\" trailing", "invalid JSON"),
        ("   ", "Empty schema"),
    ] {
        let msg = c
            .post("/subjects/s/versions", &json!({"schema": schema}))
            .await
            .assert_error(422, 42201);
        assert!(msg.contains(needle), "{schema}: {msg}");
    }
    for body in [
        json!({}),
        json!({"schema": null}),
        json!({"schemaType": "AVRO"}),
    ] {
        c.post("/subjects/s/versions", &body)
            .await
            .assert_error(422, 42201);
    }
    // an empty body reads as {}
    c.send(
        reqwest::Method::POST,
        "/subjects/s/versions",
        None,
        Some(Vec::new()),
    )
    .await
    .assert_error(422, 42201);
    c.get("/subjects/s/versions").await.assert_error(404, 40401);
    assert_eq!(c.get("/health").await.ok()["status"], "UP");
    env.finish().await;
}
