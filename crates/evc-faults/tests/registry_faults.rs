//! The registry behind the fault proxy: clients register schemas through delays, refused
//! connections, resets at random points and whole-partition resets, on SQLite. Afterwards, with
//! the faults off, every acknowledged registration resolves to its schema by id and by
//! look-up, and no id names two schemas. A registration that failed may or may not have been
//! stored (its answer can be lost after the commit); registering it again must then answer the
//! same id, not a new one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use evc_faults::{FaultProxy, Faults, Rng};
use evc_registry::{ServerConfig, StorageUrl};
use evc_registry_client::{RegistryClient, RetryPolicy};
use serde_json::json;

const CLIENTS: u64 = 3;
const PER_CLIENT: u64 = 40;

fn schema(client: u64, n: u64) -> String {
    json!({
        "type": "record",
        "name": format!("C{client}N{n}"),
        "namespace": "com.acme.faults",
        "fields": [{"name": "f", "type": "long"}]
    })
    .to_string()
}

fn client(addr: SocketAddr) -> RegistryClient {
    RegistryClient::builder(&format!("http://{addr}"))
        .retry(RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
        })
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_registrations_survive_network_faults() {
    let dir = tempfile::tempdir().unwrap();
    let storage = StorageUrl::Sqlite(dir.path().join("registry.db"));
    let server = evc_registry::spawn(ServerConfig::new(([127, 0, 0, 1], 0).into(), storage))
        .await
        .expect("the registry starts");
    let proxy = FaultProxy::start(server.addr(), 0xFA_0001).await.unwrap();
    // Every client's schemas are unrelated records: no compatibility between them.
    let setup = client(proxy.addr());
    for s in 0..4 {
        setup
            .set_compatibility_level(&format!("subject-{s}"), "NONE")
            .await
            .expect("PUT /config");
    }
    proxy.set_faults(Faults {
        refuse: 0.05,
        delay: 0.3,
        delay_ms: (1, 15),
        reset: 0.05,
    });

    let tasks: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let addr = proxy.addr();
            tokio::spawn(async move {
                let reg = client(addr);
                let mut acked = Vec::new();
                let mut failed = Vec::new();
                for n in 0..PER_CLIENT {
                    let subject = format!("subject-{}", n % 4);
                    let text = schema(c, n);
                    match reg.register(&subject, &text).await {
                        Ok(r) => acked.push((subject, text, r.id, r.version)),
                        Err(e) => {
                            eprintln!("register failed: {e}");
                            failed.push((subject, text))
                        }
                    }
                }
                (acked, failed)
            })
        })
        .collect();
    // Partitions: every open connection cut, a few times while the clients work.
    let mut rng = Rng::new(0xFA_0002);
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(rng.between(20, 120))).await;
        proxy.reset_all();
    }
    let mut acked = Vec::new();
    let mut failed = Vec::new();
    for t in tasks {
        let (a, f) = t.await.expect("a client task");
        acked.extend(a);
        failed.extend(f);
    }
    let stats = proxy.stats();
    proxy.set_faults(Faults::NONE);

    assert!(
        acked.len() as u64 > CLIENTS * PER_CLIENT / 2,
        "too few registrations got through ({} of {}): the faults are too heavy to test anything",
        acked.len(),
        CLIENTS * PER_CLIENT
    );
    assert!(stats.resets > 0 && stats.delayed > 0, "{stats:?}");

    let reg = client(proxy.addr());
    let mut by_id: BTreeMap<u32, String> = BTreeMap::new();
    for (subject, text, id, version) in &acked {
        if let Some(other) = by_id.insert(*id, text.clone()) {
            panic!("id {id} acknowledged for two schemas:\n{other}\n{text}");
        }
        let stored = reg
            .schema_by_id(*id)
            .await
            .expect("an acknowledged id resolves");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&stored.schema).unwrap(),
            serde_json::from_str::<serde_json::Value>(text).unwrap(),
            "id {id} resolves to another schema"
        );
        let found = reg.lookup(subject, text).await.expect("found by look-up");
        assert_eq!((found.id, found.version), (*id, *version));
    }
    // What failed is either absent or there under one id: registering again never makes a
    // second id for it.
    for (subject, text) in &failed {
        let r = reg
            .register(subject, text)
            .await
            .expect("registers without faults");
        if let Some(other) = by_id.insert(r.id, text.clone()) {
            assert_eq!(&other, text, "id {} reused", r.id);
        }
    }
    // Versions without gaps.
    for s in 0..4 {
        let versions = reg.versions(&format!("subject-{s}")).await.unwrap();
        let expected: Vec<u32> = (1..=versions.len() as u32).collect();
        assert_eq!(versions, expected);
    }
    eprintln!(
        "registry behind the fault proxy: {} acknowledged, {} failed then re-registered; proxy {stats:?}",
        acked.len(),
        failed.len()
    );
    drop(proxy);
    server.stop().await.unwrap();
}
