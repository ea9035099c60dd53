//! The per-shard gate every subscription hands its deliveries out through: at most `window`
//! unsettled deliveries per shard (1 unless the subscription asked for more), settled in the
//! order they went out; a nacked delivery first in its shard again after its delay, the later
//! ones of its shard taken back behind it; shards served in turn.
// Some helpers serve only some transports.
#![cfg_attr(not(feature = "redis"), allow(dead_code))]

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::{Delivery, TransportError, TransportKind};

/// `f`'s answer if it has one at once, without waiting (and so without a point where a caller
/// could drop it half done): how a batch takes what is ready when it may not linger.
pub(crate) fn ready_now<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

static SUBSCRIPTIONS: AtomicU64 = AtomicU64::new(1);

/// A delivery handed out and not settled yet.
struct Out {
    position: String,
    /// With a window above 1, a copy to queue again when an earlier delivery is nacked.
    copy: Option<Delivery>,
}

#[derive(Default)]
struct Shard {
    queue: VecDeque<Delivery>,
    /// Handed out and not settled yet, oldest first.
    in_flight: VecDeque<Out>,
    /// A nacked delivery and when it may go out again.
    retry: Option<(Delivery, Instant)>,
}

impl Shard {
    fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.in_flight.is_empty() && self.retry.is_none()
    }
}

pub(crate) struct Gate {
    kind: TransportKind,
    id: u64,
    shards: BTreeMap<u32, Shard>,
    /// The shard after which the next search for a ready delivery starts.
    turn: u32,
    /// How many unsettled deliveries a shard may have out at once.
    window: usize,
}

impl Gate {
    pub(crate) fn new(kind: TransportKind) -> Gate {
        Gate {
            kind,
            id: SUBSCRIPTIONS.fetch_add(1, Ordering::Relaxed),
            shards: BTreeMap::new(),
            turn: 0,
            window: 1,
        }
    }

    /// Lets each shard have up to `window` unsettled deliveries out at once (at least 1).
    pub(crate) fn with_window(mut self, window: u16) -> Gate {
        self.window = usize::from(window.max(1));
        self
    }

    /// The id stamped on this subscription's deliveries.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Queues a delivery that arrived (after everything queued in its shard).
    pub(crate) fn push(&mut self, mut d: Delivery) {
        d.subscription = self.id;
        self.shards.entry(d.shard).or_default().queue.push_back(d);
    }

    /// Queues a delivery in its place by position order (`before(a, b)` says a comes first).
    pub(crate) fn insert_ordered(&mut self, mut d: Delivery, before: impl Fn(&str, &str) -> bool) {
        d.subscription = self.id;
        let shard = self.shards.entry(d.shard).or_default();
        let at = shard
            .queue
            .iter()
            .position(|q| before(&d.position, &q.position))
            .unwrap_or(shard.queue.len());
        shard.queue.insert(at, d);
    }

    /// Whether the gate holds `position` of `shard` (queued, in flight or waiting to retry).
    pub(crate) fn holds(&self, shard: u32, position: &str) -> bool {
        self.shards.get(&shard).is_some_and(|s| {
            s.in_flight.iter().any(|o| o.position == position)
                || s.retry
                    .as_ref()
                    .is_some_and(|(d, _)| d.position == position)
                || s.queue.iter().any(|d| d.position == position)
        })
    }

    /// The next delivery that may go out now, marked in flight.
    pub(crate) fn take_ready(&mut self) -> Option<Delivery> {
        let now = Instant::now();
        let order: Vec<u32> = self
            .shards
            .range(self.turn.saturating_add(1)..)
            .chain(self.shards.range(..=self.turn))
            .map(|(k, _)| *k)
            .collect();
        for k in order {
            let s = self.shards.get_mut(&k).expect("listed");
            if s.in_flight.len() >= self.window {
                continue;
            }
            let d = match &s.retry {
                Some((_, at)) if *at > now => continue,
                Some(_) => s.retry.take().map(|(d, _)| d),
                None => s.queue.pop_front(),
            };
            if let Some(d) = d {
                s.in_flight.push_back(Out {
                    position: d.position.clone(),
                    copy: (self.window > 1).then(|| d.clone()),
                });
                self.turn = k;
                return Some(d);
            }
        }
        None
    }

