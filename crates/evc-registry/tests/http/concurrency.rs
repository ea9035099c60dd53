//! Concurrent registrations: one id per schema, gap-free versions per subject, also with several
//! servers (in this process, and as separate processes) on one database.

use std::collections::BTreeSet;

use serde_json::json;

use crate::common::*;
use crate::durability::ChildServer;
use crate::on_both;

on_both!(
    concurrent_same_schema_one_id,
    concurrent_versions_are_gap_free
);

const N: usize = 32;
const M: usize = 24;

/// Registers the same schema from N tasks at once (spread over `clients`): one id.
async fn same_schema(clients: &[Client], subject: &str) {
    let schema = record("Same", &[("a", json!("int"))]);
    let mut tasks = Vec::new();
    for i in 0..N {
        let c = clients[i % clients.len()].clone();
        let schema = schema.clone();
        let subject = subject.to_string();
        tasks.push(tokio::spawn(
            async move { c.register(&subject, &schema).await },
        ));
    }
    let mut got = BTreeSet::new();
    for t in tasks {
        got.insert(t.await.unwrap());
    }
    assert_eq!(got.len(), 1, "one registration: {got:?}");
    let (id, version) = *got.iter().next().unwrap();
    assert_eq!(version, 1);
    let c = &clients[0];
    assert_eq!(
        c.get(&format!("/subjects/{subject}/versions")).await.ok(),
        json!([1])
    );

    // and the same new schema into N different subjects: one id everywhere
    let schema = record("Shared", &[("b", json!("long"))]);
    let mut tasks = Vec::new();
    for i in 0..N {
        let c = clients[i % clients.len()].clone();
        let schema = schema.clone();
        let subject = format!("{subject}-{i}");
        tasks.push(tokio::spawn(
            async move { c.register(&subject, &schema).await },
        ));
    }
    let mut ids = BTreeSet::new();
    for t in tasks {
        let (sid, v) = t.await.unwrap();
        assert_eq!(v, 1);
        ids.insert(sid);
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_ne!(ids.into_iter().next().unwrap(), id);
}

/// Registers M different schemas into one subject at once: versions 1..=M, no gaps, distinct
/// ids.
async fn distinct_versions(clients: &[Client], subject: &str) {
    clients[0]
        .put(
            &format!("/config/{subject}"),
            &json!({"compatibility": "NONE"}),
        )
        .await
        .ok();
    let mut tasks = Vec::new();
    for i in 0..M {
        let c = clients[i % clients.len()].clone();
        let subject = subject.to_string();
        tasks.push(tokio::spawn(async move {
            let schema = record(&format!("V{i}"), &[("a", json!("int"))]);
            c.register(&subject, &schema).await
        }));
    }
    let mut versions = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for t in tasks {
        let (id, v) = t.await.unwrap();
        assert!(versions.insert(v), "version {v} handed out twice");
        assert!(ids.insert(id), "id {id} handed out twice");
    }
    let expected: BTreeSet<i64> = (1..=M as i64).collect();
    assert_eq!(versions, expected);
    let listed = clients[0]
        .get(&format!("/subjects/{subject}/versions"))
        .await
        .ok();
    assert_eq!(listed, json!((1..=M as i64).collect::<Vec<_>>()));
    // every version answers from every server
    for c in clients {
        for v in 1..=M {
            c.get(&format!("/subjects/{subject}/versions/{v}"))
                .await
                .ok();
        }
    }
}

async fn concurrent_same_schema_one_id(b: Backend) {
    let env = Env::start(b).await;
    same_schema(std::slice::from_ref(&env.client), "c").await;
    env.finish().await;
}

async fn concurrent_versions_are_gap_free(b: Backend) {
    let env = Env::start(b).await;
    distinct_versions(std::slice::from_ref(&env.client), "v").await;
    env.finish().await;
}

/// Two servers with their own pools on one PostgreSQL schema, in this process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_postgres() {
    let store = Store::new(Backend::Postgres);
    let s1 = start_server(config(&store.url)).await;
    let s2 = start_server(config(&store.url)).await;
    let clients = [Client::new(&s1.url()), Client::new(&s2.url())];
    same_schema(&clients, "c").await;
    distinct_versions(&clients, "v").await;
    s1.stop().await.unwrap();
    s2.stop().await.unwrap();
    store.cleanup().await;
}

/// Two registries (two pools, two writer locks) on one SQLite file, in this process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_sqlite_file() {
    let store = Store::new(Backend::Sqlite);
    let s1 = start_server(config(&store.url)).await;
    let s2 = start_server(config(&store.url)).await;
    let clients = [Client::new(&s1.url()), Client::new(&s2.url())];
    same_schema(&clients, "c").await;
    distinct_versions(&clients, "v").await;
    s1.stop().await.unwrap();
    s2.stop().await.unwrap();
}

/// Three server processes on one PostgreSQL schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_postgres() {
    let store = Store::new(Backend::Postgres);
    let url = format!(
        "{}?schema={}",
        postgres_url(),
        store.pg_schema.as_deref().unwrap()
    );
    let children: Vec<ChildServer> = (0..3).map(|_| ChildServer::start(&url)).collect();
    let clients: Vec<Client> = children.iter().map(|c| Client::new(&c.url)).collect();
    same_schema(&clients, "c").await;
    distinct_versions(&clients, "v").await;
    drop(children);
    store.cleanup().await;
}
