//! Load benchmark of the registry over loopback HTTP, with `wrk` (Debian package `wrk`).
//!
//! Measures, in one run and on the same machine: a bare axum handler answering a fixed schema
//! body (the ceiling for any axum server here), `GET /schemas/ids/{id}`, `POST /subjects/{s}`
//! (look up a schema) and `POST /subjects/{s}/versions` (register an already registered schema,
//! which is what producers with auto-registration do on start). Storage is a SQLite file.
//!
//! Run: `cargo bench -p evc-registry --bench http_load` (set `EVC_BENCH_SECONDS`, default 10).
//! wrk and the server share the machine's cores, so the figures are a floor, not a ceiling.

use std::net::SocketAddr;
use std::process::Command;

use axum::routing::get;

const SCHEMA: &str = r#"{"type":"record","name":"OrderCreated","namespace":"bench","fields":[{"name":"event_id","type":{"type":"string","logicalType":"uuid"}},{"name":"order_id","type":"string"},{"name":"occurred_at","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"customer_id","type":"string"},{"name":"currency","type":"string"}]}"#;

struct Result {
    name: &'static str,
    rps: f64,
    p50: String,
    p99: String,
}

fn wrk(name: &'static str, url: &str, body: Option<&str>, seconds: u64) -> Result {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t",
        "1",
        "-c",
        "32",
        "-d",
        &format!("{seconds}s"),
        "--latency",
    ]);
    if let Some(body) = body {
        let script = dir.path().join("post.lua");
        std::fs::write(
            &script,
            format!(
                "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/vnd.schemaregistry.v1+json\"\nwrk.body = {}\n",
                serde_json::to_string(body).unwrap()
            ),
        )
        .unwrap();
        cmd.arg("-s").arg(&script);
    }
    cmd.arg(url);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run wrk ({e}): install it with `apt-get install wrk`"));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("Non-2xx"),
        "{name}: the server answered errors:\n{text}"
    );
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no `{prefix}` in wrk output:\n{text}"))
    };
    Result {
        name,
        rps: field("Requests/sec:").parse().unwrap(),
        p50: field("50%"),
        p99: field("99%"),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass nothing useful. Ignore args.
    let seconds: u64 = std::env::var("EVC_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let storage = evc_registry::StorageUrl::parse(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .unwrap();
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (server, bare) = rt.block_on(async {
        let server = evc_registry::spawn(evc_registry::ServerConfig::new(any, storage))
            .await
            .unwrap();
        let body = serde_json::json!({ "schema": SCHEMA }).to_string();
        let app = axum::Router::new().route(
            "/schemas/ids/1",
            get(move || {
                let body = body.clone();
                async move {
                    (
                        [("content-type", "application/vnd.schemaregistry.v1+json")],
                        body,
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(any).await.unwrap();
        let bare = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (server, bare)
    });
    let base = server.url();
    let register = serde_json::json!({ "schema": SCHEMA }).to_string();
    let id: u64 = {
        let out = Command::new("curl")
            .args([
                "-s",
                "-X",
                "POST",
                "-H",
                "Content-Type: application/vnd.schemaregistry.v1+json",
                "-d",
                &register,
            ])
            .arg(format!("{base}/subjects/orders-value/versions"))
            .output()
            .expect("curl");
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("register answered JSON");
        v["id"].as_u64().expect("an id")
    };
    let results = [
        wrk(
            "bare axum handler (ceiling)",
            &format!("http://{bare}/schemas/ids/1"),
            None,
            seconds,
        ),
        wrk(
            "GET /schemas/ids/{id}",
            &format!("{base}/schemas/ids/{id}"),
            None,
            seconds,
        ),
        wrk(
            "POST /subjects/{s} (look up)",
            &format!("{base}/subjects/orders-value"),
            Some(&register),
            seconds,
        ),
        wrk(
            "POST /subjects/{s}/versions (re-register)",
            &format!("{base}/subjects/orders-value/versions"),
            Some(&register),
            seconds,
        ),
    ];
    println!("\nregistry load, wrk -t1 -c32 -d{seconds}s on loopback, SQLite storage, 1 server worker thread");
    println!(
        "{:<44} {:>12} {:>10} {:>10} {:>10}",
        "endpoint", "req/s", "p50", "p99", "of ceiling"
    );
    let ceiling = results[0].rps;
    for r in &results {
        println!(
            "{:<44} {:>12.0} {:>10} {:>10} {:>9.0}%",
            r.name,
            r.rps,
            r.p50,
            r.p99,
            100.0 * r.rps / ceiling
        );
    }
    rt.block_on(server.stop()).unwrap();
}
