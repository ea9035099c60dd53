//! Group commit: appends committed together are still judged one by one, in order (expected
//! versions against the stream as the earlier appends of the group left it, event ids new), a
//! rejected append writes nothing, and positions stay gap-free. On SQLite and PostgreSQL.

use std::sync::Arc;

use evc_eventstore::{Append, EventStore, ExpectedVersion, StoreError};

mod common;
use common::{event, sqlite, Pg};

fn append(stream: &str, expected: ExpectedVersion, n: u8) -> Append {
    Append {
        stream: stream.into(),
        expected,
        events: (0..n).map(event).collect(),
    }
}

/// Conflicts and duplicates inside one group.
async fn conflicts_inside_a_group(store: &EventStore) {
    store
        .append("x", ExpectedVersion::NoStream, &[event(9)])
        .await
        .unwrap();
    let stored_id = store.read_stream("x").await.unwrap()[0].event_id;

    let mut dup_of_stored = append("d", ExpectedVersion::Any, 1);
    dup_of_stored.events[0] = {
        let mut e = event(1);
        e.event_id = stored_id;
        e
    };
    let first_a = append("a", ExpectedVersion::NoStream, 2);
    let mut dup_in_group = append("e", ExpectedVersion::Any, 1);
    dup_in_group.events[0].event_id = first_a.events[1].event_id;
    let mut dup_in_itself = append("f", ExpectedVersion::Any, 2);
    dup_in_itself.events[1].event_id = dup_in_itself.events[0].event_id;

    let group = [
        first_a,                                   // ok: a at 2
        append("a", ExpectedVersion::NoStream, 1), // conflict: the first made a exist
        append("a", ExpectedVersion::Exact(2), 1), // ok: sees the first, a at 3
        append("a", ExpectedVersion::Exact(2), 1), // conflict: a is at 3 now
        append("x", ExpectedVersion::Exact(0), 1), // conflict: stored before the group
        append("x", ExpectedVersion::Exact(1), 1), // ok
        dup_in_group,                              // duplicate of an event earlier in the group
        dup_in_itself,                             // duplicate inside the append
        append("b", ExpectedVersion::Any, 3),      // ok
        append("c", ExpectedVersion::NoStream, 0), // ok: checks only, writes nothing
        append("c", ExpectedVersion::Exact(1), 0), // conflict: checks only
    ];
    let answers = store.append_group(&group).await;
    assert_eq!(answers.len(), group.len());
    let summary: Vec<String> = answers
        .iter()
        .map(|a| match a {
            Ok(done) => format!("ok {} {:?}", done.stream_version, done.positions),
            Err(StoreError::Conflict {
                stream,
                expected,
                actual,
            }) => format!("conflict {stream} {expected} {actual}"),
            Err(StoreError::DuplicateEventId { event_id }) => {
                let which = group
                    .iter()
                    .position(|g| g.events.iter().any(|e| e.event_id == *event_id));
                format!("duplicate of append {which:?}")
            }
            Err(e) => format!("error {e}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "ok 2 [2, 3]",
            "conflict a no stream 2",
            "ok 3 [4]",
            "conflict a version 2 3",
            "conflict x version 0 1",
            "ok 2 [5]",
            "duplicate of append Some(0)",
            "duplicate of append Some(7)",
            "ok 3 [6, 7, 8]",
            "ok 0 []",
            "conflict c version 1 0",
        ]
    );
    // a stored event's id fails the group's insert: the group is retried append by append,
    // so the duplicate is named and the others are still written
    let after = [dup_of_stored, append("b", ExpectedVersion::Exact(3), 1)];
    let answers = store.append_group(&after).await;
    assert!(
        matches!(&answers[0], Err(StoreError::DuplicateEventId { event_id }) if *event_id == stored_id),
        "{:?}",
        answers[0]
    );
    assert_eq!(answers[1].as_ref().unwrap().positions, [9]);
    // what was written: positions 1..=9 without gaps, each stream's versions 1..=n
    let all = store.read_all(1, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=9).collect::<Vec<_>>()
    );
    let streams: Vec<(&str, u64)> = all.iter().map(|e| (e.stream.as_str(), e.version)).collect();
    assert_eq!(
        streams,
        [
            ("x", 1),
            ("a", 1),
            ("a", 2),
            ("a", 3),
            ("x", 2),
            ("b", 1),
            ("b", 2),
            ("b", 3),
            ("b", 4)
        ]
    );
    // the accepted appends' events are exactly the ones stored
    assert_eq!(all[1].event_id, group[0].events[0].event_id);
    assert_eq!(all[3].event_id, group[2].events[0].event_id);
    assert_eq!(store.stream_version("d").await.unwrap(), 0);
    assert_eq!(store.stream_version("e").await.unwrap(), 0);
    assert_eq!(store.stream_version("f").await.unwrap(), 0);
}

