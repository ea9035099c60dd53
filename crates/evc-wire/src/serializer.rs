//! Generated events → Confluent-framed messages.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use evc_avro::Event;
use evc_registry_client::{RegistryClient, RegistryError};

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
/// makes no registry call and takes no lock but one uncontended read.
#[derive(Debug)]
pub struct Serializer {
    client: RegistryClient,
    auto_register: bool,
    ids: RwLock<HashMap<TypeId, u32>>,
}

impl Serializer {
    /// A look-up-only serializer (auto-registration off).
    pub fn new(client: RegistryClient) -> Serializer {
        Serializer {
            client,
            auto_register: false,
            ids: RwLock::default(),
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
        let answer = if self.auto_register {
            self.client.register(T::SUBJECT, T::SCHEMA_JSON).await
        } else {
            self.client.lookup(T::SUBJECT, T::SCHEMA_JSON).await
        };
        let id = answer
            .map_err(|e| match e {
                e @ (RegistryError::SubjectNotFound { .. }
                | RegistryError::SchemaNotFound { .. }) => WireError::NotRegistered {
                    subject: T::SUBJECT,
                    full_name: T::FULL_NAME,
                    source: e,
                },
                e => WireError::from_registry(e),
            })?
            .id;
        self.ids
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(TypeId::of::<T>(), id);
        Ok(id)
    }

    /// `T`'s schema id if it was resolved before (no registry call).
    pub fn cached_schema_id<T: Event + 'static>(&self) -> Option<u32> {
        self.ids
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&TypeId::of::<T>())
            .copied()
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

/// The framed message for `event` under a schema id the caller already has.
pub fn encode_framed<T: Event>(schema_id: u32, event: &T) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
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
