//! One broker-neutral transport interface for evc, its implementations and its conformance suite.
//!
//! **Owns:** moving evc's messages through a broker without knowing what they mean: publishing
//! a keyed, Confluent-framed payload with headers and waiting for the broker's confirmation
//! ([`Transport::publish`]); subscribing as a member of a named group ([`Transport::subscribe`])
//! and settling each [`Delivery`] with [`Subscription::ack`], [`Subscription::nack`] (try it
//! again after a delay; its [`Delivery::delivery_count`] grows) or
//! [`Subscription::dead_letter`] (to `<topic>.dlq`, with provenance headers, [`headers`]);
//! replaying a dead-letter destination into the topics its messages came from
//! ([`Transport::replay_dead_letters`]); the per-key order guarantee (a key always maps to the
//! same shard, and a subscription hands out at most [`SubscribeOptions::window`] unsettled
//! deliveries per shard, 1 by default, settled in the order they went out); handing out
//! several deliveries at once ([`Subscription::next_batch`]); picking a
//! transport from a URL ([`AnyTransport::connect`]); and the [`conformance`] suite every
//! implementation runs unchanged (feature `conformance`).
//!
//! Implementations, one feature each so a user of one does not compile the others' clients:
//! `kafka` ([`kafka::KafkaTransport`], rdkafka), `redis` ([`redis::RedisTransport`], Redis
//! Streams), `rabbitmq` ([`rabbitmq::RabbitTransport`], lapin).
//!
//! **Does not own:** the Confluent wire format and the registry (`evc-wire`,
//! `evc-registry-client`: the payload is opaque bytes here), typed events, the idempotent
//! processed-events store and the handler's transaction (`evc-consumer`), retry policy and
//! backoff choices (the caller passes the delay to [`Subscription::nack`] and decides when a
//! message is dead), the outbox (`evc-outbox`).
//!
//! ## The contract
//!
//! | | guarantee |
//! |---|---|
//! | publish | answers once the broker has the message durably (Kafka `acks=all` + idempotence, Redis `XADD` reply, RabbitMQ publisher confirm); an error otherwise, never a silent drop |
//! | shards | a topic has a fixed number of shards; a message's key picks its shard (same key, same shard) |
//! | order | within a shard, deliveries come in publish order; a subscription hands out at most `window` unsettled deliveries per shard (1 by default), and a nacked delivery comes back before anything after it in its shard |
//! | window | with `window` above 1 a shard's deliveries are settled in the order they went out (settling a later one first is [`TransportError::OutOfOrder`], so nothing after a delivery is acked before it); nacking one takes back every later delivery of its shard still out, which come again after it, in order, their counts unchanged (settling a taken-back copy is [`TransportError::NotOutstanding`]) |
//! | batches | [`Subscription::next_batch`] waits for one delivery, then takes up to `max` in all that are ready or arrive within `linger`, across shards, each shard's in order, within its window |
//! | groups | every group gets every message; within a group each shard has one active member at a time |
//! | at-least-once | a delivery not acked or dead-lettered (the member died, or its shard moved) is delivered again, to whichever member owns the shard then |
//! | delivery count | 1 on the first delivery, +1 on each nack and each redelivery the broker knows about ([`Capabilities::durable_delivery_count`] says whether it survives a member's death) |
//! | dead letter | the message (key, payload, original headers) goes to `<topic>.dlq` with [`headers`] `evc.dlq.*` naming its topic, shard, position, group, error class and message and attempts; only once the broker confirmed it is the original acked |
//! | replay | every dead letter present when a replay starts is published again to its original topic (the `evc.dlq.*` headers stripped) and is not replayed a second time |
//!
//! A [`Subscription`] dropped without [`Subscription::close`] behaves like a member that died:
//! nothing more is acknowledged, and what it held is redelivered to the group.

// Built without any transport (only the interface), the helpers the transports share are idle.
#![cfg_attr(
    not(any(feature = "kafka", feature = "redis", feature = "rabbitmq")),
    allow(dead_code)
)]

