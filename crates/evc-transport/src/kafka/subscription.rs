//! A consumer-group member: offsets stored on ack, committed periodically, on revoke, on close.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use rdkafka::ClientContext;

use super::{
    from_kafka_headers, kafka_error, to_kafka_headers, KafkaOptions, KafkaTransport, KIND,
};
use crate::gate::{ready_now, Gate};
use crate::{
    dead_letter_headers, dlq_name, DeadLetterReason, Delivery, SubscribeOptions, Subscription,
    SubscriptionStats, TransportError,
};

#[derive(Default)]
pub(super) struct Shared {
    pub(super) topic: String,
    group: String,
    pub(super) stats: Arc<SubscriptionStats>,
    /// Partitions assigned to this member now (lag is reported for these).
    pub(super) assigned: Mutex<BTreeSet<i32>>,
    /// The last offset acked per assigned partition (the lag counts from the one after).
    pub(super) acked: Mutex<HashMap<i32, i64>>,
    /// Partitions revoked since the subscription last looked.
    revoked: Mutex<Vec<i32>>,
    /// Dropped without close: behave like a dead process, commit nothing more.
    crashed: AtomicBool,
}

/// Commits what was acked when partitions are revoked, and tells the subscription.
pub(super) struct Context(Arc<Shared>);

impl ClientContext for Context {}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            if !self.0.crashed.load(Ordering::SeqCst) {
                match consumer.commit_consumer_state(CommitMode::Sync) {
                    Ok(()) => {
                        self.0.stats.count_commit(true);
                    }
                    Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
                    Err(e) => {
                        // Kafka accepts commits while a group prepares a rebalance; a
                        // coordinator that refuses them (librdkafka's mock cluster, when a
                        // member's SyncGroup comes after the leader's) leaves the acks since
                        // the last commit to be delivered again to the next owner.
                        self.0.stats.count_revoke_commit_refusal();
                        tracing::warn!(
                            error = %e,
                            partitions = ?tpl.elements().iter().map(|e| e.partition()).collect::<Vec<_>>(),
                            "commit on revoke refused; the next owner redelivers what was acked since the last commit"
                        );
                    }
                }
            }
            self.0
                .revoked
                .lock()
                .expect("not poisoned")
                .extend(tpl.elements().iter().map(|e| e.partition()));
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let shared = &self.0;
        let (what, tpl) = match rebalance {
            Rebalance::Assign(tpl) => ("consumer assigned shards", tpl),
            Rebalance::Revoke(tpl) => ("consumer revoked shards", tpl),
            Rebalance::Error(e) => {
                tracing::warn!(topic = %shared.topic, group = %shared.group, error = %e, "Kafka rebalance failed");
                return;
            }
        };
        let shards: Vec<i32> = tpl
            .elements_for_topic(&shared.topic)
            .iter()
            .map(|e| e.partition())
            .collect();
        if shards.is_empty() {
            return;
        }
        {
            let mut assigned = shared.assigned.lock().expect("not poisoned");
            if matches!(rebalance, Rebalance::Assign(_)) {
                assigned.extend(shards.iter().copied());
            } else {
                let mut acked = shared.acked.lock().expect("not poisoned");
                for p in &shards {
                    assigned.remove(p);
                    acked.remove(p);
                }
                shared
                    .stats
                    .update_lag(shards.iter().map(|p| (*p as u32, None)));
            }
        }
        tracing::info!(transport = %KIND, topic = %shared.topic, group = %shared.group, shards = ?shards, "{what}");
    }
}

/// A Kafka consumer-group member (see the [module](super) docs). Dropping it without
/// [`Subscription::close`] commits nothing more: acks since the last commit are redelivered.
pub struct KafkaSubscription {
    topic: String,
    group: String,
    consumer: Arc<StreamConsumer<Context>>,
    producer: FutureProducer,
    shared: Arc<Shared>,
    gate: Gate,
    commit_interval: Duration,
    close_timeout: Duration,
    last_commit: Instant,
    dirty: bool,
}

impl Drop for KafkaSubscription {
    fn drop(&mut self) {
        self.shared.crashed.store(true, Ordering::SeqCst);
    }
}

