//! What the cases share: names, payloads, consuming with a deadline, order checks.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use crate::{Delivery, Outgoing, Subscription};

/// How long a case waits for anything before it fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(45);

/// A name of its own for this run: `evc-conf-<what>-<12 hex digits>`.
pub fn unique(what: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("evc-conf-{what}-{}", &id[..12])
}

/// A Confluent-framed payload (magic byte 0, schema id 1) whose body is `key|seq`.
pub fn frame(key: &str, seq: u32) -> Vec<u8> {
    let mut v = vec![0, 0, 0, 0, 1];
    v.extend_from_slice(format!("{key}|{seq}").as_bytes());
    v
}

/// Reads back what [`frame`] wrote.
pub fn unframe(payload: &[u8]) -> Option<(String, u32)> {
    let body = payload.strip_prefix(&[0, 0, 0, 0, 1])?;
    let (key, seq) = std::str::from_utf8(body).ok()?.rsplit_once('|')?;
    Some((key.to_string(), seq.parse().ok()?))
}

pub(crate) fn message(key: &str, seq: u32) -> Outgoing {
    Outgoing::new(key, frame(key, seq))
        .header("evc-event-id", format!("{key}-{seq}"))
        .header("content-type", "application/vnd.confluent.avro")
}

/// `keys` keys × `per_key` messages, interleaved (every key's seq 0, then every key's seq 1…).
pub(crate) fn messages(prefix: &str, keys: u32, per_key: u32) -> Vec<Outgoing> {
    let mut out = Vec::new();
    for seq in 0..per_key {
        for k in 0..keys {
            out.push(message(&format!("{prefix}-{k}"), seq));
        }
    }
    out
}

pub(crate) fn seq_of(d: &Delivery) -> (String, u32) {
    unframe(&d.payload).unwrap_or_else(|| panic!("a payload the suite did not write: {d:?}"))
}

/// The next delivery, or a panic naming `what` after `patience`.
pub(crate) async fn next_within<S: Subscription>(
    s: &mut S,
    patience: Duration,
    what: &str,
) -> Delivery {
    match tokio::time::timeout(patience, s.next()).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => panic!("{what}: next failed: {e}"),
        Err(_) => panic!("{what}: nothing delivered within {patience:?}"),
    }
}

/// Whether anything is delivered within `quiet` (a delivery is nacked back at once).
pub(crate) async fn stays_quiet<S: Subscription>(s: &mut S, quiet: Duration) -> Option<Delivery> {
    match tokio::time::timeout(quiet, s.next()).await {
        Ok(Ok(d)) => Some(d),
        Ok(Err(e)) => panic!("next failed: {e}"),
        Err(_) => None,
    }
}

/// Per key, the order in which sequence numbers were first seen.
#[derive(Default)]
pub(crate) struct Ledger {
    firsts: BTreeMap<String, Vec<u32>>,
    seen: HashSet<(String, u32)>,
    pub deliveries: u64,
    pub shards: HashSet<u32>,
}

impl Ledger {
    /// Records a delivery; answers whether it was new.
    pub(crate) fn record(&mut self, d: &Delivery) -> bool {
        let (key, seq) = seq_of(d);
        self.deliveries += 1;
        self.shards.insert(d.shard);
        if self.seen.insert((key.clone(), seq)) {
            self.firsts.entry(key).or_default().push(seq);
            true
        } else {
            false
        }
    }

    pub(crate) fn distinct(&self) -> usize {
        self.seen.len()
    }

    /// Every key's messages first seen in publish order, none missing.
    pub(crate) fn assert_complete_and_ordered(&self, keys: u32, per_key: u32, prefix: &str) {
        assert_eq!(
            self.firsts.len(),
            keys as usize,
            "every key delivered: {:?}",
            self.firsts.keys().collect::<Vec<_>>()
        );
        let want: Vec<u32> = (0..per_key).collect();
        for k in 0..keys {
            let key = format!("{prefix}-{k}");
            assert_eq!(
                self.firsts.get(&key),
                Some(&want),
                "key {key}: messages first seen in publish order, none missing"
            );
        }
    }
}