mod any;
mod error;
#[cfg(any(feature = "kafka", feature = "redis", feature = "rabbitmq"))]
mod gate;
pub mod hash;
mod lazy;
mod message;
mod url;

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "rabbitmq")]
pub mod rabbitmq;
#[cfg(feature = "redis")]
pub mod redis;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use any::{AnySubscription, AnyTransport};
pub use error::{TransportError, TransportKind};
pub use lazy::LazyTransport;
pub use message::{
    dead_letter_headers, headers, replay_headers, DeadLetterReason, Delivery, Headers, Outgoing,
    Receipt, ReplayReport,
};
pub use url::{Endpoint, UrlError};

/// What a transport can and cannot promise beyond the common contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The broker keeps the delivery count, so a message redelivered after its member died
    /// arrives with a higher count (Redis pending entries, RabbitMQ quorum queues). Kafka keeps
    /// no such count: it is counted by the subscription and starts again at 1 in a new member.
    pub durable_delivery_count: bool,
    /// Members of one group share the shards between them (Kafka, Redis). With RabbitMQ's
    /// single active consumer every queue goes to the member that subscribed first and the
    /// others stand by.
    pub balanced_shards: bool,
}

/// How a subscription behaves: its group and the timings of its shard ownership.
#[derive(Debug, Clone)]
pub struct SubscribeOptions {
    /// The consumer group: every group receives every message of the topic.
    pub group: String,
    /// How long a shard stays with a member that stopped answering before another member may
    /// take it over (Redis lease time; Kafka `session.timeout.ms`; RabbitMQ notices a closed
    /// connection at once and a silent one after its heartbeat).
    pub takeover_after: Duration,
    /// How many messages a subscription may hold per shard before handing them out (Redis
    /// `XREADGROUP COUNT`, RabbitMQ prefetch per queue).
    pub prefetch: u16,
    /// How often the subscription measures its lag ([`SubscriptionStats::lag`]) in the
    /// background (Kafka `statistics.interval.ms`, Redis `XINFO GROUPS`, RabbitMQ a passive
    /// `queue.declare` per shard queue); never per message.
    pub lag_interval: Duration,
    /// How many deliveries of one shard may be out unsettled at once (1: the next one only
    /// once the previous one is settled). Above 1 they are settled in the order they went out.
    pub window: u16,
}

impl SubscribeOptions {
    /// A member of `group`; shards of dead members are taken over after 10 s; prefetch 64;
    /// window 1.
    pub fn new(group: impl Into<String>) -> SubscribeOptions {
        SubscribeOptions {
            group: group.into(),
            takeover_after: Duration::from_secs(10),
            prefetch: 64,
            lag_interval: Duration::from_secs(5),
            window: 1,
        }
    }

    pub fn lag_interval(mut self, every: Duration) -> SubscribeOptions {
        self.lag_interval = every.max(Duration::from_millis(10));
        self
    }

    /// Up to `window` unsettled deliveries per shard (at least 1).
    pub fn window(mut self, window: u16) -> SubscribeOptions {
        self.window = window.max(1);
        self
    }

    pub fn takeover_after(mut self, after: Duration) -> SubscribeOptions {
        self.takeover_after = after;
        self
    }

    pub fn prefetch(mut self, prefetch: u16) -> SubscribeOptions {
        self.prefetch = prefetch.max(1);
        self
    }
}

/// What a subscription did that its user cannot see from its deliveries: commits of acked
/// positions where the broker records them in batches (Kafka offsets; on Redis and RabbitMQ
/// every ack is recorded on its own and these stay 0), and the group's lag per shard,
/// measured in the background every [`SubscribeOptions::lag_interval`].
#[derive(Debug, Default)]
pub struct SubscriptionStats {
    topic: String,
    commits: AtomicU64,
    revoke_commits: AtomicU64,
    revoke_commit_refusals: AtomicU64,
    lag: Mutex<BTreeMap<u32, u64>>,
}

impl SubscriptionStats {
    /// The stats of a subscription to `topic`.
    pub fn new(topic: impl Into<String>) -> SubscriptionStats {
        SubscriptionStats {
            topic: topic.into(),
            ..SubscriptionStats::default()
        }
    }

