//! The event store on SQLite (a temp file) and PostgreSQL (`EVC_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; each test in its own schema, dropped after).

use std::sync::Arc;

use evc_avro::chrono::Utc;
use evc_avro::uuid::Uuid;
use evc_eventstore::{EventStore, ExpectedVersion, NewEvent, StoreError};
use evc_telemetry::TraceContext;

mod common;
use common::{event, sqlite, Pg};

async fn append_and_read(store: &EventStore) {
    let a = [event(1), event(2)];
    let done = store
        .append("a", ExpectedVersion::NoStream, &a)
        .await
        .unwrap();
    assert_eq!(done.stream_version, 2);
    assert_eq!(done.positions, vec![1, 2]);
    let b = [event(3).with_partition_key("key-of-b")];
    assert_eq!(
        store
            .append("b", ExpectedVersion::Any, &b)
            .await
            .unwrap()
            .positions,
        vec![3]
    );
    let a2 = [event(4)];
    assert_eq!(
        store
            .append("a", ExpectedVersion::Exact(2), &a2)
            .await
            .unwrap()
            .stream_version,
        3
    );

    // the partition key is stored and read back; without one the stream id is the key
    let b = store.read_stream("b").await.unwrap();
    assert_eq!(b[0].partition_key.as_deref(), Some("key-of-b"));
    assert_eq!(b[0].key(), "key-of-b");

    let stream = store.read_stream("a").await.unwrap();
    assert_eq!(stream[0].partition_key, None);
    assert_eq!(stream[0].key(), "a");
    assert_eq!(
        stream.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        stream.iter().map(|e| e.position).collect::<Vec<_>>(),
        [1, 2, 4]
    );
    for (got, sent) in stream.iter().zip(a.iter().chain(&a2)) {
        assert_eq!(
            (
                got.event_id,
                &got.event_type,
                got.schema_id,
                got.occurred_at,
                &got.payload
            ),
            (
                sent.event_id,
                &sent.event_type,
                sent.schema_id,
                sent.occurred_at,
                &sent.payload
            )
        );
    }
    assert!(store.read_stream("none").await.unwrap().is_empty());
    assert_eq!(store.stream_version("none").await.unwrap(), 0);

    let all = store.read_all(1, 100).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|e| (e.position, e.stream.as_str(), e.version))
            .collect::<Vec<_>>(),
        [(1, "a", 1), (2, "a", 2), (3, "b", 1), (4, "a", 3)]
    );
    let page = store.read_all(2, 2).await.unwrap();
    assert_eq!(page.iter().map(|e| e.position).collect::<Vec<_>>(), [2, 3]);
    assert!(store.read_all(5, 10).await.unwrap().is_empty());
    assert_eq!(store.last_position().await.unwrap(), 4);

    // wrong expectations write nothing
    let err = store
        .append("a", ExpectedVersion::Exact(2), &[event(5)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { ref stream, expected: ExpectedVersion::Exact(2), actual: 3 } if stream == "a"),
        "{err}"
    );
    let err = store
        .append("b", ExpectedVersion::NoStream, &[event(5)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { actual: 1, .. }),
        "{err}"
    );
    // a duplicate event id rolls back the whole batch
    let dup = a[0].clone();
    let err = store
        .append("c", ExpectedVersion::NoStream, &[event(6), dup.clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateEventId { event_id } if event_id == dup.event_id),
        "{err}"
    );
    assert_eq!(store.stream_version("c").await.unwrap(), 0);
    assert_eq!(store.last_position().await.unwrap(), 4);
    // positions stay gap-free after the failures
    assert_eq!(
        store
            .append("c", ExpectedVersion::NoStream, &[event(7)])
            .await
            .unwrap()
            .positions,
        vec![5]
    );
    // the trace context of the appending span is stored and read back, through a plain
    // append and a group; made outside any span, an event has none
    assert_eq!(b[0].trace, None);
    let trace = TraceContext::parse(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        Some("vendor=x"),
    )
    .unwrap();
    let traced = [event(5).with_trace(Some(trace.clone()))];
    store
        .append("t", ExpectedVersion::NoStream, &traced)
        .await
        .unwrap();
    let grouped = store
        .append_group(&[evc_eventstore::Append {
            stream: "t".into(),
            expected: ExpectedVersion::Exact(1),
            events: vec![event(6).with_trace(Some(trace.clone()))],
        }])
        .await;
    assert!(grouped[0].is_ok(), "{grouped:?}");
    let t = store.read_stream("t").await.unwrap();
    assert_eq!(t.len(), 2);
    assert!(t.iter().all(|e| e.trace.as_ref() == Some(&trace)), "{t:?}");
    assert_eq!(t[0].trace.as_ref().unwrap().tracestate(), Some("vendor=x"));
}

