//! The conformance suite on Redis Streams (127.0.0.1:6379, or `EVC_TEST_REDIS_URL`).

use evc_transport::conformance::Harness;
use evc_transport::redis::{RedisOptions, RedisTransport};

struct Redis;

fn url() -> String {
    std::env::var("EVC_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

impl Harness for Redis {
    type Transport = RedisTransport;

    async fn connect(&self) -> RedisTransport {
        RedisTransport::connect(RedisOptions::new(url()))
            .await
            .unwrap_or_else(|e| panic!("Redis must be running for these tests: {e}"))
    }
}

evc_transport::conformance_tests!(Redis);

/// A member that takes over a dead member's shards claims its pending entries and removes the
/// dead member's name from the shards' consumer lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_takeover_claims_and_removes_the_dead_member() {
    use evc_transport::{Outgoing, Subscription, Transport};
    use std::time::Duration;

    let t = Redis.connect().await;
    let topic = evc_transport::conformance::unique("reap");
    let group = format!("{topic}-g");
    t.declare_topic(&topic, 1).await.unwrap();
    t.declare_group(&topic, &group).await.unwrap();
    t.publish(&topic, Outgoing::new("k", vec![0, 0, 0, 0, 1]))
        .await
        .unwrap();
    let options = Redis.options(&group);
    let mut dead = t.subscribe(&topic, options.clone()).await.unwrap();
    let held = dead.next().await.unwrap();
    let dead_name = dead.member().to_string();
    drop(dead);
    let mut survivor = t.subscribe(&topic, options).await.unwrap();
    let again = tokio::time::timeout(Duration::from_secs(30), survivor.next())
        .await
        .expect("taken over within 30 s")
        .unwrap();
    assert_eq!(again.position, held.position);
    assert_eq!(again.delivery_count, 2);
    survivor.ack(&again).await.unwrap();
    let client = redis::Client::open(url().as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: redis::Value = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(format!("{topic}:0"))
        .arg(&group)
        .query_async(&mut conn)
        .await
        .unwrap();
    let listed = format!("{info:?}");
    assert!(
        !listed.contains(&dead_name),
        "{dead_name} still listed: {listed}"
    );
    assert!(listed.contains(survivor.member()), "{listed}");
    survivor.close().await.unwrap();
    t.delete_group(&topic, &group).await.unwrap();
    t.delete_topic(&topic).await.unwrap();
}

/// Retention trims the shard streams: by length (`MAXLEN ~`) or by age (`MINID ~`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_trims_by_length_and_by_age() {
    use evc_transport::redis::Retention;
    use evc_transport::{Outgoing, Transport};
    use std::time::Duration;

    let client = redis::Client::open(url().as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for retention in [
        Retention::MaxLen(100),
        Retention::MaxAge(Duration::from_millis(200)),
    ] {
        let t = RedisTransport::connect(RedisOptions::new(url()).retention(retention))
            .await
            .unwrap();
        let topic = evc_transport::conformance::unique("retention");
        t.declare_topic(&topic, 1).await.unwrap();
        let batch = |n: usize| {
            (0..n)
                .map(|i| Outgoing::new("k", vec![0, 0, 0, 0, 1, i as u8]))
                .collect()
        };
        t.publish_batch(&topic, batch(1000)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        t.publish_batch(&topic, batch(10)).await.unwrap();
        let len: u64 = redis::cmd("XLEN")
            .arg(format!("{topic}:0"))
            .query_async(&mut conn)
            .await
            .unwrap();
        // `~` trims whole nodes of the stream (100 entries each by default).
        assert!(
            (10..1010).contains(&len),
            "{retention:?}: {len} entries left of 1010"
        );
        if let Retention::MaxLen(max) = retention {
            assert!(len <= max + 100, "{retention:?}: {len}");
        }
        t.delete_topic(&topic).await.unwrap();
    }
}

/// A member that read a shard after its lease had lapsed (a stale owner that has not learnt
/// yet) leaves entries pending under its name: the shard's owner claims them and hands them
/// out in id order ahead of newer entries, so none is stranded and the key's order holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_a_stale_owner_read_are_claimed_in_order() {
    use evc_transport::{Outgoing, Subscription, Transport};
    use std::time::Duration;

    let t = Redis.connect().await;
    let topic = evc_transport::conformance::unique("stale");
    let group = format!("{topic}-g");
    t.declare_topic(&topic, 1).await.unwrap();
    t.declare_group(&topic, &group).await.unwrap();
    let publish = |i: u8| {
        let t = &t;
        let topic = &topic;
        async move {
            t.publish(topic, Outgoing::new("k", vec![0, 0, 0, 0, 1, i]))
                .await
                .unwrap()
                .position
                .unwrap()
        }
    };
    let mut owner = t.subscribe(&topic, Redis.options(&group)).await.unwrap();
    let first = publish(1).await;
    let d = owner.next().await.unwrap();
    assert_eq!(d.position, first);
    owner.ack(&d).await.unwrap();
    let mut ids = Vec::new();
    for i in 2..=4 {
        ids.push(publish(i).await);
    }
    // The stale owner reads two entries after the owner took the shard.
    let client = redis::Client::open(url().as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(&group)
        .arg("stale-member")
        .arg("COUNT")
        .arg(2)
        .arg("STREAMS")
        .arg(format!("{topic}:0"))
        .arg(">")
        .query_async(&mut conn)
        .await
        .unwrap();
    for (n, id) in ids.iter().enumerate() {
        let d = tokio::time::timeout(Duration::from_secs(30), owner.next())
            .await
            .expect("delivered within 30 s")
            .unwrap();
        assert_eq!(&d.position, id, "entry {n} out of order");
        assert_eq!(d.payload.last(), Some(&(n as u8 + 2)));
        assert_eq!(d.delivery_count, if n < 2 { 2 } else { 1 }, "entry {n}");
        owner.ack(&d).await.unwrap();
    }
    let pending: (u64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(format!("{topic}:0"))
        .arg(&group)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(pending.0, 0, "every entry acked");
    owner.close().await.unwrap();
    t.delete_group(&topic, &group).await.unwrap();
    t.delete_topic(&topic).await.unwrap();
}

/// A live member whose lease lapses (its heartbeat stalls) and whose shard another member
/// took fences itself off: it reads nothing more of the shard, and the new owner delivers
/// what is published afterwards, once, and every entry ends acked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_lease_lapsed_stops_reading_the_shard() {
    use evc_transport::{Outgoing, SubscribeOptions, Subscription, Transport};
    use std::time::Duration;

    let t = Redis.connect().await;
    let topic = evc_transport::conformance::unique("fence");
    let group = format!("{topic}-g");
    t.declare_topic(&topic, 1).await.unwrap();
    t.declare_group(&topic, &group).await.unwrap();
    let options = SubscribeOptions::new(&group).takeover_after(Duration::from_millis(300));
    let mut stalled = t.subscribe(&topic, options.clone()).await.unwrap();
    t.publish(&topic, Outgoing::new("k", vec![0, 0, 0, 0, 1, 1]))
        .await
        .unwrap();
    let d = stalled.next().await.unwrap();
    stalled.ack(&d).await.unwrap();
    stalled.stall_heartbeat();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut owner = t.subscribe(&topic, options).await.unwrap();
    assert_eq!(owner.owned_shards(), [0], "the lapsed lease was taken");
    let later = t
        .publish(&topic, Outgoing::new("k", vec![0, 0, 0, 0, 1, 2]))
        .await
        .unwrap()
        .position
        .unwrap();
    let read = tokio::time::timeout(Duration::from_millis(1500), stalled.next()).await;
    assert!(read.is_err(), "the fenced member delivered {read:?}");
    assert!(stalled.owned_shards().is_empty());
    let d = tokio::time::timeout(Duration::from_secs(30), owner.next())
        .await
        .expect("delivered within 30 s")
        .unwrap();
    assert_eq!(d.position, later);
    assert_eq!(d.delivery_count, 1);
    owner.ack(&d).await.unwrap();
    let client = redis::Client::open(url().as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pending: (u64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(format!("{topic}:0"))
        .arg(&group)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(pending.0, 0, "every entry acked");
    drop(stalled);
    owner.close().await.unwrap();
    t.delete_group(&topic, &group).await.unwrap();
    t.delete_topic(&topic).await.unwrap();
}

/// A `next` dropped in the middle of taking a shard over (callers time `next` out) does not
/// lose the claim: the dead member's pending entries still come first, in order, with their
/// raised delivery counts, then what is published later.
#[tokio::test]
async fn a_takeover_interrupted_by_a_dropped_next_still_claims() {
    use evc_transport::{Outgoing, SubscribeOptions, Subscription, Transport};
    use std::time::Duration;

    let t = Redis.connect().await;
    let topic = evc_transport::conformance::unique("cancel");
    let group = format!("{topic}-g");
    t.declare_topic(&topic, 1).await.unwrap();
    t.declare_group(&topic, &group).await.unwrap();
    let options = SubscribeOptions::new(&group).takeover_after(Duration::from_millis(300));
    let mut ids = Vec::new();
    for i in 1..=2 {
        let r = t
            .publish(&topic, Outgoing::new("k", vec![0, 0, 0, 0, 1, i]))
            .await
            .unwrap();
        ids.push(r.position.unwrap());
    }
    let mut dead = t.subscribe(&topic, options.clone()).await.unwrap();
    let held = dead.next().await.unwrap();
    assert_eq!(held.position, ids[0]);
    drop(dead);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut owner = t.subscribe(&topic, options).await.unwrap();
    // Polled exactly once, then dropped: the claim was under way (on this one-thread runtime
    // nothing answers it within the poll).
    {
        let mut next = std::pin::pin!(owner.next());
        let first = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::future::Future::poll(next.as_mut(), cx))
        })
        .await;
        assert!(first.is_pending(), "{first:?}");
    }
    let r = t
        .publish(&topic, Outgoing::new("k", vec![0, 0, 0, 0, 1, 3]))
        .await
        .unwrap();
    ids.push(r.position.unwrap());
    for (n, id) in ids.iter().enumerate() {
        let d = tokio::time::timeout(Duration::from_secs(30), owner.next())
            .await
            .expect("delivered within 30 s")
            .unwrap();
        assert_eq!(&d.position, id, "entry {n} out of order");
        // The dropped claim may have reached Redis before it was dropped: each claim counts.
        if n < 2 {
            assert!(d.delivery_count >= 2, "entry {n}: {}", d.delivery_count);
        } else {
            assert_eq!(d.delivery_count, 1, "entry {n}");
        }
        owner.ack(&d).await.unwrap();
    }
    owner.close().await.unwrap();
    t.delete_group(&topic, &group).await.unwrap();
    t.delete_topic(&topic).await.unwrap();
}

/// A `next` dropped while its blocking read waits in Redis: the read still takes the next
/// entry for this member when it is published; the member's next `next` hands it out (it is
/// not stranded pending under the member's name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_a_dropped_read_took_is_still_delivered() {
    use evc_transport::{Outgoing, Subscription, Transport};
    use std::time::Duration;

    let t = Redis.connect().await;
    let topic = evc_transport::conformance::unique("dropped");
    let group = format!("{topic}-g");
    t.declare_topic(&topic, 1).await.unwrap();
    t.declare_group(&topic, &group).await.unwrap();
    let mut member = t.subscribe(&topic, Redis.options(&group)).await.unwrap();
    // Dropped while `XREADGROUP … BLOCK 500` waits.
    let dropped = tokio::time::timeout(Duration::from_millis(100), member.next()).await;
    assert!(dropped.is_err(), "{dropped:?}");
    let publish = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        t.publish(&topic, Outgoing::new("k", vec![0, 0, 0, 0, 1, 1]))
            .await
            .unwrap()
            .position
            .unwrap()
    };
    let (d, id) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(10), member.next()),
        publish
    );
    let d = d.expect("delivered within 10 s").unwrap();
    assert_eq!(d.position, id);
    member.ack(&d).await.unwrap();
    member.close().await.unwrap();
    t.delete_group(&topic, &group).await.unwrap();
    t.delete_topic(&topic).await.unwrap();
}