impl KafkaSubscription {
    pub(crate) fn start(
        options: &KafkaOptions,
        topic: &str,
        sub: SubscribeOptions,
    ) -> Result<KafkaSubscription, TransportError> {
        // Brokers refuse sessions under `group.min.session.timeout.ms` (6 s by default), and
        // librdkafka's mock cluster never completes a join with shorter ones.
        let session = sub.takeover_after.as_millis().max(6000) as u64;
        let shared = Arc::new(Shared {
            topic: topic.to_string(),
            group: sub.group.clone(),
            stats: Arc::new(SubscriptionStats::new(topic)),
            ..Shared::default()
        });
        let mut config = options.base();
        config
            .set("group.id", &sub.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("session.timeout.ms", session.to_string())
            .set("heartbeat.interval.ms", (session / 3).max(100).to_string());
        for (k, v) in &options.consumer_overrides {
            config.set(k, v);
        }
        let consumer: StreamConsumer<Context> = config
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .create_with_context(Context(shared.clone()))
            .map_err(|e| kafka_error("creating the consumer", topic, e))?;
        consumer
            .subscribe(&[topic])
            .map_err(|e| kafka_error("subscribing", topic, e))?;
        let consumer = Arc::new(consumer);
        super::lag::spawn(Arc::downgrade(&consumer), shared.clone(), sub.lag_interval);
        let producer: FutureProducer = options
            .producer_config()
            .create()
            .map_err(|e| kafka_error("creating the dead-letter producer", topic, e))?;
        Ok(KafkaSubscription {
            topic: topic.to_string(),
            group: sub.group,
            consumer,
            producer,
            shared,
            gate: Gate::new(KIND).with_window(sub.window),
            commit_interval: options.commit_interval,
            close_timeout: options.close_timeout,
            last_commit: Instant::now(),
            dirty: false,
        })
    }

    fn commit(&mut self, mode: CommitMode) -> Result<(), TransportError> {
        if !self.dirty {
            return Ok(());
        }
        match self.consumer.commit_consumer_state(mode) {
            Ok(()) => {
                self.shared.stats.count_commit(false);
                self.dirty = false;
                self.last_commit = Instant::now();
                Ok(())
            }
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {
                self.dirty = false;
                self.last_commit = Instant::now();
                Ok(())
            }
            Err(e) => Err(kafka_error("committing offsets", &self.topic, e)),
        }
    }

    fn check_mine(&self, d: &Delivery) -> Result<(), TransportError> {
        if d.subscription == self.gate.id() && d.topic == self.topic {
            Ok(())
        } else {
            Err(TransportError::NotOutstanding {
                kind: KIND,
                topic: d.topic.clone(),
                shard: d.shard,
                position: d.position.clone(),
            })
        }
    }

    fn offset(d: &Delivery) -> Result<i64, TransportError> {
        d.position
            .parse()
            .map_err(|_| TransportError::NotOutstanding {
                kind: KIND,
                topic: d.topic.clone(),
                shard: d.shard,
                position: d.position.clone(),
            })
    }
}

fn delivery_of(m: &rdkafka::message::BorrowedMessage<'_>) -> Delivery {
    Delivery {
        topic: m.topic().to_string(),
        shard: m.partition() as u32,
        position: m.offset().to_string(),
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().unwrap_or_default().to_vec(),
        headers: from_kafka_headers(m.headers()),
        delivery_count: 1,
        timestamp: m.timestamp().to_millis(),
        subscription: 0,
        tag: 0,
    }
}

impl Subscription for KafkaSubscription {
    async fn next(&mut self) -> Result<Delivery, TransportError> {
        loop {
            let revoked: Vec<i32> =
                std::mem::take(&mut *self.shared.revoked.lock().expect("not poisoned"));
            for p in revoked {
                self.gate.drop_shard(p as u32);
            }
            if self.last_commit.elapsed() >= self.commit_interval {
                if let Err(e) = self.commit(CommitMode::Async) {
                    tracing::warn!(error = %e, "periodic commit failed");
                }
            }
            if let Some(d) = self.gate.take_ready() {
                return Ok(d);
            }
            let wait = self
                .gate
                .next_retry_in()
                .map_or(Duration::from_millis(200), |r| {
                    r.min(Duration::from_millis(200))
                });
            let m = match tokio::time::timeout(wait, self.consumer.recv()).await {
                Err(_) => continue,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, topic = %self.topic, "Kafka consumer error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Ok(Ok(m)) => m,
            };
            self.gate.push(delivery_of(&m));
        }
    }

