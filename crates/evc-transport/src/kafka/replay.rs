//! Reading and replaying `<topic>.dlq`.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};

use super::{
    assignment, from_kafka_headers, kafka_error, to_kafka_headers, watermarks, KafkaOptions,
    KafkaTransport, KIND,
};
use crate::{headers, replay_headers, Delivery, ReplayReport, TransportError};

const IDLE: Duration = Duration::from_secs(30);

fn reader(
    options: &KafkaOptions,
    group: &str,
    dlq: &str,
) -> Result<StreamConsumer, TransportError> {
    options
        .base()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|e| kafka_error("creating a reader", dlq, e))
}

/// Reads `[start, end)` of each partition, in order per partition.
struct RangeReader<'a> {
    consumer: &'a StreamConsumer,
    dlq: &'a str,
    ends: HashMap<i32, i64>,
    next: HashMap<i32, i64>,
}

impl<'a> RangeReader<'a> {
    fn new(
        consumer: &'a StreamConsumer,
        dlq: &'a str,
        ranges: &HashMap<i32, (i64, i64)>,
    ) -> Result<RangeReader<'a>, TransportError> {
        let starts: Vec<(i32, i64)> = ranges
            .iter()
            .filter(|(_, (s, e))| s < e)
            .map(|(p, (s, _))| (*p, *s))
            .collect();
        if !starts.is_empty() {
            consumer
                .assign(&assignment(dlq, &starts)?)
                .map_err(|e| kafka_error("assigning", dlq, e))?;
        }
        Ok(RangeReader {
            consumer,
            dlq,
            ends: ranges.iter().map(|(p, (_, e))| (*p, *e)).collect(),
            next: starts.into_iter().collect(),
        })
    }

    async fn next(&mut self) -> Result<Option<Delivery>, TransportError> {
        let dlq = self.dlq;
        while self.next.iter().any(|(p, o)| *o < self.ends[p]) {
            let m = match tokio::time::timeout(IDLE, self.consumer.recv()).await {
                Err(_) => {
                    return Err(TransportError::broker(
                        KIND,
                        "reading dead letters",
                        dlq,
                        format!("no message for {IDLE:?} while some were expected"),
                    ))
                }
                Ok(m) => m.map_err(|e| kafka_error("reading dead letters", dlq, e))?,
            };
            let (p, o) = (m.partition(), m.offset());
            if o >= self.ends.get(&p).copied().unwrap_or(0) {
                continue;
            }
            self.next.insert(p, o + 1);
            return Ok(Some(Delivery {
                topic: dlq.to_string(),
                shard: p as u32,
                position: o.to_string(),
                key: m.key().map(<[u8]>::to_vec),
                payload: m.payload().unwrap_or_default().to_vec(),
                headers: from_kafka_headers(m.headers()),
                delivery_count: 1,
                timestamp: m.timestamp().to_millis(),
                subscription: 0,
                tag: 0,
            }));
        }
        Ok(None)
    }
}

pub(crate) async fn read_dead_letters(
    options: &KafkaOptions,
    dlq: &str,
    limit: usize,
) -> Result<Vec<Delivery>, TransportError> {
    let consumer = reader(options, &format!("{dlq}.inspect"), dlq)?;
    let ranges: HashMap<i32, (i64, i64)> = watermarks(&consumer, dlq)?
        .into_iter()
        .map(|(p, low, high)| (p, (low, high)))
        .collect();
    let mut out = Vec::new();
    let mut reader = RangeReader::new(&consumer, dlq, &ranges)?;
    while out.len() < limit {
        match reader.next().await? {
            Some(d) => out.push(d),
            None => break,
        }
    }
    out.sort_by_key(|d| (d.shard, d.position.parse::<i64>().unwrap_or(0)));
    Ok(out)
}

pub(crate) async fn replay(
    options: &KafkaOptions,
    producer: &FutureProducer,
    dlq: &str,
) -> Result<ReplayReport, TransportError> {
    let group = format!("{dlq}.replay");
    let consumer = reader(options, &group, dlq)?;
    let marks = watermarks(&consumer, dlq)?;
    let mut wanted = TopicPartitionList::new();
    for (p, _, _) in &marks {
        wanted.add_partition(dlq, *p);
    }
    let committed = consumer
        .committed_offsets(wanted, Duration::from_secs(10))
        .map_err(|e| kafka_error("reading committed offsets", dlq, e))?;
    let ranges: HashMap<i32, (i64, i64)> = marks
        .into_iter()
        .map(|(p, low, high)| {
            let start = match committed.find_partition(dlq, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) if o >= low => o,
                _ => low,
            };
            (p, (start, high))
        })
        .collect();
    let mut report = ReplayReport::default();
    let mut reader = RangeReader::new(&consumer, dlq, &ranges)?;
    while let Some(d) = reader.next().await? {
        let target = d
            .headers
            .get_str(headers::ORIGINAL_TOPIC)
            .map(str::to_string)
            .ok_or_else(|| TransportError::NoReplayTarget {
                kind: KIND,
                dlq: dlq.to_string(),
                position: format!("{}@{}", d.shard, d.position),
            })?;
        let f = KafkaTransport::enqueue(
            producer,
            &target,
            d.key.as_deref(),
            &d.payload,
            to_kafka_headers(&replay_headers(&d.headers)),
        )
        .await?;
        KafkaTransport::confirmed(&target, f).await?;
        let mut done = TopicPartitionList::new();
        let offset: i64 = d.position.parse().unwrap_or(0);
        done.add_partition_offset(dlq, d.shard as i32, Offset::Offset(offset + 1))
            .map_err(|e| kafka_error("committing replay progress", dlq, e))?;
        consumer
            .commit(&done, CommitMode::Sync)
            .map_err(|e| kafka_error("committing replay progress", dlq, e))?;
        *report.replayed.entry(target).or_default() += 1;
    }
    Ok(report)
}
