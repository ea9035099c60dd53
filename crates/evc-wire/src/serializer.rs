//! Generated events → Confluent-framed messages.

use std::any::TypeId;

use evc_avro::{Event, TopicEvent};
use evc_registry_client::{RegistryClient, RegistryError};

use crate::cache::GrowOnlyMap;
use crate::{write_header, WireError};

/// Encodes generated events ([`Event`]) with their compiled-in schema and the id the registry
/// has for that schema under the event's subject.
///
/// Registration is a policy: by default the serializer only **looks up** the schema
/// (`POST /subjects/{subject}`), as a production producer should: schemas are registered by the
/// release process, and a producer whose schema is missing fails with
/// [`WireError::NotRegistered`] instead of changing the registry. For development,
/// [`Serializer::auto_register`] registers the schema on first use.
///
/// The id is resolved once per event type and kept: after the first message of a type, encoding
/// makes no registry call and takes no lock (a grow-only map read with atomic loads).
#[derive(Debug)]
pub struct Serializer {
    client: RegistryClient,
    auto_register: bool,
    ids: GrowOnlyMap<TypeId, u32>,
    /// Topic-enum events: (enum type, event full name) → id.
    topic_ids: GrowOnlyMap<(TypeId, &'static str), u32>,
}

impl Serializer {
    /// A look-up-only serializer (auto-registration off).
    pub fn new(client: RegistryClient) -> Serializer {
        Serializer {
            client,
            auto_register: false,
            ids: GrowOnlyMap::new(),
            topic_ids: GrowOnlyMap::new(),
        }
    }

    /// Turns auto-registration on (development) or off (the default).
    pub fn auto_register(mut self, on: bool) -> Serializer {
        self.auto_register = on;
        self
    }

    pub fn is_auto_register(&self) -> bool {
        self.auto_register
    }

    pub fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// The registry id of `T`'s schema under `T::SUBJECT`: looked up (or registered, with
    /// auto-registration) on first use, then cached. Failures are not cached.
    pub async fn schema_id<T: Event + 'static>(&self) -> Result<u32, WireError> {
        if let Some(id) = self.cached_schema_id::<T>() {
            return Ok(id);
        }
        let id = self
            .resolve(T::SUBJECT, T::FULL_NAME, T::SCHEMA_JSON)
            .await?;
        Ok(*self.ids.insert(TypeId::of::<T>(), id))
    }

    /// Looks up `schema` under `subject`. A registry that stored the same schema with other
    /// text (docs edited, attributes reordered) cannot find it by text, so the subject's latest
    /// version is then compared by Parsing Canonical Form fingerprint. With auto-registration
    /// on, a schema found neither way is registered.
    async fn resolve(
        &self,
        subject: &'static str,
        full_name: &'static str,
        schema: &'static str,
    ) -> Result<u32, WireError> {
        let not_registered = |source| WireError::NotRegistered {
            subject,
            full_name,
            source,
        };
        match self.client.lookup(subject, schema).await {
            Ok(r) => Ok(r.id),
            Err(e) if e.is_not_found() => match self.same_as_latest(subject, schema).await {
                Ok(Some(id)) => Ok(id),
                Ok(None) | Err(_) if self.auto_register => self
                    .client
                    .register(subject, schema)
                    .await
                    .map(|r| r.id)
                    .map_err(WireError::from_registry),
                Ok(None) => Err(not_registered(e)),
                Err(latest) if latest.is_not_found() => Err(not_registered(latest)),
                Err(latest) => Err(WireError::from_registry(latest)),
            },
            Err(e) => Err(WireError::from_registry(e)),
        }
    }

    /// The id of the subject's latest version when it has the same Parsing Canonical Form as
    /// `text`.
    async fn same_as_latest(
        &self,
        subject: &str,
        text: &str,
    ) -> Result<Option<u32>, RegistryError> {
        let latest = self.client.latest_version(subject).await?;
        let ours = evc_schema::Schema::parse(text).map(|s| s.fingerprint());
        let theirs = evc_schema::Schema::parse(&latest.schema).map(|s| s.fingerprint());
        Ok(match (ours, theirs) {
            (Ok(a), Ok(b)) if a == b => Some(latest.id),
            _ => None,
        })
    }

    /// The registry id of the schema of `event`'s type (a topic enum's variant, at its
    /// generated version) under its subject; resolved once per event type, then cached.
    pub async fn topic_schema_id<E: TopicEvent + 'static>(
        &self,
        event: &E,
    ) -> Result<u32, WireError> {
        let key = (TypeId::of::<E>(), event.full_name());
        if let Some(id) = self.topic_ids.get(&key) {
            return Ok(*id);
        }
        let id = self
            .resolve(event.subject(), event.full_name(), event.schema_json())
            .await?;
        Ok(*self.topic_ids.insert(key, id))
    }

    /// The framed message for an event of a topic enum, written by its type's generated
    /// encoder (no `Value` tree).
    pub async fn serialize_topic<E: TopicEvent + 'static>(
        &self,
        event: &E,
    ) -> Result<Vec<u8>, WireError> {
        let id = self.topic_schema_id(event).await?;
        let mut out = Vec::with_capacity(INITIAL_CAPACITY);
        write_header(id, &mut out);
        event
            .write_avro(&mut out)
            .map_err(|source| WireError::Encode {
                full_name: event.full_name().to_string(),
                source,
            })?;
        Ok(out)
    }

    /// `T`'s schema id if it was resolved before (no registry call).
    pub fn cached_schema_id<T: Event + 'static>(&self) -> Option<u32> {
        self.ids.get(&TypeId::of::<T>()).copied()
    }

    /// The framed message for `event`.
    pub async fn serialize<T: Event + 'static>(&self, event: &T) -> Result<Vec<u8>, WireError> {
        let id = self.schema_id::<T>().await?;
        encode_framed(id, event)
    }

    /// Appends the framed message for `event` to `out` (for reusing one buffer).
    pub async fn serialize_into<T: Event + 'static>(
        &self,
        event: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), WireError> {
        let id = self.schema_id::<T>().await?;
        encode_framed_into(id, event, out)
    }
}

/// Bytes reserved for a new message: most events fit, so the buffer is allocated once instead
/// of growing through 8, 16, 32, ... bytes.
const INITIAL_CAPACITY: usize = 256;

/// The framed message for `event` under a schema id the caller already has.
pub fn encode_framed<T: Event>(schema_id: u32, event: &T) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(INITIAL_CAPACITY);
    encode_framed_into(schema_id, event, &mut out)?;
    Ok(out)
}

/// Appends the framed message for `event` under `schema_id` to `out`. On error `out` is left
/// as it was.
pub fn encode_framed_into<T: Event>(
    schema_id: u32,
    event: &T,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let start = out.len();
    write_header(schema_id, out);
    // the body straight after the header, with the encoder generated for `T`'s schema
    if let Err(source) = event.write_avro(out) {
        out.truncate(start);
        return Err(WireError::Encode {
            full_name: T::FULL_NAME.to_string(),
            source,
        });
    }
    Ok(())
}
