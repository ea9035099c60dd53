//! The group's lag on the partitions a member holds, measured on a thread of its own (the
//! broker round trips never wait in the consumer's poll).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Offset;

use super::subscription::{Context, Shared};

/// How long one broker question of a measurement may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// Every `every`, until the subscription is gone: for each assigned partition, the high
/// watermark minus the offset after the last one acked, else the group's committed offset,
/// else the low watermark (the group starts at the earliest).
pub(super) fn spawn(consumer: Weak<StreamConsumer<Context>>, shared: Arc<Shared>, every: Duration) {
    let topic = shared.topic.clone();
    let spawned = std::thread::Builder::new()
        .name("evc-kafka-lag".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            let Some(consumer) = consumer.upgrade() else {
                return;
            };
            let lag = measure(&consumer, &shared);
            drop(consumer);
            if let Some(lag) = lag {
                shared
                    .stats
                    .update_lag(lag.into_iter().map(|(p, l)| (p, Some(l))));
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(topic = %topic, error = %e, "cannot start the lag measurement thread; no lag is reported");
    }
}

fn measure(consumer: &StreamConsumer<Context>, shared: &Shared) -> Option<BTreeMap<u32, u64>> {
    let assigned = shared.assigned.lock().expect("not poisoned").clone();
    if assigned.is_empty() {
        return None;
    }
    let committed = match consumer.committed(ASK_TIMEOUT) {
        Ok(tpl) => tpl,
        Err(e) => {
            tracing::debug!(topic = %shared.topic, error = %e, "reading the committed offsets failed; lag measured later");
            return None;
        }
    };
    let mut lag = BTreeMap::new();
    for p in assigned {
        let (lo, hi) = match consumer.fetch_watermarks(&shared.topic, p, ASK_TIMEOUT) {
            Ok(w) => w,
            Err(e) => {
                tracing::debug!(topic = %shared.topic, partition = p, error = %e, "reading the watermarks failed; lag measured later");
                continue;
            }
        };
        let acked = shared
            .acked
            .lock()
            .expect("not poisoned")
            .get(&p)
            .map(|o| o + 1);
        let committed = committed
            .find_partition(&shared.topic, p)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) if o >= 0 => Some(o),
                _ => None,
            });
        // the assignment may have changed while the broker answered
        if !shared.assigned.lock().expect("not poisoned").contains(&p) {
            continue;
        }
        let from = acked.or(committed).unwrap_or(lo);
        lag.insert(p as u32, (hi - from).max(0) as u64);
    }
    Some(lag)
}
