//! Stream entries: how a message is laid out in fields, and reading Redis' replies back.

use redis::Value;

use crate::{Delivery, Headers, TransportError, TransportKind};

const KEY: &[u8] = b"k";
const PAYLOAD: &[u8] = b"p";
const HEADER: &[u8] = b"h:";

/// An entry as read from a stream.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub id: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Headers,
}

impl Entry {
    pub(crate) fn into_delivery(self, topic: &str, shard: u32, count: u32) -> Delivery {
        Delivery {
            topic: topic.to_string(),
            shard,
            timestamp: id_millis(&self.id),
            position: self.id,
            key: self.key,
            payload: self.payload,
            headers: self.headers,
            delivery_count: count,
            subscription: 0,
            tag: 0,
        }
    }
}

/// Appends a message's fields to an `XADD`: `k`, `p`, then `h:<name>` per header in order.
pub(crate) fn fields(c: &mut redis::Cmd, key: &[u8], payload: &[u8], headers: &Headers) {
    c.arg(KEY).arg(key).arg(PAYLOAD).arg(payload);
    for (name, value) in headers.iter() {
        let mut field = HEADER.to_vec();
        field.extend_from_slice(name.as_bytes());
        c.arg(field).arg(value);
    }
}

/// The millisecond part of an entry id.
pub(crate) fn id_millis(id: &str) -> Option<i64> {
    id.split_once('-').and_then(|(ms, _)| ms.parse().ok())
}

fn id_parts(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

/// Whether entry id `a` comes before `b` in a stream.
pub(crate) fn id_before(a: &str, b: &str) -> bool {
    id_parts(a) < id_parts(b)
}

fn malformed(what: &str, target: &str) -> TransportError {
    TransportError::broker(
        TransportKind::Redis,
        "reading a reply",
        target,
        format!("unexpected reply shape: {what}"),
    )
}

pub(crate) fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.as_bytes().to_vec()),
        Value::VerbatimString { text, .. } => Some(text.as_bytes().to_vec()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

pub(crate) fn string(v: &Value) -> Option<String> {
    bytes(v).and_then(|b| String::from_utf8(b).ok())
}

/// One entry `[id, [field, value, ...]]`; None for an entry deleted while pending
/// (`[id, nil]`).
fn parse_entry(v: &Value, target: &str) -> Result<Option<Entry>, TransportError> {
    let Value::Array(parts) = v else {
        return Err(malformed("an entry is not an array", target));
    };
    let id = parts
        .first()
        .and_then(string)
        .ok_or_else(|| malformed("an entry without id", target))?;
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = match parts.get(1) {
        None | Some(Value::Nil) => return Ok(None),
        Some(Value::Array(flat)) => flat
            .chunks(2)
            .map(|c| match c {
                [f, v] => Ok((bytes(f).unwrap_or_default(), bytes(v).unwrap_or_default())),
                _ => Err(malformed("an odd number of fields", target)),
            })
            .collect::<Result<_, _>>()?,
        Some(Value::Map(map)) => map
            .iter()
            .map(|(f, v)| (bytes(f).unwrap_or_default(), bytes(v).unwrap_or_default()))
            .collect(),
        Some(_) => return Err(malformed("entry fields are not an array", target)),
    };
    let mut entry = Entry {
        id,
        key: None,
        payload: Vec::new(),
        headers: Headers::new(),
    };
    for (field, value) in pairs {
        if field == KEY {
            entry.key = Some(value);
        } else if field == PAYLOAD {
            entry.payload = value;
        } else if let Some(name) = field.strip_prefix(HEADER) {
            entry
                .headers
                .push(String::from_utf8_lossy(name).into_owned(), value);
        }
    }
    Ok(Some(entry))
}

/// The reply of `XRANGE`/`XREVRANGE`/`XCLAIM`: a list of entries (deleted ones skipped).
pub(crate) fn parse_entries(v: &Value, target: &str) -> Result<Vec<Entry>, TransportError> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if let Some(e) = parse_entry(item, target)? {
                    out.push(e);
                }
            }
            Ok(out)
        }
        _ => Err(malformed("entries are not an array", target)),
    }
}

