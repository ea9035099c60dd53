//! The group's lag on the shards a member holds, measured in the background.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::Value;

use super::lease::Ownership;
use super::stream;
use crate::SubscriptionStats;

/// Every `every`: `XINFO GROUPS` on each owned shard's stream; the group's `lag` (entries
/// not yet delivered to it) plus its `pending` (delivered, not acked). A shard whose lag
/// Redis cannot tell (`lag` nil after deletions) is left out of that measurement.
pub(crate) fn spawn(
    topic: String,
    group: String,
    mut conn: MultiplexedConnection,
    owned: Arc<Mutex<Ownership>>,
    stats: Arc<SubscriptionStats>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let shards: Vec<u32> = owned
                .lock()
                .expect("not poisoned")
                .owned
                .iter()
                .copied()
                .collect();
            if shards.is_empty() {
                stats.set_lag(BTreeMap::new());
                tokio::time::sleep(every).await;
                continue;
            }
            let mut pipe = redis::pipe();
            for shard in &shards {
                pipe.cmd("XINFO").arg("GROUPS").arg(stream(&topic, *shard));
            }
            match pipe.query_async::<Vec<Value>>(&mut conn).await {
                Ok(replies) => {
                    let lag: BTreeMap<u32, u64> = shards
                        .iter()
                        .zip(&replies)
                        .filter_map(|(shard, reply)| Some((*shard, group_lag(reply, &group)?)))
                        .collect();
                    stats.set_lag(lag);
                }
                Err(e) => {
                    tracing::debug!(topic = %topic, group = %group, error = %e, "measuring the lag failed; trying again later")
                }
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// `lag + pending` of `group` in an `XINFO GROUPS` reply (RESP2 flat pairs or RESP3 maps).
fn group_lag(reply: &Value, group: &str) -> Option<u64> {
    let Value::Array(groups) = reply else {
        return None;
    };
    groups.iter().find_map(|g| {
        let fields = pairs(g);
        let name = fields.iter().find(|(k, _)| k == "name")?.1;
        if text(name)? != group {
            return None;
        }
        let int = |key: &str| match fields.iter().find(|(k, _)| k == key)?.1 {
            Value::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        };
        Some(int("lag")? + int("pending")?)
    })
}

fn pairs(v: &Value) -> Vec<(String, &Value)> {
    match v {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|kv| match kv {
                [k, v] => Some((text(k)?, v)),
                _ => None,
            })
            .collect(),
        Value::Map(items) => items
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, v)))
            .collect(),
        _ => Vec::new(),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn reads_lag_plus_pending_of_the_group() {
        let group = |name: &str, pending: i64, lag: Value| {
            Value::Array(vec![
                bulk("name"),
                bulk(name),
                bulk("consumers"),
                Value::Int(1),
                bulk("pending"),
                Value::Int(pending),
                bulk("lag"),
                lag,
            ])
        };
        let reply = Value::Array(vec![
            group("other", 9, Value::Int(9)),
            group("g", 2, Value::Int(5)),
        ]);
        assert_eq!(group_lag(&reply, "g"), Some(7));
        assert_eq!(group_lag(&reply, "missing"), None);
        let unknown = Value::Array(vec![group("g", 2, Value::Nil)]);
        assert_eq!(group_lag(&unknown, "g"), None);
    }
}
