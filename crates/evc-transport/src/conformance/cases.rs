//! The cases. Each panics with what went wrong.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::support::{
    message, messages, next_within, seq_of, stays_quiet, unique, Ledger, PATIENCE,
};
use super::Harness;
use crate::{headers, DeadLetterReason, Subscription, Transport, TransportError};

pub(super) type Sub<H> = <<H as Harness>::Transport as Transport>::Subscription;

/// A topic of `shards` shards with `group` declared on it.
pub(super) async fn setup<H: Harness>(
    h: &H,
    case: &str,
    shards: u32,
) -> (H::Transport, String, String) {
    let t = h.connect().await;
    let topic = unique(case);
    let group = format!("{topic}-g");
    h.create_topic(&t, &topic, shards).await;
    t.declare_group(&topic, &group)
        .await
        .unwrap_or_else(|e| panic!("declaring group `{group}`: {e}"));
    (t, topic, group)
}

async fn subscribe<H: Harness>(h: &H, t: &H::Transport, topic: &str, group: &str) -> Sub<H> {
    t.subscribe(topic, h.options(group))
        .await
        .unwrap_or_else(|e| panic!("subscribing `{group}` to `{topic}`: {e}"))
}

/// Publish confirms with the shard and position the delivery then has; key, payload and
/// headers arrive intact; the first delivery counts 1.
pub async fn publish_confirms_and_delivers_intact<H: Harness>(h: &H) {
    let (t, topic, group) = setup(h, "intact", 4).await;
    let out = message("order-7", 0).header("trace", vec![0xff, 0x00]);
    let receipt = t.publish(&topic, out.clone()).await.expect("publish");
    assert_eq!(receipt.topic, topic);
    let mut s = subscribe(h, &t, &topic, &group).await;
    let d = next_within(&mut s, PATIENCE, "the published message").await;
    assert_eq!(d.topic, topic);
    assert_eq!(d.key.as_deref(), Some(&b"order-7"[..]));
    assert_eq!(
        d.payload, out.payload,
        "payload byte for byte (Confluent framing kept)"
    );
    for (name, value) in out.headers.iter() {
        assert_eq!(d.headers.get(name), Some(value), "header `{name}`");
    }
    assert_eq!(d.delivery_count, 1);
    if let Some(shard) = receipt.shard {
        assert_eq!(d.shard, shard, "delivered from the shard the receipt named");
    }
    if let Some(position) = &receipt.position {
        assert_eq!(&d.position, position, "at the position the receipt named");
    }
    s.ack(&d).await.expect("ack");
    assert!(
        stays_quiet(&mut s, Duration::from_millis(500))
            .await
            .is_none(),
        "an acked message is not delivered again"
    );
    s.close().await.expect("close");
    h.cleanup(&t, &topic, &[group]).await;
}

/// 64 keys × 8 messages over 4 shards, two members of one group consuming at once: every
/// message arrives, every key's messages first arrive in publish order, all 4 shards carry
/// messages.
pub async fn per_key_order_across_four_shards_with_two_consumers<H: Harness>(h: &H)
where
    Sub<H>: 'static,
{
    let (keys, per_key) = (64, 8);
    let total = (keys * per_key) as usize;
    let (t, topic, group) = setup(h, "order", 4).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut members = Vec::new();
    for _ in 0..2 {
        let mut s = subscribe(h, &t, &topic, &group).await;
        let ledger = ledger.clone();
        members.push(tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            while ledger.lock().unwrap().distinct() < total {
                assert!(
                    started.elapsed() < PATIENCE * 2,
                    "ordering: all {total} within {:?}",
                    PATIENCE * 2
                );
                let Ok(next) = tokio::time::timeout(Duration::from_millis(300), s.next()).await
                else {
                    continue;
                };
                let d = next.expect("next");
                ledger.lock().unwrap().record(&d);
                s.ack(&d).await.expect("ack");
            }
            s.close().await.expect("close");
        }));
    }
    let receipts = t
        .publish_batch(&topic, messages("k", keys, per_key))
        .await
        .expect("publish_batch");
    assert_eq!(receipts.len(), total);
    for m in members {
        m.await.expect("member task");
    }
    {
        let ledger = ledger.lock().unwrap();
        ledger.assert_complete_and_ordered(keys, per_key, "k");
        assert_eq!(
            ledger.shards.len(),
            4,
            "messages on all 4 shards: {:?}",
            ledger.shards
        );
    }
    h.cleanup(&t, &topic, &[group]).await;
}

