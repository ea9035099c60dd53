//! Every route and every error code, over real HTTP, on SQLite and PostgreSQL.
//!
//! Why one file of ~1,150 lines: it is the route-by-route table of Confluent's REST contract
//! (one test per route and error code, each on SQLite and PostgreSQL); the newer behaviours
//! have their own files (`contracts.rs`, ...).

use serde_json::{json, Value};

use crate::common::*;
use crate::on_both;

on_both!(
    root_health_types_and_unknown_routes,
    register_lookup_and_fetch,
    version_selectors,
    compatibility_is_enforced,
    compatibility_routes,
    config_routes,
    mode_routes,
    import_mode,
    soft_and_hard_deletes,
    ids_are_never_reused,
    references,
    other_schema_types,
    content_types_and_query_booleans,
    normalize,
    read_only_server,
    basic_auth,
    storage_errors_answer_50001,
);

async fn root_health_types_and_unknown_routes(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    assert_eq!(c.get("/").await.ok(), json!({}));
    assert_eq!(c.post("/", &json!({})).await.ok(), json!({}));
    assert_eq!(c.get("/health").await.ok()["status"], "UP");
    assert_eq!(c.get("/schemas/types").await.ok(), json!(["AVRO"]));
    assert_eq!(c.get("/subjects").await.ok(), json!([]));
    // Confluent 8.x associations: unknown → 404 with a Confluent body
    c.get("/associations/resources/-/orders?associationType=value")
        .await
        .assert_error(404, 40410);
    c.get("/associations").await.assert_error(404, 40410);
    c.get("/no/such/route").await.assert_error(404, 404);
    c.put("/subjects", &json!({})).await.assert_error(405, 405);
    env.finish().await;
}

async fn register_lookup_and_fetch(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    let schema = user_v1();
    let (id, version) = c.register("orders-value", &schema).await;
    assert_eq!((id, version), (1, 1));

    // the answer of a registration
    let r = c
        .post(
            "/subjects/orders-value/versions",
            &json!({"schema": schema}),
        )
        .await
        .ok();
    assert_eq!(r["id"], 1);
    assert_eq!(r["version"], 1);
    assert!(r.get("schemaType").is_none(), "AVRO is implied: {r}");
    let stored = r["schema"].as_str().unwrap().to_string();
    assert_eq!(
        serde_json::from_str::<Value>(&stored).unwrap(),
        serde_json::from_str::<Value>(&schema).unwrap()
    );

    // same schema, other white space and attribute order: same id and version
    let pretty = "{\n  \"namespace\": \"t\",\n  \"type\": \"record\",\n  \"name\": \"User\",\n  \"fields\": [ {\"type\": \"long\", \"name\": \"id\"} ]\n}";
    assert_eq!(c.register("orders-value", pretty).await, (1, 1));
    // same schema under another subject: same id, version 1 there
    assert_eq!(c.register("audit-value", &schema).await, (1, 1));
    // a different schema gets the next id
    let other = record("Other", &[("x", json!("string"))]);
    assert_eq!(c.register("other-value", &other).await, (2, 1));

    // subjects
    assert_eq!(
        c.get("/subjects").await.ok(),
        json!(["audit-value", "orders-value", "other-value"])
    );
    assert_eq!(
        c.get("/subjects?subjectPrefix=o").await.ok(),
        json!(["orders-value", "other-value"])
    );
    assert_eq!(
        c.get("/subjects?offset=1&limit=1").await.ok(),
        json!(["orders-value"])
    );
    assert_eq!(
        c.get("/subjects/orders-value/versions").await.ok(),
        json!([1])
    );

    // one version, three ways
    for sel in ["1", "latest", "-1"] {
        let v = c
            .get(&format!("/subjects/orders-value/versions/{sel}"))
            .await
            .ok();
        assert_eq!(
            v,
            json!({"subject": "orders-value", "version": 1, "id": 1, "schema": stored}),
            "{sel}"
        );
    }
    let raw = c.get("/subjects/orders-value/versions/1/schema").await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.text, stored);

    // lookup
    let found = c
        .post("/subjects/audit-value", &json!({"schema": pretty}))
        .await
        .ok();
    assert_eq!(
        found,
        json!({"subject": "audit-value", "version": 1, "id": 1, "schema": stored})
    );
    c.post("/subjects/audit-value", &json!({"schema": other}))
        .await
        .assert_error(404, 40403);
    c.post("/subjects/nobody", &json!({"schema": other}))
        .await
        .assert_error(404, 40401);
    c.post(
        "/subjects/audit-value",
        &json!({"schema": "{\"type\": \"recor"}),
    )
    .await
    .assert_error(422, 42201);

    // by id
    assert_eq!(
        c.get("/schemas/ids/1").await.ok(),
        json!({"schema": stored})
    );
    assert_eq!(
        c.get("/schemas/ids/1?subject=orders-value").await.ok(),
        json!({"schema": stored})
    );
    assert_eq!(
        c.get("/schemas/ids/1?fetchMaxId=true").await.ok(),
        json!({"schema": stored, "maxId": 2})
    );
    assert_eq!(c.get("/schemas/ids/1/schema").await.text, stored);
    assert_eq!(
        c.get("/schemas/ids/1/subjects").await.ok(),
        json!(["audit-value", "orders-value"])
    );
    assert_eq!(
        c.get("/schemas/ids/1/versions").await.ok(),
        json!([{"subject": "audit-value", "version": 1}, {"subject": "orders-value", "version": 1}])
    );
    c.get("/schemas/ids/99").await.assert_error(404, 40403);
    c.get("/schemas/ids/99/schema")
        .await
        .assert_error(404, 40403);
    c.get("/schemas/ids/99/subjects")
        .await
        .assert_error(404, 40403);
    c.get("/schemas/ids/99/versions")
        .await
        .assert_error(404, 40403);
    c.get("/schemas/ids/abc").await.assert_error(404, 40403);

    // all schemas
    let all = c.get("/schemas").await.ok();
    assert_eq!(all.as_array().unwrap().len(), 3);
    assert_eq!(all[0]["subject"], "audit-value");
    let only = c.get("/schemas?subjectPrefix=other").await.ok();
    assert_eq!(only.as_array().unwrap().len(), 1);
    assert_eq!(only[0]["id"], 2);
    env.finish().await;
}

