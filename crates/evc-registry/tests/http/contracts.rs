//! Confluent's behaviour beyond the basics (issue 13), per storage backend: identity by the
//! normalized schema, data contracts (metadata and rule sets with config defaults and
//! overrides, `confluent:version`), `validateFields`, `compatibilityGroup`, `alias`,
//! `normalize`, the metadata and context endpoints, READONLY config writes, large bodies.

use serde_json::{json, Value};

use crate::common::*;
use crate::on_all;

on_all!(
    namespace_spelling_does_not_change_identity,
    metadata_and_rule_sets_are_stored_and_returned,
    config_defaults_and_overrides_merge_in_order,
    confluent_version_is_compare_and_set,
    invalid_rule_sets_are_refused,
    validate_fields_enforces_reserved_fields,
    compatibility_group_narrows_the_check,
    alias_reads_reach_the_target_subject,
    normalize_in_config,
    server_metadata_and_contexts,
    readonly_refuses_config_writes,
    config_fields_round_trip,
    a_30_mib_body_gets_413,
    malformed_contracts_and_config,
);

fn props(v: &Value) -> Value {
    v["metadata"]["properties"].clone()
}

async fn namespace_spelling_does_not_change_identity(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    let inherited = json!({"type": "record", "name": "Order", "namespace": "shop", "fields": [
        {"name": "line", "type": {"type": "record", "name": "Line", "fields": [{"name": "n", "type": "int"}]}},
        {"name": "lines", "type": {"type": "array", "items": "Line"}},
        {"name": "state", "type": ["null", {"type": "enum", "name": "State", "symbols": ["A"]}]}]})
    .to_string();
    let spelled_out = json!({"type": "record", "name": "shop.Order", "fields": [
        {"name": "line", "type": {"type": "record", "name": "Line", "namespace": "shop", "fields": [{"name": "n", "type": "int"}]}},
        {"name": "lines", "type": {"type": "array", "items": "shop.Line"}},
        {"name": "state", "type": ["null", {"type": "enum", "name": "shop.State", "symbols": ["A"]}]}]})
    .to_string();
    let (id, version) = c.register("orders-value", &inherited).await;
    assert_eq!(
        c.register("orders-value", &spelled_out).await,
        (id, version)
    );
    assert_eq!(c.register("other-value", &spelled_out).await, (id, 1));
    let found = c
        .post("/subjects/orders-value", &json!({"schema": spelled_out}))
        .await
        .ok();
    assert_eq!(
        (found["id"].as_i64(), found["version"].as_i64()),
        (Some(id), Some(version))
    );
    env.finish().await;
}