/// A member takes a message and dies before acking it: another member of the group gets it
/// (and what follows it), nothing is lost, and where the broker keeps delivery counts the
/// count is higher.
pub async fn redelivery_after_a_member_dies_before_ack<H: Harness>(h: &H) {
    let (t, topic, group) = setup(h, "redeliver", 2).await;
    t.publish_batch(&topic, (0..4).map(|i| message("only-0", i)).collect())
        .await
        .expect("publish");
    let mut a = subscribe(h, &t, &topic, &group).await;
    let first = next_within(&mut a, PATIENCE, "first message").await;
    assert_eq!(seq_of(&first).1, 0);
    a.ack(&first).await.expect("ack");
    let held = next_within(&mut a, PATIENCE, "second message").await;
    assert_eq!(seq_of(&held).1, 1);
    drop(a); // dies holding `held`
    let mut b = subscribe(h, &t, &topic, &group).await;
    let mut ledger = Ledger::default();
    ledger.record(&first);
    let mut redelivered = None;
    while ledger.distinct() < 4 {
        let d = next_within(&mut b, PATIENCE, "redelivery to the surviving member").await;
        match seq_of(&d).1 {
            // Allowed only where acks are recorded in batches (Kafka offsets), and only
            // before the rest.
            0 => assert!(redelivered.is_none(), "message 0 again after message 1"),
            1 if redelivered.is_none() => redelivered = Some(d.delivery_count),
            _ => {}
        }
        ledger.record(&d);
        b.ack(&d).await.expect("ack");
    }
    ledger.assert_complete_and_ordered(1, 4, "only");
    let count = redelivered.expect("message 1 delivered again");
    if t.capabilities().durable_delivery_count {
        assert!(count >= 2, "the broker counted the first delivery: {count}");
    } else {
        assert!(count >= 1);
    }
    b.close().await.expect("close");
    h.cleanup(&t, &topic, &[group]).await;
}

/// A poison message is dead-lettered at once: `<topic>.dlq` holds it byte for byte with its
/// headers and provenance (topic, shard, position, group, error, attempts), and the messages
/// after it are delivered.
pub async fn poison_is_dead_lettered_at_once_with_provenance<H: Harness>(h: &H) {
    let (t, topic, group) = setup(h, "poison", 2).await;
    let poison = crate::Outgoing::new("p", b"{\"not\":\"framed\"}".to_vec())
        .header("evc-event-id", "poison-1");
    t.publish(&topic, poison.clone())
        .await
        .expect("publish poison");
    t.publish(&topic, message("p", 1)).await.expect("publish");
    let mut s = subscribe(h, &t, &topic, &group).await;
    let d = next_within(&mut s, PATIENCE, "the poison message").await;
    assert_eq!(d.payload, poison.payload);
    let reason = DeadLetterReason::new(
        "evc_wire::FrameError::WrongMagicByte",
        "magic byte 0x7b, not 0x00",
        1,
    )
    .stage("deserialize");
    s.dead_letter(&d, &reason).await.expect("dead_letter");
    let next = next_within(&mut s, PATIENCE, "the message after the poison").await;
    assert_eq!(seq_of(&next), ("p".to_string(), 1));
    s.ack(&next).await.expect("ack");
    let dead = t.dead_letters(&topic, 10).await.expect("dead_letters");
    assert_eq!(dead.len(), 1, "one dead letter: {dead:?}");
    let x = &dead[0];
    assert_eq!(x.payload, poison.payload, "payload kept byte for byte");
    assert_eq!(x.key.as_deref(), Some(&b"p"[..]));
    let hd = &x.headers;
    assert_eq!(
        hd.get_str("evc-event-id"),
        Some("poison-1"),
        "original header kept"
    );
    assert_eq!(hd.get_str(headers::ORIGINAL_TOPIC), Some(topic.as_str()));
    assert_eq!(
        hd.get_str(headers::ORIGINAL_PARTITION),
        Some(d.shard.to_string().as_str())
    );
    assert_eq!(
        hd.get_str(headers::ORIGINAL_OFFSET),
        Some(d.position.as_str())
    );
    assert_eq!(hd.get_str(headers::CONSUMER_GROUP), Some(group.as_str()));
    assert_eq!(hd.get_str(headers::STAGE), Some("deserialize"));
    assert_eq!(
        hd.get_str(headers::ERROR_CLASS),
        Some("evc_wire::FrameError::WrongMagicByte")
    );
    assert_eq!(
        hd.get_str(headers::ERROR_MESSAGE),
        Some("magic byte 0x7b, not 0x00")
    );
    assert_eq!(hd.get_str(headers::ATTEMPTS), Some("1"));
    assert!(hd.get_str(headers::DEAD_LETTERED_AT).is_some());
    assert!(
        stays_quiet(&mut s, Duration::from_millis(500))
            .await
            .is_none(),
        "a dead-lettered message is not delivered again"
    );
    s.close().await.expect("close");
    h.cleanup(&t, &topic, &[group]).await;
}