async fn version_selectors(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    c.register("s", &user_v1()).await;
    c.register("s", &user_v2()).await;
    assert_eq!(c.get("/subjects/s/versions").await.ok(), json!([1, 2]));
    assert_eq!(
        c.get("/subjects/s/versions/latest").await.ok()["version"],
        2
    );
    assert_eq!(c.get("/subjects/s/versions/-1").await.ok()["version"], 2);
    assert_eq!(
        c.get("/subjects/s/versions/LATEST").await.ok()["version"],
        2
    );
    c.get("/subjects/s/versions/3")
        .await
        .assert_error(404, 40402);
    for bad in ["0", "-2", "abc", "2147483648", "1.5"] {
        c.get(&format!("/subjects/s/versions/{bad}"))
            .await
            .assert_error(422, 42202);
        c.get(&format!("/subjects/s/versions/{bad}/schema"))
            .await
            .assert_error(422, 42202);
        c.delete(&format!("/subjects/s/versions/{bad}"))
            .await
            .assert_error(422, 42202);
    }
    c.get("/subjects/none/versions")
        .await
        .assert_error(404, 40401);
    c.get("/subjects/none/versions/1")
        .await
        .assert_error(404, 40401);
    c.get("/subjects/none/versions/latest")
        .await
        .assert_error(404, 40401);
    c.get("/subjects/none/versions/1/referencedby")
        .await
        .assert_error(404, 40401);
    c.get("/subjects/s/versions/7/referencedby")
        .await
        .assert_error(404, 40402);
    assert_eq!(
        c.get("/subjects/s/versions/1/referencedby").await.ok(),
        json!([])
    );
    // subject names with a slash travel as %2F
    c.register("a%2Fb", &user_v1()).await;
    assert!(c
        .get("/subjects")
        .await
        .ok()
        .as_array()
        .unwrap()
        .contains(&json!("a/b")));
    assert_eq!(
        c.get("/subjects/a%2Fb/versions/1").await.ok()["subject"],
        "a/b"
    );
    env.finish().await;
}

