//! `evc tail`: every message of a topic as one JSON line, for any Confluent-framed Avro value,
//! whoever produced it.
//!
//! Output (stdout), one object per message:
//! `{"type": full name, "value": <the event as JSON>, "schema_id": N, "key": string|null,
//!   "partition": N, "offset": N, "timestamp": ms|null}`.
//! A message that cannot be decoded gives one line on stderr naming its partition and offset,
//! and tail goes on. It reads by assigning every partition itself (no consumer group, nothing
//! committed), so it never disturbs the consumers of the topic.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context};
use evc_registry_client::RegistryClient;
use evc_wire::Deserializer;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;

use crate::Outcome;

pub struct TailArgs {
    pub topic: String,
    pub bootstrap: String,
    pub registry: String,
    pub from_beginning: bool,
    pub max: Option<u64>,
}

pub fn run(args: TailArgs) -> anyhow::Result<Outcome> {
    let client = RegistryClient::new(&args.registry)
        .with_context(|| format!("--registry {}", args.registry))?;
    let deserializer = Deserializer::new(client);
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap)
        .set("group.id", "evc-tail")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("allow.auto.create.topics", "false");
    // partitions of the topic, from the brokers
    let meta_client: BaseConsumer = config.create().context("cannot create a Kafka client")?;
    let metadata = meta_client
        .fetch_metadata(Some(&args.topic), Duration::from_secs(10))
        .with_context(|| {
            format!(
                "cannot read the metadata of `{}` from {}",
                args.topic, args.bootstrap
            )
        })?;
    let Some(t) = metadata.topics().iter().find(|t| t.name() == args.topic) else {
        bail!("topic `{}` does not exist", args.topic);
    };
    if let Some(e) = t.error() {
        bail!("topic `{}`: {:?}", args.topic, e);
    }
    if t.partitions().is_empty() {
        bail!("topic `{}` does not exist (no partitions)", args.topic);
    }
    let mut assignment = TopicPartitionList::new();
    let start = if args.from_beginning {
        Offset::Beginning
    } else {
        Offset::End
    };
    for p in t.partitions() {
        assignment.add_partition_offset(&args.topic, p.id(), start)?;
    }
    drop(meta_client);

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let consumer: StreamConsumer = config.create().context("cannot create a Kafka consumer")?;
        consumer.assign(&assignment).context("cannot assign the topic's partitions")?;
        let mut seen = 0u64;
        let stdout = std::io::stdout();
        loop {
            if args.max.is_some_and(|m| seen >= m) {
                return Ok(Outcome::Ok);
            }
            let msg = tokio::select! {
                m = consumer.recv() => m,
                _ = tokio::signal::ctrl_c() => return Ok(Outcome::Ok),
            };
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("evc tail: {e}");
                    continue;
                }
            };
            seen += 1;
            let (partition, offset) = (msg.partition(), msg.offset());
            let Some(payload) = msg.payload() else {
                eprintln!("evc tail: partition {partition} offset {offset}: empty value (a tombstone), skipped");
                continue;
            };
            match deserializer.decode_json(payload).await {
                Ok(decoded) => {
                    let key = msg.key().map(|k| match std::str::from_utf8(k) {
                        Ok(s) => json!(s),
                        Err(_) => json!(k.iter().map(|b| *b as char).collect::<String>()),
                    });
                    let line = json!({
                        "type": decoded["type"],
                        "value": decoded["value"],
                        "schema_id": decoded["schema_id"],
                        "key": key,
                        "partition": partition,
                        "offset": offset,
                        "timestamp": msg.timestamp().to_millis(),
                    });
                    let mut out = stdout.lock();
                    writeln!(out, "{line}")?;
                    out.flush()?;
                }
                Err(e) => eprintln!("evc tail: partition {partition} offset {offset}: cannot decode: {e}"),
            }
        }
    })
}
