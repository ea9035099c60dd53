//! Confluent-framed messages → generated events (or JSON), resolving writer into reader schemas.

use std::sync::Arc;

use evc_avro::apache_avro::Schema as AvroSchema;
use evc_avro::{Event, TopicEvent};
use evc_registry_client::RegistryClient;
use serde_json::json;

use crate::cache::GrowOnlyMap;
use crate::{avro_to_json, unframe, WireError};

/// How data of a writer schema is read into a reader type; `Err` holds why it cannot be.
type Verdict = Result<Plan, Arc<[String]>>;

#[derive(Debug, Clone)]
enum Plan {
    /// Same Parsing Canonical Form: the bytes decode with the reader schema as they are, no
    /// resolution needed (the common case: producer and consumer on the same version).
    Identical,
    /// Rewrite the writer's data as the reader's (schema resolution on bytes, planned once
    /// per writer and reader), then decode it with the reader's generated decoder.
    Resolve(Arc<evc_avro::resolve::Resolver>),
}

/// A writer schema fetched from the registry, parsed once.
#[derive(Debug)]
pub struct WriterSchema {
    id: u32,
    full_name: String,
    text: String,
    model: evc_schema::Schema,
    avro: AvroSchema,
}

impl WriterSchema {
    /// Parses a registry schema text (through evc's model, so every valid Avro schema loads).
    pub fn parse(id: u32, text: &str) -> Result<WriterSchema, WireError> {
        let invalid = |message: String| WireError::InvalidWriterSchema { id, message };
        let model = evc_schema::Schema::parse(text).map_err(|e| invalid(e.to_string()))?;
        let avro = evc_avro::load_model(&model).map_err(|e| invalid(e.to_string()))?;
        Ok(WriterSchema {
            id,
            full_name: model.root_name(),
            text: text.to_string(),
            model,
            avro,
        })
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// Full name of the root type (`com.acme.orders.OrderCreated`), or the type name of an
    /// unnamed root (`string`).
    pub fn full_name(&self) -> &str {
        &self.full_name
    }

    /// The schema text as the registry answered it.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn model(&self) -> &evc_schema::Schema {
        &self.model
    }

    pub fn avro(&self) -> &AvroSchema {
        &self.avro
    }

    /// Can data written with this schema be read with `reader`? Judged by Avro's resolution
    /// rules (`evc-compat`, as Avro Java judges it); the [`Deserializer`] remembers the answer.
    fn resolve_into(&self, reader_model: Result<evc_schema::Schema, String>) -> Verdict {
        match reader_model {
            Ok(model) => match evc_compat::check(&model, &self.model) {
                Ok(found) if found.is_empty() => {
                    if model.fingerprint() == self.model.fingerprint() {
                        Ok(Plan::Identical)
                    } else {
                        match evc_avro::resolve::Resolver::new(&self.model, &model) {
                            Ok(r) => Ok(Plan::Resolve(Arc::new(r))),
                            Err(e) => Err(vec![e.to_string()].into()),
                        }
                    }
                }
                Ok(found) => Err(found.iter().map(|i| i.to_string()).collect()),
                Err(e) => Err(vec![e.to_string()].into()),
            },
            Err(e) => Err(vec![format!("the reader schema cannot be checked: {e}")].into()),
        }
    }
}

/// What the deserializer decided once for a (writer schema id, reader schema) pair.
#[derive(Debug)]
struct Decision {
    writer: Arc<WriterSchema>,
    verdict: Verdict,
}

/// Reads Confluent-framed messages: takes the writer schema id from the message, fetches that
/// schema from the registry once (cached, parsed once), and resolves the data into the reader's
/// generated type, so a consumer built with v2 reads v1 events and the reverse.
///
/// The hot path takes no lock: writer schemas by id and decisions by (writer id, reader
/// schema) live in grow-only maps read with atomic loads only; the registry and the
/// compatibility check are consulted on the first message of each pair.
#[derive(Debug)]
pub struct Deserializer {
    client: RegistryClient,
    writers: GrowOnlyMap<u32, Arc<WriterSchema>>,
    /// Keyed by writer id and the address of the reader's (static) parsed schema.
    decisions: GrowOnlyMap<(u32, usize), Decision>,
}

impl Deserializer {
    pub fn new(client: RegistryClient) -> Deserializer {
        Deserializer {
            client,
            writers: GrowOnlyMap::new(),
            decisions: GrowOnlyMap::new(),
        }
    }

    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// The writer schema with this id: fetched and parsed on first use, then cached. Failures
    /// (unknown id, registry down) are not cached.
    pub async fn writer_schema(&self, id: u32) -> Result<Arc<WriterSchema>, WireError> {
        if let Some(w) = self.writers.get(&id) {
            return Ok(w.clone());
        }
        let fetched = self
            .client
            .schema_by_id(id)
            .await
            .map_err(|e| WireError::fetching(id, e))?;
        if !fetched.schema_type.eq_ignore_ascii_case("AVRO") {
            return Err(WireError::InvalidWriterSchema {
                id,
                message: format!("it is a {} schema, not Avro", fetched.schema_type),
            });
        }
        let writer = Arc::new(WriterSchema::parse(id, &fetched.schema)?);
        Ok(self.writers.insert(id, writer).clone())
    }