/// The reply of `XREADGROUP`: entries per stream key (Nil when the block timed out).
pub(crate) fn parse_read(
    v: &Value,
    target: &str,
) -> Result<Vec<(String, Vec<Entry>)>, TransportError> {
    let streams: Vec<(&Value, &Value)> = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|s| match s {
                Value::Array(kv) if kv.len() == 2 => Ok((&kv[0], &kv[1])),
                _ => Err(malformed(
                    "a stream of XREADGROUP is not [key, entries]",
                    target,
                )),
            })
            .collect::<Result<_, _>>()?,
        Value::Map(map) => map.iter().map(|(k, v)| (k, v)).collect(),
        _ => return Err(malformed("XREADGROUP reply is not an array", target)),
    };
    streams
        .into_iter()
        .map(|(k, entries)| {
            let key = string(k).ok_or_else(|| malformed("a stream key", target))?;
            Ok((key, parse_entries(entries, target)?))
        })
        .collect()
}

/// The reply of `XAUTOCLAIM`: the next cursor, the claimed entries, and the ids of entries
/// that were deleted while pending.
pub(crate) fn parse_autoclaim(
    v: &Value,
    target: &str,
) -> Result<(String, Vec<Entry>, Vec<String>), TransportError> {
    let Value::Array(parts) = v else {
        return Err(malformed("XAUTOCLAIM reply is not an array", target));
    };
    let cursor = parts
        .first()
        .and_then(string)
        .ok_or_else(|| malformed("XAUTOCLAIM without cursor", target))?;
    let entries = match parts.get(1) {
        Some(v) => parse_entries(v, target)?,
        None => Vec::new(),
    };
    let deleted = match parts.get(2) {
        Some(Value::Array(ids)) => ids.iter().filter_map(string).collect(),
        _ => Vec::new(),
    };
    Ok((cursor, entries, deleted))
}

/// The reply of the extended `XPENDING`: (id, delivery count) per entry.
pub(crate) fn parse_pending(v: &Value, target: &str) -> Result<Vec<(String, u32)>, TransportError> {
    let Value::Array(items) = v else {
        return Ok(Vec::new());
    };
    items
        .iter()
        .map(|item| match item {
            Value::Array(f) if f.len() == 4 => {
                let id = string(&f[0]).ok_or_else(|| malformed("XPENDING id", target))?;
                let count = match &f[3] {
                    Value::Int(n) => u32::try_from(*n).unwrap_or(u32::MAX),
                    other => string(other).and_then(|s| s.parse().ok()).unwrap_or(1),
                };
                Ok((id, count))
            }
            _ => Err(malformed(
                "an XPENDING entry is not [id, consumer, idle, count]",
                target,
            )),
        })
        .collect()
}

/// The reply of the summary `XPENDING key group`: (consumer, pending entries) per consumer
/// with any (nothing when the group has no pending entries).
pub(crate) fn parse_pending_summary(v: &Value) -> Vec<(String, u64)> {
    let Value::Array(parts) = v else {
        return Vec::new();
    };
    let Some(Value::Array(consumers)) = parts.get(3) else {
        return Vec::new();
    };
    consumers
        .iter()
        .filter_map(|c| match c {
            Value::Array(pair) if pair.len() == 2 => {
                let count = match &pair[1] {
                    Value::Int(n) => u64::try_from(*n).ok(),
                    other => string(other).and_then(|s| s.parse().ok()),
                }?;
                Some((string(&pair[0])?, count))
            }
            _ => None,
        })
        .collect()
}

