//! A member of a consumer group on a sharded topic: leases, reads, claims, settling.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::Value;
use tokio::task::JoinHandle;

use super::entries::{self, id_before};
use super::lease::{Leases, Ownership};
use super::{failed, stream, RedisOptions, KIND};
use crate::gate::Gate;
use crate::{
    dead_letter_headers, dlq_name, DeadLetterReason, Delivery, SubscribeOptions, Subscription,
    SubscriptionStats, TransportError,
};

/// A Redis Streams group member (see the [module](super) docs). Dropping it without
/// [`Subscription::close`] stops its heartbeat: its shards move once their leases expire.
pub struct RedisSubscription {
    topic: String,
    group: String,
    member: String,
    conn: MultiplexedConnection,
    reader: MultiplexedConnection,
    options: RedisOptions,
    prefetch: u16,
    gate: Gate,
    leases: Leases,
    heartbeat: JoinHandle<()>,
    stats: Arc<SubscriptionStats>,
    /// Measures the lag of the owned shards every `lag_interval`.
    lag: JoinHandle<()>,
    /// A read or claim was under way when a `next` was dropped: re-read this member's own
    /// pending entries before going on.
    reading: bool,
}

impl Drop for RedisSubscription {
    fn drop(&mut self) {
        self.heartbeat.abort();
        self.lag.abort();
    }
}

impl RedisSubscription {
    pub(crate) async fn start(
        topic: &str,
        shards: u32,
        options: SubscribeOptions,
        conn: MultiplexedConnection,
        reader: MultiplexedConnection,
        redis: RedisOptions,
    ) -> Result<RedisSubscription, TransportError> {
        let member = format!("{}-{}", options.group, uuid::Uuid::new_v4().simple());
        let leases = Leases {
            topic: topic.to_string(),
            group: options.group.clone(),
            member: member.clone(),
            shards,
            ttl: options.takeover_after.max(Duration::from_millis(300)),
            conn: conn.clone(),
            url: redis.url.clone(),
            state: Arc::new(Mutex::new(Ownership::default())),
        };
        leases.heartbeat().await?;
        let heartbeat = leases.clone().spawn();
        let stats = Arc::new(SubscriptionStats::new(topic));
        let lag = super::lag::spawn(
            topic.to_string(),
            options.group.clone(),
            conn.clone(),
            leases.state.clone(),
            stats.clone(),
            options.lag_interval,
        );
        Ok(RedisSubscription {
            topic: topic.to_string(),
            group: options.group,
            member,
            conn,
            reader,
            options: redis,
            prefetch: options.prefetch.max(1),
            gate: Gate::new(KIND).with_window(options.window),
            leases,
            heartbeat,
            stats,
            lag,
            reading: false,
        })
    }

    /// This member's name in the Redis consumer groups.
    pub fn member(&self) -> &str {
        &self.member
    }

    /// The shards this member holds now.
    pub fn owned_shards(&self) -> Vec<u32> {
        self.state().owned.iter().copied().collect()
    }