async fn compatibility_is_enforced(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    c.register("s", &user_v1()).await;
    // default BACKWARD: a new field without default is refused with the checker's message
    let r = c
        .post("/subjects/s/versions", &json!({"schema": user_bad()}))
        .await;
    let msg = r.assert_error(409, 409);
    assert!(msg.contains("READER_FIELD_MISSING_DEFAULT_VALUE"), "{msg}");
    assert!(msg.contains("/fields/1"), "{msg}");
    assert!(msg.contains("age"), "{msg}");
    assert_eq!(c.get("/subjects/s/versions").await.ok(), json!([1]));
    // compatible evolution
    assert_eq!(c.register("s", &user_v2()).await.1, 2);

    // global FORWARD: adding a required field is fine, removing one without default is not
    c.put("/config", &json!({"compatibility": "FORWARD"}))
        .await
        .ok();
    let v3 = json!({"type": "record", "name": "User", "namespace": "t", "fields": [
        {"name": "id", "type": "long"}, {"name": "email", "type": "string", "default": ""},
        {"name": "age", "type": "int"}]})
    .to_string();
    assert_eq!(c.register("s", &v3).await.1, 3);
    let drop_id = record("User", &[("age", json!("int"))]);
    c.post("/subjects/s/versions", &json!({"schema": drop_id}))
        .await
        .assert_error(409, 409);

    // subject level beats global
    c.put("/config/s", &json!({"compatibility": "NONE"}))
        .await
        .ok();
    assert_eq!(c.register("s", &drop_id).await.1, 4);

    // transitive: checked against every version
    c.put("/config/t", &json!({"compatibility": "BACKWARD"}))
        .await
        .ok();
    c.register("t", &record("T", &[("a", json!("int"))])).await;
    let with_default = json!({"type": "record", "name": "T", "namespace": "t", "fields": [
        {"name": "a", "type": "int"}, {"name": "b", "type": "string", "default": "x"}]})
    .to_string();
    c.register("t", &with_default).await;
    // reads version 2 data, not version 1 data (no `b` there, no default)
    let v3 = record("T", &[("a", json!("int")), ("b", json!("string"))]);
    c.put(
        "/config/t",
        &json!({"compatibility": "BACKWARD_TRANSITIVE"}),
    )
    .await
    .ok();
    let msg = c
        .post("/subjects/t/versions", &json!({"schema": v3}))
        .await
        .assert_error(409, 409);
    assert!(msg.contains("version 1"), "{msg}");
    let body = json!({"schema": v3});
    assert_eq!(
        c.post("/compatibility/subjects/t/versions", &body)
            .await
            .ok(),
        json!({"is_compatible": false})
    );
    assert_eq!(
        c.post("/compatibility/subjects/t/versions/latest", &body)
            .await
            .ok(),
        json!({"is_compatible": true})
    );
    c.put("/config/t", &json!({"compatibility": "BACKWARD"}))
        .await
        .ok();
    assert_eq!(c.register("t", &v3).await.1, 3);
    c.put("/config/t", &json!({"compatibility": "FULL_TRANSITIVE"}))
        .await
        .ok();
    let r = c
        .post(
            "/subjects/t/versions",
            &json!({"schema": record("T", &[("a", json!("double")), ("b", json!("string"))])}),
        )
        .await;
    r.assert_error(409, 409);
    env.finish().await;
}

async fn compatibility_routes(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    // no versions yet: compatible with "latest" and with "all"
    let body = json!({"schema": user_bad()});
    assert_eq!(
        c.post("/compatibility/subjects/s/versions/latest", &body)
            .await
            .ok(),
        json!({"is_compatible": true})
    );
    assert_eq!(
        c.post("/compatibility/subjects/s/versions", &body)
            .await
            .ok(),
        json!({"is_compatible": true})
    );
    c.post("/compatibility/subjects/s/versions/1", &body)
        .await
        .assert_error(404, 40402);

    c.register("s", &user_v1()).await;
    c.register("s", &user_v2()).await;
    assert_eq!(
        c.post("/compatibility/subjects/s/versions/latest", &body)
            .await
            .ok(),
        json!({"is_compatible": false})
    );
    let verbose = c
        .post("/compatibility/subjects/s/versions/1?verbose=true", &body)
        .await
        .ok();
    assert_eq!(verbose["is_compatible"], false);
    let messages = verbose["messages"].as_array().unwrap();
    assert!(!messages.is_empty());
    assert!(
        messages[0]
            .as_str()
            .unwrap()
            .contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{verbose}"
    );
    let ok = c
        .post(
            "/compatibility/subjects/s/versions?verbose=TRUE",
            &json!({"schema": user_v2()}),
        )
        .await
        .ok();
    assert_eq!(ok, json!({"is_compatible": true, "messages": []}));
    c.post("/compatibility/subjects/s/versions/9", &body)
        .await
        .assert_error(404, 40402);
    c.post("/compatibility/subjects/s/versions/zero", &body)
        .await
        .assert_error(422, 42202);
    c.post(
        "/compatibility/subjects/s/versions/latest",
        &json!({"schema": "{\"type\":\"nope\"}"}),
    )
    .await
    .assert_error(422, 42201);
    env.finish().await;
}

