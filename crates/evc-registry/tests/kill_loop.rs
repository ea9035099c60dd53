//! The registry under a kill -9 loop: several clients register schemas while the server
//! process is killed (SIGKILL) and restarted again and again, on SQLite (one server on a file)
//! and on PostgreSQL (two servers on one schema, killed one at a time). Afterwards every
//! acknowledged registration resolves to its schema by id and by subject version, no id was
//! given to two schemas, and every subject's versions run 1..=n without gaps.
//!
//! Fixed seeds drive where the kills land (the pause before each kill) and what the clients
//! register. The short profile runs in the normal test suite; `EVC_KILL_LOOP_KILLS=N` (kills
//! per backend, default 8) runs a longer one. PostgreSQL is `EVC_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); the test fails when it does not answer.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use evc_storage::testing::PgTestSchema;
use serde_json::{json, Value};

const LISTENING: &str = "EVC_REGISTRY_LISTENING ";
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
const CLIENTS: u64 = 4;

/// splitmix64: a seeded, dependency-free source of pauses and choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A server process (`evc-registryd`); SIGKILLed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(storage: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_evc-registryd"))
            .args(["--storage", storage, "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start evc-registryd");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find(LISTENING) {
                    let _ = tx.send(line[at + LISTENING.len()..].trim().to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => Server {
                child,
                url: format!("http://{addr}"),
            },
            Err(_) => {
                let _ = child.kill();
                panic!("evc-registryd did not start on {storage}");
            }
        }
    }

    /// SIGKILL: no shutdown, no flush, whatever was in flight is cut.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a client was told: `subject` holds `schema` as `version`, with `id`.
#[derive(Debug, Clone)]
struct Ack {
    subject: String,
    schema: String,
    id: i64,
    version: i64,
}

#[derive(Default)]
struct Figures {
    attempts: AtomicU64,
    failures: AtomicU64,
}

fn schema_text(client: u64, n: u64) -> String {
    json!({
        "type": "record",
        "name": format!("C{client}N{n}"),
        "namespace": "com.acme.killloop",
        "fields": [{"name": "f", "type": "long"}, {"name": format!("g{n}"), "type": "string"}]
    })
    .to_string()
}

async fn register(
    http: &reqwest::Client,
    url: &str,
    subject: &str,
    schema: &str,
) -> Result<(i64, i64), String> {
    let resp = http
        .post(format!("{url}/subjects/{subject}/versions"))
        .header("content-type", CONTENT_TYPE)
        .body(json!({ "schema": schema }).to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {body}"));
    }
    let id = body["id"].as_i64().ok_or("no id")?;
    let version = body["version"].as_i64().ok_or("no version")?;
    Ok((id, version))
}

/// One client: registers its own schemas, into its own subject and a shared one, one after
/// the other, each retried (on whichever server is up) until acknowledged.
async fn client(
    n: u64,
    seed: u64,
    urls: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    acks: Arc<Mutex<Vec<Ack>>>,
    figures: Arc<Figures>,
) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let mut rng = Rng(seed ^ n.wrapping_mul(0x1234_5678_9ABC_DEF1));
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let subject = if rng.below(3) == 0 {
            "shared".to_string()
        } else {
            format!("client-{n}")
        };
        let schema = schema_text(n, i);
        i += 1;
        loop {
            let url = {
                let urls = urls.lock().unwrap();
                urls[rng.below(urls.len() as u64) as usize].clone()
            };
            figures.attempts.fetch_add(1, Ordering::Relaxed);
            match register(&http, &url, &subject, &schema).await {
                Ok((id, version)) => {
                    acks.lock().unwrap().push(Ack {
                        subject,
                        schema,
                        id,
                        version,
                    });
                    break;
                }
                Err(_) => {
                    figures.failures.fetch_add(1, Ordering::Relaxed);
                    if stop.load(Ordering::Relaxed) {
                        // Not acknowledged: it may or may not be there, both are allowed.
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }
}

fn kills() -> u64 {
    std::env::var("EVC_KILL_LOOP_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

/// Runs the loop on `storage` with `servers` server processes, then checks the history.
async fn kill_loop(storage: &str, servers: usize, seed: u64) {
    let mut running: Vec<Server> = (0..servers).map(|_| Server::start(storage)).collect();
    let http = reqwest::Client::new();
    let put = http
        .put(format!("{}/config", running[0].url))
        .header("content-type", CONTENT_TYPE)
        .body(r#"{"compatibility":"NONE"}"#)
        .send()
        .await
        .expect("PUT /config");
    assert!(put.status().is_success());

    let urls = Arc::new(Mutex::new(
        running.iter().map(|s| s.url.clone()).collect::<Vec<_>>(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(Mutex::new(Vec::new()));
    let figures = Arc::new(Figures::default());
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|n| {
            tokio::spawn(client(
                n,
                seed,
                urls.clone(),
                stop.clone(),
                acks.clone(),
                figures.clone(),
            ))
        })
        .collect();

    let mut rng = Rng(seed);
    let rounds = kills();
    for _ in 0..rounds {
        // The pause decides where in the clients' traffic the kill lands.
        tokio::time::sleep(Duration::from_millis(20 + rng.below(300))).await;
        let victim = rng.below(servers as u64) as usize;
        let old = running.remove(victim);
        old.kill();
        // On PostgreSQL the other server keeps serving while this one is down.
        tokio::time::sleep(Duration::from_millis(rng.below(100))).await;
        let fresh = Server::start(storage);
        urls.lock().unwrap()[victim] = fresh.url.clone();
        running.insert(victim, fresh);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("a client task");
    }

    // Check through every server of the last generation, and through a fresh one.
    running.push(Server::start(storage));
    let acks = acks.lock().unwrap().clone();
    assert!(
        acks.len() as u64 >= CLIENTS,
        "the clients got almost nothing acknowledged ({} acks): the loop is not exercising anything",
        acks.len()
    );
    for server in &running {
        check_history(&http, &server.url, &acks).await;
    }
    eprintln!(
        "kill loop on {storage} ({servers} server(s)): {rounds} SIGKILLs, {} acknowledged registrations, {} attempts, {} failed attempts, all acknowledged ids resolved, no id reused, versions gap-free",
        acks.len(),
        figures.attempts.load(Ordering::Relaxed),
        figures.failures.load(Ordering::Relaxed),
    );
}

async fn get(http: &reqwest::Client, url: &str) -> Value {
    let resp = http.get(url).send().await.expect("GET");
    assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
    resp.json().await.expect("a JSON answer")
}

async fn check_history(http: &reqwest::Client, url: &str, acks: &[Ack]) {
    // No id given to two schemas, no schema given two ids.
    let mut by_id: BTreeMap<i64, &str> = BTreeMap::new();
    let mut by_schema: BTreeMap<&str, i64> = BTreeMap::new();
    for a in acks {
        if let Some(other) = by_id.insert(a.id, &a.schema) {
            assert_eq!(other, a.schema, "id {} acknowledged for two schemas", a.id);
        }
        if let Some(other) = by_schema.insert(&a.schema, a.id) {
            assert_eq!(other, a.id, "one schema acknowledged with two ids");
        }
    }
    // Every acknowledged id resolves to its schema; every acknowledged version is there.
    for a in acks {
        let by_id = get(http, &format!("{url}/schemas/ids/{}", a.id)).await;
        let stored: Value = serde_json::from_str(by_id["schema"].as_str().expect("a schema"))
            .expect("the stored schema is JSON");
        let sent: Value = serde_json::from_str(&a.schema).unwrap();
        assert_eq!(stored, sent, "id {} resolves to another schema", a.id);
        let v = get(
            http,
            &format!("{url}/subjects/{}/versions/{}", a.subject, a.version),
        )
        .await;
        assert_eq!(
            v["id"], a.id,
            "{} version {} lost its schema",
            a.subject, a.version
        );
    }
    // Versions without gaps, and ids unique across everything the registry holds (what was
    // registered but never acknowledged included).
    let subjects = get(http, &format!("{url}/subjects")).await;
    let mut all_ids: BTreeMap<i64, String> = BTreeMap::new();
    for s in subjects.as_array().expect("a list of subjects") {
        let s = s.as_str().expect("a subject name");
        let versions = get(http, &format!("{url}/subjects/{s}/versions")).await;
        let versions: Vec<i64> = versions
            .as_array()
            .expect("a list of versions")
            .iter()
            .map(|v| v.as_i64().expect("a version number"))
            .collect();
        let expected: Vec<i64> = (1..=versions.len() as i64).collect();
        assert_eq!(versions, expected, "subject {s} has gaps in its versions");
        let mut seen = BTreeSet::new();
        for v in versions {
            let sv = get(http, &format!("{url}/subjects/{s}/versions/{v}")).await;
            let id = sv["id"].as_i64().expect("an id");
            let schema = sv["schema"].as_str().expect("a schema").to_string();
            assert!(seen.insert(id), "subject {s} holds id {id} twice");
            if let Some(other) = all_ids.insert(id, schema.clone()) {
                assert_eq!(other, schema, "id {id} names two schemas");
            }
        }
    }
    for a in acks {
        assert!(
            all_ids.contains_key(&a.id),
            "acknowledged id {} is not listed",
            a.id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_registry_survives_a_kill_loop() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("sqlite://{}", dir.path().join("registry.db").display());
    kill_loop(&storage, 1, 0x5EED_0001).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_registry_with_two_servers_survives_a_kill_loop() {
    let schema = PgTestSchema::create("evc_kill_loop").await;
    kill_loop(&schema.url, 2, 0x5EED_0002).await;
    schema.drop_schema().await;
}