    /// Up to `max` deliveries that may go out now (see [`Gate::take_ready`]), appended to `out`.
    pub(crate) fn take_ready_into(&mut self, out: &mut Vec<Delivery>, max: usize) {
        while out.len() < max {
            match self.take_ready() {
                Some(d) => out.push(d),
                None => break,
            }
        }
    }

    /// How long until a nacked delivery may go out again (None: no retry is waiting).
    pub(crate) fn next_retry_in(&self) -> Option<Duration> {
        let now = Instant::now();
        self.shards
            .values()
            .filter(|s| s.in_flight.is_empty())
            .filter_map(|s| {
                s.retry
                    .as_ref()
                    .map(|(_, at)| at.saturating_duration_since(now))
            })
            .min()
    }

    /// `d` is the oldest unsettled delivery of its shard handed out by this gate; a later one
    /// is [`TransportError::OutOfOrder`], anything else [`TransportError::NotOutstanding`].
    fn check(&self, d: &Delivery) -> Result<(), TransportError> {
        let shard = self
            .shards
            .get(&d.shard)
            .filter(|_| d.subscription == self.id);
        let oldest = shard.and_then(|s| s.in_flight.front());
        if oldest.is_some_and(|o| o.position == d.position) {
            Ok(())
        } else if let Some(oldest) = oldest
            .filter(|_| shard.is_some_and(|s| s.in_flight.iter().any(|o| o.position == d.position)))
        {
            Err(TransportError::OutOfOrder {
                kind: self.kind,
                topic: d.topic.clone(),
                shard: d.shard,
                position: d.position.clone(),
                oldest: oldest.position.clone(),
            })
        } else {
            Err(TransportError::NotOutstanding {
                kind: self.kind,
                topic: d.topic.clone(),
                shard: d.shard,
                position: d.position.clone(),
            })
        }
    }

    /// Whether `d` may be settled: `Ok(true)` when it is this gate's delivery in flight,
    /// `Ok(false)` when its shard was taken away meanwhile (the broker side may still be
    /// settled), an error when it was handed out by another subscription or settled already.
    pub(crate) fn check_settleable(&self, d: &Delivery) -> Result<bool, TransportError> {
        if d.subscription == self.id && !self.shards.contains_key(&d.shard) {
            return Ok(false);
        }
        self.check(d).map(|()| true)
    }

    /// Checks that `d` is this gate's delivery in flight (before settling it at the broker).
    pub(crate) fn check_outstanding(&self, d: &Delivery) -> Result<(), TransportError> {
        self.check(d)
    }

    /// `d` is done: its shard may hand out the next delivery.
    pub(crate) fn settle(&mut self, d: &Delivery) -> Result<(), TransportError> {
        self.check(d)?;
        if let Some(s) = self.shards.get_mut(&d.shard) {
            s.in_flight.pop_front();
        }
        Ok(())
    }

    /// `d` goes out again after `after`, first in its shard, its count one higher; the later
    /// deliveries of its shard still out are taken back and follow it, in order (their own
    /// counts unchanged: they were not tried and refused). Answers their positions.
    pub(crate) fn nack(
        &mut self,
        mut d: Delivery,
        after: Duration,
    ) -> Result<Vec<String>, TransportError> {
        self.check(&d)?;
        let s = self.shards.get_mut(&d.shard).expect("checked");
        s.in_flight.pop_front();
        let recalled: Vec<Out> = s.in_flight.drain(..).collect();
        let positions = recalled.iter().map(|o| o.position.clone()).collect();
        for o in recalled.into_iter().rev() {
            if let Some(copy) = o.copy {
                s.queue.push_front(copy);
            }
        }
        d.delivery_count = d.delivery_count.saturating_add(1);
        s.retry = Some((d, Instant::now() + after));
        Ok(positions)
    }

    /// Forgets a shard that is no longer ours; answers what it held (queued and waiting).
    pub(crate) fn drop_shard(&mut self, shard: u32) -> Vec<Delivery> {
        let Some(s) = self.shards.remove(&shard) else {
            return Vec::new();
        };
        s.retry.map(|(d, _)| d).into_iter().chain(s.queue).collect()
    }

    /// Nothing queued, in flight or waiting in `shard`.
    pub(crate) fn is_idle(&self, shard: u32) -> bool {
        self.shards.get(&shard).is_none_or(Shard::is_idle)
    }

