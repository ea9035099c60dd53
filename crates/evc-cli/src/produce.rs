//! `evc produce`: JSON lines in the form `evc tail` prints, produced as Confluent-framed Avro.
//!
//! Each line names its event type and (usually) the schema id it was written with; the value is
//! encoded with that schema, framed with that id, and produced with the line's key (the event's
//! partition key), so `evc tail ... | evc produce ...` copies a topic, order per key included.
//! Without a `schema_id`, the latest version of the subject `<topic>-<type>`, `<type>` or
//! `<topic>-value` whose record is the type is used. A bad line is reported on stderr with its
//! line number; the other lines are still produced, and the exit code is 1.
//!
//! The broker is any evc transport (`--bootstrap` for Kafka, `--broker` for any URL); lines go
//! out in chunks of up to 1000, each chunk published in order and confirmed by the broker (a
//! chunk the broker refuses reports each of its lines as not delivered).

use std::collections::HashMap;
use std::io::BufRead;

use anyhow::Context;
use evc_registry_client::{RegistryClient, Version};
use evc_transport::{AnyTransport, Outgoing, Transport};
use serde_json::Value as Json;

use crate::Outcome;

pub struct ProduceArgs {
    pub topic: String,
    /// A broker URL: a Kafka bootstrap list, `kafka://`, `redis://`, `amqp://`.
    pub broker: String,
    pub registry: String,
}

/// A writer schema, ready to encode JSON values.
struct Writer {
    id: u32,
    model: evc_schema::Schema,
    avro: evc_avro::apache_avro::Schema,
}

async fn writer_by_id(client: &RegistryClient, id: u32) -> Result<Writer, String> {
    let s = client.schema_by_id(id).await.map_err(|e| e.to_string())?;
    let model = evc_schema::Schema::parse(&s.schema).map_err(|e| format!("schema {id}: {e}"))?;
    let avro = evc_avro::load_model(&model).map_err(|e| format!("schema {id}: {e}"))?;
    Ok(Writer { id, model, avro })
}

async fn writer_for_type(
    client: &RegistryClient,
    topic: &str,
    full_name: &str,
) -> Result<Writer, String> {
    for subject in [
        format!("{topic}-{full_name}"),
        full_name.to_string(),
        format!("{topic}-value"),
    ] {
        match client.subject_version(&subject, Version::Latest).await {
            Ok(v) => {
                let w = writer_by_id(client, v.id).await?;
                if w.model.root_name() == full_name {
                    return Ok(w);
                }
            }
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!("no subject of the registry holds `{full_name}` (tried `{topic}-{full_name}`, `{full_name}`, `{topic}-value`)"))
}

fn encode(w: &Writer, line: &Json) -> Result<Vec<u8>, String> {
    let value = line.get("value").ok_or("the line has no \"value\"")?;
    let avro = evc_wire::json_to_avro(value, &w.model).map_err(|e| e.to_string())?;
    let body = evc_avro::apache_avro::to_avro_datum(&w.avro, avro).map_err(|e| e.to_string())?;
    Ok(evc_wire::frame(w.id, &body))
}

pub fn run(args: ProduceArgs) -> anyhow::Result<Outcome> {
    let client = RegistryClient::new(&args.registry)
        .with_context(|| format!("--registry {}", args.registry))?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let transport = AnyTransport::connect(&args.broker).await?;
        let mut by_id: HashMap<u32, Writer> = HashMap::new();
        let mut by_type: HashMap<String, u32> = HashMap::new();
        let (mut produced, mut failed) = (0u64, Vec::new());
        let mut in_flight = Vec::new();
        for (i, line) in std::io::stdin().lock().lines().enumerate() {
            let n = i + 1;
            let line = line.context("reading standard input")?;
            if line.trim().is_empty() {
                continue;
            }
            let prepared: Result<(String, Vec<u8>), String> = async {
                let j: Json = serde_json::from_str(&line).map_err(|e| format!("not JSON: {e}"))?;
                let full_name = j
                    .get("type")
                    .and_then(Json::as_str)
                    .ok_or("the line has no \"type\"")?;
                let key = j
                    .get("key")
                    .and_then(Json::as_str)
                    .ok_or("the line has no \"key\" (the event's partition key)")?;
                let id = match j.get("schema_id").and_then(Json::as_u64) {
                    Some(id) => {
                        u32::try_from(id).map_err(|_| format!("schema_id {id} is out of range"))?
                    }
                    None => match by_type.get(full_name) {
                        Some(id) => *id,
                        None => {
                            let w = writer_for_type(&client, &args.topic, full_name).await?;
                            let id = w.id;
                            by_type.insert(full_name.to_string(), id);
                            by_id.insert(id, w);
                            id
                        }
                    },
                };
                if let std::collections::hash_map::Entry::Vacant(slot) = by_id.entry(id) {
                    slot.insert(writer_by_id(&client, id).await?);
                }
                let w = &by_id[&id];
                if w.model.root_name() != full_name {
                    return Err(format!(
                        "schema {id} is `{}`, not `{full_name}`",
                        w.model.root_name()
                    ));
                }
                Ok((key.to_string(), encode(w, &j)?))
            }
            .await;
            match prepared {
                Ok((key, payload)) => {
                    let message = Outgoing::new(key, payload)
                        .header("content-type", "application/vnd.confluent.avro");
                    in_flight.push((n, message));
                }
                Err(e) => failed.push((n, e)),
            }
            if in_flight.len() >= 1000 {
                produced += publish(&transport, &args.topic, &mut in_flight, &mut failed).await;
            }
        }
        produced += publish(&transport, &args.topic, &mut in_flight, &mut failed).await;
        failed.sort_by_key(|(n, _)| *n);
        for (n, e) in &failed {
            eprintln!("evc produce: line {n}: {e}");
        }
        eprintln!("evc produce: {produced} produced, {} failed", failed.len());
        Ok(if failed.is_empty() {
            Outcome::Ok
        } else {
            Outcome::Failed
        })
    })
}

/// Publishes a chunk in order; answers how many the broker confirmed.
async fn publish(
    transport: &AnyTransport,
    topic: &str,
    chunk: &mut Vec<(usize, Outgoing)>,
    failed: &mut Vec<(usize, String)>,
) -> u64 {
    if chunk.is_empty() {
        return 0;
    }
    let (lines, messages): (Vec<usize>, Vec<Outgoing>) = chunk.drain(..).unzip();
    match transport.publish_batch(topic, messages).await {
        Ok(receipts) => receipts.len() as u64,
        Err(e) => {
            for n in lines {
                failed.push((n, format!("not delivered (its chunk was refused): {e}")));
            }
            0
        }
    }
}