    /// The decision for data of writer `id` read with `reader`: remembered, or made now (the
    /// writer schema fetched if needed, the reader's model built by `reader_model`).
    async fn decision(
        &self,
        id: u32,
        reader: &'static AvroSchema,
        reader_model: impl FnOnce() -> Result<evc_schema::Schema, String>,
    ) -> Result<&Decision, WireError> {
        let key = (id, reader as *const AvroSchema as usize);
        if let Some(d) = self.decisions.get(&key) {
            return Ok(d);
        }
        let writer = self.writer_schema(id).await?;
        let verdict = writer.resolve_into(reader_model());
        Ok(self.decisions.insert(key, Decision { writer, verdict }))
    }

    /// Reads a message into the event type `T`, whatever version of `T` wrote it.
    pub async fn deserialize<T: Event>(&self, bytes: &[u8]) -> Result<T, WireError> {
        let framed = unframe(bytes)?;
        let reader = T::schema();
        let key = (framed.schema_id, reader as *const AvroSchema as usize);
        // the hot path: a remembered decision, no await, no lock
        let decision = match self.decisions.get(&key) {
            Some(d) => d,
            None => {
                self.decision(framed.schema_id, reader, || {
                    evc_schema::Schema::parse(T::SCHEMA_JSON).map_err(|e| e.to_string())
                })
                .await?
            }
        };
        let writer = &decision.writer;
        match &decision.verdict {
            Ok(plan) => decode_body::<T>(framed.body, writer, plan),
            Err(_) if writer.full_name != T::FULL_NAME => Err(WireError::UnknownEventType {
                id: writer.id,
                full_name: writer.full_name.clone(),
                expected: vec![T::FULL_NAME.to_string()],
            }),
            Err(reasons) => Err(unresolvable(writer, T::FULL_NAME, reasons)),
        }
    }

    /// Reads a message into a topic's event enum: the event type is the writer schema's root
    /// full name, read at the consumer's (latest) version of that type.
    pub async fn deserialize_topic<E: TopicEvent>(&self, bytes: &[u8]) -> Result<E, WireError> {
        let framed = unframe(bytes)?;
        // borrowed from the map (no reference count touched on the hot path)
        let writer: &WriterSchema = match self.writers.get(&framed.schema_id) {
            Some(w) => w,
            None => {
                self.writer_schema(framed.schema_id).await?;
                self.writers
                    .get(&framed.schema_id)
                    .expect("writer_schema keeps what it fetched")
            }
        };
        let Some(reader) = E::reader_schema(&writer.full_name) else {
            return Err(WireError::UnknownEventType {
                id: writer.id,
                full_name: writer.full_name.clone(),
                expected: E::FULL_NAMES.iter().map(|s| s.to_string()).collect(),
            });
        };
        let decision = self
            .decision(writer.id, reader, || {
                let text = serde_json::to_string(reader).map_err(|e| e.to_string())?;
                evc_schema::Schema::parse(&text).map_err(|e| e.to_string())
            })
            .await?;
        let plan = decision
            .verdict
            .as_ref()
            .map_err(|reasons| unresolvable(writer, &writer.full_name, reasons))?;
        let decoded = match plan {
            Plan::Identical => E::decode_binary(&writer.full_name, framed.body),
            Plan::Resolve(resolver) => {
                evc_avro::resolve::with_resolved(resolver, framed.body, |body| {
                    E::decode_binary(&writer.full_name, body)
                })
            }
        };
        decoded.map_err(|source| WireError::Decode {
            id: writer.id,
            source,
        })
    }

    /// Reads any Confluent-framed Avro message, with its writer schema only, as
    /// `{"type": full name, "schema_id": id, "value": <Avro JSON-ish>}` (see [`avro_to_json`]).
    pub async fn decode_json(&self, bytes: &[u8]) -> Result<serde_json::Value, WireError> {
        let framed = unframe(bytes)?;
        let writer = self.writer_schema(framed.schema_id).await?;
        // apache-avro allocates what a length prefix says before it reads the bytes (up to
        // 512 MiB for a ten-byte message): read the body with evc's bounded reader first,
        // which checks every length against the bytes that are there.
        if let Ok(check) = evc_avro::resolve::Resolver::new(&writer.model, &writer.model) {
            let (mut input, mut scratch) = (framed.body, Vec::new());
            check
                .transcode(&mut input, &mut scratch)
                .map_err(|source| WireError::Decode {
                    id: writer.id,
                    source,
                })?;
        }
        let value = evc_avro::decode_value(framed.body, &writer.avro, None).map_err(|source| {
            WireError::Decode {
                id: writer.id,
                source,
            }
        })?;
        Ok(json!({
            "type": writer.full_name,
            "schema_id": writer.id,
            "value": avro_to_json(&value, &writer.model),
        }))
    }
}

fn unresolvable(writer: &WriterSchema, reader: &str, reasons: &[String]) -> WireError {
    WireError::Unresolvable {
        id: writer.id,
        writer: writer.full_name.clone(),
        reader: reader.to_string(),
        reasons: reasons.to_vec(),
    }
}

/// The one place a body is decoded into a generated type: the generated decoder, after the
/// resolver rewrote other-version data.
#[inline]
fn decode_body<T: Event>(body: &[u8], writer: &WriterSchema, plan: &Plan) -> Result<T, WireError> {
    match plan {
        Plan::Identical => evc_avro::binary::from_slice::<T>(body),
        Plan::Resolve(resolver) => evc_avro::resolve::decode_resolved::<T>(resolver, body),
    }
    .map_err(|source| WireError::Decode {
        id: writer.id,
        source,
    })
}