    /// How many deliveries of `shard` wait to go out (not counting those in flight).
    pub(crate) fn queued(&self, shard: u32) -> usize {
        self.shards
            .get(&shard)
            .map_or(0, |s| s.queue.len() + usize::from(s.retry.is_some()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Headers;

    fn d(shard: u32, pos: u32) -> Delivery {
        Delivery {
            topic: "t".into(),
            shard,
            position: pos.to_string(),
            key: None,
            payload: Vec::new(),
            headers: Headers::new(),
            delivery_count: 1,
            timestamp: None,
            subscription: 0,
            tag: 0,
        }
    }

    #[tokio::test]
    async fn one_in_flight_per_shard_and_shards_in_turn() {
        let mut g = Gate::new(TransportKind::Redis);
        for p in 0..3 {
            g.push(d(0, p));
            g.push(d(1, p));
        }
        let a = g.take_ready().unwrap();
        let b = g.take_ready().unwrap();
        assert_ne!(a.shard, b.shard, "the other shard's turn");
        assert!(g.take_ready().is_none(), "both shards have one in flight");
        g.settle(&a).unwrap();
        let c = g.take_ready().unwrap();
        assert_eq!((c.shard, c.position.as_str()), (a.shard, "1"));
        assert!(g.settle(&a).is_err(), "settled twice");
    }

    #[tokio::test]
    async fn a_nacked_delivery_comes_back_first_with_a_higher_count() {
        let mut g = Gate::new(TransportKind::Kafka);
        g.push(d(0, 0));
        g.push(d(0, 1));
        let first = g.take_ready().unwrap();
        g.nack(first, Duration::from_millis(30)).unwrap();
        assert!(g.take_ready().is_none(), "the retry holds the shard");
        assert!(g.next_retry_in().unwrap() <= Duration::from_millis(30));
        tokio::time::sleep(Duration::from_millis(40)).await;
        let again = g.take_ready().unwrap();
        assert_eq!((again.position.as_str(), again.delivery_count), ("0", 2));
        g.settle(&again).unwrap();
        assert_eq!(g.take_ready().unwrap().position, "1");
    }

    #[tokio::test]
    async fn foreign_deliveries_are_refused() {
        let mut g = Gate::new(TransportKind::Kafka);
        let mut other = Gate::new(TransportKind::Kafka);
        g.push(d(0, 0));
        other.push(d(0, 0));
        let mine = g.take_ready().unwrap();
        let theirs = other.take_ready().unwrap();
        assert!(matches!(
            g.settle(&theirs),
            Err(TransportError::NotOutstanding { .. })
        ));
        g.settle(&mine).unwrap();
        assert!(g.is_idle(0));
        assert!(g.check_settleable(&mine).is_err(), "settled twice");
    }

    #[tokio::test]
    async fn a_delivery_of_a_shard_taken_away_is_settleable_but_not_held() {
        let mut g = Gate::new(TransportKind::Redis);
        g.push(d(2, 7));
        let out = g.take_ready().unwrap();
        assert!(g.check_settleable(&out).unwrap());
        g.drop_shard(2);
        assert!(!g.check_settleable(&out).unwrap());
    }

    #[tokio::test]
    async fn a_window_hands_out_in_order_settles_in_order_and_a_nack_takes_back_the_rest() {
        let mut g = Gate::new(TransportKind::Kafka).with_window(3);
        for p in 0..5 {
            g.push(d(0, p));
        }
        let mut out = Vec::new();
        g.take_ready_into(&mut out, 10);
        let pos: Vec<&str> = out.iter().map(|d| d.position.as_str()).collect();
        assert_eq!(pos, ["0", "1", "2"], "a window of 3, in order");
        assert!(matches!(
            g.settle(&out[1]),
            Err(TransportError::OutOfOrder { .. })
        ));
        g.settle(&out[0]).unwrap();
        let recalled = g.nack(out[1].clone(), Duration::ZERO).unwrap();
        assert_eq!(recalled, ["2"]);
        assert!(matches!(
            g.settle(&out[2]),
            Err(TransportError::NotOutstanding { .. })
        ));
        let mut again = Vec::new();
        g.take_ready_into(&mut again, 10);
        let got: Vec<(&str, u32)> = again
            .iter()
            .map(|d| (d.position.as_str(), d.delivery_count))
            .collect();
        assert_eq!(got, [("1", 2), ("2", 1), ("3", 1)]);
        assert!(g.holds(0, "3") && g.holds(0, "4"));
    }
}
