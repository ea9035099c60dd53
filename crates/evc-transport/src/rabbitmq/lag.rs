//! The group's lag on each shard queue a member is attached to, measured in the background.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::{FieldTable, ShortString};
use lapin::Channel;

use super::topology::shard_queue;
use crate::SubscriptionStats;

/// Messages this member holds unacked, per shard: received from the broker (counted by the
/// shard's forwarder) and not yet acked. The broker's ready count leaves them out.
#[derive(Debug)]
pub(crate) struct Held(Vec<AtomicU64>);

impl Held {
    pub fn new(shards: u32) -> Held {
        Held((0..shards).map(|_| AtomicU64::new(0)).collect())
    }

    pub fn received(&self, shard: u32) {
        if let Some(n) = self.0.get(shard as usize) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn acked(&self, shard: u32) {
        if let Some(n) = self.0.get(shard as usize) {
            // never below 0, whatever the order of a receive and an ack
            let _ = n.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(1))
            });
        }
    }

    pub fn shards(&self) -> u32 {
        self.0.len() as u32
    }

    fn get(&self, shard: u32) -> u64 {
        self.0
            .get(shard as usize)
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }
}

/// Every `every`: a passive `queue.declare` of each shard queue (its ready messages) plus the
/// messages this member holds unacked from it. The task ends when its channel fails (the
/// member's connection closed).
pub(crate) fn spawn(
    channel: Channel,
    topic: String,
    group: String,
    shards: u32,
    held: Arc<Held>,
    stats: Arc<SubscriptionStats>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        loop {
            let mut lag = BTreeMap::new();
            for shard in 0..shards {
                let q = shard_queue(&topic, &group, shard);
                match channel
                    .queue_declare(
                        ShortString::from(q.as_str()),
                        passive,
                        FieldTable::default(),
                    )
                    .await
                {
                    Ok(queue) => {
                        lag.insert(shard, u64::from(queue.message_count()) + held.get(shard));
                    }
                    Err(e) => {
                        tracing::debug!(queue = %q, error = %e, "measuring the lag failed; no more measurements on this member");
                        return;
                    }
                }
            }
            stats.set_lag(lag);
            tokio::time::sleep(every).await;
        }
    })
}
