//! The window cases: several deliveries of a shard out at once, handed out by
//! [`Subscription::next_batch`], settled in order, and a nack taking back the later ones.

use std::time::Duration;

use super::cases::{setup, Sub};
use super::support::{message, seq_of, stays_quiet, PATIENCE};
use super::Harness;
use crate::{Delivery, Subscription, Transport, TransportError};

/// Batches until `want` deliveries are out (or a panic after [`PATIENCE`]).
async fn take<H: Harness>(s: &mut Sub<H>, want: usize, what: &str) -> Vec<Delivery> {
    let started = tokio::time::Instant::now();
    let mut out = Vec::new();
    while out.len() < want {
        assert!(
            started.elapsed() < PATIENCE,
            "{what}: {} of {want} within {PATIENCE:?}",
            out.len()
        );
        let left = want - out.len();
        match tokio::time::timeout(
            Duration::from_secs(1),
            s.next_batch(left, Duration::from_millis(200)),
        )
        .await
        {
            Ok(Ok(batch)) => {
                assert!(
                    !batch.is_empty() && batch.len() <= left,
                    "{what}: a batch of 1..={left}, got {}",
                    batch.len()
                );
                out.extend(batch);
            }
            Ok(Err(e)) => panic!("{what}: next_batch failed: {e}"),
            Err(_) => {}
        }
    }
    out
}

/// One key's 6 messages on a 2-shard topic, window 4: a batch hands out 4 of them at once in
/// publish order and no more until one is settled; settling a later one first is refused
/// (`OutOfOrder`); settled in order, the rest follow and nothing comes again.
pub async fn a_window_hands_out_a_shard_in_order_and_settles_in_order<H: Harness>(h: &H) {
    let (t, topic, group) = setup(h, "window", 2).await;
    let sent: Vec<_> = (0..6).map(|seq| message("w-key", seq)).collect();
    t.publish_batch(&topic, sent).await.expect("publish_batch");
    let mut s = t
        .subscribe(&topic, h.options(&group).window(4))
        .await
        .expect("subscribe");
    let first = take::<H>(&mut s, 4, "the window").await;
    let seqs: Vec<u32> = first.iter().map(|d| seq_of(d).1).collect();
    assert_eq!(
        seqs,
        [0, 1, 2, 3],
        "one shard's deliveries in publish order"
    );
    assert!(
        stays_quiet(&mut s, Duration::from_millis(500))
            .await
            .is_none(),
        "a full window hands out nothing more"
    );
    match s.ack(&first[1]).await {
        Err(TransportError::OutOfOrder { position, .. }) => {
            assert_eq!(position, first[1].position)
        }
        other => panic!("acking the second before the first: OutOfOrder, got {other:?}"),
    }
    for d in &first {
        s.ack(d).await.expect("ack in order");
    }
    let rest = take::<H>(&mut s, 2, "the rest").await;
    let seqs: Vec<u32> = rest.iter().map(|d| seq_of(d).1).collect();
    assert_eq!(seqs, [4, 5]);
    for d in &rest {
        s.ack(d).await.expect("ack");
    }
    assert!(
        stays_quiet(&mut s, Duration::from_millis(500))
            .await
            .is_none(),
        "acked messages are not delivered again"
    );
    s.close().await.expect("close");
    h.cleanup(&t, &topic, &[group]).await;
}

/// Window 5 over one key's 5 messages: the first acked, the second nacked: the third to fifth,
/// still out, are taken back (acking one is `NotOutstanding`) and come again after the second
/// (its count one higher, theirs unchanged), in publish order.
pub async fn a_nack_in_a_window_takes_back_the_later_deliveries_in_order<H: Harness>(h: &H) {
    let (t, topic, group) = setup(h, "window-nack", 2).await;
    let sent: Vec<_> = (0..5).map(|seq| message("n-key", seq)).collect();
    t.publish_batch(&topic, sent).await.expect("publish_batch");
    let mut s = t
        .subscribe(&topic, h.options(&group).window(5))
        .await
        .expect("subscribe");
    let out = take::<H>(&mut s, 5, "the window").await;
    let seqs: Vec<u32> = out.iter().map(|d| seq_of(d).1).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
    s.ack(&out[0]).await.expect("ack the first");
    s.nack(out[1].clone(), Duration::from_millis(100))
        .await
        .expect("nack the second");
    match s.ack(&out[2]).await {
        Err(TransportError::NotOutstanding { .. }) => {}
        other => panic!("a taken-back delivery: NotOutstanding, got {other:?}"),
    }
    let again = take::<H>(&mut s, 4, "the nacked one and those after it").await;
    let got: Vec<(u32, u32)> = again
        .iter()
        .map(|d| (seq_of(d).1, d.delivery_count))
        .collect();
    let c = out[2].delivery_count;
    assert_eq!(
        got,
        [(1, out[1].delivery_count + 1), (2, c), (3, c), (4, c)],
        "(seq, delivery count): the nacked one first, then the later ones in order"
    );
    for d in &again {
        s.ack(d).await.expect("ack");
    }
    assert!(
        stays_quiet(&mut s, Duration::from_millis(500))
            .await
            .is_none(),
        "nothing comes again"
    );
    s.close().await.expect("close");
    h.cleanup(&t, &topic, &[group]).await;
}
