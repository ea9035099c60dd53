//! Several server processes on one database: a write through one is seen by the others'
//! caches (PostgreSQL: LISTEN/NOTIFY; a shared SQLite file: the change counter, polled).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::*;
use crate::on_both;

on_both!(caches_follow_writes_of_other_servers);

/// Asks until the answer has `status`, for at most 10 s (the change reaches the other server
/// in milliseconds on PostgreSQL, within 0.5 s on SQLite).
async fn eventually(c: &Client, path: &str, body: Option<&serde_json::Value>, status: u16) -> Resp {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = match body {
            Some(b) => c.post(path, b).await,
            None => c.get(path).await,
        };
        if r.status == status || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn caches_follow_writes_of_other_servers(b: Backend) {
    let store = Store::new(b);
    let a = start_server(config(&store.url)).await;
    let b_server = start_server(config(&store.url)).await;
    let (ca, cb) = (Client::new(&a.url()), Client::new(&b_server.url()));
    let (id, _) = ca.register("s", &user_v1()).await;
    // server B answers (and caches) the schema, its look-up and its re-registration
    assert!(cb.get(&format!("/schemas/ids/{id}")).await.ok()["schema"].is_string());
    let lookup = json!({"schema": user_v1()});
    assert_eq!(cb.post("/subjects/s", &lookup).await.ok()["id"], id);
    assert_eq!(cb.register("s", &user_v1()).await, (id, 1));

    // server A deletes the subject for good
    ca.delete("/subjects/s").await.ok();
    ca.delete("/subjects/s?permanent=true").await.ok();

    eventually(&cb, &format!("/schemas/ids/{id}"), None, 404)
        .await
        .assert_error(404, 40403);
    eventually(&cb, "/subjects/s", Some(&lookup), 404)
        .await
        .assert_error(404, 40401);
    // registering again through B makes version 1 anew (the schema keeps its id: schema rows
    // are never deleted, so ids are never reused)
    assert_eq!(cb.register("s", &user_v1()).await, (id, 1));
    // and A sees B's new version
    let v = eventually(&ca, "/subjects/s", Some(&lookup), 200)
        .await
        .ok();
    assert_eq!(v["version"], 1);

    a.stop().await.unwrap();
    b_server.stop().await.unwrap();
    store.cleanup().await;
}