/// Many writers at once, racing on one stream and appending to their own: every append is
/// answered, exactly one of the racers wins each round, positions are gap-free.
async fn concurrent_groups(store: &EventStore) {
    const WRITERS: usize = 8;
    const ROUNDS: u64 = 10;
    let before = store.group_stats();
    let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                let mut wins = 0;
                for round in 0..ROUNDS {
                    barrier.wait().await;
                    // own stream: always accepted
                    store
                        .append(
                            &format!("own-{w}"),
                            ExpectedVersion::from_version(round),
                            &[event(1)],
                        )
                        .await
                        .unwrap();
                    barrier.wait().await;
                    // the shared stream at `round`: one of the writers wins
                    match store
                        .append("shared", ExpectedVersion::from_version(round), &[event(2)])
                        .await
                    {
                        Ok(done) => {
                            assert_eq!(done.stream_version, round + 1);
                            wins += 1;
                        }
                        Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, round + 1),
                        Err(e) => panic!("{e}"),
                    }
                }
                wins
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += t.await.unwrap();
    }
    assert_eq!(wins, ROUNDS);
    // every append went through a group, and writers released together shared groups
    let stats = store.group_stats();
    let appends = stats.appends - before.appends;
    assert_eq!(appends, 2 * WRITERS as u64 * ROUNDS, "{stats:?}");
    assert!(stats.groups - before.groups < appends, "{stats:?}");
    let all = store.read_all(1, 10_000).await.unwrap();
    let n = WRITERS as u64 * ROUNDS + ROUNDS;
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>()
    );
    for w in 0..WRITERS {
        let versions: Vec<u64> = all
            .iter()
            .filter(|e| e.stream == format!("own-{w}"))
            .map(|e| e.version)
            .collect();
        assert_eq!(versions, (1..=ROUNDS).collect::<Vec<_>>());
    }
}

/// A group over more streams than one version query holds (200): every stream's version is
/// read, whichever query it falls in, and streams of different lengths keep their own.
async fn many_streams_in_a_group(store: &EventStore) {
    const STREAMS: usize = 450;
    // stream i gets 1 + i % 3 events
    let first: Vec<Append> = (0..STREAMS)
        .map(|i| {
            append(
                &format!("m-{i}"),
                ExpectedVersion::NoStream,
                1 + (i % 3) as u8,
            )
        })
        .collect();
    let answers = store.append_group(&first).await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    // every append expects what the first group left; every fifth expects one too few
    let second: Vec<Append> = (0..STREAMS)
        .map(|i| {
            let at = 1 + (i % 3) as u64;
            let expected = if i % 5 == 0 { at - 1 } else { at };
            append(
                &format!("m-{i}"),
                ExpectedVersion::from_version(expected),
                1,
            )
        })
        .collect();
    let answers = store.append_group(&second).await;
    for (i, answer) in answers.iter().enumerate() {
        let at = 1 + (i % 3) as u64;
        match answer {
            Ok(done) => {
                assert_ne!(i % 5, 0, "stream {i} should conflict");
                assert_eq!(done.stream_version, at + 1, "stream {i}");
            }
            Err(StoreError::Conflict { actual, .. }) => {
                assert_eq!(i % 5, 0, "stream {i} should be accepted");
                assert_eq!(*actual, at, "stream {i}");
            }
            Err(e) => panic!("stream {i}: {e}"),
        }
    }
    assert_eq!(store.stream_version("m-449").await.unwrap(), 4);
    assert_eq!(store.stream_version("m-450").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_many_streams_in_a_group() {
    let (_dir, store) = sqlite().await;
    many_streams_in_a_group(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_many_streams_in_a_group() {
    let pg = Pg::new().await;
    many_streams_in_a_group(&pg.store).await;
    pg.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_conflicts_inside_a_group() {
    let (_dir, store) = sqlite().await;
    conflicts_inside_a_group(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_groups() {
    let (_dir, store) = sqlite().await;
    assert!(store.group_commit(), "group commit is the default");
    concurrent_groups(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_conflicts_inside_a_group() {
    let pg = Pg::new().await;
    conflicts_inside_a_group(&pg.store).await;
    pg.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_groups() {
    let pg = Pg::new().await;
    concurrent_groups(&pg.store).await;
    pg.drop().await;
}