/// A failing message is nacked, comes back with counts 1, 2, 3 ahead of the next message of
/// its key, and is dead-lettered on the third attempt with `attempts=3`.
pub async fn nacked_until_the_limit_then_dead_lettered<H: Harness>(h: &H) {
    let (t, topic, group) = setup(h, "retry", 2).await;
    t.publish_batch(&topic, vec![message("r", 0), message("r", 1)])
        .await
        .expect("publish");
    let mut s = subscribe(h, &t, &topic, &group).await;
    let mut counts = Vec::new();
    loop {
        let d = next_within(&mut s, PATIENCE, "the failing message").await;
        assert_eq!(
            seq_of(&d).1,
            0,
            "nothing after the failing message before it is settled"
        );
        counts.push(d.delivery_count);
        if d.delivery_count < 3 {
            s.nack(d, Duration::from_millis(50)).await.expect("nack");
        } else {
            let reason = DeadLetterReason::new("test::Failing", "always fails", d.delivery_count);
            s.dead_letter(&d, &reason).await.expect("dead_letter");
            break;
        }
    }
    assert_eq!(counts, [1, 2, 3]);
    let after = next_within(&mut s, PATIENCE, "the next message of the key").await;
    assert_eq!(seq_of(&after).1, 1);
    s.ack(&after).await.expect("ack");
    let dead = t.dead_letters(&topic, 10).await.expect("dead_letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].headers.get_str(headers::ATTEMPTS), Some("3"));
    assert_eq!(
        dead[0].headers.get_str(headers::ERROR_CLASS),
        Some("test::Failing")
    );
    s.close().await.expect("close");
    h.cleanup(&t, &topic, &[group]).await;
}

/// Replay publishes a dead letter back to its topic without the `evc.dlq.*` headers; the
/// group receives it again; a second replay replays nothing.
pub async fn replay_from_the_dead_letters<H: Harness>(h: &H) {
    let (t, topic, group) = setup(h, "replay", 2).await;
    t.publish(&topic, message("x", 0)).await.expect("publish");
    let mut s = subscribe(h, &t, &topic, &group).await;
    let d = next_within(&mut s, PATIENCE, "the message").await;
    s.dead_letter(
        &d,
        &DeadLetterReason::new("test::Down", "downstream down", 1),
    )
    .await
    .expect("dead_letter");
    let report = t.replay_dead_letters(&topic).await.expect("replay");
    assert_eq!(report.total(), 1, "{report:?}");
    assert_eq!(report.replayed.get(&topic), Some(&1));
    let again = next_within(&mut s, PATIENCE, "the replayed message").await;
    assert_eq!(again.payload, d.payload);
    assert_eq!(again.key, d.key);
    assert_eq!(again.headers.get_str("evc-event-id"), Some("x-0"));
    assert!(
        again
            .headers
            .iter()
            .all(|(n, _)| !n.starts_with(headers::PREFIX)),
        "no dead-letter headers on a replayed message: {:?}",
        again.headers
    );
    s.ack(&again).await.expect("ack");
    let second = t.replay_dead_letters(&topic).await.expect("second replay");
    assert_eq!(second.total(), 0, "a dead letter is replayed once");
    assert!(stays_quiet(&mut s, Duration::from_millis(500))
        .await
        .is_none());
    s.close().await.expect("close");
    h.cleanup(&t, &topic, &[group]).await;
}

/// A member acks 5 of 10 messages and closes; 5 more are published; a new member of the
/// group gets exactly the 10 not acked, in order, and nothing else.
pub async fn restart_resumes_from_the_group_without_loss<H: Harness>(h: &H) {
    let (t, topic, group) = setup(h, "restart", 2).await;
    t.publish_batch(&topic, (0..10).map(|i| message("s", i)).collect())
        .await
        .expect("publish");
    let mut a = subscribe(h, &t, &topic, &group).await;
    for i in 0..5 {
        let d = next_within(&mut a, PATIENCE, "first run").await;
        assert_eq!(seq_of(&d).1, i);
        a.ack(&d).await.expect("ack");
    }
    a.close().await.expect("close");
    t.publish_batch(&topic, (10..15).map(|i| message("s", i)).collect())
        .await
        .expect("publish");
    let mut b = subscribe(h, &t, &topic, &group).await;
    for i in 5..15 {
        let d = next_within(&mut b, PATIENCE, "after the restart").await;
        assert_eq!(seq_of(&d).1, i, "resumed where the group was, in order");
        b.ack(&d).await.expect("ack");
    }
    if let Some(extra) = stays_quiet(&mut b, Duration::from_secs(1)).await {
        panic!(
            "nothing more after a graceful close: got {:?}",
            seq_of(&extra)
        );
    }
    b.close().await.expect("close");
    h.cleanup(&t, &topic, &[group]).await;
}

/// Two members consume; one dies mid-stream; the other ends up with every message, each
/// key's first seen in order.
pub async fn a_dead_members_shards_are_handed_over_without_loss<H: Harness>(h: &H)
where
    Sub<H>: 'static,
{
    let (keys, per_key) = (16, 12);
    let total = (keys * per_key) as usize;
    let (t, topic, group) = setup(h, "handover", 4).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut a = subscribe(h, &t, &topic, &group).await;
    let mut b = subscribe(h, &t, &topic, &group).await;
    t.publish_batch(&topic, messages("h", keys, per_key))
        .await
        .expect("publish");
    let survivor = {
        let ledger = ledger.clone();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            while ledger.lock().unwrap().distinct() < total {
                assert!(
                    started.elapsed() < PATIENCE * 2,
                    "handover: all {total} within {:?}",
                    PATIENCE * 2
                );
                let Ok(next) = tokio::time::timeout(Duration::from_millis(300), b.next()).await
                else {
                    continue;
                };
                let d = next.expect("next");
                ledger.lock().unwrap().record(&d);
                b.ack(&d).await.expect("ack");
            }
            b.close().await.expect("close");
        })
    };
    // The doomed member handles some messages, then dies holding one.
    let mut handled = 0;
    while handled < 40 {
        let Ok(next) = tokio::time::timeout(Duration::from_millis(500), a.next()).await else {
            if ledger.lock().unwrap().distinct() >= total {
                break;
            }
            continue;
        };
        let d = next.expect("next");
        ledger.lock().unwrap().record(&d);
        handled += 1;
        if handled < 40 {
            a.ack(&d).await.expect("ack");
        }
    }
    drop(a);
    survivor.await.expect("survivor task");
    ledger
        .lock()
        .unwrap()
        .assert_complete_and_ordered(keys, per_key, "h");
    h.cleanup(&t, &topic, &[group]).await;
}