async fn config_routes(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    assert_eq!(
        c.get("/config").await.ok(),
        json!({"compatibilityLevel": "BACKWARD"})
    );
    assert_eq!(
        c.put("/config", &json!({"compatibility": "full"}))
            .await
            .ok(),
        json!({"compatibility": "FULL"})
    );
    assert_eq!(
        c.get("/config").await.ok(),
        json!({"compatibilityLevel": "FULL"})
    );
    c.put("/config", &json!({"compatibility": "SIDEWAYS"}))
        .await
        .assert_error(422, 42203);
    c.put("/config", &json!({})).await.assert_error(422, 42203);

    // subject level: 40408 until set, unless defaultToGlobal
    c.get("/config/s").await.assert_error(404, 40408);
    assert_eq!(
        c.get("/config/s?defaultToGlobal=true").await.ok(),
        json!({"compatibilityLevel": "FULL"})
    );
    assert_eq!(
        c.put("/config/s", &json!({"compatibility": "NONE"}))
            .await
            .ok(),
        json!({"compatibility": "NONE"})
    );
    assert_eq!(
        c.get("/config/s").await.ok(),
        json!({"compatibilityLevel": "NONE"})
    );
    c.put("/config/s", &json!({"compatibility": "BACK"}))
        .await
        .assert_error(422, 42203);
    assert_eq!(
        c.delete("/config/s").await.ok(),
        json!({"compatibilityLevel": "NONE"})
    );
    c.get("/config/s").await.assert_error(404, 40408);
    // deleting a subject config that isn't there
    c.delete("/config/s").await.assert_error(404, 40401);
    c.register("s", &user_v1()).await;
    c.delete("/config/s").await.assert_error(404, 40408);

    // global delete answers the old level and reverts to BACKWARD
    assert_eq!(
        c.delete("/config").await.ok(),
        json!({"compatibilityLevel": "FULL"})
    );
    assert_eq!(
        c.get("/config").await.ok(),
        json!({"compatibilityLevel": "BACKWARD"})
    );
    env.finish().await;
}

async fn mode_routes(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    assert_eq!(c.get("/mode").await.ok(), json!({"mode": "READWRITE"}));
    c.register("s", &user_v1()).await;

    assert_eq!(
        c.put("/mode", &json!({"mode": "READONLY"})).await.ok(),
        json!({"mode": "READONLY"})
    );
    assert_eq!(c.get("/mode").await.ok(), json!({"mode": "READONLY"}));
    c.post("/subjects/s/versions", &json!({"schema": user_v2()}))
        .await
        .assert_error(422, 42205);
    c.delete("/subjects/s").await.assert_error(422, 42205);
    c.delete("/subjects/s/versions/1")
        .await
        .assert_error(422, 42205);
    // reads still work
    assert_eq!(c.get("/subjects/s/versions").await.ok(), json!([1]));
    c.put("/mode", &json!({"mode": "SOMETIMES"}))
        .await
        .assert_error(422, 42204);
    c.put("/mode", &json!({})).await.assert_error(422, 42204);

    // subject level
    c.get("/mode/s").await.assert_error(404, 40409);
    assert_eq!(
        c.get("/mode/s?defaultToGlobal=true").await.ok(),
        json!({"mode": "READONLY"})
    );
    assert_eq!(
        c.put("/mode/s", &json!({"mode": "READWRITE"})).await.ok(),
        json!({"mode": "READWRITE"})
    );
    // the subject's READWRITE overrides the global READONLY
    assert_eq!(c.register("s", &user_v2()).await.1, 2);
    c.post("/subjects/other/versions", &json!({"schema": user_v1()}))
        .await
        .assert_error(422, 42205);
    assert_eq!(c.delete("/mode/s").await.ok(), json!({"mode": "READWRITE"}));
    c.get("/mode/s").await.assert_error(404, 40409);
    c.delete("/mode/s").await.assert_error(404, 40409);
    c.delete("/mode/nobody").await.assert_error(404, 40401);
    c.put("/mode/s", &json!({"mode": "bad"}))
        .await
        .assert_error(422, 42204);

    assert_eq!(c.delete("/mode").await.ok(), json!({"mode": "READONLY"}));
    assert_eq!(c.get("/mode").await.ok(), json!({"mode": "READWRITE"}));
    assert_eq!(c.register("other", &user_v1()).await.1, 1);
    env.finish().await;
}