async fn metadata_and_rule_sets_are_stored_and_returned(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    let metadata = json!({"properties": {"owner": "team-orders"}, "tags": {"**.email": ["PII"]}, "sensitive": ["secret"]});
    let rule_set = json!({"domainRules": [{"name": "emailNotEmpty", "kind": "CONDITION", "mode": "WRITE", "type": "CEL", "expr": "message.email != ''", "onFailure": "DLQ", "disabled": false}]});
    let r = c
        .post(
            "/subjects/s/versions",
            &json!({"schema": user_v1(), "metadata": metadata, "ruleSet": rule_set}),
        )
        .await
        .ok();
    assert_eq!(
        (r["id"].as_i64(), r["version"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(r["metadata"], metadata);
    assert_eq!(r["ruleSet"], rule_set);
    let v = c.get("/subjects/s/versions/1").await.ok();
    assert_eq!(v["metadata"], metadata);
    assert_eq!(v["ruleSet"], rule_set);
    let by_id = c.get("/schemas/ids/1").await.ok();
    assert_eq!(by_id["metadata"], metadata);
    assert_eq!(by_id["ruleSet"], rule_set);
    // the same text with another contract is another schema: new id, new version
    let other = json!({"properties": {"owner": "team-billing"}});
    let r = c
        .post(
            "/subjects/s/versions",
            &json!({"schema": user_v1(), "metadata": other}),
        )
        .await
        .ok();
    assert_eq!(
        (r["id"].as_i64(), r["version"].as_i64()),
        (Some(2), Some(2))
    );
    assert!(
        r.get("ruleSet").is_some(),
        "the rule set is inherited from version 1: {r}"
    );
    // the same text and contract again: the existing version
    let again = c
        .post(
            "/subjects/s/versions",
            &json!({"schema": user_v1(), "metadata": other}),
        )
        .await
        .ok();
    assert_eq!(
        (again["id"].as_i64(), again["version"].as_i64()),
        (Some(2), Some(2))
    );
    // without a contract, the text is registered already with the contract it would inherit
    assert_eq!(c.register("s", &user_v1()).await, (2, 2));
    // a look-up without a contract finds the newest version with the same schema
    let found = c
        .post("/subjects/s", &json!({"schema": user_v1()}))
        .await
        .ok();
    assert_eq!(found["version"], 2);
    // a look-up with version 1's contract finds version 1
    let found = c
        .post(
            "/subjects/s",
            &json!({"schema": user_v1(), "metadata": metadata, "ruleSet": rule_set}),
        )
        .await
        .ok();
    assert_eq!(found["version"], 1);
    // schemas without a contract answer none
    let (id, _) = c
        .register("plain", &record("P", &[("p", json!("int"))]))
        .await;
    let plain = c.get(&format!("/schemas/ids/{id}")).await.ok();
    assert!(
        plain.get("metadata").is_none() && plain.get("ruleSet").is_none(),
        "{plain}"
    );
    env.finish().await;
}

async fn config_defaults_and_overrides_merge_in_order(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    c.put(
        "/config/s",
        &json!({
            "defaultMetadata": {"properties": {"owner": "default", "tier": "gold"}},
            "overrideMetadata": {"properties": {"team": "override"}},
            "defaultRuleSet": {"domainRules": [{"name": "d", "kind": "CONDITION", "mode": "WRITE", "type": "CEL", "expr": "true"}]}
        }),
    )
    .await
    .ok();
    // default, then the request, then the override
    let r = c
        .post(
            "/subjects/s/versions",
            &json!({"schema": user_v1(), "metadata": {"properties": {"owner": "request", "team": "request"}}}),
        )
        .await
        .ok();
    assert_eq!(
        props(&r),
        json!({"owner": "request", "team": "override", "tier": "gold"})
    );
    assert_eq!(r["ruleSet"]["domainRules"][0]["name"], "d");
    // the next version inherits the previous version's contract
    let r = c
        .post("/subjects/s/versions", &json!({"schema": user_v2()}))
        .await
        .ok();
    assert_eq!(r["version"], 2);
    assert_eq!(
        props(&r),
        json!({"owner": "request", "team": "override", "tier": "gold"})
    );
    // a subject without config: the global defaults apply
    c.put(
        "/config",
        &json!({"defaultMetadata": {"properties": {"owner": "global"}}}),
    )
    .await
    .ok();
    let r = c
        .post("/subjects/t/versions", &json!({"schema": user_v1()}))
        .await
        .ok();
    assert_eq!(props(&r), json!({"owner": "global"}));
    env.finish().await;
}

async fn confluent_version_is_compare_and_set(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    let with_version = |schema: String, v: &str| json!({"schema": schema, "metadata": {"properties": {"confluent:version": v}}});
    let r = c
        .post("/subjects/s/versions", &with_version(user_v1(), "1"))
        .await
        .ok();
    assert_eq!(r["version"], 1);
    // the next version must say 2
    c.post("/subjects/s/versions", &with_version(user_v2(), "5"))
        .await
        .assert_error(409, 409);
    c.post("/subjects/s/versions", &with_version(user_v2(), "1"))
        .await
        .assert_error(409, 409);
    let r = c
        .post("/subjects/s/versions", &with_version(user_v2(), "2"))
        .await
        .ok();
    assert_eq!(r["version"], 2);
    assert_eq!(props(&r)["confluent:version"], "2");
    // repeating the registration answers the same version
    let again = c
        .post("/subjects/s/versions", &with_version(user_v2(), "2"))
        .await
        .ok();
    assert_eq!(
        (again["id"].clone(), again["version"].clone()),
        (r["id"].clone(), json!(2))
    );
    // without the property, an inherited confluent:version is stamped with the new version
    let v3 = json!({"type": "record", "name": "User", "namespace": "t", "fields": [
        {"name": "id", "type": "long"},
        {"name": "email", "type": "string", "default": ""},
        {"name": "name", "type": "string", "default": ""}]})
    .to_string();
    let r = c
        .post("/subjects/s/versions", &json!({"schema": v3}))
        .await
        .ok();
    assert_eq!(r["version"], 3);
    assert_eq!(props(&r)["confluent:version"], "3");
    // not a number
    c.post("/subjects/s/versions", &with_version(user_v1(), "three"))
        .await
        .assert_error(422, 42201);
    env.finish().await;
}

async fn invalid_rule_sets_are_refused(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    for rule_set in [
        json!({"domainRules": [{"name": "", "kind": "CONDITION", "mode": "WRITE", "type": "CEL"}]}),
        json!({"domainRules": [{"name": "a", "kind": "SOMETIMES", "mode": "WRITE", "type": "CEL"}]}),
        json!({"domainRules": [{"name": "a", "kind": "CONDITION", "mode": "UPGRADE", "type": "CEL"}]}),
        json!({"migrationRules": [{"name": "a", "kind": "TRANSFORM", "mode": "UPGRADE", "type": "JSONATA"}],
               "domainRules": [{"name": "a", "kind": "CONDITION", "mode": "WRITE", "type": "CEL"}]}),
    ] {
        c.post(
            "/subjects/s/versions",
            &json!({"schema": user_v1(), "ruleSet": rule_set}),
        )
        .await
        .assert_error(422, 42210);
        c.put("/config/s", &json!({"defaultRuleSet": rule_set}))
            .await
            .assert_error(422, 42210);
    }
    c.get("/subjects/s/versions").await.assert_error(404, 40401);
    env.finish().await;
}

async fn validate_fields_enforces_reserved_fields(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    c.put("/config/s", &json!({"validateFields": true}))
        .await
        .ok();
    let reserved = json!({"properties": {"confluent:reserved": "age, secret"}});
    // a field with a reserved name
    c.post(
        "/subjects/s/versions",
        &json!({"schema": user_bad(), "metadata": reserved}),
    )
    .await
    .assert_error(409, 409);
    let r = c
        .post(
            "/subjects/s/versions",
            &json!({"schema": user_v1(), "metadata": reserved}),
        )
        .await
        .ok();
    assert_eq!(r["version"], 1);
    // dropping a reserved name
    c.post(
        "/subjects/s/versions",
        &json!({"schema": user_v2(), "metadata": {"properties": {"confluent:reserved": "age"}}}),
    )
    .await
    .assert_error(409, 409);
    // inheriting the reservation is fine
    let r = c
        .post("/subjects/s/versions", &json!({"schema": user_v2()}))
        .await
        .ok();
    assert_eq!(r["version"], 2);
    // without validateFields the property is just metadata
    let r = c
        .post(
            "/subjects/free/versions",
            &json!({"schema": user_bad(), "metadata": reserved}),
        )
        .await
        .ok();
    assert_eq!(r["version"], 1);
    env.finish().await;
}

async fn compatibility_group_narrows_the_check(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    c.put(
        "/config/s",
        &json!({"compatibility": "BACKWARD", "compatibilityGroup": "application.major.version"}),
    )
    .await
    .ok();
    let major = |v: &str| json!({"properties": {"application.major.version": v}});
    c.post(
        "/subjects/s/versions",
        &json!({"schema": user_v1(), "metadata": major("1")}),
    )
    .await
    .ok();
    // incompatible within group 1
    c.post(
        "/subjects/s/versions",
        &json!({"schema": user_bad(), "metadata": major("1")}),
    )
    .await
    .assert_error(409, 409);
    // a new group starts fresh
    let r = c
        .post(
            "/subjects/s/versions",
            &json!({"schema": user_bad(), "metadata": major("2")}),
        )
        .await
        .ok();
    assert_eq!(r["version"], 2);
    env.finish().await;
}

async fn alias_reads_reach_the_target_subject(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    let (id, _) = c.register("orders-value", &user_v1()).await;
    c.put("/config/orders", &json!({"alias": "orders-value"}))
        .await
        .ok();
    let v = c.get("/subjects/orders/versions/latest").await.ok();
    assert_eq!(
        (v["subject"].as_str(), v["id"].as_i64()),
        (Some("orders-value"), Some(id))
    );
    assert_eq!(c.get("/subjects/orders/versions").await.ok(), json!([1]));
    let found = c
        .post("/subjects/orders", &json!({"schema": user_v1()}))
        .await
        .ok();
    assert_eq!(found["id"], id);
    assert_eq!(c.get("/config/orders").await.ok()["alias"], "orders-value");
    env.finish().await;
}

async fn normalize_in_config(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    c.put("/config/n", &json!({"normalize": true})).await.ok();
    let long_form = json!({"type": "record", "name": "N", "namespace": "t",
        "fields": [{"name": "a", "type": {"type": "int"}}]})
    .to_string();
    let short_form = json!({"type": "record", "name": "N", "namespace": "t",
        "fields": [{"name": "a", "type": "int"}]})
    .to_string();
    let a = c.register("n", &long_form).await;
    assert_eq!(c.register("n", &short_form).await, a);
    let found = c
        .post("/subjects/n", &json!({"schema": long_form}))
        .await
        .ok();
    assert_eq!(found["id"].as_i64(), Some(a.0));
    env.finish().await;
}

async fn server_metadata_and_contexts(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    assert_eq!(c.get("/contexts").await.ok(), json!(["."]));
    let id = c.get("/v1/metadata/id").await.ok();
    let cluster = id["id"].as_str().unwrap().to_string();
    assert!(!cluster.is_empty());
    assert_eq!(
        id["scope"]["clusters"]["schema-registry-cluster"],
        cluster.as_str()
    );
    assert_eq!(id["scope"]["path"], json!([]));
    // stable across restarts of the same store (not for memory, which starts empty)
    if b != Backend::Memory {
        let store = &env.store;
        let again = start_server(config(&store.url)).await;
        let other = Client::new(&again.url()).get("/v1/metadata/id").await.ok();
        assert_eq!(other["id"], cluster.as_str());
        again.stop().await.unwrap();
    }
    let v = c.get("/v1/metadata/version").await.ok();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["commitId"].is_string());
    env.finish().await;
}

async fn readonly_refuses_config_writes(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    c.register("s", &user_v1()).await;
    c.put("/config/s", &json!({"compatibility": "FULL"}))
        .await
        .ok();
    c.put("/mode/s", &json!({"mode": "READONLY"})).await.ok();
    c.put("/config/s", &json!({"compatibility": "NONE"}))
        .await
        .assert_error(422, 42205);
    c.delete("/config/s").await.assert_error(422, 42205);
    // other subjects are not affected; reads are
    c.put("/config/t", &json!({"compatibility": "NONE"}))
        .await
        .ok();
    assert_eq!(c.get("/config/s").await.ok()["compatibilityLevel"], "FULL");
    // the mode itself can be changed back
    c.put("/mode/s", &json!({"mode": "READWRITE"})).await.ok();
    c.put("/config/s", &json!({"compatibility": "NONE"}))
        .await
        .ok();
    // a READONLY registry refuses global config writes
    c.put("/mode", &json!({"mode": "READONLY"})).await.ok();
    c.put("/config", &json!({"compatibility": "NONE"}))
        .await
        .assert_error(422, 42205);
    c.delete("/config").await.assert_error(422, 42205);
    c.put("/config/t", &json!({"compatibility": "FULL"}))
        .await
        .assert_error(422, 42205);
    c.put("/mode", &json!({"mode": "READWRITE"})).await.ok();
    c.delete("/config").await.ok();
    env.finish().await;
}

async fn config_fields_round_trip(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    let put = c
        .put(
            "/config/s",
            &json!({"compatibility": "FULL", "compatibilityGroup": "g", "validateFields": true}),
        )
        .await
        .ok();
    assert_eq!(put["compatibility"], "FULL");
    assert_eq!(put["compatibilityGroup"], "g");
    // a partial update keeps the other fields
    c.put("/config/s", &json!({"normalize": true})).await.ok();
    let got = c.get("/config/s").await.ok();
    assert_eq!(
        got,
        json!({"compatibilityLevel": "FULL", "normalize": true, "validateFields": true, "compatibilityGroup": "g"})
    );
    // a body with nothing to set
    c.put("/config/s", &json!({}))
        .await
        .assert_error(422, 42203);
    // DELETE answers the old config and removes every field
    assert_eq!(c.delete("/config/s").await.ok(), got);
    c.get("/config/s").await.assert_error(404, 40408);
    assert_eq!(
        c.get("/config/s?defaultToGlobal=true").await.ok(),
        json!({"compatibilityLevel": "BACKWARD"})
    );
    env.finish().await;
}

async fn a_30_mib_body_gets_413(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    let big = vec![b' '; 30 * 1024 * 1024];
    for path in [
        "/subjects/s/versions",
        "/subjects/s",
        "/compatibility/subjects/s/versions",
    ] {
        let msg = c
            .send(
                reqwest::Method::POST,
                path,
                Some(evc_registry::CONTENT_TYPE_V1),
                Some(big.clone()),
            )
            .await
            .assert_error(413, 413);
        assert!(msg.contains("too large"), "{msg}");
    }
    // the server is fine afterwards
    assert_eq!(c.register("s", &user_v1()).await, (1, 1));
    env.finish().await;
}

mod adoption {
    use crate::common::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::a_database_from_before_migrations_is_adopted(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::a_database_from_before_migrations_is_adopted(Backend::Postgres).await
    }
}

/// Tables made by a build from before migrations (and before identities): the server adopts
/// them, computes identities, and answers the stored ids for the same schema however its
/// namespaces are written.
async fn a_database_from_before_migrations_is_adopted(b: Backend) {
    let store = Store::new(b);
    let db = evc_storage::Database::open(&store.url, "evc-tests")
        .await
        .unwrap();
    let mut tx = db.write().await.unwrap();
    tx.script(
        "CREATE TABLE evc_schemas (id BIGINT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, schema_type TEXT NOT NULL, schema_text TEXT NOT NULL, refs_json TEXT NOT NULL);
         CREATE TABLE evc_refs (schema_id BIGINT NOT NULL REFERENCES evc_schemas (id), position BIGINT NOT NULL, name TEXT NOT NULL, subject TEXT NOT NULL, version BIGINT NOT NULL, PRIMARY KEY (schema_id, position));
         CREATE TABLE evc_versions (subject TEXT NOT NULL, version BIGINT NOT NULL, schema_id BIGINT NOT NULL REFERENCES evc_schemas (id), deleted BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (subject, version));
         CREATE TABLE evc_config (scope TEXT PRIMARY KEY, compatibility TEXT, mode TEXT)",
    )
    .await
    .unwrap();
    let old_text = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"line","type":{"type":"record","name":"Line","namespace":"shop","fields":[{"name":"n","type":"int"}]}}]}"#;
    tx.exec(
        "INSERT INTO evc_schemas (id, hash, schema_type, schema_text, refs_json) VALUES (7, 'an-old-hash', 'AVRO', $1, '[]')",
        &evc_storage::args![old_text],
    )
    .await
    .unwrap();
    tx.exec(
        "INSERT INTO evc_versions (subject, version, schema_id, deleted) VALUES ('orders-value', 1, 7, 0)",
        &[],
    )
    .await
    .unwrap();
    tx.exec(
        "INSERT INTO evc_config (scope, compatibility) VALUES ('', 'FULL')",
        &[],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    db.close().await;

    let server = start_server(config(&store.url)).await;
    let c = Client::new(&server.url());
    assert_eq!(c.get("/config").await.ok()["compatibilityLevel"], "FULL");
    let inherited = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"line","type":{"type":"record","name":"Line","fields":[{"name":"n","type":"int"}]}}]}"#;
    assert_eq!(c.register("orders-value", old_text).await, (7, 1));
    assert_eq!(c.register("orders-value", inherited).await, (7, 1));
    assert_eq!(c.register("audit-value", inherited).await, (7, 1));
    let (id, _) = c.register("new-value", &user_v1()).await;
    assert_eq!(id, 8);
    server.stop().await.unwrap();
    let db = evc_storage::Database::open(&store.url, "evc-tests")
        .await
        .unwrap();
    assert_eq!(db.schema_version("evc-registry").await.unwrap(), Some(2));
    db.close().await;
    store.cleanup().await;
}

