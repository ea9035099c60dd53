//! The history checker: what an outbox → broker → idempotent consumer → projection pipeline
//! did, read back after a run with faults, and the properties it must have.
//!
//! A fault suite fills a [`History`] from the real stores afterwards (the event store, every
//! message of the topic, the consumer's processed-events and side-effect tables, the read
//! model and a rebuild of it) and calls [`History::check`], which reports every violation,
//! not the first:
//!
//! - every write acknowledged to the writer is in the store (nothing acknowledged was lost);
//! - every appended event was published at least once, and nothing else was;
//! - the events of one key are on one partition, and their first deliveries keep the store's
//!   order (redeliveries after a relay crash may repeat a prefix, never reorder);
//! - every appended event's side effect happened exactly once;
//! - the read model equals a rebuild from the event store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// One event as the event store holds it, in global position order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub position: u64,
    pub key: String,
    pub event_id: String,
}

/// One message of the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub event_id: String,
}

/// Everything read back after a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Event ids whose append the writer saw acknowledged (empty when the suite does not
    /// track them): each must be in `appended`.
    pub acknowledged: Vec<String>,
    pub appended: Vec<Appended>,
    pub delivered: Vec<Delivered>,
    /// Event ids with a side effect, one entry per effect row.
    pub effects: Vec<String>,
    /// The read model, as rows rendered to text (any stable rendering).
    pub read_model: BTreeMap<String, String>,
    /// The same read model rebuilt from the event store.
    pub rebuilt: BTreeMap<String, String>,
}

/// A property the history breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// A write acknowledged to the writer that the store does not have.
    AckLost { event_id: String },
    /// An appended event never reached the topic.
    NotPublished { event_id: String, position: u64 },
    /// A message whose event the store does not have.
    NotAppended {
        event_id: String,
        partition: i32,
        offset: i64,
    },
    /// One key's events on more than one partition.
    KeySplit { key: String, partitions: Vec<i32> },
    /// One key's first deliveries out of store order: `later` (by store position) was first
    /// delivered before `earlier`.
    OutOfOrder {
        key: String,
        earlier: String,
        later: String,
    },
    /// A side effect that happened `times` times (0 or more than 1).
    EffectCount { event_id: String, times: usize },
    /// A side effect for an event the store does not have.
    UnknownEffect { event_id: String },
    /// The read model differs from the rebuild at `row`.
    ReadModel {
        row: String,
        live: Option<String>,
        rebuilt: Option<String>,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::AckLost { event_id } => {
                write!(f, "event {event_id} was acknowledged to the writer but is not in the store")
            }
            Violation::NotPublished { event_id, position } => {
                write!(f, "event {event_id} (position {position}) was never published")
            }
            Violation::NotAppended { event_id, partition, offset } => write!(
                f,
                "message {partition}@{offset} carries event {event_id}, which the store does not have"
            ),
            Violation::KeySplit { key, partitions } => {
                write!(f, "key {key} is on partitions {partitions:?}")
            }
            Violation::OutOfOrder { key, earlier, later } => write!(
                f,
                "key {key}: event {later} was delivered before {earlier}, which the store has first"
            ),
            Violation::EffectCount { event_id, times } => {
                write!(f, "event {event_id} had its side effect {times} times, not once")
            }
            Violation::UnknownEffect { event_id } => {
                write!(f, "a side effect for event {event_id}, which the store does not have")
            }
            Violation::ReadModel { row, live, rebuilt } => write!(
                f,
                "read model row {row}: live {live:?}, rebuilt {rebuilt:?}"
            ),
        }
    }
}

/// What a clean history held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Acknowledged writes checked.
    pub acknowledged: usize,
    pub events: usize,
    pub messages: usize,
    /// Messages beyond one per event (redeliveries).
    pub duplicates: usize,
    pub keys: usize,
}