async fn import_mode(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    c.register("s", &user_v1()).await;
    // an id outside IMPORT mode is refused
    c.post(
        "/subjects/s/versions",
        &json!({"schema": user_v2(), "id": 50}),
    )
    .await
    .assert_error(422, 42205);
    // IMPORT on a non-empty registry needs force
    c.put("/mode", &json!({"mode": "IMPORT"}))
        .await
        .assert_error(422, 42205);
    assert_eq!(
        c.put("/mode?force=true", &json!({"mode": "IMPORT"}))
            .await
            .ok(),
        json!({"mode": "IMPORT"})
    );
    // IMPORT needs an id
    c.post("/subjects/imp/versions", &json!({"schema": user_v1()}))
        .await
        .assert_error(422, 42205);
    // given id and version, no compatibility check
    let r = c
        .post(
            "/subjects/imp/versions",
            &json!({"schema": user_bad(), "id": 100, "version": 5}),
        )
        .await
        .ok();
    assert_eq!(
        (r["id"].as_i64(), r["version"].as_i64()),
        (Some(100), Some(5))
    );
    let r = c
        .post(
            "/subjects/imp/versions",
            &json!({"schema": user_v2(), "id": 101}),
        )
        .await
        .ok();
    assert_eq!(
        (r["id"].as_i64(), r["version"].as_i64()),
        (Some(101), Some(6))
    );
    // the id of another schema: Confluent's "Overwrite new schema with id ... is not permitted"
    c.post(
        "/subjects/imp/versions",
        &json!({"schema": record("Z", &[("z", json!("int"))]), "id": 100}),
    )
    .await
    .assert_error(422, 42205);
    // the same schema under its id in another subject is fine
    let r = c
        .post(
            "/subjects/imp2/versions",
            &json!({"schema": user_bad(), "id": 100, "version": 3}),
        )
        .await
        .ok();
    assert_eq!(
        (r["id"].as_i64(), r["version"].as_i64()),
        (Some(100), Some(3))
    );
    // the same schema under another id in another subject too (as Confluent: an import may
    // give one schema several ids)
    let r = c
        .post(
            "/subjects/imp4/versions",
            &json!({"schema": user_bad(), "id": 104}),
        )
        .await
        .ok();
    assert_eq!(
        (r["id"].as_i64(), r["version"].as_i64()),
        (Some(104), Some(1))
    );
    assert_eq!(
        c.get("/schemas/ids/104").await.ok()["schema"],
        c.get("/schemas/ids/100").await.ok()["schema"]
    );
    // but not under another id in the subject that has it: 42207
    c.post(
        "/subjects/imp/versions",
        &json!({"schema": user_bad(), "id": 105}),
    )
    .await
    .assert_error(422, 42207);
    // an existing version
    c.post(
        "/subjects/imp/versions",
        &json!({"schema": record("Y", &[("y", json!("int"))]), "id": 103, "version": 5}),
    )
    .await
    .assert_error(422, 42205);

    assert_eq!(c.get("/subjects/imp/versions/5").await.ok()["id"], 100);
    c.put("/mode", &json!({"mode": "READWRITE"})).await.ok();
    // new ids continue after the imported ones
    let (id, _) = c
        .register("fresh", &record("F", &[("f", json!("int"))]))
        .await;
    assert_eq!(id, 105);
    // subject-level IMPORT on an empty subject needs no force
    c.put("/mode/imp3", &json!({"mode": "IMPORT"})).await.ok();
    c.post(
        "/subjects/imp3/versions",
        &json!({"schema": record("G", &[("g", json!("int"))]), "id": 7, "version": 1}),
    )
    .await
    .ok();
    c.put("/mode/imp", &json!({"mode": "IMPORT"}))
        .await
        .assert_error(422, 42205);
    env.finish().await;
}

async fn soft_and_hard_deletes(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    let (id1, _) = c.register("s", &user_v1()).await;
    let (id2, _) = c.register("s", &user_v2()).await;

    // a version: permanent only after soft
    c.delete("/subjects/s/versions/2?permanent=true")
        .await
        .assert_error(404, 40407);
    assert_eq!(c.delete("/subjects/s/versions/2").await.ok(), json!(2));
    c.delete("/subjects/s/versions/2")
        .await
        .assert_error(404, 40406);
    assert_eq!(c.get("/subjects/s/versions").await.ok(), json!([1]));
    assert_eq!(
        c.get("/subjects/s/versions?deleted=true").await.ok(),
        json!([1, 2])
    );
    assert_eq!(
        c.get("/subjects/s/versions?deletedOnly=true").await.ok(),
        json!([2])
    );
    assert_eq!(
        c.get("/subjects/s/versions?deleted=true&deletedAsNegative=true")
            .await
            .ok(),
        json!([1, -2])
    );
    c.get("/subjects/s/versions/2")
        .await
        .assert_error(404, 40402);
    assert_eq!(
        c.get("/subjects/s/versions/2?deleted=true").await.ok()["id"],
        id2
    );
    assert_eq!(
        c.get("/subjects/s/versions/latest").await.ok()["version"],
        1
    );
    // a soft-deleted schema stays readable by id
    c.get(&format!("/schemas/ids/{id2}")).await.ok();
    assert_eq!(
        c.get(&format!("/schemas/ids/{id2}/subjects")).await.ok(),
        json!([])
    );
    assert_eq!(
        c.get(&format!("/schemas/ids/{id2}/subjects?deleted=true"))
            .await
            .ok(),
        json!(["s"])
    );
    // lookup sees it only with deleted=true
    c.post("/subjects/s", &json!({"schema": user_v2()}))
        .await
        .assert_error(404, 40403);
    assert_eq!(
        c.post("/subjects/s?deleted=true", &json!({"schema": user_v2()}))
            .await
            .ok()["version"],
        2
    );
    assert_eq!(
        c.delete("/subjects/s/versions/2?permanent=true").await.ok(),
        json!(2)
    );
    assert_eq!(
        c.get("/subjects/s/versions?deleted=true").await.ok(),
        json!([1])
    );
    c.get(&format!("/schemas/ids/{id2}"))
        .await
        .assert_error(404, 40403);
    c.delete("/subjects/s/versions/2")
        .await
        .assert_error(404, 40402);
    c.delete("/subjects/nobody/versions/1")
        .await
        .assert_error(404, 40401);

    // re-registering after a soft delete makes a new version
    c.register("r", &user_v1()).await;
    c.delete("/subjects/r/versions/1").await.ok();
    assert_eq!(c.register("r", &user_v1()).await, (id1, 2));

    // the subject: permanent only after soft
    c.delete("/subjects/s?permanent=true")
        .await
        .assert_error(404, 40405);
    assert_eq!(c.delete("/subjects/s").await.ok(), json!([1]));
    c.delete("/subjects/s").await.assert_error(404, 40404);
    assert_eq!(c.get("/subjects").await.ok(), json!(["r"]));
    assert_eq!(
        c.get("/subjects?deleted=true").await.ok(),
        json!(["r", "s"])
    );
    assert_eq!(c.get("/subjects?deletedOnly=true").await.ok(), json!(["s"]));
    c.get("/subjects/s/versions").await.assert_error(404, 40401);
    c.get("/subjects/s/versions/1")
        .await
        .assert_error(404, 40401);
    assert_eq!(
        c.get("/subjects/s/versions/1?deleted=true").await.ok()["id"],
        id1
    );
    c.post("/subjects/s", &json!({"schema": user_v1()}))
        .await
        .assert_error(404, 40401);
    assert_eq!(
        c.delete("/subjects/s?permanent=true").await.ok(),
        json!([1])
    );
    c.delete("/subjects/s?permanent=true")
        .await
        .assert_error(404, 40401);
    c.delete("/subjects/nobody").await.assert_error(404, 40401);
    assert_eq!(c.get("/subjects?deleted=true").await.ok(), json!(["r"]));
    // after a permanent subject delete, versions start over at 1
    assert_eq!(c.register("s", &user_v2()).await, (id2, 1));
    env.finish().await;
}

