//! Load, fold, decide, append.

use evc_avro::uuid::Uuid;
use evc_avro::TopicEvent;
use evc_eventstore::{EventStore, ExpectedVersion, NewEvent, StoreError};
use evc_wire::{Deserializer, Serializer, WireError};
use order_events::OrderEvent;
use tracing::Instrument as _;

use crate::order::{Command, EventMeta, FoldError, Order, OrderError};

/// The name of a command in its `evc.command` span.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Create(_) => "CreateOrder",
        Command::AddItem(_) => "AddItem",
        Command::Place(_) => "PlaceOrder",
        Command::Pay(_) => "PayOrder",
        Command::Ship(_) => "ShipOrder",
        Command::Cancel(_) => "CancelOrder",
    }
}

/// The event-store stream of an order.
pub fn stream_id(order_id: Uuid) -> String {
    format!("order-{order_id}")
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error(transparent)]
    Order(#[from] OrderError),
    #[error("stream {stream}: {source}")]
    Fold { stream: String, source: FoldError },
    #[error("stream {stream}, version {version}: {source}")]
    Decode {
        stream: String,
        version: u64,
        source: WireError,
    },
    #[error("encoding: {0}")]
    Encode(WireError),
    /// Includes [`StoreError::Conflict`] when the retry lost again.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a command did.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    pub event: OrderEvent,
    pub stream_version: u64,
    pub position: u64,
    /// The order after the event.
    pub order: Order,
    /// 1, or 2 when the first append lost a race.
    pub attempts: u32,
}

/// Runs commands against orders kept in an [`EventStore`].
#[derive(Debug)]
pub struct OrderService {
    store: EventStore,
    serializer: Serializer,
    deserializer: Deserializer,
}

impl OrderService {
    pub fn new(store: EventStore, serializer: Serializer, deserializer: Deserializer) -> Self {
        OrderService {
            store,
            serializer,
            deserializer,
        }
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// The order folded from its stream (the empty order if there is none), each event read
    /// into the latest version of its type.
    pub async fn load(&self, order_id: Uuid) -> Result<Order, ServiceError> {
        let stream = stream_id(order_id);
        let mut order = Order::new();
        for recorded in self.store.read_stream(&stream).await? {
            let event: OrderEvent = self
                .deserializer
                .deserialize_topic(&recorded.payload)
                .await
                .map_err(|source| ServiceError::Decode {
                    stream: stream.clone(),
                    version: recorded.version,
                    source,
                })?;
            order.apply(&event).map_err(|source| ServiceError::Fold {
                stream: stream.clone(),
                source,
            })?;
        }
        Ok(order)
    }

    /// [`execute_with`](OrderService::execute_with) a new event id and now.
    pub async fn execute(&self, command: &Command) -> Result<Executed, ServiceError> {
        self.execute_with(command, EventMeta::now()).await
    }

    /// Loads the order, decides, and appends the event expecting the version it loaded. On a
    /// conflict it reloads and decides again once (the command may now be refused); a second
    /// conflict is returned.
    pub async fn execute_with(
        &self,
        command: &Command,
        meta: EventMeta,
    ) -> Result<Executed, ServiceError> {
        // without dedupe, an event id already stored is an error, never a `None`
        self.run(command, meta, false)
            .await?
            .ok_or(ServiceError::Store(StoreError::DuplicateEventId {
                event_id: meta.event_id,
            }))
    }

    /// Runs `command` at most once for `meta.event_id`, however often it is called (a redelivered
    /// saga hook, say): when the order's stream already holds an event with that id, nothing
    /// is decided and the answer is `None`. A concurrent call with the same id loses on the
    /// stream version or on the event id (unique in the store) and answers `None` too.
    pub async fn execute_once(
        &self,
        command: &Command,
        meta: EventMeta,
    ) -> Result<Option<Executed>, ServiceError> {
        self.run(command, meta, true).await
    }

    /// Runs `command` in an `evc.command` span (`command`, `order_id`, `event_id`): a child of
    /// the caller's span when there is one, else the root of a new trace. The event appended
    /// keeps this span's trace context, which the relay, the consumers and the sagas continue.
    async fn run(
        &self,
        command: &Command,
        meta: EventMeta,
        dedupe: bool,
    ) -> Result<Option<Executed>, ServiceError> {
        let span = tracing::info_span!(
            "evc.command",
            command = command_name(command),
            order_id = %command.order_id(),
            event_id = %meta.event_id,
        );
        self.decide_and_append(command, meta, dedupe)
            .instrument(span)
            .await
    }

    async fn decide_and_append(
        &self,
        command: &Command,
        meta: EventMeta,
        dedupe: bool,
    ) -> Result<Option<Executed>, ServiceError> {
        let stream = stream_id(command.order_id());
        let mut attempts = 0;
        loop {
            attempts += 1;
            if dedupe
                && self
                    .store
                    .read_stream(&stream)
                    .await?
                    .iter()
                    .any(|r| r.event_id == meta.event_id)
            {
                return Ok(None);
            }
            let mut order = self.load(command.order_id()).await?;
            let event = order.execute(command, meta)?;
            let payload = self
                .serializer
                .serialize_topic(&event)
                .await
                .map_err(ServiceError::Encode)?;
            let new = NewEvent::new(meta.event_id, event.full_name(), meta.occurred_at, payload)?
                .with_partition_key(event.partition_key());
            let expected = ExpectedVersion::from_version(order.version() - 1);
            match self.store.append(&stream, expected, &[new]).await {
                Ok(appended) => {
                    return Ok(Some(Executed {
                        event,
                        stream_version: appended.stream_version,
                        position: appended.positions.first().copied().unwrap_or_default(),
                        order,
                        attempts,
                    }))
                }
                Err(StoreError::Conflict { .. }) if attempts < 2 => continue,
                Err(StoreError::DuplicateEventId { .. }) if dedupe => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }
}