/// Bad input gets typed errors: a topic declared again with another shard count, a publish
/// to a topic never declared, an illegal name, a delivery settled through the wrong
/// subscription or twice.
pub async fn bad_input_is_refused_with_typed_errors<H: Harness>(h: &H) {
    let (t, topic, group) = setup(h, "bad", 2).await;
    match t.declare_topic(&topic, 3).await {
        Err(TransportError::ShardMismatch {
            wanted: 3,
            found: 2,
            ..
        }) => {}
        other => panic!("declaring 3 shards over 2: {other:?}"),
    }
    t.declare_topic(&topic, 2)
        .await
        .expect("the same declaration again is fine");
    match t.publish(&unique("never-declared"), message("k", 0)).await {
        Err(TransportError::UnknownTopic { .. }) => {}
        other => panic!("publishing to an undeclared topic: {other:?}"),
    }
    for bad in ["", "has space", "colon:inside"] {
        match t.declare_topic(bad, 1).await {
            Err(TransportError::Invalid { .. }) => {}
            other => panic!("declaring topic {bad:?}: {other:?}"),
        }
    }
    t.publish(&topic, message("k", 0)).await.expect("publish");
    let mut a = subscribe(h, &t, &topic, &group).await;
    let d = next_within(&mut a, PATIENCE, "the message").await;
    let other_group = format!("{group}-other");
    t.declare_group(&topic, &other_group).await.expect("group");
    let mut b = subscribe(h, &t, &topic, &other_group).await;
    match b.ack(&d).await {
        Err(TransportError::NotOutstanding { .. }) => {}
        other => panic!("acking another subscription's delivery: {other:?}"),
    }
    a.ack(&d).await.expect("ack");
    match a.ack(&d).await {
        Err(TransportError::NotOutstanding { .. }) => {}
        other => panic!("acking the same delivery twice: {other:?}"),
    }
    a.close().await.expect("close");
    b.close().await.expect("close");
    h.cleanup(&t, &topic, &[group, other_group]).await;
}
