//! Shard ownership within a group: leases in Redis, renewed by a heartbeat task.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::Script;

use super::failed;
use crate::hash::murmur2;
use crate::message::now_millis;
use crate::TransportError;

const RENEW: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  return 0
end";

const RELEASE: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
else
  return 0
end";

/// What the heartbeat learned, for the subscription to act on.
#[derive(Debug, Default)]
pub(crate) struct Ownership {
    pub owned: BTreeSet<u32>,
    /// Taken over since the subscription last looked: claim their pending entries first.
    pub acquired: Vec<u32>,
    /// Lost since the subscription last looked (the lease expired or was taken).
    pub lost: Vec<u32>,
    /// How many shards this member should hold: ⌈shards / live members⌉.
    pub fair: usize,
    /// Per owned shard, until when its lease surely holds by this process' clock: the instant
    /// the last successful renewal was *sent*, plus the lease time (Redis started the lease's
    /// new time later than that, so it cannot have expired before).
    pub valid_until: BTreeMap<u32, Instant>,
}

impl Ownership {
    fn keep(&mut self, shard: u32, until: Instant) {
        self.owned.insert(shard);
        self.valid_until.insert(shard, until);
    }

    fn lose(&mut self, shard: u32) {
        self.valid_until.remove(&shard);
        if self.owned.remove(&shard) {
            self.lost.push(shard);
        }
    }
}

pub(crate) fn lease_key(topic: &str, shard: u32, group: &str) -> String {
    format!("{topic}:{shard}:owner:{group}")
}

pub(crate) fn members_key(topic: &str, group: &str) -> String {
    format!("{topic}:members:{group}")
}

#[derive(Clone)]
pub(crate) struct Leases {
    pub topic: String,
    pub group: String,
    pub member: String,
    pub shards: u32,
    pub ttl: Duration,
    pub conn: MultiplexedConnection,
    pub url: String,
    pub state: Arc<Mutex<Ownership>>,
}

impl Leases {
    fn lease(&self, shard: u32) -> String {
        lease_key(&self.topic, shard, &self.group)
    }

    fn members(&self) -> String {
        members_key(&self.topic, &self.group)
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis().max(1) as u64
    }

    /// Registers this member, renews its leases and takes free shards up to its fair share.
    pub(crate) async fn heartbeat(&self) -> Result<(), TransportError> {
        let mut conn = self.conn.clone();
        let now = now_millis();
        let members = self.members();
        let (_, _, live): (i64, i64, usize) = redis::pipe()
            .cmd("ZADD")
            .arg(&members)
            .arg(now + self.ttl_ms() as i64)
            .arg(&self.member)
            .cmd("ZREMRANGEBYSCORE")
            .arg(&members)
            .arg("-inf")
            .arg(now)
            .cmd("ZCARD")
            .arg(&members)
            .query_async(&mut conn)
            .await
            .map_err(|e| failed(&self.url, "ZADD", &members, e))?;
        let fair = (self.shards as usize).div_ceil(live.max(1));
        let owned: Vec<u32> = {
            let mut s = self.state.lock().expect("not poisoned");
            s.fair = fair;
            s.owned.iter().copied().collect()
        };
        let mut kept = 0;
        for shard in owned {
            if self.renew(shard).await? {
                kept += 1;
            }
        }
        if kept >= fair {
            return Ok(());
        }
        // Start looking at a member-specific shard, so members joining together spread out.
        let start = (murmur2(self.member.as_bytes()) as u32) % self.shards.max(1);
        let mut have = kept;
        let mut taken_now = Vec::new();
        for i in 0..self.shards {
            if have >= fair {
                break;
            }
            let shard = (start + i) % self.shards;
            if self
                .state
                .lock()
                .expect("not poisoned")
                .owned
                .contains(&shard)
            {
                continue;
            }
            let lease = self.lease(shard);
            let sent = Instant::now();
            let taken: Option<String> = redis::cmd("SET")
                .arg(&lease)
                .arg(&self.member)
                .arg("NX")
                .arg("PX")
                .arg(self.ttl_ms())
                .query_async(&mut conn)
                .await
                .map_err(|e| failed(&self.url, "SET NX", &lease, e))?;
            if taken.is_some() {
                tracing::debug!(lease = %lease, member = %self.member, "shard taken");
                let mut s = self.state.lock().expect("not poisoned");
                s.keep(shard, sent + self.ttl);
                s.acquired.push(shard);
                have += 1;
                taken_now.push(shard);
            }
        }
        if !taken_now.is_empty() {
            tracing::info!(transport = "redis", topic = %self.topic, group = %self.group, member = %self.member, shards = ?taken_now, "consumer assigned shards");
        }
        Ok(())
    }

    /// Renews the lease of an owned shard: true when it is still this member's (its
    /// `valid_until` moved on); false when it expired or another member holds it now (the shard
    /// is then lost: no longer owned, reported in `lost`).
    pub(crate) async fn renew(&self, shard: u32) -> Result<bool, TransportError> {
        let mut conn = self.conn.clone();
        let lease = self.lease(shard);
        let sent = Instant::now();
        let renewed: i64 = Script::new(RENEW)
            .key(&lease)
            .arg(&self.member)
            .arg(self.ttl_ms())
            .invoke_async(&mut conn)
            .await
            .map_err(|e| failed(&self.url, "PEXPIRE", &lease, e))?;
        let mut s = self.state.lock().expect("not poisoned");
        if !s.owned.contains(&shard) {
            // Given back meanwhile by the subscription.
            return Ok(false);
        }
        if renewed == 0 {
            tracing::warn!(lease = %lease, member = %self.member, "shard lease lost");
            s.lose(shard);
            Ok(false)
        } else {
            let until = sent + self.ttl;
            if s.valid_until.get(&shard).is_none_or(|u| *u < until) {
                s.valid_until.insert(shard, until);
            }
            Ok(true)
        }
    }

    /// Gives a shard back (only if the lease is still this member's).
    pub(crate) async fn release(&self, shard: u32) -> Result<(), TransportError> {
        self.state
            .lock()
            .expect("not poisoned")
            .valid_until
            .remove(&shard);
        let mut conn = self.conn.clone();
        let lease = self.lease(shard);
        let _: i64 = Script::new(RELEASE)
            .key(&lease)
            .arg(&self.member)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| failed(&self.url, "DEL", &lease, e))?;
        Ok(())
    }

    /// Leaves the group: every lease given back, the member unregistered.
    pub(crate) async fn leave(&self) -> Result<(), TransportError> {
        let owned: Vec<u32> = {
            let mut s = self.state.lock().expect("not poisoned");
            s.valid_until.clear();
            std::mem::take(&mut s.owned).into_iter().collect()
        };
        for shard in owned {
            self.release(shard).await?;
        }
        let mut conn = self.conn.clone();
        let members = self.members();
        let _: i64 = redis::cmd("ZREM")
            .arg(&members)
            .arg(&self.member)
            .query_async(&mut conn)
            .await
            .map_err(|e| failed(&self.url, "ZREM", &members, e))?;
        Ok(())
    }

    /// Heartbeats every third of the lease time until aborted.
    pub(crate) fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let every = self.ttl / 3;
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = self.heartbeat().await {
                    tracing::warn!(error = %e, member = %self.member, "shard lease heartbeat failed");
                }
            }
        })
    }
}
