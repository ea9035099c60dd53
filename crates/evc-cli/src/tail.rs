//! `evc tail`: every message of a topic as one JSON line, for any Confluent-framed Avro value,
//! whoever produced it.
//!
//! Output (stdout), one object per message:
//! `{"type": full name, "value": <the event as JSON>, "schema_id": N, "key": string|null,
//!   "partition": N, "offset": N|string, "timestamp": ms|null}` (`partition` is the shard;
//! `offset` the Kafka offset, or the position as the transport names it: a Redis entry id, a
//! RabbitMQ message id).
//! A message that cannot be decoded gives one line on stderr naming its partition and offset,
//! and tail goes on. On Kafka it reads by assigning every partition itself (no consumer group,
//! nothing committed), so it never disturbs the consumers of the topic. On Redis and RabbitMQ
//! it joins a group of its own (`evc-tail-<random>`, removed when tail ends), acking what it
//! reads: Redis starts at the oldest retained entry (`--from-beginning`) or at the start of
//! the run; RabbitMQ keeps no history, so tail sees what is published after it started.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context};
use evc_registry_client::RegistryClient;
use evc_transport::{
    AnyTransport, Endpoint, SubscribeOptions, Subscription, Transport, TransportError,
};
use evc_wire::Deserializer;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;

use crate::Outcome;

pub struct TailArgs {
    pub topic: String,
    /// A broker URL: a Kafka bootstrap list, `kafka://`, `redis://`, `amqp://`.
    pub broker: String,
    pub registry: String,
    pub from_beginning: bool,
    pub max: Option<u64>,
}

pub fn run(args: TailArgs) -> anyhow::Result<Outcome> {
    let endpoint = Endpoint::parse(&args.broker)?;
    let client = RegistryClient::new(&args.registry)
        .with_context(|| format!("--registry {}", args.registry))?;
    let deserializer = Deserializer::new(client);
    let bootstrap = match endpoint {
        Endpoint::Kafka { bootstrap } => bootstrap,
        _ => return tail_group(args, deserializer),
    };
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &bootstrap)
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
                args.topic, bootstrap
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
        consumer
            .assign(&assignment)
            .context("cannot assign the topic's partitions")?;
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
            let at = Position {
                partition: msg.partition() as u32,
                offset: msg.offset().to_string(),
                key: msg.key(),
                timestamp: msg.timestamp().to_millis(),
            };
            print_line(
                &deserializer,
                &stdout,
                &at,
                msg.payload().unwrap_or_default(),
            )
            .await?;
        }
    })
}

/// Where a message was, for its line.
struct Position<'a> {
    partition: u32,
    offset: String,
    key: Option<&'a [u8]>,
    timestamp: Option<i64>,
}

/// One message as one JSON line on stdout, or its problem on stderr.
async fn print_line(
    deserializer: &Deserializer,
    stdout: &std::io::Stdout,
    at: &Position<'_>,
    payload: &[u8],
) -> anyhow::Result<()> {
    let (partition, offset) = (at.partition, &at.offset);
    if payload.is_empty() {
        eprintln!(
            "evc tail: partition {partition} offset {offset}: empty value (a tombstone), skipped"
        );
        return Ok(());
    }
    match deserializer.decode_json(payload).await {
        Ok(decoded) => {
            let key = at.key.map(|k| match std::str::from_utf8(k) {
                Ok(s) => json!(s),
                Err(_) => json!(k.iter().map(|b| *b as char).collect::<String>()),
            });
            let offset = match offset.parse::<i64>() {
                Ok(n) => json!(n),
                Err(_) => json!(offset),
            };
            let line = json!({
                "type": decoded["type"],
                "value": decoded["value"],
                "schema_id": decoded["schema_id"],
                "key": key,
                "partition": partition,
                "offset": offset,
                "timestamp": at.timestamp,
            });
            let mut out = stdout.lock();
            writeln!(out, "{line}")?;
            out.flush()?;
        }
        Err(e) => {
            eprintln!("evc tail: partition {partition} offset {offset}: cannot decode: {e}")
        }
    }
    Ok(())
}

/// Tail through a group of its own (Redis, RabbitMQ), removed at the end.
fn tail_group(args: TailArgs, deserializer: Deserializer) -> anyhow::Result<Outcome> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let transport = AnyTransport::connect(&args.broker).await?;
        if args.from_beginning && matches!(transport, AnyTransport::RabbitMq(_)) {
            bail!(
                "--from-beginning: RabbitMQ keeps no history of `{}` (a group sees what is \
                 published after it is declared); tail without it",
                args.topic
            );
        }
        let group = format!(
            "evc-tail-{}",
            &evc_avro::uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        match transport.declare_group(&args.topic, &group).await {
            Ok(()) => {}
            Err(TransportError::UnknownTopic { .. }) => {
                bail!("topic `{}` does not exist on {}", args.topic, args.broker)
            }
            Err(e) => return Err(e.into()),
        }
        let started = now_millis();
        let outcome = tail_from(&args, &deserializer, &transport, &group, started).await;
        if let Err(e) = transport.delete_group(&args.topic, &group).await {
            eprintln!("evc tail: could not remove the group `{group}`: {e}");
        }
        outcome
    })
}

async fn tail_from(
    args: &TailArgs,
    deserializer: &Deserializer,
    transport: &AnyTransport,
    group: &str,
    started: i64,
) -> anyhow::Result<Outcome> {
    let mut sub = transport
        .subscribe(&args.topic, SubscribeOptions::new(group))
        .await?;
    eprintln!(
        "evc tail: following `{}` on {} (group `{group}`)",
        args.topic,
        transport.kind()
    );
    let stdout = std::io::stdout();
    let mut seen = 0u64;
    loop {
        if args.max.is_some_and(|m| seen >= m) {
            break;
        }
        let d = tokio::select! {
            d = sub.next() => d,
            _ = tokio::signal::ctrl_c() => break,
        };
        let d = match d {
            Ok(d) => d,
            Err(e) if e.is_transient() => {
                eprintln!("evc tail: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        sub.ack(&d).await?;
        let before = d.timestamp.is_some_and(|t| t < started);
        if before && !args.from_beginning {
            continue;
        }
        seen += 1;
        let at = Position {
            partition: d.shard,
            offset: d.position.clone(),
            key: d.key.as_deref(),
            timestamp: d.timestamp,
        };
        print_line(deserializer, &stdout, &at, &d.payload).await?;
    }
    sub.close().await?;
    Ok(Outcome::Ok)
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