    /// Test support: stops the heartbeat as a stalled process would (the member goes on
    /// reading; only its own fencing stops it once its leases may have lapsed).
    #[doc(hidden)]
    pub fn stall_heartbeat(&self) {
        self.heartbeat.abort();
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Ownership> {
        self.leases.state.lock().expect("not poisoned")
    }

    fn fail(&self, op: &'static str, target: &str, e: redis::RedisError) -> TransportError {
        failed(&self.options.url, op, target, e)
    }

    /// The part of the lease time kept in hand: a shard whose lease may end within it is
    /// renewed before more of it is read or handed out.
    fn margin(&self) -> Duration {
        self.leases.ttl / 3
    }

    /// Fencing against a late heartbeat (a loaded machine, a paused process): every held shard
    /// whose lease may lapse within the margin by this process' clock is renewed here, before
    /// anything more of it is read or handed out; one another member holds now is lost at once
    /// (its deliveries dropped, its pending entries left to the new owner).
    async fn fence(&mut self) -> Result<(), TransportError> {
        let now = Instant::now();
        let margin = self.margin();
        let due: Vec<u32> = {
            let s = self.state();
            s.owned
                .iter()
                .copied()
                .filter(|shard| {
                    s.valid_until
                        .get(shard)
                        .is_none_or(|u| u.saturating_duration_since(now) <= margin)
                })
                .collect()
        };
        for shard in due {
            if !self.leases.renew(shard).await? {
                tracing::warn!(topic = %self.topic, shard, member = %self.member, "shard lease lapsed under a live member; fenced off");
            }
        }
        Ok(())
    }

    /// How long a read may block so that it returns while every shard it reads is surely
    /// still held (entries are assigned to this member when the read returns).
    fn read_budget(&self, shards: &[u32], wait: Duration) -> Duration {
        let now = Instant::now();
        let margin = self.margin();
        let s = self.state();
        shards
            .iter()
            .map(|shard| {
                s.valid_until.get(shard).map_or(Duration::ZERO, |u| {
                    u.saturating_duration_since(now).saturating_sub(margin)
                })
            })
            .fold(wait, Duration::min)
            .max(Duration::from_millis(1))
    }

    /// Entries of held shards pending for another consumer (a member that read a shard after
    /// its lease had lapsed, before it learnt so, or nacked an entry of it meanwhile): claimed
    /// to this member and queued in id order, ahead of anything read after them, so none is
    /// stranded in a consumer nobody reads for and a key's order holds. True when any was.
    async fn sweep(&mut self, shards: &[u32]) -> Result<bool, TransportError> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for shard in shards {
            pipe.cmd("XPENDING")
                .arg(stream(&self.topic, *shard))
                .arg(&self.group);
        }
        let summaries: Vec<Value> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail("XPENDING", &self.topic, e))?;
        let mut queued = false;
        for (shard, summary) in shards.iter().copied().zip(summaries) {
            let key = stream(&self.topic, shard);
            for (name, count) in entries::parse_pending_summary(&summary) {
                if name == self.member || count == 0 {
                    continue;
                }
                let reply: Value = redis::cmd("XPENDING")
                    .arg(&key)
                    .arg(&self.group)
                    .arg("-")
                    .arg("+")
                    .arg(count)
                    .arg(&name)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.fail("XPENDING", &key, e))?;
                let ids: Vec<String> = entries::parse_pending(&reply, &key)?
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect();
                if ids.is_empty() {
                    continue;
                }
                tracing::warn!(stream = %key, group = %self.group, from = %name, to = %self.member, entries = ids.len(), "claiming entries another member read from a shard it no longer holds");
                let claimed: Value = redis::cmd("XCLAIM")
                    .arg(&key)
                    .arg(&self.group)
                    .arg(&self.member)
                    .arg(0)
                    .arg(&ids)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.fail("XCLAIM", &key, e))?;
                let found = entries::parse_entries(&claimed, &key)?;
                queued |= !found.is_empty();
                self.queue_pending(shard, found).await?;
            }
        }
        Ok(queued)
    }

    /// Acts on what the heartbeat found: shards lost, shards taken over, shards beyond the
    /// fair share that are idle and can be given back.
    async fn sync_ownership(&mut self) -> Result<(), TransportError> {
        let lost = std::mem::take(&mut self.state().lost);
        if !lost.is_empty() {
            tracing::info!(transport = %KIND, topic = %self.topic, group = %self.group, member = %self.member, shards = ?lost, reason = "lease lost", "consumer revoked shards");
        }
        for shard in lost {
            let dropped = self.gate.drop_shard(shard);
            if !dropped.is_empty() {
                tracing::warn!(topic = %self.topic, shard, held = dropped.len(), "shard lost; its deliveries go to the new owner");
            }
        }
        // A shard taken over leaves the list only once its claim is done: a `next` dropped
        // mid-claim (callers time it out) claims it again on the next call.
        loop {
            let (shard, held) = {
                let s = self.state();
                let Some(shard) = s.acquired.first().copied() else {
                    break;
                };
                (shard, s.owned.contains(&shard))
            };
            if held {
                self.reading = true;
                self.claim(shard).await?;
                self.reading = false;
            }
            let mut s = self.state();
            if s.acquired.first() == Some(&shard) {
                s.acquired.remove(0);
            }
        }
        let surplus: Vec<u32> = {
            let s = self.state();
            let extra = s.owned.len().saturating_sub(s.fair);
            s.owned
                .iter()
                .rev()
                .copied()
                .filter(|shard| self.gate.is_idle(*shard))
                .take(extra)
                .collect()
        };
        if !surplus.is_empty() {
            tracing::info!(transport = %KIND, topic = %self.topic, group = %self.group, member = %self.member, shards = ?surplus, reason = "given back (fair share)", "consumer revoked shards");
        }
        for shard in surplus {
            self.state().owned.remove(&shard);
            self.gate.drop_shard(shard);
            self.leases.release(shard).await?;
            tracing::debug!(topic = %self.topic, shard, member = %self.member, "shard given back");
        }
        Ok(())
    }

    /// Takes every pending entry of a shard taken over (a dead member's), in id order, with
    /// its delivery count, ahead of anything new.
    async fn claim(&mut self, shard: u32) -> Result<(), TransportError> {
        let key = stream(&self.topic, shard);
        let mut conn = self.conn.clone();
        let mut cursor = "0-0".to_string();
        let mut claimed = Vec::new();
        loop {
            let reply: Value = redis::cmd("XAUTOCLAIM")
                .arg(&key)
                .arg(&self.group)
                .arg(&self.member)
                .arg(0)
                .arg(&cursor)
                .arg("COUNT")
                .arg(256)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.fail("XAUTOCLAIM", &key, e))?;
            let (next, found, deleted) = entries::parse_autoclaim(&reply, &key)?;
            for id in deleted {
                tracing::error!(stream = %key, id = %id, group = %self.group, "a pending entry was trimmed by retention before it was processed; it is lost");
                let _: i64 = redis::cmd("XACK")
                    .arg(&key)
                    .arg(&self.group)
                    .arg(&id)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.fail("XACK", &key, e))?;
            }
            claimed.extend(found);
            if next == "0-0" {
                break;
            }
            cursor = next;
        }
        self.queue_pending(shard, claimed).await?;
        self.reap(shard).await
    }

    /// Removes from the consumer list of a shard this member now holds every other consumer
    /// with nothing pending there (dead members leave their names behind; a live member that
    /// reads the shard again later is listed again, so nothing is lost).
    async fn reap(&mut self, shard: u32) -> Result<(), TransportError> {
        let key = stream(&self.topic, shard);
        let mut conn = self.conn.clone();
        let reply: Value = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(&key)
            .arg(&self.group)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail("XINFO CONSUMERS", &key, e))?;
        for (name, pending, _idle) in entries::parse_consumers(&reply) {
            if name != self.member && pending == 0 {
                let _: i64 = redis::cmd("XGROUP")
                    .arg("DELCONSUMER")
                    .arg(&key)
                    .arg(&self.group)
                    .arg(&name)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.fail("XGROUP DELCONSUMER", &key, e))?;
            }
        }
        Ok(())
    }

    /// Queues entries pending for this member with their delivery counts from `XPENDING`.
    async fn queue_pending(
        &mut self,
        shard: u32,
        found: Vec<entries::Entry>,
    ) -> Result<(), TransportError> {
        let fresh: Vec<entries::Entry> = found
            .into_iter()
            .filter(|e| !self.gate.holds(shard, &e.id))
            .collect();
        let (Some(first), Some(last)) = (fresh.first(), fresh.last()) else {
            return Ok(());
        };
        let key = stream(&self.topic, shard);
        let mut conn = self.conn.clone();
        let reply: Value = redis::cmd("XPENDING")
            .arg(&key)
            .arg(&self.group)
            .arg(&first.id)
            .arg(&last.id)
            .arg(fresh.len())
            .arg(&self.member)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail("XPENDING", &key, e))?;
        let counts: std::collections::HashMap<String, u32> =
            entries::parse_pending(&reply, &key)?.into_iter().collect();
        for e in fresh {
            let count = counts.get(&e.id).copied().unwrap_or(1).max(1);
            let d = e.into_delivery(&self.topic, shard, count);
            self.gate.insert_ordered(d, id_before);
        }
        Ok(())
    }

    /// After a `next` was dropped mid-read: this member's own pending entries of the shards it
    /// holds, those the gate does not know queued again. Read on the blocking reads'
    /// connection: Redis runs a connection's commands in order, so a dropped `XREADGROUP …
    /// BLOCK` still waiting there (it assigns entries to this member when it returns, reply or
    /// not) has returned before this looks.
    async fn recover(&mut self) -> Result<(), TransportError> {
        let owned = self.owned_shards();
        for shard in owned {
            let key = stream(&self.topic, shard);
            let mut conn = self.reader.clone();
            let reply: Value = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(&self.group)
                .arg(&self.member)
                .arg("STREAMS")
                .arg(&key)
                .arg("0")
                .query_async(&mut conn)
                .await
                .map_err(|e| self.fail("XREADGROUP", &key, e))?;
            let mine: Vec<entries::Entry> = entries::parse_read(&reply, &key)?
                .into_iter()
                .flat_map(|(_, e)| e)
                .collect();
            self.queue_pending(shard, mine).await?;
        }
        Ok(())
    }

    /// One `XREADGROUP … >` over the held shards that have nothing queued.
    async fn read(&mut self, wait: Duration) -> Result<(), TransportError> {
        let readable: Vec<u32> = self
            .owned_shards()
            .into_iter()
            .filter(|s| self.gate.queued(*s) == 0)
            .collect();
        if readable.is_empty() {
            tokio::time::sleep(wait.min(Duration::from_millis(100))).await;
            return Ok(());
        }
        self.reading = true;
        if self.sweep(&readable).await? {
            self.reading = false;
            return Ok(());
        }
        let wait = self.read_budget(&readable, wait);
        let keys: Vec<String> = readable.iter().map(|s| stream(&self.topic, *s)).collect();
        let mut c = redis::cmd("XREADGROUP");
        c.arg("GROUP")
            .arg(&self.group)
            .arg(&self.member)
            .arg("COUNT")
            .arg(self.prefetch)
            .arg("BLOCK")
            .arg(wait.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(&keys);
        for _ in &keys {
            c.arg(">");
        }
        self.reading = true;
        let reply: Value = c
            .query_async(&mut self.reader)
            .await
            .map_err(|e| self.fail("XREADGROUP", &self.topic, e))?;
        for (key, found) in entries::parse_read(&reply, &self.topic)? {
            let Some(shard) = key
                .rsplit_once(':')
                .and_then(|(_, s)| s.parse::<u32>().ok())
            else {
                continue;
            };
            for e in found {
                self.gate.push(e.into_delivery(&self.topic, shard, 1));
            }
        }
        self.reading = false;
        Ok(())
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
}

impl Subscription for RedisSubscription {
    async fn next(&mut self) -> Result<Delivery, TransportError> {
        loop {
            self.fence().await?;
            // Before shards are given back: what a dropped read took is then in the gate, so
            // a shard it read from is not idle.
            if self.reading {
                self.recover().await?;
                self.reading = false;
            }
            self.sync_ownership().await?;
            if let Some(d) = self.gate.take_ready() {
                return Ok(d);
            }
            let wait = self
                .gate
                .next_retry_in()
                .map_or(self.options.block, |r| r.min(self.options.block));
            self.read(wait).await?;
        }
    }

    /// After the first delivery, what the gate holds already, then one read of at most
    /// `linger` when that is not enough.
    async fn next_batch(
        &mut self,
        max: usize,
        linger: Duration,
    ) -> Result<Vec<Delivery>, TransportError> {
        let first = self.next().await?;
        let mut batch = vec![first];
        self.gate.take_ready_into(&mut batch, max);
        if batch.len() < max && !linger.is_zero() {
            match self.read(linger).await {
                Ok(()) => self.gate.take_ready_into(&mut batch, max),
                Err(e) => tracing::debug!(error = %e, "read for a batch failed; the batch ends"),
            }
        }
        Ok(batch)
    }

    async fn ack(&mut self, delivery: &Delivery) -> Result<(), TransportError> {
        self.check_mine(delivery)?;
        // Not held any more when its shard moved meanwhile: acked in Redis all the same.
        let held = self.gate.check_settleable(delivery)?;
        let key = stream(&self.topic, delivery.shard);
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("XACK")
            .arg(&key)
            .arg(&self.group)
            .arg(&delivery.position)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail("XACK", &key, e))?;
        if held {
            self.gate.settle(delivery)?;
        }
        Ok(())
    }

    async fn nack(
        &mut self,
        delivery: Delivery,
        retry_after: Duration,
    ) -> Result<(), TransportError> {
        self.check_mine(&delivery)?;
        let (shard, id) = (delivery.shard, delivery.position.clone());
        if !self.gate.check_settleable(&delivery)? {
            // Its shard moved: the new owner delivers it again.
            return Ok(());
        }
        // The later deliveries of its shard it takes back stay pending with this member.
        self.gate.nack(delivery, retry_after)?;
        // Claiming it again raises its delivery count in Redis, so a member that takes the
        // shard over later sees this attempt too.
        let key = stream(&self.topic, shard);
        let mut conn = self.conn.clone();
        let _: Value = redis::cmd("XCLAIM")
            .arg(&key)
            .arg(&self.group)
            .arg(&self.member)
            .arg(0)
            .arg(&id)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail("XCLAIM", &key, e))?;
        Ok(())
    }

    async fn dead_letter(
        &mut self,
        delivery: &Delivery,
        reason: &DeadLetterReason,
    ) -> Result<(), TransportError> {
        self.check_mine(delivery)?;
        let held = self.gate.check_settleable(delivery)?;
        let key = stream(&self.topic, delivery.shard);
        let dlq = dlq_name(&self.topic);
        let headers = dead_letter_headers(delivery, &self.group, reason);
        let mut add = redis::cmd("XADD");
        add.arg(&dlq).arg("*");
        entries::fields(
            &mut add,
            delivery.key.as_deref().unwrap_or_default(),
            &delivery.payload,
            &headers,
        );
        let mut conn = self.conn.clone();
        let _: () = redis::pipe()
            .atomic()
            .add_command(add)
            .ignore()
            .cmd("XACK")
            .arg(&key)
            .arg(&self.group)
            .arg(&delivery.position)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail("XADD", &dlq, e))?;
        if held {
            self.gate.settle(delivery)?;
        }
        Ok(())
    }

    async fn close(self) -> Result<(), TransportError> {
        self.heartbeat.abort();
        self.lag.abort();
        let owned = self.owned_shards();
        self.leases.leave().await?;
        if !owned.is_empty() {
            tracing::info!(transport = %KIND, topic = %self.topic, group = %self.group, member = %self.member, shards = ?owned, reason = "closed", "consumer revoked shards");
        }
        // A member with nothing pending leaves the group's consumer lists too; one with
        // pending entries stays listed until a new owner has claimed them.
        let mut conn = self.conn.clone();
        for shard in 0..self.leases.shards {
            let key = stream(&self.topic, shard);
            let pending: Value = redis::cmd("XPENDING")
                .arg(&key)
                .arg(&self.group)
                .arg("-")
                .arg("+")
                .arg(1)
                .arg(&self.member)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.fail("XPENDING", &key, e))?;
            if entries::parse_pending(&pending, &key)?.is_empty() {
                let _: i64 = redis::cmd("XGROUP")
                    .arg("DELCONSUMER")
                    .arg(&key)
                    .arg(&self.group)
                    .arg(&self.member)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.fail("XGROUP DELCONSUMER", &key, e))?;
            }
        }
        Ok(())
    }

    fn stats(&self) -> Arc<SubscriptionStats> {
        self.stats.clone()
    }
}
