//! A killed server loses no acknowledged registration.
//!
//! The server runs as a child process: the crate's `evc-registryd` binary.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::json;

use crate::common::*;
use crate::on_both;

const LISTENING: &str = "EVC_REGISTRY_LISTENING ";

/// A registry server in a child process; killed (SIGKILL) when dropped.
pub struct ChildServer {
    child: Child,
    pub url: String,
}

impl ChildServer {
    pub fn start(storage: &str) -> ChildServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_evc-registryd"))
            .args(["--storage", storage, "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the child server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find(LISTENING) {
                    let _ = tx.send(line[at + LISTENING.len()..].trim().to_string());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("the child server did not start on {storage}");
            }
        };
        ChildServer {
            child,
            url: format!("http://{addr}"),
        }
    }

    /// SIGKILL, no shutdown of any kind.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kill -9 a child server on a SQLite file right after its answers, then reopen the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_sqlite_server_keeps_acknowledged_registrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.db");
    let url = format!("sqlite://{}", path.display());
    let child = ChildServer::start(&url);
    let c = Client::new(&child.url);
    c.put("/config", &json!({"compatibility": "NONE"}))
        .await
        .ok();
    let mut acked = Vec::new();
    for i in 0..20 {
        let subject = format!("s{}", i % 3);
        let schema = record(&format!("K{i}"), &[("a", json!("int"))]);
        acked.push((subject.clone(), c.register(&subject, &schema).await, schema));
    }
    child.kill();

    let server = start_server(config(&evc_registry::StorageUrl::parse(&url).unwrap())).await;
    let c = Client::new(&server.url());
    assert_eq!(c.get("/config").await.ok()["compatibilityLevel"], "NONE");
    for (subject, (id, version), schema) in &acked {
        let v = c
            .get(&format!("/subjects/{subject}/versions/{version}"))
            .await
            .ok();
        assert_eq!(v["id"], *id);
        let found = c
            .post(&format!("/subjects/{subject}"), &json!({"schema": schema}))
            .await
            .ok();
        assert_eq!(found["version"], *version);
    }
    // and it goes on from there
    let (id, _) = c
        .register("s0", &record("After", &[("a", json!("int"))]))
        .await;
    assert_eq!(id, acked.len() as i64 + 1);
    server.stop().await.unwrap();
}

on_both!(stopped_and_reopened_server_keeps_everything);

async fn stopped_and_reopened_server_keeps_everything(b: Backend) {
    let store = Store::new(b);
    let server = start_server(config(&store.url)).await;
    let c = Client::new(&server.url());
    let (id, _) = c.register("s", &user_v1()).await;
    c.register("s", &user_v2()).await;
    c.put("/config/s", &json!({"compatibility": "FULL"}))
        .await
        .ok();
    c.put("/mode/t", &json!({"mode": "READONLY"})).await.ok();
    c.delete("/subjects/s/versions/2").await.ok();
    drop(c);
    server.stop().await.unwrap();

    let server = start_server(config(&store.url)).await;
    let c = Client::new(&server.url());
    assert_eq!(c.get("/subjects/s/versions").await.ok(), json!([1]));
    assert_eq!(
        c.get("/subjects/s/versions?deleted=true").await.ok(),
        json!([1, 2])
    );
    assert_eq!(c.get("/subjects/s/versions/1").await.ok()["id"], id);
    assert_eq!(
        c.get("/config/s").await.ok(),
        json!({"compatibilityLevel": "FULL"})
    );
    assert_eq!(c.get("/mode/t").await.ok(), json!({"mode": "READONLY"}));
    server.stop().await.unwrap();
    store.cleanup().await;
}