impl History {
    /// Every violation, or a summary of a clean history.
    pub fn check(&self) -> Result<Summary, Vec<Violation>> {
        let mut v = Vec::new();
        let by_id: HashMap<&str, &Appended> = self
            .appended
            .iter()
            .map(|a| (a.event_id.as_str(), a))
            .collect();

        // Nothing acknowledged lost.
        for id in &self.acknowledged {
            if !by_id.contains_key(id.as_str()) {
                v.push(Violation::AckLost {
                    event_id: id.clone(),
                });
            }
        }

        // Published at least once, and nothing else.
        let delivered_ids: BTreeSet<&str> =
            self.delivered.iter().map(|d| d.event_id.as_str()).collect();
        for a in &self.appended {
            if !delivered_ids.contains(a.event_id.as_str()) {
                v.push(Violation::NotPublished {
                    event_id: a.event_id.clone(),
                    position: a.position,
                });
            }
        }
        for d in &self.delivered {
            if !by_id.contains_key(d.event_id.as_str()) {
                v.push(Violation::NotAppended {
                    event_id: d.event_id.clone(),
                    partition: d.partition,
                    offset: d.offset,
                });
            }
        }

        // One partition per key; first deliveries in store order.
        let mut partitions: BTreeMap<&str, BTreeSet<i32>> = BTreeMap::new();
        for d in &self.delivered {
            partitions.entry(&d.key).or_default().insert(d.partition);
        }
        for (key, ps) in &partitions {
            if ps.len() > 1 {
                v.push(Violation::KeySplit {
                    key: key.to_string(),
                    partitions: ps.iter().copied().collect(),
                });
            }
        }
        let mut in_topic: Vec<&Delivered> = self.delivered.iter().collect();
        in_topic.sort_by_key(|d| (d.partition, d.offset));
        let mut first_seen: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for d in in_topic {
            if seen.insert(&d.event_id) {
                first_seen.entry(&d.key).or_default().push(&d.event_id);
            }
        }
        for (key, ids) in &first_seen {
            let positions: Vec<(u64, &str)> = ids
                .iter()
                .filter_map(|id| by_id.get(id).map(|a| (a.position, *id)))
                .collect();
            for w in positions.windows(2) {
                if w[0].0 > w[1].0 {
                    v.push(Violation::OutOfOrder {
                        key: key.to_string(),
                        earlier: w[1].1.to_string(),
                        later: w[0].1.to_string(),
                    });
                }
            }
        }

        // Exactly one side effect per event.
        let mut effects: HashMap<&str, usize> = HashMap::new();
        for e in &self.effects {
            *effects.entry(e).or_default() += 1;
        }
        for a in &self.appended {
            let times = effects.get(a.event_id.as_str()).copied().unwrap_or(0);
            if times != 1 {
                v.push(Violation::EffectCount {
                    event_id: a.event_id.clone(),
                    times,
                });
            }
        }
        let mut unknown: Vec<&str> = effects
            .keys()
            .filter(|id| !by_id.contains_key(*id))
            .copied()
            .collect();
        unknown.sort_unstable();
        for id in unknown {
            v.push(Violation::UnknownEffect {
                event_id: id.to_string(),
            });
        }

        // The read model is a rebuild.
        let rows: BTreeSet<&String> = self.read_model.keys().chain(self.rebuilt.keys()).collect();
        for row in rows {
            let (live, rebuilt) = (self.read_model.get(row), self.rebuilt.get(row));
            if live != rebuilt {
                v.push(Violation::ReadModel {
                    row: row.clone(),
                    live: live.cloned(),
                    rebuilt: rebuilt.cloned(),
                });
            }
        }

        if v.is_empty() {
            Ok(Summary {
                acknowledged: self.acknowledged.len(),
                events: self.appended.len(),
                messages: self.delivered.len(),
                duplicates: self.delivered.len() - delivered_ids.len(),
                keys: partitions.len(),
            })
        } else {
            Err(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(position: u64, key: &str, id: &str) -> Appended {
        Appended {
            position,
            key: key.into(),
            event_id: id.into(),
        }
    }

    fn del(partition: i32, offset: i64, key: &str, id: &str) -> Delivered {
        Delivered {
            partition,
            offset,
            key: key.into(),
            event_id: id.into(),
        }
    }

    /// Two keys, three events each; a relay crash made partition 0 repeat a prefix.
    fn clean() -> History {
        let appended = vec![
            app(1, "k1", "a1"),
            app(2, "k2", "b1"),
            app(3, "k1", "a2"),
            app(4, "k2", "b2"),
            app(5, "k1", "a3"),
            app(6, "k2", "b3"),
        ];
        let delivered = vec![
            del(0, 0, "k1", "a1"),
            del(0, 1, "k1", "a2"),
            del(0, 2, "k1", "a1"),
            del(0, 3, "k1", "a2"),
            del(0, 4, "k1", "a3"),
            del(1, 0, "k2", "b1"),
            del(1, 1, "k2", "b2"),
            del(1, 2, "k2", "b3"),
        ];
        let effects = appended.iter().map(|a| a.event_id.clone()).collect();
        let model: BTreeMap<String, String> = [
            ("k1".into(), "3 items".into()),
            ("k2".into(), "3 items".into()),
        ]
        .into();
        History {
            acknowledged: vec!["a1".into(), "b3".into()],
            appended,
            delivered,
            effects,
            read_model: model.clone(),
            rebuilt: model,
        }
    }

    #[test]
    fn a_clean_history_with_redeliveries_passes() {
        let s = clean().check().unwrap();
        assert_eq!(
            s,
            Summary {
                acknowledged: 2,
                events: 6,
                messages: 8,
                duplicates: 2,
                keys: 2
            }
        );
    }

    #[test]
    fn an_acknowledged_write_missing_from_the_store_is_reported() {
        let mut h = clean();
        h.acknowledged.push("lost".into());
        assert_eq!(
            h.check().unwrap_err(),
            vec![Violation::AckLost {
                event_id: "lost".into()
            }]
        );
    }

    #[test]
    fn a_lost_event_is_reported() {
        let mut h = clean();
        h.delivered.retain(|d| d.event_id != "b2");
        assert_eq!(
            h.check().unwrap_err(),
            vec![Violation::NotPublished {
                event_id: "b2".into(),
                position: 4
            }]
        );
    }

    #[test]
    fn reordering_within_a_key_is_reported() {
        let mut h = clean();
        h.delivered.retain(|d| d.partition == 1);
        h.delivered[0].event_id = "b2".into();
        h.delivered[1].event_id = "b1".into();
        h.delivered
            .extend(clean().delivered.into_iter().filter(|d| d.partition == 0));
        assert_eq!(
            h.check().unwrap_err(),
            vec![Violation::OutOfOrder {
                key: "k2".into(),
                earlier: "b1".into(),
                later: "b2".into()
            }]
        );
    }

    #[test]
    fn split_keys_foreign_messages_effects_and_read_models_are_reported() {
        let mut h = clean();
        h.delivered.push(del(2, 0, "k1", "a3"));
        h.delivered.push(del(1, 3, "k2", "zz"));
        h.effects.push("a1".into());
        h.effects.retain(|e| e != "b3");
        h.effects.push("ghost".into());
        h.read_model.insert("k1".into(), "2 items".into());
        let err = h.check().unwrap_err();
        let shown: Vec<String> = err.iter().map(ToString::to_string).collect();
        assert_eq!(
            err,
            vec![
                Violation::NotAppended {
                    event_id: "zz".into(),
                    partition: 1,
                    offset: 3
                },
                Violation::KeySplit {
                    key: "k1".into(),
                    partitions: vec![0, 2]
                },
                Violation::EffectCount {
                    event_id: "a1".into(),
                    times: 2
                },
                Violation::EffectCount {
                    event_id: "b3".into(),
                    times: 0
                },
                Violation::UnknownEffect {
                    event_id: "ghost".into()
                },
                Violation::ReadModel {
                    row: "k1".into(),
                    live: Some("2 items".into()),
                    rebuilt: Some("3 items".into())
                },
            ],
            "{shown:#?}"
        );
    }
}