/// `writers` tasks append to one stream expecting the same version: exactly one wins, the
/// others get a conflict naming the winner's version, and a retry with it succeeds.
async fn race(store: &EventStore, writers: usize) {
    store
        .append("s", ExpectedVersion::NoStream, &[event(0)])
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(writers));
    let tasks: Vec<_> = (0..writers)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .append(
                        "s",
                        ExpectedVersion::Exact(1),
                        &[event(i as u8 + 1), event(i as u8 + 100)],
                    )
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    let mut conflicts = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(done) => {
                wins += 1;
                assert_eq!(done.stream_version, 3);
            }
            Err(StoreError::Conflict {
                stream,
                expected,
                actual,
            }) => {
                conflicts += 1;
                assert_eq!(
                    (stream.as_str(), expected, actual),
                    ("s", ExpectedVersion::Exact(1), 3)
                );
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((wins, conflicts), (1, writers - 1));
    // the loser retries with the version it was told
    store
        .append("s", ExpectedVersion::Exact(3), &[event(200)])
        .await
        .unwrap();
    let versions: Vec<_> = store
        .read_stream("s")
        .await
        .unwrap()
        .iter()
        .map(|e| e.version)
        .collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    let positions: Vec<_> = store
        .read_all(1, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(positions, [1, 2, 3, 4]);
}

/// Many streams appended concurrently: positions are exactly 1..=n, each stream's versions
/// are 1..=k in position order.
async fn concurrent_streams(store: &EventStore) {
    let tasks: Vec<_> = (0..6)
        .map(|s| {
            let store = store.clone();
            tokio::spawn(async move {
                for v in 0..5u64 {
                    store
                        .append(
                            &format!("s{s}"),
                            ExpectedVersion::from_version(v),
                            &[event(v as u8)],
                        )
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let all = store.read_all(1, 1000).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=30).collect::<Vec<_>>()
    );
    for s in 0..6 {
        let versions: Vec<_> = all
            .iter()
            .filter(|e| e.stream == format!("s{s}"))
            .map(|e| e.version)
            .collect();
        assert_eq!(versions, [1, 2, 3, 4, 5]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_append_and_read() {
    let (_dir, store) = sqlite().await;
    append_and_read(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory_append_and_read() {
    append_and_read(&EventStore::sqlite_in_memory().await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_writers_one_wins() {
    let (_dir, store) = sqlite().await;
    race(&store, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_eight_writers_one_wins() {
    let (_dir, store) = sqlite().await;
    race(&store, 8).await;
}

/// Two stores (two pools, as two processes would) on one file: SQLite's write lock decides.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_pools_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let one = EventStore::open_sqlite(&path).await.unwrap();
    let two = EventStore::open_sqlite(&path).await.unwrap();
    one.append("s", ExpectedVersion::NoStream, &[event(0)])
        .await
        .unwrap();
    let (e1, e2) = ([event(1)], [event(2)]);
    let (a, b) = tokio::join!(
        one.append("s", ExpectedVersion::Exact(1), &e1),
        two.append("s", ExpectedVersion::Exact(1), &e2),
    );
    assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
    let err = a.err().or(b.err()).unwrap();
    assert!(
        matches!(err, StoreError::Conflict { actual: 2, .. }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_streams_gap_free() {
    let (_dir, store) = sqlite().await;
    concurrent_streams(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_append_and_read() {
    let pg = Pg::new().await;
    append_and_read(&pg.store).await;
    pg.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_writers_one_wins() {
    let pg = Pg::new().await;
    race(&pg.store, 2).await;
    pg.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_eight_writers_one_wins() {
    let pg = Pg::new().await;
    race(&pg.store, 8).await;
    pg.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_streams_gap_free() {
    let pg = Pg::new().await;
    concurrent_streams(&pg.store).await;
    pg.drop().await;
}

#[tokio::test]
async fn unframed_payload_is_refused() {
    let id = Uuid::new_v4();
    let err = NewEvent::new(id, "x", Utc::now(), vec![1, 2]).unwrap_err();
    assert!(
        matches!(err, StoreError::NotFramed { event_id, .. } if event_id == id),
        "{err}"
    );
}

/// The per-append path (group commit off) keeps the same guarantees.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_without_group_commit() {
    let (_dir, store) = sqlite().await;
    let store = store.with_group_commit(false);
    assert!(!store.group_commit());
    race(&store, 8).await;
    assert_eq!(
        store.group_stats(),
        Default::default(),
        "no group without group commit"
    );
    let (_dir, store) = sqlite().await;
    concurrent_streams(&store.with_group_commit(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_without_group_commit() {
    let pg = Pg::new().await;
    race(&pg.store.clone().with_group_commit(false), 8).await;
    pg.drop().await;
    let pg = Pg::new().await;
    concurrent_streams(&pg.store.clone().with_group_commit(false)).await;
    pg.drop().await;
}