    /// After the first delivery, what librdkafka has fetched already and what arrives within
    /// `linger`, through the gate. With no linger it does not wait after the first.
    async fn next_batch(
        &mut self,
        max: usize,
        linger: Duration,
    ) -> Result<Vec<Delivery>, TransportError> {
        let first = self.next().await?;
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + linger;
        loop {
            self.gate.take_ready_into(&mut batch, max);
            if batch.len() >= max {
                break;
            }
            // No linger: no await either, so a caller dropping the batch loses nothing.
            let got = if linger.is_zero() {
                ready_now(self.consumer.recv())
            } else {
                tokio::time::timeout_at(deadline, self.consumer.recv())
                    .await
                    .ok()
            };
            match got {
                Some(Ok(m)) => self.gate.push(delivery_of(&m)),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, topic = %self.topic, "Kafka consumer error");
                    break;
                }
                None => break,
            }
        }
        Ok(batch)
    }

    async fn ack(&mut self, delivery: &Delivery) -> Result<(), TransportError> {
        self.check_mine(delivery)?;
        let offset = Self::offset(delivery)?;
        if !self.gate.check_settleable(delivery)? {
            // Its partition was revoked meanwhile: the new owner delivers it again.
            return Ok(());
        }
        self.gate.settle(delivery)?;
        match self
            .consumer
            .store_offset(&self.topic, delivery.shard as i32, offset)
        {
            Ok(()) => {
                self.dirty = true;
                self.shared
                    .acked
                    .lock()
                    .expect("not poisoned")
                    .insert(delivery.shard as i32, offset);
            }
            Err(e) => {
                tracing::warn!(error = %e, partition = delivery.shard, offset, "could not store the offset (partition revoked?)")
            }
        }
        Ok(())
    }

    async fn nack(
        &mut self,
        delivery: Delivery,
        retry_after: Duration,
    ) -> Result<(), TransportError> {
        self.check_mine(&delivery)?;
        if !self.gate.check_settleable(&delivery)? {
            // Its partition was revoked meanwhile: the new owner delivers it again.
            return Ok(());
        }
        self.gate.nack(delivery, retry_after).map(drop)
    }

    async fn dead_letter(
        &mut self,
        delivery: &Delivery,
        reason: &DeadLetterReason,
    ) -> Result<(), TransportError> {
        self.check_mine(delivery)?;
        self.gate.check_settleable(delivery)?;
        let dlq = dlq_name(&self.topic);
        let headers = dead_letter_headers(delivery, &self.group, reason);
        let f = KafkaTransport::enqueue(
            &self.producer,
            &dlq,
            delivery.key.as_deref(),
            &delivery.payload,
            to_kafka_headers(&headers),
        )
        .await?;
        KafkaTransport::confirmed(&dlq, f).await?;
        self.ack(delivery).await
    }

    /// Commits what was acked, retrying for [`KafkaOptions::close_timeout`] while the group
    /// refuses (a rebalance in progress), polling meanwhile so the rebalance can finish;
    /// messages received while closing are not handed out (they are delivered again).
    async fn close(mut self) -> Result<(), TransportError> {
        let deadline = Instant::now() + self.close_timeout;
        loop {
            match self.commit(CommitMode::Sync) {
                Ok(()) => break,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "closing: commit refused; polling and retrying");
                    let _ = tokio::time::timeout(Duration::from_millis(100), self.consumer.recv())
                        .await;
                }
                Err(e) => return Err(e),
            }
        }
        self.consumer.unsubscribe();
        Ok(())
    }

    fn stats(&self) -> Arc<SubscriptionStats> {
        self.shared.stats.clone()
    }
}
