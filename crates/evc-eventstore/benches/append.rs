//! Appends per second with 8 concurrent writers, each appending one event at a time to its own
//! stream with its expected version: group commit (the default) beside one transaction per
//! append (`with_group_commit(false)`, the baseline), on SQLite (a file: WAL,
//! `synchronous=FULL`) and PostgreSQL, in one run.
//!
//! `cargo bench -p evc-eventstore --bench append` (PostgreSQL at `EVC_TEST_POSTGRES_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`; `EVC_BENCH_APPENDS` appends per writer,
//! default 400, 200 with `EVC_BENCH_QUICK`). Prints a table with the mean group size and one
//! `evc-bench` line per figure for `cargo xtask bench`.

use std::time::Instant;

use evc_avro::chrono::{DateTime, Utc};
use evc_avro::uuid::Uuid;
use evc_eventstore::{EventStore, ExpectedVersion, NewEvent};
use evc_storage::testing::PgTestSchema;

const WRITERS: usize = 8;

fn event(writer: usize, n: u64) -> NewEvent {
    let at = DateTime::<Utc>::from_timestamp_micros(1_700_000_000_000_000 + n as i64).unwrap();
    NewEvent::new(
        Uuid::new_v4(),
        "com.acme.orders.ItemAdded",
        at,
        // a framed body the size of an order event
        evc_wire::frame(7, &[writer as u8; 120]),
    )
    .unwrap()
    .with_partition_key(format!("order-{writer}"))
}

/// Appends per second: `WRITERS` tasks, `per_writer` appends each.
async fn measure(store: &EventStore, per_writer: u64, tag: &str) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            let stream = format!("{tag}-{w}");
            tokio::spawn(async move {
                for v in 0..per_writer {
                    store
                        .append(&stream, ExpectedVersion::from_version(v), &[event(w, v)])
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer");
    }
    (WRITERS as u64 * per_writer) as f64 / start.elapsed().as_secs_f64()
}

/// Baseline and group commit on one store, alternating (best of two each), so both see the
/// same machine load.
async fn compare(name: &str, store: EventStore, per_writer: u64) {
    let single = store.clone().with_group_commit(false);
    let grouped = store.with_group_commit(true);
    measure(&grouped, per_writer / 10 + 1, "warm").await;
    let (mut base, mut group) = (0f64, 0f64);
    let before = grouped.group_stats();
    for round in 0..2 {
        base = base.max(measure(&single, per_writer, &format!("single{round}")).await);
        group = group.max(measure(&grouped, per_writer, &format!("group{round}")).await);
    }
    let after = grouped.group_stats();
    let mean = (after.appends - before.appends) as f64 / (after.groups - before.groups) as f64;
    println!(
        "{name:<11} {WRITERS} writers: per-append {base:>8.0} appends/s   group commit {group:>8.0} appends/s   {:.1}x   (mean group {mean:.1})",
        group / base
    );
    println!(
        "evc-bench\tevent store appends/s, 8 writers, {name}\t{group:.0}\t{base:.0}\tappends/s\t>=5"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let per_writer: u64 = std::env::var("EVC_BENCH_APPENDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if std::env::var_os("EVC_BENCH_QUICK").is_some() {
            200
        } else {
            400
        });

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = EventStore::open_sqlite(dir.path().join("events.db"))
        .await
        .expect("sqlite store");
    compare("SQLite", sqlite, per_writer).await;

    let schema = PgTestSchema::create("evc_es_bench").await;
    let pg = EventStore::with_database(schema.database().await)
        .await
        .expect("postgres store");
    compare("PostgreSQL", pg.clone(), per_writer).await;
    pg.database().close().await;
    schema.drop_schema().await;
}