/// The reply of `XINFO CONSUMERS`: (name, pending entries, idle milliseconds) per consumer.
pub(crate) fn parse_consumers(v: &Value) -> Vec<(String, u64, u64)> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    let number = |v: &Value| match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => string(other).and_then(|s| s.parse().ok()),
    };
    items
        .iter()
        .filter_map(|item| {
            let pairs: Vec<(String, &Value)> = match item {
                Value::Array(flat) => flat
                    .chunks(2)
                    .filter_map(|c| match c {
                        [k, v] => string(k).map(|k| (k, v)),
                        _ => None,
                    })
                    .collect(),
                Value::Map(map) => map
                    .iter()
                    .filter_map(|(k, v)| string(k).map(|k| (k, v)))
                    .collect(),
                _ => return None,
            };
            let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
            Some((
                string(field("name")?)?,
                number(field("pending")?)?,
                number(field("idle")?)?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &[u8]) -> Value {
        Value::BulkString(s.to_vec())
    }

    #[test]
    fn reads_an_entry_with_headers_in_order() {
        let v = Value::Array(vec![Value::Array(vec![
            bulk(b"1700000000000-3"),
            Value::Array(vec![
                bulk(b"k"),
                bulk(b"order-1"),
                bulk(b"p"),
                bulk(&[0, 0, 0, 0, 7, 0xff]),
                bulk(b"h:b"),
                bulk(b"2"),
                bulk(b"h:a"),
                bulk(b"1"),
            ]),
        ])]);
        let e = parse_entries(&v, "t:0").unwrap().remove(0);
        assert_eq!(e.key.as_deref(), Some(&b"order-1"[..]));
        assert_eq!(e.payload, [0, 0, 0, 0, 7, 0xff]);
        let names: Vec<&str> = e.headers.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["b", "a"]);
        let d = e.into_delivery("t", 0, 1);
        assert_eq!(d.timestamp, Some(1_700_000_000_000));
    }

    #[test]
    fn malformed_replies_are_errors_and_deleted_entries_are_skipped() {
        assert!(parse_entries(&Value::Int(3), "t").is_err());
        assert!(parse_entries(&Value::Array(vec![Value::Int(1)]), "t").is_err());
        let odd = Value::Array(vec![Value::Array(vec![
            bulk(b"1-0"),
            Value::Array(vec![bulk(b"k")]),
        ])]);
        assert!(parse_entries(&odd, "t").is_err());
        let deleted = Value::Array(vec![Value::Array(vec![bulk(b"1-0"), Value::Nil])]);
        assert!(parse_entries(&deleted, "t").unwrap().is_empty());
    }

    #[test]
    fn reads_consumers_with_or_without_the_inactive_field() {
        let v = Value::Array(vec![
            Value::Array(vec![
                bulk(b"name"),
                bulk(b"g-1"),
                bulk(b"pending"),
                Value::Int(0),
                bulk(b"idle"),
                Value::Int(9000),
            ]),
            Value::Array(vec![
                bulk(b"name"),
                bulk(b"g-2"),
                bulk(b"pending"),
                Value::Int(2),
                bulk(b"idle"),
                Value::Int(5),
                bulk(b"inactive"),
                Value::Int(5),
            ]),
            Value::Int(7),
        ]);
        assert_eq!(
            parse_consumers(&v),
            [("g-1".to_string(), 0, 9000), ("g-2".to_string(), 2, 5)]
        );
    }

    #[test]
    fn reads_the_pending_summary_per_consumer() {
        let v = Value::Array(vec![
            Value::Int(3),
            bulk(b"1-0"),
            bulk(b"3-0"),
            Value::Array(vec![
                Value::Array(vec![bulk(b"g-1"), bulk(b"2")]),
                Value::Array(vec![bulk(b"g-2"), Value::Int(1)]),
            ]),
        ]);
        assert_eq!(
            parse_pending_summary(&v),
            [("g-1".to_string(), 2), ("g-2".to_string(), 1)]
        );
        let none = Value::Array(vec![Value::Int(0), Value::Nil, Value::Nil, Value::Nil]);
        assert!(parse_pending_summary(&none).is_empty());
    }

    #[test]
    fn entry_ids_order_numerically() {
        assert!(id_before("9-0", "10-0"));
        assert!(id_before("10-2", "10-10"));
        assert!(!id_before("10-0", "10-0"));
    }
}