async fn ids_are_never_reused(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    let (a, _) = c.register("a", &record("A", &[("a", json!("int"))])).await;
    let (bb, _) = c.register("b", &record("B", &[("b", json!("int"))])).await;
    assert_eq!((a, bb), (1, 2));
    for s in ["a", "b"] {
        c.delete(&format!("/subjects/{s}")).await.ok();
        c.delete(&format!("/subjects/{s}?permanent=true"))
            .await
            .ok();
    }
    c.get("/schemas/ids/2").await.assert_error(404, 40403);
    let (cc, _) = c.register("c", &record("C", &[("c", json!("int"))])).await;
    assert_eq!(cc, 3, "ids are never handed out twice");
    env.finish().await;
}

async fn references(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    let address = json!({"type": "record", "name": "Address", "namespace": "t",
        "fields": [{"name": "city", "type": "string"}]})
    .to_string();
    let (addr_id, _) = c.register("addr", &address).await;
    let person = json!({"type": "record", "name": "Person", "namespace": "t",
        "fields": [{"name": "name", "type": "string"}, {"name": "home", "type": "t.Address"}]})
    .to_string();
    let refs = json!([{"name": "t.Address", "subject": "addr", "version": 1}]);
    // without the reference the type is unknown
    let msg = c
        .post("/subjects/person/versions", &json!({"schema": person}))
        .await
        .assert_error(422, 42201);
    assert!(msg.contains("t.Address"), "{msg}");
    let r = c
        .post(
            "/subjects/person/versions",
            &json!({"schema": person, "references": refs}),
        )
        .await
        .ok();
    let pid = r["id"].as_i64().unwrap();
    assert_ne!(pid, addr_id);
    assert_eq!(r["references"], refs);
    // the stored schema text does not inline the referenced type
    assert!(!r["schema"].as_str().unwrap().contains("city"));
    let v = c.get("/subjects/person/versions/1").await.ok();
    assert_eq!(v["references"], refs);
    let by_id = c.get(&format!("/schemas/ids/{pid}")).await.ok();
    assert_eq!(by_id["references"], refs);
    assert_eq!(
        c.get("/subjects/addr/versions/1/referencedby").await.ok(),
        json!([pid])
    );
    // lookup with the references
    assert_eq!(
        c.post(
            "/subjects/person",
            &json!({"schema": person, "references": refs})
        )
        .await
        .ok()["id"],
        pid
    );
    // `-1` resolves to the latest version: the same registration
    let latest = json!([{"name": "t.Address", "subject": "addr", "version": -1}]);
    assert_eq!(
        c.post(
            "/subjects/person/versions",
            &json!({"schema": person, "references": latest})
        )
        .await
        .ok()["id"],
        pid
    );
    // a referenced version can't be deleted
    c.delete("/subjects/addr/versions/1")
        .await
        .assert_error(422, 42206);
    c.delete("/subjects/addr").await.assert_error(422, 42206);
    // references to nothing
    for bad in [
        json!([{"name": "t.Address", "subject": "nowhere", "version": 1}]),
        json!([{"name": "t.Address", "subject": "addr", "version": 9}]),
        json!([{"name": "t.Address", "subject": "addr", "version": 0}]),
        json!([{"name": "", "subject": "addr", "version": 1}]),
    ] {
        c.post(
            "/subjects/person2/versions",
            &json!({"schema": person, "references": bad}),
        )
        .await
        .assert_error(422, 42201);
    }
    // compatibility of a schema with references
    let person2 = json!({"type": "record", "name": "Person", "namespace": "t",
        "fields": [{"name": "name", "type": "string"}, {"name": "home", "type": "t.Address"},
                   {"name": "age", "type": "int", "default": 0}]})
    .to_string();
    assert_eq!(
        c.post(
            "/compatibility/subjects/person/versions/latest",
            &json!({"schema": person2, "references": refs})
        )
        .await
        .ok(),
        json!({"is_compatible": true})
    );
    let r = c
        .post(
            "/subjects/person/versions",
            &json!({"schema": person2, "references": refs}),
        )
        .await
        .ok();
    assert_eq!(r["version"], 2);
    // once the referencing versions are gone, the reference can go
    c.delete("/subjects/person").await.ok();
    assert_eq!(
        c.get("/subjects/addr/versions/1/referencedby").await.ok(),
        json!([])
    );
    assert_eq!(
        c.get("/subjects/addr/versions/1/referencedby?deleted=true")
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    c.delete("/subjects/addr/versions/1").await.ok();
    c.delete("/subjects/addr/versions/1?permanent=true")
        .await
        .assert_error(422, 42206);
    c.delete("/subjects/person?permanent=true").await.ok();
    c.delete("/subjects/addr/versions/1?permanent=true")
        .await
        .ok();
    env.finish().await;
}

async fn other_schema_types(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    for (t, schema) in [
        (
            "PROTOBUF",
            "syntax = \"proto3\"; message M { int32 a = 1; }",
        ),
        ("JSON", "{\"type\": \"object\"}"),
    ] {
        let msg = c
            .post(
                "/subjects/x/versions",
                &json!({"schema": schema, "schemaType": t}),
            )
            .await
            .assert_error(422, 42201);
        assert!(msg.contains(t) && msg.contains("AVRO"), "{msg}");
    }
    let msg = c
        .post(
            "/subjects/x/versions",
            &json!({"schema": user_v1(), "schemaType": "XML"}),
        )
        .await
        .assert_error(422, 42201);
    assert!(msg.contains("XML"), "{msg}");
    // AVRO spelled out is fine, and not echoed back
    let r = c
        .post(
            "/subjects/x/versions",
            &json!({"schema": user_v1(), "schemaType": "AVRO"}),
        )
        .await
        .ok();
    assert!(r.get("schemaType").is_none());
    env.finish().await;
}

async fn content_types_and_query_booleans(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    let body = serde_json::to_vec(&json!({"schema": user_v1()})).unwrap();
    for ct in [
        Some("application/vnd.schemaregistry.v1+json"),
        Some("application/vnd.schemaregistry+json"),
        Some("application/json; charset=utf-8"),
        Some("application/octet-stream"),
        None,
    ] {
        let r = c
            .send(
                reqwest::Method::POST,
                "/subjects/ct/versions",
                ct,
                Some(body.clone()),
            )
            .await;
        assert_eq!(r.ok()["id"], 1, "{ct:?}");
    }
    c.send(
        reqwest::Method::POST,
        "/subjects/ct/versions",
        Some("text/plain"),
        Some(body.clone()),
    )
    .await
    .assert_error(415, 415);
    // Python clients send capitalised booleans
    assert_eq!(
        c.post(
            "/subjects/ct/versions?normalize=True",
            &json!({"schema": user_v1()})
        )
        .await
        .ok()["id"],
        1
    );
    c.delete("/subjects/ct").await.ok();
    assert_eq!(c.get("/subjects?deleted=TRUE").await.ok(), json!(["ct"]));
    assert_eq!(c.get("/subjects?deleted=False").await.ok(), json!([]));
    env.finish().await;
}

async fn normalize(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    let long_form = json!({"type": "record", "name": "N", "namespace": "t",
        "fields": [{"name": "a", "type": {"type": "int"}}]})
    .to_string();
    let short_form = json!({"type": "record", "name": "N", "namespace": "t",
        "fields": [{"name": "a", "type": "int"}]})
    .to_string();
    let r1 = c
        .post(
            "/subjects/n/versions?normalize=true",
            &json!({"schema": long_form}),
        )
        .await
        .ok();
    let r2 = c
        .post(
            "/subjects/n/versions?normalize=true",
            &json!({"schema": short_form}),
        )
        .await
        .ok();
    assert_eq!(r1["id"], r2["id"]);
    assert_eq!(r2["version"], 1);
    // lookup with normalize finds it from either spelling
    assert_eq!(
        c.post("/subjects/n?normalize=true", &json!({"schema": long_form}))
            .await
            .ok()["id"],
        r1["id"]
    );
    // without normalize the spellings are different schemas (as in Confluent)
    let r3 = c
        .post("/subjects/m/versions", &json!({"schema": long_form}))
        .await
        .ok();
    assert_ne!(r3["id"], r1["id"]);
    env.finish().await;
}

async fn read_only_server(b: Backend) {
    // fill a store, then serve it read-only
    let store = Store::new(b);
    let server = start_server(config(&store.url)).await;
    Client::new(&server.url()).register("s", &user_v1()).await;
    server.stop().await.unwrap();

    let mut cfg = config(&store.url);
    cfg.read_only = true;
    let server = start_server(cfg).await;
    let c = Client::new(&server.url());
    assert_eq!(c.get("/subjects/s/versions/1").await.ok()["id"], 1);
    assert_eq!(
        c.post("/subjects/s", &json!({"schema": user_v1()}))
            .await
            .ok()["id"],
        1
    );
    assert_eq!(
        c.post(
            "/compatibility/subjects/s/versions/latest",
            &json!({"schema": user_v2()})
        )
        .await
        .ok(),
        json!({"is_compatible": true})
    );
    c.post("/subjects/s/versions", &json!({"schema": user_v2()}))
        .await
        .assert_error(422, 42205);
    c.delete("/subjects/s").await.assert_error(422, 42205);
    c.delete("/subjects/s/versions/1")
        .await
        .assert_error(422, 42205);
    c.put("/config", &json!({"compatibility": "NONE"}))
        .await
        .assert_error(422, 42205);
    c.delete("/config").await.assert_error(422, 42205);
    c.put("/mode", &json!({"mode": "READWRITE"}))
        .await
        .assert_error(422, 42205);
    c.delete("/mode/s").await.assert_error(422, 42205);
    server.stop().await.unwrap();
    store.cleanup().await;
}

async fn basic_auth(b: Backend) {
    let users = evc_registry::BasicAuth::parse("alice:wonder land\nbob:pw").unwrap();
    let env = Env::start_with(b, |cfg| cfg.auth = Some(users)).await;
    let mut c = env.client.clone();
    let r = c.get("/subjects").await;
    r.assert_error(401, 401);
    assert!(r.headers.get("www-authenticate").is_some());
    c.auth = Some(("alice".into(), "wrong".into()));
    c.get("/subjects").await.assert_error(401, 401);
    c.auth = Some(("carol".into(), "pw".into()));
    c.get("/subjects").await.assert_error(401, 401);
    c.auth = Some(("alice".into(), "wonder land".into()));
    assert_eq!(c.get("/subjects").await.ok(), json!([]));
    assert_eq!(c.register("s", &user_v1()).await, (1, 1));
    // the readiness probe needs no credentials
    assert_eq!(env.client.get("/health").await.ok()["status"], "UP");
    env.finish().await;
}

/// `memory`: a throwaway store with the same API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_backend() {
    let env = Env::start(Backend::Memory).await;
    let c = &env.client;
    assert_eq!(c.register("s", &user_v1()).await, (1, 1));
    assert_eq!(c.register("s", &user_v2()).await, (2, 2));
    c.post("/subjects/s/versions", &json!({"schema": user_bad()}))
        .await
        .assert_error(409, 409);
    assert_eq!(
        c.get("/schemas/ids/2/versions").await.ok(),
        json!([{"subject": "s", "version": 2}])
    );
    // concurrent readers and writers on the single connection
    let mut tasks = Vec::new();
    for i in 0..16 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                c.register(&format!("m{i}"), &user_v1()).await.0
            } else {
                c.get("/schemas/ids/1").await.ok();
                1
            }
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 1);
    }
    env.finish().await;
}

/// A broken store (tables dropped under the running server): 50001, and the server stays up.
async fn storage_errors_answer_50001(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    c.register("s", &user_v1()).await;
    match &env.store.url {
        evc_registry::StorageUrl::Sqlite(path) => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query("DROP TABLE evc_versions")
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        _ => env.store.cleanup().await,
    }
    for r in [
        c.get("/subjects").await,
        c.get("/subjects/s/versions/1").await,
        c.get("/schemas/ids/1").await,
        c.post("/subjects/s/versions", &json!({"schema": user_v2()}))
            .await,
        c.post("/subjects/s", &json!({"schema": user_v1()})).await,
        c.delete("/subjects/s").await,
    ] {
        let msg = r.assert_error(500, 50001);
        assert!(msg.contains("backend data store"), "{msg}");
    }
    // requests that don't need the broken table still work
    assert_eq!(c.get("/").await.ok(), json!({}));
    env.finish().await;
}