async fn malformed_contracts_and_config(b: Backend) {
    let env = Env::start(b).await;
    let c = &env.client;
    // bodies of the wrong shape: 422 with the field named
    for body in [
        json!({"schema": user_v1(), "metadata": {"properties": {"owner": 5}}}),
        json!({"schema": user_v1(), "metadata": {"tags": {"**.x": "PII"}}}),
        json!({"schema": user_v1(), "ruleSet": {"domainRules": [{"kind": "CONDITION"}]}}),
        json!({"schema": user_v1(), "ruleSet": {"domainRules": {"name": "a"}}}),
    ] {
        let msg = c
            .post("/subjects/s/versions", &body)
            .await
            .assert_error(422, 422);
        assert!(msg.contains("Invalid request body"), "{msg}");
    }
    for body in [
        json!({"validateFields": "yes"}),
        json!({"normalize": 1}),
        json!({"alias": ["a"]}),
        json!({"defaultMetadata": "owner=a"}),
    ] {
        c.put("/config/s", &body).await.assert_error(422, 422);
    }
    c.put(
        "/config/s",
        &json!({"compatibility": "SIDEWAYS", "normalize": true}),
    )
    .await
    .assert_error(422, 42203);
    // nothing was half-written
    c.get("/config/s").await.assert_error(404, 40408);
    c.get("/subjects/s/versions").await.assert_error(404, 40401);
    // the metadata query on an unknown subject, and without a match
    c.get("/subjects/s/metadata?key=owner&value=a")
        .await
        .assert_error(404, 40401);
    c.register("s", &user_v1()).await;
    c.get("/subjects/s/metadata?key=owner&value=a")
        .await
        .assert_error(404, 40403);
    assert_eq!(c.get("/subjects/s/metadata").await.ok()["version"], 1);
    env.finish().await;
}