    /// The topic subscribed to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Messages of each shard this member reads that the group has not acked yet, as last
    /// measured: Kafka, the high watermark minus the stored (acked) offset, else the
    /// committed one, else the low watermark; Redis, the group's `lag` (entries not yet
    /// delivered, `XINFO GROUPS`) plus its pending entries; RabbitMQ, the shard queue's ready
    /// messages plus those this member holds unacked. Only shards this member holds (Kafka,
    /// Redis) or is attached to (RabbitMQ: every shard queue, the broker picks the active
    /// member), and only once measured: empty before the first measurement.
    pub fn lag(&self) -> BTreeMap<u32, u64> {
        self.lag
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the measured lag (the shards listed are the ones held now).
    #[cfg_attr(
        not(any(feature = "kafka", feature = "redis", feature = "rabbitmq")),
        allow(dead_code)
    )]
    pub(crate) fn set_lag(&self, lag: BTreeMap<u32, u64>) {
        *self.lag.lock().unwrap_or_else(PoisonError::into_inner) = lag;
    }

    /// Changes the lag of some shards, leaving the others; `None` forgets a shard.
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub(crate) fn update_lag(&self, changes: impl IntoIterator<Item = (u32, Option<u64>)>) {
        let mut lag = self.lag.lock().unwrap_or_else(PoisonError::into_inner);
        for (shard, v) in changes {
            match v {
                Some(v) => lag.insert(shard, v),
                None => lag.remove(&shard),
            };
        }
    }

    /// Successful commits of acked positions (periodic, on revoke, on close).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Of those, the commits made when shards were taken away (a rebalance).
    pub fn revoke_commits(&self) -> u64 {
        self.revoke_commits.load(Ordering::Relaxed)
    }

    /// Commits on revoke that the group coordinator refused (it had started another
    /// rebalance): what was acked since the last commit is delivered again to the shard's next
    /// owner, where the idempotent consumer skips it.
    pub fn revoke_commit_refusals(&self) -> u64 {
        self.revoke_commit_refusals.load(Ordering::Relaxed)
    }

    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub(crate) fn count_revoke_commit_refusal(&self) {
        self.revoke_commit_refusals.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub(crate) fn count_commit(&self, on_revoke: bool) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        if on_revoke {
            self.revoke_commits.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The name of the dead-letter destination of `topic`: `<topic>.dlq`.
pub fn dlq_name(topic: &str) -> String {
    format!("{topic}.dlq")
}

/// A broker evc can publish to and subscribe from (see the [crate] docs for the contract).
pub trait Transport: Send + Sync {
    type Subscription: Subscription;

    fn kind(&self) -> TransportKind;

    fn capabilities(&self) -> Capabilities;

    /// Creates `topic` with `shards` shards and its dead-letter destination, or checks that an
    /// existing one has that many shards ([`TransportError::ShardMismatch`] otherwise).
    fn declare_topic(
        &self,
        topic: &str,
        shards: u32,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Makes sure `group` receives everything published to `topic` from now on, and
    /// everything the broker still retains (Kafka, Redis). RabbitMQ routes a message only to
    /// the groups that exist when it is published: declare groups before publishing.
    fn declare_group(
        &self,
        topic: &str,
        group: &str,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Publishes one message and waits for the broker's confirmation.
    fn publish(
        &self,
        topic: &str,
        message: Outgoing,
    ) -> impl Future<Output = Result<Receipt, TransportError>> + Send;

    /// Publishes messages in order (so one key's messages keep their order) and waits for
    /// every confirmation; answers the receipts in input order, or the first failure.
    fn publish_batch(
        &self,
        topic: &str,
        messages: Vec<Outgoing>,
    ) -> impl Future<Output = Result<Vec<Receipt>, TransportError>> + Send;

    /// Joins `options.group` on `topic`.
    fn subscribe(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> impl Future<Output = Result<Self::Subscription, TransportError>> + Send;

    /// Removes `group` from `topic`: its position (offsets, pending entries) and, on RabbitMQ,
    /// its queues with whatever they hold.
    fn delete_group(
        &self,
        topic: &str,
        group: &str,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Removes `topic` and its dead letters (delete its groups first).
    fn delete_topic(&self, topic: &str) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Reads up to `limit` dead letters of `topic` without removing them (for tools and
    /// tests), oldest first.
    fn dead_letters(
        &self,
        topic: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Delivery>, TransportError>> + Send;

    /// Publishes every dead letter of `topic` present now back to the topic it came from
    /// (its `evc.dlq.original.topic` header), its `evc.dlq.*` headers stripped, each confirmed
    /// before the replay moves past it. A dead letter is replayed once: a second replay starts
    /// after the last one replayed.
    fn replay_dead_letters(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<ReplayReport, TransportError>> + Send;
}

/// A member of a group (see [`Transport::subscribe`]).
///
/// Every delivery must be settled once: [`ack`](Subscription::ack),
/// [`nack`](Subscription::nack) or [`dead_letter`](Subscription::dead_letter), a shard's in the
/// order they went out. Until it is, its shard hands out nothing beyond its
/// [`window`](SubscribeOptions::window).
pub trait Subscription: Send {
    /// The next delivery, waiting for one. Cancel-safe: a `next` dropped before it answered
    /// loses nothing.
    fn next(&mut self) -> impl Future<Output = Result<Delivery, TransportError>> + Send;

    /// Waits for the next delivery, then takes more that are ready or arrive within `linger`,
    /// up to `max` in all (at least 1), in the order [`next`](Subscription::next) would hand
    /// them out: each shard's in order and within its window. Cancel-safe while it waits for
    /// the first; with no `linger` the transports do not wait after the first, so the whole
    /// call is cancel-safe (with a linger, a batch dropped while lingering leaves what it took
    /// unsettled: as a dead member's, delivered again). An error after the first ends the
    /// batch early (the next call reports it).
    ///
    /// By default repeated `next`s; the transports take what they already hold without
    /// waiting and wait for more only within `linger`.
    fn next_batch(
        &mut self,
        max: usize,
        linger: Duration,
    ) -> impl Future<Output = Result<Vec<Delivery>, TransportError>> + Send {
        async move {
            let first = self.next().await?;
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + linger;
            while batch.len() < max {
                match tokio::time::timeout_at(deadline, self.next()).await {
                    Ok(Ok(d)) => batch.push(d),
                    Ok(Err(_)) | Err(_) => break,
                }
            }
            Ok(batch)
        }
    }

    /// Done with `delivery`: the group will not deliver it again (unless its shard was taken
    /// over meanwhile, in which case the new owner may).
    fn ack(
        &mut self,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Not done: `delivery` is handed out again after `retry_after`, before anything after it
    /// in its shard, with its delivery count one higher; the later deliveries of its shard
    /// still out (a window above 1) are taken back and come again after it.
    fn nack(
        &mut self,
        delivery: Delivery,
        retry_after: Duration,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Gives up on `delivery`: writes it to `<topic>.dlq` with provenance headers, waits for
    /// the broker's confirmation, then acks it.
    fn dead_letter(
        &mut self,
        delivery: &Delivery,
        reason: &DeadLetterReason,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Leaves the group gracefully: what was acked is recorded, unsettled deliveries go back to
    /// the group, and the shards are handed over at once.
    fn close(self) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Live counters of this subscription (shared: read them from another task).
    fn stats(&self) -> Arc<SubscriptionStats> {
        Arc::new(SubscriptionStats::default())
    }
}

/// Topic and group names: 1 to 200 characters of `A-Z a-z 0-9 . _ -` (Kafka's legal set),
/// so a name means the same on every transport.
pub(crate) fn check_name(
    kind: TransportKind,
    what: &str,
    name: &str,
) -> Result<(), TransportError> {
    let reason = if name.is_empty() {
        Some("it is empty".to_string())
    } else if name.len() > 200 {
        Some(format!(
            "it is {} characters long (at most 200)",
            name.len()
        ))
    } else {
        name.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            .map(|c| format!("`{c}` is not allowed (only A-Z a-z 0-9 . _ -)"))
    };
    match reason {
        Some(reason) => Err(TransportError::invalid(
            kind,
            format!("{what} name `{name}`"),
            reason,
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name(TransportKind::Redis, "topic", "orders.v1_x-2").is_ok());
        for bad in ["", "a b", "a:b", "ü", &"x".repeat(201)] {
            let e = check_name(TransportKind::Redis, "topic", bad).unwrap_err();
            assert!(e.to_string().contains("topic name"), "{e}");
        }
    }
}
